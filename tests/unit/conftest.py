"""Fixtures the command-line tests share."""

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
