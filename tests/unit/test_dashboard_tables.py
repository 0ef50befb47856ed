"""dashboard.tables: what the dashboard's pages list, filter and offer for download."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from dashboard import tables
from riskcore.data.schema import DEMO_SPEC
from riskcore.evaluation.report import part
from riskcore.modelling.leakage import LeakageFinding
from riskcore.workflows import check_file

SEED = 7


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def test_rows(quick_bundle):
    """The test rows of the session's quick model (trained on the small portfolio by tests/conftest.py)."""
    return part(quick_bundle.holdout(), "test")


@pytest.fixture(scope="module")
def little():
    from riskcore.data.synth import generate_portfolio

    return generate_portfolio(200, seed=SEED)



# ---------------------------------------------------------------- data quality

def test_missing_and_violation_tables(little):
    check = check_file(little.frame, DEMO_SPEC, leakage=False)
    missing = tables.missing_table(check.report)
    assert (missing["n_missing"] > 0).all() and missing["pct_missing"].is_monotonic_decreasing
    bad = tables.violations_table(check.report)
    outliers = tables.violations_table(check.report, outliers=True)
    assert set(bad["check"]) <= {"type", "non_finite", "unknown_category", "range"}
    assert set(outliers["check"]) == {"outlier"}
    assert len(bad) + len(outliers) == len(check.report.cells)
    assert len(bad) == len(little.manifest.impossible)


def test_leakage_checklist_reads_findings_and_their_stored_form():
    findings = [LeakageFinding("too_good", "fail", "x alone has AUC 0.99", ("x",)),
                LeakageFinding("shift", "warn", "gdp shifted", ("gdp", "rate"))]
    table = tables.leakage_checklist(findings)
    assert list(table.columns) == ["check", "title", "status", "columns", "detail"]
    assert table.loc[1, "columns"] == "gdp, rate"
    assert table.equals(tables.leakage_checklist([f.as_dict() for f in findings]))


def test_split_table_orders_the_parts():
    summary = [{"part": "test", "rows": 1}, {"part": "train", "rows": 8}, {"part": "validation", "rows": 1}]
    assert list(tables.split_table(summary)["part"]) == ["train", "validation", "test"]


# ---------------------------------------------------------------- training runs

def _runs():
    return pd.DataFrame({
        "run_id": ["b", "a"], "status": ["FINISHED", "FINISHED"],
        "start_time": pd.to_datetime(["2026-01-02", "2026-01-03"], utc=True),
        "tags.model_version": ["lightgbm-2", "logistic-3"], "tags.model_kind": ["lightgbm", "logistic"],
        "params.profile": ["full", "quick"], "params.rows": ["8000", "8000"],
        "metrics.test.auc": [0.81, np.nan], "metrics.test.auc_ci_lower": [0.78, np.nan],
        "metrics.test.auc_ci_upper": [0.84, np.nan], "metrics.threshold": [0.2, 0.3],
    })


def test_runs_table_is_newest_first_with_the_champion_marked():
    versions = pd.DataFrame({"version": ["1", "2"], "run_id": ["b", "a"], "champion": [True, False]})
    table = tables.runs_table(_runs(), versions)
    assert list(table["run_id"]) == ["a", "b"]
    assert list(table["champion"]) == [False, True] and list(table["registry_version"]) == ["2", "1"]
    assert table.loc[1, "label"] == "lightgbm-2 · lightgbm · test AUC 0.810 · champion"
    assert table.loc[0, "label"] == "logistic-3 · logistic · no test AUC"
    assert table["test_ece"].isna().all()  # a metric the store lacks is NaN, not an error
    assert tables.runs_table(pd.DataFrame(), None).empty


def test_filter_runs_by_kind_and_text():
    table = tables.runs_table(_runs())
    assert list(tables.filter_runs(table, kinds=["lightgbm"])["run_id"]) == ["b"]
    assert list(tables.filter_runs(table, query="LOGISTIC-3")["run_id"]) == ["a"]
    assert len(tables.filter_runs(table)) == 2


def test_candidates_table_drops_the_other_candidates_parameters():
    cands = pd.DataFrame({"kind": ["logistic", "lightgbm"], "cv_auc_mean": [0.80, 0.83], "cv_auc_std": [0.01, 0.02],
                          "chosen": [False, True],
                          "params": [{"C": "0.1", "num_leaves": np.nan}, {"C": np.nan, "num_leaves": "31"}]})
    table = tables.candidates_table(cands)
    assert list(table["kind"]) == ["lightgbm", "logistic"]
    assert list(table["params"]) == ["num_leaves=31", "C=0.1"]


def test_run_tables_group_the_metrics():
    run = {"params": {"kind": "logistic", "cv_folds": "3"},
           "metrics": {"test.auc": 0.8, "business.savings": 1.0, "threshold": 0.2, "validation.auc": 0.79}}
    assert list(tables.run_params_table(run)["parameter"]) == ["cv_folds", "kind"]
    m = tables.run_metrics_table(run)
    assert list(m["group"]) == ["test", "business", "validation", "run"]
    assert m.loc[m["metric"] == "threshold", "value"].item() == 0.2


# ---------------------------------------------------------------- companies

