"""The model documentation report: every section, numbers traceable to metrics.json, same bytes, self-contained."""

from __future__ import annotations

import dataclasses
import difflib
import html
import importlib
import re

import numpy as np
import pandas as pd
import pytest
from models import quick

from riskcore.config import Settings
from riskcore.errors import ConfigError
from riskcore.evaluation.metrics import ks_statistic
from riskcore.lifecycle.report import NOT_RECORDED, SECTION_IDS, SECTIONS, build_report, render_report, write_report
from riskcore.lifecycle.report.markup import Numbers
from riskcore.lifecycle.report.sections.lifetime import lifetime_section

STAMP = "2026-03-01T09:30:00+00:00"  # the generation line of the demo_report fixture (tests/unit/conftest.py)
_DATA = re.compile(r'<data class="(m|r)" value="([^"]*)" data-key="([^"]*)">([^<]*)</data>')
_SECTION = re.compile(r'<section id="([^"]+)">(.*?)</section>', re.S)


def _settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("report_home"))


def _at(document, dotted):
    node = document
    for step in dotted.split("."):
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node


def _sections(text: str) -> dict[str, str]:
    return dict(_SECTION.findall(text))


def _without(bundle, *keys):
    """The bundle with some metrics.json blocks removed (as a bundle trained before they existed)."""
    return dataclasses.replace(bundle, metrics={k: v for k, v in bundle.metrics.items() if k not in keys})


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return _settings(tmp_path_factory)


