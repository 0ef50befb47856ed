"""Monitoring a later portfolio: counts that add up chunk by chunk, a planted drift found, and the report's shape."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import SEED
from scipy import stats

from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.evaluation.drift import psi
from riskcore.evaluation.monitoring import MonitorCounts, MonitorReport, monitor
from riskcore.evaluation.reference import GRADE_NAMES, ReferenceProfile, build_reference

LEVELS = ("a", "b", "c", "d")
LEVEL_SHARES = np.array([0.4, 0.3, 0.2, 0.1])


def _draw(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Training-like values of one feature of the given kind."""
    if kind == "normal":
        return rng.normal(3.0, 2.0, n)
    if kind == "lognormal":
        return rng.lognormal(1.0, 0.7, n)
    return rng.choice(np.array(LEVELS, dtype=object), n, p=LEVEL_SHARES)


def _drifted(kind: str, how: str, size: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Values of one feature after a planted change: a shift of at least 1 sd, a rescale, or a new level mix."""
    if kind == "categorical":
        shares = LEVEL_SHARES[::-1] if how == "shift" else np.array([0.05, 0.05, 0.1, 0.8])
        return rng.choice(np.array(LEVELS, dtype=object), n, p=shares)
    if how == "rescale":
        return _draw(kind, n, rng) * 0.1
    if kind == "normal":
        return rng.normal(3.0 + size * 2.0, 2.0, n)
    return rng.lognormal(1.0 + size * 0.7, 0.7, n)  # 1 sd of the log


def _spec(kinds: list[str]) -> DatasetSpec:
    features = tuple(FeatureSpec(f"f{k}", kind="categorical", categories=LEVELS) if kind == "categorical"
                     else FeatureSpec(f"f{k}", min=0.0 if kind == "lognormal" else None)
                     for k, kind in enumerate(kinds))
    return DatasetSpec(name="t", target="y", features=features)


def _pds(n: int, rng: np.random.Generator) -> np.ndarray:
    return stats.beta.rvs(1.2, 18, size=n, random_state=rng)


def _reference(spec: DatasetSpec, frame: pd.DataFrame, rng: np.random.Generator) -> ReferenceProfile:
    p = _pds(4000, rng)
    return build_reference(spec, frame, p, p[2000:], (rng.random(2000) < p[2000:]).astype(int))


@given(
    kinds=st.lists(st.sampled_from(["normal", "lognormal", "categorical"]), min_size=2, max_size=6),
    data=st.data(),
    how=st.sampled_from(["shift", "rescale"]),
    size=st.floats(1.0, 3.0),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=25, deadline=None)
def test_a_planted_drift_in_one_feature_acts_while_the_others_stay_stable(kinds, data, how, size, seed):
    rng = np.random.default_rng(seed)
    spec = _spec(kinds)
    n = 5000
    train = pd.DataFrame({f.name: _draw(kind, n, rng) for f, kind in zip(spec.features, kinds, strict=True)})
    ref = _reference(spec, train, rng)
    target = data.draw(st.integers(0, len(kinds) - 1), label="drifted feature")
    current = pd.DataFrame({f.name: _drifted(kind, how, size, n, rng) if k == target else _draw(kind, n, rng)
                            for k, (f, kind) in enumerate(zip(spec.features, kinds, strict=True))})
    counts = MonitorCounts(ref)
    counts.add(current, _pds(n, rng))
    report = monitor(counts, model_version="t")
    status = {f["name"]: f["status"] for f in report.data["features"]}
    drifted = f"f{target}"
    assert status.pop(drifted) == "act"
    assert set(status.values()) == {"stable"}
    assert report.data["features"][0]["name"] == drifted  # most drifted first
    alert = next(a for a in report.alerts if a.rule == "feature_psi")
    assert alert.status == "fail" and drifted in alert.detail
    assert all(name not in alert.detail.split(":")[-1].split() for name in status)


@pytest.fixture(scope="module")
def setting():
    """A reference over three features, and a later portfolio of two periods with ids, segments and PDs."""
    rng = np.random.default_rng(SEED)
    spec = DatasetSpec(name="t", target="y", segment="sector", features=(
        FeatureSpec("x", min=-50.0, max=50.0), FeatureSpec("z", family="macro"),
        FeatureSpec("sector", kind="categorical", categories=("A", "B"))))
    n = 4000
    train = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "sector": rng.choice(["A", "B"], n)})
    ref = _reference(spec, train, rng)
    m = 3000
    later = pd.DataFrame({"x": rng.normal(size=m), "z": rng.normal(size=m),
                          "sector": rng.choice(np.array(["A", "B", "Z", None], dtype=object), m,
                                               p=[0.495, 0.495, 0.005, 0.005])})
    odd = rng.permutation(m)
    later.loc[odd[:30], "x"] = np.nan
    later.loc[odd[30:45], "x"] = 99.0  # outside the valid range
    ids = np.array([f"C{i % 1500}" for i in range(m)], dtype=object)
    periods = np.where(np.arange(m) < 1500, 2025, 2026)
    return ref, later, _pds(m, rng), ids, periods


def _counts(ref, frame, p, ids, periods, order, chunks):
    counts = MonitorCounts(ref)
    for part in np.array_split(order, chunks):
        counts.add(frame.iloc[part].reset_index(drop=True), p[part], ids=ids[part], periods=periods[part],
                   segments=frame["sector"].to_numpy(dtype=object)[part])
    return counts


def _totals(counts: MonitorCounts):
    out = {}
    for period, slot in counts.periods.items():
        out[period] = (slot.rows, {k: v.tolist() for k, v in slot.features.items()},
                       {k: v.tolist() for k, v in slot.grids.items()}, slot.score.tolist(), slot.grades.tolist())
    return out


@given(chunks=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_counts_do_not_depend_on_chunks_or_row_order(setting, chunks, seed):
    ref, frame, p, ids, periods = setting
    whole = _counts(ref, frame, p, ids, periods, np.arange(len(p)), 1)
    order = np.random.default_rng(seed).permutation(len(p))
    parts = _counts(ref, frame, p, ids, periods, order, chunks)
    assert _totals(parts) == _totals(whole) and parts.n == whole.n == len(p)
    key = ["id", "period", "p_default"]
    a = whole.rows().astype({"period": object}).sort_values(key).reset_index(drop=True)
    b = parts.rows().astype({"period": object}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_reset_forgets_every_row(setting):
    ref, frame, p, ids, periods = setting
    counts = _counts(ref, frame, p, ids, periods, np.arange(len(p)), 3)
    counts.reset()
    assert counts.n == 0 and counts.periods == {} and counts.rows().empty


@pytest.fixture(scope="module")
def report(setting) -> MonitorReport:
    ref, frame, p, ids, periods = setting
    counts = _counts(ref, frame, p, ids, periods, np.arange(len(p)), 4)
    rng = np.random.default_rng(SEED + 1)
    outcomes = pd.DataFrame({"id": ids, "period": periods, "y": (rng.random(len(p)) < p).astype(int)})
    return monitor(counts, model_version="v1", outcomes=outcomes.iloc[:-10], period_column="year")


def test_the_report_has_the_promised_keys(report):
    d = report.as_dict()
    assert {"features", "score", "expected", "realized", "grades", "alerts", "periods", "migration",
            "vintages", "grade_mix", "notes"} <= set(d)
    for f in d["features"]:
        assert {"name", "psi", "status", "p_value", "missing_share", "out_of_range_share", "ks", "by_period"} <= set(f)
        assert f["status"] in ("stable", "watch", "act")
    assert {"psi", "status"} <= set(d["score"])
    assert {"default_rate", "auc", "auc_ci"} <= set(d["expected"])
    assert {"auc", "ece", "default_rate", "n"} <= set(d["realized"])
    assert all({"grade", "n", "predicted_pd", "observed_rate", "traffic_light"} <= set(g) for g in d["grades"])
    assert [a["rule"] for a in d["alerts"]] == ["feature_psi", "score_psi", "auc_drop", "ece", "red_grade"]
    assert d["periods"] == [2025, 2026] and d["n"] == 3000


def test_the_report_reads_back_from_its_json(report):
    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    again = MonitorReport.from_json(data)
    assert json.dumps(again.to_json()) == json.dumps(data)  # the same keys in the same order
    assert again.to_text() == report.to_text()
    assert again.alerts == report.alerts and again.failed == report.failed


def test_shares_psi_and_periods_are_counted_from_the_rows(setting, report):
    ref, frame, p, _, periods = setting
    x = next(f for f in report.data["features"] if f["name"] == "x")
    assert (x["missing_share"], x["out_of_range_share"]) == (30 / 3000, 15 / 3000)
    bins = ref.features["x"].bins
    assert x["psi"] == pytest.approx(psi(bins.reference_counts, bins.counts(frame["x"])))
    late = frame["x"].to_numpy()[periods == 2026]
    assert x["by_period"][1]["psi"] == pytest.approx(psi(bins.reference_counts, bins.counts(late)))
    assert [e["n"] for e in x["by_period"]] == [1500, 1500]
    sector = next(f for f in report.data["features"] if f["name"] == "sector")
    assert sector["missing_share"] == pytest.approx(np.mean(pd.isna(frame["sector"])))
    assert report.data["expected"]["default_rate"] == pytest.approx(p.mean())
    mix = report.data["grade_mix"]
    assert [g["grade"] for g in mix] == list(GRADE_NAMES) and sum(g["n"] for g in mix) == 3000


def test_outcomes_give_realised_figures_vintages_and_migration(report):
    d = report.data
    assert d["realized"]["n"] == 2990
    assert any("2,990 rows" in note or "no outcome yet" in note for note in d["notes"])
    assert [v["period"] for v in d["vintages"]] == [2025, 2026]
    assert sum(v["n"] for v in d["vintages"]) == 2990
    assert d["migration"]["companies"] == 1500 and d["migration"]["pairs"] == [
        {"from": 2025, "to": 2026, "companies": 1500}]


def test_before_outcomes_grades_have_no_light(setting):
    ref, frame, p, ids, periods = setting
    report = monitor(_counts(ref, frame, p, ids, periods, np.arange(len(p)), 1), model_version="v1")
    assert {f["name"]: f["status"] for f in report.data["features"]} == dict.fromkeys(["x", "z", "sector"], "stable")
    assert report.data["realized"] is None and report.data["vintages"] == []
    assert all(g["traffic_light"] is None and g["n"] > 0 for g in report.data["grades"])
    alerts = {a.rule: a.status for a in report.alerts}
    assert alerts["ece"] == "pass" and alerts["red_grade"] == "pass"


def test_a_macro_feature_moving_is_reported_but_does_not_alert(setting):
    ref, frame, p, ids, periods = setting
    moved = frame.assign(z=frame["z"] + 3.0)
    report = monitor(_counts(ref, moved, p, ids, periods, np.arange(len(p)), 2), model_version="v1")
    z = next(f for f in report.data["features"] if f["name"] == "z")
    assert z["status"] == "act"
    alert = next(a for a in report.alerts if a.rule == "feature_psi")
    assert alert.status == "pass" and "z moved too" in alert.detail


def test_drift_confined_to_one_segment_is_named():
    rng = np.random.default_rng(SEED)
    sectors = np.array(list("ABCDE"), dtype=object)
    spec = DatasetSpec(name="t", target="y", time="year", segment="sector", features=(
        FeatureSpec("x"), FeatureSpec("sector", kind="categorical", categories=tuple(sectors))))
    n = 10_000
    train = pd.DataFrame({"year": np.repeat([2020, 2021], n // 2), "x": rng.normal(size=n),
                          "sector": rng.choice(sectors, n)})
    ref = _reference(spec, train, rng)
    m = 5000
    later = pd.DataFrame({"x": rng.normal(size=m), "sector": rng.choice(sectors, m)})
    in_e = (later["sector"] == "E").to_numpy()
    later.loc[in_e, "x"] += 1.0  # one sector's values move; the portfolio as a whole barely does
    counts = MonitorCounts(ref)
    counts.add(later, _pds(m, rng), segments=later["sector"].to_numpy(dtype=object))
    report = monitor(counts, model_version="v1")
    x = next(f for f in report.data["features"] if f["name"] == "x")
    assert x["status"] == "stable"
    named = [(s["segment"], s["feature"], s["status"]) for s in report.data["segments"]]
    assert named == [("E", "x", "act")]


def test_a_feature_absent_from_the_portfolio_counts_as_missing(setting):
    ref, frame, p, _, _ = setting
    counts = MonitorCounts(ref)
    counts.add(frame.drop(columns=["z"]), p)
    report = monitor(counts, model_version="v1")
    z = next(f for f in report.data["features"] if f["name"] == "z")
    assert z["missing_share"] == 1.0 and z["status"] == "act" and math.isnan(z["ks"])
    assert report.data["periods"] == ["all"] and report.data["migration"] is None


def test_the_summary_lists_alerts_first_then_the_worst_features(report):
    text = report.to_text()
    lines = text.splitlines()
    assert lines[0].startswith("Monitoring model v1 on 3,000 rows over 2 periods (2025, 2026)")
    assert lines[1] == "Alerts:"
    statuses = [line.split()[0] for line in lines[2:7]]
    rank = {"FAIL": 0, "WARN": 1, "PASS": 2}
    assert statuses == sorted(statuses, key=rank.__getitem__)
    assert text.index("Features, most drifted first") < text.index("Score (calibrated PD)")
    assert "Realised (2,990 rows with outcomes)" in text


@given(cuts=st.lists(st.integers(0, 3000), max_size=6), chunks=st.integers(1, 4))
@settings(max_examples=30, deadline=None)
def test_merging_the_counts_of_parts_gives_the_counts_of_the_whole(setting, cuts, chunks):
    ref, frame, p, ids, periods = setting
    whole = _counts(ref, frame, p, ids, periods, np.arange(len(p)), 1)
    merged = MonitorCounts(ref)
    for part in np.split(np.arange(len(p)), sorted(set(cuts))):
        if len(part):
            merged.merge(_counts(ref, frame, p, ids, periods, part, min(chunks, len(part))))
    assert _totals(merged) == _totals(whole) and merged.n == whole.n
    pd.testing.assert_frame_equal(merged.rows(), whole.rows())
    assert monitor(merged, model_version="v").to_text() == monitor(whole, model_version="v").to_text()


def test_counts_of_another_reference_profile_are_not_merged(setting):
    ref = setting[0]
    other = MonitorCounts(ref)
    other.segments = ["elsewhere"]
    with pytest.raises(ValueError, match="different reference profiles"):
        MonitorCounts(ref).merge(other)
