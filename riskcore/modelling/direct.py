"""Fitted scikit-learn models applied directly with NumPy: the library's numbers without its per-call cost.

Scoring one company (the API's hot path) through scikit-learn pays for input validation,
estimator tags and, in the logistic candidate's preprocessing, one ``scipy.stats.norm.ppf``
per column: about 16 ms for a single row. Tree ensembles pay per tree: a joblib task per
tree of a random forest, an OpenMP region per tree of histogram boosting. The classes
here read a fitted model's numbers once, when a bundle is loaded, and apply them to
the whole block of rows in a few NumPy operations:

* :class:`LogisticPrep` — the logistic candidate's ``ColumnTransformer``
  (:func:`riskcore.modelling.models.make_pipeline`): median imputation and its missing
  indicators, ``QuantileTransformer`` to a normal distribution (``np.interp`` in both
  directions as scikit-learn's ``_transform_col`` does it, its bounds, one
  ``scipy.special.ndtri`` on the block, its clipping), the constant imputation and one-hot
  codes of the categories;
* :class:`TreePath` — a random forest's mean leaf probabilities, or histogram boosting's
  baseline plus its trees' leaf values, every tree walked at once;
* :class:`ColumnFill` — the steps between the features and a tree model: the median
  imputation before oversampling (``smote=True``) and
  :class:`~riskcore.modelling.models.EmptyColumnFiller`.

Each gives the same bits as the library (the tests hold them to it), because it does the
same floating-point operations in the same order: the interpolation is ``np.interp``'s
own arithmetic (done here on every column at once for a few rows, by ``np.interp`` itself a
column at a time for more), the trees' sums are sequential like the library's accumulations,
the output is row-major like the library's (the logistic score's row-by-row dot product
follows the layout). Each is
built by a function that returns None for any model it does not recognise, and checks
what it built against the library on probe rows made from the model's own split points
and quantiles (values on, beside and beyond them, and missing values) before it is used;
at scoring time a path returns None for input it leaves to the library (an infinite
value the library refuses, a wrong number of columns, a large block for the trees, whose
compiled loops are faster there). The callers then make the library call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import special

from riskcore.modelling.models import EmptyColumnFiller

__all__ = ["ColumnFill", "LogisticPrep", "TreePath", "column_fill", "logistic_prep", "tree_path"]

# rows up to which the trees are walked here; above it the library's compiled (and threaded) loops win
TREE_ROWS = 256
_PROBE_ROWS = 48
# values × points up to which a block is compared with every point at once (else NumPy interpolates)
_COMPARE_CELLS = 1 << 18


def _interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x[:, j], xp[j], fp[j])`` for every column ``j`` of ``x`` at once, with NumPy's arithmetic.

    ``xp`` and ``fp`` are (columns × points), each ``xp`` row non-decreasing. The index is the last
    point at or below the value (where NumPy's binary search ends), then NumPy's cases in its order:
    below the first point the first value, at or after the last the last value, on a point that
    point's value, otherwise ``slope * (x - x0) + y0``, retried from the right end when NaN. Every
    value is compared with every point of its column: meant for a few rows.
    """
    k = x.shape[1]
    m = xp.shape[1]
    j = (xp[None, :, :] <= x[:, :, None]).sum(axis=2) - 1  # the last point at or below: count them
    at = np.arange(k) * m + np.clip(j, 0, m - 2)
    xpf, fpf = xp.ravel(), fp.ravel()
    x0, x1, y0, y1 = xpf[at], xpf[at + 1], fpf[at], fpf[at + 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slope = (y1 - y0) / (x1 - x0)
        out = slope * (x - x0) + y0
        retry = np.isnan(out)
        if retry.any():
            again = slope * (x - x1) + y1
            again = np.where(np.isnan(again) & (y0 == y1), y0, again)
            out = np.where(retry, again, out)
    out = np.where(x0 == x, y0, out)
    out = np.where(j >= m - 1, fp[:, m - 1], out)
    out = np.where(j < 0, fp[:, 0], out)
    return np.where(np.isnan(x), x, out)


class LogisticPrep:
    """The logistic candidate's fitted ``ColumnTransformer`` as arrays (build it with :func:`logistic_prep`).

    Numeric block: ``X[:, numeric]``, missing values filled with ``fill``, then the missing
    indicators of ``indicated`` (those columns' positions in the block) appended, then the
    quantile transform. Categorical block: ``X[:, categorical]``, missing filled with
    ``category_fill``, then one 1.0 per known category (``category_values`` of input column
    ``category_source``), all zeros for an unknown one.
    """

    def __init__(self, *, n_features: int, numeric: np.ndarray, fill: np.ndarray, kept: np.ndarray,
                 indicated: np.ndarray, quantiles: np.ndarray, references: np.ndarray, clip: tuple[float, float],
                 categorical: np.ndarray, category_fill: np.ndarray, category_source: np.ndarray,
                 category_values: np.ndarray):
        self.n_features = n_features
        self.numeric, self.fill, self.kept, self.indicated = numeric, fill, kept, indicated
        self.quantiles = np.ascontiguousarray(quantiles.T)  # columns × points
        k = self.quantiles.shape[0]
        # both of scikit-learn's interpolations in one block: x on (quantiles, references), then -x on the
        # reversed, negated points
        self.points = np.vstack([self.quantiles, -self.quantiles[:, ::-1]])
        self.values = np.vstack([np.tile(references, (k, 1)), np.tile(-references[::-1], (k, 1))])
        self.clip = clip
        self.categorical, self.category_fill = categorical, category_fill
        self.category_source, self.category_values = category_source, category_values

    def transform(self, X: np.ndarray) -> np.ndarray | None:
        """The transformed block, or None when ``X`` is the library's (infinities, not float64, other widths)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features or X.dtype != np.float64:  # float32 stays float32 there
            return None
        num = X[:, self.numeric]
        cat = X[:, self.categorical]
        if np.isinf(num).any() or np.isinf(cat).any():
            return None
        missing = np.isnan(num)
        np.copyto(num, self.fill, where=missing)  # num is a copy already (columns picked by index)
        block = np.empty((len(X), len(self.kept) + len(self.indicated)))
        block[:, :len(self.kept)] = num if len(self.kept) == num.shape[1] else num[:, self.kept]
        block[:, len(self.kept):] = missing[:, self.indicated]
        # row-major, as the library's output: the logistic score's row-by-row dot product follows the layout
        del num
        out = np.empty((len(X), block.shape[1] + len(self.category_values)))
        self._quantile_normal(block, out[:, :block.shape[1]])
        out[:, block.shape[1]:] = self._one_hot(cat)
        return out

    def _quantile_normal(self, x: np.ndarray, u: np.ndarray) -> None:
        """``QuantileTransformer(output_distribution="normal").transform`` of every column at once, into ``u``."""
        q = self.quantiles
        with np.errstate(invalid="ignore"):
            lower = x - 1e-7 < q[:, 0]  # scikit-learn's BOUNDS_THRESHOLD, before the interpolation
            upper = x + 1e-7 > q[:, -1]
        n, k = x.shape
        if n * self.points.size <= _COMPARE_CELLS:  # a few rows: every value against every point at once
            both = _interp(np.hstack([x, -x]), self.points, self.values)
            u[:] = 0.5 * (both[:, :k] - both[:, k:])
        else:  # many rows: NumPy's interpolation itself, a column at a time, the loop's cost spread thin
            for j in range(k):
                u[:, j] = 0.5 * (np.interp(x[:, j], q[j], self.values[j])
                                 - np.interp(-x[:, j], self.points[k + j], self.values[k + j]))
        u[upper] = 1.0
        u[lower] = 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            special.ndtri(u, out=u)
        np.clip(u, self.clip[0], self.clip[1], out=u)

    def _one_hot(self, cat: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(cat), self.category_fill, cat)
        return (filled[:, self.category_source] == self.category_values).astype(np.float64)


def _steps(pipeline: Any) -> list[Any] | None:
    """The fitted steps of a scikit-learn ``Pipeline`` (exactly that class), or None."""
    from sklearn.pipeline import Pipeline  # scikit-learn's classes are loaded only with a scikit-learn model

    if type(pipeline) is not Pipeline:
        return None
    return [step for _, step in pipeline.steps]


def _imputer(step: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A fitted ``SimpleImputer`` of NaN: (fill values, kept columns, indicated columns), or None."""
    from sklearn.impute import MissingIndicator, SimpleImputer

    if type(step) is not SimpleImputer or not (isinstance(nan := step.missing_values, float) and np.isnan(nan)):
        return None
    stats = np.asarray(step.statistics_)
    if stats.dtype.kind not in "fiO" or stats.ndim != 1:  # a constant's statistics are kept as objects
        return None
    fill = stats.astype(np.float64)  # what the imputer casts them to for a float matrix
    kept = np.arange(len(fill)) if step.keep_empty_features else np.flatnonzero(~np.isnan(fill))
    if np.isnan(fill[kept]).any():
        return None
    if not step.add_indicator:
        return fill, kept, np.zeros(0, dtype=np.intp)
    ind = step.indicator_
    if type(ind) is not MissingIndicator or ind.features != "missing-only" or ind.sparse not in ("auto", False):
        return None
    return fill, kept, np.asarray(ind.features_, dtype=np.intp)


def _columns(columns: Any, n_features: int) -> np.ndarray | None:
    idx = np.asarray(columns)
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= n_features)):
        return None
    return idx.astype(np.intp)


