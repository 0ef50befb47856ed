"""Engineered features.

Two kinds, both declared in the spec (family ``engineered``) with a :class:`~riskcore.data.schema.Recipe`:

* **panel** features (year-on-year deltas, rolling volatility) look only at a
  company's own earlier periods. :func:`add_panel_features` computes them on a
  whole panel before it is split — that cannot leak, because a row's value never
  depends on a later row (a property test holds it to that) — and again at
  scoring time on whatever history the scored file holds (missing when none).
* **row** features (interactions, the financial-health composite) are computed by
  :class:`FeatureBuilder`, a scikit-learn transformer fitted inside the model
  pipeline, so the composite's centre and spread come from training rows only.

:class:`FeatureBuilder` also encodes categorical columns as integer codes (unknown
categories become missing) and returns one float matrix whose layout is fixed by
the spec (:func:`feature_layout`), which every model and the compiled scorer share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from riskcore.data.schema import DatasetSpec, FeatureSpec

__all__ = ["FeatureBuilder", "FeatureLayout", "add_panel_features", "feature_layout", "iter_panel_arrays",
           "panel_arrays", "signed_log"]


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: tames heavy tails, keeps order and sign."""
    return np.sign(x) * np.log1p(np.abs(x))


# ---------------------------------------------------------------------------
# panel features
# ---------------------------------------------------------------------------

def _rolling_std(x: np.ndarray, run_start: np.ndarray, window: int) -> np.ndarray:
    """Sample standard deviation over the last ``window`` rows of each run, ignoring NaN (≥ 2 values).

    Vectorised as ``window`` shifted passes (windows are a few periods long), each
    row's sums taken over its own window only, centred on its run's first value, so
    a row's result depends on its company's rows and nothing else — the same bits
    whether the company is scored alone, in a chunk or in the whole file. Equal to
    ``groupby(run).rolling(window, min_periods=2).std()``.
    """
    n = len(x)
    finite = np.isfinite(x)
    shift = np.where(finite[run_start], x[run_start], 0.0)  # each row's centre: its run's first value
    idx = np.arange(n)

    def offset(k: int) -> tuple[np.ndarray, np.ndarray]:
        """The row ``k`` places back and whether it counts (same run, a number); recomputed, not kept."""
        src = np.maximum(idx - k, 0)
        return src, (idx - k >= run_start) & finite[src]

    cnt = np.zeros(n)
    s1 = np.zeros(n)
    for k in range(window):
        src, use = offset(k)
        cnt += use
        s1 += np.where(use, x[src] - shift, 0.0)
    mean = np.divide(s1, cnt, out=np.zeros(n), where=cnt > 0)
    del s1
    s2 = np.zeros(n)
    for k in range(window):
        src, use = offset(k)
        d = np.where(use, x[src] - shift - mean, 0.0)
        s2 += d * d
    with np.errstate(invalid="ignore", divide="ignore"):
        var = s2 / (cnt - 1)
    return np.where(cnt >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)


def panel_arrays(codes: np.ndarray, times: np.ndarray, inputs: dict[str, np.ndarray],
                 spec: DatasetSpec) -> dict[str, np.ndarray]:
    """The spec's panel features from NumPy columns: company codes, periods and the recipes' inputs.

    The core of :func:`add_panel_features`, for callers that hold columns rather than a
    frame (scoring a file in chunks). ``codes`` numbers the companies (any integers,
    -1 for a row that belongs to no history), ``times`` the periods as numbers; rows of
    one company are ordered by period. A row's result depends only on its own
    company's rows.
    """
    return dict(iter_panel_arrays(codes, times, inputs, spec))


def iter_panel_arrays(codes: np.ndarray, times: np.ndarray, inputs: dict[str, np.ndarray],
                      spec: DatasetSpec) -> Iterator[tuple[str, np.ndarray]]:
    """:func:`panel_arrays` one feature at a time (a caller with millions of rows keeps one in memory)."""
    n = len(codes)
    order = np.lexsort((times, codes))
    c = codes[order]
    t = times[order]
    same_company = np.r_[False, c[1:] == c[:-1]] & (c >= 0)
    consecutive = same_company & (np.r_[np.nan, np.diff(t)] == 1)
    # run starts: a new company or a gap in periods resets the history
    starts = ~consecutive
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, dtype=np.int64)
    del c, t, same_company
    for f in spec.panel_features:
        if f.recipe is None:
            raise ValueError(f"panel feature {f.name!r} has no recipe")
        col = f.recipe.inputs[0]
        if col not in inputs:
            yield f.name, np.full(n, np.nan)
            continue
        x = np.asarray(inputs[col], dtype=float)[order]
        if f.recipe.op == "delta":
            prev = np.r_[np.nan, x[:-1]]
            values = np.where(consecutive, x - prev, np.nan)
        else:
            # in blocks cut where a run starts (a window never looks past its run), so the temporary arrays of a
            # few million rows stay the size of a block; every row's arithmetic is the same
            values = np.empty(n)
            for a, b in _blocks(run_start):
                values[a:b] = _rolling_std(x[a:b], run_start[a:b] - a, max(int(f.recipe.window), 2))
        result = np.empty(n)
        result[order] = values
        yield f.name, result


