"""Helpers shared by the API tests: a key's header, clean error bodies, a real ``python -m api`` and its jobs."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def header(secret: str) -> dict[str, str]:
    return {"X-API-Key": secret}


def assert_clean(response, *forbidden: str) -> None:
    """An error body is JSON with a request id and holds no stack trace or file path."""
    text = response.text
    body = response.json()
    assert "request_id" in body or "ready" in body
    for bad in ("Traceback", 'File "', ".py", "/tmp", "site-packages", *forbidden):
        assert bad not in text, f"{bad!r} leaked in {text[:300]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    """Poll ``check`` until it returns something true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


class Server:
    """A ``python -m api`` process on a free port, everything it writes (its workers' too) going to ``log``."""

    def __init__(self, env: dict[str, str], log: Path, log_level: str = "warning") -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(self.port), "--log-level",
                                      log_level], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self) -> None:
        def answered() -> bool:
            assert self.proc.poll() is None, "the server exited"
            try:
                return httpx.get(f"{self.base}/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        until(answered, "the server to be ready")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.log.close()


@contextmanager
def serving(env: dict[str, str], log: Path, log_level: str = "warning") -> Iterator[Server]:
    server = Server(env, log, log_level)
    try:
        server.ready()
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=30)
        server.log.close()


def submit_job(server: Server, key: str, data: bytes, name: str) -> dict[str, Any]:
    r = httpx.post(f"{server.base}/jobs/score", headers={"X-API-Key": key}, timeout=60,
                   files={"file": (name, data, "text/csv")})
    assert r.status_code == 202, r.text
    return r.json()


def job_state(server: Server, key: str, job_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base}/jobs/{job_id}", headers={"X-API-Key": key}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def job_ended(server: Server, key: str, job_id: str) -> dict[str, Any]:
    return until(lambda: (lambda j: j if j["state"] in ("succeeded", "failed", "cancelled") else None)(
        job_state(server, key, job_id)), f"job {job_id} to end")
