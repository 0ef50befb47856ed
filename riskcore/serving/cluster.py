"""Reaching a Dask cluster, and finding the partitions of a portfolio that its workers read.

:func:`open_cluster` connects to a running scheduler (the same code runs on a
laptop, on Kubernetes, on YARN or a hosted service: only the address changes)
or starts a ``LocalCluster`` of worker processes on this machine, listening on
127.0.0.1 only. :func:`cluster_failures` turns what the cluster library raises
when a scheduler is unreachable or a worker dies into a
:class:`~riskcore.errors.ClusterError` whose message says what to do.
:func:`partition_files` lists the CSV and Parquet files a job reads, one task each.

``dask`` and ``distributed`` are imported inside the functions that use them, so
``import riskcore`` stays fast for the API.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from riskcore.errors import ClusterError, ConfigError, DataFileError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["PARTITION_SUFFIXES", "cluster_failures", "n_workers", "open_cluster", "partition_files"]

PARTITION_SUFFIXES = (".csv", ".parquet", ".pq")
"""File endings read as partitions of a folder or a glob; other files (``_SUCCESS``, ``.crc``) are skipped."""


@contextmanager
def open_cluster(scheduler: str | None = None, workers: int = 2, *, timeout: float = 30.0) -> Iterator[Client]:
    """A client of a Dask cluster: the one at ``scheduler``, or local worker processes started for the job.

    Parameters
    ----------
    scheduler : str, optional
        The scheduler's address (``tcp://HOST:PORT``). Without it a ``LocalCluster`` of ``workers`` processes
        with one thread each and no dashboard is started on 127.0.0.1, and closed when the block ends.
    workers : int
        Local worker processes to start (ignored with ``scheduler``).
    timeout : float
        Seconds to wait for the scheduler to answer.

    Yields
    ------
    distributed.Client

    Raises
    ------
    ConfigError
        When ``workers`` is below 1.
    ClusterError
        When no scheduler answers at the address, or the local workers cannot start.
    """
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"no Dask scheduler answered at {scheduler!r} within {timeout:g} s ({err}); check "
                               "the address (tcp://HOST:PORT) and that the scheduler is running, or leave out "
                               "--scheduler to start local workers") from None
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers!r}")
    try:
        # no dashboard; the scheduler's small HTTP server (health, metrics) on a free port of 127.0.0.1 only
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1", scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    except (OSError, TimeoutError) as err:
        raise ClusterError(f"the {workers} local Dask worker(s) could not start ({err}); try fewer with "
                           "--workers, or point --scheduler at a running cluster") from None
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def n_workers(client: Client) -> int:
    """Workers connected to the client's scheduler now."""
    return len(client.scheduler_info(n_workers=-1)["workers"])


@contextmanager
def cluster_failures(what: str, left: str = "nothing was recorded or written under the output name"
                     ) -> Iterator[None]:
    """Turn a lost worker or scheduler during ``what`` into a :class:`ClusterError` that says what to do.

    ``left`` says what the failed job left behind (for training: no model was saved or registered).

    Errors of riskcore raised by a task (an unusable partition, a missing column)
    pass unchanged: the cluster re-raises them on the client with their own message.
    """
    from distributed import TimeoutError as DaskTimeout
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as err:
        raise _died(what, left, err) from None
    except FutureCancelledError as err:
        if err.reason != "lost dependencies":
            raise _lost(what, left, err) from None
        # the only worker still holding the broadcast bundle died (Dask's memory manager may have dropped the
        # other copies): scattered data cannot be recomputed, so the scheduler cancels what needed it
        raise _died(what, left, err) from None
    except (CommClosedError, DaskTimeout, OSError) as err:
        raise _lost(what, left, err) from None


def _died(what: str, left: str, err: BaseException) -> ClusterError:
    """A worker died during ``what``."""
    return ClusterError(f"{what} stopped: a worker died while working on a partition ({err}); {left}. A worker "
                        "usually dies of too little memory: split the largest partitions or give the workers "
                        "more memory, then run the job again")


def _lost(what: str, left: str, err: BaseException) -> ClusterError:
    """The connection to the cluster was lost during ``what``."""
    return ClusterError(f"{what} stopped: the connection to the Dask cluster was lost ({type(err).__name__}: "
                        f"{err}); {left}; check that the scheduler and its workers are running, then run the "
                        "job again")


def partition_files(inputs: str | os.PathLike[str]) -> list[Path]:
    """The partitions of a portfolio, in a fixed order: one file, a folder's files, or a glob's matches.

    A folder is searched with its subfolders (``year=2024/part-0.parquet``); files whose name starts with
    ``_`` or ``.`` are skipped, like every Parquet reader does.

    Parameters
    ----------
    inputs : a CSV or Parquet file, a folder of them, or a glob pattern (``data/2024-*.csv``; ``**`` recurses).

    Returns
    -------
    list of Path, sorted by path.

    Raises
    ------
    DataFileError
        When nothing matches.
    """
    path = Path(inputs)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file()]
    else:
        found = [Path(p) for p in glob.glob(str(inputs), recursive=True) if Path(p).is_file()]
    parts = sorted(p for p in found if p.suffix.lower() in PARTITION_SUFFIXES
                   and not any(part.startswith(("_", ".")) for part in p.relative_to(path if path.is_dir()
                                                                                     else p.parent).parts))
    if not parts:
        raise DataFileError(f"no CSV or Parquet partitions found at {str(inputs)!r}; give a file, a folder of "
                            f"{', '.join(PARTITION_SUFFIXES)} files or a glob such as 'portfolio/*.parquet'")
    return parts