def test_company_table_search_and_record(test_rows):
    table = tables.company_table(test_rows, DEMO_SPEC)
    assert len(table) == len(test_rows) and table["p_default"].is_monotonic_decreasing
    assert table["key"].is_unique and table["label"].is_unique
    first = table.iloc[0]
    assert first["label"].startswith(f"{first['id']} · ") and first["label"].endswith(f"PD {first['p_default']:.1%}")
    assert tables.find_companies(table, "").equals(table)
    name = str(first["name"])
    hits = tables.find_companies(table, name.upper())
    assert first["key"] in set(hits["key"])
    assert tables.find_companies(table, first["id"].lower())["id"].str.contains(first["id"]).all()
    record = tables.company_record(test_rows, int(first["position"]), DEMO_SPEC)
    assert set(tables.whatif_features(DEMO_SPEC)) <= set(record)
    assert all(v is None or isinstance(v, (str, int, float)) for v in record.values())
    assert not any(isinstance(v, float) and np.isnan(v) for v in record.values())


def test_company_table_grades_on_the_through_the_cycle_pd_when_the_model_does(quick_bundle, test_rows):
    from dataclasses import replace

    from riskcore.evaluation import grade_of

    through = replace(quick_bundle, cycle=replace(quick_bundle.cycle, basis="ttc"), _central=None)
    p = test_rows["p_default"].to_numpy(dtype=float)
    ttc = through.ttc_pd(p, test_rows)
    assert quick_bundle.ttc_pd(p, test_rows) is None  # a point-in-time model grades on its PD
    table = tables.company_table(test_rows, DEMO_SPEC, graded=ttc).sort_values("position")
    assert (table["grade"].to_numpy() == grade_of(ttc)).all()
    assert (table["p_default"].to_numpy() == p).all()  # the PD shown (and decided on) stays the point-in-time one
    assert (table["grade"].to_numpy() != grade_of(p)).any()


@pytest.mark.parametrize("scale", ["pd", "logodds"])
def test_waterfall_bars_add_up_to_the_score(quick_bundle, test_rows, scale):
    from riskcore.serving.explain import explain_frame

    table = tables.company_table(test_rows, DEMO_SPEC)
    positions = table["position"].iloc[[0, len(table) // 2]].tolist()
    frame = test_rows.iloc[positions].reset_index(drop=True)
    ex = explain_frame(quick_bundle, frame)
    for row in range(len(frame)):
        steps = tables.waterfall_frame(ex, DEMO_SPEC, row, top=5, scale=scale)
        assert list(steps["step"])[0] == "base" and list(steps["step"])[-1] == "total"
        assert (steps["step"] == "feature").sum() == 5 and (steps["step"] == "other").sum() == 1
        total = steps["delta"].iloc[:-1].sum()
        assert total == pytest.approx(steps["delta"].iloc[-1], abs=1e-9)
        if scale == "pd":
            assert total == pytest.approx(frame["p_default"].iloc[row], abs=1e-9)


# ---------------------------------------------------------------- scoring

def test_filter_scores():
    scores = pd.DataFrame({"grade": ["1", "5", "10", "5"], "decision": ["accept", "accept", "refer", "refer"]})
    assert len(tables.filter_scores(scores)) == 4
    assert list(tables.filter_scores(scores, grades=["5"])["decision"]) == ["accept", "refer"]
    assert len(tables.filter_scores(scores, grades=["5"], decisions=["refer"])) == 1


def test_csv_bytes_neutralise_formulas():
    frame = pd.DataFrame({"id": ["=HYPERLINK(\"x\")", "C1"], "note": ["+1+2", "-5"], "p": [0.1, 0.2]})
    text = tables.csv_bytes(frame).decode("utf-8")
    assert "'=HYPERLINK" in text and "'+1+2" in text
    back = pd.read_csv(io.BytesIO(tables.csv_bytes(frame)))
    assert back["p"].tolist() == [0.1, 0.2] and back["note"].tolist() == ["'+1+2", "-5"]


# ---------------------------------------------------------------- the retraining loop's runs

def _retrain_job(job_id: str, state: str, result: dict, *, error: str = "", finished: float = 0.0):
    from riskcore.workbench import Job

    return Job(id=job_id, kind="retrain", caller="dashboard:ana", params={"trigger": "dashboard"}, state=state,
               cancel_requested=False, attempts=1, max_attempts=1, worker="", lease_until=0.0, progress={},
               result=result, error=error, created=1_700_000_000.0, started=0.0, finished=finished)


def test_retrain_jobs_table_says_each_runs_decision_and_gate():
    jobs = [_retrain_job("b" * 32, "running", {}),
            _retrain_job("a" * 32, "succeeded", {"decision": "gate_failed", "reason": "the AUC fell",
                                                  "champion": "v1", "challenger": "v2", "gate_passed": False},
                         finished=1_700_000_600.0),
            _retrain_job("c" * 32, "failed", {}, error="the worker died", finished=1_700_000_060.0)]
    table = tables.retrain_jobs_table(jobs)
    assert table["job"].tolist() == ["b" * 32, "a" * 32, "c" * 32]
    assert table["decision"].tolist() == ["", "gate failed", ""]
    assert table["gate"].tolist() == ["", "failed", ""]
    assert table["reason"].tolist() == ["", "the AUC fell", "the worker died"]
    assert table.loc[1, ["champion", "challenger", "trigger", "by"]].tolist() == ["v1", "v2", "dashboard",
                                                                                  "dashboard:ana"]
    assert table["submitted"].iloc[0] == pd.Timestamp("2023-11-14 22:13:20")
    assert pd.isna(table["ended"].iloc[0]) and table["ended"].iloc[1] == pd.Timestamp("2023-11-14 22:23:20")
    assert tables.retrain_jobs_table([]).columns.tolist() == table.columns.tolist()
