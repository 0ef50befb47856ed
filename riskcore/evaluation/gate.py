"""The promotion gate: a challenger compared with the champion on the same rows, and whether it may replace it.

:func:`compare_models` gathers the figures of :mod:`riskcore.evaluation.compare`
(ΔAUC with DeLong's interval, Δ cost with a paired bootstrap, the swap set, the
score shift) and each model's calibration on the rows (ECE and the per-grade
back-test), then :func:`evaluate_gate` reads them against
:class:`riskcore.config.PromotionRules`:

- **cost**: the challenger is not worse on cost with ``cost_confidence`` confidence —
  the one-sided upper bound of its extra cost is at most ``cost_margin`` of the
  champion's cost;
- **calibration**: the challenger's ECE on the rows is at most ``max_ece`` and it has
  at most ``max_red_grades`` red grades.

ΔAUC is reported, not gated: a model that ranks a little better but costs more is
not the better lending decision. :meth:`Comparison.digest` is the SHA-256 of the
report's canonical JSON, which a promotion record can name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from riskcore.config import Costs, PromotionRules
from riskcore.evaluation.backtest import grade_backtest
from riskcore.evaluation.compare import auc_difference, cost_difference, score_shift, swap_set
from riskcore.evaluation.grading import grade_of
from riskcore.evaluation.outcomes import strict_json
from riskcore.evaluation.reliability import expected_calibration_error

__all__ = ["Comparison", "GateCheck", "compare_models", "evaluate_gate"]


@dataclass(frozen=True)
class GateCheck:
    """One check of the gate: its name, whether it passed, and the evidence in a sentence."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Comparison:
    """Champion against challenger on the same rows: the figures, each model's calibration, the gate's checks."""

    figures: dict[str, Any]
    checks: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        """Whether every check of the gate passed."""
        return all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """Plain data: the figures, the checks and the verdict."""
        return {**self.figures, "gate": {"passed": self.passed,
                                         "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail}
                                                    for c in self.checks]}}

    def digest(self) -> str:
        """SHA-256 of the report as canonical JSON (sorted keys, no spaces; NaN as null)."""
        text = json.dumps(strict_json(self.as_dict()), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _calibration(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """A model's ECE and per-grade back-test on the rows."""
    table = grade_backtest(grade_of(p), p, y)
    grades = [{str(k): v for k, v in r.items()} for r in table.to_dict(orient="records")]
    return {"ece": float(expected_calibration_error(y, p)), "grades": grades,
            "red_grades": int((table["traffic_light"] == "red").sum())}


def compare_models(y_true: ArrayLike, p_champion: ArrayLike, p_challenger: ArrayLike, *, threshold_champion: float,
                   threshold_challenger: float, costs: Costs, rules: PromotionRules | None = None,
                   exposure: ArrayLike | None = None, random_state: int | None = 7) -> Comparison:
    """Compare two models' PDs of the same rows with their outcomes, and evaluate the promotion gate.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Outcomes (1 = default).
    p_champion, p_challenger : array-like of shape (n,)
        The two models' calibrated PDs of the same rows.
    threshold_champion, threshold_challenger : float
        Each model's own cut-off (refer at or above).
    costs : Costs
        The cost settings the decisions are priced with.
    rules : PromotionRules, optional
        The gate (default: the product's).
    exposure : array-like, optional
        Exposure per row, for the exposure cost mode.
    random_state : int or None
        Seed of the paired bootstrap: the same seed gives the same interval.

    Returns
    -------
    Comparison
    """
    rules = rules or PromotionRules()
    y = np.asarray(y_true).ravel().astype(np.int64)
    a = np.asarray(p_champion, dtype=np.float64).ravel()
    b = np.asarray(p_challenger, dtype=np.float64).ravel()
    # a two-sided interval at 2c - 1 has the one-sided bound at c as its upper end
    cost = cost_difference(y, a, b, threshold_champion=threshold_champion, threshold_challenger=threshold_challenger,
                           costs=costs, exposure=exposure, n_resamples=rules.n_resamples,
                           confidence=round(2 * rules.cost_confidence - 1, 12), random_state=random_state)
    figures = {
        "rows": int(len(y)), "defaults": int(y.sum()),
        "auc": auc_difference(y, a, b).as_dict(), "cost": cost.as_dict(),
        "swap": swap_set(y, a, b, threshold_champion=threshold_champion,
                         threshold_challenger=threshold_challenger).as_dict(),
        "score_psi": score_shift(a, b),
        "champion": _calibration(y, a), "challenger": _calibration(y, b),
        "thresholds": {"champion": float(threshold_champion), "challenger": float(threshold_challenger)},
    }
    return Comparison(figures, evaluate_gate(figures, rules))


def evaluate_gate(figures: dict[str, Any], rules: PromotionRules) -> tuple[GateCheck, ...]:
    """The gate's checks on a comparison's figures (see the module docstring)."""
    cost = figures["cost"]
    allowed = rules.cost_margin * abs(cost["cost_champion"])
    worse = cost["high"]
    cost_ok = bool(worse <= allowed)
    level = f"{rules.cost_confidence:.0%}"
    margin = f" (allowed: {allowed:+,.0f})" if allowed else ""
    verdict = "" if cost_ok else " — it may cost more"
    cost_detail = (f"challenger costs {cost['difference']:+,.0f} against the champion's {cost['cost_champion']:,.0f}; "
                   f"with {level} confidence at most {worse:+,.0f}{margin}{verdict}")
    cal = figures["challenger"]
    cal_ok = cal["ece"] <= rules.max_ece and cal["red_grades"] <= rules.max_red_grades
    cal_detail = (f"challenger ECE {cal['ece']:.4f} (limit {rules.max_ece:g}), {cal['red_grades']} red grade(s) "
                  f"(limit {rules.max_red_grades})")
    return GateCheck("cost", cost_ok, cost_detail), GateCheck("calibration", bool(cal_ok), cal_detail)
