"""Feeding monitoring from scoring: the scored chunks of a file, and the outcomes file joined to them.

:class:`MonitorSink` is handed to :func:`riskcore.serving.batch.score_in_chunks`
(through :class:`~riskcore.serving.batch.FileRequest`) and adds every scored
chunk to :class:`~riskcore.evaluation.monitoring.MonitorCounts`, so a file of
any size is validated, scored, recorded and monitored in one pass.
:func:`read_outcomes` reads the outcomes that arrived later (company id, period,
0/1) tolerantly: unreadable rows are reported by row and column and left out,
the others are used.
"""

from __future__ import annotations

import os
import time
from typing import IO

import numpy as np
import pandas as pd

from riskcore.data.columns import match_columns, normalise_name
from riskcore.data.prepare import binarize_target
from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import read_table
from riskcore.errors import MissingColumnError, Problem, SchemaError
from riskcore.evaluation.monitoring import MonitorCounts
from riskcore.evaluation.reference import ReferenceProfile
from riskcore.serving.results import ScoreResult

__all__ = ["MonitorSink", "Outcomes", "read_outcomes"]

_ID_ALIASES = ("id", "company", "companyid", "customerid", "borrowerid", "obligorid")
_OUTCOME_ALIASES = ("outcome", "default", "defaulted", "y", "target", "default12m")


class MonitorSink:
    """Adds each scored chunk to the monitoring counts.

    Parameters
    ----------
    reference : ReferenceProfile
        The model's reference profile.
    spec : DatasetSpec
        The model's data contract (its id, time and segment columns).
    period : str, optional
        The column that names each row's period (default the spec's time column). A column of the file
        that is not a model input works too: it is read from the file's own columns.
    """

    def __init__(self, reference: ReferenceProfile, spec: DatasetSpec, period: str | None = None):
        self.counts = MonitorCounts(reference)
        self.spec = spec
        self.period = period or spec.time
        self.period_found = False
        self.seconds = 0.0

    def reset(self) -> None:
        """Start again (the file is being read a second time)."""
        self.counts.reset()
        self.period_found = False
        self.seconds = 0.0

    def _column(self, result: ScoreResult, name: str | None) -> np.ndarray | None:
        """A column of the scored rows: from the scores, the typed inputs or the file's own columns."""
        if not name:
            return None
        for frame in (result.scores, result.inputs):
            if name in frame:
                return frame[name].to_numpy(dtype=object)
            key = normalise_name(name)
            for c in frame.columns:
                if normalise_name(str(c)) == key:
                    return frame[c].to_numpy(dtype=object)
        return None

    def add(self, result: ScoreResult) -> None:
        """Add the scored rows of one chunk."""
        if not result.n_scored:
            return
        t0 = time.perf_counter()
        periods = self._column(result, self.period)
        self.period_found = self.period_found or periods is not None
        ids = result.scores[result.id_column].to_numpy(dtype=object) if result.id_column in result.scores else None
        self.counts.add(result.inputs, result.scores["p_default"].to_numpy(dtype=float), ids=ids, periods=periods,
                        segments=self._column(result, self.spec.segment))
        self.seconds += time.perf_counter() - t0


class Outcomes:
    """Outcomes read from a file: ``frame`` (``id``, ``period``, ``y``), the rows left out and why."""

    def __init__(self, frame: pd.DataFrame, problems: list[Problem], n_rows: int):
        self.frame = frame
        self.problems = problems
        self.n_rows = n_rows

    def notes(self) -> list[str]:
        """What a risk manager should know: the rows left out, the first few named."""
        if not self.problems:
            return []
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = f" (and {len(self.problems) - 3:,} more)" if len(self.problems) > 3 else ""
        return [f"{len(self.problems):,} of {self.n_rows:,} outcome row(s) could not be used: {shown}{more}"]


def read_outcomes(source: str | os.PathLike[str] | bytes | IO[bytes], spec: DatasetSpec, *,
                  period: str | None = None, positive: str | None = None) -> Outcomes:
    """Read an outcomes file: company id, period and the outcome (0/1, true/false, yes/no).

    Columns are found by name, ignoring case, spaces and punctuation: the id as the model's id column (or
    ``id``, ``company_id``…), the period as ``period`` or the model's time column, the outcome as the model's
    target (or ``outcome``, ``default``, ``y``…).

    Parameters
    ----------
    source : path, bytes or binary file object
        CSV, Excel (.xlsx) or Parquet.
    spec : DatasetSpec
        The model's data contract.
    period : str, optional
        The period column (default the model's time column; none when the file has neither).
    positive : str, optional
        The outcome label that means default, when it is not 0/1, true/false or yes/no.

    Returns
    -------
    Outcomes

    Raises
    ------
    MissingColumnError
        When the file has no id or no outcome column.
    SchemaError
        When the outcome column as a whole cannot be read as 0/1.
    """
    table = read_table(source)
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    id_col = _find(columns, [c for c in (spec.id,) if c], _ID_ALIASES)
    y_col = _find(columns, [c for c in (spec.target,) if c], _OUTCOME_ALIASES)
    missing = [what for what, col in (("company id", id_col), ("outcome", y_col)) if col is None]
    if missing:
        raise MissingColumnError(missing, f"the outcomes file has no {' and no '.join(missing)} column; it needs "
                                 f"the company id ({spec.id or 'id'}), the period ({period or spec.time or 'none'}) "
                                 f"and the outcome ({spec.target or 'outcome'}, 0/1)")
    period_col = _find(columns, [c for c in (period, spec.time, "period") if c], ())
    y, bad, message = binarize_target(frame[y_col], positive)
    if message:
        raise SchemaError(Problem(None, y_col, None, f"the outcome column cannot be read: {message}"))
    ids = frame[id_col].astype(object).where(frame[id_col].notna(), None)
    rows = table.rows  # the row numbers a user finds in the file (unreadable rows are not in the frame)
    problems = list(table.problems)
    problems += [Problem(int(rows[i]), y_col, frame[y_col].iloc[i], f"outcome {frame[y_col].iloc[i]!r} is not 0/1, "
                         "true/false or yes/no; the row was left out") for i in np.flatnonzero(bad)]
    no_id = np.flatnonzero(ids.isna().to_numpy() & ~bad)
    problems += [Problem(int(rows[i]), id_col, None, "no company id; the row was left out") for i in no_id]
    no_outcome = np.flatnonzero(~np.isfinite(y) & ~bad & ids.notna().to_numpy())
    problems += [Problem(int(rows[i]), y_col, None, "no outcome (empty cell); the row was left out — fill it in "
                         "once the outcome is known") for i in no_outcome]
    keep = ~bad & ids.notna().to_numpy() & np.isfinite(y)
    out = pd.DataFrame({"id": ids.to_numpy(dtype=object)[keep].astype(str),
                        "period": frame[period_col].to_numpy(dtype=object)[keep] if period_col else None,
                        "y": y[keep].astype(np.int64)})
    return Outcomes(out, problems, int(len(frame)) + len(table.problems))


def _find(columns: list[str], wanted: list[str], aliases: tuple[str, ...]) -> str | None:
    """The file's column for the first wanted name (tolerant match), else for the first alias present."""
    for name in wanted:
        found, _ = match_columns(columns, [name])
        if name in found:
            return found[name]
    keys = {normalise_name(c): c for c in columns}
    for alias in aliases:
        if alias in keys:
            return keys[alias]
    return None
