"""The limitations section's sentences, written from a version's findings (none of them boilerplate).

:func:`limitations` turns the recorded checks, the test metrics, the per-grade back-test,
the missing-value pattern and the data set's reading notes into one sentence per finding.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from riskcore.config import AlertRules
from riskcore.data.schema import DatasetSpec
from riskcore.evaluation.curves import SMALL_SEGMENT_DEFAULTS
from riskcore.evaluation.report import small_segments_note

__all__ = ["MAX_DIRECTION_SENTENCES", "family_label", "limitations"]

MAX_DIRECTION_SENTENCES = 3
"""More contradicted directions than this are one limitation naming them all, not one each."""
_FAMILY_LABELS = {"esg": "ESG", "alternative": "Alternative data", "macro": "Macro-economic"}


def family_label(family: str) -> str:
    """A feature family as a heading or sentence start (``ESG``, ``Financial``)."""
    return _FAMILY_LABELS.get(family, family.capitalize())


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _sample_limits(metrics: dict[str, Any]) -> list[str]:
    """Small test part and small segments."""
    out = []
    test = metrics.get("test", {})
    if int(test.get("defaults", SMALL_SEGMENT_DEFAULTS)) < SMALL_SEGMENT_DEFAULTS:
        out.append(f"The test part holds only {int(test['defaults'])} defaults in {int(test.get('n', 0)):,} rows: "
                   "its metrics are noisy; read the intervals, not the point values.")
    segments = pd.DataFrame(metrics.get("segments") or [])
    if len(segments) and "small" in segments:
        note = small_segments_note(segments, SMALL_SEGMENT_DEFAULTS)
        if note:
            out.append("Per-sector results: " + note)
    return out


def _check_limits(metrics: dict[str, Any]) -> list[str]:
    """Leakage checks that warned or failed (distribution shift among them), and the importance warnings."""
    out = [f"Leakage checklist, {f['check'].replace('_', ' ')} ({f['status']}): {f['detail']}"
           for f in metrics.get("leakage", []) if f.get("status") in ("warn", "fail")]
    out += [f"Feature importance: {w}" for w in metrics.get("warnings", [])]
    note = (metrics.get("split") or {}).get("note")
    if note:
        out.append(f"Split: {note}; the test rows are not later in time than the training rows, so the report "
                   "does not show how the model ages.")
    return out


def _missing_limits(missing: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """Groups whose inputs of one family are mostly missing."""
    return [f"{family_label(str(r['family']))} inputs are missing for {_pct(r['missing_share'])} of the held-out "
            f"rows with {spec.label(str(r['column'])).lower()} {r['level']!r} ({int(r['rows']):,} rows) against "
            f"{_pct(r['other_share'])} elsewhere: for them the model leans on the other families."
            for r in missing.head(5).to_dict(orient="records")]


def _model_limits(metrics: dict[str, Any], backtest: pd.DataFrame, alerts: AlertRules) -> list[str]:
    """Calibration beyond the monitoring limit, red or amber grades, a baseline as good, contradicted directions."""
    out = []
    test = metrics.get("test", {})
    ece = test.get("ece_calibrated")
    if ece is not None and ece > alerts.ece_warn:
        level, limit = ("limit", alerts.ece) if ece > alerts.ece else ("warning level", alerts.ece_warn)
        out.append(f"The calibration error on the test rows (ECE {ece:.4f}) is above the monitoring {level} "
                   f"({limit:.3f}).")
    lights = backtest[backtest["traffic_light"] != "green"] if len(backtest) else backtest
    for r in lights.to_dict(orient="records"):
        out.append(f"Grade {r['grade']} is {r['traffic_light']} in the test back-test: {int(r['defaults'])} defaults "
                   f"in {int(r['n']):,} rows ({_pct(r['observed_rate'])}) against a mean PD of "
                   f"{_pct(r['predicted_pd'])}.")
    base, ci = metrics.get("baseline"), test.get("auc_ci")
    if base and ci and metrics.get("model", {}).get("kind") != "logistic" and ci[0] <= base["auc"] <= ci[1]:
        out.append(f"The logistic baseline's test AUC ({base['auc']:.3f}) lies inside the model's interval "
                   f"[{ci[0]:.3f}, {ci[1]:.3f}]: the test rows do not show that the chosen model ranks better.")
    return out + _direction_limits(metrics.get("soundness") or {})


def _direction_limits(sound: dict[str, Any]) -> list[str]:
    """Declared directions the model contradicts: one sentence each, or one sentence naming them all when many."""
    against = [f for f in sound.get("features", []) if not f.get("agrees", True)]
    if len(against) > MAX_DIRECTION_SENTENCES:
        names = ", ".join(f"{f.get('label') or f['name']} ({'↑' if f['declared'] > 0 else '↓'} declared, "
                          f"{'↑' if f['measured'] > 0 else '↓'} measured)" for f in against)
        return [f"{len(against)} of {len(sound['features'])} declared directions are contradicted by the model's "
                f"partial dependence (↑: a higher value raises the PD): {names}. Correlated inputs can share one "
                "effect between them with opposite signs; a reviewer should see why before the model is used, or "
                "the model be retrained with monotone constraints (train --monotone)."]
    out = []
    for f in against:
        rho = f.get("spearman")
        out.append(f"{f.get('label') or f['name']}: the schema declares that a higher value "
                   f"{'raises' if f['declared'] > 0 else 'lowers'} the PD, but the model's partial dependence "
                   f"{'rises' if f['measured'] > 0 else 'falls'}"
                   + (f" (Spearman {rho:+.2f})." if isinstance(rho, (int, float)) else "."))
    return out


def limitations(metrics: dict[str, Any], spec: DatasetSpec, backtest: pd.DataFrame, missing: pd.DataFrame,
                alerts: AlertRules) -> tuple[str, ...]:
    """The limitations section: one sentence per finding, none of them boilerplate.

    Parameters
    ----------
    metrics : the bundle's ``metrics.json``.
    spec : the data set's spec (its reading notes are limitations too).
    backtest : the per-grade back-test of the test rows (:attr:`Performance.backtest`).
    missing : the groups whose inputs of one family are mostly missing (:attr:`Report.missing_by_group`).
    alerts : the alert rules in force (the calibration limit).

    Returns
    -------
    tuple of str
        Small samples, warned checks, missing families, model findings, then the data notes.
    """
    found = (_sample_limits(metrics) + _check_limits(metrics) + _missing_limits(missing, spec)
             + _model_limits(metrics, backtest, alerts) + [f"Data: {n}" for n in spec.notes])
    return tuple(found)
