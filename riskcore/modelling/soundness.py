"""Conceptual soundness and sensitivity of a trained model, measured once at training time.

Three records of ``metrics.json`` come from here, and the model documentation report only reads them:

* :func:`soundness_block` — for every model input whose risk direction the spec declares
  (:attr:`riskcore.data.schema.FeatureSpec.direction`), the direction the model actually took:
  partial dependence and individual conditional expectation (scikit-learn's
  ``partial_dependence``, ``kind="both"``) of the *calibrated* PD on a few hundred validation
  rows, the trend's sign from the Spearman correlation of grid and curve, and the features whose
  measured direction contradicts the declared one;
* :func:`sensitivity_block` — a macro-stress what-if (the macro inputs moved in their adverse
  direction on the test rows, scored by the same model) and the effect of each feature family
  (its inputs set to missing on the test rows, no refit);
* :func:`monotone_block` — with ``TrainingConfig.monotone``, which inputs the constraints cover
  and what they cost in test AUC against the same candidate fitted without them.

Every number is computed from fixed rows with a fixed seed, so the blocks repeat exactly.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin

from riskcore.config import TrainingConfig
from riskcore.data.macro import macro_shift, stressed
from riskcore.data.schema import FAMILIES, DatasetSpec, FeatureSpec
from riskcore.evaluation.grading import grade_index, grade_of
from riskcore.modelling.calibration import Calibrator, calibrated_pd
from riskcore.modelling.features import feature_layout
from riskcore.modelling.models import MONOTONE_KINDS, monotone_kind, raw_score
from riskcore.modelling.scorers import fitted_scorer
from riskcore.modelling.search import build_pipeline
from riskcore.modelling.stages import Calibrated, Parts
from riskcore.numeric import roc_auc

__all__ = [
    "FLAT_RANGE",
    "FLAT_SPEARMAN",
    "GRID_RESOLUTION",
    "SOUNDNESS_ROWS",
    "CalibratedModel",
    "curve_trends",
    "guaranteed_inputs",
    "measure",
    "monotone_block",
    "sensitivity_block",
    "soundness_block",
    "soundness_rows",
    "unconstrained_refit",
]

SOUNDNESS_ROWS = 300
"""Validation rows the direction sweeps run on: enough for a stable average, cheap enough for every run."""
GRID_RESOLUTION = 20
"""Grid points per feature, between the 5th and 95th percentiles of its observed values."""
FLAT_SPEARMAN = 0.1
"""Below this absolute Spearman correlation a curve counts as flat (no direction)."""
FLAT_RANGE = 1e-4
"""Below this PD range (highest minus lowest point of the curve) a curve counts as flat."""
_PD_METHOD = "partial dependence and ICE (sklearn.inspection.partial_dependence, kind='both') on {n} validation rows"
_FAMILY_METHOD = "each family's inputs set to missing on the test rows, scored by the same model (no refit)"


class CalibratedModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted pipeline and its calibrator as one scikit-learn classifier whose probability is the PD.

    ``partial_dependence`` needs a fitted classifier with ``predict_proba``; this
    wraps any riskcore pipeline (a :class:`~riskcore.modelling.models.SoftVotingEnsemble`
    too) so the curves are on the calibrated PD scale the bundle scores with.
    It is never fitted again: :meth:`fit` exists only for the estimator protocol.

    The library's sweep scores the rows once per grid value, and a pipeline call
    costs about the same for 300 rows as for 6,000; :meth:`batch_grid` therefore
    scores a feature's whole grid in one call just before the sweep, and until
    :meth:`end_batch` :meth:`predict_proba` answers a frame of those rows (same
    columns and index) whose feature holds one grid value from that batch. The
    library's brute-force sweep copies the rows and changes only that column; a
    test holds the curves equal to scoring each copy on its own.
    """

    def __init__(self, pipeline: Any = None, calibrator: Calibrator | None = None, kind: str = ""):
        self.pipeline = pipeline
        self.calibrator = calibrator
        self.kind = kind

    def __sklearn_is_fitted__(self) -> bool:
        """Fitted when it holds a pipeline and a calibrator (both were fitted by training)."""
        return self.pipeline is not None and self.calibrator is not None

    @property
    def classes_(self) -> np.ndarray:
        """The two outcomes, 0 (no default) and 1 (default)."""
        return np.array([0, 1])

    def fit(self, X: Any, y: Any = None) -> CalibratedModel:
        """Return the model unchanged: the pipeline and calibrator were fitted by the training run."""
        return self

    def p_default(self, X: pd.DataFrame) -> np.ndarray:
        """The calibrated PD of each row, floored as at scoring time."""
        if self.calibrator is None:
            raise ValueError("CalibratedModel needs a calibrator")
        return calibrated_pd(self.calibrator, self.raw_score(X))

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The pipeline's raw score of each row: through the bundle's scorer when the kind has a direct path.

        The sweeps score the pipeline a few dozen times on thousands of rows; for the logistic candidate
        scikit-learn's quantile transform was most of a training run's soundness stage (17 s of 41 s for
        800 demo companies), the direct path gives the same numbers (up to the last bits of the dot
        product) without it. ``kind`` empty, or a kind without a direct path: the pipeline itself.
        """
        if not hasattr(self, "_scorer"):
            self._scorer = fitted_scorer(self.kind, self.pipeline) if self.kind else None
        if self._scorer is None:
            return raw_score(self.pipeline, X)
        features, scorer = self._scorer
        return scorer.raw(features.transform(X))

    def batch_grid(self, rows: pd.DataFrame, name: str, grid: np.ndarray) -> None:
        """Score ``rows`` with column ``name`` set to each grid value, in one call, for the sweep that follows."""
        stacked = pd.concat([rows] * len(grid), ignore_index=True)
        stacked[name] = np.repeat(np.asarray(grid, dtype=float), len(rows))
        pds = self.p_default(stacked).reshape(len(grid), len(rows))
        self._batch: tuple[str, np.ndarray, pd.DataFrame, np.ndarray] | None = (
            name, np.asarray(grid, dtype=float), rows, pds)

    def end_batch(self) -> None:
        """Forget the batched grid: later calls are scored as given."""
        self._batch = None

    def _batched(self, X: Any) -> np.ndarray | None:
        """The batched PDs of ``X`` when it is the batched rows at one grid value, else None."""
        batch = getattr(self, "_batch", None)
        if batch is None or not isinstance(X, pd.DataFrame) or batch[0] not in X:
            return None
        name, grid, rows, pds = batch
        if len(X) != len(rows) or not X.columns.equals(rows.columns) or not X.index.equals(rows.index):
            return None
        values = X[name].to_numpy(dtype=float)
        at = np.flatnonzero(grid == values[0]) if len(values) else np.zeros(0, dtype=int)
        if not len(at) or not (values == values[0]).all():
            return None
        return np.asarray(pds[at[0]])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns: 1 - PD and PD."""
        p = self._batched(X)
        if p is None:
            p = self.p_default(X)
        return np.column_stack([1.0 - p, p])


