"""Why a company got its score: contributions, reason codes, peers, what-if.

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
median from the training data: "Interest coverage 0.8× — sector median 4.1×".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskcore.features import add_panel_features

__all__ = ["Explanation", "Reason", "WhatIf", "contributions", "explain_frame", "peer_percentiles", "reason_codes",
           "what_if"]


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

    ``frame`` columns: row (position), feature, label, value, contribution_logodds,
    contribution_pd; ``base_pd`` and ``p_default`` per row in ``totals``
    (columns: base_raw, raw, base_pd, p_default).
    """

    frame: pd.DataFrame
    totals: pd.DataFrame

    def for_row(self, i: int) -> pd.DataFrame:
        """The waterfall of one row, largest absolute PD effect first."""
        f = self.frame[self.frame["row"] == i]
        return f.reindex(f["contribution_pd"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


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


def _raw_contributions(scorer: Any, matrix: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Log-odds contributions (rows × features + 1, last column the base) summing to ``scorer.raw``."""
    n_features = matrix.shape[1]
    native = scorer.contributions(matrix)
    raw = scorer.raw(matrix)
    if native is not None:
        return native
    kind = scorer.kind
    if kind == "logistic":
        return _logistic_contributions(scorer, matrix, background, n_features)
    if kind == "ensemble":
        parts = []
        probs = []
        for _, member in scorer.members:
            c = _raw_contributions(member, matrix, background)
            p = 1 / (1 + np.exp(-member.raw(matrix)))
            p0 = 1 / (1 + np.exp(-c[:, -1]))
            parts.append(_rescale(c[:, :-1], p - p0))
            probs.append(p0)
        phi_prob = np.mean(parts, axis=0)
        base_raw = _logit(np.mean(probs, axis=0))
        return np.column_stack([_rescale(phi_prob, raw - base_raw), base_raw])
    if kind in ("hist_gb", "random_forest"):
        m = scorer.prepared(matrix)
        values, prob_space = _tree_shap(scorer.model, m)
        if prob_space:
            base_raw = _logit(np.full(len(m), values[0, -1]))
            return np.column_stack([_rescale(values[:, :-1], raw - base_raw), base_raw])
        return values
    raise ValueError(f"no explanation method for model kind {kind!r}")


def _background(bundle: Any) -> np.ndarray:
    cache = getattr(bundle, "_explain_background", None)
    if cache is None:
        hold = bundle.holdout()
        hold = hold[hold["part"] == "validation"] if "validation" in set(hold["part"]) else hold
        cache = bundle.matrix(hold.head(2000))
        bundle._explain_background = cache
    return cache


def contributions(bundle: Any, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    raw = base_raw + phi.sum(axis=1)
    p = bundle.calibrate(raw)
    p0 = bundle.calibrate(base_raw)
    return phi, base_raw, _rescale(phi, p - p0), p0


def explain_frame(bundle: Any, frame: pd.DataFrame) -> Explanation:
    """Contributions for every row of a prepared frame (panel features are added here)."""
    spec = bundle.spec
    f = add_panel_features(frame, spec) if spec.panel_features and not all(
        p.name in frame for p in spec.panel_features) else frame
    matrix = bundle.matrix(f)
    phi, base_raw, phi_pd, p0 = contributions(bundle, matrix)
    names = list(bundle.features.layout_.names)
    n, k = phi.shape
    values = _display_values(bundle, f, matrix)
    long = pd.DataFrame({
        "row": np.repeat(np.arange(n), k),
        "feature": np.tile(names, n),
        "label": np.tile([spec.label(c) for c in names], n),
        "value": values.ravel(),
        "contribution_logodds": phi.ravel(),
        "contribution_pd": phi_pd.ravel(),
    })
    raw = base_raw + phi.sum(axis=1)
    totals = pd.DataFrame({"base_raw": base_raw, "raw": raw, "base_pd": p0, "p_default": p0 + phi_pd.sum(axis=1)})
    return Explanation(long, totals)


def _display_values(bundle: Any, frame: pd.DataFrame, matrix: np.ndarray) -> np.ndarray:
    """Values as a person reads them: category names instead of codes."""
    names = list(bundle.features.layout_.names)
    out = matrix.astype(object)
    for j, name in enumerate(names):
        if name in bundle.features.categories_ and name in frame:
            out[:, j] = frame[name].to_numpy(dtype=object)
    return out


def _sector_median(bundle: Any, feature: str, sector: Any) -> float | None:
    prof = bundle.profile
    seg = prof.get("segments", {}).get(str(sector), {}) if sector is not None else {}
    grid = seg.get(feature)
    if grid is None:
        grid = (prof.get("features", {}).get(feature) or {}).get("quantiles")
    if not grid:
        return None
    return float(grid[len(grid) // 2])


def reason_codes(bundle: Any, explanation: Explanation, frame: pd.DataFrame, row: int, top: int = 4) -> list[Reason]:
    """The (at most ``top``) features that raise this company's risk most, in plain words."""
    spec = bundle.spec
    w = explanation.for_row(row)
    w = w[w["contribution_pd"] > 1e-6].sort_values("contribution_pd", ascending=False).head(top)
    sector = frame[spec.segment].iloc[row] if spec.segment and spec.segment in frame else None
    reasons = []
    for r in w.itertuples():
        feature = str(r.feature)
        f = spec.feature(feature) if spec.has_feature(feature) else None
        value = r.value
        if f is not None and f.kind == "categorical":
            rate = bundle.profile.get("segment_rates", {}).get(str(value)) if feature == spec.segment else None
            extra = f" (default rate {rate:.1%} in training)" if rate is not None else ""
            text = f"{f.display_label}: {value}{extra}"
            median = None
        else:
            median = _sector_median(bundle, feature, sector)
            shown = f.format_value(value) if f is not None else f"{value}"
            med = f.format_value(median) if (f is not None and median is not None) else None
            text = f"{spec.label(feature)} {shown}" + (f" — sector median {med}" if med else "")
        reasons.append(Reason(feature, spec.label(feature), value, median, float(r.contribution_pd), text))
    return reasons


def peer_percentiles(bundle: Any, frame: pd.DataFrame, row: int, features: list[str] | None = None) -> pd.DataFrame:
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
        pct = float(np.interp(v, np.asarray(grid), levels)) if grid and np.isfinite(v) else np.nan
        rows.append({"feature": name, "label": spec.label(name), "value": v,
                     "sector_median": float(grid[len(grid) // 2]) if grid else np.nan, "percentile": pct,
                     "direction": spec.feature(name).direction})
    return pd.DataFrame(rows, columns=["feature", "label", "value", "sector_median", "percentile", "direction"])


@dataclass(frozen=True)
class WhatIf:
    """A company re-scored with some values changed."""

    before: dict[str, Any]
    after: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]

    @property
    def delta_pd(self) -> float:
        """Change of the calibrated PD."""
        return float(self.after["p_default"] - self.before["p_default"])


def what_if(bundle: Any, company: dict[str, Any], changes: dict[str, Any]) -> WhatIf:
    """Re-score one company with some feature values changed.

    Parameters
    ----------
    bundle : the model bundle.
    company : the company's current values (feature → value).
    changes : feature → new value.

    Raises
    ------
    SchemaError
        When a changed value is invalid (outside the valid range, unknown category).
    """
    from riskcore.scoring import score_one

    before = score_one(bundle, company)
    updated = {**company, **changes}
    after = score_one(bundle, updated)
    return WhatIf(before=before, after=after,
                  changes={k: (company.get(k), v) for k, v in changes.items() if company.get(k) != v})
