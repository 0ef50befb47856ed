"""Trained models, generated portfolios and state folders the tests share, each made once per test run.

Training is what makes the suite slow, and many test modules want the same few models (:func:`panel_runs`: a
quick logistic champion and a LightGBM challenger on 800 demo companies; :func:`session_run`: the session's
champion on 1,500, which the first-start home of the page and browser tests takes too). Whichever test,
in whichever pytest-xdist worker, asks for one first makes it, under a file lock, in a folder all the workers
of the run share (``tmp_path_factory.getbasetemp().parent``, as pytest-xdist's documentation shows); the
others wait for it and read it. A model is found by a hash of what made it: the data (its content), the
spec, the training configuration (its seed included) and the other arguments of ``train``.

What the cache holds is read, never changed. A test that changes a bundle, a registry or an audit trail
works on its own copy: :meth:`Trained.copy_to` (a bundle folder), :meth:`Trained.register` (a bundle logged
and registered in the test's MLflow store, as ``train`` does it) and :meth:`State.copy_to` (a whole state
folder). MLflow's SQLite store keeps absolute paths (the experiment's artifact location, each run's
artifact URI, each registered version's source and ``bundle_path`` tag), so a copied state has them
rewritten to the copy; a PostgreSQL store gets the cached runs logged and registered again instead.

The quick training configurations of the tests are written here once: :func:`quick` and
:data:`SESSION_CONFIG`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from riskcore.config import Settings, TrainingConfig, load_settings
from riskcore.data.schema import DEMO_SPEC, DatasetSpec
from riskcore.data.synth import Portfolio, generate_portfolio
from riskcore.lifecycle import DEMO_LATER_YEARS, monitor_demo_years
from riskcore.modelling.bundle import ModelBundle, load_bundle
from riskcore.modelling.demo import demo_later_paths, write_demo_data
from riskcore.modelling.publish import log_to_tracker
from riskcore.modelling.tracking import Tracker
from riskcore.modelling.train import TrainingResult, train

__all__ = ["CHALLENGER_TRAINER", "PANEL_COMPANIES", "QUICK", "SCORECARD_COMPANIES", "SEED", "SESSION_COMPANIES",
           "SESSION_CONFIG", "ModelCache", "State", "Trained", "cache_root", "champion_and_challenger", "copy_state",
           "demo_panel", "first_start_home", "panel_runs", "quick", "scorecard_home", "scorecard_run", "session_run"]

SEED = 7

QUICK = {"n_iter": 1, "cv_folds": 2, "n_bootstrap": 200}
"""The tests' quick search: one configuration per candidate, two folds, 200 bootstrap draws."""

SESSION_CONFIG = TrainingConfig.quick(n_bootstrap=300)
"""The session's champion: the quick profile as users run it (two candidates, three folds)."""

SESSION_COMPANIES = 1500
"""The demo portfolio of the session's champion (and of the first-start home): about 8,000 company-years."""

PANEL_COMPANIES = 800
"""The demo panel the champion and challenger tests share (with two later years, for monitoring)."""

SCORECARD_COMPANIES = 500
"""The demo portfolio of the points scorecard (``train --candidates scorecard``): the smallest that trains cleanly."""


def quick(*candidates: str, **changes: Any) -> TrainingConfig:
    """The quick profile with the tests' search (:data:`QUICK`), on ``candidates`` when given."""
    if candidates:
        changes["candidates"] = candidates
    return TrainingConfig.quick(**{**QUICK, **changes})


def cache_root(basetemp: Path) -> Path:
    """The folder every worker of this test run shares (pytest-xdist's workers have one base folder each)."""
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    return shared / "shared-models"


# ---------------------------------------------------------------------------
# what a run made, and where it is
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Trained:
    """A cached training run: its result (the bundle inside the cache) and what it gave MLflow."""

    result: TrainingResult
    logged: dict[str, Any]

    @property
    def model_version(self) -> str:
        """The run's model version (``logistic-2026…``)."""
        return self.result.model_version

    def bundle(self) -> ModelBundle:
        """The cached bundle, loaded and verified (to read only; copy it to change it)."""
        return load_bundle(self.result.bundle_dir)

    def copy_to(self, models_dir: Path) -> TrainingResult:
        """The bundle copied to ``models_dir / <version>``: the run's result, pointing at the copy."""
        dest = Path(models_dir) / self.result.model_version
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.result.bundle_dir, dest)
        return replace(self.result, bundle_dir=dest)

    def register(self, tracker: Tracker, models_dir: Path, *, promote: bool | None = None) -> TrainingResult:
        """The bundle copied to ``models_dir``, logged and registered in ``tracker`` as ``train`` does it.

        ``promote=None`` makes it the champion only when the registry has none yet, as in ``train``.
        """
        copied = self.copy_to(models_dir)
        found = log_to_tracker(tracker, bundle=load_bundle(copied.bundle_dir), bundle_dir=copied.bundle_dir,
                               promote=promote, **self.logged)
        return replace(copied, run_id=found.run_id, registry_version=found.registry_version,
                       promoted=found.promoted)


