"""The known-truth demo portfolio on disk: the panel, its manifest and its later years, each file atomic.

``python -m riskcore demo-data`` and the dashboard's first start write the demo through
:func:`write_demo_data`, so a reader (a second dashboard session, the API) never sees half a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from riskcore.data.synth import Manifest, generate_portfolio
from riskcore.data.tabular import write_csv
from riskcore.modelling.features import with_history_features

__all__ = ["DemoFiles", "write_demo_data"]


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
