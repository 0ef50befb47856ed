"""The audit trail through record(): rows, the request chain, fail-closed writes, several writer processes.

Every test that takes ``database`` runs on a SQLite file and again on a PostgreSQL database of its own
(see tests/databases.py). Batches of many chunks and tampering with a large request: test_audit_batch.py.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from databases import Database

from riskcore.config import Settings
from riskcore.errors import AuditError, RiskcoreError
from riskcore.serving.audit import FIND_COLUMNS, GENESIS_HASH, RECENT_COLUMNS, AuditLog, AuditRecord
from riskcore.serving.audit._hashing import decode, encode

META = {"source": "api", "caller": "key-1", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}


def _records(n: int, prefix: str = "C") -> list[AuditRecord]:
    return [AuditRecord(f"{prefix}{i}", {"income": 1000.0 + i, "sector": "Energy", "age": i},
                        p_default=(i % 10) / 10 + 0.05, decision="refer" if i % 3 == 0 else "accept",
                        grade=f"G{i % 7}", reasons=("high_leverage", "late_payments")[: i % 3])
            for i in range(n)]


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _segment(db: Database, seq: int = 1, chunk: int = 0):
    """The stored chunk of the request at head ``seq``: (batch_id, pyarrow table)."""
    batch_id, data = db.sql("SELECT s.batch_id, s.data FROM audit_segments s JOIN audit_requests h "
                              "ON h.batch_id = s.batch_id WHERE h.seq = ? AND s.chunk = ?", seq, chunk)[0]
    return batch_id, decode(data, "test", chunk)


def _rewrite(db: Database, batch_id: str, table, chunk: int = 0) -> None:
    db.sql("UPDATE audit_segments SET data = ? WHERE batch_id = ? AND chunk = ?", encode(table), batch_id, chunk)


def _set(table, column: str, index: int, value):
    values = table.column(column).to_pylist()
    values[index] = value
    return table.set_column(table.schema.get_field_index(column), table.schema.field(column),
                            pa.array(values, table.schema.field(column).type))


@pytest.fixture
def db(database: Database) -> Database:
    return database


@pytest.fixture
def log(db: Database):
    log = AuditLog(db.url)
    yield log
    log.close()


# -- writing -----------------------------------------------------------------
def test_record_writes_every_field_and_returns_the_request_id(log, db):
    records = [
        AuditRecord("C-1", {"zeta": 1.5, "alpha": float("nan"), "sector": "Energy"}, 0.031, "accept", "A2",
                    ("low_leverage", "long_history")),
        AuditRecord("C-2", {"alpha": 2.0, "zeta": np.float64(np.inf), "sector": "Utilities"}, 0.42, "refer", "C1"),
    ]
    rid = log.record(records, **META)
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert log.record(records[:1], **META, request_id="req-42") == "req-42"
    assert log.count() == 3

    heads = db.sql("SELECT seq, ts, request_id, caller, source, model_version, bundle_hash, row_offset, n_rows, "
                     "n_chunks, columns, prev_hash, row_hash FROM audit_requests ORDER BY seq")
    first = heads[0]
    assert first[0] == 1 and first[2:7] == (rid, "key-1", "api", "2024.06-abc", "f" * 64)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", first[1])
    assert first[7:11] == (0, 2, 1, '["alpha","sector","zeta"]')
    assert heads[1][7:9] == (2, 1) and heads[1][2] == "req-42"
    assert first[11] == GENESIS_HASH and heads[1][11] == first[12]  # each head links to the one before

    _, segment = _segment(db)
    assert segment.column("row").to_pylist() == [1, 2]
    assert segment.column("company_id").to_pylist() == ["C-1", "C-2"]
    assert segment.column("p_default").to_pylist() == [0.031, 0.42]
    assert segment.column("reasons").to_pylist() == ["low_leverage; long_history", ""]
    # NaN and infinity become missing
    assert segment.column("input:alpha").to_pylist() == [None, 2.0]
    assert segment.column("input:zeta").to_pylist() == [1.5, None]

    found = log.find("C-1")
    assert tuple(found.columns) == FIND_COLUMNS
    assert list(found["request_id"]) == ["req-42", rid] and list(found["seq"]) == [3, 1]
    assert found["inputs"].iloc[1] == {"alpha": None, "sector": "Energy", "zeta": 1.5}
    canonical = '{"alpha":null,"sector":"Energy","zeta":1.5}'
    assert found["input_hash"].iloc[1] == hashlib.sha256(canonical.encode()).hexdigest()
    assert found["reasons"].iloc[1] == ["low_leverage", "long_history"]
    assert log.find("nobody").empty


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


def test_inputs_are_canonical_whatever_their_order_and_types(log):
    log.record([AuditRecord("A", {"b": 1, "a": 0.5}, 0.1, "accept", "A"),
                AuditRecord("A", {"a": np.float64(0.5), "b": np.int64(1)}, 0.1, "accept", "A")], **META)
    log.record([AuditRecord("A", {"a": 0.5, "b": 1, "c": np.float32("nan"), "d": pd.NA, "e": [1, "x"]},
                            0.1, "accept", "A")], **META)
    found = log.find("A")
    assert found["inputs"].iloc[2] == found["inputs"].iloc[1] == {"a": 0.5, "b": 1}
    assert found["input_hash"].iloc[2] == found["input_hash"].iloc[1]
    assert found["inputs"].iloc[0] == {"a": 0.5, "b": 1, "c": None, "d": None, "e": [1, "x"]}


def test_a_batch_with_one_unstorable_record_writes_nothing(log):
    log.record(_records(2), **META)
    batch = _records(5) + [AuditRecord("X", {"when": object()}, 0.2, "accept", "B")]
    with pytest.raises(AuditError, match=r"nothing was written: record 5 \(company 'X'\): input 'when'"):
        log.record(batch, **META)
    assert log.count() == 2


@pytest.mark.parametrize("table", ["audit_segments", "audit_ids", "audit_requests"])
def test_a_request_is_one_database_transaction(log, db, table):
    log.record(_records(1), **META)
    db.refuse_inserts(table)  # the database refuses part of the next request
    with pytest.raises(AuditError, match="could not be written .*refused by trigger.*no score may be returned"):
        log.record(_records(6), **META)
    assert log.count() == 1
    result = log.verify()
    assert result.ok and result.leftovers == 0
    assert db.sql("SELECT count(*) FROM audit_segments")[0][0] == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (AuditRecord("C", {}, float("nan"), "accept", "A"), r"p_default=nan must be a number in \[0, 1\]"),
        (AuditRecord("C", {}, 1.5, "accept", "A"), r"p_default=1.5 must be a number in \[0, 1\]"),
        (AuditRecord("C", {}, "0.5", "accept", "A"), r"p_default='0.5' must be a number"),  # type: ignore[arg-type]
        (AuditRecord("C", {}, 0.1, "approve", "A"), "decision='approve' is unknown; use one of 'accept', 'refer'"),
        (AuditRecord("C", [1, 2], 0.1, "accept", "A"), "inputs must be a dict"),  # type: ignore[arg-type]
        (AuditRecord("C", {}, 0.1, "accept", "A", "r1"), "reasons='r1' must be a tuple of strings"),
        (AuditRecord("C", {}, 0.1, "accept", "A", ("a; b",)), "must not contain '; '"),
        (AuditRecord(7, {}, 0.1, "accept", "A"), "company_id=7 must be a string"),  # type: ignore[arg-type]
        (AuditRecord("C\x00D", {}, 0.1, "accept", "A"), "contains a NUL character"),  # PostgreSQL's text cannot
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


def test_a_nul_in_a_key_or_a_request_field_is_refused_alike_on_every_backend(log):
    batch = log.batch(**META)
    with pytest.raises(AuditError, match=r"request row 2, company 'B\\x00'\): company_id='B\\x00' contains a NUL"):
        batch.add(["A", "B\x00"], pd.DataFrame({"x": [1.0, 2.0]}), np.array([0.1, 0.2]), ["accept"] * 2, ["A"] * 2)
    with pytest.raises(AuditError, match=r"caller='a\\x00b' contains a NUL character"):
        log.record(_records(1), **{**META, "caller": "a\x00b"})
    assert log.count() == 0 and log.verify().ok


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
    assert (result.ok, result.rows, result.first_bad_seq, result.requests) == (True, 100, None, 4)
    assert result.message == "chain intact: 100 rows"
    assert result.last_hash == db.sql("SELECT row_hash FROM audit_requests WHERE seq = 4")[0][0]


def test_verify_names_a_row_whose_pd_was_edited(log, db):
    log.record(_records(30), **META)
    rid = log.record(_records(30, prefix="D"), **META)
    batch_id, segment = _segment(db, seq=2)
    _rewrite(db, batch_id, _set(segment, "p_default", 16, 0.001))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.rows, result.request_id, result.row) == (False, 47, 47, rid, 17)
    assert result.message == (f"request {rid} row 17 (company 'D16') was altered: its stored values do not match "
                              "its fingerprint")


@pytest.mark.parametrize("column, value", [("input:income", 1.0), ("input:sector", "Materials"),
                                           ("decision", "accept"), ("grade", "A1"), ("company_id", "X"),
                                           ("reasons", "edited"), ("row", 99)])
def test_verify_detects_an_edit_of_any_stored_value(log, db, column, value):
    log.record(_records(10), **META)
    batch_id, segment = _segment(db)
    _rewrite(db, batch_id, _set(segment, column, 9, value))
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 10


@pytest.mark.parametrize("statement", ["UPDATE audit_requests SET caller = 'someone' WHERE seq = 2",
                                       "UPDATE audit_requests SET ts = '2020-01-01T00:00:00.000000+00:00'",
                                       "UPDATE audit_requests SET n_rows = 9 WHERE seq = 2",
                                       "UPDATE audit_requests SET row_hash = 'aaaa' WHERE seq = 2"])
def test_verify_detects_an_edit_of_a_request_head(log, db, statement):
    log.record(_records(3), **META)
    rid = log.record(_records(10), **META)
    db.sql(statement)
    result = log.verify()
    assert not result.ok and "was altered" in result.message
    assert result.request_id in (rid, db.sql("SELECT request_id FROM audit_requests WHERE seq = 1")[0][0])


def test_verify_names_a_deleted_row(log, db):
    rid = log.record(_records(30), **META)
    batch_id, segment = _segment(db)
    _rewrite(db, batch_id, segment.take([i for i in range(30) if i != 11]))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.row) == (False, 12, 12)
    assert result.message == f"request {rid} row 12 is missing: row 11 is followed by row 13, so scores were deleted"


def test_verify_names_a_deleted_last_row(log, db):
    rid = log.record(_records(5), **META)
    batch_id, segment = _segment(db)
    _rewrite(db, batch_id, segment.slice(0, 4))
    db.sql("UPDATE audit_segments SET n_rows = 4")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert result.message.startswith(f"request {rid} row 5 is missing: the request has 5 rows but only 4")


def test_verify_names_a_deleted_request_head(log, db):
    for _ in range(3):
        log.record(_records(4), **META)
    db.sql("DELETE FROM audit_requests WHERE seq = 2")
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert result.message == "head 2 is missing: head 1 is followed by head 3, so a request was deleted"
    db.sql("DELETE FROM audit_requests WHERE seq = 1")
    assert "head 1 is missing" in log.verify().message


def test_verify_detects_a_head_rewritten_with_a_consistent_hash(log, db):
    # someone who knows the format re-hashes the edited head: the next head's link breaks
    from riskcore.serving.audit._hashing import head_hash
    from riskcore.serving.audit._tables import HEAD_COLUMNS

    log.record(_records(10), **META)
    log.record(_records(10), **META)
    values = list(db.sql(f"SELECT {', '.join(HEAD_COLUMNS)} FROM audit_requests WHERE seq = 1")[0])
    values[HEAD_COLUMNS.index("caller")] = "someone else"
    db.sql("UPDATE audit_requests SET caller = 'someone else', row_hash = ? WHERE seq = 1", head_hash(tuple(values)))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, 11)
    assert "(head 2) is not linked to head 1" in result.message


def test_verify_streams_more_heads_than_one_page(log, monkeypatch):
    monkeypatch.setattr("riskcore.serving.audit._tables.HEADS_PAGE", 3)
    for i in range(10):
        log.record(_records(2, prefix=f"P{i}-"), **META)
    assert log.verify().rows == 20
    assert list(log.recent(7)["seq"]) == list(range(20, 13, -1))


def test_a_probe_does_not_break_the_chain(log):
    log.record(_records(3), **META)
    log.check_writable()
    log.record(_records(2), **META)
    assert log.count() == 5 and log.verify().ok


# -- several writers ---------------------------------------------------------------
def _write_batches(url: str, worker: int, calls: int, most: int = 3) -> int:
    """Run in a spawned process: ``calls`` record() calls of 1 to ``most`` records each."""
    log = AuditLog(url)
    rng = random.Random(worker)
    written = 0
    for call in range(calls):
        size = rng.randint(1, most)
        batch = [AuditRecord(f"w{worker}-{call}-{j}", {"worker": worker, "call": call}, rng.random(), "accept", "B")
                 for j in range(size)]
        log.record(batch, source="api", caller=f"worker-{worker}", model_version="v1", bundle_hash="h")
        written += size
    log.close()
    return written


def _writers(processes: int):
    """A pool of writer processes, each forked from a server process that imported this module once.

    Separate processes as the API's are, each with its own connections; a spawned one would import the
    modules again (a second or two each on two cores, for some forty writers).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context.Pool(processes)


