"""riskcore.reports: the page-level computations of the dashboard."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from riskcore import reports
from riskcore.config import Costs
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table
from riskcore.evaluation.costs import CostSweep
from riskcore.evaluation.metrics import ks_statistic, roc_auc
from riskcore.modelling.calibration import expected_calibration_error
from riskcore.modelling.leakage import LeakageFinding

SEED = 7


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def bundle(quick_bundle):
    """The session's quick model (trained on the small portfolio by tests/conftest.py)."""
    return quick_bundle


@pytest.fixture(scope="module")
def holdout(bundle):
    return bundle.holdout()


@pytest.fixture(scope="module")
def test_rows(holdout):
    return reports.part(holdout, "test")


@pytest.fixture(scope="module")
def little():
    from riskcore.data.synth import generate_portfolio

    return generate_portfolio(200, seed=SEED)


def _scored(n=400, seed=SEED, ties=False):
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 12, n)
    if ties:
        p = np.round(p, 2)
    y = (rng.random(n) < p).astype(int)
    return y, p


# ---------------------------------------------------------------- decisions

def test_decision_view_chooses_on_validation_and_measures_on_test(holdout):
    costs = Costs(fn=80_000, fp=5_000)
    view = reports.decision_view(holdout, costs)
    val = reports.part(holdout, "validation")
    best, cost = CostSweep(val["y"].to_numpy(), val["p_default"].to_numpy()).optimal(costs)
    assert view.threshold == view.optimal_threshold == best and view.validation_cost == cost
    assert not view.overridden
    test = reports.part(holdout, "test")
    assert view.test_rows == len(test) and view.test_defaults == int(test["y"].sum())
    assert int(view.confusion.to_numpy().sum()) == len(test)
    manual = reports.decision_view(holdout, costs, threshold=0.5)
    assert manual.overridden and manual.threshold == 0.5 and manual.optimal_threshold == best
    assert manual.impact.referred == int((test["p_default"] >= 0.5).sum())
    sentences = reports.impact_sentences(manual)
    assert any("set by hand" in s for s in sentences)


def test_expected_loss_by_segment_sums_pd_times_lgd_times_exposure(test_rows):
    table = reports.expected_loss_by_segment(test_rows, segment="sector", exposure="exposure_eur", lgd=0.4)
    p = np.maximum(test_rows["p_default"].to_numpy(), 0.0005)
    expected = np.nansum(p * 0.4 * test_rows["exposure_eur"].to_numpy(dtype=float))
    assert table["expected_loss"].sum() == pytest.approx(expected)
    assert table["companies"].sum() == len(test_rows)
    assert table["expected_loss"].is_monotonic_decreasing


def test_esg_band_table_uses_the_pillar_scores(test_rows):
    cols = reports.esg_columns(DEMO_SPEC)
    assert cols == ["esg_environmental", "esg_social", "esg_governance"]
    table = reports.esg_band_table(test_rows, segment="sector", esg_columns=cols)
    assert set(table["band"]) <= {"low", "mid", "high", "missing"}
    assert table["companies"].sum() == len(test_rows)
    missing = test_rows[cols].isna().all(axis=1).sum()
    assert table.loc[table["band"] == "missing", "companies"].sum() == missing


# ---------------------------------------------------------------- data quality

def test_check_data_reports_quality_split_and_leakage(little):
    from riskcore.data.tabular import write_csv

    buffer = io.BytesIO()
    write_csv(little.frame, buffer)
    check = reports.check_data(read_table(buffer.getvalue()), DEMO_SPEC, leakage=True)
    assert check.report.n_rows == len(little.frame)
    assert list(check.split_summary["part"]) == ["train", "validation", "test"]
    assert check.split_summary["rows"].sum() < len(little.frame)  # duplicates were removed, as in training
    checks = {f.check for f in check.leakage.findings}
    assert {"too_good", "post_event", "key_overlap", "shift"} <= checks
    assert len(check.leakage.feature_auc) and len(check.leakage.shift)
    quick = reports.check_data(little.frame, DEMO_SPEC, leakage=False)
    assert quick.leakage is None and quick.split_summary is not None


def test_check_data_leaves_columns_empty_in_training_out_of_the_leakage_checks(little):
    # one fiscal year: every year-on-year change and volatility is empty (scikit-learn cannot fit on it)
    frame = little.frame[little.frame["fiscal_year"] == little.frame["fiscal_year"].max()]
    check = reports.check_data(frame, DEMO_SPEC, leakage=True)
    assert check.leakage is not None
    note = next(n for n in check.notes if "left out of the leakage checks" in n)
    assert "roa_delta" in note
    assert "roa_delta" not in set(check.leakage.feature_auc["column"])


def test_check_data_without_a_target_explains_why_there_is_no_split(little):
    frame = little.frame.drop(columns=["default_12m"])
    check = reports.check_data(frame, DEMO_SPEC)
    assert check.split_summary is None and check.leakage is None
    assert "default_12m" in check.notes[0]


