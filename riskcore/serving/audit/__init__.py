"""The append-only audit trail: every score from the CLI, the dashboard and the API.

Design
------
A request (one API call, one CLI run, one dashboard upload) is stored in three
tables (SQLAlchemy Core; a SQLite file by default, any SQLAlchemy URL works):

``audit_requests``
    One *head* row per committed request: seq (1, 2, ...), ts, request_id,
    batch_id (internal, unique), caller, source, model_version, bundle_hash,
    row_offset (scores recorded before this request), n_rows, n_chunks,
    columns (the input names), digest, prev_hash and row_hash. Heads are
    chained: ``row_hash = sha256(prev_hash + "|" + compact JSON of every other
    column)``; the first head's ``prev_hash`` is 64 zeros.
``audit_segments``
    The scores themselves, one row per chunk of a request: an Arrow IPC
    stream (LZ4) with the columns row (1-based within the request),
    company_id, p_default, decision, grade, reasons (codes joined with
    ``"; "``), fingerprint, and one ``input:<name>`` column per model input
    (numbers, text, booleans, missing values; anything else as canonical JSON
    text). Nothing is serialised per row in Python. An input that names a
    person or their contact details (a company name, an e-mail address; see
    :class:`Redaction`) is stored only as ``hmac-sha256:<key id>:<hex>``, a
    salted hash whose salt is kept outside the database, and so is the
    company id when its column is redacted.
``audit_ids``
    A narrow lookup index (company_id, batch_id, chunk), one row per distinct
    company of a chunk, so a company's scores are found without a scan. It is
    derived data, not evidence: :meth:`AuditLog.find` re-reads the chunk and
    keeps only the rows of that company.

The score of trail position ``seq`` is row ``seq - row_offset`` of its
request; ``recent()`` and ``find()`` report that position as ``seq``.

Hashes: each chunk has a SHA-256 over its canonical *columnar* bytes (for
each column its name, kind, validity and values; text as lengths plus bytes)
and the head's ``digest`` is a SHA-256 over the request's chunk hashes, so
``verify()`` re-hashes about 400 MB/s per core with a handful of hashlib calls
per chunk. To *name* an altered row, every row also carries a 64-bit
fingerprint of its row number and values (splitmix64 over the columns,
computed with NumPy for the whole chunk). Fingerprints only localise: detection
rests on the SHA-256 digests, so a forger who crafts a fingerprint collision
(or rewrites the fingerprints) is still caught, and the message then names the
request and its rows instead of one row.

Writing: :meth:`AuditLog.batch` returns an :class:`AuditBatch`. ``add()``
validates a chunk (vectorised) and stores the previous one in its own short
transaction, marked as *staged* (``audit_staged``); ``commit()`` takes the
chain lock, stores the last chunk, checks that every chunk is still there and
appends the head, all in one transaction. Rows without a committed head are
not part of the trail: ``recent``, ``count`` and ``find`` never see them.
``abort()`` removes them; a process killed mid-job leaves them behind, and the
next writer removes staged rows untouched for ``stale_after_minutes``.
:meth:`AuditLog.verify` reports such leftovers without failing (``ok`` stays
True), because a crash must not make the trail fail verification forever.
:meth:`AuditLog.record` is one batch with one chunk, written in one
transaction together with its head.

Writes fail closed: when anything cannot be stored, ``add()``, ``commit()``
and ``record()`` raise :class:`~riskcore.errors.AuditError` and nothing of
that request is visible; the caller must not return the scores. SQLite runs
in WAL mode with a busy timeout; writers use ``BEGIN IMMEDIATE``. Other
databases take ``LOCK TABLE audit_requests IN SHARE ROW EXCLUSIVE MODE``
before reading the chain head, so two writers never chain onto the same head.

Threat model
------------
``verify()`` detects any change to a stored input or output, a deleted,
reordered or added row, a removed chunk and a deleted, edited or re-linked
head, made by someone who does not recompute the hashes. Someone who can
write to the database and knows this format can rewrite the newest requests
consistently, and deleting the newest heads leaves a shorter, intact chain
(their scores then count as leftovers); keep :attr:`VerifyResult.last_hash`
and ``rows`` somewhere else from time to time to anchor the chain against
both. ``audit_ids`` is not covered by the hashes: deleting its rows hides a
company from ``find()`` but cannot make it return a score that is not in the
trail.

Exports and archives
--------------------
:meth:`AuditLog.export` writes the heads of a period with their scores as
Parquet, with a manifest naming the head before the first and the last with
their hashes; :func:`examine_export` recomputes every hash of such a folder
without the database and names each row edited, deleted or added. An export
proves the folder is what the trail held up to its last head; comparing that
head's hash with the live trail (:meth:`AuditLog.compare_export`) rules out a
folder forged whole. :meth:`AuditLog.archive` moves the oldest requests into
such a folder and removes them from the database in one transaction, leaving
an anchor (``audit_anchors``: the last archived head and its hash) from which
``verify()`` checks the live chain; ``verify(archives=FOLDER)`` checks the
whole history.

Layout
------
The modules are private; this package's ``__all__`` is the interface. They
import one way, from the bottom up:

``_tables`` (what is stored), ``_driver`` (what differs per database), ``_hashing``, ``_redaction``
    The columns and constants, URLs and SQLite's locking and psycopg's COPY and
    binary reads, the hashes and fingerprints, the inputs stored only as salted
    hashes and their salt.
``_store``
    :class:`AuditStore`, the database behind a small public interface: a
    connection for one read (``reading``) or one write (``writing``), the chain
    lock and tail (``lock_and_tail``) and ``append_head``, fail-closed errors,
    table creation, and the clean-up of stale staged requests.
``_records``, ``_batch``, ``_events`` (``_ledger``, ``_access``, ``_provisions``), ``_reading``, ``_verify``
    What the trail accepts; a request written chunk by chunk; events without
    rows (:class:`ChainedEvent`: the ledger's moves and signatures,
    :class:`ModelMove`, the access events, :class:`AccessEvent`, and the provisions runs,
    :class:`ProvisionRecord`); reading
    scores back (``_origination``: each company's first scored year, for many companies at once); verifying
    the chain.
    Each uses the store's interface only.
``_anchor``, ``_custody``
    Where the live chain starts once older requests were archived (below the
    store, whose tail falls back on it); the record of an export or archive.
``_folder``, ``_export``, ``_examine``, ``_archive``
    The export folder's format; writing a stretch of the trail into one;
    verifying one from its files alone; archiving, and verifying with the
    archives.
``_log``
    :class:`AuditLog`, the façade that composes them.
``_jobs``
    :class:`JobQueue`, durable jobs in the same database: claimed atomically by any number of workers,
    held by a renewed lease, retried when their worker dies; :class:`JobEvent`, what a job did that stays on
    record in the chain (a run of the retraining loop, files deleted after their keeping time).
``_rates``
    :class:`RateBuckets`, the API's per-key request rates as token buckets in the same database, so
    every worker and every host share one limit.
``_deliveries``
    :class:`DeliveryLog`, the alerts delivered to people (webhooks, e-mail) with their outcome, and what keeps
    a repeated alert from being sent on every run, in the same database.
"""

