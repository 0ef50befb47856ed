"""The fitted model's own files, and the scorers read back from them.

A bundle member (the whole bundle, or one member of a voting ensemble) keeps its
fitted estimator in the estimator's own format:

    model.txt          a LightGBM booster, its text format
    model.json         an XGBoost booster, its JSON format
    scorecard.json     a points scorecard's bins, WoE and points (:class:`~riskcore.modelling.scorecard.Card`)
    model.skops        any other scikit-learn estimator, through skops
    transform.skops    (optional) fitted transformers between the features and the model

:func:`write_model` writes them; :func:`read_scorer` reads them back as a
:class:`Scorer`, which turns the model matrix of
:class:`~riskcore.modelling.features.FeatureBuilder` into raw log-odds without
scikit-learn's per-call overhead: a scikit-learn model's numbers are applied directly with
NumPy where :mod:`riskcore.modelling.direct` recognises it (the same bits as the library,
which is called for anything else). skops rebuilds only the types it trusts plus
:data:`SKOPS_ALLOWLIST`; a file holding anything else is refused. The rest of the
bundle (layout, manifest, verification) is :mod:`riskcore.modelling.bundle`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from riskcore.errors import BundleError
from riskcore.evaluation.outcomes import strict_json
from riskcore.modelling.direct import ColumnFill, LogisticPrep, TreePath, column_fill, logistic_prep, tree_path
from riskcore.modelling.features import FeatureBuilder
from riskcore.modelling.scorecard import Card
from riskcore.numeric import expit, logit

__all__ = ["SKOPS_ALLOWLIST", "EnsembleScorer", "LightGBMScorer", "Scorer", "ScorecardScorer", "SklearnScorer",
           "TransformedNative", "XGBoostScorer", "fitted_scorer", "read_scorer", "split_pipeline", "write_model"]

# the kinds whose fitted pipeline :func:`fitted_scorer` scores through the direct paths (the boosters' own
# predict already has no per-column cost; an ensemble averages pipelines of these)
_DIRECT_KINDS = ("logistic", "hist_gb", "random_forest")

# Types skops may rebuild beyond its own defaults. Anything else in a file is refused.
SKOPS_ALLOWLIST: tuple[str, ...] = (
    "numpy.dtype",
    "riskcore.modelling.models.EmptyColumnFiller",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


class Scorer:
    """Raw log-odds scores from the model matrix of :class:`~riskcore.modelling.features.FeatureBuilder`."""

    kind: str = ""

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        raise NotImplementedError

    def contributions(self, matrix: np.ndarray) -> np.ndarray | None:
        """Per-feature contributions in log-odds (rows × (features + 1), last = base), or None."""
        return None


class LightGBMScorer(Scorer):
    """A LightGBM booster read from its text format."""

    kind = "lightgbm"

    def __init__(self, model_str: str):
        import lightgbm as lgb  # a heavy model library, loaded only by a LightGBM bundle

        self.booster = lgb.Booster(model_str=model_str)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1 if len(matrix) < 1000 else 0),
                          dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions from the booster itself (``pred_contrib``)."""
        return np.asarray(self.booster.predict(matrix, pred_contrib=True), dtype=float)


