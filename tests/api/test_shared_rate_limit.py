"""One per-key rate limit for every worker and every host: token buckets in the audit trail's database.

The buckets are checked against a brute-force token bucket (hypothesis), shared by two stores opened on
one database (two hosts: SQLite and PostgreSQL), and end to end through ``python -m api --workers 2``:
with a limit of N per minute, the two workers together let exactly N requests of a key through.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskcore.config import Settings
from riskcore.identity import KeyStore
from riskcore.serving.audit import AuditLog, RateBuckets

ROOT = Path(__file__).resolve().parents[2]


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _reference(limit: int, window: float, steps: list[tuple[float, str]]) -> list[int]:
    """A token bucket per key, written plainly: what RateBuckets must answer."""
    rate, buckets, now, out = limit / window, {}, 1_000_000.0, []
    for dt, key in steps:
        now += dt
        tokens, updated = buckets.get(key, (float(limit), now))
        tokens = min(float(limit), tokens + (now - updated) * rate)
        if tokens >= 1:
            buckets[key] = (tokens - 1, now)
            out.append(0)
        else:
            buckets[key] = (tokens, now)
            out.append(max(1, math.ceil((1 - tokens) / rate)))
    return out


@settings(max_examples=40, deadline=None)
@given(limit=st.integers(1, 5), steps=st.lists(st.tuples(st.sampled_from([0.0, 0.5, 7.0, 30.0]),
                                                         st.sampled_from(["a", "b"])), max_size=25))
def test_buckets_answer_as_a_plain_token_bucket(tmp_path_factory, limit, steps):
    clock = _Clock()
    audit = AuditLog(f"sqlite:///{tmp_path_factory.mktemp('rates') / 'audit.db'}")
    buckets = RateBuckets(audit.store, limit, 60.0, clock=clock)
    got = []
    for dt, key in steps:
        clock.now += dt
        got += buckets.take([key])
    assert got == _reference(limit, 60.0, steps)
    audit.close()


def test_requests_counted_together_are_counted_in_order(tmp_path):
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    buckets = RateBuckets(audit.store, 3, 60.0, clock=_Clock())
    assert buckets.take(["a", "b", "a", "a", "a", "b"]) == [0, 0, 0, 0, 20, 0]
    assert buckets.take([]) == []
    audit.close()


def test_two_hosts_on_one_store_share_each_keys_limit(database):
    clock = _Clock()
    hosts = [AuditLog(database.url), AuditLog(database.url)]
    first, second = (RateBuckets(h.store, 4, 60.0, clock=clock) for h in hosts)
    answers = first.take(["k"]) + second.take(["k", "k"]) + first.take(["k"]) + second.take(["k"])
    assert answers == [0, 0, 0, 0, 15]  # four tokens in all, not four per host
    clock.now += 15.0  # one token back
    assert first.take(["k"]) == [0] and second.take(["k"]) == [15]
    for h in hosts:
        h.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow  # two worker processes of a real server
def test_two_workers_let_a_key_through_its_limit_once(tmp_path, bundle):
    home = tmp_path / "home"
    home.mkdir()
    config = home / "riskcore.toml"
    config.write_text("api_rate_limit = 6\n", encoding="utf-8")
    key = KeyStore(Settings(home=home).keys_file).add("viewer", "limits")[1]
    env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_CONFIG": str(config),
           "RISKCORE_API_BUNDLE": str(bundle.path)}
    env.pop("RISKCORE_AUDIT_URL", None)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port), "--workers", "2",
                               "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, "the server exited"
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)

        def ask(_: int) -> tuple[int, str]:  # a new connection each time: either worker may take it
            r = httpx.get(f"{base}/model_info", headers={"X-API-Key": key, "Connection": "close"}, timeout=30)
            return r.status_code, r.headers.get("retry-after", "")

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(ask, range(24)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    statuses = [status for status, _ in answers]
    # six per minute: at most one token comes back while the test runs (one every ten seconds)
    assert 6 <= statuses.count(200) <= 7 and statuses.count(429) == 24 - statuses.count(200)
    assert all(1 <= int(wait) <= 10 for status, wait in answers if status == 429)


def test_a_worker_leases_what_the_bucket_holds_and_no_more(tmp_path):
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    clock = _Clock()
    buckets = RateBuckets(audit.store, 12, 60.0, clock=clock)
    assert buckets.lease(["k", "k", "k", "k"], 5) == [(5, 0), (5, 0), (2, 0), (0, 5)]
    clock.now += 10.0  # two tokens back
    assert buckets.lease(["k"], 5) == [(2, 0)]
    audit.close()
