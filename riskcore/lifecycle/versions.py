"""A challenger against the champion on the same rows, and the promotion gate (:mod:`riskcore.evaluation.gate`).

:func:`compare_versions` picks the rows (a file with outcomes, or the challenger's
test rows when the champion never trained on their period), scores them with both
models, and compares them: ``python -m riskcore models compare``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskcore.serving.batch import FileSource

if TYPE_CHECKING:
    from riskcore.config import Costs, PromotionRules
    from riskcore.evaluation.gate import Comparison
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["VersionComparison", "compare_versions"]


@dataclass
class VersionComparison:
    """Two model versions compared on the same rows: which rows, the comparison and its gate, what to know."""

    champion: str
    challenger: str
    rows_from: str
    comparison: Comparison
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The comparison as a risk manager reads it: the gate first, then the figures."""
        d = self.comparison.as_dict()
        auc, cost, swap = d["auc"], d["cost"], d["swap"]
        verdict = "PASSES" if self.comparison.passed else "FAILS"
        lines = [f"Challenger {self.challenger} against champion {self.champion} on {d['rows']:,} rows "
                 f"({d['defaults']:,} defaults) of {self.rows_from}",
                 f"Promotion gate: {verdict}"]
        lines += [f"  {'pass' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in self.comparison.checks]
        lines.append(f"AUC {auc['auc_champion']:.3f} → {auc['auc_challenger']:.3f}: {auc['difference']:+.3f} "
                     f"[{auc['low']:+.3f}, {auc['high']:+.3f}] (DeLong, p = {auc['p_value']:.2g})")
        lines.append(f"Cost {cost['cost_champion']:,.0f} → {cost['cost_challenger']:,.0f}: {cost['difference']:+,.0f} "
                     f"[{cost['low']:+,.0f}, {cost['high']:+,.0f}] (paired bootstrap, {cost['n_resamples']:,} "
                     f"resamples; {cost['per_company']:+,.0f} per company)")
        lines.append(f"Swap set: the challenger accepts {swap['champion_refers_challenger_accepts']:,} the champion "
                     f"refers (default rate {swap['default_rate_challenger_accepts']:.1%}) and refers "
                     f"{swap['challenger_refers_champion_accepts']:,} the champion accepts (default rate "
                     f"{swap['default_rate_champion_accepts']:.1%}); {swap['agree']:,} decided alike")
        lines.append(f"Score shift (PSI of the challenger's PDs over the champion's deciles): {d['score_psi']:.3f}")
        for who in ("champion", "challenger"):
            cal = d[who]
            lines.append(f"Calibration of the {who}: ECE {cal['ece']:.4f}, {cal['red_grades']} red grade(s)")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def _periods(bundle: ModelBundle, *parts: str) -> set[str]:
    """The periods of the named parts of a model's split (``train``, ``validation``, ``test``), as text."""
    found = (bundle.metrics.get("split") or {}).get("periods") or {}
    return {str(p) for part in parts for p in found.get(part, [])}


def _comparison_rows(champion: ModelBundle, challenger: ModelBundle, data: FileSource | None,
                     positive: str | None) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The rows both models are compared on (a file with outcomes, or the challenger's test rows), and outcomes."""
    from riskcore.data.prepare import binarize_target
    from riskcore.data.tabular import read_table
    from riskcore.errors import MissingColumnError, SchemaError

    if data is None:
        test = challenger.holdout()
        test = test[test["part"] == "test"].reset_index(drop=True)
        seen = _periods(champion, "train", "validation") & _periods(challenger, "test")
        if seen:
            raise SchemaError(f"the challenger's test period(s) {', '.join(sorted(seen))} are among the champion's "
                              "training periods, so the champion would be judged on rows it learnt from; pass a "
                              "file with outcomes neither model was trained on (--data FILE)")
        return test, test["y"].to_numpy(dtype=np.int64), f"the challenger's test rows ({challenger.version})"
    table = read_table(data)
    target = champion.spec.target
    column = next((c for c in table.frame.columns if target and str(c).casefold() == target.casefold()), None)
    if column is None:
        raise MissingColumnError(target or "target", f"the file has no outcome column {target!r}: comparing two "
                                 "models needs the outcome of every row (0/1)")
    y, bad, message = binarize_target(table.frame[column], positive)
    if message:
        raise SchemaError(f"the outcome column {column!r} cannot be read: {message}")
    keep = ~bad & np.isfinite(y)
    frame = table.frame[keep].reset_index(drop=True)
    return frame, y[keep].astype(np.int64), str(data)


def compare_versions(champion: ModelBundle, challenger: ModelBundle, *, costs: Costs,
                     rules: PromotionRules | None = None, data: FileSource | None = None,
                     positive: str | None = None, random_state: int = 7) -> VersionComparison:
    """Compare a challenger with the champion on the same rows and evaluate the promotion gate.

    Parameters
    ----------
    champion, challenger : the two model bundles.
    costs : the cost settings the decisions are priced with (each model decides at its own cut-off).
    rules : the promotion gate (default the product's, see :class:`riskcore.config.PromotionRules`).
    data : a file with the models' columns and the outcome; by default the challenger's test rows, when the
        champion did not train on their period.
    positive : the outcome label that means default, when it is not 0/1.
    random_state : seed of the paired bootstrap.

    Returns
    -------
    VersionComparison

    Raises
    ------
    riskcore.errors.SchemaError
        When the rows cannot be used (no outcome column, seen by the champion in training) or no row can be
        scored by both models.
    """
    from riskcore.errors import SchemaError
    from riskcore.evaluation.gate import compare_models
    from riskcore.serving.scoring import score_frame

    frame, y, rows_from = _comparison_rows(champion, challenger, data, positive)
    scored = [score_frame(b, frame, passthrough=False) for b in (champion, challenger)]
    both = pd.merge(scored[0].scores[["row", "p_default"]], scored[1].scores[["row", "p_default"]], on="row",
                    suffixes=("_champion", "_challenger"))
    if both.empty:
        raise SchemaError("no row could be scored by both models; check the file against both models' columns")
    notes = []
    if len(both) < len(frame):
        notes.append(f"{len(frame) - len(both):,} of {len(frame):,} rows could not be scored by both models and "
                     "were left out (see python -m riskcore score for each model's reject report)")
    outcome = y[both["row"].to_numpy() - 1]
    exposure = None
    if costs.mode == "exposure" and champion.spec.exposure and champion.spec.exposure in frame:
        exposure = pd.to_numeric(frame[champion.spec.exposure], errors="coerce").to_numpy()[both["row"] - 1]
    comparison = compare_models(outcome, both["p_default_champion"], both["p_default_challenger"],
                                threshold_champion=champion.threshold, threshold_challenger=challenger.threshold,
                                costs=costs, rules=rules, exposure=exposure, random_state=random_state)
    return VersionComparison(champion.version, challenger.version, rows_from, comparison, notes)