@pytest.mark.slow  # spawns writer processes
def test_concurrent_writers_in_several_processes_keep_every_row_in_one_chain(db):
    url = db.url
    AuditLog(url).count()  # create the table first so the workers only race on rows
    with _writers(6) as pool:
        written = sum(pool.starmap(_write_batches, [(url, w, 150) for w in range(6)]))
    log = AuditLog(url)
    assert log.count() == written
    assert sorted(log.recent(written)["seq"]) == list(range(1, written + 1))
    assert db.sql("SELECT count(*) FROM audit_requests")[0][0] == 6 * 150
    result = log.verify()
    assert result.ok, result.message
    # every batch is contiguous: a request's rows are never interleaved with another's
    frame = log.recent(written)
    spans = frame.groupby("request_id")["seq"].agg(["min", "max", "size"])
    assert ((spans["max"] - spans["min"] + 1) == spans["size"]).all()


@pytest.mark.slow  # spawns writer processes
def test_eight_processes_of_single_company_writes_lose_nothing(db):
    url = db.url
    AuditLog(url).count()
    with _writers(8) as pool:  # 250 one-company commits each: every writer waits on the others many times over
        written = sum(pool.starmap(_write_batches, [(url, w, 250, 1) for w in range(8)]))
    log = AuditLog(url)
    assert written == log.count() == 2000
    result = log.verify()
    assert (result.ok, result.rows, result.requests) == (True, 2000, 2000), result.message
    assert log.recent(2000)["company_id"].is_unique


