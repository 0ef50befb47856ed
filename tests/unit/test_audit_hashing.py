"""The audit trail's fingerprints from many threads at once: the API fingerprints its requests in parallel.

Fingerprints of text use a table of powers shared by every thread and grown on demand. The threads here
need ever longer tables, so they grow it again and again while others read it, and a further thread keeps
putting back a table that is too short, as a thread that grew it for a shorter text would. Each result
must equal the one a single thread computes.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pyarrow as pa

import riskcore.serving.audit._hashing as hashing
from riskcore.serving.audit._hashing import FEW_ROWS, fingerprints

THREADS = 6
CHUNKS = 40  # per thread


def _chunks(thread: int) -> list[list[tuple[str, str, pa.Array]]]:
    """Chunks whose longest text grows from one chunk to the next, interleaved with the other threads' lengths."""
    rng = np.random.default_rng(thread)
    chunks = []
    n = FEW_ROWS + 5  # the vectorised path, which uses the shared table
    for k in range(CHUNKS):
        longest = 20 * (k * THREADS + thread) + 1
        texts = ["é" * int(m) + "x" for m in rng.integers(0, longest, n - 1)] + ["x" * longest]
        chunks.append([("company_id", "text", pa.array(texts, pa.string())),
                       ("p_default", "float", pa.array(rng.random(n)))])
    return chunks


def test_fingerprints_from_many_threads_equal_those_of_one_thread(monkeypatch):
    work = [_chunks(thread) for thread in range(THREADS)]
    expected = [[fingerprints(chunk).tolist() for chunk in chunks] for chunks in work]
    short = np.ones(1, dtype=np.uint64)
    monkeypatch.setattr(hashing, "_powers", short)  # restored afterwards
    got: list[list[list[int]] | BaseException] = [[] for _ in range(THREADS)]
    start = threading.Barrier(THREADS + 1)
    done = threading.Event()

    def fingerprint(i: int) -> None:
        start.wait()
        try:
            got[i] = [fingerprints(chunk).tolist() for chunk in work[i]]
        except BaseException as err:  # noqa: BLE001 - compared below, naming the thread that raised it
            got[i] = err

    def shorten() -> None:
        start.wait()
        while not done.is_set():
            hashing._powers = short

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=fingerprint, args=(i,)) for i in range(THREADS)]
        shortener = threading.Thread(target=shorten)
        for thread in [*threads, shortener]:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        shortener.join()
    finally:
        sys.setswitchinterval(interval)
    assert got == expected