def _logistic_parts(transform: Any) -> LogisticPrep | None:
    """The arrays of a recognised logistic preprocessing, or None."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

    steps = _steps(transform)
    if steps is None or len(steps) != 1 or type(steps[0]) is not ColumnTransformer:
        return None
    ct = steps[0]
    if ct.transformer_weights is not None:
        return None
    n_features = int(ct.n_features_in_)
    num = cat = None
    for name, trans, columns in ct.transformers_:
        if name == "remainder" and trans == "drop":
            continue
        cols = _columns(columns, n_features)
        inner = _steps(trans)
        if cols is None or inner is None or len(inner) != 2:
            return None
        if name == "num" and num is None and type(inner[1]) is QuantileTransformer:
            num = (cols, inner)
        elif name == "cat" and cat is None and type(inner[1]) is OneHotEncoder:
            cat = (cols, inner)
        else:
            return None
    if num is None:
        return None
    numeric, (imputer, qt) = num
    imputed = _imputer(imputer)
    if imputed is None or qt.output_distribution != "normal" or qt.ignore_implicit_zeros:
        return None
    fill, kept, indicated = imputed
    quantiles = np.asarray(qt.quantiles_, dtype=np.float64)
    references = np.asarray(qt.references_, dtype=np.float64)
    if (quantiles.ndim != 2 or quantiles.shape != (len(references), len(kept) + len(indicated))
            or len(references) < 2 or not np.isfinite(quantiles).all() or (np.diff(quantiles, axis=0) < 0).any()):
        return None
    from scipy import stats  # the clipping bounds, once, exactly as scikit-learn computes them

    bound = 1e-7 - np.spacing(1)
    clip = (float(stats.norm.ppf(bound)), float(stats.norm.ppf(1 - bound)))
    categorical = np.zeros(0, dtype=np.intp)
    category_fill = np.zeros(0)
    source: list[int] = []
    values: list[float] = []
    if cat is not None:
        categorical, (cat_imputer, onehot) = cat
        filled = _imputer(cat_imputer)
        if (filled is None or len(filled[1]) != len(categorical) or len(filled[2])
                or len(onehot.categories_) != len(categorical) or onehot.drop is not None
                or np.dtype(onehot.dtype) != np.float64
                or onehot.handle_unknown != "ignore" or onehot.min_frequency is not None
                or onehot.max_categories is not None or onehot.sparse_output):
            return None
        category_fill = filled[0]
        for i, levels in enumerate(onehot.categories_):
            lv = np.asarray(levels)
            if lv.dtype.kind != "f" or np.isnan(lv).any():
                return None
            source.extend([i] * len(lv))
            values.extend(float(v) for v in lv)
    return LogisticPrep(n_features=n_features, numeric=numeric, fill=fill, kept=kept, indicated=indicated,
                        quantiles=quantiles, references=references, clip=clip, categorical=categorical,
                        category_fill=category_fill, category_source=np.asarray(source, dtype=np.intp),
                        category_values=np.asarray(values, dtype=np.float64))


def _probe(anchors: list[np.ndarray], n_features: int, seed: int = 0) -> np.ndarray:
    """Rows to check a path on: each column's anchors, beside them, far beyond them, and missing."""
    rng = np.random.default_rng(seed)
    out = np.empty((_PROBE_ROWS, n_features))
    for c in range(n_features):
        a = anchors[c] if c < len(anchors) and len(anchors[c]) else np.zeros(1)
        kind = rng.integers(0, 5, _PROBE_ROWS)
        a = a[np.isfinite(a)] if np.isfinite(a).any() else np.zeros(1)
        picked = rng.choice(a, _PROBE_ROWS)
        jitter = (np.abs(picked) + 1.0) * 10.0 ** rng.uniform(-9, -1, _PROBE_ROWS) * rng.choice([-1, 1], _PROBE_ROWS)
        far = np.where(rng.random(_PROBE_ROWS) < 0.5, a.min() - 1e6, a.max() + 1e6)
        out[:, c] = np.select([kind == 0, kind == 1, kind == 2, kind == 3], [picked, picked + jitter, far, np.nan],
                              picked - jitter)
    out[0] = np.nan  # a company with no value at all
    return out


