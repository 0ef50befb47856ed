"""A model bundle's numbers as a plain "model card", for the hand-rolled baselines.

The hand-rolled scripts (``handrolled_score.py``, ``handrolled_monitor.py``) must not
import riskcore in the process that is timed: they would carry its pipeline and
flatter it. The benchmark exports, before anything is timed, what a script written
from the model's documentation would know: the feature order, each category list
(code = position), the panel recipes (which column gets a year-on-year delta or a
rolling volatility, over how many periods, and the valid range that makes a value
count in a company's history), the row recipes' constants (the composite's centres,
spreads and weights, the products' scales), the model itself (the LightGBM text file,
or the logistic regression's fitted numbers: medians, missing-value indicators,
quantiles, one-hot categories, coefficients), the calibrator's knots (so the PD is one
``numpy.interp``), the PD floor, the decision threshold and the grade cut-offs.

    card = export_card(BUNDLE_DIR, OUT_DIR / "card.json")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("lightgbm", "logistic")


def export_card(bundle_dir: str | Path, path: str | Path) -> Path:
    """Write the card of the bundle at ``bundle_dir`` to ``path`` (JSON); returns the path.

    Raises ``ValueError`` for a model kind the hand-rolled script does not know.
    """
    from riskcore.evaluation.grading import MASTER_SCALE, PD_FLOOR
    from riskcore.modelling.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    if bundle.kind not in KINDS:
        raise ValueError(f"the hand-rolled baseline scores {' and '.join(KINDS)} champions, not {bundle.kind!r}")
    spec, fb = bundle.spec, bundle.features
    layout = fb.layout_
    panel_names = {f.name for f in spec.panel_features}
    bounds: dict[str, list[float | None]] = {}
    panel = []
    for f in spec.panel_features:
        assert f.recipe is not None
        col = f.recipe.inputs[0]
        panel.append({"name": f.name, "op": f.recipe.op, "input": col, "window": int(f.recipe.window)})
        if spec.has_feature(col):
            bounds[col] = [spec.feature(col).min, spec.feature(col).max]
    engineered = []
    for name in layout.engineered:
        r = spec.feature(name).recipe
        assert r is not None
        engineered.append({"name": name, "op": r.op, "inputs": list(r.inputs), "log_inputs": list(r.log_inputs),
                           "scale": float(r.scale), "weights": list(r.weights or (1.0,) * len(r.inputs)),
                           "centres": fb.center_.get(name), "spreads": fb.scale_.get(name)})
    cal = bundle.calibrator.to_dict()
    card: dict[str, Any] = {
        "kind": bundle.kind, "version": bundle.version, "id": spec.id, "time": spec.time, "target": spec.target,
        "numeric": [{"name": c, "from": "panel" if c in panel_names else "file"} for c in layout.numeric],
        "categorical": [{"name": c, "categories": list(fb.categories_[c])} for c in layout.categorical],
        "engineered": engineered, "panel": panel, "history_bounds": bounds,
        "calibrator": cal, "pd_floor": PD_FLOOR, "threshold": bundle.threshold,
        "grades": {"uppers": [g.upper for g in MASTER_SCALE[:-1]], "names": [g.name for g in MASTER_SCALE]},
    }
    if bundle.kind == "lightgbm":
        card["model_file"] = str((Path(bundle_dir) / "model.txt").resolve())
    else:
        card["logistic"] = _logistic_numbers(bundle)
    out = Path(path)
    out.write_text(json.dumps(card), encoding="utf-8")
    return out


def _logistic_numbers(bundle: Any) -> dict[str, Any]:
    """The fitted numbers of the logistic pipeline: imputer, quantile transform, one-hot, coefficients."""
    scorer = bundle.scorer
    columns = scorer.transform.steps[-1][1]  # the ColumnTransformer: numbers, then categories
    num = columns.named_transformers_["num"]
    imputer, quantile = num.named_steps["impute"], num.named_steps["quantile"]
    out: dict[str, Any] = {
        "numeric_columns": [int(i) for i in dict(((n, c) for n, _, c in columns.transformers_))["num"]],
        "medians": imputer.statistics_.tolist(),
        "indicators": imputer.indicator_.features_.tolist() if imputer.indicator_ is not None else [],
        "quantiles": quantile.quantiles_.T.tolist(),  # one row per column
        "references": quantile.references_.tolist(),
        "bounds_threshold": 1e-7,  # scikit-learn's BOUNDS_THRESHOLD
        "coef": np.asarray(scorer.model.coef_, dtype=float)[0].tolist(),
        "intercept": float(scorer.model.intercept_[0]),
    }
    if "cat" in columns.named_transformers_:
        cat = columns.named_transformers_["cat"]
        out["categorical_columns"] = [int(i) for i in dict(((n, c) for n, _, c in columns.transformers_))["cat"]]
        out["fill"] = float(cat.named_steps["impute"].fill_value)
        out["onehot"] = [c.tolist() for c in cat.named_steps["onehot"].categories_]
    return out
