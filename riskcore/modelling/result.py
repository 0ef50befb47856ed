"""What a training run produced and found, and the summary a risk manager reads.

:class:`TrainingResult` is what :func:`riskcore.modelling.train.train` and
:func:`riskcore.modelling.cluster_train.train_on_cluster` return; its
:meth:`~TrainingResult.summary` is printed by ``python -m riskcore train``, kept as
``summary.txt`` and logged to MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskcore.data.quality import QualityReport
from riskcore.modelling.leakage import LeakageReport
from riskcore.modelling.search import CandidateResult
from riskcore.modelling.split import Split

__all__ = ["TrainingResult"]


@dataclass
class TrainingResult:
    """What a training run produced and found."""

    bundle_dir: Path
    model_version: str
    metrics: dict[str, Any]
    candidates: list[CandidateResult]
    quality: QualityReport
    leakage: LeakageReport
    split: Split
    notes: list[str]
    run_id: str | None = None
    registry_version: str | None = None
    promoted: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        """A summary a risk manager can read."""
        m = self.metrics
        t = m["test"]
        lines = [f"Model {self.model_version} — {m['model']['kind']} chosen, trained in {self.seconds:.0f} s"]
        sp = m["split"]
        lines.append(f"Split: {sp['mode'].replace('_', '-')} — train {sp['train_rows']:,}, validation "
                     f"{sp['validation_rows']:,}, test {sp['test_rows']:,} rows"
                     + (f" (test periods {', '.join(map(str, sp['periods']['test']))})" if sp.get("periods") else ""))
        lines.append("Candidates (cross-validated AUC on the training part, company-grouped folds):")
        for c in sorted(self.candidates, key=lambda c: -c.cv_auc_mean):
            mark = "  ← chosen" if c.chosen else ""
            lines.append(f"  {c.kind:14s} {c.cv_auc_mean:.3f} ± {c.cv_auc_std:.3f}{mark}")
        ci = t["auc_ci"]
        lines.append(f"Test (out of sample, never seen before this point): AUC {t['auc']:.3f} "
                     f"[{ci[0]:.3f}, {ci[1]:.3f}], Gini {t['gini']:.3f}, KS {t['ks']:.3f}, Brier {t['brier']:.4f}")
        c = m["calibration"]
        fitted = (f"fitted on {c['rows']:,} rows: out-of-fold training scores and the validation rows"
                  if c.get("fitted_on") == "pooled" else f"fitted on the {c.get('rows', 0):,} validation rows")
        lines.append(f"  calibration error (ECE): {t['ece_raw']:.4f} raw → {t['ece_calibrated']:.4f} calibrated "
                     f"({c['method']}, {fitted}); isotonic {c['isotonic']['ece_test']:.4f}, "
                     f"Platt {c['platt']['ece_test']:.4f}")
        if m.get("oracle"):
            o = m["oracle"]
            lines.append(f"  ceiling: the true PD scores AUC {o['auc']:.3f} on the same rows; the model reaches "
                         f"{o['auc_ratio']:.1%} of it; ECE against the true PD {o['ece_vs_true_pd']:.4f}")
        if m.get("baseline"):
            b = m["baseline"]
            lines.append(f"  logistic baseline on test: AUC {b['auc']:.3f} "
                         f"[{b['auc_ci'][0]:.3f}, {b['auc_ci'][1]:.3f}]")
        card = m.get("scorecard")
        if card and card["chosen"] != "scorecard":
            given = card["auc_given_up"]
            lines.append(f"  points scorecard on the same test rows: AUC {card['scorecard_auc']:.3f} against the "
                         f"{card['chosen']} model's {card['model_auc']:.3f} (raw scores): "
                         + (f"{given:.3f} AUC given up" if given >= 0 else f"{-given:.3f} AUC better on these rows"))
        elif card:
            lines.append("  the points scorecard is the chosen model: it gives up no AUC")
        costs = m["costs"]
        fn = "LGD × exposure" if costs["mode"] == "exposure" else f"{costs['fn']:,.0f}"
        lines.append(f"Threshold {m['threshold']:.4f} (refer at or above), chosen on validation to minimise cost "
                     f"(missed default {fn}, false alarm {costs['fp']:,.0f})")
        lines.append(f"  at that threshold on test: precision {t['precision']:.2f}, recall {t['recall']:.2f}, "
                     f"{t['referral_rate']:.1%} of companies referred")
        b = m["business"]
        lines.append(f"Business impact on test: loss without model {b['loss_without_model']:,.0f}, with model "
                     f"{b['loss_with_model']:,.0f}, savings {b['savings']:,.0f} ({b['savings_pct']:.1%}); "
                     f"top-decile lift {b['top_decile_lift']:.2f}")
        lines.append(f"Most important feature: {m['importance']['top_feature']} "
                     f"({m['importance']['top_share']:.0%} of the importance)")
        lines.extend(_soundness_lines(m))
        for w in m.get("warnings", []):
            lines.append(f"WARNING: {w}")
        lines.append("Leakage checks:")
        for f in self.leakage.findings:
            lines.append(f"  {f.status.upper():4s} {f.check}: {f.detail}")
        for n in self.notes:
            lines.append(f"Note: {n}")
        if self.run_id:
            champ = " — now the champion" if self.promoted else ""
            lines.append(f"MLflow run {self.run_id}, registered version {self.registry_version}{champ}")
        lines.append(f"Bundle: {self.bundle_dir}")
        return "\n".join(lines)


def _soundness_lines(m: dict[str, Any]) -> list[str]:
    """The summary's lines on declared directions, the macro stress and monotone constraints."""
    lines = []
    s = m.get("soundness")
    if s:
        bad = s["disagreements"]
        lines.append(f"Risk directions: {len(s['features']) - len(bad)} of {len(s['features'])} declared directions "
                     "not contradicted by the model" + (f"; contradicted: {', '.join(bad)}" if bad else ""))
    stress = (m.get("sensitivity") or {}).get("macro_stress")
    if stress and stress.get("relative_shift") is not None:
        lines.append(f"Macro stress ({stress['description']}): mean PD {stress['mean_pd_base']:.2%} → "
                     f"{stress['mean_pd_stressed']:.2%} ({stress['relative_shift']:+.0%})")
    mono = m.get("monotone")
    if mono and mono.get("auc_cost") is not None:
        lines.append(f"Monotone constraints on {len(mono['features'])} inputs: test AUC "
                     f"{mono['auc_test_constrained']:.3f} against {mono['auc_test_unconstrained']:.3f} "
                     f"unconstrained (cost {mono['auc_cost']:+.3f})")
    elif mono:
        lines.append(f"Monotone constraints: {mono['note']}")
    return lines
