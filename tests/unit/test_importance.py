"""Permutation importance (validation AUC lost per shuffled input), native shares and the warnings they raise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from training_data import small_panel

from riskcore.modelling.importance import (
    importance_table,
    importance_warnings,
    native_importance,
    permutation_importances,
)
from riskcore.modelling.models import make_pipeline

INPUTS = ["x1", "x2", "grade", "noise"]


@pytest.fixture(scope="module")
def fitted():
    frame, spec = small_panel()
    train, valid = frame[frame["fiscal_year"] < 2023], frame[frame["fiscal_year"] == 2023].reset_index(drop=True)
    logistic = make_pipeline("logistic", spec).fit(train, train["default"].to_numpy())
    lgbm = make_pipeline("lightgbm", spec, {"n_estimators": 30}).fit(train, train["default"].to_numpy())
    return spec, valid, valid["default"].to_numpy(), logistic, lgbm


def test_permutation_importance_is_the_auc_lost_per_input(fitted):
    spec, X, y, pipe, _ = fitted
    table = permutation_importances(pipe, X, y, INPUTS, random_state=7)
    assert list(table.columns) == ["feature", "auc_drop", "share"]
    assert set(table["feature"]) == set(INPUTS)  # only the inputs, not the id, year or target
    assert table["auc_drop"].is_monotonic_decreasing and table["feature"].iloc[0] == "x1"
    assert table.set_index("feature").loc["noise", "auc_drop"] < 0.01
    assert table["share"].sum() == pytest.approx(1.0) and (table["share"] >= 0).all()
    # the same as scikit-learn's own AUC scorer on the input columns
    ref = permutation_importance(pipe, X[INPUTS], y, scoring="roc_auc", n_repeats=2, random_state=7)
    expected = pd.Series(ref.importances_mean, index=INPUTS)
    np.testing.assert_allclose(table.set_index("feature")["auc_drop"], expected[table["feature"]], atol=1e-12)


def test_permutation_importance_is_reproducible_and_zero_for_an_unread_column(fitted):
    _, X, y, pipe, _ = fitted
    X = X.assign(unread=np.arange(len(X), dtype=float))
    first = permutation_importances(pipe, X, y, [*INPUTS, "unread"], random_state=3)
    pd.testing.assert_frame_equal(first, permutation_importances(pipe, X, y, [*INPUTS, "unread"], random_state=3))
    assert first.set_index("feature").loc["unread", "auc_drop"] == 0.0


class _Fixed:
    """A model whose scores do not depend on its inputs."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> _Fixed:
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.column_stack([1 - self.scores, self.scores])


def test_shares_are_zero_when_no_column_helps(fitted):
    _, X, y, _, _ = fitted
    model = _Fixed(np.linspace(0.01, 0.99, len(X)))
    table = permutation_importances(model, X, y, INPUTS, random_state=7)
    assert (table["auc_drop"] == 0.0).all() and (table["share"] == 0.0).all()


def test_native_importance_of_trees_sums_to_one_and_logistic_has_none(fitted):
    spec, _, _, logistic, lgbm = fitted
    shares = native_importance(lgbm, spec)
    assert set(shares) >= set(INPUTS) and sum(shares.values()) == pytest.approx(1.0)
    assert native_importance(logistic, spec) == {}


def test_importance_table_adds_native_share_label_and_family(fitted):
    spec, X, y, logistic, lgbm = fitted
    table = importance_table(lgbm, X, y, INPUTS, spec, "lightgbm", 7)
    assert {"native_share", "label", "family"} <= set(table.columns)
    assert table["native_share"].notna().all()
    assert table["label"].tolist() == [spec.label(f) for f in table["feature"]]
    assert importance_table(logistic, X, y, INPUTS, spec, "logistic", 7)["native_share"].isna().all()


def test_warnings_for_a_dominant_feature_and_for_beating_the_truth():
    table = pd.DataFrame({"feature": ["leak", "x"], "auc_drop": [0.3, 0.01], "share": [0.9, 0.1]})
    (dominant,) = importance_warnings(table, 0.5, 0.8, None)
    assert "'leak'" in dominant and "90%" in dominant
    assert importance_warnings(table, 0.95, 0.8, 0.79) == []
    (beats,) = importance_warnings(table, 0.95, 0.85, 0.8)
    assert "beats the true PD" in beats
    assert importance_warnings(table, 0.95, None, 0.8) == []
