"""Personal data kept out of the logs and the audit database, over a whole run as users make it.

One state folder holding a champion (tests/models.py) scores a file with the command line (``score``, in this
process, every record any logger writes at INFO captured with what it prints), then serves a real
``python -m api`` (uvicorn, access log on, one job worker of its own) that answers ``/predict`` with an API key
and runs a scoring job submitted to it. The file names its companies and their contacts distinctively, and some
feature values are distinctive too. Afterwards every line the command, the server and its worker wrote is searched
for those names, e-mail addresses, the API key, a wrong key and the feature values, and the audit database (its
files' bytes, every column of every table, every chunk decoded) for the names and addresses: none may appear.
The names are then found again by their exact value, through their salted hashes (``audit find``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from apitools import job_ended, serving, submit_job
from models import champion_and_challenger, demo_panel

from api.http import PathOnly
from riskcore.cli import main
from riskcore.config import Settings
from riskcore.identity import KeyStore
from riskcore.serving.audit import SALT_ENV

ROWS = 12
NAMES = ["Zyxwvut Holdings 4711 Ltd", "Kowalczyk Piekarnia Sp. z o.o.", "Qwertzu & Söhne GmbH"]
EMAILS = ["ewelina.kowalczyk@piekarnia.example", "cfo@zyxwvut-holdings.example", "anna.mueller@qwertzu.example"]
FEATURES = {"current_ratio": "3.141593", "roa": "0.0313131"}  # distinctive values of the file
API_FEATURES = {"roa": 0.0424242, "debt_to_assets": 0.4747474}
API_COMPANY = "C-ZYXWVUT-0815"
BAD_VALUE = 987.654321  # outside roa's valid range: the answer may quote it, no log may
WRONG_KEY = "not-a-key-zyxwvut-000"


@pytest.fixture
def home(model_cache, tmp_path) -> Path:
    return champion_and_challenger(model_cache).copy_to(tmp_path / "home").folder


@pytest.fixture
def portfolio(model_cache, tmp_path) -> Path:
    """A few company-years of the demo panel, named and reachable distinctively, with distinctive values."""
    frame = demo_panel(model_cache).frame.head(ROWS).copy()
    codes = frame["company_id"].astype("category").cat.codes.to_numpy() % len(NAMES)
    frame["company_name"] = [NAMES[c] for c in codes]
    frame["contact_email"] = [EMAILS[c] for c in codes]
    for column, value in FEATURES.items():
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[::3], column] = value
    path = tmp_path / "portfolio.csv"
    frame.to_csv(path, index=False)
    return path


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "RISKCORE_HOME": str(home), "RISKCORE_JOB_WORKERS": "1"}
    for name in ("RISKCORE_API_BUNDLE", "RISKCORE_AUDIT_URL", "RISKCORE_CONFIG", "MLFLOW_TRACKING_URI", SALT_ENV):
        env.pop(name, None)
    return env


def _company(base: str, key: str) -> dict[str, Any]:
    example = httpx.get(f"{base}/openapi.json", timeout=30).json()["components"]["schemas"]["Company"]["examples"][0]
    features = {**example["features"], **API_FEATURES}
    return {**example, "company_id": API_COMPANY, "features": features}


def _database_text(home: Path) -> str:
    """Everything the audit database holds, as text: its files' bytes, every row of every table, every chunk."""
    db = Settings(home=home).home / "audit.db"
    parts = [path.read_bytes().decode("utf-8", "replace") for path in db.parent.glob("audit.db*")]
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            parts.append(repr(conn.execute(f'SELECT * FROM "{table}"').fetchall()))
        for (data,) in conn.execute("SELECT data FROM audit_segments"):
            parts.append(repr(ipc.open_stream(pa.py_buffer(data)).read_all().to_pylist()))
    finally:
        conn.close()
    return "\n".join(parts)


@pytest.mark.slow  # a real server, its worker and the command line
def test_no_name_address_key_or_value_reaches_a_log_or_the_audit_database(home, portfolio, tmp_path, monkeypatch,
                                                                          capsys, caplog):
    key = KeyStore(Settings(home=home).keys_file).add("service", "redaction test")[1]
    monkeypatch.setenv("RISKCORE_HOME", str(home))
    monkeypatch.delenv(SALT_ENV, raising=False)
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        assert main(["score", "--input", str(portfolio), "--output", str(tmp_path / "scored.csv")]) == 0
    printed = capsys.readouterr()
    cli_logs = printed.out + printed.err + caplog.text
    assert "audit request" in cli_logs  # what the command said was captured
    server_log = tmp_path / "server.log"
    with serving(_env(home), server_log, log_level="info") as server:
        company = _company(server.base, key)
        answer = httpx.post(f"{server.base}/predict", json=company, headers={"X-API-Key": key}, timeout=60)
        assert answer.status_code == 200, answer.text
        refused = httpx.post(f"{server.base}/predict", headers={"X-API-Key": key}, timeout=60,
                             json={**company, "features": {**company["features"], "roa": BAD_VALUE}})
        assert refused.status_code == 422 and "987.654" in refused.text  # the answer may say it
        assert httpx.post(f"{server.base}/predict", json=company, headers={"X-API-Key": WRONG_KEY},
                          timeout=60).status_code == 401
        listed = httpx.get(f"{server.base}/jobs", params={"limit": 5, "note": NAMES[0]},
                           headers={"X-API-Key": key}, timeout=30)
        assert listed.status_code == 200, listed.text
        job = job_ended(server, key, submit_job(server, key, portfolio.read_bytes(), "portfolio.csv")["id"])
        assert job["state"] == "succeeded" and job["result"]["scored"] == ROWS, job
        assert server.stop() == 0
    logs = server_log.read_text(encoding="utf-8", errors="replace") + cli_logs
    assert '"POST /predict HTTP/1.1" 200' in logs and "GET /jobs?… HTTP/1.1" in logs  # the logs were captured
    assert f"job {job['id']}" in logs  # the worker's too
    secrets = [*NAMES, *EMAILS, key, WRONG_KEY, *FEATURES.values(), API_COMPANY, str(BAD_VALUE), "987.654",
               *(str(v) for v in API_FEATURES.values()), "Zyxwvut", "Kowalczyk"]
    leaked = [s for s in secrets if s in logs]
    assert not leaked, f"{leaked} in the logs:\n{logs[-3000:]}"
    stored = _database_text(home)
    leaked = [s for s in (*NAMES, *EMAILS, "Zyxwvut", "Kowalczyk", "Qwertzu", key) if s in stored]
    assert not leaked, f"{leaked} in the audit database"

    assert main(["audit", "find", "--column", "company_name", "--value", NAMES[0], "--limit", "100"]) == 0
    said = capsys.readouterr().out
    scored_rows = int((pd.read_csv(tmp_path / "scored.csv")["company_name"] == NAMES[0]).sum())
    assert scored_rows  # the command's file and the job's, both recorded:
    assert f"{2 * scored_rows} recorded score(s) with that input 'company_name' (as given and as its salted hash)" \
        in said
    assert main(["audit", "find", "--column", "company_name", "--value", NAMES[0].upper()]) == 0
    assert "No recorded score" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0


def test_the_access_log_shows_paths_without_their_query_strings():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", f"/jobs?limit=5&name={NAMES[0]}", "1.1", 200), None)
    assert PathOnly().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /jobs?… HTTP/1.1" 200'
    plain = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                              ("127.0.0.1:5000", "POST", "/predict", "1.1", 200), None)
    assert PathOnly().filter(plain) and plain.getMessage() == '127.0.0.1:5000 - "POST /predict HTTP/1.1" 200'
