"""Cached loaders and session choices shared by the pages.

Caching is a UI concern, so it lives here and nowhere else: ``st.cache_resource``
for the model bundle and the cost sweeps (shared, read-only), ``st.cache_data``
for frames and reports (hashed by their arguments, returned as copies), a short
``ttl`` for what other processes change (the MLflow store, the champion). Heavy
objects are passed with a leading underscore and keyed on something cheap and
explicit (the model version). ``st.session_state`` holds only the user's choices.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from riskcore.config import Costs, Settings, load_settings
from riskcore.costs import CostSweep
from riskcore.tracking import ChampionRef, Tracker

# session-state keys of the user's choices
COST_FN, COST_FP, COST_MODE, LGD, THRESHOLD = "cost_fn", "cost_fp", "cost_mode", "lgd", "threshold_override"


@st.cache_resource
def settings() -> Settings:
    """Settings read once per server process (riskcore.toml and the environment)."""
    return load_settings()


@st.cache_resource
def tracker() -> Tracker:
    """The MLflow tracker on the settings' store."""
    return Tracker.from_settings(settings())


@st.cache_data(ttl=10, show_spinner=False)
def champion_ref() -> ChampionRef | None:
    """The registry's champion (re-read every few seconds: another process may promote)."""
    return tracker().champion()


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def load_bundle(bundle_path: str, bundle_hash: str) -> Any:
    """A verified bundle; one per (path, hash), shared by every session."""
    from riskcore.bundle import load_bundle as _load

    return _load(bundle_path, expected_hash=bundle_hash or None)


def current_bundle() -> Any | None:
    """The champion's bundle, or ``None`` before the first model exists."""
    ref = champion_ref()
    if ref is None:
        return None
    return load_bundle(str(ref.bundle_path), ref.bundle_hash)


@st.cache_data(show_spinner=False)
def holdout(_bundle: Any, model_version: str) -> pd.DataFrame:
    """Validation and test rows of the model, with their scores."""
    return _bundle.holdout()


@st.cache_resource(max_entries=8, show_spinner=False)
def cost_sweep(_bundle: Any, model_version: str, part: str, exposure_mode: bool) -> CostSweep:
    """The sorted scores of one hold-out part, ready for instant re-costing."""
    from riskcore.reports import part as part_of

    rows = part_of(holdout(_bundle, model_version), part)
    exposure = None
    spec = _bundle.spec
    if exposure_mode and spec.exposure and spec.exposure in rows:
        exposure = rows[spec.exposure].fillna(0.0).to_numpy(dtype=float)
    return CostSweep(rows["y"].to_numpy(), rows["p_default"].to_numpy(), exposure)


def costs(bundle: Any) -> Costs:
    """The costs the user has chosen (defaults: the model's own)."""
    base = bundle.costs
    ss = st.session_state
    return replace(base, fn=float(ss.get(COST_FN, base.fn)), fp=float(ss.get(COST_FP, base.fp)),
                   mode=ss.get(COST_MODE, base.mode), lgd=float(ss.get(LGD, base.lgd)))


def threshold_override() -> float | None:
    """The manual cut-off, or ``None`` for the cost-optimal one."""
    value = st.session_state.get(THRESHOLD)
    return None if value is None else float(value)


def demo_data_path() -> Path:
    """Where the demo portfolio lives."""
    return Path(settings().data_dir) / "demo_portfolio.csv"


def training_data_path(bundle: Any) -> Path | None:
    """The file the model was trained on, when it is still there."""
    src = (bundle.metrics.get("data") or {}).get("source")
    path = Path(src) if src else demo_data_path()
    return path if path.exists() else None


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """A lock file in the state folder, so two sessions never train the first model twice."""
    home = Path(settings().home)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def clear_model_caches() -> None:
    """Forget cached champion lookups after a model was trained or promoted."""
    champion_ref.clear()
    runs.clear()


@st.cache_data(ttl=10, show_spinner=False)
def runs() -> pd.DataFrame:
    """Top-level MLflow runs, newest first."""
    return tracker().runs()


@st.cache_data(show_spinner="Checking the data…")
def quality_and_leakage(path: str, mtime: float) -> tuple[Any, Any, Any]:
    """Quality report, split and leakage report of a training file (cached per file version)."""
    from riskcore.leakage import run_leakage_checks
    from riskcore.quality import check_frame, clean_for_training, prepare_frame
    from riskcore.schema import DEMO_SPEC, extend_spec
    from riskcore.split import split_portfolio
    from riskcore.tabular import read_table

    table = read_table(path)
    spec = extend_spec(DEMO_SPEC, table.frame, decimal=table.info.decimal)
    prepared = prepare_frame(table, spec)
    report = check_frame(prepared)
    frame, _ = clean_for_training(prepared, report)
    y = frame[spec.target].to_numpy()
    split = split_portfolio(frame, y, time=spec.time, id=spec.id)
    leak = run_leakage_checks(frame, y, spec, split)
    summary = split.summary(y, frame[spec.id] if spec.id else None, frame[spec.time] if spec.time else None)
    return report, summary, leak
