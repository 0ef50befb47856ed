"""A points scorecard in the dashboard: its table on the Performance page, its points in the company explorer."""

from __future__ import annotations

from pathlib import Path

import pytest
from models import ModelCache, scorecard_home
from pagetools import APP, TIMEOUT, clear_streamlit_caches, open_page, table_with
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="module")
def home(model_cache: ModelCache, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose champion is the cached scorecard (trained once per run), copied for this module."""
    return scorecard_home(model_cache).copy_to(tmp_path_factory.mktemp("scorecard_home") / "home").folder


@pytest.fixture
def at(home: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("RISKCORE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKCORE_AUDIT_URL", raising=False)
    clear_streamlit_caches()
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    yield app
    clear_streamlit_caches()


def test_the_performance_page_shows_and_offers_the_scorecard(at):
    open_page(at, "performance")
    assert not at.exception, [e.value for e in at.exception]
    assert "Scorecard" in [h.value for h in at.subheader]
    table = table_with(at, "label", "bin", "count", "event_rate", "woe", "points")
    assert len(table) > 50 and (table["points"] % 1 == 0).all()
    assert any("20 points double the odds" in c.value for c in at.caption)
    assert "Download the scorecard (CSV)" in [b.proto.label for b in at.get("download_button")]


def test_the_company_explorer_adds_up_the_companys_points(at):
    open_page(at, "company_explorer")
    assert not at.exception, [e.value for e in at.exception]
    heading = next(h.value for h in at.subheader if h.value.startswith("Scorecard: "))
    points = table_with(at, "label", "bin", "points")
    assert heading == f"Scorecard: {points['points'].sum():,.0f} points"
    at.selectbox(key="company").select_index(1).run()  # another company: its own points and total
    again = table_with(at, "label", "bin", "points")
    assert next(h.value for h in at.subheader if h.value.startswith("Scorecard: ")) == \
        f"Scorecard: {again['points'].sum():,.0f} points"
