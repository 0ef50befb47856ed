"""One training run, from a raw frame to a registered, verified model bundle.

validate → clean → panel features → split → leakage checks (a failing check stops
the run unless allowed) → cross-validate every candidate on company-grouped
folds with a randomized search → pick by mean CV AUC (near-ties go to the simpler
model) → refit on the training part → calibrate (isotonic or Platt, both reported)
on the out-of-fold training scores plus the validation rows → choose the
cost-minimising threshold on validation → evaluate once on test → importances
(warn when one feature dominates) → the declared risk directions against the model's
own (partial dependence), a macro stress and each feature family's effect
(:mod:`riskcore.modelling.soundness`) → save the bundle → reload it and check it
scores exactly like the fitted pipeline → log to MLflow, register, and mark the
champion.

:func:`train` is that list of stages and nothing else; each stage is a function
of its own in :mod:`riskcore.modelling.stages` (data to calibrated model),
:mod:`riskcore.modelling.assessment` (test metrics and the bundle's records),
:mod:`riskcore.modelling.importance` and :mod:`riskcore.modelling.publish`
(bundle and MLflow). Progress is reported through a ``progress(fraction, message)`` callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, Profile, Settings, TrainingConfig
from riskcore.data.quality import QualityReport
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table
from riskcore.evaluation.reference import build_reference
from riskcore.modelling import assessment, publish, soundness, stages
from riskcore.modelling.importance import importance_table, importance_warnings
from riskcore.modelling.leakage import LeakageReport
from riskcore.modelling.search import CandidateResult
from riskcore.modelling.split import Split
from riskcore.progress import Progress, no_progress

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.modelling.tracking import Tracker

__all__ = ["TrainingResult", "demo_later_paths", "train", "train_demo"]


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


def _mlflow_params(chosen: CandidateResult, config: TrainingConfig, split: Split, data: stages.PreparedData,
                   costs: Costs, spec: DatasetSpec) -> dict[str, Any]:
    """The run's parameters as MLflow records them: settings, data size, costs and the model's own."""
    return {"kind": chosen.kind, "profile": config.profile, "calibration": config.calibration,
            "smote": config.smote, "monotone": config.monotone, "seed": config.random_state,
            "cv_folds": config.cv_folds,
            "n_iter": config.n_iter, "split_mode": split.mode, "rows": len(data.frame), "defaults": data.n_defaults,
            "cost_fn": costs.fn, "cost_fp": costs.fp, "cost_mode": costs.mode, "lgd": costs.lgd,
            "dataset": spec.name, **{f"model.{k}": v for k, v in chosen.params.items()}}


def _mlflow_metrics(found: assessment.Assessment, threshold: float, blocks: dict[str, Any]) -> dict[str, float]:
    """The run's metrics as MLflow records them: test, business impact, threshold, validation AUC, oracle.

    With them the count of direction disagreements and, when constraints were asked for, their AUC cost.
    """
    flat = {**publish.flat_metrics("test", found.test), **publish.flat_metrics("business", found.business),
            "threshold": float(threshold), "validation.auc": found.validation["auc"],
            "soundness.disagreements": float(len(blocks["soundness"]["disagreements"]))}
    if found.oracle:
        flat.update(publish.flat_metrics("oracle", found.oracle))
    cost = (blocks.get("monotone") or {}).get("auc_cost")
    if cost is not None:
        flat["monotone.auc_cost"] = float(cost)
    return flat


@dataclass(frozen=True)
class _Saved:
    """The saved bundle of a run, its version, folder and metrics."""

    version: str
    bundle_dir: Path
    bundle: ModelBundle
    metrics: dict[str, Any]


def _save(models_dir: str | Path, *, pipeline: Any, chosen: CandidateResult, search: stages.SearchOutcome,
          data: stages.PreparedData, parts: stages.Parts, calibrated: stages.Calibrated, cutoff: stages.Cutoff,
          found: assessment.Assessment, base: assessment.Baseline | None, importances: pd.DataFrame,
          warnings: list[str], leak: LeakageReport, split: Split, spec: DatasetSpec, inputs: list[str],
          config: TrainingConfig, costs: Costs, source: str | None, blocks: dict[str, Any],
          trained_by: str | None = None) -> _Saved:
    """Stage 9: claim a version, assemble ``metrics.json`` and the holdout rows, save and verify the bundle."""
    created = datetime.now(UTC)
    version, bundle_dir = publish.claim_version(Path(models_dir), f"{chosen.kind}-{created.strftime('%Y%m%dT%H%M%SZ')}")
    metrics = assessment.run_metrics(
        version=version, created=created, chosen=chosen, config=config, data=data, inputs=inputs, source=source,
        trained_by=trained_by,
        spec=spec, split=assessment.split_info(split, data.frame, data.y, spec), candidates=search.candidates,
        assessment=found, threshold=cutoff.threshold, costs=costs, base=base, importances=importances, leak=leak,
        warnings=warnings)
    metrics.update(blocks)  # soundness, sensitivity and (with --monotone) monotone
    info = {"version": version, "created_at": created.isoformat(), "threshold": float(cutoff.threshold),
            "costs": metrics["costs"], "calibration": config.calibration, "params": chosen.params,
            "training_rows": int(len(split.train)), "test_auc": found.test["auc"], "profile": config.profile}
    content = publish.BundleContent(
        info=info, calibrators=dict(calibrated.calibrators), metrics=metrics, importances=importances,
        profile=publish.data_profile(parts.X_train, spec, parts.y_train, publish.feature_builder(pipeline)),
        holdout=assessment.holdout_frame(parts, inputs, spec, calibrated, base.p_test if base else None),
        reference=build_reference(spec, parts.X_train, np.concatenate([calibrated.p_validation, calibrated.p_test]),
                                  calibrated.p_test, parts.y_test).as_dict())
    bundle = publish.save_and_verify(bundle_dir, pipeline=pipeline, kind=chosen.kind, spec=spec, content=content,
                                     X_test=parts.X_test, p_test=calibrated.p_test)
    return _Saved(version, bundle_dir, bundle, metrics)


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------

def train(
    data: pd.DataFrame | Table,
    spec: DatasetSpec,
    *,
    config: TrainingConfig | None = None,
    costs: Costs | None = None,
    models_dir: str | Path,
    tracker: Tracker | None = None,
    progress: Progress = no_progress,
    positive: str | None = None,
    promote: bool | None = None,
    source: str | None = None,
    trained_by: str | None = None,
) -> TrainingResult:
    """Train, evaluate, save, register.

    Parameters
    ----------
    data : the portfolio as a frame or as a table read from a file.
    spec : its spec (see :func:`riskcore.data.infer.infer_spec` for a user's CSV).
    config : search budget, calibration, SMOTE, leak policy (default: full profile).
    costs : cost of a missed default and of a false alarm (default 50,000 / 10,000).
    models_dir : where the bundle folder is written.
    tracker : a :class:`riskcore.modelling.tracking.Tracker`, or None to skip MLflow.
    progress : ``progress(fraction, message)`` callback.
    positive : the target label meaning default, when not 0/1.
    promote : make the new model the champion; by default only when there is none yet.
    source : where the data came from (a file path), recorded with the model.
    trained_by : who started the run (``cli:<login>``, ``dashboard:<user>``), recorded with the model: the
        person who trained a version may not promote it (separation of duties).

    Returns
    -------
    TrainingResult

    Raises
    ------
    DataFileError
        When the data cannot be used for training (no target, too few defaults).
    LeakageError
        When a leakage check fails and ``config.allow_leaks`` is false.
    """
    t0 = time.monotonic()
    config = config or TrainingConfig()
    costs = costs or Costs()
    notes: list[str] = list(spec.notes)  # what reading the data converted or left out

    progress(0.01, "checking data quality")
    prepared = stages.prepare_data(data, spec, costs, positive)
    notes.extend(prepared.clean_notes)
    progress(0.04, "splitting")
    split, spec = stages.split_data(prepared.frame, prepared.y, spec, config)
    if split.note:
        notes.append(split.note)
    progress(0.06, "running leakage checks")
    inputs = stages.model_inputs(prepared.frame, spec)
    leak, leak_note = stages.screen_leaks(prepared.frame, prepared.y, spec, split, inputs, config)
    if leak_note:
        notes.append(leak_note)
    parts = stages.split_parts(prepared.frame, prepared.y, split)
    found_search = stages.search(parts, spec, config, progress)
    if found_search.rows.note:
        notes.append(found_search.rows.note)
    chosen = found_search.chosen
    progress(0.74, f"refitting {chosen.kind} on all training rows")
    pipeline = stages.refit(chosen, parts, spec, config, leak)
    progress(0.80, "calibrating and choosing the threshold")
    calibrated = stages.calibrate(pipeline, chosen, found_search.rows.y, parts, config)
    cutoff = stages.choose_cutoff(parts, calibrated, spec, costs)
    progress(0.84, "evaluating on the test part")
    found = assessment.assess(parts, calibrated, cutoff, spec, config, costs)
    base = assessment.baseline(found_search, pipeline, parts, spec, config, cutoff.threshold)
    progress(0.88, "measuring feature importance")
    importances = importance_table(pipeline, parts.X_validation, parts.y_validation, inputs, spec, chosen.kind,
                                   config.random_state)
    warnings = importance_warnings(importances, config.importance_warning, found.test["auc"],
                                   found.oracle["auc"] if found.oracle else None)
    progress(0.90, "measuring the model's directions and sensitivity")
    blocks = soundness.measure(pipeline, chosen, parts, calibrated, spec, inputs, config)
    progress(0.92, "saving the bundle")
    saved = _save(models_dir, pipeline=pipeline, chosen=chosen, search=found_search, data=prepared, parts=parts,
                  calibrated=calibrated, cutoff=cutoff, found=found, base=base, importances=importances,
                  warnings=warnings, leak=leak, split=split, spec=spec, inputs=inputs, config=config, costs=costs,
                  source=source, blocks=blocks, trained_by=trained_by)
    result = TrainingResult(bundle_dir=saved.bundle_dir, model_version=saved.version, metrics=saved.metrics,
                            candidates=found_search.candidates, quality=prepared.quality, leakage=leak, split=split,
                            notes=notes, seconds=time.monotonic() - t0)
    if tracker is not None:
        progress(0.96, "logging to MLflow")
        reg = publish.log_to_tracker(
            tracker, version=saved.version, kind=chosen.kind,
            params=_mlflow_params(chosen, config, split, prepared, costs, spec),
            metrics=_mlflow_metrics(found, cutoff.threshold, blocks),
            candidates=[{**c.as_dict(), "fold_aucs": None} for c in found_search.candidates],
            bundle=saved.bundle, bundle_dir=saved.bundle_dir, summary=result.summary(), promote=promote)
        result.run_id, result.registry_version, result.promoted = reg.run_id, reg.registry_version, reg.promoted
    result.seconds = time.monotonic() - t0
    progress(1.0, "done")
    return result


def train_demo(settings: Settings, *, profile: Profile = "quick", progress: Progress = no_progress,
               n_companies: int | None = None, seed: int = 7, later_years: int = 0) -> TrainingResult:
    """Generate the demo portfolio (when missing), train on it, register and promote the model.

    This is the dashboard's first start. The CSV and its manifest are written to
    ``settings.data_dir``; the model is logged to the settings' MLflow store. With
    ``later_years`` the years after the training panel are written too (see
    :func:`demo_later_paths`), for the monitoring history of the first start.
    """
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.tabular import read_table
    from riskcore.modelling.tracking import Tracker

    path = Path(settings.data_dir) / "demo_portfolio.csv"
    manifest = path.with_name(path.name + ".manifest.json")
    later_missing = later_years > 0 and not all(p.exists() for p in demo_later_paths(settings))
    if not path.exists():
        progress(0.0, "generating the demo portfolio")
        _write_demo(settings, n_companies or settings.demo_companies, seed, later_years, write_panel=True)
    elif later_missing and manifest.exists():
        # the later years continue the panel on disk: the same companies and seed
        from riskcore.data.synth import Manifest

        m = Manifest.from_json(manifest.read_text(encoding="utf-8"))
        progress(0.0, "generating the demo's later years")
        _write_demo(settings, m.n_companies, m.seed, later_years, write_panel=False)
    table = read_table(path)

    def scaled(fraction: float, message: str) -> None:
        progress(0.05 + 0.95 * fraction, message)

    return train(table, DEMO_SPEC, config=TrainingConfig.for_profile(profile, random_state=seed),
                 costs=settings.costs, models_dir=settings.models_dir, tracker=Tracker.from_settings(settings),
                 progress=scaled, promote=True, source=str(path))


def demo_later_paths(settings: Settings) -> tuple[Path, Path]:
    """Where the demo's later years go: the portfolio scored later, and the outcomes that followed."""
    folder = Path(settings.data_dir)
    return folder / "demo_portfolio.later.csv", folder / "demo_portfolio.later_outcomes.csv"


def _write_demo(settings: Settings, n_companies: int, seed: int, later_years: int, *, write_panel: bool) -> None:
    """Write the demo portfolio, its manifest and (with ``later_years``) its later years, each file atomically."""
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.data.tabular import write_csv
    from riskcore.modelling.features import with_history_features

    portfolio = generate_portfolio(n_companies, seed=seed, later_years=later_years)
    path = Path(settings.data_dir) / "demo_portfolio.csv"
    path.parent.mkdir(parents=True, exist_ok=True)

    def atomic(frame: pd.DataFrame, target: Path) -> None:
        tmp = target.with_suffix(".tmp")
        write_csv(frame, tmp)
        tmp.replace(target)

    if portfolio.later is not None:
        later_path, outcomes_path = demo_later_paths(settings)
        atomic(with_history_features(portfolio.frame, portfolio.later.frame, DEMO_SPEC), later_path)
        atomic(portfolio.later.outcomes, outcomes_path)
    if write_panel:
        path.with_name(path.name + ".manifest.json").write_text(portfolio.manifest.to_json(), encoding="utf-8")
        atomic(portfolio.frame, path)
