"""The candidate estimators and their search spaces.

Every candidate is a pipeline that starts with :class:`~riskcore.modelling.features.FeatureBuilder`
(numbers, category codes, engineered features) and ends with one classifier:

* ``logistic`` — the transparent baseline: median imputation with missing-value
  indicators, a quantile transform to tame heavy tails, one-hot categories,
  L2-regularised logistic regression;
* ``lightgbm``, ``xgboost``, ``hist_gb`` (scikit-learn's histogram gradient
  boosting) and ``random_forest`` — tree ensembles that take missing values and
  category codes as they are;
* ``scorecard`` — the points scorecard (:mod:`riskcore.modelling.scorecard`): optimal
  binning with the declared directions as monotone event rates, weight of evidence,
  logistic regression, points scaled by the training settings' ``[scorecard]``;
* ``ensemble`` — soft voting over the best two or three of the others
  (:class:`SoftVotingEnsemble`).

With ``smote=True`` the pipeline (imbalanced-learn's) imputes and oversamples the
minority class after the features step; it runs only when the pipeline is fitted,
so only training folds are ever resampled.

With ``monotone=True`` the boosted candidates (:data:`MONOTONE_KINDS`) get monotone
constraints from the spec's declared directions, mapped onto the model matrix's
columns (:func:`monotone_constraints`): LightGBM's and XGBoost's
``monotone_constraints``, histogram boosting's ``monotonic_cst``. Logistic regression
and the random forest take none. The scorecard always bins to the declared directions.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from riskcore.config import ScorecardRules
from riskcore.data.schema import DatasetSpec
from riskcore.modelling.features import FeatureBuilder, feature_layout
from riskcore.modelling.scorecard import PointsScorecard, event_rate_trend
from riskcore.numeric import logit

__all__ = ["MODEL_KINDS", "MONOTONE_KINDS", "SIMPLICITY", "EmptyColumnFiller", "ModelKind", "SoftVotingEnsemble",
           "make_pipeline", "monotone_constraints", "monotone_kind", "raw_score", "search_space"]

ModelKind = Literal["logistic", "lightgbm", "xgboost", "hist_gb", "random_forest", "scorecard", "ensemble"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
# lower is simpler; near-ties in CV AUC go to the simpler candidate
SIMPLICITY: dict[str, int] = {"logistic": 0, "scorecard": 0, "hist_gb": 1, "lightgbm": 1, "xgboost": 1,
                              "random_forest": 2, "ensemble": 3}
# one thread per model: training parallelises over cross-validation fits in processes instead (see train._search)
N_JOBS = 1
# the kinds whose libraries take monotone constraints
MONOTONE_KINDS: tuple[str, ...] = ("lightgbm", "xgboost", "hist_gb")


def search_space(kind: str) -> dict[str, list[Any]]:
    """The (small) grid a randomized search samples for one candidate; keys are the model's parameters."""
    if kind == "logistic":
        return {"C": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]}
    if kind == "lightgbm":
        return {"n_estimators": [250, 400, 600], "learning_rate": [0.02, 0.03, 0.05], "num_leaves": [7, 15, 31],
                "min_child_samples": [30, 60, 120], "colsample_bytree": [0.5, 0.7, 0.9], "subsample": [0.7, 0.9],
                "reg_lambda": [1.0, 5.0, 20.0]}
    if kind == "xgboost":
        return {"n_estimators": [250, 400, 600], "learning_rate": [0.02, 0.04, 0.06], "max_depth": [3, 4, 5],
                "min_child_weight": [2, 5, 10], "subsample": [0.7, 0.9], "colsample_bytree": [0.5, 0.7, 0.9],
                "reg_lambda": [1.0, 5.0, 20.0]}
    if kind == "hist_gb":
        return {"max_iter": [200, 350, 500], "learning_rate": [0.03, 0.05, 0.08], "max_leaf_nodes": [7, 15, 31],
                "min_samples_leaf": [30, 60, 120], "l2_regularization": [0.0, 1.0, 5.0]}
    if kind == "random_forest":
        return {"n_estimators": [200], "max_depth": [8, 12, None], "min_samples_leaf": [10, 25, 50],
                "max_features": ["sqrt", 0.3]}
    if kind == "scorecard":
        return {"C": [0.1, 1.0]}
    if kind == "ensemble":
        return {}
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def monotone_constraints(spec: DatasetSpec) -> list[int]:
    """One constraint per column of the model matrix: the declared direction (+1, -1) or 0.

    The matrix is :class:`~riskcore.modelling.features.FeatureBuilder`'s output
    (:func:`~riskcore.modelling.features.feature_layout`): raw numeric and panel
    features, category codes (never constrained: a code's order means nothing),
    then the row features, each with its own declared direction.
    """
    layout = feature_layout(spec)
    categorical = set(layout.categorical)
    return [0 if name in categorical else int(np.sign(spec.feature(name).direction)) for name in layout.names]


