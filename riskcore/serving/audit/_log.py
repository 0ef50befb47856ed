"""The audit trail's façade: :class:`AuditLog` records requests and events, reads and verifies them.

It composes the modules below it and adds no storage of its own: the :class:`~riskcore.serving.audit.AuditStore`
(``log.store``) holds the database, :class:`~riskcore.serving.audit.AuditBatch` writes a request,
:func:`chain_event` and :func:`read_events` write and read the events without rows, the readers and the
verifier read through the store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from riskcore.config import Settings
from riskcore.errors import AuditError
from riskcore.evaluation.docs import shared_docs
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit._access import AccessEvent
from riskcore.serving.audit._archive import AuditArchive, archive_trail, check_against_trail, verify_with_archives
from riskcore.serving.audit._batch import AuditBatch, AuditPart, record_parts
from riskcore.serving.audit._events import ChainedEvent, chain_event, read_events
from riskcore.serving.audit._examine import ExportCheck
from riskcore.serving.audit._export import AuditExport, export_trail, utc_bound
from riskcore.serving.audit._ledger import ModelMove
from riskcore.serving.audit._origination import read_origination
from riskcore.serving.audit._reading import read_matches, read_rows, read_scored
from riskcore.serving.audit._records import AuditRecord, check_records, check_request, record_inputs
from riskcore.serving.audit._redaction import Redaction
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import REASON_SEPARATOR, SOURCES, audit_requests
from riskcore.serving.audit._verify import VerifyResult, verify_trail

__all__ = ["AuditLog", "FoundScores"]

E = TypeVar("E", bound=ChainedEvent)

_REQUEST_FIELDS = """\
source : ``"cli"``, ``"dashboard"`` or ``"api"``.
caller : who asked (user name or API key id).
model_version, bundle_hash : the model that gives the scores.
request_id : the request's id; a new ``uuid4().hex`` when ``None``.
key : the name of the input column the company ids come from; when the log's redaction covers it, the ids are
    stored as salted hashes too."""


@dataclass(frozen=True)
class FoundScores:
    """The recorded scores of a company looked up by its id or by an input's exact value.

    Attributes
    ----------
    scores : the scores, newest first, in the columns of :meth:`AuditLog.find` (redacted values as stored).
    column : the input looked in, or ``None`` for the company id.
    by_hash : whether the value was also looked for as its salted hash (the trail redacts).
    other_keys : values of the column hashed with another salt than this process's, which cannot match
        (every host writing one trail must share its salt).
    """

    scores: pd.DataFrame
    column: str | None
    by_hash: bool
    other_keys: int = 0


class AuditLog:
    """The audit trail in one database.

    Parameters
    ----------
    url : SQLAlchemy URL, e.g. ``sqlite:////abs/path/audit.db`` (four slashes
        for an absolute path), ``sqlite:///file:/abs/path/audit.db?mode=ro&uri=true``
        (read-only: writes refuse) or ``postgresql+psycopg://user@host/db``.
    busy_timeout_ms : how long a SQLite writer waits for another one before
        it gives up (and the write raises).
    stale_after_minutes : staged rows of a request that has neither committed
        nor stored a chunk for this long are removed by the next writer.
    redaction : the inputs stored only as salted hashes, and their key
        (:class:`~riskcore.serving.audit.Redaction`); ``None`` stores every
        value as given. :meth:`from_settings` passes the settings' redaction.

    Raises
    ------
    AuditError
        When an argument is invalid, the URL cannot be parsed or its database
        driver is not installed.

    Attributes
    ----------
    store : AuditStore
        The database behind the log: engine, write lock and chain tail,
        fail-closed errors, reads.
    redaction : Redaction or None
        What the log stores only as salted hashes.

    Notes
    -----
    The tables are created on first use. The log is safe to share between
    threads (an :class:`AuditBatch` is not); a forked process drops the
    connections it inherited. Every method raises
    :class:`~riskcore.errors.AuditError` and nothing else for a store that
    cannot be reached, read or written.

    Examples
    --------
    >>> log = AuditLog("sqlite://")
    >>> rid = log.record([AuditRecord("C-1", {"income": 1.0}, 0.02, "accept", "A")], source="cli",
    ...                  caller="analyst", model_version="v1", bundle_hash="ab12")
    >>> log.verify().message
    'chain intact: 1 rows'
    """

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, stale_after_minutes: float = 30.0,
                 redaction: Redaction | None = None):
        self.store = AuditStore(url, busy_timeout_ms=busy_timeout_ms, stale_after_minutes=stale_after_minutes)
        self.redaction = redaction

    @classmethod
    def from_settings(cls, settings: Settings, *, busy_timeout_ms: int = 30_000) -> AuditLog:
        """Open the audit log at ``settings.resolved_audit_url``, redacting as the settings say.

        For a SQLite file, its folder is created when missing. The inputs that name people or their contact
        details (:data:`~riskcore.data.schema.PERSONAL_COLUMNS` and ``[audit] redact``) are stored as salted
        hashes, with the salt of ``$RISKCORE_AUDIT_SALT`` or of the state folder (made on first use).

        Parameters
        ----------
        settings : a :class:`riskcore.config.Settings`.
        busy_timeout_ms : see :class:`AuditLog`.

        Returns
        -------
        AuditLog

        Raises
        ------
        AuditError
            When the folder cannot be created or the URL is unusable.
        ConfigError
            When the salt cannot be read or made (the message says what to do).
        """
        url = settings.resolved_audit_url
        AuditStore.make_folder(url)
        return cls(url, busy_timeout_ms=busy_timeout_ms, redaction=Redaction.from_settings(settings))

    def __repr__(self) -> str:
        return f"AuditLog({self.url!r})"

    @property
    def url(self) -> str:
        """The store's URL as messages show it (its password hidden)."""
        return self.store.url

    @property
    def busy_timeout_ms(self) -> int:
        """How long a SQLite writer waits for another one before it gives up."""
        return self.store.busy_timeout_ms

    @property
    def stale_after(self) -> timedelta:
        """How long staged rows of an unfinished request stay before the next writer removes them."""
        return self.store.stale_after

    def close(self) -> None:
        """Close the pooled connections (the log opens new ones if used again)."""
        self.store.close()

    # -- writing -----------------------------------------------------------
    @shared_docs(request_fields=_REQUEST_FIELDS)
    def batch(self, *, source: str, caller: str, model_version: str, bundle_hash: str,
              request_id: str | None = None, key: str = "company_id") -> AuditBatch:
        """Start recording one request whose scores arrive in chunks.

        Parameters
        ----------
        {request_fields}

        Returns
        -------
        AuditBatch
            Call ``add()`` per chunk, then ``commit()``; or use it in a ``with``
            block, which commits on success and aborts on an exception.

        Raises
        ------
        AuditError
            When a request field is invalid.

        Examples
        --------
        >>> log = AuditLog("sqlite://")
        >>> with log.batch(source="cli", caller="analyst", model_version="v1", bundle_hash="ab12") as batch:
        ...     batch.add(["C-1", "C-2"], pd.DataFrame({"roa": [0.1, None]}), np.array([0.02, 0.3]),
        ...               ["accept", "refer"], ["A", "C"])
        >>> log.count()
        2
        """
        request_id = uuid.uuid4().hex if request_id is None else request_id
        check_request(source=source, caller=caller, model_version=model_version, bundle_hash=bundle_hash,
                      request_id=request_id)
        return AuditBatch(self.store, request_id=request_id, source=source, caller=caller, model_version=model_version,
                          bundle_hash=bundle_hash, redaction=self.redaction, key=key)

    @shared_docs(request_fields=_REQUEST_FIELDS)
    def record(
        self,
        records: Sequence[AuditRecord],
        *,
        source: str,
        caller: str,
        model_version: str,
        bundle_hash: str,
        request_id: str | None = None,
        key: str = "company_id",
    ) -> str:
        """Record the scores of one request, all in one transaction.

        Parameters
        ----------
        records : the scores of one request; an empty sequence writes nothing.
            Records with different input keys are stored with the union of the
            keys, the absent ones as missing.
        {request_fields}

        Returns
        -------
        str
            The request id: ``request_id`` when given, else the new one.

        Raises
        ------
        AuditError
            When a value cannot be stored (nothing is written) or the store
            cannot be written. The caller must then not return the scores.
        """
        batch = self.batch(source=source, caller=caller, model_version=model_version, bundle_hash=bundle_hash,
                           request_id=request_id, key=key)
        if isinstance(records, AuditRecord):
            records = [records]
        check_records(records)
        if not records:
            return batch.request_id
        inputs = record_inputs([r.inputs for r in records])
        with batch:
            batch.add([r.company_id for r in records], inputs, np.array([float(r.p_default) for r in records]),
                      [r.decision for r in records], [r.grade for r in records],
                      [REASON_SEPARATOR.join(r.reasons) for r in records])
        return batch.request_id

    def record_parts(self, parts: Sequence[AuditPart]) -> list[str]:
        """Record the scores of requests answered together (the API's groups) in ONE transaction.

        Each part is one head of the trail: the scores one model gave from one source. Its rows keep the
        request id and caller of the request each answers, so :meth:`recent`, :meth:`find`, :meth:`scored`
        and ``verify()`` see every request as if it had been recorded alone.

        Parameters
        ----------
        parts : :class:`~riskcore.serving.audit.AuditPart` s; empty ones write nothing.

        Returns
        -------
        list[str]
            Each part's head request id (``""`` for an empty part).

        Raises
        ------
        AuditError
            When a value cannot be stored or the store cannot be written: nothing of any part is recorded, and
            none of the scores may be returned.
        """
        return record_parts(self.store, parts, self.redaction)

    def check_writable(self) -> None:
        """Check that a request could be recorded now, without leaving one behind.

        Takes the chain lock, writes a probe chunk and head and rolls back.

        Raises
        ------
        AuditError
            When the store cannot be reached or written (read-only, locked
            for longer than the busy timeout, disk full, ...).
        """
        self.store.check_writable()

    # -- reading -----------------------------------------------------------
    def verify(self, archives: str | os.PathLike[str] | None = None) -> VerifyResult:
        """Check every request head, every chunk and the chain; name the first broken row.

        For each head in ``seq`` order it checks that no head is missing, that
        its hash matches its contents and links to the previous head, that its
        chunks are all there with consecutive rows, and that the SHA-256 of
        its stored scores equals its digest. On a mismatch it compares rows
        and fingerprints to name the row. Once older requests were archived,
        the live chain is checked from the anchor they left.

        Parameters
        ----------
        archives : the folder holding the archives (:meth:`archive`): each is
            verified from its files as well, chained from the first head to
            the anchor, so the whole history is checked.

        Returns
        -------
        VerifyResult

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        if archives is not None:
            return verify_with_archives(self.store, Path(archives))
        return verify_trail(self.store)

    def export(self, out: str | os.PathLike[str], *, since: str, until: str, actor: str) -> AuditExport:
        """Write every score recorded in a period into a folder an examiner verifies without the database.

        The folder holds the scores as Parquet (inputs, outputs, who, when, the model, the request), the chain
        heads that cover them with the head before the first, and a manifest with every file's SHA-256 and its
        own digest (see ``riskcore/serving/audit/_folder.py``). The export is recorded in the trail (a
        :class:`~riskcore.serving.audit.CustodyEvent` with the manifest's digest).

        Parameters
        ----------
        out : a folder that does not exist yet (or is empty).
        since, until : ISO 8601 dates or times (UTC): the requests recorded from ``since``, before ``until``.
        actor : who asks for it (recorded).

        Returns
        -------
        AuditExport

        Raises
        ------
        ConfigError
            When the period or the folder is unusable, or no request was recorded in the period.
        AuditError
            When the trail cannot be read or written, or the period fails verification (nothing is written).
        """
        return export_trail(self.store, Path(out), since=since, until=until, actor=actor)

    def archive(self, out: str | os.PathLike[str], *, before: str, actor: str, vacuum: bool = False,
                progress: Progress = no_progress) -> AuditArchive:
        """Move the requests recorded before a cut-off into a verified archive, leaving an anchor.

        See ``riskcore/serving/audit/_archive.py`` for the steps and what a killed process leaves.

        Parameters
        ----------
        out : the folder holding the archives (each run writes one folder in it).
        before : the cut-off: an ISO 8601 date or time (UTC).
        actor : who archives (recorded in the trail).
        vacuum : run ``VACUUM`` once the rows are removed.
        progress : called with (fraction, message) at each step.

        Returns
        -------
        AuditArchive

        Raises
        ------
        ConfigError
            When ``before`` is not a date or ``out`` cannot be created.
        AuditError
            When the trail cannot be read or written, fails verification or changed meanwhile; nothing is
            removed then.
        """
        return archive_trail(self.store, Path(out), before=utc_bound("before", before), actor=actor, vacuum=vacuum,
                             progress=progress)

    def compare_export(self, check: ExportCheck) -> ExportCheck:
        """Compare an export verified offline (:func:`~riskcore.serving.audit.examine_export`) with this trail.

        The chain runs forward, so the trail's head at the export's last position having the export's last hash
        proves every head of the export is the trail's; the trail's custody record of the manifest's digest says
        who wrote it.

        Returns
        -------
        ExportCheck
            ``check`` with ``trail`` saying what was found; ``ok`` False when the trail's head differs.

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        return check_against_trail(self.store, check)

    def recent(self, limit: int = 100, *, source: str | None = None, company_id: str | None = None) -> pd.DataFrame:
        """Return the newest scores first.

        Parameters
        ----------
        limit : at most this many rows (>= 1).
        source : only scores from this source.
        company_id : only scores of this company.

        Returns
        -------
        pandas.DataFrame
            Columns seq (position in the trail), ts (datetime, UTC; when the
            request was committed), request_id, caller, source, model_version,
            bundle_hash, company_id, p_default, decision, grade, reasons (list
            of str), input_hash (SHA-256 of the inputs as canonical JSON:
            sorted keys, no spaces, missing values as null).

        Raises
        ------
        AuditError
            When an argument is invalid or the store cannot be read.
        """
        return self._read(limit, source, None if company_id is None else self._stored_forms(company_id),
                          with_inputs=False)

    def find(self, company_id: str, *, limit: int | None = None, source: str | None = None) -> pd.DataFrame:
        """Return every recorded score of one company, newest first, with its inputs.

        A company recorded under a redacted key is found by its key as well: the key is looked up as given and
        as its salted hash (the rows show the hash, as stored).

        Parameters
        ----------
        company_id : the company's key.
        limit : at most this many rows; ``None`` for all.
        source : only scores from this source.

        Returns
        -------
        pandas.DataFrame
            The columns of :meth:`recent` plus ``inputs``: a dict per row of
            input name to value (float, int, bool, str, or ``None`` when
            missing; lists and dicts as they were sent to :meth:`record`).

        Raises
        ------
        AuditError
            When an argument is invalid or the store cannot be read.
        """
        if not isinstance(company_id, str):
            raise AuditError(f"company_id={company_id!r} must be a string")
        return self._read(limit, source, self._stored_forms(company_id), with_inputs=True)

    def find_by(self, column: str, value: str, *, limit: int | None = None,
                source: str | None = None) -> FoundScores:
        """Return every recorded score whose input ``column`` is exactly ``value``, newest first, with its inputs.

        A redacted input is matched by the salted hash of ``value`` (its stored form); any input by ``value``
        itself too, as text (a number by the text Arrow writes, ``12`` or ``0.5``). Only the requests that
        recorded the column are read, every chunk of each: inputs have no index (a company id has; use
        :meth:`find` for it).

        Parameters
        ----------
        column : the input's name, as recorded (e.g. ``company_name``).
        value : the exact value looked for.
        limit, source : as for :meth:`find`.

        Returns
        -------
        FoundScores
            The scores, in the columns of :meth:`find`, and how many values of the column were hashed with
            another salt than this log's (they cannot be matched: every host writing the trail must share
            one salt, ``$RISKCORE_AUDIT_SALT``).

        Raises
        ------
        AuditError
            When an argument is invalid, no recorded request has the input ``column`` (the message says so), or
            the store cannot be read.
        """
        if not isinstance(column, str) or not column or not isinstance(value, str):
            raise AuditError(f"column={column!r} and value={value!r} must be text; name an input, e.g. "
                             "company_name, and the exact value looked for")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
        if source is not None and source not in SOURCES:
            raise AuditError(f"source={source!r} is unknown; use one of {', '.join(map(repr, SOURCES))} or None")
        own = None if self.redaction is None else self.redaction.prefix
        found, other_keys, recorded = read_matches(self.store, column, self._stored_forms(value), limit, source, own)
        if not recorded:
            raise AuditError(f"no score in the audit trail has an input named {column!r}; name an input as it was "
                             "recorded (python -m riskcore audit find --company looks a company up by its id)")
        return FoundScores(found, column, self.redaction is not None, other_keys)

    def origination(self, company_ids: Sequence[str] | np.ndarray, *, year_column: str) -> pd.DataFrame:
        """Return each company's first scored fiscal year in the trail and the PD recorded for it.

        The origination PD of IFRS 9 staging: for each company, its scores (from any source) whose recorded input
        ``year_column`` holds a fiscal year, a whole number from 1 to 9999 stored as a number or as text
        (``2021``, ``"2021.0"``), or a date written as text (``"2021-12-31"``) counting as its year; the earliest
        year wins, and of several scores for that year the first recorded (lowest ``seq``). Built for whole
        portfolios: for many companies every chunk of the requests that recorded the column is read, for few the
        chunks the company index names; only the columns needed are decoded (see
        ``riskcore/serving/audit/_origination.py``).

        Parameters
        ----------
        company_ids : the companies' keys as given (text); a log that redacts them looks each up as given and as
            its salted hash, and returns it as given. Repeated ids count once.
        year_column : the input holding each score's fiscal year, as recorded (e.g. ``year``).

        Returns
        -------
        pandas.DataFrame
            One row per company found, in the order of ``company_ids``: company_id (as given), year (int),
            p_default (float), seq (the score's position in the trail), request_id, model_version. Companies
            without a score holding a readable year are absent; no ids give an empty frame with these columns.

        Raises
        ------
        AuditError
            When ``company_ids`` is not a sequence of text or ``year_column`` is not a name, or the store cannot
            be read.

        Examples
        --------
        >>> log = AuditLog("sqlite://")
        >>> for year, p in ((2021, 0.02), (2020, 0.05)):
        ...     _ = log.record([AuditRecord("C-1", {"year": year}, p, "accept", "A")], source="cli",
        ...                    caller="analyst", model_version="v1", bundle_hash="ab12")
        >>> log.origination(["C-1", "C-2"], year_column="year")[["company_id", "year", "p_default", "seq"]]
          company_id  year  p_default  seq
        0        C-1  2020       0.05    2
        """
        return read_origination(self.store, company_ids, year_column, self.redaction)

    def _stored_forms(self, value: str) -> list[str]:
        """How ``value`` may be stored: as given, and as its salted hash when the log redacts."""
        return [value] if self.redaction is None else [value, self.redaction.hash_text(value)]

    def scored(self, model_version: str, *, since: str | None = None, until: str | None = None) -> pd.DataFrame:
        """Return every score one model version gave between two times, with the inputs it scored, oldest first.

        Parameters
        ----------
        model_version : the model whose scores are read.
        since, until : ISO 8601 dates or times (UTC) bounding when the requests were recorded,
            ``since <= time < until``; ``None`` leaves that side open.

        Returns
        -------
        pandas.DataFrame
            ``seq``, ``ts``, ``_company_id``, ``_p_default``, ``_grade`` (the recorded key and score) and one
            column per recorded input, under its own name.

        Raises
        ------
        AuditError
            When a bound is not an ISO 8601 date or time, or the store cannot be read.
        """
        bounds: list[str | None] = []
        for name, value in (("since", since), ("until", until)):
            if value is None:
                bounds.append(None)
                continue
            try:
                stamp = pd.Timestamp(value)
            except ValueError:
                raise AuditError(f"{name}={value!r} is not a date or time; write it as 2026-01-31 or "
                                 "2026-01-31T12:00") from None
            stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
            bounds.append(stamp.isoformat(timespec="microseconds"))
        return read_scored(self.store, model_version, bounds[0], bounds[1])

    # -- events without rows ---------------------------------------------------
    def record_event(self, event: E) -> E:
        """Chain one event without rows onto the trail: a move of the champion, a signature, an access event.

        Parameters
        ----------
        event : a :class:`~riskcore.serving.audit.ChainedEvent` (:class:`~riskcore.serving.audit.ModelMove`,
            :class:`~riskcore.serving.audit.AccessEvent`).

        Returns
        -------
        ChainedEvent
            The event with its time (``ts``) and position in the chain (``seq``).

        Raises
        ------
        AuditError
            When the event is incomplete (its own check says why) or the store cannot be written.
        """
        return chain_event(self.store, event)

    def events(self, kind: type[E], *, caller: str | None = None, limit: int | None = None) -> list[E]:
        """The events of one kind recorded in the trail, oldest first.

        Parameters
        ----------
        kind : the event class, e.g. :class:`~riskcore.serving.audit.ModelMove`.
        caller : only the events of this actor or user.
        limit : only the newest ``limit`` events (>= 1).

        Returns
        -------
        list
            Instances of ``kind``.

        Raises
        ------
        AuditError
            When ``limit`` is invalid, the store cannot be read or an event cannot be read (run ``verify()``).
        """
        return read_events(self.store, kind, caller=caller, limit=limit)

    def record_move(self, move: ModelMove) -> ModelMove:
        """Chain one move of the champion onto the trail (see :class:`~riskcore.serving.audit.ModelMove`).

        Raises
        ------
        AuditError
            When the move has no reason (or an override no gate digest), or the store cannot be written.
        """
        return self.record_event(move)

    def moves(self) -> list[ModelMove]:
        """Every move of the champion recorded in the trail, oldest first.

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        return self.events(ModelMove)

    def record_access(self, event: AccessEvent) -> AccessEvent:
        """Chain one sign-in, sign-out, timeout or refusal onto the trail (see :class:`AccessEvent`).

        Raises
        ------
        AuditError
            When the event is incomplete or the store cannot be written.
        """
        return self.record_event(event)

    def access_events(self, *, user: str | None = None, limit: int | None = None) -> list[AccessEvent]:
        """The access events recorded in the trail, oldest first; of one user only, or only the newest ``limit``.

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        return self.events(AccessEvent, caller=user, limit=limit)

    def count(self) -> int:
        """Count the scores recorded (rows of committed requests).

        Raises
        ------
        AuditError
            When the store cannot be read.
        """
        with self.store.reading() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(audit_requests.c.n_rows), 0))).scalar_one())

    def _read(self, limit: int | None, source: str | None, company_ids: list[str] | None, *,
              with_inputs: bool) -> pd.DataFrame:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise AuditError(f"limit={limit!r} must be a whole number >= 1, e.g. 100")
        if source is not None and source not in SOURCES:
            raise AuditError(f"source={source!r} is unknown; use one of {', '.join(map(repr, SOURCES))} or None")
        return read_rows(self.store, limit, source, company_ids, with_inputs=with_inputs)
