"""Retention without breaking the chain: the oldest requests moved into verified archives, an anchor left behind.

:func:`archive_trail` takes the oldest live heads recorded before a cut-off (whole requests and the events
between them, in chain order, stopping at the first head recorded on or after the cut-off) and

1. writes them into a folder of the export format (:mod:`riskcore.serving.audit._folder`) under a hidden name,
   checking every head and chunk as it reads them;
2. verifies that folder from its files alone (:func:`~riskcore.serving.audit._examine.examine_export`) and
   renames it into place;
3. in ONE write transaction, under the chain lock: checks that the live heads are still exactly the archived
   ones (hash by hash), deletes them with their chunks and company index, writes the anchor (the last archived
   head, its hash, the rows through it, the archive's name and its manifest's digest) and chains a custody
   record of the archive onto the trail.

A process killed at any point leaves the old state (the live rows untouched; at most a folder that no anchor
names, removed by the next run) or the new one (rows gone, anchor and record committed together). Nothing is
removed that was not first written and verified. ``verify()`` then checks the live chain from the anchor, and
:func:`verify_with_archives` the whole history: each archive from its files, chained archive to archive from the
first head, each ending at its anchor, then the live chain.

Deleting rows does not shrink a SQLite file (the pages are reused by later scores) or a PostgreSQL table;
``vacuum=True`` runs ``VACUUM`` afterwards (SQLite: rewrites the file, which needs the free disk space of the
live part and waits for other connections; PostgreSQL: plain ``VACUUM ANALYZE``, which makes the space reusable
without locking the tables; returning it to the system, ``VACUUM FULL``, is the database administrator's call).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from riskcore.errors import AuditError, ConfigError
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit._anchor import Anchor, audit_anchors, latest_anchor, read_anchors
from riskcore.serving.audit._custody import CustodyEvent
from riskcore.serving.audit._events import event_head, read_events
from riskcore.serving.audit._examine import ExportCheck, examine_export
from riskcore.serving.audit._export import AuditExport, head_at, new_folder, remove_folder, write_stretch
from riskcore.serving.audit._folder import HEADS_FILE, MANIFEST, fsync_folder
from riskcore.serving.audit._store import AuditStore
from riskcore.serving.audit._tables import GENESIS_HASH, audit_ids, audit_requests, audit_segments, utc_now
from riskcore.serving.audit._verify import VerifyResult, verify_trail

__all__ = ["AuditArchive", "archive_trail", "check_against_trail", "verify_with_archives"]

_PREFIX = "archive-"


@dataclass(frozen=True)
class AuditArchive:
    """What one run of ``audit archive`` did.

    Attributes
    ----------
    before : the cut-off (UTC, ISO 8601): heads recorded before it were archived.
    written : the archive written and verified, or None when nothing was recorded before the cut-off.
    anchor_seq, anchor_hash : where the live chain starts now (the last archived head and its hash).
    vacuumed : whether the database was vacuumed afterwards.
    message : what happened, in words.
    """

    before: str
    written: AuditExport | None
    anchor_seq: int
    anchor_hash: str
    vacuumed: bool
    message: str

    def summary(self) -> str:
        """The message, and the archive's summary when one was written."""
        return self.message if self.written is None else f"{self.written.summary()}\n{self.message}"


def _stretch(store: AuditStore, before: str) -> tuple[int, int]:
    """The oldest live heads recorded before the cut-off, in chain order: (first, last); last < first for none."""
    h = audit_requests.c
    with store.reading() as conn:
        anchor = latest_anchor(conn)
        first = anchor.seq + 1 if anchor is not None else 1
        stop = conn.execute(select(h.seq).where(h.seq >= first, h.ts >= before).order_by(h.seq).limit(1)).scalar()
        end = conn.execute(select(h.seq).order_by(h.seq.desc()).limit(1)).scalar()
    last = int(stop) - 1 if stop is not None else int(end) if end is not None else first - 1
    return first, last


