"""The monitoring page: alerts first, the drift heatmap, the back-tests, and monitoring an upload on the spot."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from pagetools import chart_specs, errors, open_page, table_with

from riskcore.data.schema import DEMO_SPEC

RULES = ("feature_psi", "score_psi", "auc_drop", "ece", "red_grade")


def _settings(home: Path):
    from riskcore.config import load_settings

    return load_settings(env={"RISKCORE_HOME": str(home)})


def _champion(home: Path):
    from riskcore.modelling.bundle import load_bundle
    from riskcore.modelling.tracking import Tracker

    tracker = Tracker.from_settings(_settings(home))
    ref = tracker.champion()
    assert ref is not None
    return tracker, load_bundle(ref.bundle_path, expected_hash=ref.bundle_hash)


def _csv(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode()


def _year_files(demo: pd.DataFrame, *years: str) -> tuple[bytes, bytes]:
    """Fiscal years of the demo as a portfolio file (no outcome column) and its outcomes file."""
    rows = demo[demo[DEMO_SPEC.time].isin(years)]
    return (_csv(rows.drop(columns=[DEMO_SPEC.target])),
            _csv(rows[[DEMO_SPEC.id, DEMO_SPEC.time, DEMO_SPEC.target]]))


@pytest.fixture(scope="module")
def demo(app_home: Path) -> pd.DataFrame:
    """The demo portfolio the champion was trained on, every cell as text."""
    return pd.read_csv(_settings(app_home).data_dir / "demo_portfolio.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def history(app_home: Path, demo: pd.DataFrame) -> pd.DataFrame:
    """The champion's monitoring runs; when the first start recorded none, one run per each of the last two years."""
    from riskcore.lifecycle import monitor_file, record_monitoring
    from riskcore.serving.audit import AuditLog

    tracker, bundle = _champion(app_home)
    if tracker.monitoring_runs(bundle.version).empty:
        audit = AuditLog.from_settings(_settings(app_home))
        for year in sorted(demo[DEMO_SPEC.time].unique(), key=int)[-2:]:
            portfolio, outcomes = _year_files(demo, year)
            run = monitor_file(bundle, portfolio, audit=audit, face="cli", outcomes=outcomes)
            record_monitoring(run, bundle, tracker=tracker)
    runs = tracker.monitoring_runs(bundle.version)
    assert len(runs) >= 2
    return runs


def _alert_texts(at) -> list[str]:
    return [box.value for kind in (at.error, at.warning, at.success) for box in kind]


def test_the_page_shows_the_latest_alerts_first_and_the_drift_heatmap(at, history):
    open_page(at, "monitoring")
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Monitoring"
    texts = _alert_texts(at)
    from dashboard.monitoring_tables import ALERT_TITLES

    for rule in RULES:  # every rule of the latest run is shown with its evidence
        assert any(f"**{ALERT_TITLES[rule]}** — " in t for t in texts), rule
    specs = chart_specs(at)
    assert len(specs) >= 3  # heatmap, score and default rates, grade back-test (migration: runs over two years)
    assert '"type":"heatmap"' in specs[0] and "Drift of each feature" in specs[0]
    assert "Expected vs realised default rate" in specs[1]
    runs = table_with(at, "time", "periods", "worst alert", "score PSI")
    assert len(runs) == len(history)
    vintages = table_with(at, "period", "predicted_pd", "observed_rate", "traffic_light")
    assert len(vintages) >= 2  # one period per monitored year, with outcomes
    battery = table_with(at, "test", "light", "p_value", "rule")
    assert {"AUC against initial validation", "grade migration", "grade PSI"} <= set(battery["test"])
    at.checkbox(key="monitor_battery_grades").check().run()
    assert len(table_with(at, "grade", "binomial_light", "vasicek_light", "jeffreys_light")) >= 5
    at.run()  # a warm rerun reads the runs and reports from the caches (benchmarks/dashboard_bench.py times it)
    assert not at.exception


def test_monitoring_an_upload_adds_a_run_with_its_alerts(at, app_home, history, demo):
    tracker, bundle = _champion(app_home)
    before = len(tracker.monitoring_runs(bundle.version))
    years = sorted(demo[DEMO_SPEC.time].unique(), key=int)[-2:]
    some = demo[demo[DEMO_SPEC.id].isin(sorted(demo[DEMO_SPEC.id].unique())[:400])]
    portfolio, outcomes = _year_files(some, *years)  # a few hundred companies over two years
    open_page(at, "monitoring")
    at.file_uploader(key="monitor_upload").set_value(("later.csv", portfolio, "text/csv")).run()
    at.file_uploader(key="monitor_outcomes").set_value(("outcomes.csv", outcomes, "text/csv")).run()
    at.button(key="monitor_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [e for e in errors(at) if "**" not in e]  # red boxes are failing alerts, never a broken upload
    assert any("Monitored" in m.value and "added to the history" in m.value for m in at.markdown)
    assert len(tracker.monitoring_runs(bundle.version)) == before + 1
    assert len(table_with(at, "time", "periods", "worst alert")) == before + 1  # the history shows it at once
    assert any("Grade migration" in spec for spec in chart_specs(at))  # its companies appear in both years
    at.run()  # a rerun shows the same run again without monitoring the file twice
    assert len(tracker.monitoring_runs(bundle.version)) == before + 1
    assert any("Monitored" in m.value for m in at.markdown)


def test_an_unusable_upload_gets_a_message(at, history):
    open_page(at, "monitoring")
    at.file_uploader(key="monitor_upload").set_value(("empty.csv", b"", "text/csv")).run()
    at.button(key="monitor_go").click().run()
    assert not at.exception
    assert any("**" not in e for e in errors(at))


def test_a_model_without_reference_profile_says_to_retrain(at, monkeypatch, history):
    from riskcore.errors import BundleError
    from riskcore.modelling.bundle import ModelBundle

    def no_profile(self):
        raise BundleError(f"model {self.version} was trained before riskcore kept a monitoring reference profile; "
                          "retrain it")

    monkeypatch.setattr(ModelBundle, "reference", property(no_profile))
    open_page(at, "monitoring")
    assert not at.exception
    assert any("retrain" in e for e in errors(at))
    assert not chart_specs(at)
