"""One training run, from a raw frame to a registered, verified model bundle.

validate → clean → panel features → split → leakage checks (a failing check stops
the run unless allowed) → cross-validate every candidate on company-grouped
folds with a randomized search → pick by mean CV AUC (near-ties go to the simpler
model) → refit on the training part → calibrate (isotonic or Platt, both reported)
on the out-of-fold training scores plus the validation rows → choose the
cost-minimising threshold on validation → evaluate once on test → importances
(warn when one feature dominates) → save the bundle → reload it and check it
scores exactly like the fitted pipeline → log to MLflow, register, and mark the
champion.

Progress is reported through a ``progress(fraction, message)`` callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskcore.config import Costs, TrainingConfig
from riskcore.data.quality import QualityReport, check_frame, clean_for_training, freeze_typical_ranges, prepare_frame
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import Table
from riskcore.errors import BundleError, DataFileError, LeakageError
from riskcore.modelling.features import add_panel_features, feature_layout
from riskcore.modelling.leakage import LeakageFinding, LeakageReport, check_preprocessing, run_leakage_checks
from riskcore.modelling.models import SIMPLICITY, make_pipeline, raw_score, search_space
from riskcore.modelling.split import Split, cv_folds, split_portfolio
from riskcore.progress import Progress, no_progress

__all__ = ["CandidateResult", "TrainingResult", "data_profile", "train", "train_demo"]

MIN_DEFAULTS = 20


@dataclass
class CandidateResult:
    """Cross-validation outcome of one candidate kind (its best configuration)."""

    kind: str
    params: dict[str, Any]
    cv_auc_mean: float
    cv_auc_std: float
    fold_aucs: list[float]
    configs_tried: int
    seconds: float
    oof: np.ndarray = field(repr=False)
    chosen: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for ``metrics.json`` and MLflow."""
        return {"kind": self.kind, "cv_auc_mean": self.cv_auc_mean, "cv_auc_std": self.cv_auc_std,
                "fold_aucs": self.fold_aucs, "params": self.params, "configs_tried": self.configs_tried,
                "seconds": round(self.seconds, 2), "chosen": self.chosen}


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


# ---------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------

def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p))