def _clear_leftovers(out: Path, anchored: set[str]) -> None:
    """Remove what killed runs left in the archives folder: hidden partial folders and archives no anchor names."""
    for path in out.iterdir() if out.is_dir() else ():
        if path.is_dir() and path.name.startswith(f".{_PREFIX}") and ".partial-" in path.name:
            remove_folder(path)
        elif path.is_dir() and path.name.startswith(_PREFIX) and path.name not in anchored:
            remove_folder(path)


def archive_trail(store: AuditStore, out: Path, *, before: str, actor: str, vacuum: bool = False,
                  progress: Progress = no_progress) -> AuditArchive:
    """Move the live heads recorded before ``before`` into a verified archive under ``out`` (see the module docstring).

    Parameters
    ----------
    store : the trail's store.
    out : the folder that holds the archives (created when missing).
    before : the cut-off, UTC, ISO 8601 as the trail writes its times.
    actor : who archives (recorded in the trail).
    vacuum : run ``VACUUM`` once the rows are removed.
    progress : called with (fraction, message) at each step.

    Returns
    -------
    AuditArchive

    Raises
    ------
    AuditError
        When the trail cannot be read or written, fails verification, or changed under the archive; nothing
        is removed then.
    ConfigError
        When ``out`` cannot be created.
    """
    progress(0.0, f"finding the live requests recorded before {before}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the archives folder {str(out)!r}: {err.strerror or err}; name a writable "
                          "place") from None
    with _only_run(out):
        return _archive(store, out, before=before, actor=actor, vacuum=vacuum, progress=progress)


@contextmanager
def _only_run(out: Path) -> Iterator[None]:
    """Hold the archives folder's lock: one archive at a time writes there and clears what killed runs left."""
    with open(out / ".archive.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AuditError(f"another archive of the trail is running into {str(out)!r}; wait for it to end") \
                from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _archive(store: AuditStore, out: Path, *, before: str, actor: str, vacuum: bool,
             progress: Progress) -> AuditArchive:
    """:func:`archive_trail` under the folder's lock."""
    store.ensure_side_table(audit_anchors)
    with store.reading() as conn:
        anchored = {a.archive for a in read_anchors(conn)}
    _clear_leftovers(out, anchored)
    first, last = _stretch(store, before)
    if last < first:
        with store.reading() as conn:
            anchor = latest_anchor(conn)
        progress(1.0, "nothing to archive")
        return AuditArchive(before, None, anchor.seq if anchor else 0, anchor.row_hash if anchor else GENESIS_HASH,
                            False, f"nothing to archive: no live request was recorded before {before}")
    name = f"{_PREFIX}{first:012d}-{last:012d}"
    final = out / name
    partial = new_folder(final)
    try:
        progress(0.1, f"writing heads {first:,}–{last:,} into {name}")
        with store.reading(snapshot=True) as conn:
            anchor = latest_anchor(conn)
            written = write_stretch(conn, partial, first, last, anchor=anchor, kind="archive",
                                    window=f"before {before}", actor=actor, trail=store.url)
        progress(0.6, f"verifying {name} from its files")
        check = examine_export(partial)
        if not check.ok or check.digest != written.digest or check.last_hash != written.last_hash:
            raise AuditError(f"the archive written for heads {first:,}–{last:,} does not verify from its files "
                             f"({check.message}); nothing was removed")
        os.replace(partial, final)
        fsync_folder(out)
    except BaseException:
        remove_folder(partial)
        raise
    written = replace(written, folder=final)
    progress(0.8, f"archive written and verified: {final}")
    anchor_seq, anchor_hash = _remove_archived(store, written, anchor, before, actor, progress)
    message = (f"archived heads {first:,}–{last:,} ({written.rows:,} scores) into {final} and removed them from the "
               f"live trail; the live chain now starts at the anchor, head {anchor_seq:,} (hash {anchor_hash})")
    if vacuum:
        progress(0.95, "vacuuming the database")
        _vacuum(store)
        message += "; database vacuumed"
    else:
        _checkpoint(store)
    progress(1.0, "archived")
    return AuditArchive(before, written, anchor_seq, anchor_hash, vacuum, message)


