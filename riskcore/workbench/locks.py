"""Locks in the state folder: one promotion at a time and one first training, whichever face asks.

A lock is a file under the settings' ``home`` held with ``flock``: it serialises the command line,
the API and every dashboard session on one host, across processes. The registry itself is not
locked (MLflow has no lock), so two hosts that share a registry must also share the state folder
for this to hold across them.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

__all__ = ["LockName", "state_lock"]

LockName = Literal["promotion", "training", "monitoring"]
_THREAD_LOCKS: dict[str, threading.Lock] = {name: threading.Lock() for name in get_args(LockName)}


@contextmanager
def state_lock(home: str | Path, name: LockName) -> Iterator[None]:
    """Hold the lock ``name`` of the state folder ``home`` (other processes and threads wait).

    Parameters
    ----------
    home : the state folder (``Settings.home``); created when missing.
    name : ``promotion`` (a promotion or rollback of the champion), ``training`` (the first model) or
        ``monitoring`` (one monitoring run written to the history at a time).

    Examples
    --------
    >>> import tempfile
    >>> with state_lock(tempfile.mkdtemp(), "promotion"):
    ...     pass
    """
    folder = Path(home)
    folder.mkdir(parents=True, exist_ok=True)
    # flock is per open file: two threads of one process each open the file, so a thread lock goes first
    with _THREAD_LOCKS[name], open(folder / f"{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
