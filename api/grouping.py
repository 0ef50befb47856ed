"""Requests that arrive together are handled together: adaptive grouping, as model servers batch requests.

A :class:`Grouper` takes items from the request handlers (``await grouper.submit(item)``) and runs them in
groups on one worker thread (``process(items) -> outcomes``, one outcome per item: its answer, or the
exception to raise for it). While a group runs, the requests that arrive wait for the next one, so under
load a group holds every request that came in meanwhile, and a lone request is never held back by one
that is still running.

Before it starts a group the grouper may wait for more: at most ``wait_s`` seconds, and only while
requests of its kind have arrived in the process and not yet been submitted (:meth:`Grouper.arriving`,
counted by the :class:`CountArrivals` middleware as soon as a request comes in, before its body is read).
A lone request (no other on its way) therefore starts at once; under load a group waits at most
``wait_s`` for the requests being read, or until ``max_items`` wait.

Each event loop has its own queue (a test client may run one loop per request); the outcome of an item is
handed to the loop that submitted it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["CountArrivals", "Grouper", "submitted"]

log = logging.getLogger("api")

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Queue(Generic[T, R]):
    """One event loop's waiting items, its arrivals on their way and whether a group is running."""

    pending: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    arriving: int = 0
    running: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Grouper(Generic[T, R]):
    """Run submitted items in groups on one worker thread (see the module docstring).

    Parameters
    ----------
    process : ``process(items) -> outcomes``; an outcome that is an exception is raised for its item. When
        ``process`` itself raises, every item of the group gets that exception.
    wait_s : the longest a group waits for requests on their way before it starts (0: never waits).
    max_items : the most items in one group.
    name : the worker thread's name.
    """

    def __init__(self, process: Callable[[list[T]], Sequence[R | BaseException]], *, wait_s: float, max_items: int,
                 name: str):
        if wait_s < 0 or max_items < 1:
            raise ValueError("a grouper needs wait_s >= 0 and max_items >= 1")
        self._process = process
        self.wait_s = wait_s
        self.max_items = max_items
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[T, R]] = \
            weakref.WeakKeyDictionary()
        self.groups = 0  # groups run so far (read by tests and logs)
        self.items = 0  # items run so far

    def _queue(self) -> _Queue[T, R]:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        return queue

    def arrived(self) -> None:
        """A request of this grouper's kind came in (call from the event loop)."""
        self._queue().arriving += 1

    def left(self) -> None:
        """A request counted by :meth:`arrived` was submitted, or ended without being submitted."""
        queue = self._queue()
        queue.arriving = max(0, queue.arriving - 1)
        queue.changed.set()

    async def submit(self, item: T, *, counted: bool = False) -> R:
        """Run ``item`` in the next group and return its outcome (or raise its exception).

        ``counted``: the request was counted by :meth:`arrived`; it is no longer on its way.
        """
        queue = self._queue()
        if counted:
            queue.arriving = max(0, queue.arriving - 1)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue.pending.append((item, future))
        queue.changed.set()
        if not queue.running:
            queue.running = True
            queue.task = asyncio.get_running_loop().create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue[T, R]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while queue.pending:
                await self._gather(queue)
                group, queue.pending = queue.pending[:self.max_items], queue.pending[self.max_items:]
                items = [item for item, _ in group]
                try:
                    outcomes: Sequence[R | BaseException] = await loop.run_in_executor(
                        self._executor, self._process, items)
                except Exception as err:  # noqa: BLE001 - every request of the group gets the error
                    outcomes = [err] * len(group)
                self.groups += 1
                self.items += len(group)
                for (_, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():  # the client went away
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            queue.running = False

    async def _gather(self, queue: _Queue[T, R]) -> None:
        """Wait (at most ``wait_s``) while requests are on their way and the group is not full."""
        if self.wait_s <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while len(queue.pending) < self.max_items and queue.arriving > 0:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            queue.changed.clear()
            try:
                await asyncio.wait_for(queue.changed.wait(), remaining)
            except TimeoutError:
                return

    def close(self) -> None:
        """Stop the worker thread once the running group ends."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class CountArrivals:
    """ASGI middleware: count the requests of ``paths`` on their way to a grouper (see :meth:`Grouper.arrived`).

    A request is counted when it comes in and uncounted when it is submitted (the handler passes
    ``counted=True``) or, at the latest, when its response is done.
    """

    def __init__(self, app: Any, grouper: Grouper[Any, Any], paths: frozenset[str]):
        self.app = app
        self.grouper = grouper
        self.paths = paths

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        """Count a request of the grouped paths while it is on its way."""
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        token = _Arrival(self.grouper)
        scope.setdefault("state", {})["arrival"] = token
        self.grouper.arrived()
        try:
            await self.app(scope, receive, send)
        finally:
            token.leave()


class _Arrival:
    """One counted request: uncounted once, by whichever comes first."""

    def __init__(self, grouper: Grouper[Any, Any]):
        self.grouper = grouper
        self.counted = True

    def leave(self) -> None:
        if self.counted:
            self.counted = False
            self.grouper.left()

    def take(self) -> bool:
        """Hand the count over to :meth:`Grouper.submit` (True when it was still counted)."""
        was, self.counted = self.counted, False
        return was


def submitted(state: Any) -> bool:
    """For ``Grouper.submit(counted=...)``: take the request's arrival count over (False when it has none)."""
    token = getattr(state, "arrival", None)
    return token.take() if isinstance(token, _Arrival) else False
