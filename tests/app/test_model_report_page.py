"""The Model report page: the report of the version in use, both downloads, one section previewed."""

from __future__ import annotations

from pagetools import errors, open_page

from riskcore.lifecycle.report import SECTION_IDS


def _downloads(at):
    return {d.proto.label: d for d in at.get("download_button")}


def test_the_report_page_offers_html_and_pdf_and_previews_a_section(at):
    open_page(at, "model_report")
    assert not at.exception and not errors(at)
    assert at.title[0].value == "Model report"
    assert set(_downloads(at)) == {"Download HTML", "Download PDF"}
    html = at.get("iframe")[0].proto.srcdoc
    assert all(f'<section id="{sid}">' in html for sid in SECTION_IDS)
    at.selectbox(key="report_section").set_value("soundness").run()
    assert not at.exception
    preview = at.get("iframe")[0].proto.srcdoc
    assert '<section id="soundness">' in preview and '<section id="performance">' not in preview


def test_a_signature_from_the_page_shows_in_the_sign_off_section(at):
    open_page(at, "model_report")
    at.text_area(key="sign_decision").input("approved for the SME book")  # a form: sent with its submit button
    next(b for b in at.button if b.label == "Sign").click().run()
    assert not at.exception and not errors(at)
    assert any("Signed as validator" in s.value for s in at.success)
    html = at.get("iframe")[0].proto.srcdoc
    assert "approved for the SME book" in html and "Signed by" in html
