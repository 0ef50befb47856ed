"""riskcore.evaluation.figures: the figure data both faces draw, held equal to scikit-learn and the previous code."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from samples import probability_sample
from sklearn.metrics import roc_curve

import riskcore.evaluation.figures as figures
from riskcore.config import Costs
from riskcore.evaluation.costs import CostSweep
from riskcore.evaluation.curves import curve_with_band, gains_table
from riskcore.evaluation.figures import (
    DRIFT_BANDS,
    CostCurve,
    CurveBand,
    DriftHeatmap,
    GainsCurve,
    KsCurve,
    ModelCurves,
    ReliabilityCurve,
    RocCurve,
    comparison_curves,
    psi_bands,
    stack,
    unstack,
)
from riskcore.evaluation.metrics import ks_statistic
from riskcore.evaluation.monitoring import period_order
from riskcore.evaluation.reliability import reliability_curve
from riskcore.evaluation.report import curves_frame, gains_frame, ks_curve, reliability_frame


def _rows(n: int = 900, seed: int = 5, decimals: int | None = 3) -> pd.DataFrame:
    """Scored rows with a model and a weaker baseline, rounded so that scores tie."""
    y, p, true_pd = probability_sample(n, seed=seed, decimals=decimals)
    return pd.DataFrame({"y": y, "p_default": p, "p_baseline": np.round(np.clip(true_pd * 0.7 + 0.01, 0, 1), 2),
                         "p_uncalibrated": np.clip(p * 1.3, 0, 1)})


COLUMNS = {"Model": "p_default", "Logistic baseline": "p_baseline"}

# outcomes and scores with both classes and many ties (scores on a coarse grid)
scored = st.integers(min_value=4, max_value=120).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)),
    st.lists(st.integers(0, 20), min_size=n, max_size=n).map(lambda v: [x / 20 for x in v])))


# ---------------------------------------------------------------- the package's surface

def test_all_is_sorted_and_every_name_is_defined_behind_the_package():
    assert figures.__all__ == sorted(figures.__all__, key=lambda n: (not n.isupper(), n))
    for name in figures.__all__:
        obj = getattr(figures, name)
        module = getattr(obj, "__module__", "riskcore.evaluation.figures")
        assert module.startswith("riskcore.evaluation.figures"), name
    public_classes = {name for name, obj in vars(figures).items()
                      if isinstance(obj, type) and obj.__module__.startswith("riskcore.evaluation.figures._")}
    assert public_classes <= set(figures.__all__)


def test_figure_data_is_read_only_and_survives_the_cache():
    band = CurveBand.from_scores(*probability_sample(300)[:2], n_resamples=20)
    with pytest.raises(ValueError, match="read-only"):
        band.y[0] = 0.5
    with pytest.raises(AttributeError):
        band.label = "other"  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(band))  # st.cache_data pickles what a loader returns
    pd.testing.assert_frame_equal(again.frame(), band.frame())
    assert again.label == band.label and again.kind == band.kind


# ---------------------------------------------------------------- ROC and precision-recall

def test_curve_bands_are_curve_with_band_per_model():
    rows = _rows()
    for kind in ("roc", "pr"):
        bands = figures.curve_bands(rows, COLUMNS, kind, n_resamples=40)
        assert [b.label for b in bands] == list(COLUMNS) and {b.kind for b in bands} == {kind}
        for b, col in zip(bands, COLUMNS.values()):
            expected = curve_with_band(rows["y"].to_numpy(dtype=float), rows[col].to_numpy(dtype=float), kind,
                                       n_resamples=40)
            pd.testing.assert_frame_equal(b.frame(), expected)
        assert bands[0].axes == (("fpr", "tpr") if kind == "roc" else ("recall", "precision"))


def test_curves_frame_is_the_previous_stacked_frame():
    """The report's and the page's frame, exactly as computed before the figure data existed."""
    rows = _rows()
    y = rows["y"].to_numpy(dtype=float)
    parts = [curve_with_band(y, rows[col].to_numpy(dtype=float), "roc", n_resamples=40, random_state=7)
             .assign(model=label) for label, col in COLUMNS.items()]
    before = pd.concat(parts, ignore_index=True)
    before = before[["model"] + [c for c in before.columns if c != "model"]]
    now = curves_frame(rows, COLUMNS, "roc", n_resamples=40)
    pd.testing.assert_frame_equal(now, before)
    back = unstack(now, CurveBand.from_frame)
    pd.testing.assert_frame_equal(stack(back), now)
    assert [b.label for b in back] == list(COLUMNS) and back[0].kind == "roc"


@given(scored)
def test_roc_curve_is_sklearns_roc_curve(data):
    y, p = np.array(data[0]), np.array(data[1])
    curve = RocCurve.from_scores(y, p)
    fpr, tpr, thresholds = roc_curve(y, p, drop_intermediate=True)
    np.testing.assert_array_equal(curve.fpr, fpr)
    np.testing.assert_array_equal(curve.tpr, tpr)
    np.testing.assert_array_equal(curve.threshold, thresholds)
    assert np.isinf(curve.threshold[0])
    pd.testing.assert_frame_equal(RocCurve.from_frame(curve.frame()).frame(), curve.frame())


# ---------------------------------------------------------------- gains and lift

def test_gains_curves_are_the_gains_tables_and_the_previous_frame():
    rows = _rows()
    gains = figures.gains_curves(rows, COLUMNS)
    for g, col in zip(gains, COLUMNS.values()):
        pd.testing.assert_frame_equal(g.frame(), gains_table(rows["y"].to_numpy(dtype=float),
                                                             rows[col].to_numpy(dtype=float)))
    y = rows["y"].to_numpy(dtype=float)
    parts = [gains_table(y, rows[col].to_numpy(dtype=float)).assign(model=label) for label, col in COLUMNS.items()]
    before = pd.concat(parts, ignore_index=True)
    before = before[["model"] + [c for c in before.columns if c != "model"]]
    pd.testing.assert_frame_equal(gains_frame(rows, COLUMNS), before)
    assert [g.label for g in unstack(before, GainsCurve.from_frame)] == list(COLUMNS)


@given(scored)
def test_gains_curve_from_the_origin_to_every_default(data):
    y, p = np.array(data[0], dtype=float), np.array(data[1])
    g = GainsCurve.from_scores(y, p)
    x, captured = g.cap()
    assert x[0] == 0.0 and captured[0] == 0.0
    assert x[-1] == pytest.approx(1.0) and captured[-1] == pytest.approx(1.0)
    assert np.all(np.diff(x) > 0) and np.all(np.diff(captured) >= 0)
    assert g.overall_rate == y.mean()  # the report's test default rate, bit for bit (its perfect-model corner)
    assert int(g.rows.sum()) == len(y) and int(g.defaults.sum()) == int(y.sum())


# ---------------------------------------------------------------- KS

@given(scored)
def test_ks_curve_peaks_at_the_ks_statistic(data):
    y, p = np.array(data[0]), np.array(data[1])
    curve = KsCurve.from_scores(y, p)
    assert curve.statistic == pytest.approx(ks_statistic(y, p), abs=1e-12)
    assert abs(curve.gap[curve.peak]) == curve.statistic == np.abs(curve.gap).max()
    assert curve.peak == int(np.abs(curve.gap).argmax())
    pd.testing.assert_frame_equal(curve.frame(), ks_curve(y, p))


def test_ks_curves_per_model_and_back_from_the_frame():
    rows = _rows()
    curves = figures.ks_curves(rows, COLUMNS)
    assert [c.label for c in curves] == list(COLUMNS)
    for c, col in zip(curves, COLUMNS.values()):
        pd.testing.assert_frame_equal(c.frame(), ks_curve(rows["y"].to_numpy(), rows[col].to_numpy()))
        pd.testing.assert_frame_equal(KsCurve.from_frame(c.frame(), c.label).frame(), c.frame())


# ---------------------------------------------------------------- reliability

@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_reliability_curves_are_reliability_curve_and_the_previous_frame(strategy):
    rows = _rows()
    columns = {"Raw model output": "p_uncalibrated", "Calibrated": "p_default"}
    curves = figures.reliability_curves(rows, columns, n_bins=8, strategy=strategy)
    y = rows["y"].to_numpy(dtype=float)
    parts = []
    for c, (label, col) in zip(curves, columns.items()):
        expected = reliability_curve(y, rows[col].to_numpy(dtype=float), n_bins=8, strategy=strategy)
        pd.testing.assert_frame_equal(c.frame(), expected)
        assert c.label == label and isinstance(c, ReliabilityCurve)
        parts.append(expected.assign(curve=label))
    cols = ["curve", "bin", "lower", "upper", "count", "mean_predicted", "observed_rate"]
    before = pd.concat(parts, ignore_index=True)[cols]
    pd.testing.assert_frame_equal(reliability_frame(rows, columns, n_bins=8, strategy=strategy), before)
    assert list(reliability_frame(rows, {}).columns) == cols


# ---------------------------------------------------------------- the cost curve

def test_cost_curve_is_the_sweeps_curve_and_its_optimum():
    rows = _rows()
    costs = Costs(fn=40_000, fp=6_000)
    sweep = CostSweep(rows["y"].to_numpy(), rows["p_default"].to_numpy())
    curve = CostCurve.from_sweep(sweep, costs)
    full = sweep.curve(costs)
    pd.testing.assert_frame_equal(curve.frame(), full[list(curve.frame().columns)])
    assert (curve.optimal_threshold, curve.optimal_cost) == sweep.optimal(costs)
    assert curve.optimal_cost == curve.cost.min()


@given(scored, st.integers(min_value=2, max_value=30), st.floats(1.0, 50.0))
def test_a_thinned_cost_curve_keeps_its_ends_its_optimum_and_its_costs(data, points, ratio):
    y, p = np.array(data[0]), np.array(data[1])
    costs = Costs(fn=ratio * 1_000, fp=1_000)
    curve = CostCurve.from_sweep(CostSweep(y, p), costs)
    thin = curve.thinned(points)
    assert len(thin.threshold) <= min(points, len(curve.threshold)) + 1
    assert thin.threshold[0] == curve.threshold[0] and thin.threshold[-1] == curve.threshold[-1]
    assert np.all(np.diff(thin.threshold) > 0)
    assert thin.optimal_threshold in thin.threshold and thin.optimal_cost == thin.cost.min()
    at = np.searchsorted(curve.threshold, thin.threshold)
    np.testing.assert_array_equal(thin.cost, curve.cost[at])


def _previous_model_curves(y, p, threshold, costs, exposure, points):
    """The comparison's curves as the dashboard computed them before the figure data (its loader's own code)."""
    fpr, tpr, cut_offs = roc_curve(y, p, drop_intermediate=True)
    sweep = CostSweep(y, p, exposure)
    curve = sweep.curve(costs)
    best = int(np.searchsorted(sweep.thresholds, sweep.optimal(costs)[0]))
    keep = np.unique(np.r_[np.linspace(0, len(curve) - 1, min(len(curve), points)).round(), best])
    picked = curve.iloc[keep.astype(int)]
    own = sweep.at(threshold, costs)
    best_threshold, best_cost = sweep.optimal(costs)
    return {"roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                    "threshold": [float(t) if np.isfinite(t) else None for t in cut_offs]},
            "cost": {"threshold": picked["threshold"].tolist(), "cost": picked["cost"].tolist()},
            "operating": {"threshold": float(threshold), "fpr": own.fp / (own.fp + own.tn),
                          "tpr": own.tp / (own.tp + own.fn), "cost": own.cost},
            "minimum": {"threshold": best_threshold, "cost": best_cost}}


@pytest.mark.parametrize("mode", ["fixed", "exposure"])
def test_comparison_curves_equal_the_previous_computation(mode):
    rows = _rows(2000, seed=9)
    y = rows["y"].to_numpy()
    exposure = np.random.default_rng(3).lognormal(12, 1, len(y))
    exposure[:7] = np.nan  # a missing exposure counts as 0
    costs = Costs(fn=40_000.0, fp=8_000.0, mode=mode)
    curves = comparison_curves(y, rows["p_default"], rows["p_baseline"], (0.06, 0.08), costs, exposure,
                               max_points=50)
    assert list(curves) == ["champion", "challenger"]
    priced = np.nan_to_num(exposure, nan=0.0) if mode == "exposure" else None
    for side, col, t in (("champion", "p_default", 0.06), ("challenger", "p_baseline", 0.08)):
        assert isinstance(curves[side], ModelCurves) and curves[side].roc.label == side
        expected = _previous_model_curves(y, rows[col].to_numpy(), t, costs, priced, 50)
        plain = curves[side].as_dict()
        assert plain == expected
        assert json.loads(json.dumps(plain, allow_nan=False)) == plain


# ---------------------------------------------------------------- the drift heatmap

def _drift() -> pd.DataFrame:
    rows = [("debt", "Debt", "financial", 2022, 0.05, "stable"), ("debt", "Debt", "financial", 2023, 0.40, "act"),
            ("margin", "Margin", "financial", 2022, 0.18, "watch"), ("margin", "Margin", "financial", 2023, 0.02, None),
            ("gdp", "Gdp", "macro", 2023, 0.12, "watch"), ("gdp", "Gdp", "macro", 10, 0.01, "stable")]
    return pd.DataFrame([{"feature": f, "label": lab, "family": fam, "period": per, "psi": v, "status": s,
                          "p_value": 0.5, "n": 100} for f, lab, fam, per, v, s in rows])


def test_the_heatmap_orders_features_by_worst_psi_and_periods_as_periods():
    heat = DriftHeatmap.from_drift(_drift())
    assert heat.features == ("debt", "margin", "gdp") and heat.labels == ("Debt", "Margin", "Gdp")
    assert heat.families == ("financial", "financial", "macro")
    assert heat.periods == ("10", "2022", "2023")  # numbers by value, not as text
    np.testing.assert_array_equal(heat.psi, [[np.nan, 0.05, 0.40], [np.nan, 0.18, 0.02], [0.01, np.nan, 0.12]])
    np.testing.assert_array_equal(heat.band, [[np.nan, 0, 2], [np.nan, 1, 0], [0, np.nan, 1]])  # missing: its PSI's
    frame = heat.frame()
    assert len(frame) == 6 and list(frame.columns) == ["feature", "label", "family", "period", "psi", "band",
                                                       "status", "p_value", "n"]
    assert frame.loc[(frame["feature"] == "debt") & (frame["period"] == "2023"), "band"].item() == "act"
    assert not heat.empty and DriftHeatmap.from_drift(_drift().iloc[:0]).empty


def test_the_heatmap_is_the_previous_pivot():
    """The dashboard's heatmap before the figure data: rows by display label, the same pivots."""
    drift = _drift()
    d = drift.assign(col=drift["period"].astype(str), code=[DRIFT_BANDS.index(b) for b in
                                                           psi_bands(drift["status"], drift["psi"])])
    worst = d.groupby("label", sort=False)["psi"].max().sort_values(ascending=False, kind="stable")
    cols = [str(p) for p in sorted(drift["period"].unique(), key=period_order)]
    heat = DriftHeatmap.from_drift(drift)
    assert list(heat.labels) == list(worst.index) and list(heat.periods) == cols
    for name in ("code", "psi", "status", "p_value", "n"):
        before = d.pivot(index="label", columns="col", values=name).reindex(index=list(worst.index), columns=cols)
        now = {"code": heat.band, "psi": heat.psi, "status": heat.status, "p_value": heat.p_value, "n": heat.n}[name]
        pd.testing.assert_frame_equal(pd.DataFrame(now), pd.DataFrame(before.to_numpy()))


@given(st.lists(st.tuples(st.sampled_from(["stable", "watch", "act", None, "", "unknown"]),
                          st.one_of(st.none(), st.just(float("nan")), st.floats(0, 3))), max_size=30))
def test_psi_bands_keep_a_recorded_status_and_read_the_psi_otherwise(entries):
    bands = psi_bands([s for s, _ in entries], [p for _, p in entries])
    for band, (status, value) in zip(bands, entries):
        if status in DRIFT_BANDS:
            assert band == status
        elif value is None or np.isnan(value) or value < 0.10:
            assert band == "stable"
        else:
            assert band == ("watch" if value <= 0.25 else "act")
