"""The dashboard follows the champion without a restart and never shows one whose bundle fails verification.

Each test works on its own copy of the session's home (registry, bundles, audit trail), with the registry's
bundle paths pointing at the copy's bundles, so changing a byte there touches nothing else; the settings say
``[serving] check_seconds = 0`` so the dashboard's model server looks again on every rerun.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from pagetools import APP, clear_streamlit_caches, errors, metrics, open_page
from streamlit.testing.v1 import AppTest

from riskcore.config import Settings, load_settings
from riskcore.lifecycle import promote
from riskcore.modelling.tracking import Tracker
from riskcore.serving.audit import AuditLog
from riskcore.serving.server import NO_VERIFIED_MODEL

TIMEOUT = 120


@dataclass
class Home:
    """A copied home: its settings, registry, the champion and the other registered version."""

    settings: Settings
    tracker: Tracker
    champion: str
    other: str

    def bundle_file(self, version: str, name: str = "metrics.json") -> Path:
        """A file of a version's bundle in this home."""
        path = self.settings.models_dir / version / name
        assert path.is_file(), path
        return path


@pytest.fixture
def home(app_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A copy of the trained home that the dashboard points at, looking for a new champion on every rerun."""
    copy = tmp_path / "home"
    shutil.copytree(app_home, copy)
    config = tmp_path / "riskcore.toml"
    config.write_text("[serving]\ncheck_seconds = 0\n", encoding="utf-8")
    monkeypatch.setenv("RISKCORE_HOME", str(copy))
    monkeypatch.setenv("RISKCORE_CONFIG", str(config))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKCORE_AUDIT_URL", raising=False)
    settings = load_settings()
    assert settings.serving.check_seconds == 0
    tracker = Tracker.from_settings(settings)
    for v in tracker.client.search_model_versions(f"name = '{tracker.model_name}'"):
        tracker.client.set_model_version_tag(tracker.model_name, v.version, "bundle_path",
                                             str(settings.models_dir / v.tags["model_version"]))
    versions = tracker.registry_versions()
    champion = versions.loc[versions["champion"], "model_version"].item()
    other = versions.loc[~versions["champion"], "model_version"].item()
    clear_streamlit_caches()
    yield Home(settings, tracker, champion, other)
    clear_streamlit_caches()


def _app() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _model_in_use(app: AppTest) -> str:
    """The model version the sidebar says is in use (the caption under "Model in use")."""
    captions = [c.value for c in app.sidebar.caption]
    return next(c for c in captions if c.startswith(("logistic-", "lightgbm-", "xgboost-", "hist_gb-",
                                                      "random_forest-", "ensemble-")))


def _sidebar_warnings(app: AppTest) -> list[str]:
    return [w.value for w in app.sidebar.warning]


def _moves(home: Home) -> list:
    """The ledger's moves, read from the copied home's audit trail."""
    audit = AuditLog.from_settings(home.settings)
    try:
        return audit.moves()
    finally:
        audit.close()


def _test_auc(home: Home, version: str) -> str:
    """A version's test AUC as the dashboard shows it, read from its own bundle."""
    import json

    return f"{json.loads(home.bundle_file(version).read_text(encoding='utf-8'))['test']['auc']:.3f}"


def test_a_tampered_champion_is_replaced_by_the_previous_one_and_comes_back_when_restored(home: Home):
    app = _app()
    assert _model_in_use(app) == home.champion and not _sidebar_warnings(app)
    previous_auc, other_auc = _test_auc(home, home.champion), _test_auc(home, home.other)

    move = promote(home.settings, home.other, reason="committee decision, reviewed", actor="test", override=True)
    assert move.moved
    app.run()  # the same session, no restart: the dashboard picks up the new champion
    assert not app.exception, [e.value for e in app.exception]
    assert _model_in_use(app) == home.other and not _sidebar_warnings(app)
    assert metrics(app.sidebar)["Test AUC"] == other_auc

    tampered = home.bundle_file(home.other)
    original = tampered.read_bytes()
    tampered.write_bytes(original + b" ")
    try:
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        (warning,) = _sidebar_warnings(app)
        assert home.other in warning and home.champion in warning and "cannot be served" in warning
        assert _model_in_use(app) == home.champion
        assert metrics(app.sidebar)["Test AUC"] == previous_auc
        assert app.title[0].value == "Business impact" and not errors(app)

        open_page(app, "performance")
        assert not app.exception, [e.value for e in app.exception]
        assert not errors(app)
        assert _model_in_use(app) == home.champion and len(_sidebar_warnings(app)) == 1
        assert metrics(app)["AUC"] == previous_auc  # the page's own figures are the previous version's

        fallback = _moves(home)[-1]
        assert (fallback.event, fallback.from_version, fallback.to_version) == ("fallback", home.other,
                                                                                 home.champion)
    finally:
        tampered.write_bytes(original)

    app.run()  # restored: the champion verifies again and is shown, without a warning
    assert not app.exception, [e.value for e in app.exception]
    assert _model_in_use(app) == home.other and not _sidebar_warnings(app)
    assert _moves(home)[-1].event == "restore"


def test_with_no_verified_champion_the_pages_show_an_error_and_nothing_is_trained(home: Home):
    before = len(home.tracker.registry_versions())
    tampered = home.bundle_file(home.champion)
    tampered.write_bytes(tampered.read_bytes() + b" ")  # the only champion there has been: nothing to fall back to

    app = _app()
    assert any(NO_VERIFIED_MODEL in e for e in errors(app)), errors(app)
    assert not app.title or app.title[0].value != "Welcome to riskcore"  # no first start, no training
    app.switch_page("../pages/performance.py").run()
    assert not app.exception, [e.value for e in app.exception]
    assert any(NO_VERIFIED_MODEL in e for e in errors(app)) and not metrics(app)
    assert len(home.tracker.registry_versions()) == before
    assert home.tracker.champion().model_version == home.champion