def _agrees(fast: Callable[[np.ndarray], np.ndarray | None], library: Callable[[np.ndarray], np.ndarray],
            probe: np.ndarray) -> bool:
    """True when the path gives the library's bits on the probe rows, whole and one row at a time."""
    try:
        expected = np.asarray(library(probe), dtype=np.float64)
        whole = fast(probe)
        one = [fast(probe[i:i + 1]) for i in range(0, len(probe), 7)]
    except (ValueError, TypeError, IndexError):
        return False
    if whole is None or any(o is None for o in one) or whole.shape != expected.shape:
        return False
    rows = np.concatenate([o for o in one if o is not None])
    return bool(np.array_equal(whole, expected, equal_nan=True)
                and np.array_equal(rows, expected[::7], equal_nan=True))


def logistic_prep(transform: Any) -> LogisticPrep | None:
    """The direct path of a fitted logistic preprocessing, or None when its shape is not recognised.

    Recognised: a ``Pipeline`` of one ``ColumnTransformer`` whose ``num`` part is
    ``SimpleImputer`` (of NaN, with missing-only indicators) then
    ``QuantileTransformer(output_distribution="normal")``, whose optional ``cat`` part is
    ``SimpleImputer`` then a dense ``OneHotEncoder(handle_unknown="ignore")`` without dropped or
    infrequent categories, and which drops the other columns: what
    :func:`~riskcore.modelling.models.make_pipeline` fits for ``logistic``. The path must give the
    library's bits on probe rows, else None.
    """
    try:
        prep = _logistic_parts(transform)
    except (AttributeError, TypeError, ValueError):
        return None
    if prep is None:
        return None
    anchors = [np.zeros(0)] * prep.n_features
    for b, kept in enumerate(prep.kept):
        anchors[prep.numeric[kept]] = prep.quantiles[b]
    for i, c in enumerate(prep.categorical):
        anchors[c] = np.append(prep.category_values[prep.category_source == i], 99.0)
    probe = _probe(anchors, prep.n_features)
    return prep if _agrees(prep.transform, transform.transform, probe) else None


