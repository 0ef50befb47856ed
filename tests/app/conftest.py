"""Fixtures of the page tests: a state folder with a trained champion, and a fresh AppTest per test.

The state is what the dashboard's first start leaves (the demo of 1,500 companies and its later
years, a champion trained with the quick profile, those years monitored, so the monitoring page
has a history), made of the runs other modules share; a second, cheaper run is logged next to it
(not promoted) so the training-runs page has a run to switch to and a model to promote
(tests/models.py: ``first_start_home``, which the browser tests share; test_first_start.py runs
the first start itself).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from models import ModelCache, first_start_home
from pagetools import APP, TIMEOUT, clear_streamlit_caches
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="session")
def app_home(model_cache: ModelCache, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RISKCORE_HOME as the first start leaves it, and a second (logistic) run.

    Made once per test run (tests/models.py); each worker process gets its own copy, which its tests change.
    """
    return first_start_home(model_cache).copy_to(tmp_path_factory.mktemp("dashboard_home") / "home").folder


@pytest.fixture(scope="module", autouse=True)
def _fresh_caches():
    """Each test module starts (and leaves) with empty Streamlit caches."""
    clear_streamlit_caches()
    yield
    clear_streamlit_caches()


@pytest.fixture
def app_env(app_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the dashboard at the trained home for one test (restored afterwards)."""
    monkeypatch.setenv("RISKCORE_HOME", str(app_home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKCORE_AUDIT_URL", raising=False)
    return app_home


@pytest.fixture
def at(app_env: Path) -> AppTest:
    """The dashboard, started once (it opens on the business-impact page)."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app
