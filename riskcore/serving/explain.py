"""Why a company got its score: contributions, reason codes and peers.

**Contributions.** TreeSHAP values in the model's log-odds space come from the
boosters themselves (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``), from
the ``shap`` package for scikit-learn's tree models, and exactly from the
coefficients for the logistic model (``coef × (x − mean)`` on the transformed
scale, grouped back to each original feature). They add up to the raw score minus
the model's average raw score.

**In probability terms.** The waterfall a credit officer sees starts at the
calibrated PD of the average raw score, ``p0 = calibrate(base)``, and ends at the
company's calibrated PD ``p``. Each feature gets the share of ``p − p0`` that its
log-odds contribution has of the total (signs preserved)::

    pd_contribution_j = φ_j × (p − p0) / Σ_k φ_k

so the bars add up exactly to the PD shown. Calibration is monotone, so the
total move and the sum of contributions never have opposite signs. (When they
sum to zero — all effects cancel — every bar is zero.)

**Reason codes** are the (at most four) features that raise the risk most, in
plain words from the spec's labels, with the company's value and its sector's
median from the training data: "Interest coverage 0.80× — sector median 4.1×".

**Peers** (:func:`peer_percentiles`): each key ratio as a percentile within the
company's sector, from the training data's quantiles. (The what-if, a company
re-scored with some values changed, is :func:`riskcore.serving.scoring.what_if`.)

For many rows use :func:`explain_frame`; for one company given as a dict,
:func:`explain_one` builds the model row with NumPy and explains it in a few
milliseconds (the API's and the dashboard's path).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.modelling.features import add_panel_features
from riskcore.numeric import expit, logit
from riskcore.serving.records import checked_record

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["CompanyExplanation", "Explanation", "Reason", "contributions", "explain_frame", "explain_one",
           "peer_percentiles", "reason_codes"]


@dataclass(frozen=True)
class Reason:
    """One reason code: a feature that raises the risk, in plain words."""

    feature: str
    label: str
    value: Any
    sector_median: float | None
    contribution: float
    text: str


@dataclass
class Explanation:
    """Contributions of every feature for each row, in log-odds and in PD.

    Arrays (rows × features, features in ``names`` order): ``values`` as a
    person reads them (category names, not codes), ``phi`` the log-odds
    contributions, ``phi_pd`` the PD contributions. ``totals`` has one row per
    input row (columns: base_raw, raw, base_pd, p_default), and
    ``base_pd + phi_pd.sum(axis=1)`` equals ``p_default``, the calibrated PD
    that scoring shows. ``frame`` is the same in long form (columns: row
    (position), feature, label, value, contribution_logodds, contribution_pd).
    """

    names: tuple[str, ...]
    labels: tuple[str, ...]
    values: np.ndarray
    phi: np.ndarray
    phi_pd: np.ndarray
    totals: pd.DataFrame

    @cached_property
    def frame(self) -> pd.DataFrame:
        """Every row's contributions in long form."""
        n, k = self.phi.shape
        return pd.DataFrame({
            "row": np.repeat(np.arange(n), k),
            "feature": np.tile(np.asarray(self.names, dtype=object), n),
            "label": np.tile(np.asarray(self.labels, dtype=object), n),
            "value": self.values.ravel(),
            "contribution_logodds": self.phi.ravel(),
            "contribution_pd": self.phi_pd.ravel(),
        })

    def for_row(self, i: int) -> pd.DataFrame:
        """The waterfall of one row, largest absolute PD effect first.

        Columns: feature, label, value, contribution_logodds, contribution_pd.
        """
        order = np.argsort(-np.abs(self.phi_pd[i]), kind="stable")
        return pd.DataFrame({
            "feature": np.asarray(self.names, dtype=object)[order],
            "label": np.asarray(self.labels, dtype=object)[order],
            "value": self.values[i, order],
            "contribution_logodds": self.phi[i, order],
            "contribution_pd": self.phi_pd[i, order],
        })


@dataclass(frozen=True)
class CompanyExplanation:
    """One company's explanation: the waterfall from the base PD to its PD, and its reason codes.

    ``waterfall`` columns: feature, label, value, contribution_logodds,
    contribution_pd (largest absolute PD effect first); ``base_pd`` plus the
    ``contribution_pd`` column equals ``p_default``.
    """

    p_default: float
    base_pd: float
    score_raw: float
    base_raw: float
    waterfall: pd.DataFrame
    reasons: tuple[Reason, ...]


