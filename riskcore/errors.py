"""Exceptions raised by riskcore: one type per kind of problem, each with its exit status and HTTP status.

Every error a user can cause derives from :class:`RiskcoreError`; views (the
dashboard pages, the CLI, the API) catch that class and nothing broader, so
any other exception is a bug and surfaces as one. Each class carries the exit
status of the command line (``exit_status``) and the HTTP status of the API
(``http_status``); ``python -m riskcore`` and the API's exception handler read
those attributes, so the same problem gets the same status on every command
and every endpoint.

::

    RiskcoreError
    ├── DataFileError           a file that cannot be used as a table
    │   └── MissingColumnError  a required column (feature, target, exposure) is not in the file
    ├── SchemaError             invalid values; keeps a list of Problem
    │   └── MissingColumnError  (also a SchemaError: scoring raised that before)
    ├── ConfigError             a setting or option with an invalid value
    ├── ModelNotFoundError      no model to score with (e.g. no champion yet)
    ├── BundleError             a model bundle that is missing, tampered or unknown
    ├── LeakageError            a training run stopped by a failing leakage check
    ├── AuditError              the audit trail cannot be written or read (fail closed)
    ├── TrackingError           the experiment store cannot be reached or written
    └── ClusterError            the compute cluster cannot be reached or lost its workers mid-job

=======================  ===========================================  ====  ====
class                    kind of problem                              exit  HTTP
=======================  ===========================================  ====  ====
``DataFileError``        unusable file (empty, not a table, no rows)  2     422
``MissingColumnError``   a required column is not in the file         2     422
``SchemaError``          invalid values or rows                       2     422
``ConfigError``          bad settings (``riskcore.toml``, options)    3     500
``ModelNotFoundError``   no model to score with                       4     503
``BundleError``          the model bundle is missing or altered       4     503
``LeakageError``         training stopped by a leakage check          5     422
``AuditError``           the audit trail is unavailable               6     503
``TrackingError``        the experiment store is unavailable          6     503
``ClusterError``         the compute cluster is unavailable           6     503
=======================  ===========================================  ====  ====

Exit statuses that are not errors: 0 success, 1 the command ran and found
problems (rows rejected while scoring, a failing check, an altered audit
trail); argparse's own usage errors exit 2 like unusable input. In the API a
bad setting is the operator's, so it is a 500 whose details stay in the log,
and a per-company problem inside ``/predict_batch`` is reported in the 200
answer rather than raised.

``MissingColumnError`` derives from both ``DataFileError`` (what training
raised for a missing column) and ``SchemaError`` (what scoring raised, with
the column as a :class:`Problem`), so code that caught either still catches it.

Messages are for the person who sent the data, and quote the bad value so they
can fix it; logs are not. :func:`loggable` is what a log may say of an error:
a ``SchemaError`` by its columns and rules, any other by its ``log_message``
when its text quotes a value from the data, else by its text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "AuditError",
    "BundleError",
    "ClusterError",
    "ConfigError",
    "DataFileError",
    "LeakageError",
    "MissingColumnError",
    "ModelNotFoundError",
    "Problem",
    "RiskcoreError",
    "SchemaError",
    "TrackingError",
    "driver_message",
    "loggable",
]

@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as possible.

    ``row`` is the 1-based data row (the header is row 0) or ``None`` for a
    problem with a whole column or file; ``id`` is the row's key when known;
    ``check`` names the rule it breaks (see :mod:`riskcore.data.rules`), when one does.
    """

    row: int | None
    column: str | None
    value: Any
    problem: str
    id: str | None = None
    check: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.problem}" if prefix else self.problem

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form used by the reject report and the API."""
        return {
            "row": self.row,
            "id": self.id,
            "column": self.column,
            "value": _plain(self.value),
            "problem": self.problem,
        }


def _plain(value: Any) -> Any:
    """A JSON-safe form of a cell: strings, integers and finite floats as they are, anything else as its repr."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    return repr(value)


class RiskcoreError(Exception):
    """Base class of every error a user can cause and fix.

    Subclasses set ``exit_status`` (the command line's) and ``http_status``
    (the API's); the table in this module's docstring lists them.
    """

    exit_status: ClassVar[int] = 2
    http_status: ClassVar[int] = 422
    log_message: str | None = None
    """What a log shows instead of the message when the message quotes a value from the data (None: the message)."""


