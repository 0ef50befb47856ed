"""The model bundle: one folder with everything needed to score, explain and audit.

Layout (every file but ``manifest.json`` is listed in it with its SHA-256)::

    bundle.json        kind, version, threshold, costs, calibration, training facts
    spec.json          the dataset spec
    features.json      the fitted FeatureBuilder state (categories, composite centre/spread)
    model.txt | model.json | model.skops      LightGBM text, XGBoost JSON, or scikit-learn via skops
    transform.skops    (optional) fitted transformers between features and model
    members/<i>/...    the same files for each member of a voting ensemble
    calibration.json   isotonic and Platt calibrators as plain numbers (the chosen one named)
    metrics.json       the evaluation (see riskcore.modelling.train)
    importances.json   feature importances
    profile.json       a profile of the training data (quantiles per feature and sector)
    reference.json     the monitoring reference: frozen bins per feature, score and grade, test back-test
                       (riskcore.evaluation.reference; bundles written before monitoring existed lack it)
    holdout.parquet    validation and test rows with their scores, for the dashboard

Nothing here is a pickle: LightGBM and XGBoost models are their own text/JSON
formats, scikit-learn estimators use skops with an allowlist kept in this module,
everything else is JSON or Parquet. :func:`load_bundle` verifies every hash (and
refuses missing or unexpected files) **before** anything is deserialised.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskcore.config import Costs
from riskcore.data.schema import DatasetSpec
from riskcore.errors import BundleError
from riskcore.evaluation.outcomes import strict_json
from riskcore.modelling.features import FeatureBuilder
from riskcore.numeric import expit, logit

if TYPE_CHECKING:
    from riskcore.evaluation.reference import ReferenceProfile
    from riskcore.modelling.calibration import Calibrator

__all__ = ["SKOPS_ALLOWLIST", "ModelBundle", "Scorer", "bundle_hash", "calibrated_pd", "load_bundle", "save_bundle",
           "verify_bundle"]

FORMAT_VERSION = 1
# Types skops may rebuild beyond its own defaults. Anything else in a file is refused.
SKOPS_ALLOWLIST: tuple[str, ...] = (
    "numpy.dtype",
    "riskcore.modelling.models.EmptyColumnFiller",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)
_MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (pd.Timestamp,)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def json_ready(obj: Any) -> Any:
    """``obj`` as strict JSON data: NaN and infinities as None, numpy scalars as Python numbers."""
    return json.loads(json.dumps(strict_json(obj), default=_json_default, allow_nan=False))


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON (no NaN), sorted keys, UTF-8."""
    path.write_text(json.dumps(strict_json(obj), indent=1, sort_keys=True, default=_json_default,
                               allow_nan=False), encoding="utf-8")


# ---------------------------------------------------------------------------
# scorers: the fitted model without scikit-learn's per-call overhead
# ---------------------------------------------------------------------------

class Scorer:
    """Raw log-odds scores from the model matrix of :class:`~riskcore.modelling.features.FeatureBuilder`."""

    kind: str = ""

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        raise NotImplementedError

    def contributions(self, matrix: np.ndarray) -> np.ndarray | None:
        """Per-feature contributions in log-odds (rows × (features + 1), last = base), or None."""
        return None


