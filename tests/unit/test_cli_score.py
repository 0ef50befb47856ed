"""``python -m riskcore score`` and ``audit verify``: files in, files and an audit trail out."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pyarrow as pa
import pytest

from riskcore.cli import main
from riskcore.data.tabular import write_csv
from riskcore.serving.audit import AuditLog
from riskcore.serving.audit._hashing import decode, encode

ID, YEAR = "company_id", "fiscal_year"


@pytest.fixture(scope="module")
def portfolio_csv(small_portfolio, tmp_path_factory):
    """The latest year of the small portfolio, 40 rows, two of them broken (rows 5 and 9)."""
    frame = small_portfolio.frame
    latest = frame[frame[YEAR] == frame[YEAR].max()].drop(columns=["default_12m", "true_pd"]).head(40)
    latest = latest.reset_index(drop=True).astype({"roa": object, "sector": object})
    latest.loc[4, "roa"] = "abc"
    latest.loc[8, "sector"] = "Space Mining"
    path = tmp_path_factory.mktemp("cli_score") / "portfolio.csv"
    write_csv(latest, path)
    return path


def run(*args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_score_writes_scores_rejects_summary_and_audit(quick_bundle, portfolio_csv, tmp_path, audit_url, capsys):
    out = tmp_path / "scores.csv"
    code, text, err = run("score", "--model", quick_bundle.path, "--input", portfolio_csv, "--output", out,
                          capsys=capsys)
    assert code == 1  # rows were rejected
    scores = _read(out)
    assert len(scores) == 38
    assert {r["row"] for r in scores}.isdisjoint({"5", "9"})
    assert {"p_default", "score_raw", "decision", "grade", "risk_level", "expected_loss",
            "model_version"} <= set(scores[0])
    rejects = _read(tmp_path / "scores.rejects.csv")
    assert [(r["row"], r["column"]) for r in rejects] == [("5", "roa"), ("9", "sector")]
    assert "'abc' is not a number" in rejects[0]["problem"]
    assert "Scored 38 of 40 rows" in text and "rejected 2" in text
    assert "Grades: " in text and "Total expected loss" in text
    assert "Rejected rows by column: " in text
    assert "audit request" in text
    # the progress bar went to stderr, from validating to done
    assert "validating" in err and "scored 38 of 40 rows" in err and "100%" in err
    log = AuditLog(audit_url)
    assert log.count() == 38
    assert log.verify().ok
    assert set(log.recent(100)["company_id"]) == {r[ID] for r in scores}


def test_explain_and_explicit_rejects_path(quick_bundle, portfolio_csv, tmp_path, audit_url, capsys):
    out, rejects = tmp_path / "s.csv", tmp_path / "nested" / "bad rows.csv"
    code, _, _ = run("score", "--model", quick_bundle.path, "--input", portfolio_csv, "--output", out,
                     "--rejects", rejects, "--explain", capsys=capsys)
    assert code == 1
    scores = _read(out)
    referred = [r for r in scores if r["decision"] == "refer"]
    assert referred and all(r["reasons"] for r in referred)
    assert all(not r["reasons"] for r in scores if r["decision"] == "accept")
    assert len(_read(rejects)) == 2
    recorded = AuditLog(audit_url).recent(100)
    assert any(len(r) for r in recorded["reasons"])


def test_a_clean_file_exits_0_and_writes_no_reject_file(quick_bundle, small_portfolio, tmp_path, audit_url, capsys):
    frame = small_portfolio.frame
    clean = frame[frame[YEAR] == frame[YEAR].max()].drop(columns=["default_12m", "true_pd"]).head(10)
    path = tmp_path / "clean.csv"
    write_csv(clean, path)
    code, text, _ = run("score", "--model", quick_bundle.path, "--input", path, "--output", tmp_path / "o.csv",
                        capsys=capsys)
    assert code == 0, text
    assert not (tmp_path / "o.rejects.csv").exists()


def test_champion_is_the_default_model(quick_training, tracker, portfolio_csv, tmp_path, audit_url, monkeypatch,
                                       capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracker.tracking_uri)
    code, text, _ = run("score", "--input", portfolio_csv, "--output", tmp_path / "o.csv", capsys=capsys)
    assert code == 1
    assert f"with model {quick_training.bundle_dir.name}" in text or "with model " in text
    assert _read(tmp_path / "o.csv")[0]["model_version"] == AuditLog(audit_url).recent(1)["model_version"].iloc[0]


@pytest.mark.parametrize("content,code,message", [
    (b"", 2, "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 2, "not a CSV: it looks like a PNG image"),
    (b"company_id,fiscal_year,sector\nC1,2024,Energy\n", 2, "'current_ratio' (Current ratio)"),
], ids=["empty", "png", "required-columns-missing"])
def test_unusable_input_writes_nothing(quick_bundle, tmp_path, audit_url, capsys, content, code, message):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    got, _, err = run("score", "--model", quick_bundle.path, "--input", path, "--output", tmp_path / "o.csv",
                      capsys=capsys)
    assert got == code
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()
    assert AuditLog(audit_url).count() == 0


def test_a_read_only_audit_trail_makes_scoring_refuse(quick_bundle, portfolio_csv, tmp_path, monkeypatch, capsys):
    db = tmp_path / "audit.db"
    monkeypatch.setenv("RISKCORE_AUDIT_URL", "sqlite:///" + str(db))
    assert run("score", "--model", quick_bundle.path, "--input", portfolio_csv, "--output", tmp_path / "a.csv",
               capsys=capsys)[0] == 1
    before = AuditLog("sqlite:///" + str(db)).count()
    # tests run as root, so chmod would not stop a write: open the database read-only instead
    monkeypatch.setenv("RISKCORE_AUDIT_URL", f"sqlite:///file:{db}?mode=ro&uri=true")
    code, _, err = run("score", "--model", quick_bundle.path, "--input", portfolio_csv, "--output",
                       tmp_path / "b.csv", capsys=capsys)
    assert code == 6  # the audit trail is unavailable
    assert "audit" in err.lower() and "Traceback" not in err
    assert not (tmp_path / "b.csv").exists()
    assert AuditLog("sqlite:///" + str(db)).count() == before


def test_audit_verify_names_an_edited_row(quick_bundle, portfolio_csv, tmp_path, database, monkeypatch, capsys):
    # on a SQLite file and on a PostgreSQL database: the same command, the same answers
    monkeypatch.setenv("RISKCORE_AUDIT_URL", database.url)
    assert run("score", "--model", quick_bundle.path, "--input", portfolio_csv, "--output", tmp_path / "o.csv",
               capsys=capsys)[0] == 1
    code, text, _ = run("audit", "verify", capsys=capsys)
    assert code == 0 and "chain intact: 38 rows" in text
    batch_id, data = database.sql("SELECT batch_id, data FROM audit_segments")[0]
    stored = decode(bytes(data), "t", 0)
    p = stored.column("p_default").to_pylist()
    p[6] = 0.0001
    edited = stored.set_column(stored.schema.get_field_index("p_default"), "p_default", pa.array(p))
    database.sql("UPDATE audit_segments SET data = ? WHERE batch_id = ?", encode(edited), batch_id)
    code, text, _ = run("audit", "verify", capsys=capsys)
    assert code == 1
    assert "row 7" in text and "was altered" in text
    monkeypatch.delenv("RISKCORE_AUDIT_URL")
    code, text, _ = run("audit", "verify", "--url", database.url, capsys=capsys)
    assert code == 1 and "row 7" in text


def test_module_entry_point_scores_without_a_traceback(quick_bundle, portfolio_csv, tmp_path):
    import os

    env = {**os.environ, "RISKCORE_AUDIT_URL": "sqlite:///" + str(tmp_path / "audit.db")}
    out = tmp_path / "o.csv"
    proc = subprocess.run([sys.executable, "-m", "riskcore", "score", "--model", str(quick_bundle.path),
                           "--input", str(portfolio_csv), "--output", str(out)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Scored 38 of 40 rows" in proc.stdout
    header = next(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert header[:3] == ["row", ID, YEAR]


def test_a_nul_in_an_id_of_a_parquet_file_rejects_that_row_and_scores_the_rest(quick_bundle, portfolio_csv, tmp_path,
                                                                               audit_url, capsys):
    import pandas as pd

    frame = pd.read_csv(portfolio_csv, dtype={ID: str}).drop(index=[4, 8]).reset_index(drop=True)  # the broken rows
    frame.loc[2, ID] = "C-\x00-2"  # a binary export can carry one; no database can store it in a key
    path = tmp_path / "portfolio.parquet"
    frame.to_parquet(path)
    code, text, _ = run("score", "--model", quick_bundle.path, "--input", path, "--output", tmp_path / "o.csv",
                        capsys=capsys)
    assert code == 1 and "Scored 37 of 38 rows" in text
    rejects = _read(tmp_path / "o.rejects.csv")
    assert [(r["row"], r["column"]) for r in rejects] == [("3", ID)]
    assert "holds a NUL (zero) byte" in rejects[0]["problem"]  # the reading layer refuses it, as in a CSV
    log = AuditLog(audit_url)
    assert log.count() == 37 and log.verify().ok
