"""Data quality, training runs, calibration, performance and sectors: one interaction each."""

from __future__ import annotations

import pytest
from pagetools import chart_specs, errors, metrics, open_page, table_with


def test_data_quality_shows_the_training_file_and_its_checklist(at):
    open_page(at, "data_quality")
    m = metrics(at)
    assert int(m["Rows"].replace(",", "")) > 5000
    assert m["Defaults"] != "n/a"
    statuses = " ".join(str(v) for d in at.dataframe for v in d.value.get("status", []))
    assert "pass" in statuses  # the training run's leakage checklist


def test_data_quality_checks_an_uploaded_csv(at, app_home):
    open_page(at, "data_quality")
    lines = (app_home / "data" / "demo_portfolio.csv").read_bytes().splitlines(keepends=True)
    part = b"".join(lines[:601])
    at.segmented_control(key="dq_source").set_value("upload").run()
    assert not at.exception
    at.file_uploader(key="dq_upload").set_value(("part.csv", part, "text/csv")).run()
    assert not at.exception and not errors(at)
    assert metrics(at)["Rows"] == "600"
    assert any("part.csv" in s.value for s in at.subheader)
    assert not chart_specs(at)[-1].count("shifted")  # no leakage evidence until asked for
    at.toggle(key="dq_leakage").set_value(True).run()
    assert not at.exception and not errors(at)
    specs = chart_specs(at)
    assert "too good" in specs[-2] and "shifted" in specs[-1]
    checks = set(table_with(at, "status", "title", "detail")["title"])
    assert "No column recorded after the outcome" in checks


def test_data_quality_flags_columns_that_look_like_personal_data(at, app_home):
    open_page(at, "data_quality")
    lines = (app_home / "data" / "demo_portfolio.csv").read_text(encoding="utf-8").splitlines()[:301]
    with_emails = [lines[0] + ",contact_email"] + [f"{line},owner{i}@firm{i}.example"
                                                   for i, line in enumerate(lines[1:])]
    at.segmented_control(key="dq_source").set_value("upload").run()
    at.file_uploader(key="dq_upload").set_value(("people.csv", "\n".join(with_emails).encode(), "text/csv")).run()
    assert not at.exception and not errors(at)
    assert any("look like personal data" in box.value for box in at.info)  # no feature uses them: told, not warned
    table = table_with(at, "column", "kind", "role", "share", "example", "advice").set_index("column")
    assert table.loc["contact_email", ["kind", "role", "example"]].tolist() == ["email", "unused", "o***@f***.example"]
    assert table.loc["company_name", "kind"] == "header"


def test_data_quality_explains_an_unreadable_upload(at):
    open_page(at, "data_quality")
    at.segmented_control(key="dq_source").set_value("upload").run()
    at.file_uploader(key="dq_upload").set_value(("empty.csv", b"", "text/csv")).run()
    assert not at.exception
    assert any("empty" in e for e in errors(at))


def test_switching_the_training_run_shows_its_metrics(at):
    open_page(at, "training_runs")
    box = at.selectbox(key="run_select")
    assert len(box.options) == 2
    assert "champion" in box.value
    heading = at.subheader[0].value
    other = next(i for i, label in enumerate(box.options) if "champion" not in label)
    box.select_index(other).run()
    assert not at.exception
    assert at.subheader[0].value != heading
    params = table_with(at, "parameter", "value")
    values = dict(zip(params["parameter"], params["value"]))
    assert values["kind"] == "logistic" and values["cv_folds"] == "2"
    run_metrics = table_with(at, "group", "metric", "value")
    assert "auc" in set(run_metrics["metric"])
    # a registered, non-champion model is promoted through the gate and the ledger, below
    assert any("Compare and promote" in i.value for i in at.info)


def test_calibration_switches_to_the_validation_rows(at):
    open_page(at, "calibration")
    test_ece = metrics(at)["ECE after (isotonic)"]
    assert len(chart_specs(at)) == 4
    at.segmented_control(key="cal_part").set_value("validation").run()
    assert not at.exception
    assert metrics(at)["ECE after (isotonic)"] != test_ece
    assert any("fitted on these validation rows" in i.value for i in at.info)


def test_calibration_bins_change_the_reliability_diagram(at):
    open_page(at, "calibration")
    before = chart_specs(at)[0]
    at.segmented_control(key="cal_strategy").set_value("uniform").run()
    assert not at.exception
    assert chart_specs(at)[0] != before


def test_calibration_shows_the_validation_battery_and_its_grades(at):
    open_page(at, "calibration")
    battery = table_with(at, "test", "light", "statistic", "p_value", "rule")
    assert {"Hosmer–Lemeshow (grades)", "Spiegelhalter", "Herfindahl", "grade PSI"} <= set(battery["test"])
    assert set(battery["light"]) <= {"🟢 green", "🟠 amber", "🔴 red", "—"}
    at.checkbox(key="cal_battery_grades").check().run()
    assert not at.exception
    grades = table_with(at, "grade", "binomial_p", "vasicek_p", "jeffreys_p", "correlation")
    assert len(grades) >= 5 and grades["correlation"].between(0.12, 0.24).all()


def test_performance_compares_with_the_baseline_and_can_hide_it(at):
    open_page(at, "performance")
    specs = chart_specs(at)
    assert len(specs) == 5
    assert "Logistic baseline" in specs[0] and "cut-off in force" in specs[0]
    at.toggle(key="perf_baseline").set_value(False).run()
    assert not at.exception
    assert "Logistic baseline" not in chart_specs(at)[0]


def test_performance_marks_the_threshold_set_on_the_costs_page(at):
    open_page(at, "costs_threshold")
    at.slider(key="threshold_slider").set_value(30.0).run()
    open_page(at, "performance")
    assert "30.0%, set by hand" in " ".join(c.value for c in at.caption)
    assert "cut-off 30.0%" in chart_specs(at)[4]


@pytest.mark.parametrize("min_defaults", [5])
def test_sectors_warn_about_small_sectors(at, min_defaults):
    open_page(at, "sectors")
    assert at.warning, "1,500 companies leave every sector with fewer than 30 test defaults"
    before = at.warning[0].value
    assert len(chart_specs(at)) == 4
    at.slider(key="sec_min_defaults").set_value(min_defaults).run()
    assert not at.exception
    after = at.warning[0].value if at.warning else ""
    assert after != before
