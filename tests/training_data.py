"""A small company panel with a known signal, for testing the stages of a training run one at a time.

Four fiscal years of 400 companies: two numeric drivers, one categorical one and
a column of noise; about one company-year in eight defaults. Small enough that a
stage runs in a second or two, big enough for an out-of-time split and folds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from models import ModelCache, quick

from riskcore.data.infer import infer_spec
from riskcore.data.schema import DatasetSpec

__all__ = ["calibrated_run", "later_years_model", "small_panel"]


def small_panel(n_companies: int = 400, years: int = 4, seed: int = 3) -> tuple[pd.DataFrame, DatasetSpec]:
    """The panel frame and its spec.

    Columns ``company_id``, ``fiscal_year``, ``x1``, ``x2``, ``grade``, ``noise`` and ``default``.
    """
    rng = np.random.default_rng(seed)
    n = n_companies * years
    ids = np.repeat([f"C{i:04d}" for i in range(n_companies)], years)
    year = np.tile(np.arange(2020, 2020 + years), n_companies)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    grade = rng.choice(["A", "B", "C"], n)
    log_odds = -2.2 + 1.3 * x1 - 0.9 * x2 + np.where(grade == "C", 0.9, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-log_odds))).astype(int)
    frame = pd.DataFrame({"company_id": ids, "fiscal_year": year, "x1": x1, "x2": x2, "grade": grade,
                          "noise": rng.normal(size=n), "default": y})
    return frame, infer_spec(frame, target="default", id="company_id", time="fiscal_year")


def calibrated_run(frame: pd.DataFrame, spec: DatasetSpec, config: Any) -> dict[str, Any]:
    """The stages of a training run up to the calibrated model, each result under its stage's name."""
    from riskcore.config import Costs
    from riskcore.modelling import stages
    from riskcore.modelling.leakage import LeakageReport
    from riskcore.progress import no_progress

    data = stages.prepare_data(frame, spec, Costs(), None)
    split, spec = stages.split_data(data.frame, data.y, spec, config)
    parts = stages.split_parts(data.frame, data.y, split)
    found = stages.search(parts, spec, config, no_progress)
    pipeline = stages.refit(found.chosen, parts, spec, config, LeakageReport(findings=[]))
    calibrated = stages.calibrate(pipeline, found.chosen, found.rows.y, parts, config)
    return {"data": data, "split": split, "spec": spec, "parts": parts, "search": found, "pipeline": pipeline,
            "calibrated": calibrated}


def later_years_model(cache: ModelCache, folder: Path, n_companies: int, later_years: int,
                      seed: int) -> tuple[Any, Any]:
    """A quick logistic model trained on the demo panel, and the demo's later years (``Portfolio.later``).

    The model a monitoring test watches: trained once per test run on ``n_companies`` companies
    (tests/models.py), its bundle copied under ``folder / "models"``.
    """
    portfolio = cache.portfolio(n_companies, seed=seed, later_years=later_years)
    result = cache.train(portfolio.frame, quick("logistic")).copy_to(folder / "models")
    return result, portfolio
