"""Declared risk directions against the model's own, the sensitivity what-ifs, and monotone constraints."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from models import demo_panel, quick
from scipy.stats import spearmanr

from riskcore.config import TrainingConfig
from riskcore.data.schema import DEMO_SPEC
from riskcore.modelling.bundle import load_bundle
from riskcore.modelling.features import feature_layout
from riskcore.modelling.models import make_pipeline, monotone_constraints
from riskcore.modelling.soundness import (
    FLAT_RANGE,
    FLAT_SPEARMAN,
    curve_trends,
    guaranteed_inputs,
    monotone_block,
    soundness_rows,
)
from riskcore.modelling.train import train
from riskcore.numeric import roc_auc

FEATURE_KEYS = {"name", "label", "family", "unit", "declared", "measured", "spearman", "pd_low", "pd_high",
                "ice_agree_share", "agrees", "grid", "average"}
STRESS_KEYS = {"scenario", "description", "rows", "mean_pd_base", "mean_pd_stressed", "relative_shift", "by_grade"}
FAMILY_KEYS = {"family", "features", "rows", "auc_with", "auc_without", "auc_change", "mean_pd_change"}
MONOTONE_KEYS = {"enforced", "features", "auc_test_constrained", "auc_test_unconstrained", "auc_cost"}


def _metrics(result):
    return json.loads((result.bundle_dir / "metrics.json").read_text(encoding="utf-8"))


def _numbers(obj):
    """Every number in a JSON value, depth first."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


def _sign(rho, values):
    """The direction rule of the contract, written out again: flat below |rho| 0.1 or a PD range of 1e-4."""
    if not np.isfinite(rho) or abs(rho) < FLAT_SPEARMAN or np.ptp(values) < FLAT_RANGE:
        return 0
    return int(np.sign(rho))


@pytest.fixture(scope="module")
def planted(small_portfolio, tmp_path_factory):
    """A portfolio where a higher current ratio (declared: lowers risk) raises the default rate."""
    frame = small_portfolio.frame.copy()
    rng = np.random.default_rng(7)
    ratio_rank = frame["current_ratio"].rank(pct=True).to_numpy()
    extra = rng.random(len(frame)) < 0.25 * ratio_rank ** 3
    frame[DEMO_SPEC.target] = (frame[DEMO_SPEC.target].to_numpy().astype(bool) | extra).astype(int)
    config = quick("lightgbm", n_bootstrap=100, allow_leaks=True)
    return train(frame, DEMO_SPEC, config=config, models_dir=tmp_path_factory.mktemp("planted"))


@pytest.fixture(scope="module")
def monotone_run(model_cache, tmp_path_factory):
    """A quick LightGBM model constrained to the declared directions (on the 800-company panel the run shares)."""
    config = quick("lightgbm", n_bootstrap=100, monotone=True)
    return train(demo_panel(model_cache).frame, DEMO_SPEC, config=config,
                 models_dir=tmp_path_factory.mktemp("monotone"))


# ---------------------------------------------------------------------------
# (1) the blocks of a quick demo model
# ---------------------------------------------------------------------------

def test_quick_model_stores_the_contract_blocks(quick_training):
    m = _metrics(quick_training)
    s = m["soundness"]
    assert {"method", "rows", "grid_resolution", "features", "disagreements"} <= set(s)
    assert s["rows"] == 300 and s["grid_resolution"] == 20
    assert "partial_dependence" in s["method"] and "300 validation rows" in s["method"]
    declared = [c for c in m["data"]["features"] if DEMO_SPEC.feature(c).direction]
    assert [f["name"] for f in s["features"]] + [f["name"] for f in s["skipped"]] == declared
    for f in s["features"]:
        assert FEATURE_KEYS <= set(f)
        assert f["declared"] == np.sign(DEMO_SPEC.feature(f["name"]).direction)
        assert f["measured"] in (-1, 0, 1) and f["agrees"] == (f["measured"] in (0, f["declared"]))
        assert 2 <= len(f["grid"]) <= 20 and len(f["average"]) == len(f["grid"])
        assert f["grid"] == sorted(f["grid"]) and 0 <= f["ice_agree_share"] <= 1
        assert f["pd_low"] == f["average"][0] and f["pd_high"] == f["average"][-1]
    assert s["disagreements"] == [f["name"] for f in s["features"] if not f["agrees"]]
    sens = m["sensitivity"]
    assert STRESS_KEYS <= set(sens["macro_stress"])
    assert {r["family"] for r in sens["families"]} == {DEMO_SPEC.feature(c).family for c in m["data"]["features"]}
    assert all(FAMILY_KEYS <= set(r) for r in sens["families"])
    assert "no refit" in sens["family_method"]
    assert "monotone" not in m and m["model"]["monotone"] is False
    assert all(math.isfinite(x) for x in _numbers({k: m[k] for k in ("soundness", "sensitivity")}))


