"""The report's written parts kept on disk: found by what made them, the same text as a fresh report."""

from __future__ import annotations

import builtins
import dataclasses
import shutil

import pytest

from riskcore.config import AlertRules, Settings
from riskcore.errors import ConfigError
from riskcore.lifecycle.report import REPORT_CACHE, SECTIONS, ReportStore, render_report, report_key
from riskcore.lifecycle.report.store import key_of
from riskcore.serving.audit import ModelMove
from riskcore.workbench import Workbench

BUNDLE_SECTIONS = {"purpose", "data", "features", "soundness", "performance", "sensitivity", "lifetime"}


@pytest.fixture(scope="module")
def warm(demo_report, tmp_path_factory):
    """A store's folder holding the session champion's bundle sections, and the report that store wrote."""
    folder = tmp_path_factory.mktemp("report_store") / "cache"
    return folder, ReportStore(folder).render(demo_report)


def _store(warm, tmp_path, **options) -> ReportStore:
    """A store of its own holding the bundle sections (so a test does not draw the figures again)."""
    shutil.copytree(warm[0], tmp_path / "cache")
    return ReportStore(tmp_path / "cache", **options)


@pytest.fixture
def no_pdf_engine(monkeypatch):
    """Neither WeasyPrint nor a Chromium can run: the store keeps the HTML and why there is no PDF."""
    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    monkeypatch.setattr(shutil, "which", lambda name: None)


def _elsewhere(report):
    """The same bundle's report with every fact that is not the bundle's changed."""
    move = ModelMove("promote", "cli:reviewer", "", report.version, "approved")
    return dataclasses.replace(report, generated_at="2030-01-01", alerts=AlertRules(feature_psi=0.4),
                               history=dataclasses.replace(report.history, moves=(move,)))


def test_the_sections_that_read_the_bundle_only_are_the_ones_with_the_figures():
    assert {s.id for s in SECTIONS if s.bundle_only} == BUNDLE_SECTIONS


def test_the_store_writes_the_text_render_report_writes_and_keeps_the_bundle_sections(demo_report, demo_html,
                                                                                        warm, tmp_path):
    folder, written = warm
    assert written == demo_html
    (kept,) = (folder / "sections").iterdir()
    assert {p.stem for p in kept.iterdir()} == BUNDLE_SECTIONS
    # another process reads them back; the settings, the ledger and the day change the other sections only
    other = _elsewhere(demo_report)
    assert _store(warm, tmp_path).render(other) == render_report(other)


def test_a_section_alone_is_the_section_of_the_whole_report_in_its_page(demo_report, demo_html, warm, tmp_path):
    page = _store(warm, tmp_path).section_page(demo_report, "soundness")
    assert page.startswith(demo_html.split("<body", 1)[0])
    start = demo_html.index('<section id="soundness">')
    assert demo_html[start:demo_html.index("</section>", start)] in page
    assert '<section id="performance">' not in page and "<nav>" not in page


def test_an_unknown_section_is_refused_with_the_ones_there_are(demo_report, tmp_path):
    with pytest.raises(ConfigError, match="no section 'appendix'; choose one of purpose, data"):
        ReportStore(tmp_path).section_page(demo_report, "appendix")


def test_the_key_names_every_fact_the_report_reads(demo_report):
    key = key_of(demo_report)
    assert key == key_of(dataclasses.replace(demo_report)) and len(key) == 64
    move = ModelMove("sign", "cli:validator", "", demo_report.version, "validator: approved")
    history = demo_report.history
    changed = [dataclasses.replace(demo_report, generated_at="2026-03-02"),
               dataclasses.replace(demo_report, bundle_hash="0" * 64),
               dataclasses.replace(demo_report, alerts=AlertRules(feature_psi=0.4)),
               dataclasses.replace(demo_report, history=dataclasses.replace(history, moves=(move,))),
               dataclasses.replace(demo_report, history=dataclasses.replace(history, run_id="abc"))]
    keys = {key_of(r) for r in changed}
    assert len(keys) == len(changed) and key not in keys
    assert key == report_key(bundle_hash=demo_report.bundle_hash, generated_at=demo_report.generated_at,
                             alerts=demo_report.alerts, promotion=demo_report.promotion,
                             serving=demo_report.serving, history=history)


def test_written_files_are_found_by_their_key_as_they_were_written(demo_report, demo_html, warm, tmp_path,
                                                                    no_pdf_engine):
    store = _store(warm, tmp_path)
    assert store.find(key_of(demo_report), demo_report.version) is None
    files = store.write(demo_report)
    assert files.html == demo_html and files.pdf is None and "libpango" in files.why_no_pdf
    found = ReportStore(store.folder).find(key_of(demo_report), demo_report.version)
    assert found == files and found.name == f"model-report-{demo_report.version}"
    assert store.find(key_of(_elsewhere(demo_report)), demo_report.version) is None


def test_the_html_alone_for_a_signature_is_not_kept(demo_report, demo_html, warm, tmp_path):
    store = _store(warm, tmp_path)
    files = store.write(demo_report, pdf=False)
    assert files.html == demo_html and files.pdf is None
    assert store.find(key_of(demo_report), demo_report.version) is None


def test_only_the_newest_reports_are_kept(demo_report, warm, tmp_path, no_pdf_engine):
    store = _store(warm, tmp_path, keep=2)
    days = [dataclasses.replace(demo_report, generated_at=f"2026-03-0{d}") for d in (1, 2, 3)]
    for day in days:
        store.write(day)
    assert [store.find(key_of(d), demo_report.version) is not None for d in days] == [False, True, True]


def test_a_store_that_cannot_write_still_gives_the_report(demo_report, demo_html, warm, tmp_path, no_pdf_engine):
    store = _store(warm, tmp_path)
    (store.folder / "files").write_text("a file where the reports' folder would be")
    assert store.write(demo_report).html == demo_html
    assert store.find(key_of(demo_report), demo_report.version) is None


def test_the_workbench_finds_a_written_report_until_the_ledger_changes(quick_bundle, tracker, warm, tmp_path,
                                                                        no_pdf_engine):
    from riskcore.serving.audit import AuditLog

    home = tmp_path / "home"
    shutil.copytree(warm[0], home / REPORT_CACHE)  # the bundle sections, as a first report of the bundle left them
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    bench = Workbench(Settings(home=home), tracker=tracker, audit=audit)
    day = "2026-03-01"
    assert bench.find_report(quick_bundle, audit=audit, generated_at=day) is None
    written = bench.written_report(quick_bundle, audit=audit, generated_at=day)
    facts = bench.report(quick_bundle, audit=audit, generated_at=day)
    assert written.html == bench.report_store.render(facts) and quick_bundle.version in written.html
    assert facts.history.registry is not None  # the registry of the tracker, read for the key as for the report
    assert bench.find_report(quick_bundle, audit=audit, generated_at=day) == written
    bench.sign(version=quick_bundle.version, bundle_hash=quick_bundle.manifest_hash, html=written.html,
               actor="cli:validator", role="validator", decision="approved for the SME book")
    assert bench.find_report(quick_bundle, audit=audit, generated_at=day) is None
    signed = bench.written_report(quick_bundle, audit=audit, generated_at=day)
    assert "approved for the SME book" in signed.html and "approved for the SME book" not in written.html
    assert bench.find_report(quick_bundle, audit=audit, generated_at=day) == signed
    audit.close()
