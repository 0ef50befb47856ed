"""The hand-rolled baseline of an audit export: the simplest script that writes the same scores as Parquet.

It reads the stored chunks of the requests recorded in a period straight from the audit database (SQLite's
``sqlite3``, or psycopg for PostgreSQL), decodes each Arrow stream and appends it to one Parquet file (zstd, as
the export) with the first chunk's schema. What it leaves out on purpose: the snapshot, the chain's checks
(head hashes, links, offsets, every chunk re-hashed against its head's digest), the head's columns on every row
(who, when, the model, the request), inputs whose types differ between requests, the heads and chunk tables,
the manifest and its digests, fsync, the custody record. That is the price ``audit_archive_bench.py`` measures.

    .venv/bin/python benchmarks/handrolled_audit_export.py --url sqlite:///FILE --since 2019-01-01 \\
        --until 2020-01-01 --out FILE.parquet
"""

from __future__ import annotations

import argparse
import sqlite3
import time

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from sqlalchemy.engine import make_url

QUERY = ("SELECT s.data FROM audit_segments s JOIN audit_requests h ON h.batch_id = s.batch_id "
         "WHERE h.ts >= {p} AND h.ts < {p} ORDER BY h.seq, s.chunk")


def _rows(url: str, since: str, until: str):
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database or "")
        try:
            yield from (r[0] for r in conn.execute(QUERY.format(p="?"), (since, until)))
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False)) as conn, \
            conn.cursor(name="chunks", binary=True) as cursor:
        cursor.execute(QUERY.format(p="%s"), (since, until))
        yield from (bytes(r[0]) for r in cursor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--since", required=True, help="UTC time as the trail writes it")
    parser.add_argument("--until", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    t0 = time.perf_counter()
    writer = None
    rows = 0
    for data in _rows(args.url, args.since, args.until):
        table = ipc.open_stream(pa.py_buffer(data)).read_all()
        if writer is None:
            writer = pq.ParquetWriter(args.out, table.schema, compression="zstd")
        writer.write_table(table.cast(writer.schema))
        rows += table.num_rows
    if writer is not None:
        writer.close()
    print(f"{rows} rows in {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