@pytest.mark.slow  # spawns writer processes
def test_verify_while_writers_commit_always_sees_an_intact_chain(db):
    url = db.url
    AuditLog(url).count()
    log = AuditLog(url)
    with _writers(4) as pool:
        pending = pool.starmap_async(_write_batches, [(url, w, 120, 40) for w in range(4)])
        seen = []
        while not pending.ready():
            result = log.verify()  # one snapshot: heads, chunks and leftovers of the same moment
            assert result.ok and result.leftovers == 0, result.message
            seen.append(result.rows)
        written = sum(pending.get())
    assert seen == sorted(seen)  # the trail only grows
    assert log.verify().rows == log.count() == written
    log.close()


# -- stores that cannot be written -----------------------------------------------------
def test_a_read_only_store_refuses_to_record(log, db):
    log.record(_records(4), **META)
    log.close()
    read_only = AuditLog(db.read_only_url())
    refused = "readonly|permission denied"  # SQLite's words, PostgreSQL's
    with pytest.raises(AuditError, match=f"could not be written .*({refused}).*no score may be returned"):
        read_only.record(_records(1), **META)
    with pytest.raises(AuditError, match=refused):
        read_only.check_writable()
    assert read_only.count() == 4 and read_only.verify().ok  # it can still be read and verified
    read_only.close()
    assert db.sql("SELECT sum(n_rows) FROM audit_requests")[0][0] == 4


