"""The model report as PDF, made on this machine from the same HTML.

WeasyPrint (a pinned Python package; it needs the Pango text library, which Debian and
Ubuntu ship as ``libpango-1.0-0``) lays the HTML out as print pages: no browser, no
network. Where Pango is missing, a headless Chromium, when one is installed, prints the
same file. With neither, the error says what to install; the HTML is written either way.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from riskcore.errors import ConfigError

__all__ = ["NO_PDF_ENGINE", "html_to_pdf"]

log = logging.getLogger("riskcore.report")

_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "chrome")
NO_PDF_ENGINE = ("cannot make the PDF: WeasyPrint needs the Pango library (Debian/Ubuntu: apt-get install "
                 "libpango-1.0-0 libpangoft2-1.0-0) and no Chromium is installed; the HTML report is written and "
                 "prints to PDF from any browser")


def html_to_pdf(html: str, path: str | os.PathLike[str], *, base_url: str | None = None) -> Path:
    """Write ``html`` as a PDF at ``path`` (WeasyPrint, else headless Chromium).

    Raises
    ------
    riskcore.errors.ConfigError
        When neither engine can run here (the message says what to install).
    """
    target = Path(path)
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as err:  # OSError: the Pango library is not installed
        log.warning("WeasyPrint cannot run here (%s); trying a headless Chromium", err)
        return _with_chromium(html, target)
    # a fixed identifier and no timestamps: the same HTML gives the same PDF
    HTML(string=html, base_url=base_url).write_pdf(target, pdf_identifier=b"riskcore-model-report",
                                                   uncompressed_pdf=False)
    return target


def _with_chromium(html: str, target: Path) -> Path:
    """Print the HTML with a headless Chromium, or say what to install."""
    browser = next((found for name in _CHROMIUMS if (found := shutil.which(name))), None)
    if browser is None:
        raise ConfigError(NO_PDF_ENGINE)
    with tempfile.TemporaryDirectory(prefix="riskcore-report-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                               f"--print-to-pdf={target}", page.as_uri()], capture_output=True, text=True,
                              timeout=120, check=False)
    if done.returncode or not target.exists():
        raise ConfigError(f"Chromium could not print the report (exit {done.returncode}): "
                          f"{(done.stderr or '').strip()[-300:]}")
    return target
