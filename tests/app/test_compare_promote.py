"""Training runs page, "Compare and promote": the gate's verdict, a promotion over the gate, the ledger, a rollback.

The moves run on a copy of the session's home, so the other page tests keep seeing the original champion.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pagetools import APP, clear_streamlit_caches, open_page, table_with
from streamlit.testing.v1 import AppTest

TIMEOUT = 120


@pytest.fixture
def home_copy(app_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the trained home (registry, bundles, audit trail) that the dashboard points at for one test."""
    home = tmp_path / "home"
    shutil.copytree(app_home, home)
    monkeypatch.setenv("RISKCORE_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RISKCORE_AUDIT_URL", raising=False)
    clear_streamlit_caches()
    yield home
    clear_streamlit_caches()


@pytest.fixture
def page(home_copy: Path) -> AppTest:
    """The dashboard on the copied home, on the training runs page."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return open_page(app, "training_runs")


def _tracker(home: Path):
    from riskcore.config import load_settings
    from riskcore.modelling.tracking import Tracker

    return Tracker.from_settings(load_settings(env={"RISKCORE_HOME": str(home)}))


def _verdicts(app: AppTest) -> list[str]:
    return [m.value for m in [*app.success, *app.error] if "promotion gate" in m.value]


def test_the_section_compares_the_champion_with_the_other_version(page, home_copy):
    assert not page.exception, [e.value for e in page.exception]
    versions = _tracker(home_copy).registry_versions()
    champion = versions.loc[versions["champion"], "model_version"].item()
    other = versions.loc[~versions["champion"], "model_version"].item()
    assert page.selectbox(key="compare_champion").value == champion
    assert page.selectbox(key="compare_challenger").value == other
    (verdict,) = _verdicts(page)
    assert "**cost**" in verdict and "**calibration**" in verdict
    labels = {m.label for m in page.metric}
    assert {"ΔAUC (challenger − champion)", "Δ expected cost", "Score PSI"} <= labels
    swaps = table_with(page, "decision", "companies", "observed_default_rate")
    assert swaps["companies"].sum() > 0
    specs = " ".join(c.proto.spec for c in page.get("plotly_chart"))
    assert "Expected cost on the same rows" in specs and "Calibration per grade" in specs
    assert "ROC curves on the same rows" in specs and "Expected cost of each cut-off on the same rows" in specs


def _figure(app: AppTest, title: str) -> dict:
    """The plotly figure of the page with this title, as JSON."""
    import json

    for chart in app.get("plotly_chart"):
        figure = json.loads(chart.proto.spec)
        if figure["layout"].get("title", {}).get("text") == title:
            return figure
    raise AssertionError(f"no figure titled {title!r} on the page")


def test_the_curves_of_both_models_agree_with_the_comparison(page, home_copy):
    champion = page.selectbox(key="compare_champion").value
    challenger = page.selectbox(key="compare_challenger").value
    roc = _figure(page, "ROC curves on the same rows")
    names = [t["name"] for t in roc["data"]]
    assert names[0] == "chance" and any(n.startswith(f"{champion} (AUC ") for n in names)
    assert any(n.startswith(f"{challenger} (AUC ") for n in names)
    costs = _figure(page, "Expected cost of each cut-off on the same rows")
    own = {t["name"].split(":")[0]: t["y"][0] for t in costs["data"] if ": its cut-off" in t["name"]}
    delta = next(m.value for m in page.metric if m.label == "Δ expected cost")
    assert f"{own[challenger] - own[champion]:+,.0f}" == delta  # each marked cut-off costs what the gate compared


def test_promote_over_the_gate_then_roll_back_both_in_the_ledger(page, home_copy):
    tracker = _tracker(home_copy)
    original = tracker.champion().model_version
    challenger = page.selectbox(key="compare_challenger").value

    page.text_input(key="promote_reason").input("simpler model, reviewed by the committee")
    page.checkbox(key="promote_override").check()
    page.button(key="promote_submit").click().run()
    assert not page.exception, [e.value for e in page.exception]
    assert tracker.champion().model_version == challenger
    assert any(challenger in s.value and "promoted" in s.value for s in page.success)
    ledger = table_with(page, "event", "from", "to", "by", "reason")
    assert ledger.iloc[0][["from", "to", "by"]].tolist() == [original, challenger, "dashboard"]
    assert ledger.iloc[0]["reason"] == "simpler model, reviewed by the committee"
    assert ledger.iloc[0]["event"] in {"promote", "override"}
    assert len(ledger.iloc[0]["gate"]) == 12

    page.text_input(key="rollback_reason").input("refer rate too high in the first week")
    page.button(key="rollback_submit").click().run()
    assert not page.exception, [e.value for e in page.exception]
    assert tracker.champion().model_version == original
    ledger = table_with(page, "event", "from", "to", "by", "reason")
    assert ledger.iloc[0][["event", "from", "to"]].tolist() == ["rollback", challenger, original]
    assert ledger.iloc[1]["to"] == challenger


def test_a_promotion_without_a_reason_is_refused_and_nothing_moves(page, home_copy):
    tracker = _tracker(home_copy)
    original = tracker.champion().model_version
    page.checkbox(key="promote_override").check()
    page.button(key="promote_submit").click().run()
    assert not page.exception
    assert any("reason" in e.value for e in page.error)
    assert tracker.champion().model_version == original