def test_missing_and_violation_tables(little):
    check = reports.check_data(little.frame, DEMO_SPEC, leakage=False)
    missing = reports.missing_table(check.report)
    assert (missing["n_missing"] > 0).all() and missing["pct_missing"].is_monotonic_decreasing
    bad = reports.violations_table(check.report)
    outliers = reports.violations_table(check.report, outliers=True)
    assert set(bad["check"]) <= {"type", "non_finite", "unknown_category", "range"}
    assert set(outliers["check"]) == {"outlier"}
    assert len(bad) + len(outliers) == len(check.report.cells)
    assert len(bad) == len(little.manifest.impossible)


def test_leakage_checklist_reads_findings_and_their_stored_form():
    findings = [LeakageFinding("too_good", "fail", "x alone has AUC 0.99", ("x",)),
                LeakageFinding("shift", "warn", "gdp shifted", ("gdp", "rate"))]
    table = reports.leakage_checklist(findings)
    assert list(table.columns) == ["check", "title", "status", "columns", "detail"]
    assert table.loc[1, "columns"] == "gdp, rate"
    assert table.equals(reports.leakage_checklist([f.as_dict() for f in findings]))


def test_split_table_orders_the_parts():
    summary = [{"part": "test", "rows": 1}, {"part": "train", "rows": 8}, {"part": "validation", "rows": 1}]
    assert list(reports.split_table(summary)["part"]) == ["train", "validation", "test"]


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
    table = reports.runs_table(_runs(), versions)
    assert list(table["run_id"]) == ["a", "b"]
    assert list(table["champion"]) == [False, True] and list(table["registry_version"]) == ["2", "1"]
    assert table.loc[1, "label"] == "lightgbm-2 · lightgbm · test AUC 0.810 · champion"
    assert table.loc[0, "label"] == "logistic-3 · logistic · no test AUC"
    assert table["test_ece"].isna().all()  # a metric the store lacks is NaN, not an error
    assert reports.runs_table(pd.DataFrame(), None).empty


def test_filter_runs_by_kind_and_text():
    table = reports.runs_table(_runs())
    assert list(reports.filter_runs(table, kinds=["lightgbm"])["run_id"]) == ["b"]
    assert list(reports.filter_runs(table, query="LOGISTIC-3")["run_id"]) == ["a"]
    assert len(reports.filter_runs(table)) == 2


def test_candidates_table_drops_the_other_candidates_parameters():
    cands = pd.DataFrame({"kind": ["logistic", "lightgbm"], "cv_auc_mean": [0.80, 0.83], "cv_auc_std": [0.01, 0.02],
                          "chosen": [False, True],
                          "params": [{"C": "0.1", "num_leaves": np.nan}, {"C": np.nan, "num_leaves": "31"}]})
    table = reports.candidates_table(cands)
    assert list(table["kind"]) == ["lightgbm", "logistic"]
    assert list(table["params"]) == ["num_leaves=31", "C=0.1"]


def test_run_tables_group_the_metrics():
    run = {"params": {"kind": "logistic", "cv_folds": "3"},
           "metrics": {"test.auc": 0.8, "business.savings": 1.0, "threshold": 0.2, "validation.auc": 0.79}}
    assert list(reports.run_params_table(run)["parameter"]) == ["cv_folds", "kind"]
    m = reports.run_metrics_table(run)
    assert list(m["group"]) == ["test", "business", "validation", "run"]
    assert m.loc[m["metric"] == "threshold", "value"].item() == 0.2


# ---------------------------------------------------------------- calibration and performance

def test_calibration_table_matches_the_engine_and_flags_the_calibrator_in_use(test_rows):
    cols = reports.calibration_columns(test_rows)
    assert cols == {"Raw model output": "p_uncalibrated", "Isotonic": "p_isotonic", "Platt": "p_platt"}
    table = reports.calibration_table(test_rows, cols, chosen="p_isotonic", n_resamples=100)
    y = test_rows["y"].to_numpy()
    for r in table.itertuples():
        assert r.ece == pytest.approx(expected_calibration_error(y, test_rows[r.column].to_numpy()))
        assert r.ece_lower <= r.ece_upper
    assert list(table["in_use"]) == [False, True, False]
    again = reports.calibration_table(test_rows, cols, chosen="p_isotonic", n_resamples=100)
    pd.testing.assert_frame_equal(table, again)


def test_reliability_frame_stacks_curves_that_count_every_row(test_rows):
    cols = {"raw": "p_uncalibrated", "calibrated": "p_default"}
    for strategy in ("quantile", "uniform"):
        frame = reports.reliability_frame(test_rows, cols, n_bins=8, strategy=strategy)
        assert frame.groupby("curve")["count"].sum().to_dict() == {"raw": len(test_rows),
                                                                   "calibrated": len(test_rows)}


def test_score_columns_include_the_baseline_only_where_it_scored(holdout, test_rows):
    assert reports.score_columns(test_rows) == {"Model": "p_default", "Logistic baseline": "p_baseline"}
    assert reports.score_columns(reports.part(holdout, "validation")) == {"Model": "p_default"}


