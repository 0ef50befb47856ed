"""A way into a job while it runs: the workbench, calling a test's hook at one step of the job's progress.

The run is the workbench's own (:meth:`Workbench.run_job` under a worker's heartbeat); the hook acts in the
middle of it (cancels the job, stops the worker) at the first progress step that ``when`` picks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from riskcore.config import Settings
from riskcore.serving.audit import Job
from riskcore.workbench import Workbench
from riskcore.workbench.jobs import Heartbeat

__all__ = ["Hooked", "cancel_from_another_thread", "noticed"]

Hook = Callable[[Job, Heartbeat], None]


class Hooked(Workbench):
    """The workbench, calling ``hook(job, heartbeat)`` at the first progress step of a job that ``when`` picks.

    ``fired`` records (job id, fraction, message) of the step the hook ran at.
    """

    def __init__(self, settings: Settings, when: Callable[[float, str], bool], hook: Hook | None = None) -> None:
        super().__init__(settings)
        self.when, self.hook = when, hook
        self.fired: list[tuple[str, float, str]] = []

    def run_job(self, job: Job, heartbeat: Heartbeat) -> dict[str, Any]:
        step = heartbeat.progress

        def progress(fraction: float, message: str) -> None:
            if not self.fired and self.when(fraction, message):
                self.fired.append((job.id, fraction, message))
                if self.hook is not None:
                    self.hook(job, heartbeat)
            step(fraction, message)

        heartbeat.progress = progress  # type: ignore[method-assign]
        return super().run_job(job, heartbeat)


def noticed(beat: Heartbeat, timeout_s: float = 60.0) -> None:
    """Wait until the heartbeat knows the job must stop (its next renewal was refused)."""
    assert beat.stopped.wait(timeout_s), "the heartbeat never noticed the job should stop"


def cancel_from_another_thread(bench: Workbench) -> Hook:
    """A hook that cancels the job from another thread, as a user would, and waits until the heartbeat knows."""
    def hook(job: Job, beat: Heartbeat) -> None:
        other = threading.Thread(target=bench.cancel_job, args=(job.id,))
        other.start()
        other.join(60)
        noticed(beat)

    return hook