# ---------------------------------------------------------------------------
# soundness: declared against measured direction
# ---------------------------------------------------------------------------

def soundness_rows(X_validation: pd.DataFrame, n: int = SOUNDNESS_ROWS, random_state: int = 7) -> pd.DataFrame:
    """The validation rows the sweeps run on: ``n`` drawn without replacement with the seed, in their order.

    Integer columns become floats: scikit-learn refuses to sweep integer data,
    whose grid values would be silently rounded.
    """
    rows = X_validation
    if len(rows) > n:
        keep = np.sort(np.random.default_rng(random_state).choice(len(rows), n, replace=False))
        rows = rows.iloc[keep]
    rows = rows.reset_index(drop=True)
    ints = [c for c in rows if pd.api.types.is_integer_dtype(rows[c]) or pd.api.types.is_bool_dtype(rows[c])]
    return rows.astype(dict.fromkeys(ints, float)) if ints else rows.copy()


def _grid(values: pd.Series, resolution: int) -> np.ndarray:
    """The sweep's grid: the observed values when few, else ``resolution`` points from the 5th to 95th percentile.

    The values are the training rows' (the range the model learnt from; one
    validation year may hold a single value of a macro series). scikit-learn's own
    grid does the same on the swept rows but turns into NaN when the column has a
    missing value, so the grid is built here and passed in.
    """
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    uniq = np.unique(x)
    if len(uniq) <= resolution:
        return uniq
    return np.unique(np.percentile(x, np.linspace(5, 95, resolution)))


