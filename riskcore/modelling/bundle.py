"""The model bundle: one folder with everything needed to score, explain and audit.

Layout (every file but ``manifest.json`` is listed in it with its SHA-256)::

    bundle.json        kind, version, threshold, costs, calibration, training facts
    spec.json          the dataset spec
    features.json      the fitted FeatureBuilder state (categories, composite centre/spread)
    model.txt | model.json | model.skops | scorecard.json
                       LightGBM text, XGBoost JSON, scikit-learn via skops, or a scorecard's points
    transform.skops    (optional) fitted transformers between features and model
    members/<i>/...    the same files for each member of a voting ensemble
    calibration.json   isotonic and Platt calibrators as plain numbers (the chosen one named)
    metrics.json       the evaluation (see riskcore.modelling.train)
    importances.json   feature importances
    profile.json       a profile of the training data (quantiles per feature and sector)
    reference.json     the monitoring reference: frozen bins per feature, score and grade, test back-test
                       (riskcore.evaluation.reference; bundles written before monitoring existed lack it)
    holdout.parquet    validation and test rows with their scores, for the dashboard
    cycle.parquet      the reference sample of training rows whose mean PD is the cycle's central tendency
                       (riskcore.modelling.cycle; its parameters are bundle.json's ``cycle``)

Nothing here is a pickle: LightGBM and XGBoost models are their own text/JSON
formats, scikit-learn estimators use skops with an allowlist (those files, and the
scorers read back from them, are :mod:`riskcore.modelling.scorers`), everything else
is JSON or Parquet. :func:`load_bundle` verifies every hash (and
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
from riskcore.modelling.calibration import Calibrator, calibrated_pd
from riskcore.modelling.cycle import CentralTendency, CycleModel
from riskcore.modelling.features import FeatureBuilder
from riskcore.modelling.scorecard import company_points, points_table
from riskcore.modelling.scorers import EnsembleScorer, ScorecardScorer, Scorer, read_scorer, split_pipeline, write_model

if TYPE_CHECKING:  # the reference loads scipy.stats, which scoring (the API's hot path) never needs
    from riskcore.evaluation.reference import ReferenceProfile

__all__ = ["ModelBundle", "bundle_hash", "json_ready", "load_bundle", "save_bundle", "verify_bundle", "write_json"]

FORMAT_VERSION = 1
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
    cycle: CycleModel | None = field(default=None, repr=False)
    _holdout: pd.DataFrame | None = field(default=None, repr=False)
    _central: CentralTendency | None = field(default=None, repr=False)

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
    def grade_basis(self) -> str:
        """``ttc`` when grades follow the through-the-cycle PD (frozen at training), else ``pit``."""
        return self.cycle.basis if self.cycle is not None else "pit"

    def ttc_pd(self, p_default: np.ndarray, frame: pd.DataFrame) -> np.ndarray | None:
        """The through-the-cycle PD of scored rows (``frame`` holds their macro inputs), or None on a PIT basis.

        See :mod:`riskcore.modelling.cycle`; the central tendency of each macro state is computed once per
        bundle object and kept.
        """
        if self.cycle is None or self.cycle.basis != "ttc":
            return None
        if self._central is None:
            self._central = CentralTendency(self.cycle, self._calibrated_pd)
        return self._central.ttc(np.asarray(p_default, dtype=float), frame)

    def _calibrated_pd(self, frame: pd.DataFrame) -> np.ndarray:
        """The calibrated PD of a prepared frame."""
        return self.predict_frame(frame)[1]

    @property
    def reference(self) -> ReferenceProfile:
        """The monitoring reference profile frozen at training.

        Raises
        ------
        BundleError
            When the bundle was written before monitoring existed (retrain to monitor it).
        """
        from riskcore.evaluation.reference import ReferenceProfile  # scipy.stats: only monitoring needs it

        if self.reference_data is None:
            raise BundleError(f"model {self.version} was trained before riskcore kept a monitoring reference "
                              "profile; retrain it (python -m riskcore train) to monitor its portfolio")
        try:
            return ReferenceProfile.from_dict(self.reference_data)
        except (ValueError, KeyError, TypeError) as err:
            raise BundleError(f"the bundle's reference.json cannot be read ({err}); retrain the model") from None

    @property
    def is_scorecard(self) -> bool:
        """True when the model is a points scorecard (:meth:`points_table`, :meth:`points` answer)."""
        return isinstance(self.scorer, ScorecardScorer)

    def _card(self) -> ScorecardScorer:
        if not isinstance(self.scorer, ScorecardScorer):
            raise BundleError(f"model {self.version} is a {self.kind} model, not a scorecard: it has no points; "
                              "train one with python -m riskcore train --candidates scorecard")
        return self.scorer

    def points_table(self) -> pd.DataFrame:
        """The scorecard's points table, as fitted (nothing is refitted).

        Columns: characteristic, label, bin, count, event_rate, woe, points; one row per bin of
        each characteristic (the last bin of each is ``Missing``).

        Raises
        ------
        BundleError
            When the model is not a scorecard.
        """
        labels = {n: self.spec.label(n) for n in self.features.layout_.names}
        return points_table(self._card().card, self.features.categories_, labels)

    def points(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The bin and points of each characteristic for each row of a prepared frame.

        Columns: row (position), characteristic, label, bin, points; each row's points add up to
        its score, whose log-odds (``(offset - score) / factor``) is the raw score calibration reads.

        Raises
        ------
        BundleError
            When the model is not a scorecard.
        """
        labels = {n: self.spec.label(n) for n in self.features.layout_.names}
        return company_points(self._card().card, self.matrix(frame), self.features.categories_, labels)

    def holdout(self) -> pd.DataFrame:
        """Validation and test rows with their scores (read once, then cached on the object)."""
        if self._holdout is None:
            self._holdout = pd.read_parquet(self.path / "holdout.parquet")
        return self._holdout.copy()


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------

