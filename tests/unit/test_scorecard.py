"""The points scorecard: binning to the declared directions, the points' arithmetic, the bundle, the training run."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from models import SCORECARD_COMPANIES, scorecard_run

from riskcore.config import ScorecardRules, Settings, TrainingConfig, load_settings
from riskcore.errors import BundleError, ConfigError
from riskcore.lifecycle.report.gather import build_report
from riskcore.lifecycle.report.markup import Numbers
from riskcore.lifecycle.report.sections.methodology import methodology_section
from riskcore.modelling.scorecard import MISSING_BIN, Card, PointsScorecard, SignedLogistic, event_rate_trend
from riskcore.modelling.scorers import Scorer
from riskcore.numeric import expit
from riskcore.serving.explain import explain_frame

NAMES = ("leverage", "coverage", "sector")


@pytest.fixture(scope="module")
def small_fit():
    """A scorecard fitted on 1,500 synthetic rows: risk rises with leverage, falls with coverage, differs by sector."""
    rng = np.random.default_rng(7)
    n = 1500
    leverage, coverage = rng.normal(size=n), rng.normal(size=n)
    sector = rng.integers(0, 4, size=n).astype(float)
    leverage[:40] = np.nan
    logit = -2.5 + 1.2 * leverage - 0.9 * coverage + np.array([0.0, 0.8, -0.6, 0.3])[sector.astype(int)]
    y = (rng.random(n) < expit(np.nan_to_num(logit, nan=-2.0))).astype(int)
    X = np.column_stack([leverage, coverage, sector])
    model = PointsScorecard(names=NAMES, categorical=("sector",),
                            trends={"leverage": event_rate_trend(1), "coverage": event_rate_trend(-1)}).fit(X, y)
    return model, X, y


@pytest.fixture(scope="module")
def run(model_cache):
    """``train --quick --candidates scorecard`` on the demo portfolio of 500 companies (trained once per run)."""
    return scorecard_run(model_cache)


@pytest.fixture(scope="module")
def bundle(run):
    return run.bundle()


def _monotone(rates: list[float], direction: int) -> bool:
    steps = np.diff(rates)
    return bool(np.all(steps >= -1e-12) if direction > 0 else np.all(steps <= 1e-12))


def test_event_rate_trends_follow_the_declared_directions():
    assert [event_rate_trend(d) for d in (1, -1, 0)] == ["ascending", "descending", "auto_asc_desc"]


def test_binning_respects_declared_directions(small_fit, bundle):
    card = small_fit[0].card_
    assert _monotone(card.event_rates["leverage"][:-1], 1) and _monotone(card.event_rates["coverage"][:-1], -1)
    # more points for less risk: the points fall as leverage rises, and rise with coverage
    assert _monotone(card.points["leverage"][:-1], -1) and _monotone(card.points["coverage"][:-1], 1)
    # every declared direction of the demo's model holds across the bins that hold rows
    checked = 0
    for name in bundle.scorer.card.names:
        if name in bundle.scorer.card.categorical or not bundle.spec.feature(name).direction:
            continue
        card, direction = bundle.scorer.card, int(np.sign(bundle.spec.feature(name).direction))
        used = [i for i, c in enumerate(card.counts[name][:-1]) if c > 0]
        assert _monotone([card.event_rates[name][i] for i in used], direction), name
        # and no characteristic's points run against its binning: more risk, never more points
        assert _monotone([card.points[name][i] for i in used], -direction), name
        checked += 1
    assert checked > 20


def test_a_characteristic_counting_against_its_own_binning_is_taken_out():
    rng = np.random.default_rng(7)
    woe = rng.normal(size=(3000, 3))
    y = (rng.random(3000) < expit(-2 - 1.0 * woe[:, 0] - 0.5 * woe[:, 1] + 0.6 * woe[:, 2])).astype(int)
    model = SignedLogistic(C=1.0).fit(woe, y)
    assert model.coef_[0, 2] == 0 and (model.coef_[0, :2] < 0).all() and list(model.dropped_) == [2]
    np.testing.assert_allclose(model.predict_proba(woe)[:, 1], expit(woe @ model.coef_[0] + model.intercept_[0]))


def test_points_are_the_scaled_woe_and_match_optbinnings_own_score(small_fit):
    model, X, _ = small_fit
    card = model.card_
    factor, offset = 20 / np.log(2), 600 - 20 / np.log(2) * np.log(50)
    assert card.factor == pytest.approx(factor) and card.offset == pytest.approx(offset)
    n = len(card.names)
    for name in card.names:
        woe = np.asarray(card.woe[name])
        hand = np.rint(offset / n - factor * (woe * card.coefficients[name] + card.intercept / n))
        np.testing.assert_array_equal(card.points[name], hand)
    frame = pd.DataFrame(X, columns=list(NAMES))
    np.testing.assert_array_equal(card.total(X), model.scorecard_.score(frame))
    assert all(float(p).is_integer() for pts in card.points.values() for p in pts)


def test_missing_and_unseen_categories_fall_in_the_missing_bin(small_fit):
    card = small_fit[0].card_
    rows = np.array([[np.nan, 0.0, 2.0], [0.0, 0.0, 9.0], [0.0, 0.0, np.nan]])
    index = card.bin_indices(rows)
    assert index[0, 0] == len(card.points["leverage"]) - 1
    assert index[1, 2] == index[2, 2] == len(card.points["sector"]) - 1
    assert card.bin_labels("sector", ["A", "B", "C", "D"])[-1] == MISSING_BIN


def test_points_add_up_to_the_score_and_the_score_maps_back_to_the_pd(bundle):
    card = bundle.scorer.card
    rows = bundle.holdout().head(50)
    points = bundle.points(rows)
    total = points.groupby("row")["points"].sum().to_numpy()
    matrix = bundle.matrix(rows)
    np.testing.assert_array_equal(total, card.total(matrix))
    raw, p = bundle.predict_frame(rows)
    np.testing.assert_allclose(raw, (card.offset - total) / card.factor, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p, bundle.calibrate((card.offset - total) / card.factor))
    # more points, never a higher PD; 20 more points halve the odds of default before calibration
    order = np.argsort(total)
    assert np.all(np.diff(p[order]) <= 1e-12)
    assert expit((card.offset - 620) / card.factor) / (1 - expit((card.offset - 620) / card.factor)) == \
        pytest.approx(0.5 / 50)
    # the explanation is the points: each characteristic's points below its average, exact and additive
    ex = explain_frame(bundle, rows)
    np.testing.assert_allclose(ex.phi.sum(axis=1) + ex.totals["base_raw"], raw, atol=1e-9)
    wide = points.pivot(index="row", columns="characteristic", values="points")[list(card.names)].to_numpy()
    mean = np.array([card.mean_points[c] for c in card.names])
    np.testing.assert_allclose(ex.phi, -(wide - mean) / card.factor, atol=1e-12)


def test_the_bundle_scores_like_the_fitted_scorecard_and_round_trips(bundle):
    hold = bundle.holdout()
    raw, _ = bundle.predict_frame(hold)
    np.testing.assert_array_equal(raw, hold["score_raw"].to_numpy())  # scored by the fitted pipeline at training
    card = bundle.scorer.card
    again = Card.from_dict(json.loads(json.dumps(card.to_dict())))
    np.testing.assert_array_equal(again.raw(bundle.matrix(hold)), raw)
    assert (bundle.path / "scorecard.json").exists() and not (bundle.path / "model.skops").exists()


def test_points_table_reads_the_bundle(bundle):
    table = bundle.points_table()
    assert list(table.columns) == ["characteristic", "label", "bin", "count", "event_rate", "woe", "points"]
    assert set(table["characteristic"]) == set(bundle.features.layout_.names)
    sectors = table[table["characteristic"] == "sector"]
    assert sectors["bin"].str.contains("Energy").any() and sectors["bin"].iloc[-1] == MISSING_BIN
    assert table.groupby("characteristic")["count"].sum().max() <= bundle.metrics["split"]["train_rows"]


def test_a_model_that_is_not_a_scorecard_has_no_points_table(bundle):
    other = replace(bundle, scorer=Scorer(), info={**bundle.info, "kind": "logistic"})
    assert not other.is_scorecard
    with pytest.raises(BundleError, match="is a logistic model, not a scorecard.*--candidates scorecard"):
        other.points_table()


def test_training_a_scorecard_reports_it(run):
    m = run.result.metrics
    assert [c.kind for c in run.result.candidates] == ["scorecard"] and m["model"]["kind"] == "scorecard"
    assert m["scorecard"]["chosen"] == "scorecard" and m["scorecard"]["auc_given_up"] == 0
    assert (m["scorecard"]["pdo"], m["scorecard"]["base_points"], m["scorecard"]["base_odds"]) == (20, 600, 50)
    assert "the points scorecard is the chosen model" in run.result.summary()
    assert m["split"]["train_rows"] > 0 and SCORECARD_COMPANIES == 500
    # when another candidate is chosen, the summary says how much test AUC the scorecard gives up against it
    other = {**m, "scorecard": {**m["scorecard"], "chosen": "lightgbm", "scorecard_auc": 0.80, "model_auc": 0.83,
                                "auc_given_up": 0.03}}
    assert ("points scorecard on the same test rows: AUC 0.800 against the lightgbm model's 0.830 (raw scores): "
            "0.030 AUC given up") in replace(run.result, metrics=other).summary()
    better = {**m, "scorecard": {**other["scorecard"], "scorecard_auc": 0.84, "auc_given_up": -0.01}}
    assert "0.010 AUC better on these rows" in replace(run.result, metrics=better).summary()


def test_the_report_has_the_points_table(bundle, tmp_path):
    report = build_report(bundle, settings=Settings(home=tmp_path), generated_at="2026-12-07T00:00:00+00:00")
    html = methodology_section(report, Numbers(report.metrics))
    assert "<h3>Points scorecard</h3>" in html and "20 points double the odds" in html
    table = html[html.index("<h3>Points scorecard</h3>"):]
    assert table.count("<tr>") == len(bundle.points_table()) + 1
    assert "<th>WoE</th>" in table and "<th>Points</th>" in table
    # a report of another model chosen over the scorecard says what the scorecard gives up
    other = {**report.metrics, "scorecard": {**report.metrics["scorecard"], "chosen": "lightgbm", "model_auc": 0.9,
                                             "scorecard_auc": 0.88, "auc_given_up": 0.02}}
    html = methodology_section(replace(report, metrics=other, points=None), Numbers(other))
    assert "the chosen lightgbm model's" in html and "AUC given up for a model read by adding points" in html
    assert "<th>WoE</th>" not in html


def test_scorecard_settings(tmp_path):
    assert TrainingConfig().scorecard == ScorecardRules(pdo=20, base_points=600, base_odds=50)
    assert "scorecard" in TrainingConfig().candidates and "scorecard" not in TrainingConfig.quick().candidates
    path = tmp_path / "riskcore.toml"
    path.write_text("[scorecard]\npdo = 40\nbase_points = 500\nbase_odds = 20\n", encoding="utf-8")
    assert load_settings(path, env={}).scorecard == ScorecardRules(pdo=40.0, base_points=500.0, base_odds=20.0)
    path.write_text("[scorecard]\npdo = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[scorecard\] in .*scorecard setting pdo=0.0 must be in \(0, 1000\]"):
        load_settings(path, env={})
    path.write_text("[scorecard]\nodds = 50\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown scorecard settings.*allowed: pdo, base_points, base_odds"):
        load_settings(path, env={})
