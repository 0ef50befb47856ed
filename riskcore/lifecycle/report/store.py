"""The model report's written parts kept on disk, so a report written once opens at once, in any process.

Writing a report takes seconds: its figures are drawn with matplotlib and its PDF is laid out by
WeasyPrint (or a headless Chromium). A :class:`ReportStore` keeps two kinds of parts in a folder of the
state folder (``<RISKCORE_HOME>/report-cache``), each under a name derived from everything that made it,
so a part found is the part a fresh build would give:

- **a section that reads only the bundle** (:attr:`Section.bundle_only <riskcore.lifecycle.report.section.Section>`:
  purpose, data, features, soundness, performance, sensitivity — the ones with the figures), under the
  bundle's manifest hash and :func:`code_fingerprint`. A signature or a new registered version changes the
  history and sign-off sections, never these;
- **the report's files** (the HTML, the PDF or why there is none), under :func:`report_key`: the bundle's
  manifest hash, the generation line, the settings the report quotes (``[alerts]``, ``[promotion]``,
  ``[serving]``), the registry, the version's MLflow run and the ledger's moves, and the code fingerprint.
  The key is computed without writing anything (:func:`riskcore.lifecycle.report.gather.gather_history`
  reads the registry and the ledger in a fraction of a second), so a face asks :meth:`ReportStore.find`
  whether today's report is written before offering to write it.

The code fingerprint is a SHA-256 of riskcore's own source and of the versions of the libraries that draw
the figures and print the PDF, so an upgrade never serves a part written by older code. Parts are written
to a temporary name and renamed into place (two processes writing the same part write the same bytes); a
store that cannot write (a read-only state folder) still returns what it built. The newest
:data:`KEEP_ENTRIES` reports and bundles' sections are kept; older ones are deleted when a new one is written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from riskcore.config import AlertRules, PromotionRules, ServingRules
from riskcore.errors import ConfigError
from riskcore.lifecycle.report.document import SECTIONS, render_report
from riskcore.lifecycle.report.facts import History, Report
from riskcore.lifecycle.report.markup import Numbers
from riskcore.lifecycle.report.page import section_page
from riskcore.lifecycle.report.pdf import html_to_pdf
from riskcore.lifecycle.report.section import Section

__all__ = ["KEEP_ENTRIES", "REPORT_CACHE", "ReportFiles", "ReportStore", "code_fingerprint", "key_of", "report_key"]

log = logging.getLogger("riskcore.report")

REPORT_CACHE = "report-cache"
"""The store's folder under the state folder."""
KEEP_ENTRIES = 24
"""Reports (and bundles' sections) kept; a day's report of a few versions, with room for their signatures."""
_DRAWING = ("matplotlib", "weasyprint")  # they draw the figures and print the PDF
_NO_PDF = "no-pdf.txt"