@pytest.fixture(scope="module")
def csv_bundle(tmp_path_factory):
    """A model trained on a user's CSV without a time column, from an inferred spec."""
    from riskcore.data.infer import infer_spec
    from riskcore.data.tabular import read_table
    from riskcore.modelling.bundle import load_bundle
    from riskcore.modelling.train import train

    folder = tmp_path_factory.mktemp("csv_model")
    rng = np.random.default_rng(4)
    n = 1500
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    grade = rng.choice(["A", "B", "C"], n)
    logit = -2.2 + 1.2 * x1 - 0.8 * x2 + np.where(grade == "C", 0.8, 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({"x1": x1, "x2": np.where(rng.random(n) < 0.1, np.nan, x2), "grade": grade,
                          "status": np.where(y, "bad", "good")})
    path = folder / "loans.csv"
    frame.to_csv(path, index=False)
    table = read_table(path)
    spec = infer_spec(table.frame, target="status", positive="bad")
    result = train(table, spec, config=quick(n_bootstrap=100),
                   models_dir=folder / "models", positive="bad", source=str(path))
    return load_bundle(result.bundle_dir)


def test_every_section_is_present_in_order_for_the_demo_model(demo_html):
    found = [sid for sid, _ in _SECTION.findall(demo_html)]
    assert found == list(SECTION_IDS)
    assert all(len(body.strip()) > 100 for body in _sections(demo_html).values())


def test_the_sections_are_one_module_each_listed_in_a_stable_order():
    assert SECTION_IDS == ("purpose", "data", "features", "methodology", "soundness", "performance", "sensitivity",
                           "lifetime", "limitations", "monitoring_plan", "history", "signoff")
    for number, section in enumerate(SECTIONS, start=1):
        assert importlib.import_module(f"riskcore.lifecycle.report.sections.{section.id}").SECTION is section
        assert section.title.startswith(f"{number}. ")


def test_the_page_writes_the_sections_it_is_given_in_their_order(demo_report, demo_html):
    chosen = [s for s in SECTIONS if s.id in ("limitations", "purpose")]
    text = render_report(demo_report, chosen)
    assert [sid for sid, _ in _SECTION.findall(text)] == ["purpose", "limitations"]
    assert _sections(text)["limitations"] == _sections(demo_html)["limitations"]


def test_every_section_is_present_for_a_csv_without_a_time_column(csv_bundle, settings):
    report = build_report(csv_bundle, settings=settings, generated_at=STAMP)
    text = render_report(report)
    assert [sid for sid, _ in _SECTION.findall(text)] == list(SECTION_IDS)
    sections = _sections(text)
    assert "no time column" in sections["data"]
    assert "loans.csv" in sections["data"]
    assert "stratified" in sections["methodology"]
    # without periods, stability is shown over the chosen candidate's cross-validation folds
    assert report.performance.period_label == "Cross-validation fold"
    chosen = next(c for c in csv_bundle.metrics["candidates"] if c["chosen"])
    assert report.performance.periods["auc"].tolist() == chosen["fold_aucs"]
    # the demo's findings are not copied into a model that does not have them
    assert not any("macro" in x or "ESG" in x for x in report.limitations)


def test_numbers_in_the_html_equal_metrics_json(quick_bundle, demo_html):
    marked = _DATA.findall(demo_html)
    from_metrics = [(v, k) for css, v, k, _ in marked if css == "m"]
    assert len(from_metrics) > 80
    for value, key in from_metrics:
        assert float(html.unescape(value)) == pytest.approx(_at(quick_bundle.metrics, key), rel=0, abs=0), key
    keys = {k for _, k in from_metrics}
    assert {"test.auc", "test.auc_ci.0", "test.auc_ci.1", "test.ks", "threshold", "calibration.rows",
            "segments.0.auc", "split.summary.2.rows", "business.savings"} <= keys
    for css, value, key, _ in marked:
        if css == "r":
            assert key.startswith("reference.test.")
            assert float(html.unescape(value)) == quick_bundle.reference_data["test"][key.removeprefix(
                "reference.test.")]


def test_displayed_text_matches_the_marked_value(demo_html):
    for _, value, key, text in _DATA.findall(demo_html):
        v = float(html.unescape(value))
        shown = html.unescape(text).replace(",", "")
        if shown.endswith("%"):
            assert float(shown[:-1]) / 100 == pytest.approx(v, abs=0.51 * 10 ** -_decimals(shown[:-1]) / 100), key
        else:
            assert float(shown) == pytest.approx(v, abs=0.51 * 10 ** -_decimals(shown)), key


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def test_the_report_repeats_the_bundle_and_never_recomputes_differently(quick_bundle, demo_report):
    holdout = quick_bundle.holdout()
    test = holdout[holdout["part"] == "test"]
    # the curves are drawn from the very rows the test metrics were measured on
    assert ks_statistic(test["y"].to_numpy(), test["p_default"].to_numpy()) == quick_bundle.metrics["test"]["ks"]
    grades = pd.DataFrame(quick_bundle.reference_data["test_grades"])
    backtest = demo_report.performance.backtest
    assert backtest["grade"].tolist() == grades["grade"].tolist()
    assert backtest["n"].tolist() == grades["n"].tolist()
    assert backtest["defaults"].tolist() == grades["defaults"].tolist()
    assert np.allclose(backtest["predicted_pd"], grades["predicted_pd"], rtol=0, atol=1e-15)
    assert set(backtest["traffic_light"]) <= {"green", "amber", "red"}


def test_two_builds_give_the_same_bytes_apart_from_the_one_time_line(quick_bundle, settings, demo_html):
    again = render_report(build_report(quick_bundle, settings=settings, generated_at=STAMP))
    assert again == demo_html
    later = render_report(build_report(quick_bundle, settings=settings, generated_at="2027-01-01T00:00:00+00:00"))
    changed = [line for line in difflib.unified_diff(demo_html.splitlines(), later.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) == 2, changed
    assert STAMP in changed[0] and "2027-01-01T00:00:00+00:00" in changed[1]


def test_the_file_is_self_contained(demo_html):
    lower = demo_html.lower()
    assert "<script" not in lower
    assert "<link" not in lower and "<img" not in lower and "<iframe" not in lower
    assert "@import" not in lower
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", demo_html))  # clip paths in the figures
    refs = re.findall(r'(?:href|src)\s*=\s*["\']([^"\']*)', demo_html)
    assert refs and all(r.startswith("#") for r in refs), [r for r in refs if not r.startswith("#")]
    # the only http(s) strings are the XML namespaces of the inline SVG figures
    addresses = set(re.findall(r"https?://[^\s\"'<>]+", demo_html))
    assert addresses <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert demo_html.count("<svg") >= 6


def test_limitations_are_written_from_the_findings(quick_bundle, demo_report):
    found = " ".join(demo_report.limitations)
    shifted = next(f for f in quick_bundle.metrics["leakage"] if f["check"] == "shift")
    assert shifted["status"] == "warn" and shifted["detail"] in found
    small = [s["segment"] for s in quick_bundle.metrics["segments"] if s["small"]]
    assert small and all(s in found for s in small)
    # the demo generator leaves ESG scores out far more often for micro companies
    assert any(x.startswith("ESG inputs are missing") and "'micro'" in x for x in demo_report.limitations)


def test_history_lists_the_ledger_moves_and_the_registry(quick_training, quick_bundle, tracker, settings, tmp_path):
    from riskcore.serving.audit import AuditLog, ModelMove

    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    audit.record_move(ModelMove("promote", "cli:reviewer", "", quick_bundle.version,
                                "first champion, approved by the credit committee"))
    report = build_report(quick_bundle, settings=settings, tracker=tracker, audit=audit, generated_at=STAMP)
    history = _sections(render_report(report))["history"]
    assert "first champion, approved by the credit committee" in history and "cli:reviewer" in history
    assert "promote" in history
    assert report.history.run_id == quick_training.run_id and quick_training.run_id in history
    assert report.history.run is not None and "cv_folds" in _sections(render_report(report))["methodology"]
    audit.close()


def test_without_registry_or_audit_the_history_says_so(demo_html):
    history = _sections(demo_html)["history"]
    assert "registry was not consulted" in history and "No audit trail was given" in history


def test_a_bundle_without_the_new_blocks_says_not_recorded(quick_bundle, settings):
    old = _without(quick_bundle, "soundness", "sensitivity", "monotone")
    sections = _sections(render_report(build_report(old, settings=settings, generated_at=STAMP)))
    assert NOT_RECORDED in html.unescape(sections["soundness"])
    assert NOT_RECORDED in html.unescape(sections["sensitivity"])
    assert "not enforced" in sections["methodology"]
    assert "leakage" in sections["soundness"].lower()  # the checklist is shown all the same


def _soundness_block():
    grid = [float(x) for x in np.linspace(0.2, 3.0, 20)]

    def feature(name, label, declared, measured, spearman):
        average = [0.05 + 0.01 * measured * i / 19 for i in range(20)]
        return {"name": name, "label": label, "family": "financial", "unit": "×", "declared": declared,
                "measured": measured, "spearman": spearman, "pd_low": average[0], "pd_high": average[-1],
                "ice_agree_share": 0.9 if declared == measured else 0.1, "agrees": measured in (declared, 0),
                "grid": grid, "average": average}

    return {"method": "partial dependence and ICE (sklearn.inspection.partial_dependence, kind='both') on 300 "
                      "validation rows", "rows": 300, "grid_resolution": 20,
            "features": [feature("debt_to_assets", "Debt to assets", 1, 1, 0.97),
                         feature("current_ratio", "Current ratio", -1, 1, 0.88)],
            "disagreements": ["current_ratio"]}


def _sensitivity_block():
    return {"macro_stress": {"scenario": {"gdp_growth": -2.0, "policy_rate": 2.0},
                             "description": "GDP growth 2 points lower, policy rate 2 points higher", "rows": 776,
                             "mean_pd_base": 0.05, "mean_pd_stressed": 0.062, "relative_shift": 0.24,
                             "by_grade": [{"grade": "4", "rows": 290, "mean_pd_base": 0.007,
                                           "mean_pd_stressed": 0.009},
                                          {"grade": "8", "rows": 85, "mean_pd_base": 0.096,
                                           "mean_pd_stressed": 0.11}]},
            "families": [{"family": "esg", "features": ["esg_social"], "rows": 776, "auc_with": 0.83,
                          "auc_without": 0.81, "auc_change": -0.02, "mean_pd_change": 0.001}],
            "family_method": "each family's inputs set to missing on the test rows, scored by the same model "
                             "(no refit)"}


def test_contract_blocks_are_rendered_and_a_contradiction_is_flagged(quick_bundle, settings):
    metrics = {**quick_bundle.metrics, "soundness": _soundness_block(), "sensitivity": _sensitivity_block(),
               "monotone": {"enforced": True, "features": ["debt_to_assets"], "auc_test_constrained": 0.82,
                            "auc_test_unconstrained": 0.83, "auc_cost": 0.01}}
    bundle = dataclasses.replace(quick_bundle, metrics=metrics)
    report = build_report(bundle, settings=settings, generated_at=STAMP)
    text = render_report(report)
    sections = _sections(text)
    assert "contradicts" in sections["soundness"] and "current_ratio" in sections["soundness"]
    assert sections["soundness"].count("<svg") == 1
    assert any("Current ratio" in x and "rises" in x for x in report.limitations)
    assert "GDP growth 2 points lower" in sections["sensitivity"] and "esg_social" in sections["sensitivity"]
    assert 'data-key="monotone.auc_cost"' in sections["methodology"]
    for _, value, key, _ in _DATA.findall(text):
        if key.startswith(("soundness.", "sensitivity.", "monotone.")):
            assert float(html.unescape(value)) == _at(metrics, key), key
    keys = {k for _, _, k, _ in _DATA.findall(text)}
    assert {"soundness.features.1.spearman", "sensitivity.macro_stress.mean_pd_stressed",
            "sensitivity.families.0.auc_change"} <= keys


def test_write_report_writes_one_html_file_and_refuses_unknown_formats(demo_report, demo_html, tmp_path):
    paths = write_report(demo_report, tmp_path / "out")
    assert paths == [tmp_path / "out" / f"model-report-{demo_report.version}.html"]
    assert paths[0].read_text(encoding="utf-8") == demo_html
    with pytest.raises(ConfigError, match="'docx'"):
        write_report(demo_report, tmp_path, formats=("html", "docx"))
    with pytest.raises(ConfigError, match="PDF"):
        write_report(demo_report, tmp_path, formats=("pdf",))


def test_the_performance_section_shows_the_validation_battery_of_the_test_rows(quick_bundle, demo_html, settings):
    section = _sections(demo_html)["performance"]
    keys = {k for _, _, k, _ in _DATA.findall(section)}
    assert {"validation_battery.n", "validation_battery.spiegelhalter.statistic",
            "validation_battery.hosmer_lemeshow_grades.p_value", "validation_battery.herfindahl.statistic",
            "validation_battery.grades.0.vasicek_p"} <= keys
    assert "Validation battery" in section and "Hosmer–Lemeshow (deciles)" in section
    from riskcore.lifecycle.report.sections.performance import SECTION

    older = build_report(_without(quick_bundle, "validation_battery"), settings=settings, generated_at=STAMP)
    assert "trained before riskcore ran the validation battery" in render_report(older, sections=[SECTION])


def test_the_lifetime_section_reads_the_training_block_and_an_older_bundle_says_not_recorded(quick_bundle, settings,
                                                                                              demo_html):
    block = quick_bundle.metrics["lifetime"]
    section = _sections(demo_html)["lifetime"]
    assert "Term structures by grade" in section and "Back-test by starting year" in section
    keys = {k for _, _, k, _ in _DATA.findall(section)}
    assert {"lifetime.term_structures.0.hazard_pd", "lifetime.term_structures.0.migration_pd",
            "lifetime.by_cohort.0.realised", "lifetime.by_grade.0.hazard"} <= keys
    for _, value, key, _ in _DATA.findall(section):
        assert float(html.unescape(value)) == _at(quick_bundle.metrics, key), key
    assert len(block["term_structures"]) == 10 * block["years"]
    old = _without(quick_bundle, "lifetime")  # trained before the block: the section alone says so
    assert NOT_RECORDED in html.unescape(lifetime_section(build_report(old, settings=settings, generated_at=STAMP),
                                                          Numbers(old.metrics)))