def _remove_archived(store: AuditStore, written: AuditExport, anchor: Anchor | None, before: str, actor: str,
                     progress: Progress) -> tuple[int, str]:
    """In one transaction: check the live heads are the archived ones, delete them, anchor, record the archive."""
    first, last = written.first_seq, written.last_seq
    archived = pq.read_table(written.folder / HEADS_FILE, columns=["seq", "row_hash"])
    h = audit_requests.c
    with store.writing() as conn:
        tail = store.lock_and_tail(conn)
        if latest_anchor(conn) != anchor:
            raise AuditError("another archive of the trail ran meanwhile; nothing was removed; run the archive again")
        live = conn.execute(select(h.seq, h.row_hash).where(h.seq.between(first, last)).order_by(h.seq)).all()
        if [int(r[0]) for r in live] != archived.column("seq").to_pylist() or \
                [str(r[1]) for r in live] != archived.column("row_hash").to_pylist():
            raise AuditError(f"the live heads {first:,}–{last:,} are not the ones archived in {written.folder.name} "
                             "(changed while it was written); nothing was removed; run python -m riskcore audit "
                             "verify")
        progress(0.85, f"removing heads {first:,}–{last:,} from the live trail")
        batches = select(h.batch_id).where(h.seq.between(first, last)).scalar_subquery()
        conn.execute(delete(audit_ids).where(audit_ids.c.batch_id.in_(batches)))
        conn.execute(delete(audit_segments).where(audit_segments.c.batch_id.in_(batches)))
        conn.execute(delete(audit_requests).where(h.seq.between(first, last)))
        last_ts = str(pq.read_table(written.folder / HEADS_FILE, columns=["ts"]).column("ts")[-1].as_py())
        conn.execute(insert(audit_anchors).values(
            seq=last, row_hash=written.last_hash, rows=written.last_rows, ts=last_ts, first_seq=first,
            archive=written.folder.name, digest=written.digest, archived=utc_now()))
        store.append_head(conn, tail, event_head(CustodyEvent(
            event="archived", actor=actor, first_seq=first, last_seq=last, rows=written.rows,
            last_hash=written.last_hash, digest=written.digest, folder=written.folder.name,
            window=f"before {before}")))
        progress(0.9, f"anchoring the live chain at head {last:,}")
    return last, written.last_hash


def _checkpoint(store: AuditStore) -> None:
    """SQLite: write the deletions' log back into the file and truncate it (the log grew by the rows deleted).

    Best effort: a reader in the middle of a transaction keeps the log, which the next checkpoint shortens.
    """
    if not store.is_sqlite:
        return
    try:
        raw = store.engine.raw_connection()
    except SQLAlchemyError:
        return
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    except sqlite3.Error:
        pass  # the archive is committed; the next checkpoint shortens the log
    finally:
        raw.close()


def _vacuum(store: AuditStore) -> None:
    """Give the removed rows' space back (SQLite) or make it reusable (PostgreSQL)."""
    with store.fail_closed("written"):
        if store.is_sqlite:
            raw = store.engine.raw_connection()
            try:
                cursor = raw.driver_connection.cursor()  # type: ignore[union-attr]
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
        else:
            with store.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in (audit_segments, audit_ids, audit_requests):
                    conn.exec_driver_sql(f"VACUUM ANALYZE {conn.dialect.identifier_preparer.format_table(table)}")


