"""The last stages of a training run: save the bundle, prove it scores like the model, log it to MLflow.

9. :func:`claim_version` and :func:`save_and_verify` — a model version no other run
   has, the bundle written under it, reloaded, and compared with the fitted
   pipeline on the test rows;
10. :func:`log_to_tracker` — the run, its candidates and the bundle logged and
    registered, and the champion moved when asked.

:func:`data_profile` is the per-feature summary of the training rows that the
bundle keeps for drift checks and peer comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.schema import DatasetSpec
from riskcore.errors import BundleError
from riskcore.modelling.bundle import ModelBundle, load_bundle, save_bundle
from riskcore.modelling.calibration import Calibrator
from riskcore.modelling.cycle import CycleModel
from riskcore.modelling.features import FeatureBuilder
from riskcore.modelling.tracking import Tracker

__all__ = ["BundleContent", "Registration", "claim_version", "data_profile", "feature_builder", "flat_metrics",
           "log_to_tracker", "save_and_verify"]


@dataclass(frozen=True)
class BundleContent:
    """Everything a bundle folder holds besides the fitted pipeline."""

    info: dict[str, Any]
    calibrators: dict[str, Calibrator]
    metrics: dict[str, Any]
    importances: pd.DataFrame
    profile: dict[str, Any]
    holdout: pd.DataFrame
    reference: dict[str, Any] | None = None
    cycle: CycleModel | None = None


@dataclass(frozen=True)
class Registration:
    """Where the run landed in MLflow: its run id, registered version and whether it became the champion."""

    run_id: str
    registry_version: str
    promoted: bool


def claim_version(models_dir: Path, stem: str) -> tuple[str, Path]:
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


def feature_builder(pipeline: Any) -> FeatureBuilder:
    """The fitted FeatureBuilder of a pipeline or of an ensemble's first member."""
    if hasattr(pipeline, "members"):
        pipeline = pipeline.members[0][1]
    builder: FeatureBuilder = pipeline.steps[0][1]
    return builder


def _with_row_features(frame: pd.DataFrame, builder: FeatureBuilder | None) -> pd.DataFrame:
    """``frame`` plus the builder's engineered row features (the last columns of its matrix)."""
    if builder is None or not builder.layout_.engineered:
        return frame
    eng = builder.layout_.engineered
    m = builder.transform(frame)
    return frame.assign(**{name: m[:, len(builder.layout_.names) - len(eng) + j] for j, name in enumerate(eng)})


def _numeric_profile(values: np.ndarray, qs: np.ndarray) -> dict[str, Any]:
    """Missing share, mean, std and quantiles of one numeric column."""
    fin = values[np.isfinite(values)]
    return {
        "kind": "numeric", "missing": float(np.mean(~np.isfinite(values))),
        "mean": float(fin.mean()) if len(fin) else None, "std": float(fin.std()) if len(fin) else None,
        "quantiles": np.percentile(fin, qs).tolist() if len(fin) else None,
    }


def data_profile(frame: pd.DataFrame, spec: DatasetSpec, y: np.ndarray,
                 builder: FeatureBuilder | None = None) -> dict[str, Any]:
    """Per-feature and per-segment quantiles of the training rows (drift checks, peer comparison).

    ``features[name]`` holds quantiles at 0, 2, …, 100%, mean, std and missing
    share (numbers) or category shares (text); ``segments[segment][name]`` holds the
    same quantile grid within each segment; ``segment_rates`` the default rate.
    """
    qs = np.linspace(0, 100, 51)
    frame = _with_row_features(frame, builder)
    out: dict[str, Any] = {"quantile_levels": qs.tolist(), "features": {}, "segments": {}, "segment_rates": {},
                           "rows": int(len(frame)), "default_rate": float(np.mean(y))}
    columns = list(spec.model_inputs) + [f.name for f in spec.row_features]
    numeric = [c for c in columns if c in frame and pd.api.types.is_numeric_dtype(frame[c])]
    for c in columns:
        if c not in frame:
            continue
        if c in numeric:
            out["features"][c] = _numeric_profile(frame[c].to_numpy(dtype=float), qs)
        else:
            shares = frame[c].astype(object).fillna("(missing)").value_counts(normalize=True)
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


def save_and_verify(bundle_dir: Path, *, pipeline: Any, kind: str, spec: DatasetSpec, content: BundleContent,
                    X_test: pd.DataFrame, p_test: np.ndarray) -> ModelBundle:
    """Write the bundle, load it back (which verifies its manifest), and check it scores like ``pipeline``.

    Raises
    ------
    BundleError
        When the reloaded bundle's PDs on the test rows differ from the fitted
        model's by more than 1e-6 — a bug, never a data problem.
    """
    members = list(pipeline.members) if kind == "ensemble" else None
    save_bundle(bundle_dir, pipeline=pipeline, kind=kind, spec=spec, info=content.info,
                calibrators=content.calibrators, metrics=content.metrics, importances=content.importances,
                profile=content.profile, holdout=content.holdout, members=members, reference=content.reference,
                cycle=content.cycle)
    bundle = load_bundle(bundle_dir)
    _, p_check = bundle.predict_frame(X_test)
    gap = float(np.max(np.abs(p_check - p_test))) if len(p_test) else 0.0
    if gap > 1e-6:
        raise BundleError(f"the saved bundle scores differently from the trained model (max gap {gap:.2g}); "
                          "this is a bug — please report it")
    return bundle


def flat_metrics(prefix: str, d: dict[str, Any]) -> dict[str, float]:
    """MLflow metrics from a dict: finite numbers as ``prefix.key``, pairs as ``_lower``/``_upper``."""
    out = {}
    for k, v in d.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)) and v == v and abs(v) != float("inf"):
            out[f"{prefix}.{k}"] = float(v)
        elif isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
            out[f"{prefix}.{k}_lower"], out[f"{prefix}.{k}_upper"] = float(v[0]), float(v[1])
    return out


def log_to_tracker(tracker: Tracker, *, version: str, kind: str, params: dict[str, Any],
                   metrics: dict[str, float], candidates: list[dict[str, Any]], bundle: ModelBundle,
                   bundle_dir: Path, summary: str, promote: bool | None) -> Registration:
    """Log the run with its candidates, register the bundle, and make it the champion when asked.

    ``promote=None`` promotes only when there is no champion yet, so a first
    model is usable at once and later ones wait for a person's decision.
    """
    run_id = tracker.log_run(run_name=version, params=params, metrics=metrics,
                             tags={"model_version": version, "model_kind": kind},
                             candidates=candidates, bundle_dir=bundle_dir, summary=summary)
    reg = tracker.register(run_id=run_id, bundle_dir=bundle_dir, bundle_hash=bundle.manifest_hash,
                           model_version=version)
    has_champion = tracker.champion() is not None
    do_promote = promote if promote is not None else not has_champion
    if do_promote:
        tracker.set_champion(reg)
    return Registration(run_id, reg, do_promote)