@dataclass(frozen=True)
class ReportFiles:
    """A report's files: the HTML, the PDF (``None`` where no PDF engine runs) and why there is no PDF.

    Attributes
    ----------
    version : the model version.
    key : :func:`report_key` of the facts it was written from.
    html : the HTML document, exactly as :func:`riskcore.lifecycle.report.render_report` writes it.
    pdf : the PDF's bytes, or ``None``.
    why_no_pdf : empty with a PDF; otherwise what to install.
    """

    version: str
    key: str
    html: str
    pdf: bytes | None
    why_no_pdf: str

    @property
    def name(self) -> str:
        """The files' name without extension: ``model-report-<version>``."""
        return f"model-report-{self.version}"


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of riskcore's source files and of the versions of matplotlib and WeasyPrint installed."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[2]
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    for name in _DRAWING:
        try:
            digest.update(f"{name}=={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """A value as JSON can write it, the same way each time (frames by their split form, dataclasses as dicts)."""
    if hasattr(value, "to_json"):
        return json.loads(value.to_json(orient="split", date_format="iso", date_unit="ns"))
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def report_key(*, bundle_hash: str, generated_at: str, alerts: AlertRules, promotion: PromotionRules,
               serving: ServingRules, history: History) -> str:
    """The name of a report's files: SHA-256 of everything the report is written from, and of the code.

    Parameters
    ----------
    bundle_hash : the bundle's manifest hash (its spec, metrics, importances, reference and hold-out rows).
    generated_at : the report's generation line.
    alerts, promotion, serving : the settings the monitoring plan and the limitations quote.
    history : the registry, the MLflow run and the ledger's moves
        (:func:`riskcore.lifecycle.report.gather.gather_history`).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    facts = {"bundle": bundle_hash, "generated_at": generated_at, "alerts": _plain(alerts),
             "promotion": _plain(promotion), "serving": _plain(serving), "run_id": history.run_id,
             "run": history.run, "registry": None if history.registry is None else _plain(history.registry),
             "moves": None if history.moves is None else [_plain(m) for m in history.moves],
             "code": code_fingerprint()}
    text = json.dumps(facts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_of(report: Report) -> str:
    """:func:`report_key` of a report's facts."""
    return report_key(bundle_hash=report.bundle_hash, generated_at=report.generated_at, alerts=report.alerts,
                      promotion=report.promotion, serving=report.serving, history=report.history)


class ReportStore:
    """Written sections and report files on disk, found by what made them.

    Parameters
    ----------
    folder : where they are kept (created on first write), e.g. ``settings.home / REPORT_CACHE``.
    keep : how many reports, and how many bundles' sections, are kept.
    """

    def __init__(self, folder: str | os.PathLike[str], *, keep: int = KEEP_ENTRIES) -> None:
        self.folder = Path(folder)
        self.keep = keep

    # ------------------------------------------------------------ sections
    def _sections_dir(self, bundle_hash: str) -> Path:
        name = hashlib.sha256(f"{bundle_hash}\0{code_fingerprint()}".encode()).hexdigest()[:40]
        return self.folder / "sections" / name

    def section(self, report: Report, section: Section) -> str:
        """The section written for these facts (``Section.html``): kept by the bundle when it reads the bundle only."""
        if not section.bundle_only:
            return section.html(report, Numbers(report.metrics))
        path = self._sections_dir(report.bundle_hash) / f"{section.id}.html"
        try:
            return path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        written = section.html(report, Numbers(report.metrics))
        self._write_file(path, written.encode("utf-8"))
        return written

    def section_page(self, report: Report, section_id: str) -> str:
        """One section alone in the report's page, for a preview (its style, no header).

        Raises
        ------
        riskcore.errors.ConfigError
            When no section has that id.
        """
        found = next((s for s in SECTIONS if s.id == section_id), None)
        if found is None:
            raise ConfigError(f"the report has no section {section_id!r}; choose one of "
                              f"{', '.join(s.id for s in SECTIONS)}")
        return section_page(report, self.section(report, found))

    def render(self, report: Report) -> str:
        """The report's HTML, the bundle's sections taken from the store: the text ``render_report`` writes."""
        return render_report(report, SECTIONS, written={s.id: self.section(report, s) for s in SECTIONS})

    # ------------------------------------------------------------ files
    def _files_dir(self, key: str) -> Path:
        return self.folder / "files" / key

    def find(self, key: str, version: str) -> ReportFiles | None:
        """The files of the report named ``key`` when they were written, else ``None``."""
        folder = self._files_dir(key)
        name = f"model-report-{version}"
        try:
            html = (folder / f"{name}.html").read_bytes().decode("utf-8")
            pdf_path = folder / f"{name}.pdf"
            if pdf_path.exists():
                return ReportFiles(version, key, html, pdf_path.read_bytes(), "")
            return ReportFiles(version, key, html, None, (folder / _NO_PDF).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None

    def write(self, report: Report, *, pdf: bool = True) -> ReportFiles:
        """Write the report's HTML and PDF (or why there is no PDF), keep them, and return them.

        Files already kept for these facts are returned as they are. With ``pdf=False`` only the HTML is
        written, and not kept (what a signature needs: the report's text).
        """
        key = key_of(report)
        found = self.find(key, report.version)
        if found is not None:
            return found
        html = self.render(report)
        if not pdf:
            return ReportFiles(report.version, key, html, None, "the PDF was not asked for")
        with tempfile.TemporaryDirectory(prefix="riskcore-report-") as tmp:
            try:
                files = ReportFiles(report.version, key, html,
                                    html_to_pdf(html, Path(tmp) / "report.pdf").read_bytes(), "")
            except ConfigError as err:
                files = ReportFiles(report.version, key, html, None, str(err))
        self._write_files(files)
        return files

    # ------------------------------------------------------------ disk
    def _write_file(self, path: Path, data: bytes) -> None:
        """Write one part under a temporary name, then rename it into place; a part written first is kept."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError as err:
            log.warning("the report part %s could not be kept (%s); it is written again next time", path, err)
            return
        self._prune(path.parent.parent)

    def _write_files(self, files: ReportFiles) -> None:
        """Write a report's files into a temporary folder, then rename it to the report's key."""
        target = self._files_dir(files.key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
        except OSError as err:
            log.warning("the report could not be kept in %s (%s); it is written again next time", target, err)
            return
        try:
            (tmp / f"{files.name}.html").write_bytes(files.html.encode("utf-8"))
            if files.pdf is not None:
                (tmp / f"{files.name}.pdf").write_bytes(files.pdf)
            else:
                (tmp / _NO_PDF).write_text(files.why_no_pdf, encoding="utf-8")
            if not target.exists():  # else written meanwhile by another process, with the same bytes
                os.replace(tmp, target)
        except OSError as err:
            log.warning("the report could not be kept in %s (%s); it is written again next time", target, err)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._prune(target.parent)

    def _prune(self, parent: Path) -> None:
        """Delete all but the newest ``keep`` entries of ``parent``."""
        try:
            entries = [p for p in parent.iterdir() if not p.name.startswith(".tmp-")]
            entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        for old in entries[self.keep:]:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
