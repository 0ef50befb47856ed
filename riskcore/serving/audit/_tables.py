"""The audit trail's tables and constants: what is stored and how it is spelt (see :mod:`riskcore.serving.audit`).

The bottom of the package: every other module reads these; this one imports none of them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final, Literal, get_args

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    event,
)

__all__ = ["DECISIONS", "FIND_COLUMNS", "FORMAT", "GENESIS_HASH", "HEADS_PAGE", "HEAD_COLUMNS", "HEAD_JSON",
           "INPUTS_JSON", "INPUT_PREFIX", "MAX_TEXT", "REASON_SEPARATOR", "RECENT_COLUMNS", "ROW_REQUEST_COLUMNS",
           "SOURCES", "Decision", "Source", "audit_ids", "audit_requests", "audit_segments", "audit_staged", "metadata",
           "utc_now"]

Source = Literal["cli", "dashboard", "api", "shadow"]
Decision = Literal["accept", "refer"]
SOURCES: Final[tuple[str, ...]] = get_args(Source)
DECISIONS: Final[tuple[str, ...]] = get_args(Decision)

GENESIS_HASH: Final = "0" * 64
RECENT_COLUMNS: Final = (
    "seq", "ts", "request_id", "caller", "source", "model_version", "bundle_hash", "company_id",
    "p_default", "decision", "grade", "reasons", "input_hash",
)
FIND_COLUMNS: Final = (*RECENT_COLUMNS, "inputs")
REASON_SEPARATOR: Final = "; "
MAX_TEXT: Final = 255  # the width of the short text columns, checked up front so every backend behaves alike
INPUT_PREFIX: Final = "input:"  # the stored name of a model input's column
HEADS_PAGE = 256  # heads read per query when paging through the chain (read at call time: tests lower it)
ROW_REQUEST_COLUMNS: Final = ("request_id", "caller")
"""Stored per row in the chunk of a head that records several requests answered together (the API's groups):
each row's own request id and caller, which readers take instead of the head's."""
FORMAT: Final = "riskcore-audit-v2"  # the first words of every chunk hash and request digest

metadata = MetaData()
audit_requests = Table(
    "audit_requests",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("ts", String(40), nullable=False),
    Column("request_id", String(MAX_TEXT), nullable=False, index=True),
    Column("batch_id", String(32), nullable=False, unique=True),
    Column("caller", String(MAX_TEXT), nullable=False),
    Column("source", String(16), nullable=False),
    Column("model_version", String(MAX_TEXT), nullable=False),
    Column("bundle_hash", String(MAX_TEXT), nullable=False),
    Column("row_offset", BigInteger(), nullable=False),
    Column("n_rows", BigInteger(), nullable=False),
    Column("n_chunks", Integer(), nullable=False),
    Column("columns", Text(), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
)
audit_segments = Table(
    "audit_segments",
    metadata,
    Column("batch_id", String(32), primary_key=True),
    Column("chunk", Integer(), primary_key=True, autoincrement=False),
    Column("first_row", BigInteger(), nullable=False),
    Column("n_rows", BigInteger(), nullable=False),
    Column("created", String(40), nullable=False),
    Column("data", LargeBinary(), nullable=False),
)
# The chunks are already compressed (LZ4): PostgreSQL's TOAST would try to compress each one again with
# pglz and fail, at a cost of half the write time. EXTERNAL stores them out of line without that attempt.
event.listen(audit_segments, "after_create",
             DDL("ALTER TABLE %(fullname)s ALTER COLUMN data SET STORAGE EXTERNAL").execute_if(dialect="postgresql"))
audit_ids = Table(
    "audit_ids",
    metadata,
    Column("company_id", String(MAX_TEXT), primary_key=True),
    Column("batch_id", String(32), primary_key=True),
    Column("chunk", Integer(), primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
audit_staged = Table(
    "audit_staged",
    metadata,
    Column("batch_id", String(32), primary_key=True),
    Column("request_id", String(MAX_TEXT), nullable=False),
    Column("touched", String(40), nullable=False),
)
# a head's columns in stored order, all but its own hash: what the hash covers
HEAD_COLUMNS: Final = tuple(c.name for c in audit_requests.columns if c.name != "row_hash")
if HEAD_COLUMNS[-1] != "prev_hash":  # the head hash relies on it
    raise RuntimeError("audit_requests must list prev_hash just before row_hash")

INPUTS_JSON: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
HEAD_JSON: Final = json.JSONEncoder(separators=(",", ":"), default=repr)  # default=repr: verify() survives odd types


def utc_now() -> str:
    """The time now, as every stored time is written: UTC, ISO 8601, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
