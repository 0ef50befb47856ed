"""Fixtures the unit tests share: an audit trail for the commands, the session champion's model report."""

from __future__ import annotations

import pytest

REPORT_STAMP = "2026-03-01T09:30:00+00:00"
"""The generation line of :func:`demo_report`."""


@pytest.fixture(scope="session")
def demo_report(quick_bundle, tmp_path_factory):
    """The facts of the session champion's model report, without a registry or an audit trail."""
    from riskcore.config import Settings
    from riskcore.lifecycle.report import build_report

    return build_report(quick_bundle, settings=Settings(home=tmp_path_factory.mktemp("report_home")),
                        generated_at=REPORT_STAMP)


@pytest.fixture(scope="session")
def demo_html(demo_report):
    """That report as HTML (written once per worker: its figures take seconds)."""
    from riskcore.lifecycle.report import render_report

    return render_report(demo_report)


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
