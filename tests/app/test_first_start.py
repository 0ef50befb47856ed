"""First start: with no model anywhere, the app generates the demo portfolio, trains, and opens."""

from __future__ import annotations

from pagetools import APP, clear_streamlit_caches
from streamlit.testing.v1 import AppTest


def test_first_start_trains_a_champion_and_opens(tmp_path, monkeypatch):
    from riskcore.config import load_settings
    from riskcore.lifecycle import DEMO_LATER_YEARS
    from riskcore.modelling.demo import demo_later_paths
    from riskcore.modelling.tracking import Tracker

    home = tmp_path / "empty_home"
    monkeypatch.setenv("RISKCORE_HOME", str(home))
    monkeypatch.setenv("RISKCORE_DEMO_COMPANIES", "400")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKCORE_AUDIT_URL", raising=False)
    clear_streamlit_caches()
    try:
        at = AppTest.from_file(APP, default_timeout=900)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.title[0].value == "Business impact"
        settings = load_settings(env={"RISKCORE_HOME": str(home)})
        champion = Tracker.from_settings(settings).champion()
        assert champion is not None and champion.bundle_path.exists()
        assert (settings.data_dir / "demo_portfolio.csv").exists()
        # the demo's later years were written and monitored one at a time: the monitoring page has a history
        assert all(p.exists() for p in demo_later_paths(settings))
        assert len(Tracker.from_settings(settings).monitoring_runs(champion.model_version)) == DEMO_LATER_YEARS
        assert champion.model_version in " ".join(c.value for c in at.sidebar.caption)

        # a second run from the training-runs page, on the same (small) demo file
        at.switch_page("../pages/training_runs.py").run()
        at.radio(key="train_profile").set_value("quick")
        at.checkbox(key="train_promote").check()
        at.button(key="train_start").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("Run finished" in s.value for s in at.success)
        assert len(at.selectbox(key="run_select").options) == 2
        assert Tracker.from_settings(settings).champion().run_id != champion.run_id
    finally:
        clear_streamlit_caches()
