"""Exceptions raised by riskcore.

Every error a user can cause derives from :class:`RiskcoreError`; views (the
dashboard pages, the CLI, the API) catch that class and nothing broader, so
any other exception is a bug and surfaces as one.

::

    RiskcoreError
    ├── SchemaError          invalid values or columns; keeps a list of Problem
    ├── DataFileError        a file that cannot be read as a table at all
    ├── LeakageError         a training run stopped by a failing leakage check
    ├── BundleError          a model bundle that is missing, tampered or unknown
    ├── ModelNotFoundError   no model to score with (e.g. no champion yet)
    ├── TrackingError        the experiment store cannot be reached or written
    ├── AuditError           the audit trail cannot be written (fail closed)
    └── ConfigError          a setting with an invalid value
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AuditError",
    "BundleError",
    "ConfigError",
    "DataFileError",
    "LeakageError",
    "ModelNotFoundError",
    "Problem",
    "RiskcoreError",
    "SchemaError",
    "TrackingError",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as possible.

    ``row`` is the 1-based data row (the header is row 0) or ``None`` for a
    problem with a whole column or file; ``id`` is the row's key when known.
    """

    row: int | None
    column: str | None
    value: Any
    problem: str
    id: str | None = None

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
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    return repr(value)


class RiskcoreError(Exception):
    """Base class of every error a user can cause and fix."""


class SchemaError(RiskcoreError, ValueError):
    """Invalid values or columns; ``problems`` holds every one found."""

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


class DataFileError(RiskcoreError, ValueError):
    """The file cannot be used as a table (empty, not a CSV, no target column)."""


class LeakageError(RiskcoreError):
    """A leakage check failed, so the training run stopped."""

    def __init__(self, message: str, findings: list[Any] | None = None):
        self.findings = list(findings or [])
        super().__init__(message)


class BundleError(RiskcoreError):
    """A model bundle is missing, incomplete, altered or of an unknown kind."""


class ModelNotFoundError(RiskcoreError):
    """There is no model to score with."""


class TrackingError(RiskcoreError):
    """The experiment tracking store cannot be reached or written."""


class AuditError(RiskcoreError):
    """The audit trail cannot be written or read; no score may be returned."""


class ConfigError(RiskcoreError, ValueError):
    """A setting has an invalid value."""