def _blocks(run_start: np.ndarray, size: int = 500_000) -> list[tuple[int, int]]:
    """``(start, stop)`` pairs covering the rows, each of about ``size`` rows and starting where a run starts."""
    n = len(run_start)
    if n <= size:
        return [(0, n)]
    starts = np.flatnonzero(run_start == np.arange(n))
    cuts = np.unique(starts[np.searchsorted(starts, np.arange(size, n, size))
                            .clip(max=len(starts) - 1)])
    edges = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def add_panel_features(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Add the spec's panel features (deltas, rolling standard deviations) to a frame.

    Each company's rows are ordered by the time column. A delta is the change
    since the company's previous period when that period is exactly one step
    earlier (one year, for integer years), else missing. A rolling standard
    deviation uses the current and earlier periods within the window and needs
    at least two of them. Without id or time columns every panel feature is missing.

    Returns a new frame; the input is not modified.
    """
    panel = spec.panel_features
    out = frame.copy()
    if not panel:
        return out
    if not (spec.id and spec.time and spec.id in frame and spec.time in frame) or len(frame) == 0:
        for f in panel:
            out[f.name] = np.nan
        return out
    t = frame[spec.time]
    tnum = (t.dt.year if pd.api.types.is_datetime64_any_dtype(t) else pd.to_numeric(t, errors="coerce"))
    codes = pd.factorize(frame[spec.id].astype(str).to_numpy(dtype=object))[0]
    inputs = {f.recipe.inputs[0]: pd.to_numeric(frame[f.recipe.inputs[0]], errors="coerce").to_numpy(dtype=float)
              for f in panel if f.recipe is not None and f.recipe.inputs[0] in frame}
    for name, values in panel_arrays(codes, tnum.to_numpy(dtype=float), inputs, spec).items():
        out[name] = values
    return out


def with_history_features(history: pd.DataFrame, later: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """``later`` with its panel features as columns, computed on the companies' full history.

    A portfolio exported a year after training holds only the new years, so a
    company's first new row has no earlier row in the file to take a delta or a
    volatility from. Lenders' systems export such year-on-year figures as columns;
    scoring uses a column's value where the file's own history gives none (see
    :func:`riskcore.serving.scoring.score_frame`). This writes them for the demo's
    later years from the training years that precede them.
    """
    cols = [c for c in dict.fromkeys([spec.id, spec.time, *(f.recipe.inputs[0] for f in spec.panel_features
                                                             if f.recipe is not None)]) if c and c in later]
    both = pd.concat([history[cols], later[cols]], ignore_index=True)
    panel = add_panel_features(both, spec).iloc[len(history):]
    return later.assign(**{f.name: panel[f.name].round(6).to_numpy() for f in spec.panel_features})


# ---------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureLayout:
    """Columns of the matrix :class:`FeatureBuilder` produces, in order.

    ``numeric``: raw numeric and panel features (as given); ``categorical``:
    integer codes; ``engineered``: row features. ``names`` concatenates them.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    engineered: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """All output column names, in matrix order."""
        return self.numeric + self.categorical + self.engineered

    @property
    def categorical_indices(self) -> list[int]:
        """Matrix positions of the categorical codes."""
        start = len(self.numeric)
        return list(range(start, start + len(self.categorical)))

    @property
    def numeric_indices(self) -> list[int]:
        """Matrix positions of every non-categorical column."""
        cat = set(self.categorical_indices)
        return [i for i in range(len(self.names)) if i not in cat]


def feature_layout(spec: DatasetSpec) -> FeatureLayout:
    """The output layout of :class:`FeatureBuilder` for a spec (known before fitting)."""
    numeric = tuple(f.name for f in spec.features if f.kind == "numeric")
    numeric += tuple(f.name for f in spec.panel_features)
    categorical = tuple(f.name for f in spec.features if f.kind == "categorical")
    engineered = tuple(f.name for f in spec.row_features
                       if f.recipe is not None and set(f.recipe.inputs) <= set(spec.feature_names))
    return FeatureLayout(numeric, categorical, engineered)


# ---------------------------------------------------------------------------
# the transformer
# ---------------------------------------------------------------------------

class FeatureBuilder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Turn a portfolio frame into the model matrix: numbers, category codes, row features.

    Parameters
    ----------
    spec : the dataset spec; the output layout is :func:`feature_layout` of it.

    Attributes
    ----------
    layout_ : FeatureLayout
    categories_ : dict of categorical column → list of categories (code = position)
    center_, scale_ : dict of composite feature → per-input median and IQR (training rows)
    """

    def __init__(self, spec: DatasetSpec):
        self.spec = spec

    # -- fitting -------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureBuilder:
        """Learn category lists and the composite's centre and spread from ``X``."""
        layout = feature_layout(self.spec)
        self.layout_ = layout
        self.categories_: dict[str, list[str]] = {}
        for name in layout.categorical:
            f = self.spec.feature(name)
            if f.categories:
                cats = list(f.categories)
            else:
                cats = sorted(X[name].dropna().astype(str).unique().tolist()) if name in X else []
            self.categories_[name] = cats
        self.center_: dict[str, list[float]] = {}
        self.scale_: dict[str, list[float]] = {}
        for f in self.spec.row_features:
            if f.name not in layout.engineered or f.recipe is None or f.recipe.op != "composite":
                continue
            centers, scales = [], []
            for inp in f.recipe.inputs:
                x = self._input(X, inp, f)
                x = x[np.isfinite(x)]
                if len(x) == 0:
                    centers.append(0.0)
                    scales.append(1.0)
                    continue
                q1, med, q3 = np.percentile(x, [25, 50, 75])
                centers.append(float(med))
                scales.append(float(q3 - q1) if q3 > q1 else float(np.std(x) or 1.0))
            self.center_[f.name] = centers
            self.scale_[f.name] = scales
        self.n_features_out_ = len(layout.names)
        return self

    @staticmethod
    def _input(X: pd.DataFrame, name: str, f: FeatureSpec) -> np.ndarray:
        if name not in X:
            return np.full(len(X), np.nan)
        x = pd.to_numeric(X[name], errors="coerce").to_numpy(dtype=float)
        if f.recipe is not None and name in f.recipe.log_inputs:
            x = signed_log(x)
        return x

    # -- transforming --------------------------------------------------------
    def encode(self, values: pd.Series | np.ndarray | list[Any], name: str) -> np.ndarray:
        """Integer codes of one categorical column (unknown or missing → NaN)."""
        check_is_fitted(self, "categories_")
        target = pd.Index(np.asarray(values, dtype=object), dtype=object)  # what get_indexer builds anyway
        codes = pd.Index(self.categories_[name], dtype=object).get_indexer(target)
        return np.where(codes < 0, np.nan, codes.astype(float))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The model matrix of ``X`` (rows × ``len(layout_.names)``), float64."""
        check_is_fitted(self, "layout_")
        layout = self.layout_
        n = len(X)
        numeric = np.full((n, len(layout.numeric)), np.nan)
        present = [i for i, c in enumerate(layout.numeric) if c in X]
        if present:
            cols = [layout.numeric[i] for i in present]
            block = X[cols]
            try:
                numeric[:, present] = block.to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                numeric[:, present] = block.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        cats = np.full((n, len(layout.categorical)), np.nan)
        for j, name in enumerate(layout.categorical):
            if name in X:
                cats[:, j] = self.encode(X[name].to_numpy(dtype=object), name)
        return self.transform_arrays(numeric, cats)

    def transform_arrays(self, numeric: np.ndarray, cats: np.ndarray) -> np.ndarray:
        """The model matrix from a numeric block (layout order) and category codes.

        The scoring hot path calls this directly, skipping pandas.
        """
        check_is_fitted(self, "layout_")
        layout = self.layout_
        index = {name: i for i, name in enumerate(layout.numeric)}
        eng = np.empty((numeric.shape[0], len(layout.engineered)))
        for j, name in enumerate(layout.engineered):
            f = self.spec.feature(name)
            r = f.recipe
            assert r is not None
            cols = []
            for inp in r.inputs:
                x = numeric[:, index[inp]]
                cols.append(signed_log(x) if inp in r.log_inputs else x)
            if r.op == "product":
                v = cols[0].copy()
                for c in cols[1:]:
                    v = v * c
                eng[:, j] = v * r.scale
            elif r.op == "composite":
                z = np.column_stack([(c - m) / s for c, m, s in zip(cols, self.center_[name], self.scale_[name])])
                w = np.asarray(r.weights or (1.0,) * len(cols))
                # missing inputs count as the training median (z = 0); all missing → missing
                all_missing = np.isnan(z).all(axis=1)
                eng[:, j] = np.where(all_missing, np.nan, np.nansum(z * w, axis=1) / np.sum(np.abs(w)))
            else:  # pragma: no cover - panel recipes never reach the row layout
                raise ValueError(f"recipe {r.op!r} is not a row recipe")
        return np.hstack([numeric, cats, eng])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (scikit-learn API)."""
        check_is_fitted(self, "layout_")
        return np.asarray(self.layout_.names, dtype=object)

    # -- persistence without pickle -------------------------------------------
    def state(self) -> dict[str, Any]:
        """Fitted state as plain JSON types (the bundle stores this, not a pickle)."""
        check_is_fitted(self, "layout_")
        return {"categories": self.categories_, "center": self.center_, "scale": self.scale_}

    @classmethod
    def from_state(cls, spec: DatasetSpec, state: dict[str, Any]) -> FeatureBuilder:
        """Rebuild a fitted builder from :meth:`state`."""
        fb = cls(spec)
        fb.layout_ = feature_layout(spec)
        fb.categories_ = {k: list(v) for k, v in state["categories"].items()}
        fb.center_ = {k: [float(x) for x in v] for k, v in state["center"].items()}
        fb.scale_ = {k: [float(x) for x in v] for k, v in state["scale"].items()}
        fb.n_features_out_ = len(fb.layout_.names)
        return fb