def monotone_kind(kind: str, pipeline: Any = None) -> bool:
    """True when a candidate of this kind is constrained by ``monotone=True`` (an ensemble: all its members)."""
    if kind == "ensemble":
        members: list[str] = list(getattr(pipeline, "kinds", None) or [])
        return bool(members) and all(k in MONOTONE_KINDS for k in members)
    return kind in MONOTONE_KINDS


def _constraint_params(kind: str, spec: DatasetSpec) -> dict[str, Any]:
    """The estimator keyword that carries the spec's monotone constraints, in each library's spelling."""
    cst = monotone_constraints(spec)
    if kind in ("lightgbm", "xgboost"):
        return {"monotone_constraints": tuple(cst) if kind == "xgboost" else cst}
    if kind == "hist_gb":
        return {"monotonic_cst": cst}
    return {}


def _scorecard(spec: DatasetSpec, params: dict[str, Any], scaling: ScorecardRules | None) -> PointsScorecard:
    """The scorecard estimator over the model matrix's columns, each numeric one binned to its declared direction."""
    layout = feature_layout(spec)
    rules = scaling or ScorecardRules()
    trends = {name: event_rate_trend(int(np.sign(spec.feature(name).direction))) for name in layout.names
              if name not in layout.categorical}
    return PointsScorecard(names=layout.names, categorical=layout.categorical, trends=trends,
                           pdo=rules.pdo, base_points=rules.base_points, base_odds=rules.base_odds, **params)


def _estimator(kind: str, params: dict[str, Any], random_state: int) -> Any:
    p = dict(params)
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        # Newton-Cholesky: a few exact steps for many rows and a hundred columns (lbfgs took 40× longer here)
        return LogisticRegression(C=p.pop("C", 0.1), solver="newton-cholesky", max_iter=200, **p)
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(objective="binary", subsample_freq=1, verbose=-1, n_jobs=N_JOBS,
                              random_state=random_state, **p)
    if kind == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(tree_method="hist", objective="binary:logistic", eval_metric="auc", n_jobs=N_JOBS,
                             random_state=random_state, **p)
    if kind == "hist_gb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        # early stopping switches itself on above 10,000 rows; the search sets the iterations instead
        return HistGradientBoostingClassifier(early_stopping=False, random_state=random_state, **p)
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_jobs=N_JOBS, random_state=random_state, max_samples=0.6,
                                      class_weight=None, **p)
    raise ValueError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def _logistic_prep(spec: DatasetSpec) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

    layout = feature_layout(spec)
    parts: list[tuple[str, Any, list[int]]] = [(
        "num",
        Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                  ("quantile", QuantileTransformer(n_quantiles=200, output_distribution="normal",
                                                   subsample=100_000, random_state=0))]),
        layout.numeric_indices,
    )]
    if layout.categorical_indices:
        parts.append((
            "cat",
            Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=-1.0)),
                      ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
            layout.categorical_indices,
        ))
    return ColumnTransformer(parts, remainder="drop")