class _Recorder:
    """Takes the tracker's place in a cached run: keeps what ``train`` logs, for a test's store later."""

    def __init__(self) -> None:
        self.logged: dict[str, Any] = {}

    def log_run(self, *, run_name: str, params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str],
                candidates: list[dict[str, Any]], bundle_dir: Path, summary: str = "") -> str:
        self.logged = {"version": tags["model_version"], "kind": tags["model_kind"], "params": params,
                       "metrics": metrics, "candidates": candidates, "summary": summary}
        return "recorded"

    def register(self, **_: Any) -> str:
        return "recorded"

    def champion(self) -> None:
        return None

    def set_champion(self, registry_version: str) -> None:
        pass


@dataclass(frozen=True)
class State:
    """A state folder (a ``RISKCORE_HOME``, or any folder with an MLflow SQLite store) and the runs made in it."""

    folder: Path
    results: dict[str, TrainingResult]

    def copy_to(self, dest: Path) -> State:
        """The folder copied to ``dest`` (its MLflow store's paths rewritten), the results pointing at the copy."""
        copy_state(self.folder, dest)
        moved = {name: replace(r, bundle_dir=dest / r.bundle_dir.relative_to(self.folder))
                 for name, r in self.results.items()}
        return State(dest, moved)


def copy_state(source: Path, dest: Path) -> None:
    """Copy a state folder; in each MLflow SQLite store in it, every path under ``source`` now names ``dest``."""
    shutil.copytree(source, dest)
    for db in dest.rglob("*.db"):
        _rewrite_paths(db, f"{source}/", f"{dest}/")


def _rewrite_paths(db: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in every text column of an MLflow SQLite store (other databases are left)."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            if "experiments" not in tables or "alembic_version" not in tables:
                return
            for table in tables:
                for column in conn.execute(f'PRAGMA table_info("{table}")'):
                    name, kind = column[1], str(column[2]).upper()
                    if kind and not any(t in kind for t in ("CHAR", "TEXT", "CLOB")):
                        continue
                    conn.execute(f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                                 f'WHERE instr("{name}", ?) > 0', (old, new, old))
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------

@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing): one process at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest(*parts: Any) -> str:
    """A short hash of frames (by content and column types) and other values (by ``repr``)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, pd.DataFrame):
            h.update(pd.util.hash_pandas_object(part, index=True).to_numpy().tobytes())
            h.update(repr([(str(c), str(t)) for c, t in part.dtypes.items()]).encode())
        else:
            h.update(repr(part).encode())
        h.update(b"\x00")
    return h.hexdigest()[:24]


def _dump(value: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)


def _load(path: Path) -> Any:
    return pickle.loads(path.read_bytes())


class ModelCache:
    """Portfolios, trained models and state folders, each made once per test run in ``root``.

    Every value read from the cache is a fresh object (unpickled again), so a test may change the frames
    it gets; bundles and state folders are read in place and copied to be changed.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _once(self, name: str, make: Callable[[Path], None]) -> Path:
        """``root / name``, made by ``make(path)`` by the first caller while the others wait for it."""
        target = self.root / name
        done = target.with_name(target.name + ".done")
        if done.exists():
            return target
        with _locked(self.root / "locks" / f"{name.replace('/', '-')}.lock"):
            if not done.exists():
                if target.is_dir():
                    shutil.rmtree(target)  # left by a maker that failed
                make(target)
                done.touch()
        return target

    def file(self, name: str, make: Callable[[Path], None]) -> Path:
        """``root / name``, a file or folder made once per test run by ``make(path)`` (read it, never change it)."""
        return self._once(name, make)

    def portfolio(self, companies: int, *, seed: int = SEED, later_years: int = 0) -> Portfolio:
        """``generate_portfolio(companies, seed=seed, later_years=later_years)``, generated once."""
        path = self._once(f"portfolios/demo-{companies}-{seed}-{later_years}.pkl", lambda p: _dump(
            generate_portfolio(companies, seed=seed, later_years=later_years), p))
        value: Portfolio = _load(path)
        return value

    def train(self, frame: pd.DataFrame, config: TrainingConfig, *, spec: DatasetSpec = DEMO_SPEC,
              **options: Any) -> Trained:
        """``train(frame, spec, config=config, **options)``, run once; ``options`` are ``train``'s others.

        The bundle is written to the cache's one models folder, so two cached runs never share a version.
        """
        options = {k: v for k, v in options.items() if v is not None}  # train's defaults
        key = _digest(frame, spec, config, sorted(options.items()))

        def make(path: Path) -> None:
            recorder = _Recorder()
            result = train(frame, spec, config=config, models_dir=self.root / "models", tracker=recorder,
                           **options)
            kept = replace(result, run_id=None, registry_version=None, promoted=False)
            _dump(Trained(kept, recorder.logged), path)

        value: Trained = _load(self._once(f"trained/{key}.pkl", make))
        return value

    def state(self, name: str, make: Callable[[Path], dict[str, TrainingResult]]) -> State:
        """A state folder made once by ``make(folder)``, which returns the runs it made by name.

        ``name`` must say everything ``make`` does: it is the cache's key. Read the state in place only
        when no test changes it; otherwise take a copy (:meth:`State.copy_to`).
        """

        def build(path: Path) -> None:
            folder = path.with_suffix("")
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            _dump(State(folder, make(folder)), path)

        value: State = _load(self._once(f"states/{name}.pkl", build))
        return value


