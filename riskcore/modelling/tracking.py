"""Experiment tracking and the model registry, on MLflow.

Every training run is an MLflow run (parameters, test metrics, one nested run per
candidate with its cross-validation results, the bundle as artifacts). Each
trained model is registered as a new version of one registered model; the alias
``champion`` marks the version in production. A version's tags record where its
bundle lies and the SHA-256 of its manifest, so loading the champion verifies
that the bundle is the one that was registered.

The default store is a SQLite file in the state folder; the standard
``MLFLOW_TRACKING_URI`` overrides it (see :func:`riskcore.config.load_settings`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from riskcore.config import Settings
from riskcore.errors import ModelNotFoundError, TrackingError
from riskcore.modelling.bundle import ModelBundle, load_bundle
from riskcore.modelling.tracking_store import TrackingStore, not_found, store_errors

__all__ = ["CHAMPION", "MONITORING_SUFFIX", "PREVIOUS_CHAMPION", "ChampionRef", "Tracker", "load_champion"]

MONITORING_SUFFIX = "-monitoring"

CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous_champion"


@dataclass(frozen=True)
class ChampionRef:
    """Where the production model is: registry version, bundle folder, manifest hash."""

    registry_version: str
    bundle_path: Path
    bundle_hash: str
    model_version: str
    run_id: str


class Tracker(TrackingStore):
    """MLflow tracking and registry for one experiment and one registered model.

    Parameters
    ----------
    tracking_uri : e.g. ``sqlite:////abs/path/mlflow.db``.
    artifact_root : folder for run artifacts (used when the experiment is created).
    experiment : experiment name.
    model_name : registered model name.

    The connection, the experiment and the wording of the store's failures are
    :class:`~riskcore.modelling.tracking_store.TrackingStore`'s.
    """

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracker:
        """A tracker on the settings' store (``Settings.resolved_tracking_uri``)."""
        return cls(settings.resolved_tracking_uri, Path(settings.home) / "mlartifacts", model_name=settings.model_name)

    # -- writing -----------------------------------------------------------
    def log_run(
        self,
        *,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        candidates: list[dict[str, Any]],
        bundle_dir: Path,
        summary: str = "",
    ) -> str:
        """Log one training run with a nested run per candidate; returns the run id."""
        from mlflow.entities import Metric, Param, RunTag  # MLflow loads only when a store is used

        c = self.client
        try:
            run = c.create_run(self.experiment_id, run_name=run_name, tags=tags)
            rid = run.info.run_id
            ts = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
            c.log_batch(rid, metrics=[Metric(k, float(v), ts, 0) for k, v in metrics.items() if v == v],
                        params=[Param(k, str(v)[:500]) for k, v in params.items()])
            for cand in candidates:
                child = c.create_run(self.experiment_id, run_name=f"candidate {cand['kind']}",
                                     tags={"mlflow.parentRunId": rid, "candidate": str(cand["kind"])})
                cm = {k: float(v) for k, v in cand.items() if isinstance(v, (int, float)) and v == v}
                cp = {f"param.{k}": str(v) for k, v in (cand.get("params") or {}).items()}
                c.log_batch(child.info.run_id, metrics=[Metric(k, v, ts, 0) for k, v in cm.items()],
                            params=[Param(k, v[:500]) for k, v in cp.items()],
                            tags=[RunTag("chosen", str(cand.get("chosen", False)))])
                c.set_terminated(child.info.run_id)
            c.log_artifacts(rid, str(bundle_dir), artifact_path="bundle")
            if summary:
                c.log_text(rid, summary, "summary.txt")
            c.set_terminated(rid)
            return str(rid)
        except store_errors() as err:
            raise TrackingError(f"could not log the run to {self.shown_uri!r}: {self.redact(err)}") from None

    def register(self, *, run_id: str, bundle_dir: Path, bundle_hash: str, model_version: str) -> str:
        """Register the run's bundle as a new model version; returns the registry version."""
        c = self.client
        try:
            try:
                c.get_registered_model(self.model_name)
            except store_errors() as err:
                if not not_found(err):
                    raise
                c.create_registered_model(self.model_name, description="riskcore probability-of-default model")
            source = c.get_run(run_id).info.artifact_uri.rstrip("/") + "/bundle"
            mv = c.create_model_version(self.model_name, source=source, run_id=run_id,
                                        tags={"bundle_path": str(Path(bundle_dir).resolve()),
                                              "bundle_hash": bundle_hash, "model_version": model_version})
            return str(mv.version)
        except store_errors() as err:
            raise TrackingError(f"could not register the model: {self.redact(err)}") from None

    def set_champion(self, registry_version: str) -> None:
        """Point the ``champion`` alias at a registered version."""
        try:
            self.client.set_registered_model_alias(self.model_name, CHAMPION, str(registry_version))
        except store_errors() as err:
            raise TrackingError(f"could not set the champion: {self.redact(err)}") from None

    def alias_version(self, alias: str) -> str | None:
        """The registry version an alias points at, or None when it points nowhere."""
        try:
            return str(self.client.get_model_version_by_alias(self.model_name, alias).version)
        except store_errors() as err:
            if not_found(err):
                return None
            raise TrackingError(f"cannot read the model registry at {self.shown_uri!r}: {self.redact(err)}") from None

    def move_champion(self, registry_version: str, *, tags: dict[str, str]) -> str | None:
        """Make ``registry_version`` the champion and the old champion the ``previous_champion``; the old version.

        ``tags`` (who, why, the gate digest) are set on the new champion's registry version
        and, as ``last_move.*``, on the registered model, so MLflow shows the latest move.
        """
        old = self.alias_version(CHAMPION)
        c = self.client
        try:
            if old is not None and old != str(registry_version):
                c.set_registered_model_alias(self.model_name, PREVIOUS_CHAMPION, old)
            c.set_registered_model_alias(self.model_name, CHAMPION, str(registry_version))
            for key, value in tags.items():
                c.set_model_version_tag(self.model_name, str(registry_version), key, str(value)[:5000])
                c.set_registered_model_tag(self.model_name, f"last_move.{key}", str(value)[:5000])
        except store_errors() as err:
            raise TrackingError(f"could not move the champion: {self.redact(err)}") from None
        return old

    def registry_version_of(self, model_version: str) -> str | None:
        """The registry version under which a model version (``lightgbm-2026…``) was registered, or None."""
        found = self.registry_versions()
        match = found[found["model_version"] == model_version]
        return None if match.empty else str(match["version"].iloc[-1])

    def promote_run(self, run_id: str) -> str:
        """Make the model version registered from ``run_id`` the champion; returns its registry version."""
        try:
            found = self.client.search_model_versions(f"run_id = '{run_id}'")
        except store_errors() as err:
            raise TrackingError(f"cannot read the model registry: {self.redact(err)}") from None
        versions = [v for v in found if v.name == self.model_name]
        if not versions:
            raise ModelNotFoundError(f"run {run_id!r} has no registered model version")
        self.set_champion(versions[0].version)
        return str(versions[0].version)

    # -- monitoring ----------------------------------------------------------
    def monitoring(self) -> Tracker:
        """A tracker on the same store for the monitoring runs (experiment ``<experiment>-monitoring``)."""
        if self.experiment.endswith(MONITORING_SUFFIX):
            return self
        return Tracker(self.tracking_uri, self.artifact_root, experiment=self.experiment + MONITORING_SUFFIX,
                       model_name=self.model_name)

    def log_monitoring(self, report: dict[str, Any], *, model_version: str, bundle_hash: str,
                       summary: str = "") -> str:
        """Log one monitoring run: its headline numbers as metrics, ``monitor.json`` as an artifact; the run id.

        Tagged with the model version and bundle hash, the periods and the worst alert, so the history can be
        read per model without opening every report.
        """
        from mlflow.entities import Metric, RunTag  # MLflow loads only when a store is used

        statuses = [a["status"] for a in report.get("alerts", [])]
        worst = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
        periods = ",".join(str(p) for p in report.get("periods", []))
        tags = {"model_version": model_version, "bundle_hash": bundle_hash, "periods": periods[:500],
                "worst_alert": worst, "source": str(report.get("source", ""))[:500]}
        metrics = _monitoring_metrics(report)
        c = self.client
        try:
            run = c.create_run(self.experiment_id, run_name=f"monitor {model_version} {periods}"[:250], tags=tags)
            rid = run.info.run_id
            ts = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
            c.log_batch(rid, metrics=[Metric(k, float(v), ts, 0) for k, v in metrics.items()],
                        tags=[RunTag(k, v) for k, v in tags.items()])
            c.log_dict(rid, report, "monitor.json")
            if summary:
                c.log_text(rid, summary, "summary.txt")
            c.set_terminated(rid)
            return str(rid)
        except store_errors() as err:
            raise TrackingError(f"could not log the monitoring run to {self.shown_uri!r}: "
                                f"{self.redact(err)}") from None

    def monitoring_runs(self, model_version: str | None = None) -> pd.DataFrame:
        """Monitoring runs, newest first (of one model version when given); empty when there are none."""
        tracker = self.monitoring()
        where = f"tags.model_version = '{model_version}'" if model_version else ""
        return tracker._search(where)

    def monitoring_report(self, run_id: str) -> dict[str, Any]:
        """The ``monitor.json`` of one monitoring run."""
        from mlflow.artifacts import load_dict  # MLflow loads only when a store is used

        try:
            uri = self.client.get_run(run_id).info.artifact_uri.rstrip("/") + "/monitor.json"
            return dict(load_dict(uri))
        except store_errors() as err:
            raise TrackingError(f"cannot read the monitoring report of run {run_id!r}: {self.redact(err)}") from None

    # -- reading -----------------------------------------------------------
    def champion(self) -> ChampionRef | None:
        """The production model, or ``None`` when there is none yet."""
        return self.alias_ref(CHAMPION)

    def alias_ref(self, alias: str) -> ChampionRef | None:
        """Where the version an alias points at is (``champion``, ``previous_champion``), or ``None``."""
        try:
            mv = self.client.get_model_version_by_alias(self.model_name, alias)
        except store_errors() as err:
            if not_found(err):  # no registered model, or no version with the alias yet
                return None
            raise TrackingError(f"cannot read the model registry at {self.shown_uri!r}: {self.redact(err)}") from None
        return self._ref(mv)

    def version_ref(self, registry_version: str) -> ChampionRef | None:
        """Where a registered version's bundle is, or ``None`` when there is no such version."""
        try:
            mv = self.client.get_model_version(self.model_name, str(registry_version))
        except store_errors() as err:
            if not_found(err):
                return None
            raise TrackingError(f"cannot read the model registry at {self.shown_uri!r}: {self.redact(err)}") from None
        return self._ref(mv)

    def _ref(self, mv: Any) -> ChampionRef:
        tags = mv.tags or {}
        path = Path(tags.get("bundle_path", ""))
        run_id = str(mv.run_id or "")
        if not path.exists():
            path = self._download(run_id, str(tags.get("model_version", mv.version)))
        return ChampionRef(str(mv.version), path, tags.get("bundle_hash", ""), tags.get("model_version", ""), run_id)

    def _download(self, run_id: str, name: str) -> Path:
        """The bundle's artifacts of run ``run_id``, downloaded once into the models folder."""
        dest = self.artifact_root.parent / "models" / f"downloaded-{name}"
        if not dest.exists():
            try:
                from mlflow.artifacts import download_artifacts  # MLflow loads only when a store is used

                dest.parent.mkdir(parents=True, exist_ok=True)
                # a folder of its own per download: two processes fetching the same bundle do not collide,
                # and the one that renames second keeps the first one's (identical, verified on load) copy
                scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
                try:
                    tmp = Path(download_artifacts(run_id=run_id, artifact_path="bundle",
                                                  tracking_uri=self.tracking_uri, dst_path=str(scratch)))
                    try:
                        tmp.rename(dest)
                    except OSError:
                        if not dest.is_dir():  # else another process put the same bundle there first
                            raise
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
            except store_errors() as err:
                raise ModelNotFoundError("the champion's bundle is neither on disk nor downloadable: "
                                         f"{self.redact(err)}") from None
        return dest

    def _search(self, filter_string: str = "") -> pd.DataFrame:
        """Runs of the experiment as a frame shaped like ``mlflow.search_runs`` (on this tracker's store)."""
        client, experiment_id = self.client, self.experiment_id
        try:
            found = client.search_runs([experiment_id], filter_string=filter_string,
                                       order_by=["attributes.start_time DESC"], max_results=5000)
        except store_errors() as err:
            raise TrackingError(f"cannot read runs from {self.shown_uri!r}: {self.redact(err)}") from None
        rows = []
        for r in found:
            row: dict[str, Any] = {
                "run_id": r.info.run_id, "run_name": r.info.run_name, "status": r.info.status,
                "start_time": pd.to_datetime(r.info.start_time, unit="ms", utc=True),
                "end_time": pd.to_datetime(r.info.end_time, unit="ms", utc=True) if r.info.end_time else pd.NaT,
                "artifact_uri": r.info.artifact_uri,
            }
            row.update({f"metrics.{k}": v for k, v in r.data.metrics.items()})
            row.update({f"params.{k}": v for k, v in r.data.params.items()})
            row.update({f"tags.{k}": v for k, v in r.data.tags.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def runs(self) -> pd.DataFrame:
        """Top-level training runs, newest first: run_id, run_name, start_time, status, metrics.*, params.*, tags.*."""
        df = self._search()
        if len(df) and "tags.mlflow.parentRunId" in df:
            df = df[df["tags.mlflow.parentRunId"].isna()]
        return df.reset_index(drop=True)

    def candidates(self, run_id: str) -> pd.DataFrame:
        """The nested candidate runs of one training run: kind, cv_auc_mean, cv_auc_std, chosen, params."""
        df = self._search(f"tags.mlflow.parentRunId = '{run_id}'")
        rows = []
        for _, r in df.iterrows():
            params = {str(k).removeprefix("params.param."): v for k, v in r.items()
                      if str(k).startswith("params.param.") and v is not None and v == v}
            rows.append({"kind": r.get("tags.candidate"), "cv_auc_mean": r.get("metrics.cv_auc_mean"),
                         "cv_auc_std": r.get("metrics.cv_auc_std"), "chosen": r.get("tags.chosen") == "True",
                         "params": params})
        return pd.DataFrame(rows, columns=["kind", "cv_auc_mean", "cv_auc_std", "chosen", "params"]) \
            .sort_values("cv_auc_mean", ascending=False).reset_index(drop=True)

    def run(self, run_id: str) -> dict[str, Any]:
        """Parameters, metrics and tags of one run."""
        try:
            r = self.client.get_run(run_id)
        except store_errors() as err:
            raise TrackingError(f"cannot read run {run_id!r}: {self.redact(err)}") from None
        return {"params": dict(r.data.params), "metrics": dict(r.data.metrics), "tags": dict(r.data.tags),
                "start_time": r.info.start_time, "status": r.info.status}

    def registry_versions(self) -> pd.DataFrame:
        """Registered versions: version, run_id, model_version, bundle_hash, champion."""
        try:
            versions = self.client.search_model_versions(f"name = '{self.model_name}'")
        except store_errors():
            return pd.DataFrame(columns=["version", "run_id", "model_version", "bundle_hash", "champion",
                                         "previous_champion"])
        champ = self.champion()
        previous = self.alias_version(PREVIOUS_CHAMPION)
        rows = [{"version": str(v.version), "run_id": v.run_id, "model_version": (v.tags or {}).get("model_version"),
                 "bundle_hash": (v.tags or {}).get("bundle_hash"),
                 "champion": champ is not None and str(v.version) == champ.registry_version,
                 "previous_champion": previous is not None and str(v.version) == previous} for v in versions]
        return pd.DataFrame(rows, columns=["version", "run_id", "model_version", "bundle_hash", "champion",
                                           "previous_champion"])


def _finite(value: Any) -> bool:
    """Whether a report value is a finite number (a metric MLflow can store)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and abs(value) != float("inf")


def _monitoring_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a monitoring report, as MLflow metrics."""
    features = [f for f in report.get("features", []) if _finite(f.get("psi"))]
    realised = report.get("realized") or {}
    found = {
        "rows": report.get("n"), "score_psi": (report.get("score") or {}).get("psi"),
        "grade_psi": report.get("grade_psi"), "max_feature_psi": max((f["psi"] for f in features), default=None),
        "features_act": sum(f["status"] == "act" for f in features),
        "features_watch": sum(f["status"] == "watch" for f in features),
        "expected_default_rate": (report.get("expected") or {}).get("default_rate"),
        "expected_auc": (report.get("expected") or {}).get("auc"),
        "realized_auc": realised.get("auc"), "realized_default_rate": realised.get("default_rate"),
        "realized_ece": realised.get("ece"), "realized_rows": realised.get("n"),
        "alerts_failed": sum(a["status"] == "fail" for a in report.get("alerts", [])),
        "alerts_warned": sum(a["status"] == "warn" for a in report.get("alerts", [])),
    }
    return {k: float(v) for k, v in found.items() if _finite(v)}


def load_champion(tracker: Tracker) -> ModelBundle:
    """Load and verify the champion's bundle.

    Raises
    ------
    ModelNotFoundError
        When no model has been promoted yet.
    BundleError
        When the bundle on disk is not the one that was registered.
    """
    ref = tracker.champion()
    if ref is None:
        raise ModelNotFoundError("there is no champion model yet: train one first "
                                 "(python -m riskcore train --data FILE, or open the dashboard)")
    return load_bundle(ref.bundle_path, expected_hash=ref.bundle_hash or None)
