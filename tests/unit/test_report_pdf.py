"""The report's PDF: pages and text (read back with pdftotext), the same bytes twice, Chromium without Pango."""

from __future__ import annotations

import builtins
import os
import shutil
import subprocess

import pytest

from riskcore.errors import ConfigError
from riskcore.lifecycle.report import NO_PDF_ENGINE, html_to_pdf

HTML = """<!doctype html><html><head><meta charset="utf-8"><style>section { page-break-after: always; }</style>
</head><body><section id="purpose"><h1>Model report</h1><p>Test AUC 0.812</p></section>
<section id="performance"><h2>Performance</h2><svg width="120" height="40"><rect width="60" height="20"/></svg>
<p>Gini 0.624</p></section></body></html>"""


def _text(path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("RISKCORE_REQUIRE_BROWSER"):
            pytest.fail("pdftotext (poppler-utils) is not installed")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_the_pdf_has_the_pages_and_the_text_of_the_html(tmp_path):
    path = html_to_pdf(HTML, tmp_path / "report.pdf")
    text = _text(path)
    assert "Test AUC 0.812" in text and "Gini 0.624" in text
    assert text.count("\f") >= 2  # one page per section


def test_the_same_html_gives_the_same_bytes(tmp_path):
    a = html_to_pdf(HTML, tmp_path / "a.pdf").read_bytes()
    b = html_to_pdf(HTML, tmp_path / "b.pdf").read_bytes()
    assert a == b and a.startswith(b"%PDF")


@pytest.fixture
def no_weasyprint(monkeypatch):
    real = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)


def test_without_pango_a_headless_chromium_prints_it(tmp_path, no_weasyprint):
    if not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome")):
        if os.environ.get("RISKCORE_REQUIRE_BROWSER"):
            pytest.fail("no Chromium is installed")
        pytest.skip("no Chromium is installed")
    path = html_to_pdf(HTML, tmp_path / "report.pdf")
    assert "Test AUC 0.812" in _text(path)


def test_with_neither_the_message_says_what_to_install(tmp_path, no_weasyprint, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError) as err:
        html_to_pdf(HTML, tmp_path / "report.pdf")
    assert str(err.value) == NO_PDF_ENGINE and "libpango" in NO_PDF_ENGINE
    assert not (tmp_path / "report.pdf").exists()