from riskcore.serving.audit._access import AccessEvent, AccessEventKind
from riskcore.serving.audit._archive import AuditArchive
from riskcore.serving.audit._batch import AuditBatch, AuditPart
from riskcore.serving.audit._custody import CUSTODY_EVENTS, CustodyEvent, CustodyEventKind
from riskcore.serving.audit._deliveries import Delivery, DeliveryLog, DeliveryState
from riskcore.serving.audit._events import ChainedEvent, EventHead
from riskcore.serving.audit._examine import ExportCheck, Finding, FindingKind, examine_export
from riskcore.serving.audit._export import AuditExport
from riskcore.serving.audit._jobs import FINISHED, Job, JobEvent, JobEventKind, JobQueue, JobState
from riskcore.serving.audit._ledger import MOVES, ModelEvent, ModelMove
from riskcore.serving.audit._log import AuditLog, FoundScores
from riskcore.serving.audit._provisions import ProvisionRecord
from riskcore.serving.audit._rates import RateBuckets
from riskcore.serving.audit._records import AuditRecord
from riskcore.serving.audit._redaction import HASH_PREFIX, SALT_ENV, Redaction, salt_file
from riskcore.serving.audit._store import Appended, AuditStore, ChainTail, HeadFields
from riskcore.serving.audit._tables import (
    DECISIONS,
    FIND_COLUMNS,
    GENESIS_HASH,
    REASON_SEPARATOR,
    RECENT_COLUMNS,
    SOURCES,
    Decision,
    Source,
)
from riskcore.serving.audit._verify import VerifyResult

__all__ = [
    "CUSTODY_EVENTS",
    "DECISIONS",
    "FIND_COLUMNS",
    "FINISHED",
    "GENESIS_HASH",
    "HASH_PREFIX",
    "MOVES",
    "REASON_SEPARATOR",
    "RECENT_COLUMNS",
    "SALT_ENV",
    "SOURCES",
    "AccessEvent",
    "AccessEventKind",
    "Appended",
    "AuditArchive",
    "AuditBatch",
    "AuditExport",
    "AuditLog",
    "AuditPart",
    "AuditRecord",
    "AuditStore",
    "ChainTail",
    "ChainedEvent",
    "CustodyEvent",
    "CustodyEventKind",
    "Decision",
    "Delivery",
    "DeliveryLog",
    "DeliveryState",
    "EventHead",
    "ExportCheck",
    "Finding",
    "FindingKind",
    "FoundScores",
    "HeadFields",
    "Job",
    "JobEvent",
    "JobEventKind",
    "JobQueue",
    "JobState",
    "ModelEvent",
    "ModelMove",
    "ProvisionRecord",
    "RateBuckets",
    "Redaction",
    "Source",
    "VerifyResult",
    "examine_export",
    "salt_file",
]