def test_macro_stress_moves_the_macro_inputs_the_adverse_way(quick_training):
    stress = _metrics(quick_training)["sensitivity"]["macro_stress"]
    assert stress["scenario"]["gdp_growth"] == -2.0 and stress["scenario"]["policy_rate"] == 2.0
    assert stress["scenario"]["sector_pmi"] < 0
    assert "GDP growth (region) 2 points lower" in stress["description"]
    assert sum(g["rows"] for g in stress["by_grade"]) == stress["rows"]
    base = sum(g["rows"] * g["mean_pd_base"] for g in stress["by_grade"]) / stress["rows"]
    assert base == pytest.approx(stress["mean_pd_base"])
    assert stress["relative_shift"] == pytest.approx(stress["mean_pd_stressed"] / stress["mean_pd_base"] - 1)


def test_family_effect_equals_scoring_the_masked_test_rows_with_the_bundle(quick_training):
    m = _metrics(quick_training)
    bundle = load_bundle(quick_training.bundle_dir)
    test = bundle.holdout().query("part == 'test'").reset_index(drop=True)
    financial = next(r for r in m["sensitivity"]["families"] if r["family"] == "financial")
    _, p_base = bundle.predict_frame(test)
    _, p = bundle.predict_frame(test.assign(**dict.fromkeys(financial["features"], np.nan)))
    assert financial["rows"] == len(test)
    assert financial["auc_with"] == pytest.approx(roc_auc(test["y"].to_numpy(), p_base), abs=1e-9)
    assert financial["auc_without"] == pytest.approx(roc_auc(test["y"].to_numpy(), p), abs=1e-9)
    assert financial["mean_pd_change"] == pytest.approx(p.mean() - p_base.mean(), abs=1e-9)
    assert financial["auc_change"] < 0  # the financial ratios carry most of the demo's signal


# ---------------------------------------------------------------------------
# (4) the library's curves against scoring every copy of the rows
# ---------------------------------------------------------------------------

def test_directions_equal_a_brute_force_sweep_with_the_saved_bundle(quick_training):
    m = _metrics(quick_training)
    bundle = load_bundle(quick_training.bundle_dir)
    validation = bundle.holdout().query("part == 'validation'").reset_index(drop=True)
    rows = soundness_rows(validation, m["soundness"]["rows"], m["model"]["seed"])
    assert len(rows) == m["soundness"]["rows"]
    for f in m["soundness"]["features"]:
        # every copy of the rows with the feature at one grid value, scored together (the bundle scores row by row)
        copies = pd.concat([rows.assign(**{f["name"]: v}) for v in f["grid"]], ignore_index=True)
        ice = bundle.predict_frame(copies)[1].reshape(len(f["grid"]), len(rows)).T
        average = ice.mean(axis=0)
        np.testing.assert_allclose(f["average"], average, rtol=1e-7, atol=1e-12)
        rho = spearmanr(f["grid"], average).statistic
        assert f["measured"] == _sign(rho, average), f["name"]
        own = [_sign(spearmanr(f["grid"], row).statistic if np.ptp(row) > 0 else np.nan, row) for row in ice]
        assert f["ice_agree_share"] == pytest.approx(np.mean(np.array(own) == f["declared"])), f["name"]


def test_curve_trends_flat_and_signed():
    grid = np.arange(5.0)
    curves = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1], [0.2] * 5,
                       [0.2, 0.20001, 0.2, 0.20002, 0.2], [0.1, 0.5, 0.1, 0.5, 0.1]])
    rho, sign = curve_trends(grid, curves)
    assert sign.tolist() == [1, -1, 0, 0, 0]
    assert rho[0] == pytest.approx(1.0) and rho[1] == pytest.approx(-1.0) and np.isnan(rho[2])


# ---------------------------------------------------------------------------
# (2) a planted sign error
# ---------------------------------------------------------------------------

def test_a_reversed_relation_is_flagged(planted):
    s = _metrics(planted)["soundness"]
    ratio = next(f for f in s["features"] if f["name"] == "current_ratio")
    assert ratio["declared"] == -1 and ratio["measured"] == 1 and ratio["agrees"] is False
    assert ratio["pd_high"] > ratio["pd_low"] and ratio["ice_agree_share"] < 0.5
    assert "current_ratio" in s["disagreements"]
    assert "current_ratio" in planted.summary()


