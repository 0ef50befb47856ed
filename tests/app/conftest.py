"""Fixtures of the page tests: a state folder with a trained champion, and a fresh AppTest per test.

The champion is trained once per test run with the dashboard's own first-start
call (``first_start``, quick profile, 1,500 companies), which also monitors the
demo's later years, so the monitoring page has a history. A second, cheaper run
is logged next to it (not promoted) so the training-runs page has a run to
switch to and a model to promote.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from models import ModelCache, quick
from pagetools import APP, TIMEOUT, clear_streamlit_caches
from streamlit.testing.v1 import AppTest


def _first_start(home: Path) -> dict:
    """Make a dashboard's first start in ``home``, then log a second (logistic) run next to it."""
    from riskcore.config import load_settings
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.tabular import read_table
    from riskcore.lifecycle import first_start
    from riskcore.modelling.tracking import Tracker
    from riskcore.modelling.train import train

    settings = load_settings(env={"RISKCORE_HOME": str(home)})
    first_start(settings, profile="quick", n_companies=1500)
    data = settings.data_dir / "demo_portfolio.csv"
    train(read_table(data), DEMO_SPEC, config=quick("logistic"), costs=settings.costs,
          models_dir=settings.models_dir, tracker=Tracker.from_settings(settings), promote=False, source=str(data))
    return {}


@pytest.fixture(scope="session")
def app_home(model_cache: ModelCache, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RISKCORE_HOME with a champion trained like the first start does, and a second (logistic) run.

    Made once per test run (tests/models.py); each worker process gets its own copy, which its tests change.
    """
    state = model_cache.state("first-start-quick-1500-and-logistic", _first_start)
    return state.copy_to(tmp_path_factory.mktemp("dashboard_home") / "home").folder


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
