"""Several clients at once through a real uvicorn server: one audit row per score, and the chain holds.

The server's audit trail is a SQLite file and again a PostgreSQL database of its own (see tests/databases.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest
import uvicorn

from api.app import create_app
from riskcore.serving.audit import AuditLog

pytestmark = pytest.mark.slow  # a real uvicorn server and several clients at once

N_CLIENTS = 6
N_REQUESTS = 25
BATCH_EVERY = 5  # every fifth request of a client is a batch of BATCH_SIZE companies
BATCH_SIZE = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def audit(settings, database):
    """The API's audit trail, on each back end (overrides the SQLite-only fixture of tests/api/conftest.py)."""
    log = AuditLog.from_settings(replace(settings, audit_url=database.url))
    yield log
    log.close()


@pytest.fixture
def server(settings, bundle, keystore, keys, audit):
    app = create_app(settings, bundle=bundle, keys=keystore, audit=audit)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_parallel_clients_get_one_audit_row_per_score(server, keys, company, audit, database):
    scores = set()  # every request sends the same features, so every score must be the same

    def run_client(n: int) -> list[tuple[str, int]]:
        done = []
        with httpx.Client(base_url=server, headers={"X-API-Key": keys["service"]}, timeout=30) as http:
            for i in range(N_REQUESTS):
                cid = f"P{n}-{i}"
                if i % BATCH_EVERY == 0:
                    batch = [{**company, "company_id": f"{cid}-{j}"} for j in range(BATCH_SIZE)]
                    r = http.post("/predict_batch", json={"companies": batch})
                    assert r.status_code == 200, r.text
                    assert r.json()["n_scored"] == BATCH_SIZE
                    done.append((r.json()["request_id"], BATCH_SIZE))
                else:
                    r = http.post("/predict", json={**company, "company_id": cid})
                    assert r.status_code == 200, r.text
                    assert r.json()["company_id"] == cid
                    scores.add((r.json()["p_default"], r.json()["score_raw"]))
                    done.append((r.json()["request_id"], 1))
        return done

    with ThreadPoolExecutor(N_CLIENTS) as pool:
        done = [x for part in pool.map(run_client, range(N_CLIENTS)) for x in part]

    assert len(scores) == 1
    n_requests = N_CLIENTS * N_REQUESTS
    assert len(done) == n_requests
    expected = dict(done)
    assert len(expected) == n_requests  # request ids are unique
    rows = audit.recent(10_000)
    assert len(rows) == audit.count() == sum(expected.values())
    assert Counter(rows["request_id"]) == Counter(expected)
    assert rows["company_id"].is_unique
    result = audit.verify()
    assert result.ok, result.message
    assert result.rows == sum(expected.values())
    # on this back end: requests that arrived together share a head (one commit), each row keeps its request id
    heads, stored = database.sql("SELECT count(*), sum(n_rows) FROM audit_requests")[0]
    assert 1 <= heads <= n_requests and stored == sum(expected.values())
