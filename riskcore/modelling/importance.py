"""Feature importance of a fitted model: validation AUC lost when a column is shuffled.

:func:`permutation_importances` wraps :func:`sklearn.inspection.permutation_importance`
with the AUC as the score and the model's input columns as the only columns
shuffled, so an engineered feature (computed inside the pipeline) moves with its
inputs. :func:`importance_table` adds each column's share of the total, the
model's own split importance where it has one, and the feature's label and
family for the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.schema import DatasetSpec
from riskcore.modelling.features import feature_layout
from riskcore.modelling.scorers import fitted_scorer
from riskcore.numeric import roc_auc

__all__ = ["importance_table", "importance_warnings", "native_importance", "permutation_importances"]


def _auc_score(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> float:
    """Scorer for scikit-learn: the AUC of the estimator's default probabilities (NaN with one class)."""
    return roc_auc(y, estimator.predict_proba(X)[:, 1])


def _auc_scorer(kind: str, pipeline: Any) -> Callable[[Any, pd.DataFrame, np.ndarray], float]:
    """The AUC scorer of a pipeline: its raw score through the bundle's scorer when its kind has a direct path.

    A shuffled column is scored once per repeat; for the logistic candidate scikit-learn's quantile
    transform is most of each call. The raw score ranks the rows as the probability does.
    """
    fast = fitted_scorer(kind, pipeline) if kind else None
    if fast is None:
        return _auc_score
    features, scorer = fast

    def score(_: Any, X: pd.DataFrame, y: np.ndarray) -> float:
        return roc_auc(y, scorer.raw(features.transform(X)))

    return score


def permutation_importances(pipeline: Any, X: pd.DataFrame, y: np.ndarray, columns: list[str],
                            random_state: int, repeats: int = 2, kind: str = "") -> pd.DataFrame:
    """AUC lost when one input column is shuffled, with each column's share of the positive losses.

    Parameters
    ----------
    pipeline : a fitted pipeline (or ensemble) with ``predict_proba`` on a frame.
    X : the rows to score (the validation part); only ``columns`` are passed on
        and shuffled, which are every column the pipeline reads.
    y : their 0/1 outcomes.
    columns : the model's input columns.
    random_state : seed of the shuffles.
    repeats : shuffles per column; the drop is their mean.
    kind : the candidate's kind, when known: the pipeline is then scored through the bundle's scorer
        where that kind has a direct path.

    Returns
    -------
    pandas.DataFrame
        Columns ``feature``, ``auc_drop`` (mean AUC lost), ``share`` (the
        column's part of the positive drops, 0 when none is positive), sorted by
        ``auc_drop``, largest first.
    """
    from sklearn.inspection import permutation_importance

    result = permutation_importance(pipeline, X[columns], y, scoring=_auc_scorer(kind, pipeline), n_repeats=repeats,
                                    random_state=random_state)
    df = pd.DataFrame({"feature": list(columns), "auc_drop": np.asarray(result.importances_mean, dtype=float)})
    pos = df["auc_drop"].clip(lower=0)
    df["share"] = pos / pos.sum() if pos.sum() > 0 else 0.0
    return df.sort_values("auc_drop", ascending=False).reset_index(drop=True)


def native_importance(pipeline: Any, spec: DatasetSpec) -> dict[str, float]:
    """The final estimator's own ``feature_importances_`` as shares of their total, by model input.

    Empty when the estimator has none (logistic regression) or when they do not
    line up with the feature layout.
    """
    model = getattr(pipeline, "steps", [[None, None]])[-1][1]
    imp = getattr(model, "feature_importances_", None)
    names = feature_layout(spec).names
    if imp is None or len(imp) != len(names):
        return {}
    imp = np.asarray(imp, dtype=float)
    total = imp.sum() or 1.0
    return {n: float(v / total) for n, v in zip(names, imp, strict=True)}


def importance_table(pipeline: Any, X: pd.DataFrame, y: np.ndarray, columns: list[str], spec: DatasetSpec,
                     kind: str, random_state: int) -> pd.DataFrame:
    """Permutation importances with ``native_share``, ``label`` and ``family`` of each feature.

    An ensemble has no single native importance, so its ``native_share`` is NaN.
    """
    table = permutation_importances(pipeline, X, y, columns, random_state, kind=kind)
    native = native_importance(pipeline, spec) if kind != "ensemble" else {}
    table["native_share"] = table["feature"].map(native).astype(float)
    table["label"] = table["feature"].map(spec.label)
    table["family"] = table["feature"].map(lambda c: spec.feature(c).family if spec.has_feature(c) else "other")
    return table


def importance_warnings(table: pd.DataFrame, threshold: float, test_auc: float | None,
                        oracle_auc: float | None) -> list[str]:
    """Warnings a reviewer must see: one feature dominating, or a model that beats the true PD.

    Both are how leakage shows itself after the checks passed: a leaked column
    takes most of the importance, and no honest model beats the probabilities
    the outcomes were drawn from by more than chance.
    """
    warnings: list[str] = []
    top = table.iloc[0]
    if float(top["share"]) > threshold:
        warnings.append(
            f"one feature, {top['feature']!r}, holds {float(top['share']):.0%} of the importance — check it for "
            "leakage or for a proxy of the outcome before trusting this model")
    if oracle_auc is not None and test_auc is not None and test_auc > oracle_auc + 0.02:
        warnings.append("the model beats the true PD on test by more than 0.02 AUC, which chance rarely "
                        "explains: look for leakage")
    return warnings
