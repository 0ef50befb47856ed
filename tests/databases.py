"""The database servers the audit and tracking tests run against: SQLite files, and PostgreSQL when one is given.

``RISKCORE_TEST_POSTGRES_URL`` names a PostgreSQL server whose role may create databases and roles
(``scripts/postgres start`` prints one; ``.ci/run`` starts one and sets it). Every test gets a database of
its own, dropped afterwards. Without the variable the PostgreSQL runs are skipped, unless
``RISKCORE_REQUIRE_POSTGRES=1`` (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("sqlite", "postgresql")
POSTGRES_ENV = "RISKCORE_TEST_POSTGRES_URL"


def postgres_server_url() -> str | None:
    """The PostgreSQL URL of the tests, or None (then the PostgreSQL runs skip, or fail on CI)."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if url:
        return url
    if os.environ.get("RISKCORE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"RISKCORE_REQUIRE_POSTGRES=1 but {POSTGRES_ENV} is not set: start a server with "
                    "scripts/postgres start and set the URL it prints")
    pytest.skip(f"no PostgreSQL server: set {POSTGRES_ENV} (scripts/postgres start prints one)")


def _driver_url(url: str, database: str | None = None) -> str:
    """The URL for psycopg itself: no SQLAlchemy driver name; another database when given."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


class Database:
    """One test's database: its SQLAlchemy ``url`` and raw SQL for tampering with what the product wrote.

    ``sql()`` takes ``?`` placeholders on both back ends, so a test reads the same either way.
    """

    def __init__(self, backend: str, url: str, *, path: Path | None = None, server_url: str | None = None,
                 name: str | None = None):
        self.backend = backend
        self.url = url
        self.path = path
        self._server_url = server_url
        self.name = name

    def __repr__(self) -> str:
        return f"Database({self.backend!r}, {self.url!r})"

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A raw driver connection (sqlite3 or psycopg), committed on success."""
        if self.is_postgres:
            import psycopg

            with psycopg.connect(_driver_url(self.url), autocommit=False) as conn:
                yield conn
        else:
            conn = sqlite3.connect(self.path)
            try:
                with conn:
                    yield conn
            finally:
                conn.close()

    def sql(self, statement: str, *params: object) -> list[tuple]:
        """Run one statement (``?`` placeholders) and return its rows (an empty list for none)."""
        if self.is_postgres and params:
            statement = statement.replace("%", "%%").replace("?", "%s")
        with self.connect() as conn:
            cursor = conn.execute(statement, params or None) if self.is_postgres else conn.execute(statement, params)
            rows = cursor.fetchall() if cursor.description is not None else []
        return [tuple(r) for r in rows]

    def refuse_inserts(self, table: str, message: str = "refused by trigger") -> None:
        """Make the database refuse every insert into ``table`` with ``message``."""
        if self.is_postgres:
            self.sql(f"CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS "
                     f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$")
            self.sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_{table}()")
        else:
            self.sql(f"CREATE TRIGGER refuse BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, '{message}'); END")

    def read_only_url(self) -> str:
        """A URL onto the same database that may read the audit tables but not write them."""
        if not self.is_postgres:
            return f"sqlite:///file:{self.path}?mode=ro&uri=true"
        from sqlalchemy.engine import make_url

        role = f"reader_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE ROLE {role} LOGIN PASSWORD 'reader'")
        self.sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        return make_url(self.url).set(username=role, password="reader").render_as_string(hide_password=False)

    def drop(self) -> None:
        if not self.is_postgres:
            return
        import psycopg

        with psycopg.connect(_driver_url(self._server_url or self.url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'reader\\_%'").fetchall():
                try:
                    conn.execute(f'DROP ROLE "{role}"')
                except psycopg.Error:
                    pass  # still owns something in another test's database


def new_database(backend: str, folder: Path, stem: str = "audit") -> Database:
    """A fresh, empty database on ``backend``: a SQLite file in ``folder``, or a new PostgreSQL database."""
    if backend == "sqlite":
        path = folder / f"{stem}.db"
        return Database("sqlite", f"sqlite:///{path}", path=path)
    server = postgres_server_url()
    assert server is not None
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"rc_{stem}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_driver_url(server, "postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as err:
        pytest.fail(f"the PostgreSQL server at {make_url(server).render_as_string()} cannot be used: {err}")
    url = make_url(server).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    return Database("postgresql", url, server_url=server, name=name)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database per test, on SQLite and again on PostgreSQL."""
    db = new_database(request.param, tmp_path)
    yield db
    db.drop()


@pytest.fixture
def postgres_database(tmp_path: Path) -> Iterator[Database]:
    """A fresh PostgreSQL database, for what only a server has (connections to drop, COPY, roles)."""
    db = new_database("postgresql", tmp_path)
    yield db
    db.drop()