class LightGBMScorer(Scorer):
    """A LightGBM booster read from its text format."""

    kind = "lightgbm"

    def __init__(self, model_str: str):
        import lightgbm as lgb

        self.booster = lgb.Booster(model_str=model_str)

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1 if len(matrix) < 1000 else 0),
                          dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions from the booster itself (``pred_contrib``)."""
        return np.asarray(self.booster.predict(matrix, pred_contrib=True), dtype=float)


class XGBoostScorer(Scorer):
    """An XGBoost booster read from its JSON format."""

    kind = "xgboost"

    def __init__(self, raw_json: bytes):
        import xgboost as xgb

        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(raw_json))

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row."""
        return np.asarray(self.booster.inplace_predict(matrix, predict_type="margin"), dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions from the booster itself (``pred_contribs``)."""
        import xgboost as xgb

        return np.asarray(self.booster.predict(xgb.DMatrix(matrix, missing=np.nan), pred_contribs=True), dtype=float)


class SklearnScorer(Scorer):
    """A scikit-learn estimator (optionally behind fitted transformers)."""

    def __init__(self, kind: str, model: Any, transform: Any = None):
        self.kind = kind
        self.model = model
        self.transform = transform

    def prepared(self, matrix: np.ndarray) -> np.ndarray:
        """The matrix after the fitted transformers, as the final estimator sees it."""
        return self.transform.transform(matrix) if self.transform is not None else matrix

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds score per row.

        A logistic model's score is the dot product of each row with the coefficients, taken row by
        row (``einsum``) rather than by BLAS's matrix-vector product, whose last bit depends on how
        many rows go in together: a company's score must not depend on the chunk or the partition
        it was scored in.
        """
        m = self.prepared(matrix)
        if self.kind == "logistic" and hasattr(self.model, "coef_") and np.ndim(self.model.coef_) == 2 \
                and self.model.coef_.shape[0] == 1:
            coef = np.asarray(self.model.coef_, dtype=float)[0]
            dense = m.toarray() if hasattr(m, "toarray") else np.asarray(m, dtype=float)
            return np.einsum("ij,j->i", dense, coef) + float(self.model.intercept_[0])
        if hasattr(self.model, "decision_function") and self.kind == "logistic":
            return np.asarray(self.model.decision_function(m), dtype=float)
        return logit(self.model.predict_proba(m)[:, 1])


class _TransformedNative(Scorer):
    """A native booster behind fitted transformers (used with SMOTE's imputer)."""

    def __init__(self, inner: Scorer, transform: Any):
        self.inner, self.transform, self.kind = inner, transform, inner.kind

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        return self.inner.raw(self.transform.transform(matrix))


class EnsembleScorer(Scorer):
    """Soft voting: the mean of the members' probabilities, as log-odds."""

    kind = "ensemble"

    def __init__(self, members: list[tuple[FeatureBuilder, Scorer]]):
        self.members = members

    def raw(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds of the averaged member probabilities (matrix from the first member's builder)."""
        probs = [expit(s.raw(matrix)) for _, s in self.members]
        return logit(np.mean(probs, axis=0))


def calibrated_pd(calibrator: Calibrator, raw: np.ndarray) -> np.ndarray:
    """The calibrated PD, floored at Basel's 0.05% for corporates.

    An isotonic step whose validation rows had no default would otherwise give a
    PD of exactly zero, which no validator accepts as an estimate.
    """
    from riskcore.evaluation.grading import PD_FLOOR

    return np.clip(calibrator.predict(raw), PD_FLOOR, 1.0)


# ---------------------------------------------------------------------------
# the bundle object
# ---------------------------------------------------------------------------

@dataclass
class ModelBundle:
    """A loaded, verified model bundle.

    ``score_matrix`` and ``predict_frame`` are the scoring hot path; everything
    else is the model's paperwork (metrics, importances, profile, costs).
    """

    path: Path
    info: dict[str, Any]
    spec: DatasetSpec
    features: FeatureBuilder
    scorer: Scorer
    calibrators: dict[str, Calibrator]
    metrics: dict[str, Any]
    importances: pd.DataFrame
    profile: dict[str, Any]
    manifest_hash: str
    reference_data: dict[str, Any] | None = field(default=None, repr=False)
    _holdout: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """The model kind (``lightgbm``, ``logistic``…)."""
        return str(self.info["kind"])

    @property
    def version(self) -> str:
        """The model version string."""
        return str(self.info["version"])

    @property
    def threshold(self) -> float:
        """Refer when the calibrated PD is at or above this."""
        return float(self.info["threshold"])

    @property
    def costs(self) -> Costs:
        """The cost settings the threshold was chosen under."""
        return Costs(**self.info["costs"])

    @property
    def calibrator(self) -> Calibrator:
        """The chosen calibrator."""
        return self.calibrators[self.info["calibration"]]

    @property
    def created_at(self) -> str:
        """UTC time the bundle was written (ISO 8601)."""
        return str(self.info["created_at"])

    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds scores of a model matrix."""
        return self.scorer.raw(matrix)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated PD of raw scores, floored at 0.05% (see :func:`calibrated_pd`)."""
        return calibrated_pd(self.calibrator, raw)

    def score_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw score, calibrated PD) of a model matrix."""
        raw = self.scorer.raw(matrix)
        return raw, self.calibrate(raw)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model matrix of a prepared frame (raw features and panel features present)."""
        return self.features.transform(frame)

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(raw score, calibrated PD) of a prepared frame."""
        return self.score_matrix(self.matrix(frame))

    @property
    def reference(self) -> ReferenceProfile:
        """The monitoring reference profile frozen at training.

        Raises
        ------
        BundleError
            When the bundle was written before monitoring existed (retrain to monitor it).
        """
        from riskcore.evaluation.reference import ReferenceProfile

        if self.reference_data is None:
            raise BundleError(f"model {self.version} was trained before riskcore kept a monitoring reference "
                              "profile; retrain it (python -m riskcore train) to monitor its portfolio")
        try:
            return ReferenceProfile.from_dict(self.reference_data)
        except (ValueError, KeyError, TypeError) as err:
            raise BundleError(f"the bundle's reference.json cannot be read ({err}); retrain the model") from None

    def holdout(self) -> pd.DataFrame:
        """Validation and test rows with their scores (read once, then cached on the object)."""
        if self._holdout is None:
            self._holdout = pd.read_parquet(self.path / "holdout.parquet")
        return self._holdout.copy()


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------

def _split_pipeline(pipeline: Any) -> tuple[FeatureBuilder, list[tuple[str, Any]], Any]:
    steps = list(pipeline.steps)
    fb = steps[0][1]
    if not isinstance(fb, FeatureBuilder):
        raise BundleError("a riskcore pipeline starts with a FeatureBuilder step")
    middle = [(n, s) for n, s in steps[1:-1] if not hasattr(s, "fit_resample")]  # samplers act only in fit
    return fb, middle, steps[-1][1]


def _save_member(folder: Path, kind: str, pipeline: Any) -> None:
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    folder.mkdir(parents=True, exist_ok=True)
    fb, middle, model = _split_pipeline(pipeline)
    write_json(folder / "features.json", fb.state())
    if kind == "lightgbm":
        (folder / "model.txt").write_text(model.booster_.model_to_string(), encoding="utf-8")
        if middle:
            sio.dump(Pipeline(middle), folder / "transform.skops")
    elif kind == "xgboost":
        (folder / "model.json").write_bytes(bytes(model.get_booster().save_raw("json")))
        if middle:
            sio.dump(Pipeline(middle), folder / "transform.skops")
    else:
        sio.dump(model, folder / "model.skops")
        if middle:
            sio.dump(Pipeline(middle), folder / "transform.skops")


def save_bundle(
    folder: str | Path,
    *,
    pipeline: Any,
    kind: str,
    spec: DatasetSpec,
    info: dict[str, Any],
    calibrators: dict[str, Calibrator],
    metrics: dict[str, Any],
    importances: pd.DataFrame,
    profile: dict[str, Any],
    holdout: pd.DataFrame,
    members: list[tuple[str, Any]] | None = None,
    reference: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle folder and its manifest; returns the folder.

    ``info`` must hold at least ``version``, ``threshold``, ``costs`` (a dict) and
    ``calibration`` (the chosen calibrator's name, a key of ``calibrators``).
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if kind == "ensemble":
        if not members:
            raise BundleError("an ensemble bundle needs its members")
        for i, (mkind, mpipe) in enumerate(members):
            _save_member(folder / "members" / str(i), mkind, mpipe)
        info = {**info, "members": [m for m, _ in members]}
    else:
        _save_member(folder, kind, pipeline)
    info = {**info, "kind": kind, "format": FORMAT_VERSION}
    write_json(folder / "bundle.json", info)
    (folder / "spec.json").write_text(spec.to_json(), encoding="utf-8")
    write_json(folder / "calibration.json", {"chosen": info["calibration"],
                                            **{k: c.to_dict() for k, c in calibrators.items()}})
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "importances.json", importances.to_dict(orient="records"))
    write_json(folder / "profile.json", profile)
    if reference is not None:
        write_json(folder / "reference.json", reference)
    holdout.to_parquet(folder / "holdout.parquet", index=False)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {"format": FORMAT_VERSION, "version": info["version"],
                "files": {p.relative_to(folder).as_posix(): _sha256(p) for p in files}}
    write_json(folder / _MANIFEST, manifest)
    return folder


# ---------------------------------------------------------------------------
# verify and load
# ---------------------------------------------------------------------------

def bundle_hash(folder: str | Path) -> str:
    """SHA-256 of the manifest: one hash that pins every file of the bundle."""
    path = Path(folder) / _MANIFEST
    if not path.exists():
        raise BundleError(f"{str(folder)!r} is not a model bundle: manifest.json is missing")
    return _sha256(path)


def verify_bundle(folder: str | Path, expected_hash: str | None = None) -> dict[str, Any]:
    """Check every file against the manifest before anything is read.

    Raises
    ------
    BundleError
        When the folder or manifest is missing, a listed file is missing, a file
        is not listed, a hash differs, or the manifest's own hash differs from
        ``expected_hash`` (as recorded by the model registry).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"no model bundle at {str(folder)!r}: the folder does not exist")
    man_path = folder / _MANIFEST
    if not man_path.exists():
        raise BundleError(f"{str(folder)!r} is not a model bundle: manifest.json is missing")
    if expected_hash is not None and _sha256(man_path) != expected_hash:
        raise BundleError("the bundle's manifest differs from the one recorded when the model was registered; "
                          "the bundle was altered — retrain or restore it")
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
        listed: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"the bundle's manifest cannot be read ({err}); the bundle is damaged") from None
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {_MANIFEST}
    missing = sorted(set(listed) - present)
    unexpected = sorted(present - set(listed))
    if missing:
        raise BundleError(f"the bundle is incomplete: {', '.join(missing)} missing; retrain or restore it")
    if unexpected:
        raise BundleError(f"the bundle holds unexpected file(s) {', '.join(unexpected)}; "
                          "refusing to load a bundle that was added to")
    for rel, digest in sorted(listed.items()):
        if _sha256(folder / rel) != digest:
            raise BundleError(f"the bundle file {rel!r} was altered (its SHA-256 differs from the manifest); "
                              "refusing to load it — retrain or restore the bundle")
    return manifest