@pytest.mark.parametrize("ties", [False, True])
def test_ks_curve_peaks_at_the_ks_statistic(ties):
    y, p = _scored(ties=ties)
    curve = reports.ks_curve(y, p)
    assert curve["gap"].abs().max() == pytest.approx(ks_statistic(y, p))
    assert curve["defaults_below"].iloc[-1] == pytest.approx(1.0)
    assert curve["non_defaults_below"].is_monotonic_increasing


def test_curves_gains_and_performance_table(test_rows):
    cols = reports.score_columns(test_rows)
    roc = reports.curves_frame(test_rows, cols, "roc", n_resamples=50)
    assert list(roc.columns) == ["model", "fpr", "tpr", "tpr_lower", "tpr_upper"]
    assert set(roc["model"]) == set(cols)
    gains = reports.gains_frame(test_rows, cols)
    assert gains.groupby("model")["rows"].sum().eq(len(test_rows)).all()
    table = reports.performance_table(test_rows, cols, n_resamples=100)
    model = table[table["model"] == "Model"].set_index("metric")
    y, p = test_rows["y"].to_numpy(), test_rows["p_default"].to_numpy()
    assert model.loc["AUC", "value"] == pytest.approx(roc_auc(y, p))
    assert model.loc["Gini", "value"] == pytest.approx(2 * roc_auc(y, p) - 1)
    assert (table["lower"] <= table["upper"]).all()
    assert set(model.index) == {"AUC", "Gini", "PR-AUC", "KS", "Brier", "ECE"}


# ---------------------------------------------------------------- sectors

def test_sector_table_and_small_sector_note(test_rows):
    table = reports.sector_table(test_rows, "sector", n_resamples=50, min_defaults=30)
    assert table["rows"].sum() == len(test_rows)
    note = reports.small_segments_note(table, 30)
    small = table[table["small"]]
    assert note is not None and all(str(s) in note for s in small["segment"])
    loose = reports.sector_table(test_rows, "sector", n_resamples=50, min_defaults=0)
    assert reports.small_segments_note(loose, 0) is None


# ---------------------------------------------------------------- companies

def test_company_table_search_and_record(test_rows):
    table = reports.company_table(test_rows, DEMO_SPEC)
    assert len(table) == len(test_rows) and table["p_default"].is_monotonic_decreasing
    assert table["key"].is_unique and table["label"].is_unique
    first = table.iloc[0]
    assert first["label"].startswith(f"{first['id']} · ") and first["label"].endswith(f"PD {first['p_default']:.1%}")
    assert reports.find_companies(table, "").equals(table)
    name = str(first["name"])
    hits = reports.find_companies(table, name.upper())
    assert first["key"] in set(hits["key"])
    assert reports.find_companies(table, first["id"].lower())["id"].str.contains(first["id"]).all()
    record = reports.company_record(test_rows, int(first["position"]), DEMO_SPEC)
    assert set(reports.whatif_features(DEMO_SPEC)) <= set(record)
    assert all(v is None or isinstance(v, (str, int, float)) for v in record.values())
    assert not any(isinstance(v, float) and np.isnan(v) for v in record.values())


@pytest.mark.parametrize("scale", ["pd", "logodds"])
def test_waterfall_bars_add_up_to_the_score(bundle, test_rows, scale):
    from riskcore.serving.explain import explain_frame

    table = reports.company_table(test_rows, DEMO_SPEC)
    positions = table["position"].iloc[[0, len(table) // 2]].tolist()
    frame = test_rows.iloc[positions].reset_index(drop=True)
    ex = explain_frame(bundle, frame)
    for row in range(len(frame)):
        steps = reports.waterfall_frame(ex, DEMO_SPEC, row, top=5, scale=scale)
        assert list(steps["step"])[0] == "base" and list(steps["step"])[-1] == "total"
        assert (steps["step"] == "feature").sum() == 5 and (steps["step"] == "other").sum() == 1
        total = steps["delta"].iloc[:-1].sum()
        assert total == pytest.approx(steps["delta"].iloc[-1], abs=1e-9)
        if scale == "pd":
            assert total == pytest.approx(frame["p_default"].iloc[row], abs=1e-9)


# ---------------------------------------------------------------- scoring

def test_filter_scores():
    scores = pd.DataFrame({"grade": ["1", "5", "10", "5"], "decision": ["accept", "accept", "refer", "refer"]})
    assert len(reports.filter_scores(scores)) == 4
    assert list(reports.filter_scores(scores, grades=["5"])["decision"]) == ["accept", "refer"]
    assert len(reports.filter_scores(scores, grades=["5"], decisions=["refer"])) == 1


def test_csv_bytes_neutralise_formulas():
    frame = pd.DataFrame({"id": ["=HYPERLINK(\"x\")", "C1"], "note": ["+1+2", "-5"], "p": [0.1, 0.2]})
    text = reports.csv_bytes(frame).decode("utf-8")
    assert "'=HYPERLINK" in text and "'+1+2" in text
    back = pd.read_csv(io.BytesIO(reports.csv_bytes(frame)))
    assert back["p"].tolist() == [0.1, 0.2] and back["note"].tolist() == ["'+1+2", "-5"]

