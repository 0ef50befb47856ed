"""Exports of the audit trail for an examiner: every score of a period as Parquet, verified offline from its files.

The trail is recorded by the product's own paths over several years under a clock the test sets
(tests/trails.py). Tampering with an export (a value edited, a row deleted or added, a head, the chunk table, the
manifest, a file) must be caught and the row named. Runs on SQLite and again on PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from databases import Database
from trails import META, Clock, clock, record_years  # noqa: F401  (clock: the fixture)

import riskcore.serving.audit._export as export_module
from riskcore.errors import AuditError, ConfigError, DataFileError
from riskcore.serving.audit import GENESIS_HASH, AuditLog, AuditRecord, CustodyEvent, examine_export
from riskcore.serving.audit._folder import arrow_type, manifest_digest
from riskcore.serving.audit._hashing import decode, encode

YEARS = range(2016, 2021)


@pytest.fixture
def log(database: Database):
    log = AuditLog(database.url)
    yield log
    log.close()


@pytest.fixture
def trail(log: AuditLog, clock: Clock):  # noqa: F811
    return record_years(log, clock, YEARS)


@pytest.fixture
def exported(log, trail, tmp_path):
    return log.export(tmp_path / "export", since="2016-01-01", until="2021-01-01", actor="cli:examiner")


@pytest.fixture
def local(tmp_path, clock):  # noqa: F811
    """An export of a SQLite trail: the tampering tests work on its files only, whatever the database."""
    log = AuditLog(f"sqlite:///{tmp_path / 'local.db'}")
    record_years(log, clock, YEARS)
    yield log.export(tmp_path / "export", since="2016-01-01", until="2021-01-01", actor="cli:examiner")
    log.close()


def _scores(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder / "scores").to_pandas()


# -- a faithful export --------------------------------------------------------------------------------
def test_an_export_holds_every_score_of_the_period_and_verifies_offline(log, trail, exported):
    check = examine_export(exported.folder)
    assert check.ok, check.summary()
    assert check.rows == exported.rows == trail.total == log.count()
    assert (check.first_seq, check.last_seq, check.before_hash) == (1, exported.last_seq, GENESIS_HASH)
    assert check.last_hash == exported.last_hash and check.digest == exported.digest
    assert "export intact" in check.message and exported.last_hash in check.message
    scores = _scores(exported.folder)
    recent = log.recent(10_000).sort_values("seq").reset_index(drop=True)
    assert scores["seq"].tolist() == recent["seq"].tolist()
    for column in ("request_id", "caller", "source", "model_version", "company_id", "decision", "grade"):
        assert scores[column].tolist() == recent[column].tolist(), column
    assert np.array_equal(scores["p_default"].to_numpy(), recent["p_default"].to_numpy())
    assert (scores["ts"] == recent["ts"]).all()
    assert set(scores["source"]) == {"cli", "api", "shadow"}


def test_the_inputs_come_back_as_recorded(log, exported):
    scores = _scores(exported.folder).set_index("company_id")
    found = log.find("Y2017-1-3").iloc[0]
    row = scores.loc["Y2017-1-3"]
    assert row["input:sector"] == found["inputs"]["sector"]
    assert row["input:age"] == found["inputs"]["age"]
    assert json.loads(row["input:tags"]) == found["inputs"]["tags"]
    # an input stored as a whole number by one request and as a decimal by another is one text column
    assert pq.read_schema(exported.folder / "scores" / "part-00000.parquet").field("input:x").type == pa.string()
    assert scores.loc["API-2016", "input:x"] == "2016"
    assert float(scores.loc["Y2017-1-3", "input:x"]) == found["inputs"]["x"]


def test_the_export_is_recorded_in_the_trail_and_matches_it(log, exported):
    recorded = log.events(CustodyEvent)
    assert [(e.event, e.actor, e.digest, e.last_seq) for e in recorded] == \
        [("exported", "cli:examiner", exported.digest, exported.last_seq)]
    assert exported.custody_seq == recorded[0].seq
    compared = log.compare_export(examine_export(exported.folder))
    assert compared.ok and "the export is the trail's" in compared.trail
    assert "exported by cli:examiner" in compared.trail
    assert log.verify().ok


def test_an_export_of_another_trail_does_not_match_this_one(local, tmp_path, clock):  # noqa: F811
    other = AuditLog(f"sqlite:///{tmp_path / 'other.db'}")
    record_years(other, clock, range(2016, 2022))
    compared = other.compare_export(examine_export(local.folder))
    assert not compared.ok and "NOT the trail's" in compared.trail


def test_a_window_in_the_middle_starts_from_the_head_before_it(log, trail, database, tmp_path):
    written = log.export(tmp_path / "2018", since="2018-01-01", until="2019-01-01", actor="x")
    first = trail_heads_from(database, "2018-01-01")
    assert written.first_seq == first
    before = database.sql("SELECT row_hash FROM audit_requests WHERE seq = ?", first - 1)[0][0]
    assert written.before_hash == before
    check = examine_export(written.folder)
    assert check.ok, check.summary()
    assert check.rows == trail.rows[2018]
    assert set(pd.to_datetime(_scores(written.folder)["ts"]).dt.year) == {2018}
    assert f"head {first - 1:,} (hash {before})" in check.message


def trail_heads_from(db: Database, since: str) -> int:
    return int(db.sql("SELECT min(seq) FROM audit_requests WHERE ts >= ?", f"{since}T00:00:00.000000+00:00")[0][0])


def test_a_large_request_split_over_fetches_parts_and_row_groups_verifies(log, trail, tmp_path, monkeypatch):
    """On both databases: the chunks of one request fetched in several queries, the scores in several parts."""
    monkeypatch.setattr(export_module, "FETCH_BYTES", 3000)
    monkeypatch.setattr(export_module, "ROW_GROUP_ROWS", 10)
    monkeypatch.setattr(export_module, "PART_ROWS", 25)
    monkeypatch.setattr(export_module, "HEADS_PER_PAGE", 3)
    written = log.export(tmp_path / "small", since="2016-01-01", until="2021-01-01", actor="x")
    assert len(list((written.folder / "scores").glob("part-*.parquet"))) > 3
    check = examine_export(written.folder)
    assert check.ok, check.summary()
    assert check.rows == trail.total
    assert _scores(written.folder)["seq"].tolist() == list(range(1, trail.total + 1))


# -- bad requests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("since", "until", "message"), [
    ("2030-01-01", "2031-01-01", "no request was recorded in the period 2030-01-01 to 2031-01-01; the live trail "
                                 "holds requests from 2016"),
    ("2019-01-01", "2018-01-01", "the period 2019-01-01 to 2018-01-01 is empty: until must come after since"),
    ("yesterday-ish", "2018-01-01", "since='yesterday-ish' is not a date or time"),
])
def test_a_bad_period_says_what_to_write(local, tmp_path, since, until, message):
    log = AuditLog(f"sqlite:///{tmp_path / 'local.db'}")
    with pytest.raises(ConfigError, match=message):
        log.export(tmp_path / "x", since=since, until=until, actor="x")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.partial-*"))


def test_an_export_never_overwrites_a_folder(local, tmp_path):
    log = AuditLog(f"sqlite:///{tmp_path / 'local.db'}")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not an empty folder"):
        log.export(tmp_path / "taken", since="2016-01-01", until="2021-01-01", actor="x")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_a_trail_that_fails_verification_is_not_exported(log, trail, database, tmp_path):
    batch_id, data = database.sql("SELECT s.batch_id, s.data FROM audit_segments s JOIN audit_requests h "
                                  "ON h.batch_id = s.batch_id WHERE h.source = 'cli' AND s.chunk = 1 "
                                  "ORDER BY h.seq")[1]
    table = decode(bytes(data), "t", 1)
    p = table.column("p_default").to_pylist()
    p[0] = 0.5
    table = table.set_column(table.schema.get_field_index("p_default"), "p_default", pa.array(p))
    database.sql("UPDATE audit_segments SET data = ? WHERE batch_id = ? AND chunk = 1", encode(table), batch_id)
    with pytest.raises(AuditError, match="has stored scores that do not match the digest in its head, so the trail "
                                         "fails verification and nothing was written"):
        log.export(tmp_path / "x", since="2016-01-01", until="2021-01-01", actor="x")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.partial-*"))
    assert log.events(CustodyEvent) == []


def test_a_folder_that_is_not_an_export_is_refused(tmp_path):
    with pytest.raises(DataFileError, match="holds no manifest.json, so it is not an audit export"):
        examine_export(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataFileError, match="cannot be read"):
        examine_export(tmp_path)


# -- tampering -------------------------------------------------------------------------------------------
def _copy(local, tmp_path: Path) -> Path:
    folder = tmp_path / "tampered"
    shutil.copytree(local.folder, folder)
    return folder


def _rewrite_scores(folder: Path, change) -> None:
    path = folder / "scores" / "part-00000.parquet"
    pq.write_table(change(pq.read_table(path)), path)


def _set(table: pa.Table, column: str, index: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[index] = value
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), field, pa.array(values, field.type))


def _kinds(check) -> set[str]:
    return {f.kind for f in check.findings}


def test_an_edited_score_is_named(local, tmp_path):
    folder = _copy(local, tmp_path)
    _rewrite_scores(folder, lambda t: _set(t, "p_default", 9, 0.999))
    check = examine_export(folder)
    assert not check.ok
    named = [f for f in check.findings if f.kind == "altered"]
    assert [(f.head_seq, f.row, f.company_id) for f in named] == [(1, 10, "Y2016-1-2")]
    assert "request" in named[0].message and "row 10 (trail position 10, company 'Y2016-1-2') was altered" \
        in named[0].message
    assert "scores/part-00000.parquet was altered" in check.summary()
    assert check.message.startswith("export altered") and "row 10" in check.message


def test_a_deleted_score_is_named(local, tmp_path):
    folder = _copy(local, tmp_path)
    _rewrite_scores(folder, lambda t: pa.concat_tables([t.slice(0, 12), t.slice(13)]))
    check = examine_export(folder)
    missing = [f for f in check.findings if f.kind == "missing"]
    assert [(f.head_seq, f.row) for f in missing] == [(1, 13)] and not check.ok
    assert "row 13 (trail position 13) is missing: it was deleted from the export" in missing[0].message


def test_an_added_score_is_named(local, tmp_path):
    folder = _copy(local, tmp_path)

    def add(t: pa.Table) -> pa.Table:
        fake = t.slice(3, 1).to_pylist()
        fake[0].update(company_id="FORGED", row=99, seq=99)
        return pa.concat_tables([t.slice(0, 4), pa.Table.from_pylist(fake, schema=t.schema), t.slice(4)])

    _rewrite_scores(folder, add)
    check = examine_export(folder)
    added = [f for f in check.findings if f.kind == "added"]
    assert [(f.head_seq, f.row, f.company_id) for f in added] == [(1, 99, "FORGED")] and not check.ok
    assert "which its head does not hold" in added[0].message
    assert _kinds(check) == {"file", "added"}


def test_a_copied_score_is_named_as_added(local, tmp_path):
    folder = _copy(local, tmp_path)
    _rewrite_scores(folder, lambda t: pa.concat_tables([t, t.slice(5, 1)]))
    added = [f for f in examine_export(folder).findings if f.kind == "added"]
    assert [(f.head_seq, f.row) for f in added] == [(1, 6)] and "a second request" in added[0].message


@pytest.mark.parametrize(("column", "value", "why"), [
    ("source", "dashboard", "its source is not its head's"),
    ("caller", "someone-else", "its caller is not its head's"),
    ("ts", pd.Timestamp("2016-02-02", tz="UTC"), "its ts is not its head's"),
    ("seq", 1234, "its seq is not its head's"),
])
def test_a_column_no_chunk_hash_covers_is_checked_against_its_head(local, tmp_path, column, value, why):
    folder = _copy(local, tmp_path)
    _rewrite_scores(folder, lambda t: _set(t, column, 2, value))
    named = [f for f in examine_export(folder).findings if f.kind == "altered"]
    assert [(f.row, f.company_id) for f in named] == [(3, "Y2016-0-2")] and why in named[0].message


def test_rewriting_the_fingerprints_too_still_names_the_request(local, tmp_path):
    from riskcore.serving.audit._hashing import fingerprints

    folder = _copy(local, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    layout = manifest["layouts"][0]

    def forge(t: pa.Table) -> pa.Table:
        t = _set(t, "p_default", 1, 0.77)
        chunk = t.slice(0, 7)
        fields = [(name, kind, chunk.column(name).combine_chunks().cast(arrow_type(tname)))
                  for name, kind, tname in layout if name != "fingerprint"]
        prints = t.column("fingerprint").to_pylist()
        prints[:7] = fingerprints(fields).tolist()
        return _set(t, "fingerprint", 0, prints[0]).set_column(
            t.schema.get_field_index("fingerprint"), t.schema.field("fingerprint"), pa.array(prints, pa.uint64()))

    _rewrite_scores(folder, forge)
    check = examine_export(folder)
    altered = [f for f in check.findings if f.kind == "altered"]
    assert len(altered) == 1 and altered[0].row is None
    assert "do not match the digest in its head, and no single row could be named" in altered[0].message


def test_an_edited_head_breaks_the_chain(local, tmp_path):
    folder = _copy(local, tmp_path)
    path = folder / "heads.parquet"
    pq.write_table(_set(pq.read_table(path), "caller", 1, "cli:someone-else"), path)
    heads = [f for f in examine_export(folder).findings if f.kind == "head"]
    assert heads and heads[0].head_seq == 2 and "was altered: its hash does not match its contents" in heads[0].message


def test_an_edited_chunk_hash_is_caught(local, tmp_path):
    folder = _copy(local, tmp_path)
    path = folder / "chunks.parquet"
    pq.write_table(_set(pq.read_table(path), "chunk_hash", 1, "0" * 64), path)
    found = examine_export(folder).findings
    assert [f.kind for f in found] == ["file", "chunk"]
    assert "chunks.parquet was altered: it records hashes for request" in found[1].message


def test_an_edited_manifest_is_caught(local, tmp_path):
    folder = _copy(local, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["written_by"] = "cli:someone-else"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    check = examine_export(folder)
    assert [f.message for f in check.findings] == ["the manifest was altered: its digest does not match its contents"]


def test_a_manifest_forged_with_its_digest_still_disagrees_with_the_heads(local, tmp_path):
    folder = _copy(local, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["chain"]["last"]["row_hash"] = "f" * 64
    manifest["digest"] = manifest_digest(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    found = examine_export(folder).findings
    assert [f.kind for f in found] == ["manifest"] and "is not heads.parquet's" in found[0].message


def test_files_added_or_removed_are_named(local, tmp_path):
    folder = _copy(local, tmp_path)
    (folder / "scores" / "extra.parquet").write_bytes(b"PAR1")
    (folder / "README.txt").unlink()
    messages = [f.message for f in examine_export(folder).findings]
    assert messages == ["README.txt is missing from the export (the manifest lists it)",
                        "scores/extra.parquet was added to the export: the manifest does not list it"]


def test_the_findings_are_capped_and_counted(local, tmp_path):
    folder = _copy(local, tmp_path)
    _rewrite_scores(folder, lambda t: t.slice(0, 3))
    check = examine_export(folder, limit=5)
    assert len(check.findings) == 5 and check.more > 0
    assert f"… and {check.more:,} more" in check.summary(shown=5)


def test_an_export_of_one_record_of_a_fresh_trail(tmp_path):
    log = AuditLog(f"sqlite:///{tmp_path / 'a.db'}")
    log.record([AuditRecord("only", {"x": None}, 0.5, "accept", "A")], **META)
    written = log.export(tmp_path / "e", since="2000-01-01", until="2100-01-01", actor="x")
    check = examine_export(written.folder)
    assert check.ok and check.rows == 1 and check.heads == 1