def _load_skops(path: Path) -> Any:
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(file=path))
    unknown = sorted(untrusted - set(SKOPS_ALLOWLIST))
    if unknown:
        raise BundleError(f"{path.name} contains types riskcore does not load: {', '.join(unknown)}")
    return sio.load(path, trusted=sorted(untrusted))


def _load_member(folder: Path, kind: str, spec: DatasetSpec) -> tuple[FeatureBuilder, Scorer]:
    fb = FeatureBuilder.from_state(spec, json.loads((folder / "features.json").read_text(encoding="utf-8")))
    transform = _load_skops(folder / "transform.skops") if (folder / "transform.skops").exists() else None
    scorer: Scorer
    if kind == "lightgbm":
        scorer = LightGBMScorer((folder / "model.txt").read_text(encoding="utf-8"))
        if transform is not None:
            scorer = _TransformedNative(scorer, transform)
    elif kind == "xgboost":
        scorer = XGBoostScorer((folder / "model.json").read_bytes())
        if transform is not None:
            scorer = _TransformedNative(scorer, transform)
    else:
        scorer = SklearnScorer(kind, _load_skops(folder / "model.skops"), transform)
    return fb, scorer


def load_bundle(folder: str | Path, expected_hash: str | None = None) -> ModelBundle:
    """Verify, then load, a model bundle.

    Parameters
    ----------
    folder : the bundle folder.
    expected_hash : the manifest hash recorded by the registry, when known.

    Raises
    ------
    BundleError
        When verification fails or the bundle's kind is unknown.
    """
    from riskcore.modelling.calibration import Calibrator

    folder = Path(folder)
    verify_bundle(folder, expected_hash)
    info = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    spec = DatasetSpec.from_dict(json.loads((folder / "spec.json").read_text(encoding="utf-8")))
    kind = info.get("kind")
    scorer: Scorer
    if kind == "ensemble":
        members = [_load_member(folder / "members" / str(i), k, spec) for i, k in enumerate(info["members"])]
        fb, scorer = members[0][0], EnsembleScorer(members)
    elif kind in ("lightgbm", "xgboost", "logistic", "hist_gb", "random_forest"):
        fb, scorer = _load_member(folder, kind, spec)
    else:
        raise BundleError(f"unknown model kind {kind!r} in bundle.json")
    cal = json.loads((folder / "calibration.json").read_text(encoding="utf-8"))
    calibrators = {k: Calibrator.from_dict(v) for k, v in cal.items() if k != "chosen"}
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    importances = pd.DataFrame(json.loads((folder / "importances.json").read_text(encoding="utf-8")))
    profile = json.loads((folder / "profile.json").read_text(encoding="utf-8"))
    ref_path = folder / "reference.json"
    reference = json.loads(ref_path.read_text(encoding="utf-8")) if ref_path.exists() else None
    return ModelBundle(path=folder, info=info, spec=spec, features=fb, scorer=scorer, calibrators=calibrators,
                       metrics=metrics, importances=importances, profile=profile, manifest_hash=bundle_hash(folder),
                       reference_data=reference)
