"""The streaming audit API: AuditBatch chunks, leftovers of interrupted requests, tampering with a large request.

Every test runs on a SQLite file and again on a PostgreSQL database of its own (see tests/databases.py).
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from databases import BACKENDS, Database, new_database, postgres_server_url

from riskcore.errors import AuditError
from riskcore.serving.audit import RECENT_COLUMNS, AuditLog, AuditRecord
from riskcore.serving.audit._hashing import decode, encode

META = {"source": "cli", "caller": "analyst", "model_version": "2024.06-abc", "bundle_hash": "f" * 64}
N_BIG = 100_000


def _chunk(n: int, start: int = 0, prefix: str = "C"):
    """company_ids, inputs, p_default, decision, grade, reasons of ``n`` rows."""
    i = np.arange(start, start + n)
    ids = np.array([f"{prefix}{k:05d}" for k in i], dtype=object)
    inputs = pd.DataFrame({"income": 1000.0 + i, "roa": np.where(i % 7 == 0, np.nan, i / 1e5),
                           "sector": np.where(i % 2 == 0, "Energy", "Utilities"), "age": i % 40,
                           "listed": i % 3 == 0})
    p = (i % 100) / 100
    decision = np.where(p > 0.8, "refer", "accept")
    grade = np.array([f"G{k % 7}" for k in i], dtype=object)
    reasons = np.where(p > 0.8, "high_leverage; late_payments", "")
    return ids, inputs, p, decision, grade, reasons


def _segment(db: Database, chunk: int = 0):
    batch_id, data = db.sql("SELECT batch_id, data FROM audit_segments WHERE chunk = ? ORDER BY created DESC "
                            "LIMIT 1", chunk)[0]
    return batch_id, decode(data, "test", chunk)


def _rewrite(db: Database, batch_id: str, table, chunk: int = 0) -> None:
    db.sql("UPDATE audit_segments SET data = ? WHERE batch_id = ? AND chunk = ?", encode(table), batch_id, chunk)


def _refuse_chunk(db: Database, chunk: int, message: str) -> None:
    """Make the store refuse to store chunk ``chunk`` of any request, with ``message``."""
    if db.is_postgres:
        db.sql("CREATE FUNCTION refuse_chunk() RETURNS trigger LANGUAGE plpgsql AS "
               f"$$ BEGIN IF NEW.chunk = {chunk} THEN RAISE EXCEPTION '{message}'; END IF; RETURN NEW; END $$")
        db.sql("CREATE TRIGGER refuse BEFORE INSERT ON audit_segments FOR EACH ROW EXECUTE FUNCTION refuse_chunk()")
    else:
        db.sql(f"CREATE TRIGGER refuse BEFORE INSERT ON audit_segments WHEN NEW.chunk = {chunk} "
               f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def _copy(db: Database, folder: Path) -> Database:
    """A copy of the database ``db``: a SQLite backup, or a PostgreSQL database made from it as a template."""
    if not db.is_postgres:
        copy = new_database("sqlite", folder)
        with sqlite3.connect(db.path) as src, sqlite3.connect(copy.path) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        return copy
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    server = postgres_server_url()
    assert server is not None
    name = f"rc_copy_{uuid.uuid4().hex[:12]}"
    admin = make_url(server).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{db.name}"')
    url = make_url(db.url).set(database=name).render_as_string(hide_password=False)
    return Database("postgresql", url, server_url=server, name=name)


@pytest.fixture
def db(database: Database) -> Database:
    return database


@pytest.fixture
def log(db: Database):
    log = AuditLog(db.url)
    yield log
    log.close()


@pytest.fixture(scope="module", params=BACKENDS)
def big(request, tmp_path_factory) -> Iterator[tuple[Database, str]]:
    """A trail of one small request, then one request of 100,000 rows in 4 chunks; tests copy the database."""
    db = new_database(request.param, tmp_path_factory.mktemp("big"))
    log = AuditLog(db.url)
    log.record([AuditRecord("first", {"income": 1.0}, 0.1, "accept", "A")], **META)
    with log.batch(**META) as batch:
        for start in range(0, N_BIG, 25_000):
            batch.add(*_chunk(25_000, start))
    log.close()
    yield db, batch.request_id
    db.drop()


@pytest.fixture
def big_copy(big, tmp_path) -> Iterator[tuple[Database, str]]:
    db, rid = big
    copy = _copy(db, tmp_path)
    yield copy, rid
    copy.drop()


# -- the streaming API -----------------------------------------------------------
def test_a_batch_of_chunks_is_one_request(log):
    with log.batch(**META, request_id="job-1") as batch:
        for start in range(0, 30, 10):
            batch.add(*_chunk(10, start))
        assert log.count() == 0  # nothing is visible before commit
    assert (batch.request_id, batch.n_rows) == ("job-1", 30)
    assert log.count() == 30
    recent = log.recent(50)
    assert tuple(recent.columns) == RECENT_COLUMNS
    assert list(recent["seq"]) == list(range(30, 0, -1))
    assert set(recent["request_id"]) == {"job-1"}
    assert recent["reasons"].iloc[0] == [] and recent["decision"].iloc[0] == "accept"
    found = log.find("C00015")
    assert len(found) == 1 and found["seq"].iloc[0] == 16
    assert found["inputs"].iloc[0] == {"income": 1015.0, "roa": 0.00015, "sector": "Utilities", "age": 15,
                                       "listed": True}
    assert log.find("C00014")["inputs"].iloc[0]["roa"] is None  # NaN is stored as missing
    assert log.find("C00014", source="api").empty
    result = log.verify()
    assert result.ok and result.rows == 30 and result.requests == 1


def test_add_accepts_pyarrow_and_plain_sequences(log):
    ids, inputs, p, decision, grade, _ = _chunk(5)
    batch = log.batch(**META)
    batch.add(pa.array(ids.tolist()), pa.Table.from_pandas(inputs, preserve_index=False), pa.array(p),
              list(decision), list(grade))
    batch.add(list(_chunk(5, 5)[0]), _chunk(5, 5)[1], list(_chunk(5, 5)[2]), _chunk(5, 5)[3], _chunk(5, 5)[4])
    assert batch.commit() == batch.request_id
    assert log.count() == 10 and log.verify().ok
    assert log.recent(1)["reasons"].iloc[0] == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("p", 1.5, r"row 3 of the chunk \(request row 24, company 'C00023'\): p_default=1.5 must be a number"),
        ("p", np.nan, r"request row 24, company 'C00023'\): p_default=nan"),
        ("decision", "approve", r"company 'C00023'\): decision='approve' is unknown; use one of 'accept', 'refer'"),
        ("grade", None, r"company 'C00023'\): grade=None must be a string"),
        ("ids", "x" * 300, r"company_id='xxx.*' must be a string of at most 255"),
        ("inputs", object(), r"company 'C00023'\): input 'sector': .*cannot be stored"),
    ],
)
def test_a_bad_value_names_the_row_and_field_and_nothing_becomes_visible(log, field, value, message):
    batch = log.batch(**META)
    batch.add(*_chunk(10))
    batch.add(*_chunk(10, 10))  # the first chunk is now stored, staged
    ids, inputs, p, decision, grade, reasons = _chunk(10, 20)
    ids, p, decision, grade = ids.copy(), p.astype(float), decision.astype(object), grade.copy()
    if field == "inputs":
        inputs = inputs.astype({"sector": object})
        inputs.loc[3, "sector"] = value
    else:
        {"p": p, "decision": decision, "grade": grade, "ids": ids}[field][3] = value
    with pytest.raises(AuditError, match=message):
        batch.add(ids, inputs, p, decision, grade, reasons)
    assert log.count() == 0
    result = log.verify()
    assert result.ok and result.leftovers == 0  # abandoned and removed
    with pytest.raises(AuditError, match="already aborted"):
        batch.commit()


def test_chunks_must_agree(log):
    batch = log.batch(**META)
    ids, inputs, p, decision, grade, reasons = _chunk(4)
    with pytest.raises(AuditError, match="different lengths .*p_default=3"):
        batch.add(ids, inputs, p[:3], decision, grade, reasons)
    batch = log.batch(**META)
    batch.add(ids, inputs, p, decision, grade, reasons)
    with pytest.raises(AuditError, match="the columns .*'extra'.* but the request's first chunk had"):
        batch.add(ids, inputs.assign(extra=1.0), p, decision, grade, reasons)
    with pytest.raises(AuditError, match="inputs must be a pandas DataFrame or a pyarrow Table"):
        log.batch(**META).add(ids, inputs.to_dict("records"), p, decision, grade)
    with pytest.raises(AuditError, match="source='web' is unknown"):
        log.batch(**{**META, "source": "web"})
    assert log.count() == 0


def test_with_block_aborts_on_an_exception_and_re_raises(log):
    with pytest.raises(RuntimeError, match="scoring broke"):
        with log.batch(**META) as batch:
            batch.add(*_chunk(10))
            batch.add(*_chunk(10, 10))
            raise RuntimeError("scoring broke")
    assert log.count() == 0
    assert log.verify().leftovers == 0
    batch.abort()  # a second abort does nothing
    assert log.batch(**META).commit()  # an empty request writes nothing
    assert log.count() == 0


def test_a_store_failure_mid_job_raises_and_leaves_nothing_visible(log, db):
    log.record([AuditRecord("before", {}, 0.1, "accept", "A")], **META)
    _refuse_chunk(db, 1, "disk full")  # the store refuses the job's second chunk
    batch = log.batch(**META)
    batch.add(*_chunk(10))
    batch.add(*_chunk(10, 10))
    with pytest.raises(AuditError, match="could not be written .*disk full.*no score may be returned"):
        batch.add(*_chunk(10, 20))
    with pytest.raises(AuditError, match="already aborted"):
        batch.commit()
    assert log.count() == 1
    result = log.verify()
    assert result.ok and result.leftovers == 0
    assert db.sql("SELECT count(*) FROM audit_segments")[0][0] == 1


def test_a_failed_commit_leaves_nothing_visible(log, db):
    log.count()  # creates the tables
    db.refuse_inserts("audit_requests", "no")
    batch = log.batch(**META)
    for start in range(0, 30, 10):
        batch.add(*_chunk(10, start))
    with pytest.raises(AuditError, match="could not be written"):
        batch.commit()
    assert log.count() == 0 and log.verify().leftovers == 0


# -- interrupted requests ----------------------------------------------------------------
def _interrupted(url: str) -> None:
    """Run in a child process that dies mid-job: two chunks stored, no commit."""
    import os

    log = AuditLog(url)
    batch = log.batch(**META, request_id="killed")
    for start in range(0, 30, 10):
        batch.add(*_chunk(10, start))
    os._exit(1)  # killed: no commit, no abort


@pytest.mark.slow  # spawns the process that is killed
def test_a_killed_job_leaves_leftovers_that_verify_reports_and_a_later_writer_removes(db):
    url = db.url
    AuditLog(url).record([AuditRecord("before", {}, 0.1, "accept", "A")], **META)
    child = multiprocessing.get_context("spawn").Process(target=_interrupted, args=(url,))
    child.start()
    child.join(60)
    assert child.exitcode == 1
    log = AuditLog(url)
    assert log.count() == 1 and len(log.recent(100)) == 1 and log.find("C00001").empty
    result = log.verify()
    assert result.ok and result.leftovers == 20  # two chunks were stored before the third arrived
    assert "20 rows of 1 interrupted request(s) were never committed" in result.message
    log.record([AuditRecord("fresh", {}, 0.1, "accept", "A")], **META)
    assert log.verify().leftovers == 20  # not stale yet: a slow job may still be running
    db.sql("UPDATE audit_staged SET touched = '2000-01-01T00:00:00.000000+00:00'")
    log.record([AuditRecord("later", {}, 0.1, "accept", "A")], **META)
    result = log.verify()
    assert result.ok and result.leftovers == 0 and result.rows == 3
    assert db.sql("SELECT count(*) FROM audit_ids WHERE company_id LIKE 'C%'")[0][0] == 0


def test_a_job_whose_chunks_were_removed_as_stale_cannot_commit(log, db):
    batch = log.batch(**META)
    for start in range(0, 30, 10):
        batch.add(*_chunk(10, start))
    db.sql("UPDATE audit_staged SET touched = '2000-01-01T00:00:00.000000+00:00'")
    log.record([AuditRecord("other", {}, 0.1, "accept", "A")], **META)  # removes the stale chunks
    with pytest.raises(AuditError, match="2 of its 3 stored chunks went missing before commit"):
        batch.commit()
    assert log.count() == 1 and log.verify().ok


# -- tampering with a large request ---------------------------------------------------------
def test_the_large_request_verifies(big_copy):
    db, rid = big_copy
    log = AuditLog(db.url)
    result = log.verify()
    assert (result.ok, result.rows, result.requests) == (True, N_BIG + 1, 2), result.message
    assert log.count() == N_BIG + 1
    assert list(log.recent(3)["seq"]) == [N_BIG + 1, N_BIG, N_BIG - 1]
    found = log.find("C54321")
    assert found["seq"].tolist() == [54_323] and found["inputs"].iloc[0]["income"] == 55_321.0


def _tampered(db: Database, chunk: int, change) -> None:
    batch_id, _ = db.sql("SELECT batch_id, chunk FROM audit_segments WHERE chunk = ? AND n_rows = 25000", chunk)[0]
    data = db.sql("SELECT data FROM audit_segments WHERE batch_id = ? AND chunk = ?", batch_id, chunk)[0][0]
    _rewrite(db, batch_id, change(decode(data, "test", chunk)), chunk)


def _set(table, column: str, index: int, value):
    values = table.column(column).to_pylist()
    values[index] = value
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), field, pa.array(values, field.type))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: _set(t, "input:income", 16, 1.0), "row 50017 (company 'C50016') was altered"),
        (lambda t: _set(t, "input:sector", 16, None), "row 50017 (company 'C50016') was altered"),
        (lambda t: _set(t, "p_default", 16, 0.0001), "row 50017 (company 'C50016') was altered"),
        (lambda t: t.take([*range(16), 17, 16, *range(18, t.num_rows)]),
         "row 50017 was moved: row 50018 (company 'C50017') is stored in its place"),
        (lambda t: t.take([i for i in range(t.num_rows) if i != 16]),
         "row 50017 is missing: row 50016 is followed by row 50018, so scores were deleted"),
    ],
    ids=["input", "text input", "pd", "swap", "delete"],
)
def test_tampering_with_one_row_of_a_large_request_is_named(big_copy, change, message):
    db, rid = big_copy
    _tampered(db, 2, change)
    result = AuditLog(db.url).verify()
    assert not result.ok
    assert result.message.startswith(f"request {rid} {message}"), result.message
    assert (result.request_id, result.row, result.first_bad_seq) == (rid, 50_017, 50_018)


def test_a_swap_of_values_keeping_row_numbers_is_named(big_copy):
    db, rid = big_copy

    def swap(t):
        a, b = t.column("p_default")[16].as_py(), t.column("p_default")[17].as_py()
        return _set(_set(t, "p_default", 16, b), "p_default", 17, a)

    _tampered(db, 1, swap)
    result = AuditLog(db.url).verify()
    assert result.message.startswith(f"request {rid} row 25017 (company 'C25016') was altered")


def test_rewriting_the_fingerprints_too_is_still_caught(big_copy):
    from riskcore.serving.audit._hashing import fields_of, fingerprints

    db, rid = big_copy

    def forge(t):
        t = _set(t, "p_default", 5, 0.0)
        fields = [f for f in fields_of(t) if f[0] != "fingerprint"]
        return t.set_column(t.schema.get_field_index("fingerprint"), t.schema.field("fingerprint"),
                            pa.array(fingerprints(fields), pa.uint64()))

    _tampered(db, 0, forge)
    result = AuditLog(db.url).verify()
    assert not result.ok and result.request_id == rid and result.row is None
    assert "do not match the digest in its head, and no single row could be named" in result.message


def test_a_deleted_chunk_is_named(big_copy):
    db, rid = big_copy
    db.sql("DELETE FROM audit_segments WHERE chunk = 1 AND n_rows = 25000")
    result = AuditLog(db.url).verify()
    assert result.message == (f"request {rid} row 25001 is missing: chunk 1 (from row 25001) is not stored, so "
                              "scores were deleted")


def test_deleting_or_rewriting_the_head_of_the_large_request_breaks_the_chain(big_copy):
    db, rid = big_copy
    log = AuditLog(db.url)
    log.record([AuditRecord("after", {}, 0.1, "accept", "A")], **META)
    db.sql("UPDATE audit_requests SET n_rows = 99999 WHERE request_id = ?", rid)
    assert f"request {rid} (head 2) was altered: its hash does not match" in log.verify().message
    db.sql("DELETE FROM audit_requests WHERE request_id = ?", rid)
    result = log.verify()
    assert not result.ok and result.message.startswith("head 2 is missing: head 1 is followed by head 3")
