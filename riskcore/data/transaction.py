"""All or nothing: a ``with`` block that commits on success and aborts on an exception.

A scored file (:class:`riskcore.data.writing.TableWriter`) and an audit request
(:class:`riskcore.serving.audit.AuditBatch`) are both written piece by piece and
must appear whole or not at all. Both say so the same way: used in a ``with``
block they commit when the block ends normally and abort when it raises, and
the exception propagates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

__all__ = ["CommitOrAbort"]


class CommitOrAbort(ABC):
    """Mixin for a write that becomes visible only when committed.

    Subclasses define :meth:`commit` (make the write visible) and :meth:`abort`
    (throw it away); ``with`` then commits on a clean exit and aborts on an
    exception, which is re-raised.
    """

    @abstractmethod
    def commit(self) -> Any:
        """Make everything written so far visible at once."""

    @abstractmethod
    def abort(self) -> None:
        """Throw away everything written so far."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