class XGBoostScorer(Scorer):
    """An XGBoost booster read from its JSON format.

    A second copy of the booster set to one thread scores small blocks: starting the booster's
    threads for a company or a few costs more than the trees (the margins are the same). The
    parameter is set once, here, because a booster's parameters are not safe to change while
    other threads predict with it.
    """

    kind = "xgboost"

    def __init__(self, raw_json: bytes):
        import xgboost as xgb  # a heavy optional library, loaded only by an XGBoost bundle

        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(raw_json))
        self.small = xgb.Booster()
        self.small.load_model(bytearray(raw_json))
        self.small.set_param({"nthread": 1})

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        booster = self.small if len(matrix) < 1000 else self.booster
        return np.asarray(booster.inplace_predict(matrix, predict_type="margin"), dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions from the booster itself (``pred_contribs``)."""
        import xgboost as xgb  # a heavy optional library, loaded only by an XGBoost bundle

        return np.asarray(self.booster.predict(xgb.DMatrix(matrix, missing=np.nan), pred_contribs=True), dtype=float)


class SklearnScorer(Scorer):
    """A scikit-learn estimator (optionally behind fitted transformers).

    When it is built, the logistic candidate's preprocessing, the imputation and empty-column
    steps before a tree model, and a random forest's or histogram boosting's trees are read into
    their direct paths (:func:`~riskcore.modelling.direct.logistic_prep`,
    :func:`~riskcore.modelling.direct.column_fill`, :func:`~riskcore.modelling.direct.tree_path`),
    which give the library's numbers without its per-call overhead; a model they do not
    recognise, and input they leave to the library, go through scikit-learn itself.
    """

    def __init__(self, kind: str, model: Any, transform: Any = None):
        self.kind = kind
        self.model = model
        self.transform = transform
        self.direct_prep: LogisticPrep | None = (
            logistic_prep(transform) if kind == "logistic" and transform is not None else None)
        self.direct_fill: ColumnFill | None = (
            column_fill(transform, getattr(model, "n_features_in_", None))
            if kind != "logistic" and transform is not None else None)
        self.direct_trees: TreePath | None = tree_path(model) if kind in ("hist_gb", "random_forest") else None

    def prepared(self, matrix: np.ndarray) -> np.ndarray:
        """The matrix after the fitted transformers, as the final estimator sees it."""
        for path in (self.direct_prep, self.direct_fill):
            out = path.transform(matrix) if path is not None else None
            if out is not None:
                return out
        return self.transform.transform(matrix) if self.transform is not None else matrix

    def proba(self, m: np.ndarray) -> np.ndarray:
        """The final estimator's class-1 probability of a prepared matrix."""
        if self.direct_trees is not None:
            out = self.direct_trees.proba(m)
            if out is not None:
                return out
        return np.asarray(self.model.predict_proba(m)[:, 1], dtype=float)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row.

        A logistic model's score is the dot product of each row with the coefficients, taken row by
        row (``einsum``) rather than by BLAS's matrix-vector product, whose last bit depends on how
        many rows go in together: a company's score must not depend on the chunk or the partition
        it was scored in.
        """
        m = self.prepared(matrix)
        if self.kind == "logistic" and hasattr(self.model, "coef_") and np.ndim(self.model.coef_) == 2 \
                and self.model.coef_.shape[0] == 1:
            coef = np.asarray(self.model.coef_, dtype=float)[0]
            dense = m.toarray() if hasattr(m, "toarray") else np.asarray(m, dtype=float)
            return np.einsum("ij,j->i", dense, coef) + float(self.model.intercept_[0])
        if hasattr(self.model, "decision_function") and self.kind == "logistic":
            return np.asarray(self.model.decision_function(m), dtype=float)
        return logit(self.proba(m))


class TransformedNative(Scorer):
    """A native booster behind fitted transformers (used with SMOTE's imputer), filled directly when recognised."""

    def __init__(self, inner: Scorer, transform: Any):
        self.inner, self.transform, self.kind = inner, transform, inner.kind
        self.direct_fill: ColumnFill | None = column_fill(transform)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row, after the transformers."""
        m = self.direct_fill.transform(matrix) if self.direct_fill is not None else None
        return self.inner.raw(self.transform.transform(matrix) if m is None else m)


class ScorecardScorer(Scorer):
    """A points scorecard: each row's bins looked up, their points summed, the total read as log-odds."""

    kind = "scorecard"

    def __init__(self, card: Card):
        self.card = card

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row: ``(offset - total points) / factor``."""
        return self.card.raw(matrix)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Each characteristic's points against its training average, in log-odds (exact, additive)."""
        return self.card.contributions(matrix)


class EnsembleScorer(Scorer):
    """Soft voting: the mean of the members' probabilities, as log-odds."""

    kind = "ensemble"

    def __init__(self, members: list[tuple[FeatureBuilder, Scorer]]):
        self.members = members

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds of the averaged member probabilities (matrix from the first member's builder)."""
        probs = [expit(s.raw(matrix)) for _, s in self.members]
        return logit(np.mean(probs, axis=0))


def split_pipeline(pipeline: Any) -> tuple[FeatureBuilder, list[tuple[str, Any]], Any]:
    """A fitted riskcore pipeline's feature step, the fitted transformers after it, and its final estimator.

    Samplers (SMOTE) act only in ``fit`` and are left out of the transformers.
    """
    steps = list(pipeline.steps)
    fb = steps[0][1]
    if not isinstance(fb, FeatureBuilder):
        raise BundleError("a riskcore pipeline starts with a FeatureBuilder step")
    middle = [(n, s) for n, s in steps[1:-1] if not hasattr(s, "fit_resample")]
    return fb, middle, steps[-1][1]


def fitted_scorer(kind: str, pipeline: Any) -> tuple[FeatureBuilder, Scorer] | None:
    """A fitted pipeline's feature step and a :class:`SklearnScorer` of the rest, or None.

    The training run scores its own pipeline thousands of times over (the partial-dependence sweeps,
    the shuffled columns of the permutation importance); for the logistic candidate most of a call
    is scikit-learn's quantile transform, one ``scipy.stats.norm.ppf`` per column. The bundle's scorer
    applies the same numbers directly (:mod:`riskcore.modelling.direct`). None for a kind it has no
    direct path for (the boosters, an ensemble) and for a pipeline of another shape: the caller then
    calls the pipeline itself.
    """
    if kind not in _DIRECT_KINDS or not hasattr(pipeline, "steps"):
        return None
    try:
        fb, middle, model = split_pipeline(pipeline)
    except BundleError:
        return None
    from sklearn.pipeline import Pipeline  # as in write_model: the pipeline class only when there are transformers

    return fb, SklearnScorer(kind, model, Pipeline(middle) if middle else None)


def write_model(folder: Path, kind: str, model: Any, middle: list[tuple[str, Any]]) -> None:
    """Write a fitted final estimator in its own format, and the transformers before it (if any)."""
    import skops.io as sio  # skops and the pipeline class are needed only when a bundle is written
    from sklearn.pipeline import Pipeline

    if kind == "scorecard":
        (folder / "scorecard.json").write_text(json.dumps(strict_json(model.card_.to_dict()), sort_keys=True),
                                               encoding="utf-8")
    elif kind == "lightgbm":
        (folder / "model.txt").write_text(model.booster_.model_to_string(), encoding="utf-8")
    elif kind == "xgboost":
        (folder / "model.json").write_bytes(bytes(model.get_booster().save_raw("json")))
    else:
        sio.dump(model, folder / "model.skops")
    if middle:
        sio.dump(Pipeline(middle), folder / "transform.skops")


def _load_skops(path: Path) -> Any:
    """A skops file, refused when it holds a type neither skops nor :data:`SKOPS_ALLOWLIST` trusts."""
    import skops.io as sio  # skops is needed only for scikit-learn estimators and transformers

    untrusted = set(sio.get_untrusted_types(file=path))
    unknown = sorted(untrusted - set(SKOPS_ALLOWLIST))
    if unknown:
        raise BundleError(f"{path.name} contains types riskcore does not load: {', '.join(unknown)}")
    return sio.load(path, trusted=sorted(untrusted))


def read_scorer(folder: Path, kind: str) -> Scorer:
    """The scorer of the model files :func:`write_model` wrote to ``folder`` for a model of ``kind``."""
    transform = _load_skops(folder / "transform.skops") if (folder / "transform.skops").exists() else None
    scorer: Scorer
    if kind == "scorecard":
        try:
            return ScorecardScorer(Card.from_dict(json.loads((folder / "scorecard.json").read_text(encoding="utf-8"))))
        except (ValueError, KeyError, TypeError) as err:
            raise BundleError(f"the bundle's scorecard.json cannot be read ({err}); retrain the model") from None
    if kind == "lightgbm":
        scorer = LightGBMScorer((folder / "model.txt").read_text(encoding="utf-8"))
    elif kind == "xgboost":
        scorer = XGBoostScorer((folder / "model.json").read_bytes())
    else:
        return SklearnScorer(kind, _load_skops(folder / "model.skops"), transform)
    return TransformedNative(scorer, transform) if transform is not None else scorer