class SchemaError(RiskcoreError, ValueError):
    """Invalid values or columns; ``problems`` holds every one found."""

    exit_status: ClassVar[int] = 2
    http_status: ClassVar[int] = 422

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(None, None, None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        if len(self.problems) == 1:
            super().__init__(head)
        else:
            super().__init__(f"{len(self.problems)} problems: {head}{more}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every problem (a worker process raises it, the client shows it)."""
        return type(self), (self.problems,)


class DataFileError(RiskcoreError, ValueError):
    """The file cannot be used as a table (empty, not a CSV, no data rows)."""

    exit_status: ClassVar[int] = 2
    http_status: ClassVar[int] = 422


class MissingColumnError(SchemaError, DataFileError):
    """A column the command needs (a required feature, the target, the exposure) is not in the file.

    Parameters
    ----------
    columns : the missing column names, in the order they are reported.
    message : what is missing and what to do, shown to the user as it is.
    """

    exit_status: ClassVar[int] = 2
    http_status: ClassVar[int] = 422

    def __init__(self, columns: list[str] | tuple[str, ...] | str, message: str):
        self.columns: tuple[str, ...] = (columns,) if isinstance(columns, str) else tuple(columns)
        self.problems = [Problem(None, self.columns[0] if self.columns else None, None, message)]
        # the message as written, without SchemaError's "column 'x': " prefix: it names every column already
        Exception.__init__(self, message)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the columns and the message (a worker process raises it, the client shows it)."""
        return type(self), (self.columns, str(self))


class ConfigError(RiskcoreError, ValueError):
    """A setting (in ``riskcore.toml``, the environment or a command option) has an invalid value."""

    exit_status: ClassVar[int] = 3
    http_status: ClassVar[int] = 500


class ModelNotFoundError(RiskcoreError):
    """There is no model to score with."""

    exit_status: ClassVar[int] = 4
    http_status: ClassVar[int] = 503


class BundleError(RiskcoreError):
    """A model bundle is missing, incomplete, altered or of an unknown kind."""

    exit_status: ClassVar[int] = 4
    http_status: ClassVar[int] = 503


class LeakageError(RiskcoreError):
    """A leakage check failed, so the training run stopped."""

    exit_status: ClassVar[int] = 5
    http_status: ClassVar[int] = 422

    def __init__(self, message: str, findings: list[Any] | None = None):
        self.findings = list(findings or [])
        super().__init__(message)


class AuditError(RiskcoreError):
    """The audit trail cannot be written or read; no score may be returned."""

    exit_status: ClassVar[int] = 6
    http_status: ClassVar[int] = 503


class TrackingError(RiskcoreError):
    """The experiment tracking store cannot be reached or written."""

    exit_status: ClassVar[int] = 6
    http_status: ClassVar[int] = 503


class ClusterError(RiskcoreError):
    """The compute cluster (a Dask scheduler and its workers) cannot be reached, or lost a worker mid-job."""

    exit_status: ClassVar[int] = 6
    http_status: ClassVar[int] = 503


def driver_message(err: BaseException) -> str:
    r"""The first line of what a database driver said, under SQLAlchemy's wrapper (``err.orig``) if any.

    PostgreSQL adds DETAIL, CONTEXT and HINT lines that say nothing to the user; the first line names
    the problem.

    Examples
    --------
    >>> driver_message(ValueError('connection refused\nDETAIL:  is the server running?'))
    'connection refused'
    >>> driver_message(ValueError(''))
    'ValueError'
    """
    return (str(getattr(err, "orig", None) or err).strip().splitlines() or [type(err).__name__])[0]


def loggable(err: BaseException) -> str:
    """What a log may say of an error: its kind and where, never a value from the data.

    A :class:`SchemaError` is told by its number of problems, their columns and the rules they break (a
    problem with no value and no row key by its sentence); another :class:`RiskcoreError` by its
    ``log_message`` when it has one, else by its message; any other exception by its type only (its
    traceback goes to the log where it is caught, as a bug's).

    Examples
    --------
    >>> loggable(SchemaError([Problem(3, "roa", -9.0, "row 3: -9.0 is below the minimum -3", check="range")]))
    "SchemaError: 1 problem(s) in column(s) 'roa' (rules: range)"
    >>> loggable(SchemaError("the file has no data rows"))
    'SchemaError: the file has no data rows'
    """
    kind = type(err).__name__
    if isinstance(err, SchemaError) and not isinstance(err, MissingColumnError):
        told = [p.problem for p in err.problems if p.value is None and p.id is None and p.row is None
                and p.column is None]
        if len(told) == len(err.problems):
            return f"{kind}: " + "; ".join(told[:5])
        columns = sorted({p.column for p in err.problems if p.column})
        checks = sorted({p.check for p in err.problems if p.check})
        where = f" in column(s) {', '.join(map(repr, columns[:10]))}" if columns else ""
        rules = f" (rules: {', '.join(checks)})" if checks else ""
        return f"{kind}: {len(err.problems)} problem(s){where}{rules}"
    if isinstance(err, RiskcoreError):
        return f"{kind}: {err.log_message or err}"
    return kind
