"""A challenger against the champion on the same rows, and the promotion gate (:mod:`riskcore.evaluation.gate`).

:func:`compare_versions` picks the rows (a file with outcomes, or the challenger's
test rows when the champion never trained on their period), scores them with both
models, and compares them: ``python -m riskcore models compare``.
:func:`promote` moves the champion through that gate (or over it, with a reason),
:func:`rollback` back to the previous champion; each move is one entry of the
ledger in the audit trail's hash chain (:class:`riskcore.serving.audit.ModelMove`) and
a set of MLflow tags, and the old champion stays the ``previous_champion`` alias.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskcore.data.prepare import binarize_target
from riskcore.data.tabular import read_table
from riskcore.errors import AuditError, ConfigError, MissingColumnError, ModelNotFoundError, SchemaError
from riskcore.evaluation.gate import compare_models
from riskcore.modelling.bundle import load_bundle
from riskcore.modelling.tracking import CHAMPION, PREVIOUS_CHAMPION, Tracker, load_champion
from riskcore.serving.audit import AuditLog, ModelEvent, ModelMove
from riskcore.serving.batch import FileSource
from riskcore.serving.opening import open_model
from riskcore.serving.scoring import score_frame

if TYPE_CHECKING:
    from riskcore.config import Costs, PromotionRules, Settings
    from riskcore.evaluation.gate import Comparison
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.modelling.tracking import Tracker
    from riskcore.serving.audit import AuditLog

__all__ = ["Move", "VersionComparison", "compare_versions", "person", "promote", "rollback", "same_person"]


@dataclass
class VersionComparison:
    """Two model versions compared on the same rows: which rows, the comparison and its gate, what to know.

    ``y``, ``p_champion`` and ``p_challenger`` are the rows' outcomes and both models' PDs (for the
    curves of both); ``thresholds`` each model's own cut-off (champion, challenger); ``exposure`` the rows'
    exposure when the costs are in exposure mode (else ``None``).
    """

    champion: str
    challenger: str
    rows_from: str
    comparison: Comparison
    notes: list[str] = field(default_factory=list)
    y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64), repr=False)
    p_champion: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    p_challenger: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    thresholds: tuple[float, float] = (0.5, 0.5)
    exposure: np.ndarray | None = field(default=None, repr=False)

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
    return VersionComparison(champion.version, challenger.version, rows_from, comparison, notes, y=outcome,
                             p_champion=both["p_default_champion"].to_numpy(dtype=float),
                             p_challenger=both["p_default_challenger"].to_numpy(dtype=float),
                             thresholds=(champion.threshold, challenger.threshold), exposure=exposure)


# ---------------------------------------------------------------------------
# moving the champion, on record
# ---------------------------------------------------------------------------

@dataclass
class Move:
    """What a promotion or rollback did: the ledger entry, the comparison it was decided on, whether it moved."""

    moved: bool
    entry: ModelMove | None
    comparison: VersionComparison | None = None
    message: str = ""


def _registry_version(tracker: Tracker, bundle: ModelBundle) -> str:
    """The registry version of a bundle, or a message saying it is not registered."""
    found = tracker.registry_version_of(bundle.version)
    if found is None:
        raise ModelNotFoundError(f"model {bundle.version} is not registered, so it cannot become the champion; "
                                 "train it with MLflow on (python -m riskcore train without --no-mlflow)")
    return found


def person(actor: str | None) -> str:
    """The person behind an actor: ``cli:alice`` and ``dashboard:alice`` are both ``alice``."""
    return (actor or "").rpartition(":")[2].strip()


def same_person(actor: str | None, trainer: str | None) -> bool:
    """Whether the promoter trained the version, both being the same named person.

    The unnamed local dashboard user and a login that could not be read name nobody, so they never match.
    """
    a, b = person(actor), person(trainer)
    named = all(x and x not in ("unknown", "dashboard", "cli") and ":" in (y or "")
                for x, y in ((a, actor), (b, trainer)))
    return named and a.casefold() == b.casefold()


def promote(settings: Settings, version: str, *, reason: str, actor: str, override: bool = False,
            data: FileSource | None = None) -> Move:
    """Make a model version the champion through the promotion gate, and record the move in the ledger.

    The challenger is compared with the champion (:func:`compare_versions`); when the gate fails the champion
    stays, unless ``override`` with a reason. The move is written to the audit trail's ledger once the alias
    has moved; when the ledger cannot be written the alias is moved back, so no move goes unrecorded.

    Parameters
    ----------
    settings : where the registry, the audit trail and the costs and gate rules are.
    version : the model version to promote (a registered model version, e.g. ``lightgbm-20261201T101500Z``).
    reason : why, in the user's words (required).
    actor : who (``cli:<login>``, a dashboard user).
    override : promote even when the gate fails, or when ``actor`` trained the version (separation of duties:
        the person who trained a version may not promote it; the ledger records what was overruled).
    data : rows with outcomes to compare on (default the challenger's test rows).

    Returns
    -------
    Move
        ``moved`` False (and no entry) when the gate failed without an override.

    Raises
    ------
    riskcore.errors.ConfigError
        When there is no reason.
    riskcore.errors.AuditError, riskcore.errors.TrackingError
        When the move cannot be recorded or made; the champion is then unchanged.
    """
    if not reason.strip():
        raise ConfigError("a promotion needs a reason (--reason TEXT): it goes into the model ledger")
    tracker = Tracker.from_settings(settings)
    audit = AuditLog.from_settings(settings)
    audit.check_writable()  # before anything moves: no record, no move
    challenger = open_model(version, settings)
    target = _registry_version(tracker, challenger)
    current = tracker.champion()
    comparison = None
    if current is not None:
        champion = load_champion(tracker)
        if champion.version == challenger.version:
            return Move(False, None, None, f"model {challenger.version} is already the champion")
        comparison = compare_versions(champion, challenger, costs=settings.costs, rules=settings.promotion, data=data)
        if not comparison.comparison.passed and not override:
            return Move(False, None, comparison, "the promotion gate failed: the champion stays; promote with "
                        "--override and a reason to overrule it")
    trainer = challenger.metrics.get("model", {}).get("trained_by")
    own = same_person(actor, trainer)
    if own and not override:
        return Move(False, None, comparison, f"{person(actor)} trained {challenger.version}, so another person must "
                    "promote it (separation of duties); an admin may overrule this with --override and a reason")
    overrode = [name for name, hit in (("gate", comparison is not None and not comparison.comparison.passed),
                                       ("duties", own)) if hit]
    event: ModelEvent = "override" if overrode else "promote"
    move = ModelMove(event=event, actor=actor, from_version=current.model_version if current else "",
                     to_version=challenger.version, reason=reason.strip(),
                     gate_digest=comparison.comparison.digest() if comparison else "",
                     to_bundle_hash=challenger.manifest_hash, overrode=",".join(overrode))
    return _move(tracker, audit, target, move, comparison)


def rollback(settings: Settings, *, reason: str, actor: str) -> Move:
    """Make the previous champion the champion again, on record; the rolled-back one becomes the previous.

    Raises
    ------
    riskcore.errors.ConfigError
        When there is no reason.
    riskcore.errors.ModelNotFoundError
        When there is no previous champion to go back to.
    """
    if not reason.strip():
        raise ConfigError("a rollback needs a reason (--reason TEXT): it goes into the model ledger")
    tracker = Tracker.from_settings(settings)
    audit = AuditLog.from_settings(settings)
    audit.check_writable()
    previous = tracker.alias_version(PREVIOUS_CHAMPION)
    current = tracker.champion()
    if previous is None or current is None:
        raise ModelNotFoundError("there is no previous champion to roll back to: the champion has never been "
                                 "replaced")
    ref = tracker.version_ref(previous)  # on another host than the one that trained it: through the tracking server
    if ref is None:
        raise ModelNotFoundError(f"registry version {previous} of the previous champion no longer exists in the "
                                 "registry; promote a version by name instead (python -m riskcore models promote)")
    bundle = load_bundle(ref.bundle_path, expected_hash=ref.bundle_hash or None)
    move = ModelMove(event="rollback", actor=actor, from_version=current.model_version, to_version=bundle.version,
                     reason=reason.strip(), to_bundle_hash=bundle.manifest_hash)
    return _move(tracker, audit, previous, move, None)


def _move(tracker: Tracker, audit: AuditLog, registry_version: str, move: ModelMove,
          comparison: VersionComparison | None) -> Move:
    """Move the alias, then record the move; if the record fails, move the alias back and fail."""
    before = tracker.alias_version(CHAMPION)
    before_previous = tracker.alias_version(PREVIOUS_CHAMPION)
    tracker.move_champion(registry_version, tags={"moved_by": move.actor, "move_reason": move.reason,
                                                  "move_event": move.event, "gate_digest": move.gate_digest})
    try:
        entry = audit.record_move(move)
    except AuditError:
        if before is not None:
            tracker.client.set_registered_model_alias(tracker.model_name, CHAMPION, before)
        if before_previous is not None:
            tracker.client.set_registered_model_alias(tracker.model_name, PREVIOUS_CHAMPION, before_previous)
        raise
    overruled = " and ".join({"gate": "a failed gate", "duties": "separation of duties"}.get(o, o)
                             for o in move.overrode.split(",") if o) or "a failed gate"
    done = {"promote": f"promoted {move.to_version}", "override": f"promoted {move.to_version} overruling {overruled}",
            "rollback": f"rolled back to {move.to_version}"}[move.event]
    return Move(True, entry, comparison, f"{done} (was {move.from_version or 'no champion'}); ledger entry {entry.seq}")
