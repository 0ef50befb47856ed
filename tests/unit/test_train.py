import json

import numpy as np
import pandas as pd
import pytest
from models import demo_panel, quick

from riskcore.config import TrainingConfig
from riskcore.data.infer import extend_spec, infer_spec
from riskcore.data.schema import DEMO_SPEC
from riskcore.errors import DataFileError, LeakageError
from riskcore.modelling.train import train

REQUIRED_KEYS = [
    "model.kind", "model.version", "split.mode", "split.train_rows", "split.validation_rows", "split.test_rows",
    "candidates", "test.auc", "test.auc_ci", "test.pr_auc", "test.ks", "test.gini", "test.brier", "test.ece_raw",
    "test.ece_calibrated", "test.precision", "test.recall", "test.f1", "test.specificity", "threshold", "costs.fn",
    "costs.fp", "business.loss_without_model", "business.loss_with_model", "business.savings",
    "business.savings_pct", "business.top_decile_lift", "oracle.auc", "oracle.ece_vs_true_pd", "segments", "leakage",
]


@pytest.fixture(scope="module")
def panel(model_cache):
    """The 800-company demo panel the run shares: what a candidate does to a frame does not need the bigger one."""
    return demo_panel(model_cache).frame


def _get(d, dotted):
    for part in dotted.split("."):
        d = d[part]
    return d


def test_quick_training_end_to_end(quick_training):
    m = json.loads((quick_training.bundle_dir / "metrics.json").read_text())
    for key in REQUIRED_KEYS:
        _get(m, key)
    assert m["split"]["mode"] == "out_of_time"
    assert {c["kind"] for c in m["candidates"]} == {"logistic", "lightgbm"}
    assert all({"kind", "cv_auc_mean", "cv_auc_std"} <= set(c) for c in m["candidates"])
    assert 0.70 < m["test"]["auc"] < 0.95
    lo, hi = m["test"]["auc_ci"]
    assert lo <= m["test"]["auc"] <= hi
    assert m["test"]["auc"] <= m["oracle"]["auc"] + 0.02
    assert 0 < m["threshold"] < 1
    assert not [f for f in m["leakage"] if f["status"] == "fail"]
    assert m["leakage"][0]["check"] == "preprocessing"
    assert m["business"]["savings"] == pytest.approx(
        m["business"]["loss_without_model"] - m["business"]["loss_with_model"])
    assert {s["segment"] for s in m["segments"]} <= set(DEMO_SPEC.feature("sector").categories)
    battery = m["validation_battery"]  # the validation battery on the test rows, against the validation rows
    assert battery["sample"] == "test rows" and battery["n"] == m["test"]["n"]
    assert battery["asset_correlation"] == "basel" and battery["migration"]["companies"] > 0
    assert battery["auc"]["auc_initial"] == m["validation"]["auc"]
    text = quick_training.summary()
    assert "Test (out of sample" in text and "Leakage checks" in text and "Threshold" in text


def test_training_is_logged_and_registered(quick_training, tracker):
    assert quick_training.run_id and quick_training.registry_version
    champ = tracker.champion()
    assert champ is not None and champ.model_version == quick_training.model_version
    cands = tracker.candidates(quick_training.run_id)
    assert set(cands["kind"]) == {"logistic", "lightgbm"} and cands["chosen"].sum() == 1
    runs = tracker.runs()
    assert quick_training.run_id in set(runs["run_id"])
    assert "metrics.test.auc" in runs.columns


def test_leaked_column_stops_the_run_with_its_name(panel, tmp_path):
    frame = panel.rename(columns={"true_pd": "internal_score"})
    spec = extend_spec(DEMO_SPEC, frame)
    with pytest.raises(LeakageError, match="internal_score"):
        train(frame, spec, config=TrainingConfig.quick(n_iter=1, cv_folds=2), models_dir=tmp_path)


def test_allow_leaks_continues_and_warns(panel, tmp_path):
    frame = panel.rename(columns={"true_pd": "internal_score"})
    spec = extend_spec(DEMO_SPEC, frame)
    result = train(frame, spec, config=quick("lightgbm", n_bootstrap=100, allow_leaks=True),
                   models_dir=tmp_path)
    assert any("allow-leaks" in n for n in result.notes)
    assert any(f["status"] == "fail" for f in result.metrics["leakage"])