class TreePath:
    """Every tree of a fitted ensemble walked at once (build it with :func:`tree_path`).

    Nodes of all trees in one set of arrays; a leaf points to itself, so ``depth`` steps take
    every row of every tree to its leaf. ``leaf`` holds each node's leaf value (the class-1
    fraction of a forest's tree, a boosted tree's raw value). ``forest``: the class-1
    probability is the sum over trees divided by their number; otherwise the raw score is
    ``start`` plus the sum and the probability its logistic function. Sums run tree by tree
    in order, as the libraries accumulate them.
    """

    def __init__(self, *, n_features: int, feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
                 right: np.ndarray, missing_left: np.ndarray, leaf: np.ndarray, roots: np.ndarray, depth: int,
                 dtype: type, forest: bool, start: float = 0.0, allow_nan: bool = True):
        self.n_features, self.feature, self.threshold = n_features, feature, threshold
        self.left, self.right, self.missing_left, self.leaf = left, right, missing_left, leaf
        self.roots, self.depth, self.dtype = roots, depth, dtype
        self.forest, self.start, self.allow_nan = forest, start, allow_nan

    def proba(self, X: np.ndarray) -> np.ndarray | None:
        """The class-1 probability the library's ``predict_proba`` gives, or None to leave ``X`` to it."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features or X.dtype.kind not in "fiub" or len(X) > TREE_ROWS:
            return None
        x: np.ndarray = np.ascontiguousarray(X, dtype=self.dtype)
        with np.errstate(over="ignore"):
            bad = np.isinf(x).any() if self.forest else False  # a forest refuses infinities (also float32 overflow)
        missing = np.isnan(x)
        has_missing = bool(missing.any())
        if bad or (has_missing and not self.allow_nan):
            return None
        n = len(x)
        flat = x.ravel()
        offsets = (np.arange(n) * self.n_features)[:, None]
        node = np.broadcast_to(self.roots, (n, len(self.roots)))
        for _ in range(self.depth):
            value = flat[offsets + self.feature[node]]
            go_left = value <= self.threshold[node]
            if has_missing:
                go_left = np.where(np.isnan(value), self.missing_left[node], go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.leaf[node]
        if self.forest:
            total = np.cumsum(leaves, axis=1)[:, -1] if leaves.shape[1] else np.zeros(n)
            return total / len(self.roots)
        raw = np.cumsum(np.column_stack([np.full(n, self.start), leaves]), axis=1)[:, -1]
        out: np.ndarray = special.expit(raw)
        return out


def _joined(trees: Sequence[tuple[Any, ...]]) -> tuple[np.ndarray, ...]:
    """(feature, threshold, left, right, missing_left, leaf, roots) of many trees in one set of arrays."""
    parts: list[list[np.ndarray]] = [[] for _ in range(6)]
    roots = []
    offset = 0
    for feature, threshold, left, right, missing_left, leaf, is_leaf in trees:
        own = np.arange(len(feature))
        parts[0].append(np.where(is_leaf, 0, feature).astype(np.intp))
        parts[1].append(np.where(is_leaf, 0.0, threshold).astype(np.float64))
        parts[2].append(np.where(is_leaf, own, left).astype(np.intp) + offset)
        parts[3].append(np.where(is_leaf, own, right).astype(np.intp) + offset)
        parts[4].append(np.asarray(missing_left).astype(bool))
        parts[5].append(np.asarray(leaf, dtype=np.float64))
        roots.append(offset)
        offset += len(feature)
    return (*(np.concatenate(p) for p in parts), np.asarray(roots, dtype=np.intp))


def _depth(left: np.ndarray, right: np.ndarray, roots: np.ndarray) -> int:
    """Steps from the roots to the deepest leaf (a leaf points to itself)."""
    node = roots
    for step in range(10_000):
        nxt = np.concatenate([left[node], right[node]])
        moved = nxt[nxt != np.concatenate([node, node])]
        if not len(moved):
            return step
        node = np.unique(moved)
    raise ValueError("a tree deeper than 10,000 levels")


def _forest(model: Any) -> TreePath | None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.utils import get_tags

    if type(model) is not RandomForestClassifier or model.n_outputs_ != 1 or list(model.classes_) != [0, 1]:
        return None
    trees = []
    for e in model.estimators_:
        t = e.tree_
        if type(e) is not DecisionTreeClassifier or t.n_outputs != 1 or t.value.shape[2] != 2:
            return None
        is_leaf = t.children_left == -1
        trees.append((t.feature, t.threshold, t.children_left, t.children_right, t.missing_go_to_left,
                      t.value[:, 0, 1], is_leaf))
    feature, threshold, left, right, missing_left, leaf, roots = _joined(trees)
    return TreePath(n_features=int(model.n_features_in_), feature=feature, threshold=threshold, left=left,
                    right=right, missing_left=missing_left, leaf=leaf, roots=roots, depth=_depth(left, right, roots),
                    dtype=np.float32, forest=True, allow_nan=bool(get_tags(model).input_tags.allow_nan))


def _boosted(model: Any) -> TreePath | None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    if (type(model) is not HistGradientBoostingClassifier or model.n_trees_per_iteration_ != 1
            or list(model.classes_) != [0, 1] or getattr(model, "_preprocessor", None) is not None):
        return None
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64)
    if baseline.shape != (1, 1):
        return None
    trees = []
    for iteration in model._predictors:
        (predictor,) = iteration
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            return None
        trees.append((nodes["feature_idx"], nodes["num_threshold"], nodes["left"], nodes["right"],
                      nodes["missing_go_to_left"], nodes["value"], nodes["is_leaf"].astype(bool)))
    feature, threshold, left, right, missing_left, leaf, roots = _joined(trees)
    return TreePath(n_features=int(model.n_features_in_), feature=feature, threshold=threshold, left=left,
                    right=right, missing_left=missing_left, leaf=leaf, roots=roots, depth=_depth(left, right, roots),
                    dtype=np.float64, forest=False, start=float(baseline[0, 0]))


def tree_path(model: Any) -> TreePath | None:
    """The direct path of a fitted random forest or histogram boosting classifier, or None.

    Recognised: scikit-learn's ``RandomForestClassifier`` of plain decision trees and its
    ``HistGradientBoostingClassifier`` without categorical splits, both for classes 0 and 1.
    The path must give the library's class-1 probabilities, bit for bit, on probe rows.
    """
    try:
        path = _forest(model) or _boosted(model)
    except (AttributeError, TypeError, ValueError, KeyError):
        return None
    if path is None:
        return None
    anchors = [path.threshold[path.feature == c] for c in range(path.n_features)]
    probe = _probe(anchors, path.n_features)
    if path.forest:
        probe = probe.astype(np.float32).astype(np.float64)  # values a forest sees unchanged
    return path if _agrees(path.proba, lambda X: model.predict_proba(X)[:, 1], probe) else None


class ColumnFill:
    """Missing values filled and empty columns zeroed, step by step (build it with :func:`column_fill`).

    Each step is ``("impute", fill, kept)``: NaN replaced by the column's ``fill``, then the
    ``kept`` columns (a ``SimpleImputer`` without indicators, which refuses infinities), or
    ``("zero", columns)``: those columns set to 0 (:class:`~riskcore.modelling.models.EmptyColumnFiller`).
    """

    def __init__(self, n_features: int, steps: list[tuple[Any, ...]]):
        self.n_features, self.steps = n_features, steps

    def transform(self, X: np.ndarray) -> np.ndarray | None:
        """The filled matrix, or None when ``X`` is the library's (infinities, not float64, other widths)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features or X.dtype != np.float64:
            return None
        x = X.copy()
        for step in self.steps:
            if step[0] == "zero":
                x[:, step[1]] = 0.0
                continue
            if len(step[1]) != x.shape[1] or np.isinf(x).any():
                return None
            np.copyto(x, step[1], where=np.isnan(x))
            if len(step[2]) != x.shape[1]:
                x = np.ascontiguousarray(x[:, step[2]])
        return x


