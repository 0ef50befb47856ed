"""The hand-rolled baseline of the audit trail on PostgreSQL: the simplest script that stores the same scores.

psycopg 3 connects, creates a plain table (company_id, p_default, decision,
grade; no key, no index), and one ``COPY … FROM STDIN`` writes the narrow
outputs row by row with ``write_row``, in one transaction. It is the same job
the SQLite baseline of ``audit_bench.py`` does with one ``executemany``. What it
leaves out on purpose: the model inputs, validation, hashes and fingerprints,
the chain lock and the company index; that is the price the benchmark measures.

    .venv/bin/python benchmarks/handrolled_audit_pg.py --url postgresql://USER:PASSWORD@HOST:PORT/DB [--rows 1000000]

It writes into a table of its own (dropped afterwards) and prints the rows per second.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence

from sqlalchemy.engine import make_url


def driver_url(url: str, database: str | None = None) -> str:
    """The URL for psycopg itself (no SQLAlchemy driver name), onto another database when given."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def copy_outputs(url: str, table: str, company_ids: Sequence[str], p_default: Sequence[float],
                 decision: Sequence[str], grade: Sequence[str]) -> float:
    """Create ``table`` and COPY the four output columns into it in one transaction; returns the seconds taken."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(driver_url(url)) as conn:  # one transaction, committed when the block ends
        conn.execute(f'CREATE TABLE "{table}" (company_id TEXT, p_default DOUBLE PRECISION, decision TEXT, '
                     "grade TEXT)")
        with conn.cursor() as cursor, cursor.copy(f'COPY "{table}" FROM STDIN') as copy:
            for values in zip(company_ids, p_default, decision, grade, strict=True):
                copy.write_row(values)
    return time.perf_counter() - t0


def drop_table(url: str, table: str) -> None:
    """Remove a baseline table from a database that outlives the benchmark."""
    import psycopg

    with psycopg.connect(driver_url(url), autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="a PostgreSQL database URL whose role may create tables")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    n = args.rows
    ids = [f"C{i % (n // 10 or 1):07d}" for i in range(n)]
    p = [(i * 7919 % n) / n for i in range(n)]
    decision = ["refer" if x > 0.8 else "accept" for x in p]
    grade = [f"G{int(x * 10)}" for x in p]
    table = f"bench_plain_{uuid.uuid4().hex[:12]}"
    try:
        seconds = copy_outputs(args.url, table, ids, p, decision, grade)
    finally:
        drop_table(args.url, table)
    print(f"COPY of {n:,} rows (4 columns, one transaction, no index): {seconds:.3f} s, {n / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
