"""The bodies of the API's answers: one prediction, its explanation, the model's information.

Plain functions of the engine's results, with no state of the app; the request and response
models they fill are in :mod:`api.schemas`.
"""

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from riskcore.workbench import ModelBundle

__all__ = ["explanation", "model_info", "prediction"]


def prediction(company: BaseModel, result: dict[str, Any], rid: str, ts: datetime) -> dict[str, Any]:
    """One company's score as the API answers it (``schemas.Prediction``)."""
    return {"company_id": company.company_id, "fiscal_year": getattr(company, "fiscal_year", None),  # type: ignore[attr-defined]
            "p_default": result["p_default"], "score_raw": result["score_raw"], "decision": result["decision"],
            "p_default_ttc": result.get("p_default_ttc"), "grade": result["grade"],
            "grade_pit": result.get("grade_pit", result["grade"]), "grade_basis": result.get("grade_basis", "pit"),
            "risk_level": result["risk_level"], "expected_loss": result["expected_loss"],
            "n_missing": result["n_missing"], "model_version": result["model_version"], "request_id": rid,
            "timestamp": ts}


def _number(value: Any) -> float | str | None:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (bool, int, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    return str(value)


def explanation(ex: Any) -> dict[str, Any]:
    """Reason codes and contributions of one company's :class:`riskcore.serving.explain.CompanyExplanation`."""
    w = ex.waterfall
    return {
        "base_pd": ex.base_pd,
        "reasons": [{"feature": r.feature, "label": r.label, "value": _number(r.value),
                     "sector_median": _number(r.sector_median), "contribution_pd": float(r.contribution),
                     "text": r.text} for r in ex.reasons],
        "contributions": [{"feature": str(f), "label": str(label), "value": _number(v),
                           "contribution_logodds": float(lo), "contribution_pd": float(p)}
                          for f, label, v, lo, p in zip(w["feature"], w["label"], w["value"],
                                                        w["contribution_logodds"], w["contribution_pd"], strict=True)],
    }


def model_info(bundle: ModelBundle, max_batch: int) -> dict[str, Any]:
    """What GET /model_info says of a bundle: version, features and ranges, test metrics, threshold, costs."""
    spec = bundle.spec
    test = bundle.metrics.get("test") or {}
    metrics = {k: v for k, v in test.items()
               if v is None or isinstance(v, (int, float)) or
               (isinstance(v, list) and all(isinstance(x, (int, float)) for x in v))}
    features = []
    for f in (*spec.features, *spec.panel_features):
        features.append({"name": f.name, "kind": f.kind, "family": f.family, "label": f.display_label,
                         "unit": f.unit, "description": f.description, "required": bool(f.required),
                         "min": f.min, "max": f.max, "typical_min": f.typical_min, "typical_max": f.typical_max,
                         "categories": list(f.categories)})
    costs = bundle.costs
    trained = (bundle.metrics.get("model") or {}).get("trained_at") or bundle.created_at
    return {"model_version": bundle.version, "kind": bundle.kind, "trained_at": str(trained),
            "bundle_hash": bundle.manifest_hash, "calibration": str(bundle.info.get("calibration", "")),
            "threshold": bundle.threshold, "grade_basis": bundle.grade_basis,
            "long_run_default_rate": bundle.cycle.long_run_default_rate if bundle.cycle is not None else None,
            "costs": {"fn": costs.fn, "fp": costs.fp, "lgd": costs.lgd, "mode": costs.mode},
            "test_metrics": metrics, "features": features, "max_batch": max_batch}
