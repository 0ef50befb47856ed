"""What every command shares: exit statuses, printing, the model named by ``--model``, the engine options."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from riskcore.config import Settings
    from riskcore.modelling.bundle import ModelBundle

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "bundle_from_arg", "engine_arguments", "say"]

# statuses of a command that ran; an error's status is its class's ``exit_status``
EXIT_OK, EXIT_PROBLEMS, EXIT_INTERRUPTED = 0, 1, 130


def say(*parts: object) -> None:
    """Print a line of a command's report at once (a long command's lines appear as they happen)."""
    print(*parts, flush=True)


def bundle_from_arg(model: str, settings: Settings) -> ModelBundle:
    """The bundle named by --model: a folder, or the registry's champion."""
    from riskcore.workflows import open_model

    return open_model(model, settings)


def engine_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """``--engine local|dask``, ``--scheduler``, ``--workers`` of the commands that can run on a cluster."""
    p.add_argument("--engine", choices=("local", "dask"), default="local", help=f"dask: run on a Dask cluster; {what}")
    p.add_argument("--scheduler", help="with --engine dask: an existing cluster's scheduler, tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=2,
                   help="with --engine dask and no --scheduler: local worker processes to start (default 2)")
