"""The audit trail: rows, the hash chain, fail-closed writes, several writer processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskcore.audit import GENESIS_HASH, RECENT_COLUMNS, AuditLog, AuditRecord
from riskcore.config import Settings
from riskcore.errors import AuditError, RiskcoreError

META = {"source": "api", "caller": "key-1", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}


def _records(n: int, prefix: str = "C") -> list[AuditRecord]:
    return [AuditRecord(f"{prefix}{i}", {"income": 1000.0 + i, "sector": "Energy", "age": i},
                        p_default=(i % 10) / 10 + 0.05, decision="refer" if i % 3 == 0 else "accept",
                        grade=f"G{i % 7}", reasons=("high_leverage", "late_payments")[: i % 3])
            for i in range(n)]


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _sql(path: Path, statement: str, *params: object) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(statement, params).fetchall()
    conn.close()
    return rows


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def log(db: Path):
    log = AuditLog(_url(db))
    yield log
    log.close()


# -- writing -----------------------------------------------------------------
def test_record_writes_every_field_and_returns_the_request_id(log, db):
    records = [
        AuditRecord("C-1", {"zeta": 1.5, "alpha": float("nan"), "sector": "Energy"}, 0.031, "accept", "A2",
                    ("low_leverage", "long_history")),
        AuditRecord("C-2", {"alpha": 2.0, "zeta": np.float64(np.inf)}, 0.42, "refer", "C1"),
    ]
    rid = log.record(records, **META)
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert log.record(records[:1], **META, request_id="req-42") == "req-42"
    assert log.count() == 3

    rows = _sql(db, "SELECT seq, ts, request_id, caller, source, model_version, bundle_hash, company_id, "
                    "input_hash, inputs, p_default, decision, grade, reasons, prev_hash, row_hash "
                    "FROM audit_events ORDER BY seq")
    first = rows[0]
    assert first[0] == 1 and first[2:8] == (rid, "key-1", "api", "2024.06-abc", "f" * 64, "C-1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", first[1])
    # NaN and infinity become null, keys are sorted, no spaces
    assert first[9] == '{"alpha":null,"sector":"Energy","zeta":1.5}'
    assert rows[1][9] == '{"alpha":2.0,"zeta":null}'
    assert first[8] == hashlib.sha256(first[9].encode()).hexdigest()
    assert first[10:14] == (0.031, "accept", "A2", '["low_leverage","long_history"]')
    assert first[14] == GENESIS_HASH
    assert [r[14] for r in rows[1:]] == [r[15] for r in rows[:-1]]  # each row links to the one before
    assert rows[2][2] == "req-42"


def test_recent_is_newest_first_with_documented_columns(log):
    log.record(_records(3), **META)
    log.record(_records(2, prefix="D"), **{**META, "source": "cli"})
    recent = log.recent()
    assert tuple(recent.columns) == RECENT_COLUMNS
    assert list(recent["seq"]) == [5, 4, 3, 2, 1]
    assert list(recent["company_id"]) == ["D1", "D0", "C2", "C1", "C0"]
    assert recent["reasons"].iloc[2] == ["high_leverage", "late_payments"]
    assert recent["reasons"].iloc[4] == []
    assert isinstance(recent["ts"].dtype, pd.DatetimeTZDtype)
    assert recent["p_default"].iloc[4] == pytest.approx(0.05)
    assert list(log.recent(2)["seq"]) == [5, 4]
    assert list(log.recent(source="cli")["company_id"]) == ["D1", "D0"]
    assert list(log.recent(company_id="C1")["seq"]) == [2]
    assert log.recent(source="dashboard").empty
    with pytest.raises(AuditError, match="source='web' is unknown"):
        log.recent(source="web")
    with pytest.raises(AuditError, match="limit=0"):
        log.recent(0)


def test_inputs_are_canonical_whatever_their_order_and_types(log, db):
    log.record([AuditRecord("A", {"b": 1, "a": 0.5}, 0.1, "accept", "A"),
                AuditRecord("A", {"a": np.float64(0.5), "b": np.int64(1)}, 0.1, "accept", "A"),
                AuditRecord("A", {"a": 0.5, "b": 1, "c": np.float32("nan"), "d": pd.NA}, 0.1, "accept", "A")],
               **META)
    rows = _sql(db, "SELECT inputs, input_hash FROM audit_events ORDER BY seq")
    assert rows[0] == rows[1] and rows[0][0] == '{"a":0.5,"b":1}'
    assert rows[2][0] == '{"a":0.5,"b":1,"c":null,"d":null}'


def test_a_batch_with_one_unstorable_record_writes_nothing(log):
    log.record(_records(2), **META)
    batch = _records(5) + [AuditRecord("X", {"when": object()}, 0.2, "accept", "B")]
    with pytest.raises(AuditError, match=r"nothing was written: record 5 \(company 'X'\): input 'when'"):
        log.record(batch, **META)
    assert log.count() == 2


def test_a_batch_is_one_database_transaction(log, db):
    log.record(_records(1), **META)
    with sqlite3.connect(db) as conn:  # the database refuses the fourth row of the next batch
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_events WHEN NEW.company_id = 'C3' "
                     "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END")
    conn.close()
    with pytest.raises(AuditError, match="could not be written .*refused by trigger.*no score may be returned"):
        log.record(_records(6), **META)
    assert log.count() == 1
    assert log.verify().ok


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (AuditRecord("C", {}, float("nan"), "accept", "A"), r"p_default=nan must be a number in \[0, 1\]"),
        (AuditRecord("C", {}, 1.5, "accept", "A"), r"p_default=1.5 must be a number in \[0, 1\]"),
        (AuditRecord("C", {}, "0.5", "accept", "A"), r"p_default='0.5' must be a number"),  # type: ignore[arg-type]
        (AuditRecord("C", {}, 0.1, "approve", "A"), "decision='approve' is unknown; use one of 'accept', 'refer'"),
        (AuditRecord("C", [1, 2], 0.1, "accept", "A"), "inputs must be a dict"),  # type: ignore[arg-type]
        (AuditRecord("C", {}, 0.1, "accept", "A", "r1"), "reasons='r1' must be a tuple of strings"),
        (AuditRecord(7, {}, 0.1, "accept", "A"), "company_id=7 must be a string"),  # type: ignore[arg-type]
    ],
)
def test_invalid_records_are_refused_with_the_reason(log, record, message):
    with pytest.raises(AuditError, match=message):
        log.record([_records(1)[0], record], **META)
    assert log.count() == 0


def test_invalid_request_fields_are_refused(log):
    with pytest.raises(AuditError, match="source='web' is unknown; use one of 'cli', 'dashboard', 'api'"):
        log.record(_records(1), **{**META, "source": "web"})
    with pytest.raises(AuditError, match="request_id must not be empty"):
        log.record(_records(1), **META, request_id="")
    with pytest.raises(AuditError, match="caller has 300 characters; at most 255"):
        log.record(_records(1), **{**META, "caller": "x" * 300})
    assert log.count() == 0


def test_an_empty_batch_writes_nothing(log):
    assert log.record([], **META, request_id="r") == "r"
    assert log.count() == 0


def test_audit_error_is_a_riskcore_error():
    assert issubclass(AuditError, RiskcoreError)


# -- the hash chain ------------------------------------------------------------
def test_verify_passes_on_an_intact_chain(log, db):
    assert log.verify().ok and log.verify().rows == 0
    for _ in range(4):
        log.record(_records(25), **META)
    result = log.verify()
    assert (result.ok, result.rows, result.first_bad_seq) == (True, 100, None)
    assert result.message == "chain intact: 100 rows"
    assert result.last_hash == _sql(db, "SELECT row_hash FROM audit_events WHERE seq = 100")[0][0]


def test_verify_names_a_row_whose_contents_were_edited(log, db):
    log.record(_records(30), **META)
    _sql(db, "UPDATE audit_events SET p_default = 0.001 WHERE seq = 17")
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.rows) == (False, 17, 17)
    assert result.message == "row 17 was altered: its hash does not match its contents"


@pytest.mark.parametrize("column, value", [("inputs", '{"income":1.0}'), ("decision", "accept"),
                                           ("ts", "2020-01-01T00:00:00.000000+00:00"), ("seq", 1000)])
def test_verify_detects_an_edit_of_any_column(log, db, column, value):
    log.record(_records(10), **META)
    _sql(db, f"UPDATE audit_events SET {column} = ? WHERE seq = 10", value)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 10


def test_verify_names_a_deleted_row(log, db):
    log.record(_records(30), **META)
    _sql(db, "DELETE FROM audit_events WHERE seq = 12")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 12)
    assert result.message == "row 12 is missing: row 11 is followed by row 13, so a row was deleted"


def test_verify_names_a_deleted_first_row(log, db):
    log.record(_records(3), **META)
    _sql(db, "DELETE FROM audit_events WHERE seq = 1")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "row 1 is missing" in result.message


def test_verify_detects_an_edited_hash_of_the_last_row(log, db):
    log.record(_records(8), **META)
    _sql(db, "UPDATE audit_events SET row_hash = ? WHERE seq = 8", "a" * 64)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 8)
    assert "row 8 was altered" in result.message


def test_verify_detects_a_row_rewritten_with_a_consistent_hash(log, db):
    # someone who knows the format re-hashes the edited row: the next row's link breaks
    from riskcore.audit import _row_hash

    log.record(_records(10), **META)
    cols = [r[1] for r in _sql(db, "PRAGMA table_info(audit_events)")]
    values = list(_sql(db, "SELECT * FROM audit_events WHERE seq = 5")[0])
    values[cols.index("p_default")] = 0.0001
    new_hash = _row_hash(tuple(values[:-1]))
    _sql(db, "UPDATE audit_events SET p_default = 0.0001, row_hash = ? WHERE seq = 5", new_hash)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert result.message.startswith("row 6 is not linked to row 5")


def test_verify_streams_more_rows_than_one_chunk(log, monkeypatch):
    import riskcore.audit

    monkeypatch.setattr(riskcore.audit, "_VERIFY_CHUNK", 7)
    log.record(_records(50), **META)
    assert log.verify().rows == 50


def test_a_probe_does_not_break_the_chain(log):
    log.record(_records(3), **META)
    log.check_writable()
    log.record(_records(2), **META)
    assert log.count() == 5 and log.verify().ok


# -- several writers ---------------------------------------------------------------
def _write_batches(url: str, worker: int, calls: int) -> int:
    """Run in a spawned process: ``calls`` record() calls of 1-3 records each."""
    log = AuditLog(url)
    rng = random.Random(worker)
    written = 0
    for call in range(calls):
        size = rng.randint(1, 3)
        batch = [AuditRecord(f"w{worker}-{call}-{j}", {"worker": worker, "call": call}, rng.random(), "accept", "B")
                 for j in range(size)]
        log.record(batch, source="api", caller=f"worker-{worker}", model_version="v1", bundle_hash="h")
        written += size
    log.close()
    return written


def test_concurrent_writers_in_several_processes_keep_every_row_in_one_chain(db):
    url = _url(db)
    AuditLog(url).count()  # create the table first so the workers only race on rows
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        written = sum(pool.starmap(_write_batches, [(url, w, 150) for w in range(6)]))
    log = AuditLog(url)
    assert log.count() == written
    seqs = [r[0] for r in _sql(db, "SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, written + 1))
    result = log.verify()
    assert result.ok, result.message
    # every batch is contiguous: a request's rows are never interleaved with another's
    frame = log.recent(written)
    spans = frame.groupby("request_id")["seq"].agg(["min", "max", "size"])
    assert ((spans["max"] - spans["min"] + 1) == spans["size"]).all()


# -- stores that cannot be written -----------------------------------------------------
def test_a_read_only_store_refuses_to_record(log, db):
    log.record(_records(4), **META)
    log.close()
    read_only = AuditLog(f"sqlite:///file:{db}?mode=ro&uri=true")
    with pytest.raises(AuditError, match="could not be written .*readonly.*no score may be returned"):
        read_only.record(_records(1), **META)
    with pytest.raises(AuditError, match="readonly"):
        read_only.check_writable()
    assert read_only.count() == 4 and read_only.verify().ok  # it can still be read and verified
    read_only.close()
    assert _sql(db, "SELECT count(*) FROM audit_events")[0][0] == 4


def test_check_writable_leaves_no_row(log, db):
    log.check_writable()
    log.record(_records(2), **META)
    log.check_writable()
    assert log.count() == 2
    assert _sql(db, "SELECT count(*) FROM audit_events WHERE source = 'probe'")[0][0] == 0


def test_an_unreachable_store_fails_closed_with_a_clear_message(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    log = AuditLog(_url(blocker / "audit.db"))
    with pytest.raises(AuditError, match=r"could not be written at .*not-a-folder/audit\.db.*unable to open "
                                         r"database file.*no score may be returned"):
        log.record(_records(1), **META)
    with pytest.raises(AuditError, match="unable to open database file"):
        log.check_writable()
    with pytest.raises(AuditError, match="could not be read"):
        log.count()


@pytest.mark.parametrize("url", ["", "not a url", "nosuchdb://x/y"])
def test_a_bad_url_is_refused(url):
    with pytest.raises(AuditError, match="audit"):
        AuditLog(url)


def test_from_settings_creates_the_folder(tmp_path):
    settings = Settings(home=tmp_path / "state" / "nested")
    log = AuditLog.from_settings(settings)
    assert (tmp_path / "state" / "nested").is_dir()
    log.record(_records(1), **META)
    assert (tmp_path / "state" / "nested" / "audit.db").is_file()
    log.close()


def test_from_settings_reports_a_folder_it_cannot_create(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AuditError, match="cannot create the folder .*set RISKCORE_HOME or audit_url"):
        AuditLog.from_settings(Settings(home=blocker / "home"))


def test_stored_reasons_are_json(log, db):
    log.record([AuditRecord("C", {}, 0.2, "accept", "A", ("a", "b"))], **META)
    assert json.loads(_sql(db, "SELECT reasons FROM audit_events")[0][0]) == ["a", "b"]


def _record_from_fork(log: AuditLog, calls: int, child: bool = True) -> None:
    if child and log._engine.pool.checkedin() != 0:
        raise SystemExit("the child inherited the parent's pooled SQLite connection")
    for i in range(calls):
        log.record([AuditRecord(f"fork-{i}", {}, 0.1, "accept", "A")], **META)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_log_opened_before_a_fork_keeps_one_chain(log):
    log.record(_records(1), **META)  # the parent holds a pooled connection when it forks
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_record_from_fork, args=(log, 50)) for _ in range(2)]
    for child in children:
        child.start()
    _record_from_fork(log, 50, child=False)
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert log.count() == 151 and log.verify().ok
