"""A light HTTP/1.1 load generator: a few processes, each an asyncio loop of keep-alive connections.

Python threads driving httpx spend about a millisecond of CPU per request, which on
a small machine takes the cores the server under test needs. Here each client is a
coroutine writing prebuilt request bytes on its own keep-alive connection and
reading the answer with asyncio streams (status line, headers, a ``Content-Length``
or chunked body); the clients are spread over a few worker processes that start
together at an agreed ``time.monotonic()`` instant (the clock is shared by the
processes of one machine). Each process reports its own CPU time over the run, so
the benchmark can say what the generator itself cost.

Only the standard library is imported, so a worker process starts fast.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadPool", "LoadResult"]


@dataclass
class LoadResult:
    """What one load run measured: per-request latencies (s), statuses, request ids, and the time and CPU used."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    first_send: float = float("inf")
    last_answer: float = 0.0
    client_cpu_s: float = 0.0
    late_start_s: float = 0.0
    sent: dict[int, int] = field(default_factory=dict)  # client → requests it sent (all of its bodies, or fewer)

    @property
    def wall_s(self) -> float:
        """From the first request sent to the last answer received, over every process."""
        return max(self.last_answer - self.first_send, 1e-9)

    def merge(self, other: LoadResult) -> None:
        """Add another process's results to these."""
        self.latencies += other.latencies
        self.statuses += other.statuses
        self.request_ids += other.request_ids
        self.bodies += other.bodies
        self.errors += other.errors
        self.first_send = min(self.first_send, other.first_send)
        self.last_answer = max(self.last_answer, other.last_answer)
        self.client_cpu_s += other.client_cpu_s
        self.late_start_s = max(self.late_start_s, other.late_start_s)
        self.sent.update(other.sent)


def _request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, str, bytes, bool]:
    """Status, X-Request-ID, body, and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, close, rid = 0, False, False, ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"x-request-id":
            rid = value.strip().decode("latin-1")
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if not chunked:
        return status, rid, await reader.readexactly(length), close
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, rid, b"".join(parts), close
        parts.append(chunk[:-2])


async def _client(host: str, port: int, requests: list[bytes], start_at: float, stop_at: float, keep_bodies: bool,
                  out: LoadResult, index: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("latin-1"))  # connected and warm
    await _read_answer(reader)
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    clock = time.perf_counter
    try:
        for i, req in enumerate(requests):
            if i and time.monotonic() >= stop_at:  # out of time: every client still sends at least one
                break
            t0 = clock()
            if t0 < out.first_send:
                out.first_send = t0
            writer.write(req)
            status, rid, body, close = await _read_answer(reader)
            t1 = clock()
            out.latencies.append(t1 - t0)
            out.statuses.append(status)
            out.request_ids.append(rid)
            if keep_bodies or status != 200:
                out.bodies.append(body)
            if status != 200 and len(out.errors) < 5:
                out.errors.append(f"{status}: {body[:300].decode('utf-8', 'replace')}")
            out.last_answer = max(out.last_answer, t1)
            out.sent[index] = i + 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def _work(job: dict[str, Any]) -> LoadResult:
    """One process's share: its clients, each a list of bodies sent one after the other."""
    out = LoadResult()
    reqs = [[_request(job["host"], job["port"], job["path"], job["headers"], b) for b in bodies]
            for bodies in job["clients"]]

    async def run() -> None:
        await asyncio.gather(*(_client(job["host"], job["port"], r, job["start_at"], job["stop_at"],
                                       job["keep_bodies"], out, i) for r, i in zip(reqs, job["indices"])))

    cpu0 = time.process_time()
    asyncio.run(run())
    out.client_cpu_s = time.process_time() - cpu0
    out.late_start_s = max(0.0, out.first_send - job["start_at"]) if out.first_send != float("inf") else 0.0
    return out


class LoadPool:
    """Worker processes kept for the whole benchmark, so a load run does not pay for starting them.

    ``perf_counter`` and ``monotonic`` read the same system-wide clock on Linux, so the
    processes' first-send and last-answer instants are comparable.
    """

    def __init__(self, processes: int):
        self.processes = max(1, processes)
        self.pool = multiprocessing.get_context("spawn").Pool(self.processes)

    def run(self, host: str, port: int, path: str, headers: dict[str, str], clients: list[list[bytes]], *,
            keep_bodies: bool = False, max_seconds: float | None = None, lead_s: float = 0.5) -> LoadResult:
        """Send each client's bodies in order on its own connection; all clients start together.

        With ``max_seconds`` a client sends no new request once that time has passed since the start
        (it always sends its first); ``LoadResult.sent`` says how many of its bodies each client sent.
        """
        n_proc = min(self.processes, len(clients))
        start_at = time.monotonic() + lead_s + 0.002 * sum(len(c) for c in clients) / 100
        stop_at = start_at + max_seconds if max_seconds else float("inf")
        indices = list(range(len(clients)))
        jobs = [{"host": host, "port": port, "path": path, "headers": headers, "clients": clients[i::n_proc],
                 "indices": indices[i::n_proc], "start_at": start_at, "stop_at": stop_at, "keep_bodies": keep_bodies}
                for i in range(n_proc)]
        out = LoadResult()
        for part in self.pool.map(_work, jobs, chunksize=1):
            out.merge(part)
        return out

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.close()
        self.pool.join()