def curve_trends(grid: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman correlation of the grid with each curve, and each curve's direction (+1, -1, 0 when flat).

    ``curves`` has one curve per row (shape rows × grid points). A curve is flat when
    its absolute correlation is below :data:`FLAT_SPEARMAN` or its range below
    :data:`FLAT_RANGE`; a constant curve has no correlation (NaN) and is flat.
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    g = rankdata(np.asarray(grid, dtype=float))
    r = rankdata(curves, axis=1)
    gc, rc = g - g.mean(), r - r.mean(axis=1, keepdims=True)
    denom = np.sqrt((gc ** 2).sum()) * np.sqrt((rc ** 2).sum(axis=1))
    rho = np.divide(rc @ gc, denom, out=np.full(len(curves), np.nan), where=denom > 0)
    span = curves.max(axis=1) - curves.min(axis=1) if curves.shape[1] else np.zeros(len(curves))
    flat = ~np.isfinite(rho) | (np.abs(np.nan_to_num(rho)) < FLAT_SPEARMAN) | (span < FLAT_RANGE)
    return rho, np.where(flat, 0, np.sign(np.nan_to_num(rho))).astype(int)


def _feature_direction(model: CalibratedModel, rows: pd.DataFrame, train_values: pd.Series, f: FeatureSpec,
                       resolution: int) -> dict[str, Any] | None:
    """One feature's partial-dependence record, or None when training held fewer than two of its values."""
    from sklearn.inspection import partial_dependence

    grid = _grid(train_values, resolution)
    if len(grid) < 2:
        return None
    model.batch_grid(rows, f.name, grid)
    try:
        pdp = partial_dependence(model, rows, [f.name], kind="both", custom_values={f.name: grid},
                                 response_method="predict_proba")
    finally:
        model.end_batch()
    average = np.asarray(pdp["average"][0], dtype=float)
    rho, measured = curve_trends(grid, average[None, :])
    _, ice = curve_trends(grid, np.asarray(pdp["individual"][0], dtype=float))
    declared = 1 if f.direction > 0 else -1
    m = int(measured[0])
    return {"name": f.name, "label": f.display_label, "family": f.family, "unit": f.unit, "declared": declared,
            "measured": m, "spearman": float(rho[0]) if np.isfinite(rho[0]) else None,
            "pd_low": float(average[0]), "pd_high": float(average[-1]),
            "ice_agree_share": float(np.mean(ice == declared)), "ice_against_share": float(np.mean(ice == -declared)),
            "agrees": m in (declared, 0),
            "grid": [float(v) for v in grid], "average": [float(v) for v in average]}


def soundness_block(model: CalibratedModel, X_validation: pd.DataFrame, X_train: pd.DataFrame, spec: DatasetSpec,
                    inputs: list[str], *, random_state: int, n_rows: int = SOUNDNESS_ROWS,
                    resolution: int = GRID_RESOLUTION) -> dict[str, Any]:
    """``metrics["soundness"]``: each declared direction against the one the model measures.

    Parameters
    ----------
    model : the fitted pipeline with its calibrator.
    X_validation : the validation rows (model inputs; more columns are ignored by the pipeline).
    X_train : the training rows, whose values span each feature's grid.
    spec : the dataset spec; features with ``direction != 0`` are checked.
    inputs : the model inputs of the run.
    random_state : the seed that draws the rows.
    n_rows, resolution : rows swept and grid points per feature.

    Returns
    -------
    dict with ``method``, ``rows``, ``grid_resolution``, ``features`` (one record per
    checked feature: declared and measured direction, Spearman correlation, PD at the
    grid's ends, ICE agreement, the curve), ``disagreements`` (their names) and
    ``skipped`` (declared features without two observed values in training, with why).
    """
    rows = soundness_rows(X_validation, n_rows, random_state)
    features: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for name in inputs:
        f = spec.feature(name)
        if f.direction == 0 or f.kind != "numeric":
            continue
        record = _feature_direction(model, rows, X_train[name], f, resolution)
        if record is None:
            skipped.append({"name": name, "reason": "fewer than two observed values in the training rows"})
        else:
            features.append(record)
    return {"method": _PD_METHOD.format(n=len(rows)), "rows": int(len(rows)), "grid_resolution": int(resolution),
            "features": features, "disagreements": [r["name"] for r in features if not r["agrees"]],
            "skipped": skipped}


# ---------------------------------------------------------------------------
# sensitivity: macro stress and feature families
# ---------------------------------------------------------------------------

def _shift_words(f: FeatureSpec, shift: float) -> str:
    """``GDP growth (region) 2 points lower`` for the scenario's description."""
    unit = {"pp": "points", "index": "index points", "score": "points"}.get(f.unit, f.unit)
    text = f"{f.display_label} {abs(shift):.3g} {unit}".rstrip() + (" higher" if shift > 0 else " lower")
    return text if f.unit == "pp" else text + " (one training standard deviation)"


def _macro_stress(model: CalibratedModel, X_test: pd.DataFrame, X_train: pd.DataFrame, spec: DatasetSpec,
                  inputs: list[str], p_base: np.ndarray) -> dict[str, Any] | None:
    """The macro-stress what-if on the test rows, or None without declared macro inputs."""
    macro = [spec.feature(c) for c in inputs if spec.feature(c).family == "macro" and spec.feature(c).direction
             and spec.feature(c).kind == "numeric"]
    scenario = {f.name: macro_shift(f, X_train[f.name]) for f in macro if f.name in X_train}
    scenario = {k: v for k, v in scenario.items() if v != 0.0}
    if not scenario:
        return None
    p_stress = model.p_default(stressed(X_test, scenario, spec))
    grades, order = grade_of(p_base), grade_index(p_base)
    by_grade = [{"grade": str(grades[order == i][0]), "rows": int((order == i).sum()),
                 "mean_pd_base": float(p_base[order == i].mean()),
                 "mean_pd_stressed": float(p_stress[order == i].mean())} for i in np.unique(order)]
    base, mean_stressed = float(p_base.mean()), float(p_stress.mean())
    return {"scenario": scenario,
            "description": ", ".join(_shift_words(spec.feature(k), v) for k, v in scenario.items()),
            "rows": int(len(X_test)), "mean_pd_base": base, "mean_pd_stressed": mean_stressed,
            "relative_shift": mean_stressed / base - 1.0 if base > 0 else None, "by_grade": by_grade}


def _family_effects(model: CalibratedModel, X_test: pd.DataFrame, y_test: np.ndarray, spec: DatasetSpec,
                    inputs: list[str], p_base: np.ndarray) -> list[dict[str, Any]]:
    """Each family's inputs set to missing on the test rows: AUC and mean PD with and without them."""
    auc_with = roc_auc(y_test, p_base)
    out = []
    for family in FAMILIES:
        names = [c for c in inputs if spec.feature(c).family == family and c in X_test]
        if not names:
            continue
        masked = X_test.copy()
        for c in names:
            masked[c] = np.nan  # a category code of NaN is the missing category, as at scoring time
        p = model.p_default(masked)
        auc_without = roc_auc(y_test, p)
        out.append({"family": family, "features": names, "rows": int(len(X_test)), "auc_with": auc_with,
                    "auc_without": auc_without, "auc_change": auc_without - auc_with,
                    "mean_pd_change": float(p.mean() - p_base.mean())})
    return out


def sensitivity_block(model: CalibratedModel, X_test: pd.DataFrame, y_test: np.ndarray, X_train: pd.DataFrame,
                      spec: DatasetSpec, inputs: list[str]) -> dict[str, Any]:
    """``metrics["sensitivity"]``: the macro-stress what-if and each feature family's effect, on the test rows.

    Returns
    -------
    dict with ``macro_stress`` (the scenario, its description, the mean PD before and after,
    overall and per grade of the unstressed PD; None when the spec declares no macro
    direction), ``families`` (per family: its inputs, AUC with and without them, the change
    of the mean PD) and ``family_method``.
    """
    p_base = model.p_default(X_test)
    return {"macro_stress": _macro_stress(model, X_test, X_train, spec, inputs, p_base),
            "families": _family_effects(model, X_test, y_test, spec, inputs, p_base),
            "family_method": _FAMILY_METHOD}


# ---------------------------------------------------------------------------
# monotone constraints: coverage and cost
# ---------------------------------------------------------------------------

def _slope_sign(spec: DatasetSpec, recipe_feature: FeatureSpec, name: str) -> int:
    """The sign of a row feature's slope in one of its inputs (0 when it can change with the other inputs)."""
    r = recipe_feature.recipe
    if r is None:
        return 0
    if r.op == "composite":
        w = r.weights[r.inputs.index(name)] if r.weights else 1.0
        return int(np.sign(w))
    if r.op == "product":
        others = [i for i in r.inputs if i != name]
        lows = [spec.feature(o).min for o in others]
        if any(lo is None or lo < 0 for lo in lows):
            return 0
        return int(np.sign(r.scale))
    return 0


def guaranteed_inputs(spec: DatasetSpec, inputs: list[str]) -> list[str]:
    """The inputs whose PD the constraints hold monotone in their declared direction.

    An input is covered when its own column is constrained and every row feature
    built from it is constrained too, in a direction that agrees with its own
    (a ratio feeding a composite with a positive weight, a product with inputs
    that are never negative). A row feature without a declared direction leaves
    its inputs free: the model can bend their curve through it.
    """
    engineered = [spec.feature(n) for n in feature_layout(spec).engineered]
    covered = []
    for name in inputs:
        f = spec.feature(name)
        if f.direction == 0 or f.kind != "numeric":
            continue
        uses = [e for e in engineered if e.recipe is not None and name in e.recipe.inputs]
        if all(e.direction and _slope_sign(spec, e, name) * np.sign(e.direction) == np.sign(f.direction)
               for e in uses):
            covered.append(name)
    return covered


def monotone_block(config: TrainingConfig, chosen_kind: str, *, constrained_pipeline: Any, unconstrained: Any,
                   X_test: pd.DataFrame, y_test: np.ndarray, spec: DatasetSpec,
                   inputs: list[str]) -> dict[str, Any] | None:
    """``metrics["monotone"]``, or None when ``config.monotone`` is off.

    Parameters
    ----------
    config : the run's settings; ``monotone`` says whether constraints were asked for.
    chosen_kind : the chosen candidate's kind (only boosted models take constraints).
    constrained_pipeline : the fitted chosen pipeline (constrained when its kind allows).
    unconstrained : the same candidate fitted without constraints (None when nothing was constrained).
    X_test, y_test : the test rows.
    spec, inputs : the dataset spec and the run's model inputs.

    Returns
    -------
    dict with ``enforced``, ``kind``, ``features`` (the inputs whose PD is held monotone),
    ``free`` (declared inputs left unconstrained, and why in ``note``), the test AUC of both
    fits and ``auc_cost`` (unconstrained minus constrained), ``basis`` (how the AUCs are
    measured) and ``note``.
    """
    if not config.monotone:
        return None
    declared = [c for c in inputs if spec.feature(c).direction and spec.feature(c).kind == "numeric"]
    if not monotone_kind(chosen_kind, constrained_pipeline):
        return {"enforced": True, "kind": chosen_kind, "features": [], "free": declared,
                "auc_test_constrained": None, "auc_test_unconstrained": None, "auc_cost": None,
                "basis": None,
                "note": f"the chosen {chosen_kind} model takes no monotone constraints (only "
                        f"{', '.join(MONOTONE_KINDS)} do, and an ensemble only when all its members are boosted); "
                        "its directions are measured in soundness but not enforced"}
    covered = guaranteed_inputs(spec, inputs)
    con = roc_auc(y_test, raw_score(constrained_pipeline, X_test))
    unc = roc_auc(y_test, raw_score(unconstrained, X_test)) if unconstrained is not None else None
    free = [c for c in declared if c not in covered]
    note = ("every column with a declared direction is constrained; "
            + (f"{', '.join(free)} also feed row features without a declared direction (or whose sign depends on "
               "other inputs), so their curves are not guaranteed monotone" if free else
               "every declared input's curve is monotone"))
    return {"enforced": True, "kind": chosen_kind, "features": covered, "free": free,
            "auc_test_constrained": con, "auc_test_unconstrained": unc,
            "auc_cost": (unc - con) if unc is not None and np.isfinite(unc) and np.isfinite(con) else None,
            "basis": "AUC of the raw model score on the test rows, the same candidate and parameters fitted with "
                     "and without the constraints",
            "note": note}


def unconstrained_refit(chosen: Any, X_train: pd.DataFrame, y_train: np.ndarray, spec: DatasetSpec,
                        config: TrainingConfig) -> Any:
    """The chosen candidate fitted once more on the training rows, without monotone constraints."""
    return build_pipeline(chosen, spec, replace(config, monotone=False)).fit(X_train, y_train)


# ---------------------------------------------------------------------------
# the training stage
# ---------------------------------------------------------------------------

def measure(pipeline: Any, chosen: Any, parts: Parts, calibrated: Calibrated, spec: DatasetSpec, inputs: list[str],
            config: TrainingConfig) -> dict[str, Any]:
    """Stage 8b: the ``soundness``, ``sensitivity`` and (with ``config.monotone``) ``monotone`` blocks.

    The sweeps use validation rows (the test rows stay for the once-only evaluation
    and the what-ifs); the calibrator is the run's configured one, so every curve and
    shift is on the PD scale the bundle scores with. With ``monotone`` on and a
    constrainable model, the candidate is fitted once more without constraints to
    price them.
    """
    model = CalibratedModel(pipeline, calibrated.calibrators[config.calibration], kind=chosen.kind)
    blocks: dict[str, Any] = {
        "soundness": soundness_block(model, parts.X_validation, parts.X_train, spec, inputs,
                                     random_state=config.random_state),
        "sensitivity": sensitivity_block(model, parts.X_test, parts.y_test, parts.X_train, spec, inputs),
    }
    if config.monotone:
        free = (unconstrained_refit(chosen, parts.X_train, parts.y_train, spec, config)
                if monotone_kind(chosen.kind, pipeline) else None)
        blocks["monotone"] = monotone_block(config, chosen.kind, constrained_pipeline=pipeline, unconstrained=free,
                                            X_test=parts.X_test, y_test=parts.y_test, spec=spec, inputs=inputs)
    return blocks
