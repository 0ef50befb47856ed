"""``python -m riskcore provisions``: a panel file in; stages, ECL and summaries out; scores and the run on record."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from riskcore.cli import main
from riskcore.serving.audit import AuditLog, ProvisionRecord


def test_provisions_write_the_files_after_recording_scores_and_the_run(quick_bundle, demo_csv, tmp_path, audit_url,
                                                                          capsys):
    out = tmp_path / "provisions"
    scenarios = tmp_path / "scenarios.toml"
    scenarios.write_text("[base]\nweight = 0.7\n[downside]\nweight = 0.3\ngdp_growth = -3.0\n")
    code = main(["provisions", "--model", str(quick_bundle.path), "--input", str(demo_csv), "--as-of", "2024-12-31",
                 "--scenarios", str(scenarios), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "Provisions (IFRS9, hazard lifetime PDs) of" in text and "scenario downside (weight 0.3)" in text
    companies = pd.read_csv(out / "companies.csv")
    assert {"company_id", "sector", "stage", "stage_reason", "grade", "pd_12m", "lifetime_pd", "ecl_base",
            "ecl_downside", "ecl", "pd_12m_base", "pd_12m_downside"} <= set(companies.columns)
    by_stage = pd.read_csv(out / "by_stage.csv").set_index("stage")
    assert by_stage.loc["total", "ecl"] == pytest.approx(companies["ecl"].sum())
    assert {"by_grade.csv", "by_sector.csv", "hazards.csv", "migration.csv", "summary.json"} <= \
        {p.name for p in out.iterdir()}

    log = AuditLog(audit_url)
    assert log.verify().ok
    [record] = log.events(ProvisionRecord)
    summary = json.loads((out / "summary.json").read_text())
    assert record.as_of == 2024 and record.standard == "ifrs9" and record.weights == {"base": 0.7, "downside": 0.3}
    assert record.input_sha256 == hashlib.sha256(demo_csv.read_bytes()).hexdigest() == summary["input_sha256"]
    assert record.outputs == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}
    assert record.model_version == quick_bundle.version and record.scores_request == summary["scores_request"]
    # every performing company's PD is on record with its inputs, its stage as its reason
    live = companies[companies["stage"] < 3]
    assert log.count() == len(live)
    one = live.iloc[0]
    found = log.find(one["company_id"])
    assert found["p_default"].iloc[0] == one["pd_12m_base"]
    assert found["reasons"].iloc[0][0].startswith(f"stage {one['stage']}: ")

    code = main(["provisions", "--model", str(quick_bundle.path), "--input", str(demo_csv), "--as-of", "someday",
                 "--out", str(tmp_path / "again")])
    assert code == 3 and "as-of date 'someday' is not a date" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_stage_movements_since_a_previous_run(quick_bundle, demo_csv, tmp_path, audit_url, capsys):
    args = ["provisions", "--model", str(quick_bundle.path), "--input", str(demo_csv)]
    assert main([*args, "--as-of", "2023", "--out", str(tmp_path / "2023")]) == 0
    capsys.readouterr()
    assert main([*args, "--as-of", "2024", "--previous", str(tmp_path / "2023"), "--out", str(tmp_path / "2024")]) == 0
    text = capsys.readouterr().out
    assert "new since the previous run:" in text and "gone since the previous run:" in text
    moves = pd.read_csv(tmp_path / "2024" / "stage_movements.csv", dtype={"from_stage": str, "to_stage": str})
    before = pd.read_csv(tmp_path / "2023" / "companies.csv")
    after = pd.read_csv(tmp_path / "2024" / "companies.csv")
    assert moves["ecl_change"].sum() == pytest.approx(after["ecl"].sum() - before["ecl"].sum())
    assert moves.loc[moves["to_stage"] != "gone", "companies"].sum() == len(after)
    # last year's stage 3 are written off or gone by now; entrants arrive as new
    assert {"new", "1"} <= set(moves["from_stage"]) and "gone" in set(moves["to_stage"])
    assert main([*args, "--as-of", "2024", "--previous", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "previous provisions run" in capsys.readouterr().err


def test_a_time_column_of_dates_is_read_as_fiscal_years(quick_bundle, small_portfolio, tmp_path, audit_url, capsys):
    from riskcore.data.tabular import write_csv

    frame = small_portfolio.frame.copy()
    frame = frame[frame["fiscal_year"] >= 2021]
    frame["fiscal_year"] = frame["fiscal_year"].astype(str) + "-12-31"
    path = tmp_path / "dated.csv"
    write_csv(frame, path)
    assert main(["provisions", "--model", str(quick_bundle.path), "--input", str(path), "--as-of", "2024-12-31",
                 "--out", str(tmp_path / "out")]) == 0, capsys.readouterr()
    companies = pd.read_csv(tmp_path / "out" / "companies.csv")
    assert len(companies) > 0 and set(companies["stage"]) <= {1, 2, 3}
    assert AuditLog(audit_url).count() == int((companies["stage"] < 3).sum())


def test_the_origination_pd_comes_from_the_companys_earliest_score_on_record(quick_bundle, small_portfolio, tmp_path,
                                                                            audit_url, capsys):
    from riskcore.data.tabular import write_csv

    frame = small_portfolio.frame
    write_csv(frame[frame["fiscal_year"] == 2021], tmp_path / "early.csv")
    assert main(["score", "--model", str(quick_bundle.path), "--input", str(tmp_path / "early.csv"),
                 "--output", str(tmp_path / "scored.csv")]) in (0, 1), capsys.readouterr()  # 1: a few rows rejected
    write_csv(frame[frame["fiscal_year"] >= 2022], tmp_path / "recent.csv")
    out = tmp_path / "out"
    assert main(["provisions", "--model", str(quick_bundle.path), "--input", str(tmp_path / "recent.csv"),
                 "--as-of", "2024", "--out", str(out)]) == 0, capsys.readouterr()
    companies = pd.read_csv(out / "companies.csv", dtype={"company_id": str}).set_index("company_id")
    scored = pd.read_csv(tmp_path / "scored.csv", dtype={"company_id": str}).set_index("company_id")
    on_record = companies.index.intersection(scored.index)
    assert len(on_record) > 50
    assert (companies.loc[on_record, "origination_source"] == "audit trail").all()
    assert (companies.loc[on_record, "origination_year"] == 2021).all()
    newer = companies.index.difference(scored.index)
    live = companies.loc[newer][companies.loc[newer, "stage"] < 3]
    assert len(live) and (live["origination_source"] == "file").all() and (live["origination_year"] >= 2022).all()
    # each as-of company's record in the audit trail traces its provision: stage, ECL per scenario, origination
    one = on_record[0]
    [stage, ecl, origin] = AuditLog(audit_url).find(one, source="cli")["reasons"].iloc[0]
    row = companies.loc[one]
    assert stage.startswith(f"stage {row['stage']}: ")
    assert ecl.startswith(f"ECL {row['ecl']:,.2f} IFRS 9 weighted (base {row['ecl_base']:,.2f}, upside ")
    assert f"over {row['term_years']:g} years" in ecl
    assert origin.endswith("from the company's earliest score in the audit trail (2021)")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["origination_sources"]["audit trail"] == len(on_record)