def _rescale(phi: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Scale each row of contributions so it sums to ``target`` (proportionally, signs kept)."""
    total = phi.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(np.abs(total) > 1e-12, target / total, 0.0)
    return phi * factor[:, None]


def _logistic_contributions(scorer: Any, matrix: np.ndarray, background: np.ndarray, n_features: int) -> np.ndarray:
    prep = scorer.transform if scorer.transform is not None else None
    model = scorer.model
    if prep is None:  # pragma: no cover - logistic always has its prep step
        raise ValueError("logistic model without preprocessing")
    xt = prep.transform(matrix)
    bt = prep.transform(background).mean(axis=0)
    coef = model.coef_.ravel()
    per_col = (xt - bt) * coef
    names = prep.get_feature_names_out()
    owner = np.array([_owner_index(str(n)) for n in names])
    out = np.zeros((len(matrix), n_features + 1))
    for j in range(n_features):
        mask = owner == j
        if mask.any():
            out[:, j] = per_col[:, mask].sum(axis=1)
    out[:, -1] = model.intercept_[0] + bt @ coef
    return out


def _owner_index(name: str) -> int:
    """Input column index behind a ColumnTransformer output name (``num__x3``, ``cat__x40_2.0``…)."""
    tail = name.split("__", 1)[-1]
    tail = tail.removeprefix("missingindicator_")
    token = tail[1:].split("_", 1)[0]
    return int(token)


def _tree_shap(model: Any, matrix: np.ndarray) -> tuple[np.ndarray, bool]:
    """shap.TreeExplainer values for scikit-learn trees; returns (values with base, in_probability_space)."""
    import shap

    explainer = shap.TreeExplainer(model)
    values = explainer.shap_values(matrix, check_additivity=False)
    base = explainer.expected_value
    if isinstance(values, list):
        values = values[1]
        base = np.atleast_1d(base)[1]
    values = np.asarray(values)
    if values.ndim == 3:
        values = values[:, :, 1]
        base = np.atleast_1d(base)[-1]
    base = float(np.atleast_1d(base)[-1])
    prob_space = model.__class__.__name__.startswith("RandomForest")
    return np.column_stack([values, np.full(len(values), base)]), prob_space


def _native_contributions(scorer: Any, matrix: np.ndarray) -> np.ndarray | None:
    """The booster's own TreeSHAP values, or None for models without them.

    For a few rows LightGBM is asked to use one thread: starting its thread
    pool costs several times the work for one company (the scorer's ``raw``
    does the same; ``LightGBMScorer.contributions`` could too).
    """
    inner, transform = getattr(scorer, "inner", None), getattr(scorer, "transform", None)
    if inner is not None and transform is not None:
        # a booster behind fitted transformers (SMOTE's median imputer, one column per column): its own
        # contributions on the matrix it sees explain its raw score exactly
        seen = transform.transform(matrix)
        return _native_contributions(inner, seen) if seen.shape == matrix.shape else None
    booster = getattr(scorer, "booster", None)
    if scorer.kind == "lightgbm" and booster is not None and len(matrix) < 1000:
        return np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1), dtype=float)
    return scorer.contributions(matrix)


def _raw_contributions(scorer: Any, matrix: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Log-odds contributions (rows × features + 1, last column the base) summing to ``scorer.raw``."""
    n_features = matrix.shape[1]
    native = _native_contributions(scorer, matrix)
    if native is not None:
        return native
    raw = scorer.raw(matrix)
    kind = scorer.kind
    if kind == "logistic":
        return _logistic_contributions(scorer, matrix, background, n_features)
    if kind == "ensemble":
        parts = []
        probs = []
        for _, member in scorer.members:
            c = _raw_contributions(member, matrix, background)
            p = expit(member.raw(matrix))
            p0 = expit(c[:, -1])
            parts.append(_rescale(c[:, :-1], p - p0))
            probs.append(p0)
        phi_prob = np.mean(parts, axis=0)
        base_raw = logit(np.mean(probs, axis=0))
        return np.column_stack([_rescale(phi_prob, raw - base_raw), base_raw])
    if kind in ("hist_gb", "random_forest"):
        m = scorer.prepared(matrix)
        values, prob_space = _tree_shap(scorer.model, m)
        if prob_space:
            base_raw = logit(np.full(len(m), values[0, -1]))
            return np.column_stack([_rescale(values[:, :-1], raw - base_raw), base_raw])
        return values
    raise ValueError(f"no explanation method for model kind {kind!r}")


def _background(bundle: ModelBundle) -> np.ndarray:
    cache = getattr(bundle, "_explain_background", None)
    if cache is None:
        hold = bundle.holdout()
        hold = hold[hold["part"] == "validation"] if "validation" in set(hold["part"]) else hold
        cache = bundle.matrix(hold.head(2000))
        setattr(bundle, "_explain_background", cache)  # noqa: B010 - a cache the bundle does not declare
    return cache


def contributions(bundle: ModelBundle, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contributions of a model matrix.

    Returns
    -------
    (phi_logodds, base_raw, phi_pd, base_pd) : per-feature log-odds contributions,
    the base raw score per row, per-feature PD contributions, and the base PD per row.
    ``base_pd + phi_pd.sum(axis=1)`` equals the calibrated PD.
    """
    c = _raw_contributions(bundle.scorer, matrix, _background(bundle) if bundle.kind in ("logistic", "ensemble")
                           else matrix[:1])
    phi, base_raw = c[:, :-1], c[:, -1]
    # the PD shown is the calibrated PD of the model's own raw score, which the contributions add up
    # to up to rounding; ending the waterfall there keeps it equal to the score, digit for digit
    p = bundle.calibrate(bundle.raw_scores(matrix))
    p0 = bundle.calibrate(base_raw)
    return phi, base_raw, _rescale(phi, p - p0), p0


def explain_frame(bundle: ModelBundle, frame: pd.DataFrame) -> Explanation:
    """Contributions for every row of a prepared frame (panel features are added here when absent)."""
    spec = bundle.spec
    f = add_panel_features(frame, spec) if spec.panel_features and not all(
        p.name in frame for p in spec.panel_features) else frame
    matrix = bundle.matrix(f)
    phi, base_raw, phi_pd, p0 = contributions(bundle, matrix)
    names = tuple(bundle.features.layout_.names)
    raw = base_raw + phi.sum(axis=1)
    totals = pd.DataFrame({"base_raw": base_raw, "raw": raw, "base_pd": p0, "p_default": p0 + phi_pd.sum(axis=1)})
    return Explanation(names, _labels(bundle), _display_values(bundle, f, matrix), phi, phi_pd, totals)


def explain_one(bundle: ModelBundle, record: dict[str, Any], *, top: int = 4) -> CompanyExplanation:
    """Explain one company given as a dict, without building a DataFrame on the way (a few milliseconds).

    Parameters
    ----------
    bundle : the model bundle.
    record : the company's values, keys matched like :func:`riskcore.serving.scoring.score_one`'s.
    top : at most this many reason codes.

    Returns
    -------
    CompanyExplanation
        Its ``p_default`` equals :func:`riskcore.serving.scoring.score_one`'s.

    Raises
    ------
    SchemaError
        With every problem of the record.
    """
    spec = bundle.spec
    clean, matrix = checked_record(bundle, record)
    phi, base_raw, phi_pd, p0 = contributions(bundle, matrix)
    names = tuple(bundle.features.layout_.names)
    values = matrix.astype(object)
    for j, name in enumerate(names):
        if name in bundle.features.categories_:
            values[0, j] = clean.get(name)
    ex = Explanation(names, _labels(bundle), values, phi, phi_pd, pd.DataFrame({"base_raw": base_raw}))
    sector = clean.get(spec.segment) if spec.segment else None
    return CompanyExplanation(p_default=float(p0[0] + phi_pd[0].sum()), base_pd=float(p0[0]),
                              score_raw=float(base_raw[0] + phi[0].sum()), base_raw=float(base_raw[0]),
                              waterfall=ex.for_row(0), reasons=tuple(_reasons(bundle, ex, 0, sector, top)))


def _labels(bundle: ModelBundle) -> tuple[str, ...]:
    """Plain-language labels of the model matrix's columns (looked up once per bundle)."""
    cache = getattr(bundle, "_explain_labels", None)
    if cache is None:
        cache = tuple(bundle.spec.label(c) for c in bundle.features.layout_.names)
        setattr(bundle, "_explain_labels", cache)  # noqa: B010 - a cache the bundle does not declare
    return cache


def _display_values(bundle: ModelBundle, frame: pd.DataFrame, matrix: np.ndarray) -> np.ndarray:
    """Values as a person reads them: category names instead of codes."""
    names = list(bundle.features.layout_.names)
    out = matrix.astype(object)
    for j, name in enumerate(names):
        if name in bundle.features.categories_ and name in frame:
            out[:, j] = frame[name].to_numpy(dtype=object)
    return out


def _sector_median(bundle: ModelBundle, feature: str, sector: Any) -> float | None:
    prof = bundle.profile
    seg = prof.get("segments", {}).get(str(sector), {}) if sector is not None else {}
    grid = seg.get(feature)
    if grid is None:
        grid = (prof.get("features", {}).get(feature) or {}).get("quantiles")
    if not grid:
        return None
    return float(grid[len(grid) // 2])


def reason_codes(bundle: ModelBundle, explanation: Explanation, frame: pd.DataFrame, row: int,
                 top: int = 4) -> list[Reason]:
    """The (at most ``top``) features that raise this company's risk most, in plain words.

    Each names the feature by its label and gives the company's value and its
    sector's median in the training data: "Interest coverage 0.80× — sector
    median 4.1×"; a category gives the category and its default rate in training.
    Only features that raise the PD are listed, largest effect first.
    """
    spec = bundle.spec
    sector = frame[spec.segment].iloc[row] if spec.segment and spec.segment in frame else None
    return _reasons(bundle, explanation, row, sector, top)


def _reasons(bundle: ModelBundle, explanation: Explanation, row: int, sector: Any, top: int) -> list[Reason]:
    spec = bundle.spec
    effect = explanation.phi_pd[row]
    order = [j for j in np.argsort(-effect, kind="stable")[:top] if effect[j] > 1e-6]
    reasons = []
    for j in order:
        feature = explanation.names[j]
        value = explanation.values[row, j]
        f = spec.feature(feature) if spec.has_feature(feature) else None
        median = None
        if f is not None and f.kind == "categorical":
            rate = bundle.profile.get("segment_rates", {}).get(str(value)) if feature == spec.segment else None
            extra = f" (default rate {rate:.1%} in training)" if rate is not None else ""
            text = f"{f.display_label}: {value if value is not None else 'not given'}{extra}"
        else:
            median = _sector_median(bundle, feature, sector)
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            shown = "not given" if missing else (f.format_value(value) if f is not None else f"{value}")
            med = f.format_value(median) if (f is not None and median is not None) else None
            text = f"{spec.label(feature)} {shown}" + (f" — sector median {med}" if med else "")
        reasons.append(Reason(feature, spec.label(feature), value, median, float(effect[j]), text))
    return reasons


def peer_percentiles(bundle: ModelBundle, frame: pd.DataFrame, row: int,
                     features: list[str] | None = None) -> pd.DataFrame:
    """Each key ratio of one company as a percentile within its sector (training data).

    Columns: feature, label, value, sector_median, percentile (0-100), direction
    (+1 when a higher value means more risk).
    """
    spec = bundle.spec
    feats = features or [f.name for f in spec.features if f.key and f.kind == "numeric"]
    sector = frame[spec.segment].iloc[row] if spec.segment and spec.segment in frame else None
    levels = np.asarray(bundle.profile.get("quantile_levels", np.linspace(0, 100, 51)))
    rows = []
    for name in feats:
        if name not in frame:
            continue
        v = frame[name].iloc[row]
        v = float(v) if v is not None and pd.notna(v) else np.nan
        seg = bundle.profile.get("segments", {}).get(str(sector), {})
        grid = seg.get(name) or (bundle.profile.get("features", {}).get(name) or {}).get("quantiles")
        pct = _percentile(v, np.asarray(grid, dtype=float), levels) if grid and np.isfinite(v) else np.nan
        rows.append({"feature": name, "label": spec.label(name), "value": v,
                     "sector_median": float(grid[len(grid) // 2]) if grid else np.nan, "percentile": pct,
                     "direction": spec.feature(name).direction})
    return pd.DataFrame(rows, columns=["feature", "label", "value", "sector_median", "percentile", "direction"])


def _percentile(v: float, grid: np.ndarray, levels: np.ndarray) -> float:
    """Percentile of ``v`` on a quantile grid; a value shared by several quantiles gets their middle."""
    lo, hi = np.searchsorted(grid, v, side="left"), np.searchsorted(grid, v, side="right")
    if hi > lo:
        return float((levels[lo] + levels[hi - 1]) / 2)
    return float(np.interp(v, grid, levels))
