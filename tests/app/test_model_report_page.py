"""The Model report page: opens without writing the report, writes it on request, previews one section, signs."""

from __future__ import annotations

from pagetools import APP, TIMEOUT, errors, metrics, open_page
from streamlit.testing.v1 import AppTest

from riskcore.lifecycle.report import SECTION_IDS


def _downloads(at):
    return {d.proto.label: d for d in at.get("download_button")}


def _preview(at) -> str:
    return at.get("iframe")[0].proto.srcdoc


def test_the_page_opens_without_writing_the_report_and_writes_it_on_request(at):
    open_page(at, "model_report")
    assert not at.exception and not errors(at)
    assert at.title[0].value == "Model report"
    assert {"Version", "Kind", "Test AUC"} <= set(metrics(at))
    assert not _downloads(at) and not at.get("iframe")
    assert any("Write the report above" in i.value for i in at.info)
    # one section is written on its own
    at.selectbox(key="report_section").set_value("soundness").run()
    assert not at.exception and not errors(at)
    preview = _preview(at)
    assert '<section id="soundness">' in preview and '<section id="performance">' not in preview
    at.selectbox(key="report_section").set_value("the whole report").run()
    at.button(key="report_write").click().run()
    assert not at.exception and not errors(at)
    assert set(_downloads(at)) == {"Download HTML", "Download PDF"}
    html = _preview(at)
    assert all(f'<section id="{sid}">' in html for sid in SECTION_IDS)
    at.selectbox(key="report_section").set_value("performance").run()
    preview = _preview(at)
    assert '<section id="performance">' in preview and '<section id="soundness">' not in preview


def test_a_written_report_opens_at_once_in_another_session(at):
    open_page(at, "model_report")
    if not _downloads(at):  # this test ran first in its process
        at.button(key="report_write").click().run()
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.run()
    open_page(other, "model_report")
    assert not other.exception and not errors(other)
    assert set(_downloads(other)) == {"Download HTML", "Download PDF"}
    assert not any(b.label == "Write the report" for b in other.button)
    assert all(f'<section id="{sid}">' in _preview(other) for sid in SECTION_IDS)


def test_a_signature_from_the_page_shows_in_the_sign_off_section(at):
    open_page(at, "model_report")
    at.text_area(key="sign_decision").input("approved for the SME book")  # a form: sent with its submit button
    next(b for b in at.button if b.label == "Sign").click().run()
    assert not at.exception and not errors(at)
    assert any("Signed as validator" in s.value for s in at.success)
    html = _preview(at)
    assert "approved for the SME book" in html and "Signed by" in html
    assert set(_downloads(at)) == {"Download HTML", "Download PDF"}
