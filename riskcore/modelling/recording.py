"""What a training run records of itself, read from its :class:`~riskcore.modelling.context.RunContext`.

- :func:`run_metrics` — the content of the bundle's ``metrics.json``;
- :func:`bundle_info` — the training facts of ``bundle.json``;
- :func:`mlflow_params` and :func:`mlflow_metrics` — the run's parameters and metrics in MLflow.

Each reads the stages' results from the context, so the local and the cluster run
record the same things the same way; what only one engine knows is in the context's
``extra_*`` fields.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from riskcore.modelling.assessment import split_info
from riskcore.modelling.context import RunContext, known
from riskcore.modelling.publish import flat_metrics

__all__ = ["bundle_info", "mlflow_metrics", "mlflow_params", "run_metrics"]


def _file_sha256(source: str | None) -> str | None:
    """SHA-256 of the training file, when the data came from one that is still there (the report names it)."""
    if not source or not Path(source).is_file():
        return None
    digest = hashlib.sha256()
    with Path(source).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_metrics(ctx: RunContext, *, version: str, created: datetime) -> dict[str, Any]:
    """The content of ``metrics.json``: the model, the data, the split, every measurement and finding.

    The soundness blocks and the engine's own blocks (``extra_metrics``) come last.
    """
    data, search = known(ctx.prepared, "the prepared data"), known(ctx.search, "the search")
    found, cutoff = known(ctx.assessment, "the assessment"), known(ctx.cutoff, "the cut-off")
    importances, leak = known(ctx.importances, "the importances"), known(ctx.leak, "the leakage report")
    chosen, config, costs, spec = search.chosen, ctx.config, ctx.costs, ctx.spec
    top = importances.iloc[0]
    n_pos = data.n_defaults
    return {
        "model": {"kind": chosen.kind, "version": version, "params": chosen.params,
                  "calibration": config.calibration, "profile": config.profile,
                  "trained_at": created.isoformat(), "smote": config.smote, "monotone": config.monotone,
                  "seed": config.random_state, "trained_by": ctx.trained_by},
        "data": {"rows": int(len(data.frame)), "defaults": n_pos, "default_rate": n_pos / len(data.frame),
                 "cleaning": data.clean_notes, "features": ctx.inputs, "source": ctx.source, "spec": spec.name,
                 "sha256": _file_sha256(ctx.source),
                 "quality": [{"check": f.check, "severity": f.severity, "column": f.column, "count": int(f.count),
                              "message": f.message} for f in data.quality.findings]},
        "split": split_info(known(ctx.split, "the split"), data.frame, data.y, spec),
        "candidates": [c.as_dict() for c in search.candidates],
        "validation": found.validation,
        "test": found.test,
        "threshold": float(cutoff.threshold),
        "costs": {"fn": costs.fn, "fp": costs.fp, "lgd": costs.lgd, "mode": costs.mode},
        "business": found.business,
        "calibration": found.calibration,
        "segments": found.segments.to_dict(orient="records"),
        "oracle": found.oracle,
        "baseline": ctx.baseline.metrics if ctx.baseline is not None else None,
        "scorecard": ctx.scorecard,
        "importance": {"top_feature": str(top["feature"]), "top_share": float(top["share"]),
                       "method": "permutation (validation AUC lost when the column is shuffled)"},
        "leakage": [f.as_dict() for f in leak.findings],
        "warnings": ctx.warnings,
        "validation_battery": None if ctx.battery is None else ctx.battery.to_json(),
        **ctx.blocks,  # soundness, sensitivity and (with monotone constraints) monotone
        **ctx.extra_metrics,
    }


def bundle_info(ctx: RunContext, *, version: str, created: datetime, costs: dict[str, Any]) -> dict[str, Any]:
    """``bundle.json``'s training facts: version, time, threshold, costs, calibration, parameters, sizes."""
    chosen = known(ctx.search, "the search").chosen
    return {"version": version, "created_at": created.isoformat(),
            "threshold": float(known(ctx.cutoff, "the cut-off").threshold), "costs": costs,
            "calibration": ctx.config.calibration, "params": chosen.params,
            "training_rows": int(len(known(ctx.split, "the split").train)),
            "test_auc": known(ctx.assessment, "the assessment").test["auc"], "profile": ctx.config.profile,
            **ctx.extra_info}


def mlflow_params(ctx: RunContext) -> dict[str, Any]:
    """The run's parameters as MLflow records them: settings, data size, costs and the model's own."""
    config, costs, data = ctx.config, ctx.costs, known(ctx.prepared, "the prepared data")
    chosen = known(ctx.search, "the search").chosen
    return {"kind": chosen.kind, "profile": config.profile, "calibration": config.calibration,
            "smote": config.smote, "monotone": config.monotone, "seed": config.random_state,
            "cv_folds": config.cv_folds, "n_iter": config.n_iter, "split_mode": known(ctx.split, "the split").mode,
            "rows": len(data.frame), "defaults": data.n_defaults,
            "cost_fn": costs.fn, "cost_fp": costs.fp, "cost_mode": costs.mode, "lgd": costs.lgd,
            "dataset": ctx.spec.name, **{f"model.{k}": v for k, v in chosen.params.items()}, **ctx.extra_params}


def mlflow_metrics(ctx: RunContext) -> dict[str, float]:
    """The run's metrics as MLflow records them: test, business impact, threshold, validation AUC, oracle.

    With them the count of direction disagreements and, when constraints were asked for, their AUC cost.
    """
    found = known(ctx.assessment, "the assessment")
    flat = {**flat_metrics("test", found.test), **flat_metrics("business", found.business),
            "threshold": float(known(ctx.cutoff, "the cut-off").threshold), "validation.auc": found.validation["auc"],
            "soundness.disagreements": float(len(ctx.blocks["soundness"]["disagreements"]))}
    if found.oracle:
        flat.update(flat_metrics("oracle", found.oracle))
    cost = (ctx.blocks.get("monotone") or {}).get("auc_cost")
    if cost is not None:
        flat["monotone.auc_cost"] = float(cost)
    return flat