def test_check_writable_leaves_no_row(log, db):
    log.check_writable()
    log.record(_records(2), **META)
    log.check_writable()
    assert log.count() == 2
    assert db.sql("SELECT count(*) FROM audit_requests WHERE source = 'probe' OR caller = 'probe'")[0][0] == 0
    assert db.sql("SELECT count(*) FROM audit_segments")[0][0] == 1


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


def test_every_read_of_an_unreachable_store_fails_closed(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    log = AuditLog(_url(blocker / "audit.db"))
    for read in (log.count, log.verify, log.recent, lambda: log.find("C-1")):
        with pytest.raises(AuditError, match=r"could not be read at .*not-a-folder/audit\.db.*reachable"):
            read()


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


def test_stored_reasons_are_joined_codes(log, db):
    log.record([AuditRecord("C", {}, 0.2, "accept", "A", ("a", "b"))], **META)
    assert _segment(db)[1].column("reasons").to_pylist() == ["a; b"]
    assert log.recent()["reasons"].iloc[0] == ["a", "b"]


def _record_from_fork(log: AuditLog, calls: int, child: bool = True) -> None:
    if child and log.store.engine.pool.checkedin() != 0:
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


# -- PostgreSQL: a server that goes away -------------------------------------------------
def _unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_postgres_server_that_does_not_answer_fails_closed():
    pytest.importorskip("psycopg")
    log = AuditLog(f"postgresql+psycopg://riskcore:secret@127.0.0.1:{_unused_port()}/riskcore?connect_timeout=5")
    with pytest.raises(AuditError, match=r"could not be written at 'postgresql\+psycopg://riskcore:\*\*\*@127\.0\.0\.1.*"
                                         r"(refused|failed).*no score may be returned"):
        log.record(_records(1), **META)
    with pytest.raises(AuditError, match="could not be read .*reachable"):
        log.count()
    assert "secret" not in repr(log)


def _cut_once(db: Database, table: str) -> None:
    """The first insert into ``table`` kills its own server connection, mid-statement (mid-COPY for the index)."""
    db.sql("CREATE SEQUENCE cut_once")  # nextval is not rolled back with the dying transaction
    db.sql(f"CREATE FUNCTION cut_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
           "IF nextval('cut_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(30); "
           "END IF; RETURN NEW; END $$")
    db.sql(f"CREATE TRIGGER cut BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION cut_{table}()")


def _chunk(batch, prefix: str, n: int = 1000) -> None:
    batch.add([f"{prefix}{i}" for i in range(n)], pd.DataFrame({"income": np.arange(float(n))}), np.full(n, 0.1),
              ["accept"] * n, ["B"] * n)


@pytest.mark.parametrize(("table", "when"), [("audit_ids", "staging a chunk"), ("audit_ids", "committing"),
                                             ("audit_requests", "committing"), ("audit_segments", "recording")])
def test_a_connection_dropped_mid_batch_leaves_no_partial_request_and_the_next_write_succeeds(postgres_database,
                                                                                                table, when):
    db = postgres_database
    log = AuditLog(db.url)
    log.record(_records(3), **META)
    _cut_once(db, table)
    with pytest.raises(AuditError, match="could not be written .*terminat.*no score may be returned"):
        if when == "recording":
            log.record(_records(40, prefix="R"), **META)
        else:
            batch = log.batch(**META)
            _chunk(batch, "A")
            if when == "committing":
                batch.commit()  # the chunk is stored in the commit's own transaction
            _chunk(batch, "B")  # stores chunk A in a transaction of its own
            batch.commit()
    # nothing of the request is visible, nothing of it stays behind, and the same log writes again at once
    assert log.count() == 3
    assert db.sql("SELECT count(*) FROM audit_ids WHERE company_id NOT LIKE 'C%'")[0][0] == 0
    log.record(_records(2, prefix="D"), **META)
    assert log.count() == 5
    result = log.verify()
    assert result.ok and (result.requests, result.leftovers) == (2, 0), result.message
    log.close()


def test_an_idle_connection_dropped_between_chunks_is_replaced_and_the_request_completes(postgres_database):
    db = postgres_database
    log = AuditLog(db.url)
    batch = log.batch(**META)
    _chunk(batch, "A")
    _chunk(batch, "B")  # chunk A is stored: the pooled connection is idle now
    db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
           "AND pid <> pg_backend_pid()")
    _chunk(batch, "C")
    batch.commit()
    assert log.count() == 3000 and log.verify().ok
    log.close()