def _sample_configs(kind: str, n_iter: int, random_state: int) -> list[dict[str, Any]]:
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    space = search_space(kind)
    if not space:
        return [{}]
    size = len(ParameterGrid(space))
    if kind == "random_forest":
        n_iter = max(2, n_iter // 2)
    if size <= n_iter:
        return list(ParameterGrid(space))
    return list(ParameterSampler(space, n_iter=n_iter, random_state=random_state))


def _fit_task(task: tuple[str, int, int], params: dict[str, Any], X: pd.DataFrame, y: np.ndarray,
              fold: tuple[np.ndarray, np.ndarray], spec: DatasetSpec, smote: bool,
              random_state: int) -> tuple[tuple[str, int, int], np.ndarray, float]:
    """One cross-validation fit, on one thread (the search parallelises over fits instead).

    Returns the task's key, its out-of-fold predictions and its fit time.
    """
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    tr, va = fold
    with threadpool_limits(limits=1):
        pipe = make_pipeline(task[0], spec, params, smote=smote, random_state=random_state)
        pipe.fit(X.iloc[tr], y[tr])
        pred = np.asarray(pipe.predict_proba(X.iloc[va])[:, 1])
    return task, pred, time.perf_counter() - t0


def _search(
    kinds: list[str],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    spec: DatasetSpec,
    config: TrainingConfig,
    progress: Progress,
    lo: float,
    hi: float,
) -> list[CandidateResult]:
    """Cross-validate every sampled configuration of every candidate.

    Each fit runs single-threaded and ``config.n_jobs`` fits run at once in
    worker processes: on two cores, two one-thread fits finish sooner than one
    two-thread fit (OpenMP's synchronisation costs more than it gains on a few
    thousand rows — LightGBM 1.6 s on one thread against 2.5 s on two).
    """
    from joblib import Parallel, delayed

    plans = {k: _sample_configs(k, config.n_iter, config.random_state) for k in kinds}
    tasks = [(kind, pi, fi) for kind in kinds for pi in range(len(plans[kind])) for fi in range(len(folds))]
    total = len(tasks)
    fit_seconds = dict.fromkeys(kinds, 0.0)
    oofs = {(kind, pi): np.full(len(y), np.nan) for kind, pi, _ in tasks}
    jobs = max(1, min(config.n_jobs, total))
    calls = (delayed(_fit_task)(t, plans[t[0]][t[1]], X, y, folds[t[2]], spec, config.smote, config.random_state)
             for t in tasks)
    outputs = (Parallel(n_jobs=jobs, return_as="generator_unordered")(calls) if jobs > 1
               else (fn(*args, **kwargs) for fn, args, kwargs in calls))
    for done, ((kind, pi, fi), pred, seconds) in enumerate(outputs, 1):
        oofs[(kind, pi)][folds[fi][1]] = pred
        fit_seconds[kind] += seconds
        progress(lo + (hi - lo) * done / total, f"cross-validating {kind} ({done}/{total} fits)")
    results = []
    for kind in kinds:
        best: tuple[float, float, list[float], dict[str, Any], np.ndarray] | None = None
        for pi, params in enumerate(plans[kind]):
            oof = oofs[(kind, pi)]
            aucs = [_auc(y[va], oof[va]) for _, va in folds]
            mean = float(np.nanmean(aucs))
            if best is None or mean > best[0]:
                best = (mean, float(np.nanstd(aucs)), aucs, params, oof)
        assert best is not None
        results.append(CandidateResult(kind, dict(best[3]), best[0], best[1], [float(a) for a in best[2]],
                                       len(plans[kind]), fit_seconds[kind], best[4]))
    return results


def _claim_version(models_dir: Path, stem: str) -> tuple[str, Path]:
    """A model version no other run has: its bundle folder is created here, atomically.

    Two runs finishing within the same second (a quick run on a small file takes
    a few seconds) get ``stem`` and ``stem-2``; neither overwrites the other's bundle.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        version = stem if n == 1 else f"{stem}-{n}"
        try:
            (models_dir / version).mkdir()
        except FileExistsError:
            continue
        return version, models_dir / version
    raise RuntimeError(f"more than 999 model versions named {stem!r} in {models_dir}")


def _calibration_rows(config: TrainingConfig, chosen: CandidateResult, y_search: np.ndarray,
                      raw_va: np.ndarray, y_va: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The raw scores and outcomes the calibrator is fitted on.

    ``pooled`` (the default) adds the chosen candidate's out-of-fold training
    scores — each predicted by a model that never saw its row, like
    scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` — to the
    validation rows. One validation year holds a few hundred defaults and its
    own point in the credit cycle; isotonic regression on it alone fits that
    year's noise (on the demo portfolio it made a well-calibrated model worse on
    the test year). The pooled rows span every training year, so the PD is
    anchored to the default rate across the cycle.
    """
    if config.calibrate_on == "validation" or chosen.oof is None:
        return raw_va, y_va
    ok = np.isfinite(chosen.oof)
    p = np.clip(chosen.oof[ok], 1e-12, 1 - 1e-12)
    return np.r_[np.log(p / (1 - p)), raw_va], np.r_[y_search[ok], y_va]


def _ensemble_candidate(results: list[CandidateResult], y: np.ndarray,
                        folds: list[tuple[np.ndarray, np.ndarray]]) -> CandidateResult | None:
    ranked = sorted(results, key=lambda c: -c.cv_auc_mean)[:3]
    if len(ranked) < 2:
        return None
    oof = np.mean([c.oof for c in ranked], axis=0)
    aucs = [_auc(y[va], oof[va]) for _, va in folds]
    return CandidateResult("ensemble", {"members": [{"kind": c.kind, "params": c.params} for c in ranked]},
                           float(np.nanmean(aucs)), float(np.nanstd(aucs)), [float(a) for a in aucs], 1,
                           0.0, oof)


def _choose(results: list[CandidateResult], tolerance: float) -> CandidateResult:
    best = max(r.cv_auc_mean for r in results)
    near = [r for r in results if best - r.cv_auc_mean <= tolerance]
    return min(near, key=lambda r: (SIMPLICITY.get(r.kind, 9), -r.cv_auc_mean))


def _build(candidate: CandidateResult, spec: DatasetSpec, config: TrainingConfig) -> Any:
    if candidate.kind == "ensemble":
        members = [(m["kind"], m["params"]) for m in candidate.params["members"]]
        return make_pipeline("ensemble", spec, members=members, smote=config.smote,
                             random_state=config.random_state)
    return make_pipeline(candidate.kind, spec, candidate.params, smote=config.smote,
                         random_state=config.random_state)


def _permutation_importance(pipeline: Any, X: pd.DataFrame, y: np.ndarray, columns: list[str],
                            random_state: int, repeats: int = 2) -> pd.DataFrame:
    """AUC lost when one input column is shuffled (engineered features follow their inputs)."""
    rng = np.random.default_rng(random_state)
    base = _auc(y, pipeline.predict_proba(X)[:, 1])
    rows = []
    for col in columns:
        drops = []
        for _ in range(repeats):
            Xp = X.copy()
            Xp[col] = Xp[col].to_numpy()[rng.permutation(len(Xp))]
            drops.append(base - _auc(y, pipeline.predict_proba(Xp)[:, 1]))
        rows.append({"feature": col, "auc_drop": float(np.mean(drops))})
    df = pd.DataFrame(rows)
    pos = df["auc_drop"].clip(lower=0)
    df["share"] = pos / pos.sum() if pos.sum() > 0 else 0.0
    return df.sort_values("auc_drop", ascending=False).reset_index(drop=True)


def _native_importance(pipeline: Any, spec: DatasetSpec) -> dict[str, float]:
    model = getattr(pipeline, "steps", [[None, None]])[-1][1]
    imp = getattr(model, "feature_importances_", None)
    names = feature_layout(spec).names
    if imp is None or len(imp) != len(names):
        return {}
    imp = np.asarray(imp, dtype=float)
    total = imp.sum() or 1.0
    return {n: float(v / total) for n, v in zip(names, imp)}


def data_profile(frame: pd.DataFrame, spec: DatasetSpec, y: np.ndarray, builder: Any = None) -> dict[str, Any]:
    """Per-feature and per-segment quantiles of the training rows (drift checks, peer comparison).

    ``features[name]`` holds quantiles at 0, 2, …, 100%, mean, std and missing
    share (numbers) or category shares (text); ``segments[segment][name]`` holds the
    same quantile grid within each segment; ``segment_rates`` the default rate.
    """
    qs = np.linspace(0, 100, 51)
    if builder is not None:
        eng = builder.layout_.engineered
        if eng:
            m = builder.transform(frame)
            frame = frame.assign(**{name: m[:, len(builder.layout_.names) - len(eng) + j]
                                    for j, name in enumerate(eng)})
    out: dict[str, Any] = {"quantile_levels": qs.tolist(), "features": {}, "segments": {}, "segment_rates": {},
                           "rows": int(len(frame)), "default_rate": float(np.mean(y))}
    columns = list(spec.model_inputs) + [f.name for f in spec.row_features]
    numeric = [c for c in columns if c in frame and pd.api.types.is_numeric_dtype(frame[c])]
    for c in columns:
        if c not in frame:
            continue
        s = frame[c]
        if c in numeric:
            v = s.to_numpy(dtype=float)
            fin = v[np.isfinite(v)]
            out["features"][c] = {
                "kind": "numeric", "missing": float(np.mean(~np.isfinite(v))),
                "mean": float(fin.mean()) if len(fin) else None, "std": float(fin.std()) if len(fin) else None,
                "quantiles": np.percentile(fin, qs).tolist() if len(fin) else None,
            }
        else:
            shares = s.astype(object).fillna("(missing)").value_counts(normalize=True)
            out["features"][c] = {"kind": "categorical", "shares": {str(k): float(v) for k, v in shares.items()}}
    seg = spec.segment
    if seg and seg in frame:
        for name, grp in frame.groupby(seg):
            prof: dict[str, Any] = {}
            for c in numeric:
                v = grp[c].to_numpy(dtype=float)
                fin = v[np.isfinite(v)]
                prof[c] = np.percentile(fin, qs).tolist() if len(fin) >= 5 else None
            out["segments"][str(name)] = prof
            out["segment_rates"][str(name)] = float(np.mean(y[frame[seg].to_numpy() == name]))
    return out


def _builder(pipeline: Any) -> Any:
    """The fitted FeatureBuilder of a pipeline or of an ensemble's first member."""
    if hasattr(pipeline, "members"):
        pipeline = pipeline.members[0][1]
    return pipeline.steps[0][1]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _flat_metrics(prefix: str, d: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in d.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)) and v == v and abs(v) != float("inf"):
            out[f"{prefix}.{k}"] = float(v)
        elif isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
            out[f"{prefix}.{k}_lower"], out[f"{prefix}.{k}_upper"] = float(v[0]), float(v[1])
    return out


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
    tracker: Any = None,
    progress: Progress = no_progress,
    positive: str | None = None,
    promote: bool | None = None,
    source: str | None = None,
) -> TrainingResult:
    """Train, evaluate, save, register.

    Parameters
    ----------
    data : the portfolio as a frame or as a table read from a file.
    spec : its spec (see :func:`riskcore.data.schema.infer_spec` for a user's CSV).
    config : search budget, calibration, SMOTE, leak policy (default: full profile).
    costs : cost of a missed default and of a false alarm (default 50,000 / 10,000).
    models_dir : where the bundle folder is written.
    tracker : a :class:`riskcore.modelling.tracking.Tracker`, or None to skip MLflow.
    progress : ``progress(fraction, message)`` callback.
    positive : the target label meaning default, when not 0/1.
    promote : make the new model the champion; by default only when there is none yet.
    source : where the data came from (a file path), recorded with the model.

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
    from riskcore.evaluation.costs import business_impact, choose_threshold
    from riskcore.evaluation.metrics import evaluate, oracle_metrics, roc_auc, segment_table
    from riskcore.modelling.bundle import calibrated_pd, load_bundle, save_bundle
    from riskcore.modelling.calibration import expected_calibration_error, fit_calibrator

    t0 = time.monotonic()
    config = config or TrainingConfig()
    costs = costs or Costs()
    notes: list[str] = list(spec.notes)  # what reading the data converted or left out

    # 1. validate and clean ------------------------------------------------
    progress(0.01, "checking data quality")
    prepared = prepare_frame(data, spec)
    quality = check_frame(prepared, positive=positive)
    frame, clean_notes = clean_for_training(prepared, quality, positive)
    notes.extend(clean_notes)
    missing_required = [c for c in prepared.missing_columns if spec.feature(c).required]
    if missing_required:
        raise DataFileError(f"required feature column(s) {missing_required!r} are not in the data")
    y_all = frame[spec.target].to_numpy().astype(int)
    n_pos, n_neg = int(y_all.sum()), int(len(y_all) - y_all.sum())
    if n_pos < MIN_DEFAULTS or n_neg < MIN_DEFAULTS:
        raise DataFileError(f"the target column {spec.target!r} has {n_pos} defaults and {n_neg} non-defaults after "
                            f"cleaning; training needs at least {MIN_DEFAULTS} of each to cross-validate, calibrate "
                            "and test honestly — add rows, or check that the right column is the target")
    if costs.mode == "exposure" and not (spec.exposure and spec.exposure in frame):
        raise DataFileError("exposure cost mode needs an exposure column (--exposure COL)")
    frame = add_panel_features(frame, spec)

    # 2. split ----------------------------------------------------------------
    progress(0.04, "splitting")
    split = split_portfolio(frame, y_all, time=spec.time, id=spec.id, random_state=config.random_state)
    if split.note:
        notes.append(split.note)
    spec = freeze_typical_ranges(spec, frame.iloc[split.train])

    # 3. leakage checks (b)-(d) ------------------------------------------------
    progress(0.06, "running leakage checks")
    inputs = [c for c in spec.model_inputs if c in frame]
    leak = run_leakage_checks(frame, y_all, spec, split, columns=inputs, random_state=config.random_state)
    if leak.failed and not config.allow_leaks:
        cols = ", ".join(map(repr, leak.failed_columns)) or "see the details"
        details = " ".join(f.detail for f in leak.failed)
        raise LeakageError(f"training stopped: leakage check failed for {cols}. {details}", leak.findings)
    if leak.failed:
        notes.append(f"leakage checks failed for {leak.failed_columns!r} but --allow-leaks was given")

    X = frame
    tr, va, te = split.train, split.validation, split.test
    X_tr, y_tr = X.iloc[tr].reset_index(drop=True), y_all[tr]
    X_va, y_va = X.iloc[va].reset_index(drop=True), y_all[va]
    X_te, y_te = X.iloc[te].reset_index(drop=True), y_all[te]

    # 4. cross-validated search ----------------------------------------------
    groups = X_tr[spec.id].astype(str).to_numpy() if spec.id and spec.id in X_tr else None
    search_idx = np.arange(len(X_tr))
    if len(X_tr) > config.max_search_rows:
        rng = np.random.default_rng(config.random_state)
        if groups is not None:
            uniq = np.unique(groups)
            keep = rng.choice(uniq, int(len(uniq) * config.max_search_rows / len(X_tr)), replace=False)
            search_idx = np.flatnonzero(np.isin(groups, keep))
        else:
            search_idx = np.sort(rng.choice(len(X_tr), config.max_search_rows, replace=False))
        notes.append(f"the search used {len(search_idx):,} of {len(X_tr):,} training rows; the final model all")
    X_s, y_s = X_tr.iloc[search_idx].reset_index(drop=True), y_tr[search_idx]
    folds = cv_folds(y_s, groups[search_idx] if groups is not None else None, n_splits=config.cv_folds,
                     random_state=config.random_state)
    kinds = [k for k in config.candidates if k != "ensemble"]
    candidates = _search(kinds, X_s, y_s, folds, spec, config, progress, 0.12, 0.72)
    if "ensemble" in config.candidates:
        ens = _ensemble_candidate(candidates, y_s, folds)
        if ens is not None:
            candidates.append(ens)
    chosen = _choose(candidates, config.tie_tolerance)
    chosen.chosen = True

    # 5. refit on all training rows ------------------------------------------
    progress(0.74, f"refitting {chosen.kind} on all training rows")
    pipeline = _build(chosen, spec, config)
    pipeline.fit(X_tr, y_tr)
    X_other = pd.concat([X_va, X_te], ignore_index=True)
    if chosen.kind == "ensemble":
        checks = [check_preprocessing(p, X_tr, X_other) for _, p in pipeline.members]
        bad = [c for c in checks if c.status == "fail"]
        pre = bad[0] if bad else LeakageFinding("preprocessing", "pass",
                                                "every ensemble member: " + checks[0].detail)
    else:
        pre = check_preprocessing(pipeline, X_tr, X_other)
    leak.findings.insert(0, pre)
    if pre.status == "fail" and not config.allow_leaks:
        raise LeakageError(f"training stopped: {pre.detail}", leak.findings)

    # 6. calibrate (pooled out-of-fold + validation rows), threshold on validation
    progress(0.80, "calibrating and choosing the threshold")
    raw_va, raw_te = raw_score(pipeline, X_va), raw_score(pipeline, X_te)
    cal_raw, cal_y = _calibration_rows(config, chosen, y_s, raw_va, y_va)
    calibrators = {m: fit_calibrator(cal_raw, cal_y, method=m) for m in ("isotonic", "platt")}
    cal = calibrators[config.calibration]
    p_va, p_te = calibrated_pd(cal, raw_va), calibrated_pd(cal, raw_te)
    exp_va = X_va[spec.exposure].to_numpy(dtype=float) if costs.mode == "exposure" else None
    exp_te = X_te[spec.exposure].to_numpy(dtype=float) if costs.mode == "exposure" else None
    if exp_va is not None:
        exp_va = np.nan_to_num(exp_va, nan=0.0)
        exp_te = np.nan_to_num(exp_te, nan=0.0)
    threshold, _ = choose_threshold(y_va, p_va, costs, exposure=exp_va)

    # 7. evaluate once on test ------------------------------------------------
    progress(0.84, "evaluating on the test part")
    test = evaluate(y_te, p_te, threshold, n_resamples=config.n_bootstrap, random_state=config.random_state,
                    y_raw=_sigmoid(raw_te))
    calibration = {"method": config.calibration, "fitted_on": config.calibrate_on, "rows": int(len(cal_y)),
                   "defaults": int(cal_y.sum())}
    for m, c in calibrators.items():
        calibration[m] = {"ece_test": float(expected_calibration_error(y_te, calibrated_pd(c, raw_te))),
                          "ece_validation": float(expected_calibration_error(y_va, calibrated_pd(c, raw_va)))}
    validation = {"auc": roc_auc(y_va, p_va), "ece_calibrated": float(expected_calibration_error(y_va, p_va)),
                  "rows": int(len(y_va)), "defaults": int(y_va.sum())}
    business = business_impact(y_te, p_te, threshold, costs, exposure=exp_te).as_dict()
    segments = pd.DataFrame()
    if spec.segment and spec.segment in X_te:
        segments = segment_table(y_te, p_te, X_te[spec.segment].astype(str).to_numpy(),
                                 n_resamples=min(config.n_bootstrap, 500), random_state=config.random_state)
    oracle = None
    if spec.oracle and spec.oracle in X_te:
        tp = X_te[spec.oracle].to_numpy(dtype=float)
        o = oracle_metrics(y_te, p_te, tp)
        ratio = test["auc"] / o["auc"] if test.get("auc") and o.get("auc") else None
        oracle = {"auc": o["auc"], "ece_vs_true_pd": o["ece_vs_true_pd"], "auc_ratio": ratio}
    baseline = None
    p_base_te = None
    logit_cand = next((c for c in candidates if c.kind == "logistic"), None)
    if logit_cand is not None:
        if chosen.kind == "logistic":
            base_pipe = pipeline
        else:
            base_pipe = make_pipeline("logistic", spec, logit_cand.params, smote=config.smote,
                                      random_state=config.random_state).fit(X_tr, y_tr)
        b_raw, b_y = _calibration_rows(config, logit_cand, y_s, raw_score(base_pipe, X_va), y_va)
        bcal = fit_calibrator(b_raw, b_y, method=config.calibration)  # calibrated the same way as the model
        p_base_te = calibrated_pd(bcal, raw_score(base_pipe, X_te))
        bt = evaluate(y_te, p_base_te, threshold, n_resamples=config.n_bootstrap, random_state=config.random_state)
        baseline = {"kind": "logistic", "auc": bt["auc"], "auc_ci": bt["auc_ci"], "brier": bt["brier"],
                    "ece_calibrated": bt["ece_calibrated"]}

    # 8. importances ----------------------------------------------------------
    progress(0.88, "measuring feature importance")
    perm = _permutation_importance(pipeline, X_va, y_va, inputs, config.random_state)
    native = _native_importance(pipeline, spec) if chosen.kind != "ensemble" else {}
    perm["native_share"] = perm["feature"].map(native).astype(float)
    perm["label"] = perm["feature"].map(spec.label)
    perm["family"] = perm["feature"].map(lambda c: spec.feature(c).family if spec.has_feature(c) else "other")
    top = perm.iloc[0]
    warnings_list: list[str] = []
    if float(top["share"]) > config.importance_warning:
        warnings_list.append(
            f"one feature, {top['feature']!r}, holds {float(top['share']):.0%} of the importance — check it for "
            "leakage or for a proxy of the outcome before trusting this model")
    if oracle and test["auc"] > oracle["auc"] + 0.02:
        warnings_list.append("the model beats the true PD on test by more than 0.02 AUC, which chance rarely "
                             "explains: look for leakage")

    # 9. save, reload, compare -------------------------------------------------
    progress(0.92, "saving the bundle")
    created = datetime.now(UTC)
    version, bundle_dir = _claim_version(Path(models_dir), f"{chosen.kind}-{created.strftime('%Y%m%dT%H%M%SZ')}")
    split_info = {
        "mode": split.mode, "train_rows": int(len(tr)), "validation_rows": int(len(va)), "test_rows": int(len(te)),
        "periods": split.periods, "note": split.note,
        "summary": split.summary(y_all, frame[spec.id] if spec.id in frame else None,
                                 frame[spec.time] if spec.time and spec.time in frame else None)
        .astype(object).where(lambda d: d.notna(), None).to_dict(orient="records"),
    }
    metrics: dict[str, Any] = {
        "model": {"kind": chosen.kind, "version": version, "params": chosen.params,
                  "calibration": config.calibration, "profile": config.profile,
                  "trained_at": created.isoformat(), "smote": config.smote, "seed": config.random_state},
        "data": {"rows": int(len(frame)), "defaults": n_pos, "default_rate": n_pos / len(frame),
                 "cleaning": clean_notes, "features": inputs, "source": source, "spec": spec.name},
        "split": split_info,
        "candidates": [c.as_dict() for c in candidates],
        "validation": validation,
        "test": test,
        "threshold": float(threshold),
        "costs": {"fn": costs.fn, "fp": costs.fp, "lgd": costs.lgd, "mode": costs.mode},
        "business": business,
        "calibration": calibration,
        "segments": segments.to_dict(orient="records"),
        "oracle": oracle,
        "baseline": baseline,
        "importance": {"top_feature": str(top["feature"]), "top_share": float(top["share"]),
                       "method": "permutation (validation AUC lost when the column is shuffled)"},
        "leakage": [f.as_dict() for f in leak.findings],
        "warnings": warnings_list,
    }
    keep = [c for c in (spec.id, spec.time, spec.segment, spec.name_column, spec.exposure, spec.oracle) if c]
    holdout = pd.concat([X_va.assign(part="validation"), X_te.assign(part="test")], ignore_index=True)
    cols = list(dict.fromkeys([c for c in keep if c in holdout] + inputs + ["part"]))
    holdout = holdout[cols].copy()
    holdout["y"] = np.concatenate([y_va, y_te])
    holdout["score_raw"] = np.concatenate([raw_va, raw_te])
    holdout["p_default"] = np.concatenate([p_va, p_te])
    holdout["p_uncalibrated"] = _sigmoid(holdout["score_raw"].to_numpy())
    for m, c in calibrators.items():
        holdout[f"p_{m}"] = calibrated_pd(c, holdout["score_raw"].to_numpy())
    if p_base_te is not None:
        holdout["p_baseline"] = np.concatenate([np.full(len(y_va), np.nan), p_base_te])
    info = {"version": version, "created_at": created.isoformat(), "threshold": float(threshold),
            "costs": metrics["costs"], "calibration": config.calibration, "params": chosen.params,
            "training_rows": int(len(tr)), "test_auc": test["auc"], "profile": config.profile}
    members = None
    if chosen.kind == "ensemble":
        members = list(pipeline.members)
    save_bundle(bundle_dir, pipeline=pipeline, kind=chosen.kind, spec=spec, info=info, calibrators=calibrators,
                metrics=metrics, importances=perm, profile=data_profile(X_tr, spec, y_tr, _builder(pipeline)),
                holdout=holdout,
                members=members)
    bundle = load_bundle(bundle_dir)
    _, p_check = bundle.predict_frame(X_te)
    gap = float(np.max(np.abs(p_check - p_te))) if len(p_te) else 0.0
    if gap > 1e-6:
        raise BundleError(f"the saved bundle scores differently from the trained model (max gap {gap:.2g}); "
                          "this is a bug — please report it")

    result = TrainingResult(bundle_dir=bundle_dir, model_version=version, metrics=metrics, candidates=candidates,
                            quality=quality, leakage=leak, split=split, notes=notes,
                            seconds=time.monotonic() - t0)

    # 10. MLflow ----------------------------------------------------------------
    if tracker is not None:
        progress(0.96, "logging to MLflow")
        params = {"kind": chosen.kind, "profile": config.profile, "calibration": config.calibration,
                  "smote": config.smote, "seed": config.random_state, "cv_folds": config.cv_folds,
                  "n_iter": config.n_iter, "split_mode": split.mode, "rows": len(frame), "defaults": n_pos,
                  "cost_fn": costs.fn, "cost_fp": costs.fp, "cost_mode": costs.mode, "lgd": costs.lgd,
                  "dataset": spec.name, **{f"model.{k}": v for k, v in chosen.params.items()}}
        flat = {**_flat_metrics("test", test), **_flat_metrics("business", business),
                "threshold": float(threshold), "validation.auc": validation["auc"]}
        if oracle:
            flat.update(_flat_metrics("oracle", oracle))
        cand_rows = [{**c.as_dict(), "fold_aucs": None} for c in candidates]
        run_id = tracker.log_run(run_name=version, params=params, metrics=flat,
                                 tags={"model_version": version, "model_kind": chosen.kind},
                                 candidates=cand_rows, bundle_dir=bundle_dir, summary=result.summary())
        reg = tracker.register(run_id=run_id, bundle_dir=bundle_dir, bundle_hash=bundle.manifest_hash,
                               model_version=version)
        has_champion = tracker.champion() is not None
        do_promote = promote if promote is not None else not has_champion
        if do_promote:
            tracker.set_champion(reg)
        result.run_id, result.registry_version, result.promoted = run_id, reg, do_promote
    result.seconds = time.monotonic() - t0
    progress(1.0, "done")
    return result


def train_demo(settings: Any, *, profile: str = "quick", progress: Progress = no_progress,
               n_companies: int | None = None, seed: int = 7) -> TrainingResult:
    """Generate the demo portfolio (when missing), train on it, register and promote the model.

    This is the dashboard's first start. The CSV and its manifest are written to
    ``settings.data_dir``; the model is logged to the settings' MLflow store.
    """
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.data.tabular import read_table, write_csv
    from riskcore.modelling.tracking import Tracker

    path = Path(settings.data_dir) / "demo_portfolio.csv"
    if not path.exists():
        progress(0.0, "generating the demo portfolio")
        portfolio = generate_portfolio(n_companies or settings.demo_companies, seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_csv(portfolio.frame, tmp)
        path.with_name(path.name + ".manifest.json").write_text(portfolio.manifest.to_json(), encoding="utf-8")
        tmp.replace(path)
    table = read_table(path)

    def scaled(fraction: float, message: str) -> None:
        progress(0.05 + 0.95 * fraction, message)

    return train(table, DEMO_SPEC, config=TrainingConfig.for_profile(profile, random_state=seed),  # type: ignore[arg-type]
                 costs=settings.costs, models_dir=settings.models_dir, tracker=Tracker.from_settings(settings),
                 progress=scaled, promote=True, source=str(path))
