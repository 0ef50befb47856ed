"""The connection to MLflow's store, for the experiment tracker and the model registry.

:class:`TrackingStore` opens the client once, on first use, and the experiment
(created when missing); it checks that a database server answers before MLflow
retries it for minutes, and words every failure of the store as a
:class:`~riskcore.errors.TrackingError` without the store's password.
:class:`riskcore.modelling.tracking.Tracker` builds what riskcore records on it
(runs, registered versions, the champion, monitoring runs).
:func:`store_errors` and :func:`not_found` tell a store that failed from an
object that is not there.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from riskcore.config import database_url
from riskcore.errors import TrackingError, driver_message

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["TrackingStore", "not_found", "store_errors"]

# MLflow's answers that mean "there is no such thing", as opposed to "the store cannot be reached"
_NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


def store_errors() -> tuple[type[Exception], ...]:
    """What the experiment store raises when it cannot be reached, read or written.

    MLflow wraps most failures in ``MlflowException`` (an HTTP server that does
    not answer included) but lets SQLAlchemy's errors through from a damaged
    SQLite store, and file-system problems with artifacts are ``OSError``.
    Imported here, not at the top, so importing riskcore does not load MLflow.
    """
    from mlflow.exceptions import MlflowException  # see above: MLflow loads only when a store is used
    from sqlalchemy.exc import SQLAlchemyError

    return (MlflowException, SQLAlchemyError, OSError)


def not_found(err: Exception) -> bool:
    """Whether an MLflow error says the object does not exist (rather than that the store failed)."""
    return getattr(err, "error_code", None) in _NOT_FOUND


def _quiet_mlflow() -> None:
    """MLflow's and Alembic's logs at warning level; no asynchronous logging or progress bars."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="mlflow")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # reading monitor.json is not a download


class TrackingStore:
    """The connection to one MLflow store: its client, its experiment, and its errors with the password hidden.

    Parameters
    ----------
    tracking_uri : e.g. ``sqlite:////abs/path/mlflow.db``.
    artifact_root : folder for run artifacts (used when the experiment is created).
    experiment : experiment name.
    model_name : registered model name.
    """

    def __init__(self, tracking_uri: str, artifact_root: str | Path, *, experiment: str = "riskcore",
                 model_name: str = "riskcore-pd"):
        self.tracking_uri = database_url(tracking_uri)
        self.artifact_root = Path(artifact_root)
        self.experiment = experiment
        self.model_name = model_name
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None

    @property
    def remote(self) -> bool:
        """Whether the store is a tracking server (``http(s)://``) rather than a database this process opens."""
        return self.tracking_uri.split(":", 1)[0].lower() in ("http", "https")

    @property
    def shown_uri(self) -> str:
        """The store's URI for messages: a database password replaced by ``***``."""
        return _hide_password(self.tracking_uri)

    def redact(self, err: object) -> str:
        """An error's text without the store's password (a driver may quote the URL it was given)."""
        text = str(err)
        password = _password(self.tracking_uri)
        return text.replace(password, "***") if password else text

    @property
    def _is_database_server(self) -> bool:
        return self.tracking_uri.split(":", 1)[0].split("+", 1)[0].lower() in ("postgresql", "mysql", "mssql")

    def _check_reachable(self) -> None:
        """Connect once, with a short timeout, before MLflow does.

        MLflow retries an engine that cannot connect ten times with a growing pause, about 100 s in all,
        before it gives up: a dashboard or API pointed at a server that is down would hang that long
        before it could say so. One connection here fails in seconds instead, with the server's reason.
        """
        # SQLAlchemy loads with MLflow, only when a store is used: importing riskcore stays light for the API
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        args = {"connect_timeout": 10} if self.tracking_uri.startswith("postgresql") \
            and "connect_timeout" not in self.tracking_uri else {}
        try:
            engine = create_engine(self.tracking_uri, poolclass=NullPool, connect_args=args)
            try:
                with engine.connect():
                    pass
            finally:
                engine.dispose()
        except (SQLAlchemyError, ImportError) as err:
            raise TrackingError(f"cannot reach the experiment store {self.shown_uri!r}: "
                                f"{self.redact(driver_message(err))}; "
                                "check that the database server is running and that MLFLOW_TRACKING_URI (or "
                                "tracking_uri in riskcore.toml) names it") from None

    @property
    def client(self) -> MlflowClient:
        """The MLflow client (created, with the store, on first use)."""
        if self._client is None:
            _quiet_mlflow()
            from mlflow import MlflowClient  # MLflow loads only when a store is used, not with riskcore


            try:
                if self.tracking_uri.startswith("sqlite:///"):
                    Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                elif self._is_database_server:
                    self._check_reachable()
                self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            except store_errors() as err:
                raise TrackingError(f"cannot open the experiment store {self.shown_uri!r}: "
                                    f"{self.redact(err)}") from None
        return self._client

    @property
    def experiment_id(self) -> str:
        """The experiment's id, creating the experiment when needed."""
        if self._experiment_id is None:
            client = self.client
            try:
                exp = client.get_experiment_by_name(self.experiment)
                if exp is None and self.remote:
                    # a tracking server keeps the artifacts (mlflow server --serve-artifacts), so every host
                    # that shares it can download a bundle; a local folder would exist on this host only
                    self._experiment_id = client.create_experiment(self.experiment)
                elif exp is None:
                    self.artifact_root.mkdir(parents=True, exist_ok=True)
                    self._experiment_id = client.create_experiment(self.experiment,
                                                                   artifact_location=self.artifact_root.as_uri())
                else:
                    self._experiment_id = exp.experiment_id
            except store_errors() as err:
                raise TrackingError(f"cannot open the experiment {self.experiment!r} in {self.shown_uri!r}: "
                                    f"{self.redact(err)}") from None
        return str(self._experiment_id)


def _password(uri: str) -> str | None:
    """The password of ``uri``'s ``user:password@`` part; None when it has none or is no URL at all."""
    try:
        return urlsplit(uri).password if "://" in uri else None
    except ValueError:  # e.g. an unclosed IPv6 bracket: nothing to hide, and no reason to fail a message
        return None


def _hide_password(uri: str) -> str:
    """``uri`` with the password of its ``user:password@`` part replaced by ``***``."""
    if not _password(uri):
        return uri
    parts = urlsplit(uri)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
