"""Retention without breaking the chain: archives of the oldest requests, the anchor, and verify before and after.

The trail spans several years under a clock the test sets (tests/trails.py). A process killed at any step of an
archive must leave the old state or the new one, and ``verify`` green either way. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from databases import Database
from trails import META, archive_and_die_at, clock, record_years  # noqa: F401  (clock: the fixture)

from riskcore.config import AuditRules, Settings
from riskcore.errors import AuditError, ConfigError
from riskcore.serving.audit import AuditLog, AuditRecord, CustodyEvent, examine_export
from riskcore.serving.audit._folder import manifest_digest
from riskcore.serving.audit._hashing import decode, encode
from riskcore.workbench import Workbench

YEARS = range(2014, 2022)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def log(database: Database):
    log = AuditLog(database.url)
    yield log
    log.close()


@pytest.fixture
def trail(log, clock):  # noqa: F811
    return record_years(log, clock, YEARS)


def _has_anchors(db: Database) -> bool:
    if db.is_postgres:
        return bool(db.sql("SELECT to_regclass('audit_anchors') IS NOT NULL")[0][0])
    return bool(db.sql("SELECT count(*) FROM sqlite_master WHERE name = 'audit_anchors'")[0][0])


def _anchors(db: Database) -> list[tuple]:
    return db.sql("SELECT seq, first_seq, archive FROM audit_anchors ORDER BY seq")


def test_archiving_the_oldest_years_keeps_verify_green_live_and_with_the_archives(log, trail, database, tmp_path):
    total = log.count()
    before = log.verify()
    done = log.archive(tmp_path / "archives", before="2017-01-01", actor="cli:admin")
    archived = sum(trail.rows[y] for y in (2014, 2015, 2016))
    assert done.written is not None and done.written.rows == archived
    assert log.count() == total - archived
    live = log.verify()
    assert live.ok, live.message
    assert (live.rows, live.requests, live.anchor_seq) == (before.rows, before.requests + 1, done.written.last_seq)
    assert f"{total - archived:,} live, from the anchor at head {done.written.last_seq:,}" in live.message
    whole = log.verify(archives=tmp_path / "archives")
    assert whole.ok and "1 archive(s) verified from their files" in whole.message
    assert examine_export(done.written.folder).ok
    assert _anchors(database) == [(done.written.last_seq, 1, done.written.folder.name)]
    assert [(e.event, e.first_seq, e.last_seq, e.rows) for e in log.events(CustodyEvent)] == \
        [("archived", 1, done.written.last_seq, archived)]
    assert database.sql("SELECT min(ts) FROM audit_requests")[0][0] >= "2017"
    assert database.sql("SELECT count(*) FROM audit_segments s WHERE NOT EXISTS (SELECT 1 FROM audit_requests h "
                        "WHERE h.batch_id = s.batch_id)") == [(0,)]
    assert database.sql("SELECT count(*) FROM audit_ids WHERE company_id LIKE 'Y2015%'") == [(0,)]
    assert log.find("Y2016-0-0").empty and not log.find("Y2018-0-0").empty


def test_archives_follow_one_another_and_the_chain_goes_on_after_everything_was_archived(log, trail, tmp_path):
    folder = tmp_path / "archives"
    first = log.archive(folder, before="2016-01-01", actor="a")
    second = log.archive(folder, before="2019-01-01", actor="a")
    assert second.written is not None and first.written is not None
    assert second.written.first_seq == first.written.last_seq + 1
    assert second.written.before_hash == first.written.last_hash
    everything = log.archive(folder, before="2100-01-01", actor="a", vacuum=True)
    assert everything.vacuumed and log.count() == 0
    assert log.verify().ok and log.verify(archives=folder).ok
    log.record([AuditRecord("after", {"x": 1.0}, 0.1, "accept", "A")], **META)
    result = log.verify(archives=folder)
    assert result.ok and result.rows == trail.total + 1, result.message
    assert "3 archive(s) verified" in result.message
    again = log.archive(folder, before="2000-01-01", actor="a")
    assert again.written is None and again.message.startswith("nothing to archive")


def test_scores_recorded_while_an_archive_runs_chain_on_after_it(log, trail, database, tmp_path):
    total = log.count()
    recorded: list[str] = []
    stop = threading.Event()

    def record() -> None:
        writer = AuditLog(database.url)
        while not stop.is_set() and len(recorded) < 200:
            recorded.append(writer.record([AuditRecord(f"W{len(recorded)}", {"x": 1.0}, 0.1, "accept", "A")],
                                          **META))
        writer.close()

    thread = threading.Thread(target=record)
    thread.start()
    done = log.archive(tmp_path / "archives", before="2019-01-01", actor="a")
    stop.set()
    thread.join(60)
    assert done.written is not None and recorded
    assert log.count() == total - done.written.rows + len(recorded)
    assert log.verify().ok and log.verify(archives=tmp_path / "archives").ok


def test_an_export_cannot_reach_into_the_archived_years(log, trail, tmp_path):
    log.archive(tmp_path / "archives", before="2017-01-01", actor="a")
    with pytest.raises(ConfigError, match="were archived .* an archive is itself an export an examiner verifies"):
        log.export(tmp_path / "e", since="2015-01-01", until="2018-01-01", actor="x")
    written = log.export(tmp_path / "e", since="2018-01-01", until="2019-01-01", actor="x")
    assert examine_export(written.folder).ok
    assert log.compare_export(examine_export(written.folder)).ok


def test_a_trail_that_fails_verification_is_not_archived(log, trail, database, tmp_path):
    batch_id, data = database.sql("SELECT s.batch_id, s.data FROM audit_segments s JOIN audit_requests h "
                                  "ON h.batch_id = s.batch_id WHERE h.seq = 1 AND s.chunk = 2")[0]
    table = decode(bytes(data), "t", 2)
    table = table.set_column(table.schema.get_field_index("company_id"), "company_id",
                             pa.array(["X"] * table.num_rows))
    database.sql("UPDATE audit_segments SET data = ? WHERE batch_id = ? AND chunk = 2", encode(table), batch_id)
    count = log.count()
    with pytest.raises(AuditError, match="do not match the digest in its head.*nothing was written"):
        log.archive(tmp_path / "archives", before="2017-01-01", actor="a")
    assert log.count() == count and not [p for p in (tmp_path / "archives").iterdir() if p.is_dir()]
    assert log.verify().first_bad_seq is not None


def test_verify_with_the_archives_names_a_missing_altered_or_swapped_archive(log, trail, tmp_path):
    folder = tmp_path / "archives"
    done = log.archive(folder, before="2017-01-01", actor="a")
    assert done.written is not None
    name = done.written.folder.name
    shutil.move(folder / name, tmp_path / "aside")
    result = log.verify(archives=folder)
    assert not result.ok and f"the archive {name} (heads 1–{done.written.last_seq:,}) is not in" in result.message
    shutil.move(tmp_path / "aside", folder / name)
    part = folder / name / "scores" / "part-00000.parquet"
    original = part.read_bytes()
    table = pq.read_table(part)
    pq.write_table(table.slice(1), part)
    result = log.verify(archives=folder)
    assert not result.ok and f"the archive {name} fails verification" in result.message
    assert "row 1 (trail position 1) is missing" in result.message
    part.write_bytes(original)
    assert log.verify(archives=folder).ok
    # a folder that verifies on its own but is not the one archived (its manifest differs) is named too
    manifest = folder / name / "manifest.json"
    text = manifest.read_text()
    forged = json.loads(text)
    forged["written_by"] = "someone else"
    forged["digest"] = manifest_digest(forged)
    manifest.write_text(json.dumps(forged))
    result = log.verify(archives=folder)
    assert not result.ok and "is not the one archived: its manifest's digest is not the one its anchor keeps" \
        in result.message


def test_the_default_cut_off_is_today_less_retain_years(tmp_path, clock):  # noqa: F811
    home = tmp_path / "home"
    bench = Workbench(Settings(home=home))
    record_years(bench.audit, clock, range(2000, 2003))
    kept = bench.archive_audit(actor="a")
    assert kept.written is None and "retain_years is 0" in kept.message
    bench = Workbench(Settings(home=home, audit=AuditRules(retain_years=7)))
    done = bench.archive_audit(actor="a")
    assert done.written is not None and done.written.folder.parent == home / "audit-archives"
    assert bench.audit.count() == 0 and bench.verify_audit(archives=home / "audit-archives").ok


def test_what_a_killed_archive_left_is_cleared_by_the_next(log, trail, tmp_path):
    folder = tmp_path / "archives"
    (folder / ".archive-000000000001-000000000009.partial-abcd1234").mkdir(parents=True)
    (folder / "archive-000000000001-000000000005").mkdir()
    (folder / "archive-000000000001-000000000005" / "manifest.json").write_text("{}")
    done = log.archive(folder, before="2016-01-01", actor="a")
    assert done.written is not None
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [done.written.folder.name]


# -- a process killed mid-archive ------------------------------------------------------------------------
def _old_or_new(log: AuditLog, db: Database, folder: Path, total: int) -> str:
    """The state the trail is in: ``old`` (nothing removed) or ``new`` (archived and anchored); fails otherwise."""
    live = log.verify()
    assert live.ok and live.rows == total, live.message
    anchored = _anchors(db) if _has_anchors(db) else []
    if not anchored:
        assert log.count() == total
        return "old"
    (seq, _, name), = anchored
    assert examine_export(folder / name).ok and log.verify(archives=folder).ok
    assert log.count() < total
    return "new"


@pytest.mark.slow  # spawns the processes that are killed
@pytest.mark.parametrize("step", [
    "verifying",  # the hidden folder written, not yet verified
    "archive written",  # verified and renamed into place, nothing removed yet
    "anchoring",  # inside the transaction: rows deleted, anchor and record written, not committed
])
def test_a_process_killed_mid_archive_leaves_the_old_state(step, database, clock, tmp_path):  # noqa: F811
    if database.is_postgres and step != "anchoring":
        pytest.skip("the steps before the transaction do not touch the database")
    log = AuditLog(database.url)
    record_years(log, clock, YEARS)
    total = log.count()
    folder = tmp_path / "archives"
    child = multiprocessing.get_context("spawn").Process(target=archive_and_die_at,
                                                         args=(database.url, str(folder), "2018-01-01", step))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    assert _old_or_new(log, database, folder, total) == "old"
    done = log.archive(folder, before="2018-01-01", actor="cli:admin")  # the next run clears what was left
    assert done.written is not None
    assert _old_or_new(log, database, folder, total) == "new"
    assert [p.name for p in folder.iterdir() if p.is_dir()] == [done.written.folder.name]


@pytest.mark.slow  # runs the command and kills it from outside
def test_the_command_killed_while_it_deletes_leaves_the_old_state_or_the_new_one(tmp_path, clock):  # noqa: F811
    db = Database("sqlite", f"sqlite:///{tmp_path / 'audit.db'}", path=tmp_path / "audit.db")
    log = AuditLog(db.url)
    record_years(log, clock, range(2000, 2012), chunk=500, chunks=4)
    total = log.count()
    folder = tmp_path / "archives"
    env = {**os.environ, "RISKCORE_AUDIT_URL": db.url, "RISKCORE_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "riskcore", "audit", "archive", "--before", "2008-01-01", "--out", str(folder)]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "removing heads" in line:  # the delete transaction has begun
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(60)
    assert _old_or_new(log, db, folder, total) in ("old", "new")
    log.archive(folder, before="2008-01-01", actor="cli:admin")
    assert _old_or_new(log, db, folder, total) == "new"
