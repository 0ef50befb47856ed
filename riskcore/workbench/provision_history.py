"""The provisions runs on record, listed from the audit trail and opened from their folders, checked.

A provisions run (``python -m riskcore provisions ... --out FOLDER``) chains a
:class:`~riskcore.serving.audit.ProvisionRecord` onto the audit trail: the as-of year, the standard, the ECL,
the folder it wrote to and the SHA-256 of every file it wrote there. :func:`recorded_runs` lists those runs,
newest first; :func:`open_recorded` reads one run's ``companies.csv`` back from its folder after checking the
file against the SHA-256 on record, so what a later view compares with (the Provisions page's waterfall from
the last quarter's run) is what the run wrote and recorded, or a :class:`~riskcore.errors.DataFileError` that
says what is wrong (no folder on record, the folder or the file gone, the file altered) and what to do.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskcore.errors import DataFileError
from riskcore.serving.audit import AuditLog, ProvisionRecord

__all__ = ["COMPANIES_FILE", "RecordedRun", "open_recorded", "recorded_runs"]

COMPANIES_FILE = "companies.csv"
"""The file of a provisions run's folder that holds its per-company stages and ECL."""


@dataclass(frozen=True)
class RecordedRun:
    """One provisions run on record: the trail's :class:`~riskcore.serving.audit.ProvisionRecord` and what it names.

    Attributes
    ----------
    record : the event as the audit trail holds it.
    """

    record: ProvisionRecord

    @property
    def seq(self) -> int:
        """The run's position in the audit trail (its identity there)."""
        return self.record.seq

    @property
    def as_of(self) -> int:
        """The fiscal year the run provided for."""
        return self.record.as_of

    @property
    def standard(self) -> str:
        """``ifrs9`` or ``cecl``."""
        return self.record.standard

    @property
    def ecl(self) -> float:
        """The portfolio's weighted ECL."""
        return self.record.ecl

    @property
    def model_version(self) -> str:
        """The model version that scored the portfolio."""
        return self.record.model_version

    @property
    def recorded_at(self) -> str:
        """When the run was recorded (ISO 8601, UTC)."""
        return self.record.ts

    @property
    def folder(self) -> Path | None:
        """The folder the run wrote its files to; ``None`` for a run recorded before runs named their folder."""
        return Path(self.record.folder) if self.record.folder else None

    def describe(self) -> str:
        """The run in words, for a message: ``provisions run 12 (as of 2024, IFRS9, recorded 2025-03-31 09:12)``."""
        when = self.recorded_at[:16].replace("T", " ")
        return f"provisions run {self.seq} (as of {self.as_of}, {self.standard.upper()}, recorded {when})"


def recorded_runs(audit: AuditLog, *, limit: int | None = None) -> list[RecordedRun]:
    """The provisions runs recorded in the audit trail, newest first.

    Parameters
    ----------
    audit : the audit trail.
    limit : only the newest ``limit`` runs (>= 1).

    Returns
    -------
    list of RecordedRun
        Newest first (by position in the trail).

    Raises
    ------
    AuditError
        When the trail cannot be read, ``limit`` is invalid or a run on record cannot be read.
    """
    return [RecordedRun(r) for r in reversed(audit.events(ProvisionRecord, limit=limit))]


def open_recorded(run: RecordedRun, id_column: str) -> pd.DataFrame:
    """A recorded run's per-company table, read from its folder once its file matches the SHA-256 on record.

    Parameters
    ----------
    run : a run listed by :func:`recorded_runs`.
    id_column : the company id column (read as text), which the table must have.

    Returns
    -------
    pandas.DataFrame
        The run's ``companies.csv``: per company ``id_column``, ``stage``, ``ecl`` and whatever else the run
        wrote (``sector``, ``stage_reason``, ``grade``, ``pd_12m``, ``lifetime_pd``, ``ecl_<scenario>``, ...).

    Raises
    ------
    DataFileError
        When the run names no folder (recorded before runs did) or no SHA-256 of ``companies.csv``; when the
        folder or the file is not there (moved or deleted); when the file differs from what was recorded
        (altered since); when it cannot be read or lacks ``id_column``, ``stage`` or ``ecl``.
    """
    what = run.describe()
    folder = run.folder
    if folder is None:
        raise DataFileError(f"{what} was recorded before provisions runs named their output folder, so its files "
                            "cannot be found and checked; run python -m riskcore provisions again with --out to "
                            "have a run on record to compare with")
    expected = run.record.outputs.get(COMPANIES_FILE)
    if not expected:
        raise DataFileError(f"{what} recorded no SHA-256 of {COMPANIES_FILE}, so its file cannot be checked; run "
                            "python -m riskcore provisions again to have a run on record to compare with")
    if not folder.is_dir():
        raise DataFileError(f"the folder of {what}, {str(folder)!r}, is not there: it was moved or deleted; put it "
                            "back where the run wrote it, or run python -m riskcore provisions again")
    path = folder / COMPANIES_FILE
    if not path.is_file():
        raise DataFileError(f"{COMPANIES_FILE} of {what} is missing from {str(folder)!r}: it was moved or deleted; "
                            "put the file back as the run wrote it, or run python -m riskcore provisions again")
    try:
        data = path.read_bytes()  # checked and parsed from the same bytes
    except OSError as err:
        raise DataFileError(f"{str(path)!r} of {what} cannot be read: {err}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DataFileError(f"{str(path)!r} is not the file {what} wrote: its SHA-256 is {actual[:12]}…, the trail "
                            f"recorded {expected[:12]}…, so it was altered since; put back the file as written, or "
                            "run python -m riskcore provisions again")
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={id_column: str})
    except (ValueError, UnicodeDecodeError) as err:
        raise DataFileError(f"{str(path)!r} of {what} cannot be read: {err}") from None
    missing = [c for c in (id_column, "stage", "ecl") if c not in frame]
    if missing:
        raise DataFileError(f"{str(path)!r} of {what} has no column {', '.join(map(repr, missing))}: a provisions "
                            f"run's {COMPANIES_FILE} has the company id ({id_column!r} for this model), stage and "
                            "ecl; compare with a run of a model with the same company id column")
    return frame
