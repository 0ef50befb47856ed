"""What every command shares: exit statuses, printing, a file's roles, the costs and cluster options."""

from __future__ import annotations

import argparse
from dataclasses import replace

from riskcore.config import Costs
from riskcore.workbench import Cluster, DataRoles

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "add_role_options", "cluster_from_args", "costs_from_args",
           "engine_arguments", "roles_from_args", "say"]

# statuses of a command that ran; an error's status is its class's ``exit_status``
EXIT_OK, EXIT_PROBLEMS, EXIT_INTERRUPTED = 0, 1, 130


def say(*parts: object) -> None:
    """Print a line of a command's report at once (a long command's lines appear as they happen)."""
    print(*parts, flush=True)


def add_role_options(p: argparse.ArgumentParser, *, target_default: str | None = None) -> None:
    """``--target``, ``--positive``, ``--id``, ``--time``, ``--segment``, ``--exposure``, ``--drop``, ``--feature``."""
    p.add_argument("--target", default=target_default,
                   help="the 0/1 (or two-label) outcome column; the demo layout is recognised without it")
    p.add_argument("--positive", help="the target label that means default, when it is not 0/1 or true/false")
    p.add_argument("--id", dest="id_col", help="company id column (default: the row number)")
    p.add_argument("--time", dest="time_col", help="fiscal year or date column (enables the out-of-time split)")
    p.add_argument("--segment", help="segment column used for breakdowns (e.g. sector)")
    p.add_argument("--exposure", help="exposure-at-default column (money)")
    p.add_argument("--drop", nargs="*", default=[], metavar="COL", help="columns to leave out of the features")
    p.add_argument("--feature", dest="features", nargs="*", default=[], metavar="COL",
                   help="columns to use as features even when they look like identifiers (a number unique per row, "
                        "or one that rises with the time column), which are otherwise left out with a note")


def roles_from_args(args: argparse.Namespace) -> DataRoles:
    """The file's roles named on the command line (``--target``, ``--id``, …); none for the demo layout."""
    return DataRoles(target=getattr(args, "target", None), positive=getattr(args, "positive", None),
                     id=getattr(args, "id_col", None), time=getattr(args, "time_col", None),
                     segment=getattr(args, "segment", None), exposure=getattr(args, "exposure", None),
                     drop=tuple(getattr(args, "drop", None) or ()),
                     features=tuple(getattr(args, "features", None) or ()))


def costs_from_args(args: argparse.Namespace, costs: Costs) -> Costs:
    """``costs`` with the command's --cost-fn, --cost-fp, --lgd and --cost-mode applied."""
    changes = {k: v for k, v in (("fn", args.cost_fn), ("fp", args.cost_fp), ("lgd", args.lgd),
                                  ("mode", args.cost_mode)) if v is not None}
    return replace(costs, **changes) if changes else costs


def engine_arguments(p: argparse.ArgumentParser, what: str) -> None:
    """``--engine local|dask``, ``--scheduler``, ``--workers`` of the commands that can run on a cluster."""
    p.add_argument("--engine", choices=("local", "dask"), default="local", help=f"dask: run on a Dask cluster; {what}")
    p.add_argument("--scheduler", help="with --engine dask: an existing cluster's scheduler, tcp://HOST:PORT")
    p.add_argument("--workers", type=int, default=2,
                   help="with --engine dask and no --scheduler: local worker processes to start (default 2)")


def cluster_from_args(args: argparse.Namespace) -> Cluster | None:
    """Where the job runs: ``None`` here, or the Dask cluster of ``--engine dask``."""
    if getattr(args, "engine", "local") != "dask":
        return None
    return Cluster(scheduler=args.scheduler, workers=args.workers)
