"""``python -m riskcore audit export | verify | archive | find``: what a user runs, its output and its exit status."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from trails import clock, record_years  # noqa: F401  (clock: the fixture)

from riskcore.cli import EXIT_OK, EXIT_PROBLEMS, main
from riskcore.config import load_settings
from riskcore.serving.audit import AuditLog, AuditRecord


@pytest.fixture
def home(tmp_path, monkeypatch, clock):  # noqa: F811
    home = tmp_path / "home"
    monkeypatch.setenv("RISKCORE_HOME", str(home))
    monkeypatch.delenv("RISKCORE_AUDIT_URL", raising=False)
    monkeypatch.delenv("RISKCORE_CONFIG", raising=False)
    log = AuditLog.from_settings(load_settings())
    record_years(log, clock, range(2016, 2020))
    log.close()
    return home


def test_an_export_is_written_verified_offline_and_against_the_trail(home, tmp_path, capsys):
    out = tmp_path / "for-the-examiner"
    assert main(["audit", "export", "--since", "2017-01-01", "--until", "2018-01-01", "--out", str(out)]) == EXIT_OK
    said = capsys.readouterr().out
    assert f"Wrote {out} (export, 2017-01-01 to 2018-01-01)" in said and "chained from head" in said
    assert f"python -m riskcore audit verify --export {out}" in said
    assert main(["audit", "verify", "--export", str(out)]) == EXIT_OK
    assert "export intact" in capsys.readouterr().out
    assert main(["audit", "verify", "--export", str(out), "--against-trail"]) == EXIT_OK
    assert "the export is the trail's" in capsys.readouterr().out
    part = out / "scores" / "part-00000.parquet"
    pq.write_table(pq.read_table(part).slice(1), part)
    assert main(["audit", "verify", "--export", str(out)]) == EXIT_PROBLEMS
    said = capsys.readouterr().out
    assert "export altered" in said and "row 1 (trail position" in said and "is missing" in said


def test_archive_then_verify_live_and_with_the_archives(home, capsys):
    assert main(["audit", "archive", "--before", "2018-01-01"]) == EXIT_OK
    said = capsys.readouterr().out
    archives = home / "audit-archives"
    assert f"into {archives}/archive-000000000001-" in said and "the live chain now starts at the anchor" in said
    assert main(["audit", "verify"]) == EXIT_OK
    assert "live, from the anchor at head" in capsys.readouterr().out
    assert main(["audit", "verify", "--archives", str(archives)]) == EXIT_OK
    assert "1 archive(s) verified from their files" in capsys.readouterr().out
    assert main(["audit", "archive"]) == EXIT_OK
    assert "retain_years is 0" in capsys.readouterr().out


def test_bad_options_say_what_to_do(home, tmp_path, capsys):
    assert main(["audit", "export", "--since", "2017-13-45", "--until", "2018-01-01", "--out",
                 str(tmp_path / "x")]) == 3
    assert "since='2017-13-45' is not a date or time" in capsys.readouterr().err
    assert main(["audit", "verify", "--export", str(tmp_path)]) == 2
    assert "holds no manifest.json, so it is not an audit export" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--against-trail"])
    assert exited.value.code == 2
    assert "--against-trail compares an export with the trail" in capsys.readouterr().err


def test_find_lists_a_companys_scores_by_its_redacted_name_or_its_id(home, capsys):
    log = AuditLog.from_settings(load_settings())
    log.record([AuditRecord("C-77", {"company_name": "Zyxwvut Ltd", "roa": 0.1}, 0.25, "refer", "C")],
               source="cli", caller="analyst", model_version="v9", bundle_hash="h")
    log.close()
    assert main(["audit", "find", "--column", "company_name", "--value", "Zyxwvut Ltd"]) == EXIT_OK
    said = capsys.readouterr().out
    assert "1 recorded score(s) with that input 'company_name' (as given and as its salted hash)" in said
    assert "C-77" in said and "v9" in said and "refer" in said
    assert main(["audit", "find", "--column", "company_name", "--value", "Zyxwvut"]) == EXIT_OK
    assert "No recorded score has that input 'company_name'" in capsys.readouterr().out
    assert main(["audit", "find", "--company", "C-77"]) == EXIT_OK
    assert "1 recorded score(s) with that company id" in capsys.readouterr().out
    assert main(["audit", "find", "--column", "company_name"]) == 3
    assert "--column needs --value" in capsys.readouterr().err
    assert main(["audit", "find", "--column", "nickname", "--value", "x"]) == 6
    assert "no score in the audit trail has an input named 'nickname'" in capsys.readouterr().err
