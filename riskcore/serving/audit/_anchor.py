"""Where the live chain starts once its oldest requests were archived: one anchor per archive.

An archive (:mod:`riskcore.serving.audit._archive`) moves the oldest heads of the trail, with their chunks, into a
verified Parquet folder and removes them from the database. What stays is an *anchor*: a row of
``audit_anchors`` holding the last archived head's position, hash and row count (the next live head links to
that hash), the archive's folder name and its manifest's digest. ``verify()`` starts the live chain there;
the writers chain onto it when every live head was archived. The table is made by the first archive, apart
from the trail's own tables, so a store that was never archived (or is opened read-only) never needs it.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import BigInteger, Column, MetaData, String, Table, inspect, select
from sqlalchemy.engine import Connection

from riskcore.serving.audit._tables import MAX_TEXT

__all__ = ["Anchor", "audit_anchors", "latest_anchor", "read_anchors"]

_metadata = MetaData()
audit_anchors = Table(
    "audit_anchors",
    _metadata,
    Column("seq", BigInteger(), primary_key=True, autoincrement=False),  # the last archived head
    Column("row_hash", String(64), nullable=False),  # its hash: the first live head's prev_hash
    Column("rows", BigInteger(), nullable=False),  # scores recorded through it (the next row_offset)
    Column("ts", String(40), nullable=False),  # its time
    Column("first_seq", BigInteger(), nullable=False),  # the archive's first head
    Column("archive", String(MAX_TEXT), nullable=False),  # the archive's folder name
    Column("digest", String(64), nullable=False),  # the archive manifest's digest
    Column("archived", String(40), nullable=False),  # when it was archived
)


class Anchor(NamedTuple):
    """One archive's end, as the live database keeps it."""

    seq: int
    row_hash: str
    rows: int
    ts: str
    first_seq: int
    archive: str
    digest: str
    archived: str


def read_anchors(conn: Connection) -> list[Anchor]:
    """Every anchor, oldest archive first; none when nothing was ever archived."""
    if not inspect(conn).has_table(audit_anchors.name):
        return []
    a = audit_anchors.c
    found = conn.execute(select(a.seq, a.row_hash, a.rows, a.ts, a.first_seq, a.archive, a.digest, a.archived)
                         .order_by(a.seq)).all()
    return [Anchor(int(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6]), str(r[7]))
            for r in found]


def latest_anchor(conn: Connection) -> Anchor | None:
    """The newest anchor (where the live chain starts), or None when nothing was archived."""
    anchors = read_anchors(conn)
    return anchors[-1] if anchors else None