def test_the_planted_sign_error_appears_in_the_reports_soundness_section(planted, tmp_path):
    """End to end: the model report of that version names the contradicted feature in its soundness section."""
    import re

    from riskcore.config import Settings
    from riskcore.lifecycle.report import build_report, render_report
    from riskcore.modelling.bundle import load_bundle

    html = render_report(build_report(load_bundle(planted.bundle_dir), settings=Settings(home=tmp_path),
                                      generated_at="2026-12-01T00:00:00+00:00"))
    soundness = re.search(r'<section id="soundness">(.*?)</section>', html, flags=re.S).group(1)
    label = next(f.display_label for f in DEMO_SPEC.features if f.name == "current_ratio")
    assert label in soundness or "current_ratio" in soundness
    limitations = re.search(r'<section id="limitations">(.*?)</section>', html, flags=re.S).group(1)
    assert label in limitations or "current_ratio" in limitations


# ---------------------------------------------------------------------------
# (3) monotone constraints
# ---------------------------------------------------------------------------

def test_constraints_follow_the_declared_directions_column_by_column():
    layout = feature_layout(DEMO_SPEC)
    cst = dict(zip(layout.names, monotone_constraints(DEMO_SPEC)))
    assert cst["current_ratio"] == -1 and cst["debt_to_assets"] == 1 and cst["financial_health"] == -1
    assert cst["sector"] == 0 and cst["revenue_growth"] == 0 and cst["liquidity_x_sentiment"] == 0
    assert cst["debt_to_assets_delta"] == 1 and cst["leverage_x_carbon"] == 1
    lgbm = make_pipeline("lightgbm", DEMO_SPEC, {}, monotone=True).named_steps["model"]
    xgb = make_pipeline("xgboost", DEMO_SPEC, {}, monotone=True).named_steps["model"]
    hgb = make_pipeline("hist_gb", DEMO_SPEC, {}, monotone=True).named_steps["model"]
    assert lgbm.get_params()["monotone_constraints"] == monotone_constraints(DEMO_SPEC)
    assert list(xgb.get_params()["monotone_constraints"]) == monotone_constraints(DEMO_SPEC)
    assert hgb.get_params()["monotonic_cst"] == monotone_constraints(DEMO_SPEC)
    assert "monotone_constraints" not in make_pipeline("lightgbm", DEMO_SPEC, {}).named_steps["model"].get_params() \
        or make_pipeline("lightgbm", DEMO_SPEC, {}).named_steps["model"].get_params()["monotone_constraints"] is None
    ens = make_pipeline("ensemble", DEMO_SPEC, members=[("logistic", {}), ("hist_gb", {})], monotone=True)
    assert ens.members[1][1].named_steps["model"].get_params()["monotonic_cst"] == monotone_constraints(DEMO_SPEC)


def test_guaranteed_inputs_leave_out_those_bent_through_an_undirected_row_feature():
    covered = guaranteed_inputs(DEMO_SPEC, list(DEMO_SPEC.model_inputs))
    assert {"roa", "interest_coverage", "supplier_payment_delay", "carbon_intensity", "gdp_growth"} <= set(covered)
    # liquidity × sentiment and governance × leverage have no declared direction
    assert not {"current_ratio", "news_sentiment", "debt_to_assets", "esg_governance"} & set(covered)
    assert "revenue_growth" not in covered and "sector" not in covered


def test_an_unconstrainable_choice_says_so(small_portfolio):
    block = monotone_block(TrainingConfig.quick(monotone=True), "logistic", constrained_pipeline=None,
                           unconstrained=None, X_test=small_portfolio.frame.head(), y_test=np.zeros(5), spec=DEMO_SPEC,
                           inputs=list(DEMO_SPEC.model_inputs))
    assert MONOTONE_KEYS <= set(block) and block["enforced"] is True and block["features"] == []
    assert block["auc_cost"] is None and "takes no monotone constraints" in block["note"]
    assert monotone_block(TrainingConfig.quick(), "lightgbm", constrained_pipeline=None, unconstrained=None,
                          X_test=small_portfolio.frame.head(), y_test=np.zeros(5), spec=DEMO_SPEC,
                          inputs=[]) is None


def test_monotone_model_never_goes_against_a_constrained_direction(monotone_run):
    m = _metrics(monotone_run)
    mono = m["monotone"]
    assert MONOTONE_KEYS <= set(mono) and mono["enforced"] is True and m["model"]["monotone"] is True
    assert mono["features"] == guaranteed_inputs(DEMO_SPEC, m["data"]["features"])
    curves = {f["name"]: f for f in m["soundness"]["features"]}
    checked = [n for n in mono["features"] if n in curves]
    assert len(checked) >= 20
    for name in checked:
        f = curves[name]
        steps = np.diff(f["average"]) * f["declared"]
        assert (steps >= -1e-12).all(), name
        assert f["agrees"], name
    assert mono["auc_test_unconstrained"] is not None and math.isfinite(mono["auc_cost"])
    assert mono["auc_cost"] == pytest.approx(mono["auc_test_unconstrained"] - mono["auc_test_constrained"])
    assert abs(mono["auc_cost"]) < 0.05
    assert "Monotone constraints on" in monotone_run.summary()
