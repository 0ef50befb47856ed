"""Session fixtures: one seed, the shared model cache, a small seeded portfolio, an isolated state folder."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path

from riskcore.config import set_thread_defaults

set_thread_defaults()  # before any model library loads OpenMP

import pytest  # noqa: E402
from databases import database, postgres_database  # noqa: E402, F401  (the fixture: SQLite, and PostgreSQL when a server is given)
from hypothesis import settings  # noqa: E402
from models import SEED, SESSION_COMPANIES, ModelCache, State, cache_root, panel_runs, session_run  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_MAIN_MODULE = sys.modules["__main__"]


FILE_SECONDS = json.loads((Path(__file__).parent / "file_seconds.json").read_text(encoding="utf-8"))
"""Seconds each test file took, from a run with ``--durations=0`` (per file: setup, call and teardown summed).

Only their order matters: it decides which files the workers start first. A file not listed counts 0.3 s a test.
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files: those with slow tests first, the others after them, the longest first.

    pytest-xdist (``--dist loadfile --no-loadscope-reorder``, see pyproject.toml) hands the files to the two
    workers in this order, so the long integration files start at once and the short ones fill the end,
    instead of one worker running the team script alone while the other has finished. In each group the longest
    file goes first (tests/file_seconds.json), so the last files handed out are short ones: a file of two long
    tests (a first start, a report's PDF) does not come last for having few tests. A file's tests keep their order.
    """
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(path: str) -> tuple[bool, float]:
        tests = files[path]
        slow = any(t.get_closest_marker("slow") for t in tests)
        return not slow, -FILE_SECONDS.get(path, 0.3 * len(tests))

    items[:] = [item for path in sorted(files, key=weight) for item in files[path]]


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Put pytest's ``__main__`` back after every test.

    Streamlit's script runner (AppTest) installs the page script as ``__main__``;
    a process started later with the ``spawn`` method would run the whole dashboard
    script again before doing its work (the audit trail's concurrency test hung on it).
    """
    yield
    sys.modules["__main__"] = _MAIN_MODULE


def _without_fsync(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        try:
            dbapi_connection.execute("PRAGMA synchronous = OFF")
        except sqlite3.DatabaseError:
            pass  # not a database: what opened it finds out, and says so, as it would have


@pytest.fixture(scope="session", autouse=True)
def _sqlite_files_without_fsync():
    """The SQLite files the tests open (MLflow's stores, audit trails) are not flushed to disk at each commit.

    MLflow makes a new store by committing its ~70 schema migrations one by one, and logs a run in a dozen
    more commits; each waits for the disk (seconds per store on a busy machine). What a test can observe is
    the same: a commit is still atomic and seen by every other connection and process; only a crash of the
    operating system could lose it. Processes the tests start (the command line, servers) keep the default.
    """
    event.listen(Engine, "connect", _without_fsync)
    yield
    event.remove(Engine, "connect", _without_fsync)


def _migrated_mlflow_store(path: Path) -> None:
    """An empty MLflow SQLite store at ``path``: MLflow's tables, made by MLflow's own migrations."""
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry

    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_sqlalchemy_engine_with_retry("sqlite:///" + str(path))
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def _has_no_table(path: str) -> bool:
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False  # not a database: MLflow finds out, and says so, as it would have


@pytest.fixture(autouse=True)
def _mlflow_sqlite_stores_from_one_migration(model_cache: ModelCache) -> None:
    """A new MLflow SQLite store starts as a copy of one that MLflow migrated once per test run.

    MLflow makes a new store by running its ~70 schema migrations one by one (seconds per store; some forty
    tests make one). Once a test has loaded MLflow's store code, each later empty SQLite store is given the
    tables of a store migrated once (the file lock of tests/models.py), with SQLite's backup; MLflow then
    finds its tables at the latest revision and carries on as with any store: the default experiment, runs,
    the registry. PostgreSQL stores, the processes the tests start and stores that are not empty are left
    to MLflow.
    """
    utils = sys.modules.get("mlflow.store.db.utils")
    if utils is None or getattr(utils._initialize_tables, "copies_a_template", False):
        return
    migrate = utils._initialize_tables
    template = str(model_cache.file("mlflow/empty-store.db", _migrated_mlflow_store))

    def initialize(engine) -> None:
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:") or not _has_no_table(path):
            migrate(engine)
            return
        source, dest = sqlite3.connect(template), sqlite3.connect(path)
        try:
            source.backup(dest)
        finally:
            source.close()
            dest.close()

    initialize.copies_a_template = True  # type: ignore[attr-defined]
    utils._initialize_tables = initialize


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session writes its state (models, MLflow, audit) under a temporary folder."""
    home = tmp_path_factory.mktemp("riskcore_home")
    os.environ["RISKCORE_HOME"] = str(home)
    os.environ["RISKCORE_JOB_WORKERS"] = "0"  # a test that needs a worker starts one itself
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RISKCORE_AUDIT_URL", None)
    return home


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    """Portfolios, models and state folders made once per test run, shared by the workers (tests/models.py)."""
    return ModelCache(cache_root(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def small_portfolio(model_cache: ModelCache):
    """About 8,000 company-years: big enough for honest metrics, small enough for 2 cores."""
    return model_cache.portfolio(SESSION_COMPANIES, seed=SEED)


@pytest.fixture(scope="session")
def default_portfolio():
    """The default demo portfolio (5,000 companies), generated once per session."""
    from riskcore.data.synth import generate_portfolio

    return generate_portfolio(5000, seed=SEED)


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory: pytest.TempPathFactory, small_portfolio) -> Path:
    """The small portfolio written as CSV."""
    from riskcore.data.tabular import write_csv

    path = tmp_path_factory.mktemp("data") / "demo.csv"
    write_csv(small_portfolio.frame, path)
    return path


def _session_champion(model_cache: ModelCache) -> State:
    """A folder with an MLflow SQLite store (``mlflow.db``, ``artifacts``) and the quick run registered in it."""
    from riskcore.modelling.tracking import Tracker

    def make(folder: Path) -> dict:
        store = Tracker("sqlite:///" + str(folder / "mlflow.db"), folder / "artifacts")
        return {"champion": session_run(model_cache).register(store, folder / "models")}

    return model_cache.state("session-champion", make)


@pytest.fixture(scope="session")
def _session_store(model_cache: ModelCache, tmp_path_factory: pytest.TempPathFactory) -> State:
    """This worker's copy of the session champion's store: its tests may log and move versions in it."""
    return _session_champion(model_cache).copy_to(tmp_path_factory.mktemp("mlflow") / "store")


@pytest.fixture(scope="session")
def tracker(_session_store: State):
    """An MLflow tracker on a SQLite store of its own, holding the quick run (the champion)."""
    from riskcore.modelling.tracking import Tracker

    root = _session_store.folder
    return Tracker("sqlite:///" + str(root / "mlflow.db"), root / "artifacts")


@pytest.fixture(scope="session")
def quick_training(_session_store: State):
    """One quick training run on the small portfolio, logged and registered (the champion)."""
    return _session_store.results["champion"]


@pytest.fixture(scope="session")
def quick_bundle(quick_training):
    """The bundle of the quick training run, loaded and verified."""
    from riskcore.modelling.bundle import load_bundle

    return load_bundle(quick_training.bundle_dir)


@pytest.fixture(scope="session")
def lgbm_bundle(model_cache: ModelCache, tmp_path_factory):
    """A LightGBM bundle (the boosters have their own scoring and explanation paths): the panel's challenger."""
    from riskcore.modelling.bundle import load_bundle

    run = panel_runs(model_cache)["challenger"]
    return load_bundle(run.copy_to(tmp_path_factory.mktemp("models_lgbm")).bundle_dir)
