"""Contributions that add up to the PD shown, reason codes in plain words, peers, what-if."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models import demo_panel, quick

from riskcore.data.quality import prepare_frame
from riskcore.data.schema import DEMO_SPEC
from riskcore.errors import SchemaError
from riskcore.modelling.features import add_panel_features
from riskcore.serving.explain import (
    Explanation,
    contributions,
    explain_frame,
    explain_one,
    peer_percentiles,
    reason_codes,
)
from riskcore.serving.scoring import score_frame, score_one, what_if

ID, YEAR = "company_id", "fiscal_year"


@pytest.fixture(scope="module")
def panel(small_portfolio) -> pd.DataFrame:
    """Two recent years of the small portfolio (so the panel features have history), one row per key."""
    frame = small_portfolio.frame.drop_duplicates(subset=[ID, YEAR])
    years = sorted(frame[YEAR].unique())[-2:]
    return frame[frame[YEAR].isin(years)].head(600).reset_index(drop=True)


@pytest.fixture(scope="module")
def records(panel) -> list[dict]:
    latest = panel[panel[YEAR] == panel[YEAR].max()].head(12)
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in latest.to_dict(orient="records")]


def _bundles(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["lgbm_bundle", "quick_bundle"])
def bundle(request):
    return _bundles(request)


def test_waterfall_adds_up_to_the_scored_pd(bundle, panel):
    result = score_frame(bundle, panel)
    scores = result.scores
    prepared = add_panel_features(prepare_frame(panel, DEMO_SPEC).frame, DEMO_SPEC)
    rows = prepared.iloc[scores["row"].to_numpy() - 1].reset_index(drop=True)
    ex = explain_frame(bundle, rows)
    shown = scores["p_default"].to_numpy()
    np.testing.assert_allclose(ex.totals["base_pd"] + ex.phi_pd.sum(axis=1), shown, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ex.totals["p_default"], shown, rtol=0, atol=1e-12)
    # in log-odds, base plus contributions is the raw score
    np.testing.assert_allclose(ex.totals["base_raw"] + ex.phi.sum(axis=1), scores["score_raw"], atol=1e-6)
    # a bar never points against the total move from the base PD
    moves = shown - ex.totals["base_pd"].to_numpy()
    assert (np.sign(ex.phi_pd.sum(axis=1)) == np.sign(moves))[np.abs(moves) > 1e-9].all()


def test_a_booster_trained_with_smote_is_explained_too(model_cache, panel, tmp_path):
    from riskcore.modelling.bundle import load_bundle
    from riskcore.modelling.train import train

    result = train(demo_panel(model_cache).frame, DEMO_SPEC, models_dir=tmp_path,
                   config=quick("lightgbm", n_bootstrap=50, smote=True))
    bundle = load_bundle(result.bundle_dir)
    scores = score_frame(bundle, panel.head(50)).scores
    prepared = add_panel_features(prepare_frame(panel.head(50), DEMO_SPEC).frame, DEMO_SPEC)
    ex = explain_frame(bundle, prepared.iloc[scores["row"].to_numpy() - 1].reset_index(drop=True))
    np.testing.assert_allclose(ex.totals["base_pd"] + ex.phi_pd.sum(axis=1), scores["p_default"], atol=1e-12)
    np.testing.assert_allclose(ex.totals["raw"], scores["score_raw"], atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PendingDeprecationWarning")
def test_lightgbm_contributions_are_treeshap(lgbm_bundle, panel):
    import shap

    matrix = lgbm_bundle.matrix(add_panel_features(prepare_frame(panel.head(40), DEMO_SPEC).frame, DEMO_SPEC))
    phi, base_raw, _, _ = contributions(lgbm_bundle, matrix)
    explainer = shap.TreeExplainer(lgbm_bundle.scorer.booster)
    values = np.asarray(explainer.shap_values(matrix))
    values = values[1] if values.ndim == 3 else values
    np.testing.assert_allclose(phi, values, atol=1e-6)
    np.testing.assert_allclose(base_raw, np.atleast_1d(explainer.expected_value)[-1], atol=1e-6)


def test_long_frame_and_waterfall_agree(lgbm_bundle, panel):
    prepared = prepare_frame(panel.head(5), DEMO_SPEC).frame
    ex = explain_frame(lgbm_bundle, prepared)
    long = ex.frame
    assert list(long.columns) == ["row", "feature", "label", "value", "contribution_logodds", "contribution_pd"]
    assert len(long) == 5 * len(ex.names)
    w = ex.for_row(2)
    assert list(w.columns) == ["feature", "label", "value", "contribution_logodds", "contribution_pd"]
    assert (np.diff(w["contribution_pd"].abs().to_numpy()) <= 0).all()
    mine = long[long["row"] == 2].set_index("feature")["contribution_pd"]
    np.testing.assert_allclose(w.set_index("feature")["contribution_pd"], mine.loc[w["feature"]])
    # categories are shown by name, not by code
    assert w.set_index("feature").loc["sector", "value"] == prepared["sector"].iloc[2]


@pytest.mark.parametrize("kind", ["lgbm_bundle", "quick_bundle"])
def test_explain_one_equals_the_frame_path_and_score_one(request, kind, records):
    bundle = request.getfixturevalue(kind)
    for record in records[:6]:
        one = explain_one(bundle, record)
        scored = score_one(bundle, record)
        assert one.p_default == pytest.approx(scored["p_default"], abs=1e-12)
        assert one.score_raw == pytest.approx(scored["score_raw"], abs=1e-6)
        assert one.base_pd + one.waterfall["contribution_pd"].sum() == pytest.approx(one.p_default, abs=1e-12)
        frame = pd.DataFrame([scored["inputs"]])
        ex = explain_frame(bundle, frame)
        w = ex.for_row(0)
        pd.testing.assert_frame_equal(one.waterfall.drop(columns="value"), w.drop(columns="value"),
                                      check_exact=False, atol=1e-12, rtol=0)
        assert [r.text for r in one.reasons] == [r.text for r in reason_codes(bundle, ex, frame, 0)]


def test_explain_one_reports_bad_values(lgbm_bundle, records):
    with pytest.raises(SchemaError, match="'Space' is not a known sector"):
        explain_one(lgbm_bundle, {**records[0], "sector": "Space"})


def test_reason_codes_are_the_top_four_risk_raisers(lgbm_bundle, panel):
    result = score_frame(lgbm_bundle, panel)
    worst = result.scores.nlargest(30, "p_default")
    prepared = add_panel_features(prepare_frame(panel, DEMO_SPEC).frame, DEMO_SPEC)
    rows = prepared.iloc[worst["row"].to_numpy() - 1].reset_index(drop=True)
    ex = explain_frame(lgbm_bundle, rows)
    segments = lgbm_bundle.profile["segments"]
    for i in range(len(rows)):
        reasons = reason_codes(lgbm_bundle, ex, rows, i)
        assert 1 <= len(reasons) <= 4
        effects = [r.contribution for r in reasons]
        assert all(e > 0 for e in effects) and effects == sorted(effects, reverse=True)
        assert effects[0] == pytest.approx(ex.phi_pd[i].max())
        for r in reasons:
            f = DEMO_SPEC.feature(r.feature)
            assert r.label == f.display_label and r.text.startswith(f.display_label)
            if f.kind == "numeric" and r.sector_median is not None:
                grid = segments[rows["sector"].iloc[i]].get(r.feature) or \
                    lgbm_bundle.profile["features"][r.feature]["quantiles"]
                assert r.sector_median == grid[len(grid) // 2]
                assert r.text.endswith(f"— sector median {f.format_value(r.sector_median)}")


def _one_hot_explanation(bundle, feature: str, value) -> Explanation:
    """An explanation in which only ``feature`` raises the risk (for testing the wording)."""
    names = tuple(bundle.features.layout_.names)
    k = len(names)
    phi = np.zeros((1, k))
    phi[0, names.index(feature)] = 0.5
    values = np.full((1, k), 1.0, dtype=object)
    values[0, names.index(feature)] = value
    return Explanation(names, tuple(DEMO_SPEC.label(n) for n in names), values, phi, phi * 0.01,
                       pd.DataFrame({"base_raw": [0.0]}))


def test_reason_text_gives_the_value_and_the_sector_median(lgbm_bundle):
    frame = pd.DataFrame({"sector": ["Energy"]})
    ex = _one_hot_explanation(lgbm_bundle, "interest_coverage", 0.8)
    (reason,) = reason_codes(lgbm_bundle, ex, frame, 0)
    median = lgbm_bundle.profile["segments"]["Energy"]["interest_coverage"]
    median = median[len(median) // 2]
    shown = DEMO_SPEC.feature("interest_coverage").format_value(median)
    assert reason.text == f"Interest coverage 0.80× — sector median {shown}"
    assert shown.endswith("×")


def test_reason_text_for_a_category_and_a_missing_value(lgbm_bundle):
    frame = pd.DataFrame({"sector": ["Energy"]})
    (sector,) = reason_codes(lgbm_bundle, _one_hot_explanation(lgbm_bundle, "sector", "Energy"), frame, 0)
    rate = lgbm_bundle.profile["segment_rates"]["Energy"]
    assert sector.text == f"Sector: Energy (default rate {rate:.1%} in training)"
    (missing,) = reason_codes(lgbm_bundle, _one_hot_explanation(lgbm_bundle, "equity_vol_30d", np.nan), frame, 0)
    assert missing.text.startswith("Equity volatility (30 days) not given — sector median ")


def test_peer_percentiles(lgbm_bundle):
    profile = lgbm_bundle.profile
    grid = profile["segments"]["Energy"]["interest_coverage"]
    median = grid[len(grid) // 2]
    frame = pd.DataFrame({"sector": ["Energy"] * 5,
                          "interest_coverage": [median, grid[0] - 1, grid[-1] + 1, grid[10], np.nan]})
    pcts = [peer_percentiles(lgbm_bundle, frame, i, ["interest_coverage"]).iloc[0] for i in range(5)]
    assert list(pcts[0].index) == ["feature", "label", "value", "sector_median", "percentile", "direction"]
    assert pcts[0]["percentile"] == pytest.approx(50, abs=2)
    assert pcts[0]["sector_median"] == median
    assert pcts[1]["percentile"] == 0 and pcts[2]["percentile"] == 100
    assert 10 <= pcts[3]["percentile"] <= 30
    assert np.isnan(pcts[4]["percentile"])
    assert pcts[0]["direction"] == -1 and pcts[0]["label"] == "Interest coverage"


def test_peer_percentiles_default_to_the_key_ratios(lgbm_bundle, panel):
    prepared = prepare_frame(panel.head(3), DEMO_SPEC).frame
    table = peer_percentiles(lgbm_bundle, prepared, 1)
    keys = [f.name for f in DEMO_SPEC.features if f.key and f.kind == "numeric"]
    assert table["feature"].tolist() == keys
    assert table["percentile"].between(0, 100).all()


def test_a_value_shared_by_many_quantiles_gets_the_middle_rank(lgbm_bundle):
    from riskcore.serving.explain import _percentile

    levels = np.linspace(0, 100, 51)
    grid = np.concatenate([np.zeros(21), np.linspace(0.1, 3, 30)])
    assert _percentile(0.0, grid, levels) == pytest.approx(20.0)
    assert _percentile(-1.0, grid, levels) == 0.0


def test_what_if_rescores_with_the_changes(lgbm_bundle, records):
    company = records[3]
    changes = {"interest_coverage": 0.05, "debt_to_assets": 1.4, "sector": company["sector"]}
    result = what_if(lgbm_bundle, company, changes)
    assert result.before["p_default"] == score_one(lgbm_bundle, company)["p_default"]
    assert result.after["p_default"] == score_one(lgbm_bundle, {**company, **changes})["p_default"]
    assert result.delta_pd == pytest.approx(result.after["p_default"] - result.before["p_default"])
    assert set(result.changes) == {"interest_coverage", "debt_to_assets"}
    assert result.changes["debt_to_assets"] == (company["debt_to_assets"], 1.4)


def test_what_if_refuses_an_impossible_value(lgbm_bundle, records):
    with pytest.raises(SchemaError, match="debt_to_assets"):
        what_if(lgbm_bundle, records[0], {"debt_to_assets": 9.0})
