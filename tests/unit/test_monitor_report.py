"""The typed monitoring report: a monitor.json written before reads back and writes out to the same bytes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from riskcore.evaluation.alerts import Alert
from riskcore.evaluation.monitor_report import (
    FeatureDrift,
    GradeMigration,
    Intake,
    MonitorReport,
    PeriodDrift,
    period_order,
)
from riskcore.modelling.bundle import write_json

# a monitor.json as riskcore wrote it (the experiment store's copy, keys in their written order), trimmed to three
# features; every record of the format is in it: realised figures, vintages, a migration, a segment drift, intake
WRITTEN = Path(__file__).parent / "data" / "monitor.json"


@pytest.fixture
def written() -> dict:
    return json.loads(WRITTEN.read_text(encoding="utf-8"))


def test_a_report_written_before_reads_back_to_the_same_json_in_the_same_order(written):
    again = MonitorReport.from_json(written).to_json()
    assert again == written
    assert json.dumps(again, indent=2) + "\n" == WRITTEN.read_text(encoding="utf-8")  # key order too


def test_the_same_report_writes_the_same_file(written, tmp_path):
    write_json(tmp_path / "a.json", written)
    write_json(tmp_path / "b.json", MonitorReport.from_json(written).to_json())
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_the_report_reads_as_typed_records(written):
    report = MonitorReport.from_json(written)
    assert report.periods == (2025, 2026) and report.n == written["n"]
    first = report.features[0]
    assert isinstance(first, FeatureDrift) and isinstance(first.by_period[0], PeriodDrift)
    assert first.by_period[0].period == 2025 and first.psi == written["features"][0]["psi"]
    assert report.features[2].ks is None  # a category has no KS: null in JSON, None once read
    assert report.segments[0].feature == "supplier_payment_days" and report.segments[0].status == "act"
    assert report.realized is not None and report.realized.n == written["realized"]["n"]
    assert report.realized.calibration_in_the_large is not None
    assert isinstance(report.migration, GradeMigration)
    pair = report.migration.pairs[0]
    assert (pair.from_period, pair.to_period) == (2025, 2026)  # JSON keys "from" and "to"
    assert report.migration.as_dict()["pairs"][0] == written["migration"]["pairs"][0]
    assert report.intake == Intake(written["audit_request"], written["rows_in_file"], written["rejected"])
    assert [a.rule for a in report.alerts] == ["feature_psi", "score_psi", "auc_drop", "ece", "red_grade"]
    assert all(isinstance(a, Alert) for a in report.alerts)
    assert report.failed == any(a["status"] == "fail" for a in written["alerts"])
    assert report.expected.auc_ci == tuple(written["expected"]["auc_ci"])


def test_a_report_built_from_counts_alone_has_no_intake_keys(written):
    bare = {k: v for k, v in written.items() if k not in ("audit_request", "rows_in_file", "rejected")}
    report = MonitorReport.from_json(bare)
    assert report.intake is None
    assert report.to_json() == bare and list(report.to_json()) == list(bare)


def test_data_is_the_report_without_its_alerts(written):
    report = MonitorReport.from_json(written)
    assert report.data == {k: v for k, v in written.items() if k != "alerts"}


def test_a_partial_report_reads_leniently():
    report = MonitorReport.from_json({"periods": [2026], "features": [{"name": "x", "psi": 0.3,
                                                                       "by_period": [{"period": 2026, "psi": 0.3}]}],
                                      "alerts": [{"rule": "ece", "status": "warn", "detail": "ECE 0.02"}]})
    assert report.features[0].by_period[0].status is None and report.features[0].label is None
    assert report.realized is None and report.migration is None and report.intake is None
    assert report.grades == () and report.score.by_period == () and report.expected.by_period == ()
    assert report.alerts == (Alert("ece", "warn", "ECE 0.02"),)


def test_the_summary_text_reads_nulls_as_nan(written):
    text = MonitorReport.from_json(written).to_text()
    assert text.startswith(f"Monitoring model {written['model_version']} on 1,494 rows over 2 periods (2025, 2026)")
    assert "Realised (1,494 rows with outcomes)" in text
    assert "KS nan" not in text  # a feature without KS shows none


def test_periods_sort_as_numbers_then_text():
    assert sorted(["2026Q1", 2025, "10", 9.5, "all"], key=period_order) == [9.5, "10", 2025, "2026Q1", "all"]
    assert period_order(math.inf)[0] == 0
