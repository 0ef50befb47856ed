"""Session fixtures: one seed, a small seeded portfolio, an isolated state folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

SEED = 7

settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
settings.register_profile("dev", deadline=None, max_examples=20)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session writes its state (models, MLflow, audit) under a temporary folder."""
    home = tmp_path_factory.mktemp("riskcore_home")
    os.environ["RISKCORE_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RISKCORE_AUDIT_URL", None)
    return home


@pytest.fixture(scope="session")
def small_portfolio():
    """About 8,000 company-years: big enough for honest metrics, small enough for 2 cores."""
    from riskcore.synth import generate_portfolio

    return generate_portfolio(1500, seed=SEED)


@pytest.fixture(scope="session")
def default_portfolio():
    """The default demo portfolio (5,000 companies), generated once per session."""
    from riskcore.synth import generate_portfolio

    return generate_portfolio(5000, seed=SEED)


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory: pytest.TempPathFactory, small_portfolio) -> Path:
    """The small portfolio written as CSV."""
    from riskcore.tabular import write_csv

    path = tmp_path_factory.mktemp("data") / "demo.csv"
    write_csv(small_portfolio.frame, path)
    return path
