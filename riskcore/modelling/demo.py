"""The known-truth demo portfolio on disk, and the first model trained on it.

``python -m riskcore demo-data`` and the dashboard's first start (:func:`train_demo`) write the demo
through :func:`write_demo_data`: the panel, its manifest and its later years, each file atomically,
so a reader (a second dashboard session, the API) never sees half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskcore.config import Profile, Settings, TrainingConfig
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.synth import Manifest, generate_portfolio
from riskcore.data.tabular import read_table, write_csv
from riskcore.modelling.features import with_history_features
from riskcore.modelling.result import TrainingResult
from riskcore.modelling.tracking import Tracker
from riskcore.modelling.train import train
from riskcore.progress import Progress, no_progress

__all__ = ["DemoFiles", "demo_later_paths", "train_demo", "write_demo_data"]


@dataclass(frozen=True)
class DemoFiles:
    """What :func:`write_demo_data` wrote: the portfolio, its manifest, and the later years with their outcomes."""

    portfolio: Path
    manifest_path: Path
    manifest: Manifest
    later: Path | None = None
    later_outcomes: Path | None = None
    later_rows: int = 0
    changes: tuple[dict[str, object], ...] = ()


def _atomic_csv(frame: pd.DataFrame, target: Path) -> None:
    """Write a CSV next to its target and rename it onto it: a reader never sees half a file."""
    tmp = target.with_name(target.name + ".tmp")
    write_csv(frame, tmp)
    tmp.replace(target)


def write_demo_data(out: str | os.PathLike[str], *, companies: int = 5000, seed: int = 7,
                    default_rate: float = 0.06, later_years: int = 0, write_panel: bool = True,
                    later_paths: tuple[Path, Path] | None = None) -> DemoFiles:
    """Generate the known-truth demo portfolio and write it with its manifest, each file atomically.

    Parameters
    ----------
    out : the portfolio's CSV file; the manifest goes next to it as ``<name>.manifest.json``.
    companies, seed, default_rate : the generator's size, seed and target default rate.
    later_years : also write this many fiscal years after the training panel (without outcomes, with the
        year-on-year features of the whole history, as a lender's export would have them) and their outcomes.
    write_panel : write the portfolio and its manifest (``False``: only the later years, for a panel on disk).
    later_paths : where the later years and their outcomes go (default ``<stem>.later.csv`` and
        ``<stem>.later_outcomes.csv`` next to ``out``).

    Returns
    -------
    DemoFiles
    """
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    portfolio = generate_portfolio(companies, seed=seed, default_rate=default_rate, later_years=later_years)
    manifest_path = path.with_name(path.name + ".manifest.json")
    later = outcomes = None
    rows: int = 0
    changes: tuple[dict[str, object], ...] = ()
    if portfolio.later is not None:
        later, outcomes = later_paths or (path.with_name(path.stem + ".later.csv"),
                                          path.with_name(path.stem + ".later_outcomes.csv"))
        _atomic_csv(with_history_features(portfolio.frame, portfolio.later.frame, portfolio.spec), later)
        _atomic_csv(portfolio.later.outcomes, outcomes)
        rows, changes = len(portfolio.later.frame), tuple(portfolio.later.changes)
    if write_panel:
        manifest_path.write_text(portfolio.manifest.to_json(), encoding="utf-8")
        _atomic_csv(portfolio.frame, path)
    return DemoFiles(path, manifest_path, portfolio.manifest, later, outcomes, rows, changes)


def train_demo(settings: Settings, *, profile: Profile = "quick", progress: Progress = no_progress,
               n_companies: int | None = None, seed: int = 7, later_years: int = 0) -> TrainingResult:
    """Generate the demo portfolio (when missing), train on it, register and promote the model.

    This is the dashboard's first start. The CSV and its manifest are written to
    ``settings.data_dir``; the model is logged to the settings' MLflow store. With
    ``later_years`` the years after the training panel are written too (see
    :func:`demo_later_paths`), for the monitoring history of the first start.
    """
    path = Path(settings.data_dir) / "demo_portfolio.csv"
    manifest = path.with_name(path.name + ".manifest.json")
    later_missing = later_years > 0 and not all(p.exists() for p in demo_later_paths(settings))
    if not path.exists():
        progress(0.0, "generating the demo portfolio")
        write_demo_data(path, companies=n_companies or settings.demo_companies, seed=seed, later_years=later_years,
                        later_paths=demo_later_paths(settings))
    elif later_missing and manifest.exists():
        # the later years continue the panel on disk: the same companies and seed
        m = Manifest.from_json(manifest.read_text(encoding="utf-8"))
        progress(0.0, "generating the demo's later years")
        write_demo_data(path, companies=m.n_companies, seed=m.seed, later_years=later_years, write_panel=False,
                        later_paths=demo_later_paths(settings))
    table = read_table(path)

    def scaled(fraction: float, message: str) -> None:
        progress(0.05 + 0.95 * fraction, message)

    config = TrainingConfig.for_profile(profile, random_state=seed, grading=settings.grading)
    return train(table, DEMO_SPEC, config=config,
                 costs=settings.costs, models_dir=settings.models_dir, tracker=Tracker.from_settings(settings),
                 progress=scaled, promote=True, source=str(path))


def demo_later_paths(settings: Settings) -> tuple[Path, Path]:
    """Where the demo's later years go: the portfolio scored later, and the outcomes that followed."""
    folder = Path(settings.data_dir)
    return folder / "demo_portfolio.later.csv", folder / "demo_portfolio.later_outcomes.csv"

