"""Fixtures the command-line tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def audit_url(tmp_path, monkeypatch):
    """A fresh SQLite audit trail for one test, set as the commands' ``RISKCORE_AUDIT_URL``."""
    url = "sqlite:///" + str(tmp_path / "audit.db")
    monkeypatch.setenv("RISKCORE_AUDIT_URL", url)
    return url