def _save_member(folder: Path, kind: str, pipeline: Any) -> None:
    """One member's files: the feature step's state, then the model in its own format."""
    folder.mkdir(parents=True, exist_ok=True)
    fb, middle, model = split_pipeline(pipeline)
    write_json(folder / "features.json", fb.state())
    write_model(folder, kind, model, middle)


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
    cycle: CycleModel | None = None,
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
    if cycle is not None:
        info["cycle"] = cycle.info()
        cycle.reference.to_parquet(folder / "cycle.parquet", index=False)
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


def _load_member(folder: Path, kind: str, spec: DatasetSpec) -> tuple[FeatureBuilder, Scorer]:
    """One member's feature step and scorer."""
    fb = FeatureBuilder.from_state(spec, json.loads((folder / "features.json").read_text(encoding="utf-8")))
    return fb, read_scorer(folder, kind)


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
    folder = Path(folder)
    verify_bundle(folder, expected_hash)
    info = json.loads((folder / "bundle.json").read_text(encoding="utf-8"))
    spec = DatasetSpec.from_dict(json.loads((folder / "spec.json").read_text(encoding="utf-8")))
    kind = info.get("kind")
    scorer: Scorer
    if kind == "ensemble":
        members = [_load_member(folder / "members" / str(i), k, spec) for i, k in enumerate(info["members"])]
        fb, scorer = members[0][0], EnsembleScorer(members)
    elif kind in ("lightgbm", "xgboost", "logistic", "hist_gb", "random_forest", "scorecard"):
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
                       reference_data=reference, cycle=_read_cycle(folder, info))


def _read_cycle(folder: Path, info: dict[str, Any]) -> CycleModel | None:
    """The frozen cycle, or None for a bundle trained before through-the-cycle grades existed."""
    if "cycle" not in info:
        return None
    try:
        return CycleModel.from_info(info["cycle"], pd.read_parquet(folder / "cycle.parquet"))
    except (ValueError, KeyError, TypeError, OSError) as err:
        raise BundleError(f"the bundle's through-the-cycle parameters cannot be read ({err}); retrain the model") \
            from None