def verify_with_archives(store: AuditStore, folder: Path) -> VerifyResult:
    """The whole history: every archive from its files, chained from the first head to the anchor, then the live chain.

    Raises
    ------
    AuditError
        When the store cannot be read.
    """
    with store.reading() as conn:
        anchors = read_anchors(conn)
    live = verify_trail(store)
    problems: list[tuple[int, str]] = []
    prev_seq, prev_hash, prev_rows = 0, GENESIS_HASH, 0
    for a in anchors:
        path = folder / a.archive
        if not (path / MANIFEST).is_file():
            problems.append((a.first_seq, f"the archive {a.archive} (heads {a.first_seq:,}–{a.seq:,}) is not in "
                                          f"{folder}; put it back, or name the folder that holds it"))
        else:
            check = examine_export(path)
            if not check.ok:
                problems.append((a.first_seq, f"the archive {a.archive} fails verification: {check.message}"))
            elif check.digest != a.digest:
                problems.append((a.first_seq, f"the archive {a.archive} is not the one archived: its manifest's "
                                              "digest is not the one its anchor keeps"))
            elif (check.first_seq - 1, check.before_hash) != (prev_seq, prev_hash):
                problems.append((a.first_seq, f"the archive {a.archive} does not start where the one before it "
                                              f"ends (head {prev_seq:,})"))
            elif (check.last_seq, check.last_hash, check.last_rows) != (a.seq, a.row_hash, a.rows):
                problems.append((a.first_seq, f"the archive {a.archive} does not end at its anchor, head {a.seq:,}"))
        prev_seq, prev_hash, prev_rows = a.seq, a.row_hash, a.rows
    if not anchors:
        return VerifyResult(live.ok, live.rows, live.first_bad_seq, live.message + "; nothing was archived",
                            live.last_hash, live.request_id, live.row, live.requests, live.leftovers)
    if problems:
        seq, message = problems[0]
        more = f" (+{len(problems) - 1} more archive problem(s))" if len(problems) > 1 else ""
        return VerifyResult(False, prev_rows, seq, message + more, live.last_hash, None, None, live.requests,
                            live.leftovers, anchor_seq=live.anchor_seq)
    message = (f"{live.message}; {len(anchors)} archive(s) verified from their files, heads 1–{prev_seq:,} "
               f"({prev_rows:,} rows), chained to the anchor")
    return VerifyResult(live.ok, live.rows, live.first_bad_seq, message if live.ok else live.message,
                        live.last_hash, live.request_id, live.row, live.requests, live.leftovers,
                        anchor_seq=live.anchor_seq)


def check_against_trail(store: AuditStore, check: ExportCheck) -> ExportCheck:
    """An export verified offline, compared with the live trail: its last head's hash and the trail's custody record.

    The hash chain runs forward, so when the trail's head ``last_seq`` has the export's ``last_hash`` (and the
    trail verifies), every head of the export is the trail's. Returns ``check`` with ``trail`` saying what was
    found, and ``ok`` False when the trail's head differs.

    Raises
    ------
    AuditError
        When the store cannot be read.
    """
    seq = check.last_seq
    with store.reading() as conn:
        anchors = read_anchors(conn)
        found = head_at(conn, seq, anchors[-1] if anchors else None)
    covering = next((a for a in anchors if a.first_seq <= seq <= a.seq), None)
    same: bool | None = None
    if found is not None:
        same = found[0] == check.last_hash and found[1] == check.last_rows
        said = (f"the trail's head {seq:,} has the same hash: the export is the trail's" if same else
                f"the trail's head {seq:,} has the hash {found[0]} ({found[1]:,} rows through it), not the export's: "
                "the export is NOT the trail's")
    elif covering is not None:
        said = (f"head {seq:,} was archived into {covering.archive}; compare the export with that archive "
                f"(python -m riskcore audit verify --export ARCHIVES/{covering.archive}), whose digest the trail keeps")
    else:
        said = f"the trail has no head {seq:,}: the export is NOT the trail's"
        same = False
    records = [e for e in read_events(store, CustodyEvent) if e.digest == check.digest]
    if records:
        r = records[-1]
        said += f"; the trail recorded this folder ({r.event} by {r.actor} at {r.ts}, head {r.seq:,})"
    else:
        said += "; the trail holds no record of this manifest's digest"
    return replace(check, ok=check.ok and same is not False, trail=f"against the trail: {said}")