class EmptyColumnFiller(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Set columns that were entirely missing in training to 0.

    scikit-learn 1.9's histogram boosting fails on a column with no value at all
    (e.g. year-on-year changes when the data holds a single year). A constant
    column carries the same (no) information and cannot be split on.
    """

    def fit(self, X: np.ndarray, y: Any = None) -> EmptyColumnFiller:
        """Remember which columns hold no value."""
        self.empty_ = np.flatnonzero(np.isnan(np.asarray(X, dtype=float)).all(axis=0))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """A copy of ``X`` with the remembered columns set to 0."""
        check_is_fitted(self, "empty_")
        out = np.array(X, dtype=float, copy=True)
        out[:, self.empty_] = 0.0
        return out


def make_pipeline(
    kind: str,
    spec: DatasetSpec,
    params: dict[str, Any] | None = None,
    *,
    smote: bool = False,
    random_state: int = 7,
    members: list[tuple[str, dict[str, Any]]] | None = None,
    monotone: bool = False,
    scaling: ScorecardRules | None = None,
) -> Any:
    """A fresh, unfitted pipeline for one candidate.

    Parameters
    ----------
    kind : one of :data:`MODEL_KINDS`.
    spec : the dataset spec (fixes the feature layout).
    params : the classifier's parameters (a point of :func:`search_space`).
    smote : oversample the minority class inside the pipeline (training folds only).
    random_state : the seed.
    members : for ``ensemble``, the (kind, params) of each voting member.
    monotone : constrain a boosted model to the spec's declared directions
        (:func:`monotone_constraints`); other kinds are left as they are.
    scaling : the scorecard's points scaling (the defaults when None).

    Returns
    -------
    a scikit-learn ``Pipeline`` (imbalanced-learn's when ``smote``) with steps
    ``features`` [``prep``] [``smote``] ``model``.
    """
    params = params or {}
    if kind == "ensemble":
        if not members:
            raise ValueError("an ensemble needs members: a list of (kind, params)")
        return SoftVotingEnsemble([(k, make_pipeline(k, spec, p, smote=smote, random_state=random_state,
                                                     monotone=monotone, scaling=scaling)) for k, p in members])
    if monotone:
        params = {**params, **_constraint_params(kind, spec)}
    steps: list[tuple[str, Any]] = [("features", FeatureBuilder(spec))]
    if kind == "logistic":
        steps.append(("prep", _logistic_prep(spec)))
    if kind == "hist_gb":
        steps.append(("fill_empty", EmptyColumnFiller()))
    if smote and kind != "scorecard":
        from imblearn.over_sampling import SMOTE
        from imblearn.pipeline import Pipeline as ImbPipeline
        from sklearn.impute import SimpleImputer

        if kind != "logistic":
            steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
        steps.append(("smote", SMOTE(random_state=random_state)))
        steps.append(("model", _estimator(kind, params, random_state)))
        return ImbPipeline(steps)
    from sklearn.pipeline import Pipeline

    # the scorecard's event rates, WoE and points are read from the real rows: it is never oversampled
    steps.append(("model", _scorecard(spec, params, scaling) if kind == "scorecard"
                  else _estimator(kind, params, random_state)))
    return Pipeline(steps)


class SoftVotingEnsemble:
    """Soft voting over fitted candidate pipelines: the mean of their probabilities.

    scikit-learn's ``VotingClassifier`` would refit the members; this keeps each
    member a plain riskcore pipeline so the bundle can store it natively.
    """

    def __init__(self, members: list[tuple[str, Any]]):
        self.members = members

    @property
    def kinds(self) -> list[str]:
        """The members' model kinds, in order."""
        return [k for k, _ in self.members]

    def fit(self, X: Any, y: Any) -> SoftVotingEnsemble:
        """Fit every member on the same rows."""
        for _, pipe in self.members:
            pipe.fit(X, y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Mean of the members' class probabilities."""
        return np.mean([pipe.predict_proba(X) for _, pipe in self.members], axis=0)


def raw_score(pipeline: Any, X: Any) -> np.ndarray:
    """The model's raw log-odds score (the input of calibration); a scorecard's is read from its total points."""
    steps = getattr(pipeline, "steps", None)
    if steps and isinstance(steps[-1][1], PointsScorecard):
        return np.asarray(pipeline.decision_function(X), dtype=float)
    return logit(pipeline.predict_proba(X)[:, 1])