def test_a_copy_refused_by_the_server_is_an_audit_error_and_nothing_is_recorded(postgres_database):
    db = postgres_database
    log = AuditLog(db.url)
    log.record(_records(1), **META)
    db.refuse_inserts("audit_ids", "the index refuses")
    with pytest.raises(AuditError, match="could not be written .*the index refuses.*no score may be returned"):
        log.record(_records(50, prefix="E"), **META)
    assert log.count() == 1 and log.verify().ok
    assert db.sql("SELECT count(*) FROM audit_segments")[0][0] == 1
    log.close()


def test_the_hosting_services_postgres_scheme_is_read_as_postgresql(postgres_database):
    url = postgres_database.url.replace("postgresql+psycopg://", "postgres://", 1)
    log = AuditLog(url)
    log.record(_records(2), **META)
    assert AuditLog(postgres_database.url).count() == 2 and "***" in repr(log)
    log.close()


def test_postgres_stores_the_compressed_chunks_without_compressing_them_again(postgres_database):
    log = AuditLog(postgres_database.url)
    log.record(_records(1), **META)
    storage = postgres_database.sql("SELECT attstorage FROM pg_attribute WHERE attrelid = 'audit_segments'::regclass "
                                    "AND attname = 'data'")
    assert storage == [("e",)]  # EXTERNAL: out of line, no second compression
    log.close()
