"""A small audit trail spread over several years, recorded by the product's own paths under a clock the test sets.

Every head takes its time from ``riskcore.serving.audit._store.utc_now``; :class:`Clock` stands in for it, so a
test records years of requests in a second: batches of several chunks, single API records whose inputs change
type (a whole number here, a decimal there), the API's groups of requests with their shadow scores, and a
move of the model ledger.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from riskcore.serving.audit import AuditLog, AuditPart, AuditRecord, ModelMove

STORE_CLOCK = "riskcore.serving.audit._store.utc_now"
META = {"source": "cli", "caller": "cli:analyst", "model_version": "v1", "bundle_hash": "ab" * 32}


class Clock:
    """The trail's clock: a fixed time, moved by the test, one microsecond later on every reading."""

    def __init__(self, when: datetime):
        self.now = when

    def set(self, year: int, month: int = 1, day: int = 1) -> None:
        self.now = datetime(year, month, day, tzinfo=UTC)

    def __call__(self) -> str:
        self.now = self.now + pd.Timedelta(microseconds=1)
        return self.now.isoformat(timespec="microseconds")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The trail's clock for one test (the real one afterwards)."""
    made = Clock(datetime(2015, 1, 1, tzinfo=UTC))
    monkeypatch.setattr(STORE_CLOCK, made)
    return made


@dataclass
class Trail:
    """What :func:`record_years` recorded: per year, the heads and scores."""

    heads: dict[int, list[int]] = field(default_factory=dict)
    rows: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _inputs(n: int, start: int) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    x = rng.normal(size=n)
    x[::5] = np.nan
    return pd.DataFrame({"x": x, "sector": rng.choice(["Energy", "Utilities", None], n),
                         "age": rng.integers(0, 90, n), "tags": [[int(i), "a"] for i in range(n)]})


def record_years(log: AuditLog, clock: Clock, years: range, *, chunk: int = 7, chunks: int = 3) -> Trail:
    """Record, in each year: a batch of ``chunks`` chunks, an API record, a group with shadow scores, a ledger move."""
    trail = Trail()
    for year in years:
        first = log.count()
        clock.set(year, 2, 1)
        with log.batch(**META) as batch:
            for k in range(chunks):
                n = chunk + k  # chunks of different sizes
                ids = [f"Y{year}-{k}-{i}" for i in range(n)]
                batch.add(ids, _inputs(n, year * 10 + k), np.linspace(0.01, 0.99, n), ["accept", "refer"] * (n // 2)
                          + ["accept"] * (n % 2), [f"G{i % 5}" for i in range(n)], ["late_payments"] * n)
        clock.set(year, 5, 1)
        log.record([AuditRecord(f"API-{year}", {"x": year, "sector": "Energy"}, 0.2, "refer", "B", ("r1", "r2"))],
                   source="api", caller="key-1", model_version="v1", bundle_hash=META["bundle_hash"])
        clock.set(year, 8, 1)
        group = [AuditRecord(f"GRP-{year}-{i}", {"x": i + 0.5}, 0.1 * (i + 1), "accept", "A") for i in range(3)]
        log.record_parts([AuditPart(group, [f"req-{year}-a", f"req-{year}-a", f"req-{year}-b"],
                                    ["key-1", "key-1", "key-2"], "api", "v1", META["bundle_hash"]),
                          AuditPart(group[:2], [f"req-{year}-a"] * 2, ["key-1"] * 2, "shadow", "v2", "cd" * 32)])
        if year % 3 == 0:
            clock.set(year, 11, 1)
            log.record_move(ModelMove(event="promote", actor="cli:admin", from_version="v0", to_version="v1",
                                      reason=f"yearly review {year}"))
        trail.rows[year] = log.count() - first
    return trail


def archive_and_die_at(url: str, folder: str, before: str, step: str) -> None:
    """In a child process: archive, and be killed (SIGKILL) at the first progress message that starts with ``step``.

    Lives here, not in a test module, so a spawned child imports the audit trail only.
    """
    def progress(fraction: float, message: str) -> None:
        if message.startswith(step):
            os.kill(os.getpid(), signal.SIGKILL)

    AuditLog(url).archive(folder, before=before, actor="cli:admin", progress=progress)
    os._exit(0)