def _fill_steps(transform: Any, n_features: int | None) -> ColumnFill | None:
    steps = _steps(transform)
    if not steps:
        return None
    width = getattr(steps[0], "n_features_in_", n_features)
    if width is None or (n_features is not None and width != n_features):
        return None
    start = width = int(width)
    ops: list[tuple[Any, ...]] = []
    for step in steps:
        if type(step) is EmptyColumnFiller:
            empty = np.asarray(step.empty_, dtype=np.intp)
            if empty.size and (empty.min() < 0 or empty.max() >= width):
                return None
            ops.append(("zero", empty))
            continue
        imputed = _imputer(step)
        if imputed is None or len(imputed[2]) or len(imputed[0]) != width:
            return None
        ops.append(("impute", imputed[0], imputed[1]))
        width = len(imputed[1])
    return ColumnFill(start, ops)


def column_fill(transform: Any, n_features: int | None = None) -> ColumnFill | None:
    """The direct path of fitted steps that fill columns, or None when they are not only such steps.

    Recognised: a ``Pipeline`` of ``SimpleImputer`` of NaN without missing indicators and
    :class:`~riskcore.modelling.models.EmptyColumnFiller`, in any order: what
    :func:`~riskcore.modelling.models.make_pipeline` puts between the features and a tree model.
    ``n_features`` is the width of the matrix, when the first step does not record it (the
    filler does not). The path must give the library's bits on probe rows, else None.
    """
    try:
        fill = _fill_steps(transform, n_features)
    except (AttributeError, TypeError, ValueError):
        return None
    if fill is None:
        return None
    anchors = [np.zeros(0)] * fill.n_features
    first = fill.steps[0]
    if first[0] == "impute":
        anchors = [np.array([v]) if np.isfinite(v) else np.zeros(0) for v in first[1]]
    probe = _probe(anchors, fill.n_features)
    return fill if _agrees(fill.transform, transform.transform, probe) else None
