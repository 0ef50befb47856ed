"""One JSON file of records, private to its owner: re-read when it changes, written whole and atomically.

The users file and the API keys file are both kept this way. A reader sees the old file or the new one, never
half of one (the new text goes to a temporary file in the same folder, which replaces the old one); the file is
readable by its owner only (mode 0600); a running process notices another process's write on its next read
(the file's inode, modification time and size are compared at each read, which costs one ``stat``); and a
read-modify-write holds an exclusive lock on ``<file>.lock``, so two writers at once keep both changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["JsonFileStore", "write_private"]

_UNREAD = (-1, -1, -1)
_FORMAT = 1


def write_private(path: Path, text: str, what: str, error: Callable[[str], Exception]) -> None:
    """Write a file whole and atomically (a reader sees the old or the new one), readable by its owner only.

    Parameters
    ----------
    path : the file; its folder is created when missing.
    text : the whole content.
    what : the file's name in a message, e.g. ``"users file"``.
    error : the exception type raised with the message.

    Raises
    ------
    Exception
        ``error(message)`` when the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise error(f"cannot write the {what} {str(path)!r}: {err.strerror or err}; check that the state "
                    "folder (RISKCORE_HOME) is writable") from None


class JsonFileStore:
    """A list of records kept as ``{"format": 1, "<records>": [...]}`` in one private JSON file.

    Parameters
    ----------
    path : the file; it need not exist yet (no file: no records).
    records : the key of the list in the file (``"users"``, ``"keys"``).
    what : the file's name in messages (``"users file"``).
    error : the exception type of every problem with the file (the caller's, so its exit and HTTP statuses hold).
    repair : what to do with a file that cannot be read, for the message (``"restore it, or …"``).
    check : called on each record when the file is read; raises ``ValueError`` for a record that is not valid.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = JsonFileStore(pathlib.Path(tempfile.mkdtemp()) / "things.json", records="things", what="things file",
    ...                       error=ValueError, repair="remove it", check=lambda record: None)
    >>> with store.updating() as records:
    ...     store.write([*records, {"name": "a"}])
    >>> store.records()
    [{'name': 'a'}]
    """

    def __init__(self, path: str | os.PathLike[str], *, records: str, what: str, error: Callable[[str], Exception],
                 repair: str, check: Callable[[dict[str, Any]], None]):
        self.path = Path(path)
        self.what = what
        self._key = records
        self._error = error
        self._repair = repair
        self._check = check
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = _UNREAD
        self._records: list[dict[str, Any]] = []

    def _file_stamp(self) -> tuple[int, int, int] | None:
        """The file's inode, modification time and size, or ``None`` when it does not exist."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise self._error(f"cannot read the {self.what} {str(self.path)!r}: {err.strerror or err}") from None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def records(self) -> list[dict[str, Any]]:
        """The records, read again when the file changed since the last read (shared: copy one to change it).

        Raises
        ------
        Exception
            The store's ``error`` when the file exists but cannot be read, is not JSON, or holds an invalid record.
        """
        stamp = self._file_stamp()
        with self._lock:
            if stamp == self._stamp:
                return self._records
            records: list[dict[str, Any]] = []
            if stamp is not None:
                try:
                    records = [dict(r) for r in json.loads(self.path.read_text(encoding="utf-8"))[self._key]]
                    for record in records:
                        self._check(record)
                except (OSError, ValueError, KeyError, TypeError) as err:
                    raise self._error(f"the {self.what} {str(self.path)!r} cannot be read ({err}); {self._repair}") \
                        from None
            self._records, self._stamp = records, stamp
            return records

    def write(self, records: list[dict[str, Any]]) -> None:
        """Replace the file with ``records``, atomically and owner-only; the next read reads it again.

        Raises
        ------
        Exception
            The store's ``error`` when the file cannot be written.
        """
        write_private(self.path, json.dumps({"format": _FORMAT, self._key: records}, indent=1, sort_keys=True),
                      self.what, self._error)
        with self._lock:
            self._stamp = _UNREAD

    @contextmanager
    def updating(self) -> Iterator[list[dict[str, Any]]]:
        """Hold the file's lock for a read-modify-write and give the records read now (call :meth:`write` inside).

        Raises
        ------
        Exception
            The store's ``error`` when the lock file next to the file cannot be created.
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock_path, "w")
        except OSError as err:
            raise self._error(f"cannot write next to the {self.what} {str(self.path)!r}: {err.strerror or err}") \
                from None
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            with self._lock:
                self._stamp = _UNREAD  # read afresh under the lock: a change is never made to a stale copy
            try:
                yield self.records()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
