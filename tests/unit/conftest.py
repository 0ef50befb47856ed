"""Fixtures the command-line and store tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def audit_url(tmp_path, monkeypatch):
    """A fresh SQLite audit trail for one test, set as the commands' ``RISKCORE_AUDIT_URL``."""
    url = "sqlite:///" + str(tmp_path / "audit.db")
    monkeypatch.setenv("RISKCORE_AUDIT_URL", url)
    return url


@pytest.fixture
def audit_database(database, monkeypatch):
    """A fresh audit trail on SQLite and again on PostgreSQL, set as the commands' ``RISKCORE_AUDIT_URL``.

    ``database`` (tests/databases.py) gives the back end; the PostgreSQL run skips without a server.
    """
    monkeypatch.setenv("RISKCORE_AUDIT_URL", database.url)
    return database


@pytest.fixture
def mlflow_tries_once(monkeypatch):
    """MLflow opens a store nine more times, 101 s of back-off in all, before it reports what is wrong with it.

    A test of a store that can never open (a damaged file) needs the first failure only.
    """
    import mlflow.store.db.utils

    monkeypatch.setattr(mlflow.store.db.utils, "MAX_RETRY_COUNT", 1)