# ---------------------------------------------------------------------------
# the models and states several modules share
# ---------------------------------------------------------------------------

def demo_panel(cache: ModelCache) -> Portfolio:
    """The demo portfolio of :data:`PANEL_COMPANIES` companies and its two later years (``Portfolio.later``)."""
    return cache.portfolio(PANEL_COMPANIES, seed=SEED, later_years=2)


CHALLENGER_TRAINER = "dashboard:alice"
"""Who trained the panel's LightGBM challenger (:func:`panel_runs`), recorded with it: she may not promote it."""


def panel_runs(cache: ModelCache) -> dict[str, Trained]:
    """The two quick runs on :func:`demo_panel` that modules share, each trained once per test run.

    ``champion``: logistic; ``challenger``: LightGBM, trained by :data:`CHALLENGER_TRAINER`.
    """
    frame = demo_panel(cache).frame
    return {"champion": cache.train(frame, quick("logistic")),
            "challenger": cache.train(frame, quick("lightgbm"), trained_by=CHALLENGER_TRAINER)}


def champion_and_challenger(cache: ModelCache) -> State:
    """A state folder (a ``RISKCORE_HOME``) with the two versions of :func:`panel_runs`.

    Results ``champion`` (logistic, registry version 1, the champion) and ``challenger`` (LightGBM,
    registry version 2, not promoted; trained by :data:`CHALLENGER_TRAINER`). Copy it to change it.
    """
    runs = panel_runs(cache)

    def make(home: Path) -> dict[str, TrainingResult]:
        settings = Settings(home=home)
        tracker = Tracker.from_settings(settings)
        return {name: run.register(tracker, settings.models_dir) for name, run in runs.items()}

    return cache.state("home-" + "-".join(run.model_version for run in runs.values()), make)


def session_run(cache: ModelCache) -> Trained:
    """The session's champion: :data:`SESSION_CONFIG` on the demo of :data:`SESSION_COMPANIES` companies."""
    return cache.train(cache.portfolio(SESSION_COMPANIES).frame, SESSION_CONFIG)


def first_start_home(cache: ModelCache) -> State:
    """A ``RISKCORE_HOME`` as the dashboard's first start leaves it, and a second (logistic) run logged next to it.

    What the first start (``riskcore.lifecycle.first_start``) does, with the session's champion instead of a
    training of its own: the demo of :data:`SESSION_COMPANIES` companies and its later years written to the data
    folder (``write_demo_data``), a champion trained on those companies with the quick profile
    (:func:`session_run`) registered and promoted, those years monitored (``monitor_demo_years``), so the
    monitoring page has a history; then a quick logistic run on the same companies, not promoted, so the
    training-runs page has a run to switch to and a model to promote (it passes the promotion gate against the
    champion). tests/app/test_first_start.py runs the first start itself. Results ``champion`` and ``second``.
    The page tests and the browser tests share it (each copies it). Copy it to change it.
    """
    runs = {"champion": session_run(cache),
            "second": cache.train(cache.portfolio(SESSION_COMPANIES).frame, quick("logistic"))}

    def make(home: Path) -> dict[str, TrainingResult]:
        settings = load_settings(env={"RISKCORE_HOME": str(home)})
        write_demo_data(settings.data_dir / "demo_portfolio.csv", companies=SESSION_COMPANIES, seed=SEED,
                        later_years=DEMO_LATER_YEARS, later_paths=demo_later_paths(settings))
        tracker = Tracker.from_settings(settings)
        champion = runs["champion"].register(tracker, settings.models_dir, promote=True)
        monitor_demo_years(settings, load_bundle(champion.bundle_dir))
        return {"champion": champion, "second": runs["second"].register(tracker, settings.models_dir, promote=False)}

    return cache.state("first-start-" + "-".join(run.model_version for run in runs.values()), make)


def scorecard_run(cache: ModelCache) -> Trained:
    """A points scorecard (``train --quick --candidates scorecard``) on :data:`SCORECARD_COMPANIES` companies.

    Its two cross-validation fits run in this process: worker processes would each import optbinning first.
    """
    return cache.train(cache.portfolio(SCORECARD_COMPANIES).frame, quick("scorecard", n_jobs=1))


def scorecard_home(cache: ModelCache) -> State:
    """A ``RISKCORE_HOME`` whose champion is :func:`scorecard_run` (result ``champion``). Copy it to change it."""
    run = scorecard_run(cache)

    def make(home: Path) -> dict[str, TrainingResult]:
        settings = Settings(home=home)
        return {"champion": run.register(Tracker.from_settings(settings), settings.models_dir)}

    return cache.state("home-" + run.model_version, make)