def test_small_csv_with_text_target_strings_missing_and_no_time(tmp_path):
    rng = np.random.default_rng(4)
    n = 1200
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    grade = rng.choice(["A", "B", "C"], n)
    logit = -2.2 + 1.2 * x1 - 0.8 * x2 + np.where(grade == "C", 0.8, 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({"x1": x1, "x2": np.where(rng.random(n) < 0.1, np.nan, x2), "grade": grade,
                          "status": np.where(y, "bad", "good")})
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    from riskcore.data.tabular import read_table

    table = read_table(path)
    spec = infer_spec(table.frame, target="status", positive="bad")
    result = train(table, spec, config=quick(n_bootstrap=100), models_dir=tmp_path / "models", positive="bad")
    assert result.metrics["split"]["mode"] == "stratified"
    assert 0.65 < result.metrics["test"]["auc"] <= 1.0
    assert result.metrics["oracle"] is None


def test_too_few_defaults_is_a_clear_error(tmp_path):
    # a measured ratio, not a row counter (a counter is left out of the features as an identifier)
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=100), "y": [1] * 5 + [0] * 95})
    with pytest.raises(DataFileError, match="at least 20"):
        train(frame, infer_spec(frame, target="y"), config=TrainingConfig.quick(), models_dir=tmp_path)


@pytest.mark.parametrize("kind", ["xgboost", "hist_gb", "random_forest"])
def test_every_candidate_kind_trains_saves_and_reloads(panel, tmp_path, kind):
    from riskcore.modelling.bundle import load_bundle

    result = train(panel, DEMO_SPEC,
                   config=quick(kind, n_bootstrap=100),
                   models_dir=tmp_path)
    bundle = load_bundle(result.bundle_dir)
    assert bundle.kind == kind
    hold = bundle.holdout()
    test = hold[hold["part"] == "test"]
    _, p = bundle.predict_frame(test)
    # XGBoost keeps leaf values in float32, so its JSON round trip moves a PD by at most ~1e-7
    np.testing.assert_allclose(p, test["p_default"].to_numpy(), atol=1e-6 if kind == "xgboost" else 1e-9)


def test_ensemble_and_smote(panel, tmp_path):
    result = train(panel, DEMO_SPEC,
                   config=quick("logistic", "lightgbm", "ensemble", n_bootstrap=100, smote=True, tie_tolerance=1.0,
                                random_state=3),
                   models_dir=tmp_path)
    kinds = [c.kind for c in result.candidates]
    assert "ensemble" in kinds
    # a generous tie tolerance makes the simplest candidate win
    assert result.metrics["model"]["kind"] == "logistic"
    assert result.metrics["model"]["smote"] is True


def test_runs_in_the_same_second_get_their_own_bundle(tmp_path):
    from riskcore.modelling.publish import claim_version as _claim_version

    first = _claim_version(tmp_path, "logistic-20261127T181600Z")
    second = _claim_version(tmp_path, "logistic-20261127T181600Z")
    assert first[0] == "logistic-20261127T181600Z" and second[0] == "logistic-20261127T181600Z-2"
    assert first[1].is_dir() and second[1].is_dir() and first[1] != second[1]


def test_the_stages_run_in_order_each_within_its_budget(tmp_path):
    from training_data import small_panel

    from riskcore.modelling.pipeline import TRAINING

    frame, spec = small_panel()
    seen: list[tuple[float, str]] = []
    result = train(frame, spec, config=TrainingConfig.quick(candidates=("logistic",), n_iter=1, cv_folds=2,
                                                            n_bootstrap=50, n_jobs=1),
                   models_dir=tmp_path, progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1][1] == "done"
    starts = {s.start: s for s in TRAINING.stages}
    announced = [starts[f].name for f, m in seen if f in starts and not m.startswith("cross-validating")]
    assert announced == [n for n in TRAINING.names if n not in ("search", "log")]  # no tracker: no log stage
    assert any(m == "refitting logistic on all training rows" for _, m in seen)
    search = TRAINING.stages[TRAINING.names.index("search")]
    assert all(search.start < f <= search.end for f, m in seen if m.startswith("cross-validating"))
    assert result.bundle_dir.exists() and result.run_id is None


def test_a_pipeline_refuses_overlapping_budgets_and_repeated_names():
    from riskcore.modelling.pipeline import TRAINING, Pipeline, Stage

    first, second = TRAINING.stages[:2]
    with pytest.raises(ValueError, match="without overlapping"):
        Pipeline((first, Stage(second.name, first.start, second.end, second.step)))
    with pytest.raises(ValueError, match="unique"):
        Pipeline((first, Stage(first.name, second.start, second.end, second.step)))
    assert TRAINING.until("split").names == ("prepare", "split")
