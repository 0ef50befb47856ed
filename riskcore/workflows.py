"""What a user does, one function each: the façade the CLI, the dashboard and the API call.

- :func:`check_file`: the data-quality report, split and leakage checks of a file, as training would see it
  (``python -m riskcore check`` and the dashboard's data-quality page give the same findings);
- :func:`train_file`: train, evaluate and register a model on a file (``python -m riskcore train``, the
  dashboard's training page);
- :func:`open_model`: the bundle to score with, a folder or the registry's champion (the CLI, the API);
- :func:`score_and_record`: score a portfolio file of any size and record every score in the audit trail
  (``python -m riskcore score``, a dashboard upload);
- :func:`score_companies`: score companies sent one by one or in a small batch (the API).

What happens to a model after it is trained (monitoring its later portfolios) is
:mod:`riskcore.lifecycle`, one layer up: it uses these workflows.

"Score then record" exists here once: both scoring workflows validate, score, write
every score to the audit trail in one request, and only then hand the scores over —
no audit row, no score. How a large file streams is the serving layer's business
(:mod:`riskcore.serving.batch`, :mod:`riskcore.serving.history`).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from riskcore.config import TrainingConfig
from riskcore.data.infer import extend_spec
from riskcore.data.tabular import Table, read_table
from riskcore.modelling.context import RunContext, known
from riskcore.modelling.pipeline import TRAINING, LocalExecutor
from riskcore.modelling.train import train
from riskcore.progress import Progress, no_progress
from riskcore.serving.audit import AuditLog, Source
from riskcore.serving.batch import CHUNK_ROWS, ChunkSink, FileRequest, FileSource, ScoreJob, score_in_chunks

if TYPE_CHECKING:
    from riskcore.config import Costs, Settings
    from riskcore.data.quality import QualityReport
    from riskcore.data.schema import DatasetSpec
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.modelling.leakage import LeakageReport
    from riskcore.modelling.split import Split
    from riskcore.modelling.tracking import Tracker
    from riskcore.modelling.train import TrainingResult

__all__ = [
    "DataCheck",
    "ScoreJob",
    "check_file",
    "default_caller",
    "score_and_record",
    "train_file",
]

Face = Source


def default_caller(face: Face) -> str:
    """``cli:<login>`` for the command line; the face's name otherwise."""
    if face == "cli":
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):  # no login name in a container
            return "cli:unknown"
    return face


# ---------------------------------------------------------------------------
# check a file
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DataCheck:
    """The checks of one data file, as the CLI prints them and the data-quality page shows them.

    ``report`` is the :class:`~riskcore.data.quality.QualityReport`; ``split``,
    ``split_summary`` (columns part, rows, share, defaults, default_rate,
    companies, first, last) and ``leakage`` are ``None`` when the file has no
    usable target or the leakage checks were not asked for; ``notes`` say why,
    and what cleaning would do before training. ``skipped`` is the reason the
    split and the leakage checks could not run; ``has_target`` whether the file
    has the spec's target column at all.
    """

    report: QualityReport
    split_summary: pd.DataFrame | None
    leakage: LeakageReport | None
    notes: tuple[str, ...] = ()
    split: Split | None = None
    skipped: str | None = None
    has_target: bool = True

    @property
    def has_problems(self) -> bool:
        """Whether the file needs attention: a quality problem, a failed leakage check, or checks that could not run.

        A file without a target is not a problem by itself: it can be scored, only not trained on.
        """
        if self.report.has_problems or (self.leakage is not None and bool(self.leakage.failed)):
            return True
        return self.has_target and self.skipped is not None


def check_file(data: Table | pd.DataFrame, spec: DatasetSpec, *, positive: str | None = None,
               drop: Sequence[str] = (), leakage: bool = True, random_state: int = 7) -> DataCheck:
    """Quality report, split and (optionally) leakage checks of a file, as training would see it.

    The file's columns unknown to ``spec`` are added as inferred features (so a
    leaked column a user added is checked too). The checks are the first stages of
    the training run (:data:`riskcore.modelling.pipeline.TRAINING`: ``prepare``,
    ``split`` and ``screen_leaks``) run in report mode: what would stop training is
    reported, not raised, and every threshold is the one training applies.

    Parameters
    ----------
    data : a table read by :func:`riskcore.data.tabular.read_table`, or a frame.
    spec : the dataset spec to check against (the model's, the demo's, or one inferred from the file).
    positive : the target label that means default, when it is not 0/1 or true/false.
    drop : columns the user left out of the features: they are not the model's, so not checked for leakage.
    leakage : run the leakage checklist (slow: it fits a few small models).
    random_state : seed of the split and of the leakage checks.

    Returns
    -------
    DataCheck
    """
    frame_in = data.frame if isinstance(data, Table) else data
    decimal = data.info.decimal if isinstance(data, Table) else "."
    dropped = [c for c in drop if c in frame_in]
    spec = extend_spec(spec, frame_in.drop(columns=dropped), decimal=decimal)
    ctx = RunContext(spec, config=TrainingConfig(random_state=random_state), data=data, positive=positive,
                     drop=tuple(dropped), mode="report")
    LocalExecutor().run(TRAINING.until("screen_leaks" if leakage else "split"), ctx)
    report = known(ctx.quality, "the quality report")
    if ctx.stopped is not None:
        return DataCheck(report, None, None, (*ctx.notes, f"No split or leakage checks: {ctx.stopped}"),
                         skipped=ctx.stopped, has_target=ctx.has_target)
    rows, split, spec = known(ctx.prepared, "the prepared data"), known(ctx.split, "the split"), ctx.spec
    ids = rows.frame[spec.id] if spec.id and spec.id in rows.frame else None
    times = rows.frame[spec.time] if spec.time and spec.time in rows.frame else None
    return DataCheck(report, split.summary(rows.y, ids, times), ctx.leak, tuple(ctx.notes), split=split)


# ---------------------------------------------------------------------------
# train from a file
# ---------------------------------------------------------------------------

def train_file(data: Table | str | os.PathLike[str], spec: DatasetSpec, *, settings: Settings,
               config: TrainingConfig, costs: Costs | None = None, tracker: Tracker | None = None,
               positive: str | None = None, promote: bool | None = None, progress: Progress = no_progress,
               source: str | None = None, trained_by: str | None = None) -> TrainingResult:
    """Train, evaluate, save and register a model on a file, with the settings' folders and costs.

    Parameters
    ----------
    data : a table already read (the CLI reads it to decide the spec), or the file's path.
    spec : the file's data contract.
    settings : where models are saved (``models_dir``), the default costs, ``[grading]`` and the scorecard's
        points scaling (``[scorecard]``); both replace the configuration's own.
    config : the training profile and its overrides.
    costs : the costs to choose the cut-off with (default the settings').
    tracker : the MLflow tracker to log and register with; ``None`` logs nothing.
    positive : the target label that means default, when it is not 0/1 or true/false.
    promote : make the new model the champion (default: only when there is none).
    progress : ``progress(fraction, message)``.
    source : the file's name as recorded in the model (default the path given).

    Returns
    -------
    riskcore.modelling.train.TrainingResult
    """
    table = data if isinstance(data, Table) else read_table(data)
    if source is None and not isinstance(data, Table):
        source = str(Path(data).resolve())
    # [grading] is frozen in the bundle it trains; [scorecard] scales a scorecard's points
    config = replace(config, grading=settings.grading, scorecard=settings.scorecard)
    return train(table, spec, config=config, costs=costs or settings.costs, models_dir=settings.models_dir,
                 tracker=tracker, progress=progress, positive=positive, promote=promote, source=source,
                 trained_by=trained_by, validation=settings.validation)


# ---------------------------------------------------------------------------
# score a file and record it
# ---------------------------------------------------------------------------

def score_and_record(
    bundle: ModelBundle,
    source: FileSource | pd.DataFrame,
    *,
    audit: AuditLog,
    face: Face,
    caller: str | None = None,
    output: str | os.PathLike[str] | None = None,
    rejects_path: str | os.PathLike[str] | None = None,
    keep: bool = False,
    sheet: str | None = None,
    max_bytes: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    risk_bands: Literal["master", "fixed"] = "master",
    lgd: float | None = None,
    explain: bool = False,
    progress: Progress = no_progress,
    sink: ChunkSink | None = None,
) -> ScoreJob:
    """Read, validate, score, record and write a portfolio file, a chunk at a time.

    Large files stream (:mod:`riskcore.serving.batch`): memory does not grow with
    the file, and the scores equal those of the whole file read at once.

    Parameters
    ----------
    bundle : the :class:`riskcore.modelling.bundle.ModelBundle` to score with.
    source : a path, the file's bytes or a binary file object (CSV, Excel ``.xlsx`` or Parquet), or a frame.
    audit : the :class:`riskcore.serving.audit.AuditLog` every score is recorded in.
    face : ``"cli"``, ``"dashboard"`` or ``"api"`` (the audit trail's source).
    caller : who asked; default :func:`default_caller`.
    output : file for the scored rows: ``.parquet`` writes Parquet, anything else CSV. ``None``: no file.
    rejects_path : file for the reject report (default: next to ``output`` as ``<stem>.rejects.csv``
        when some rows were rejected).
    keep : keep every scored row in ``ScoreJob.result`` (for a view that shows them).
    sheet : the Excel sheet to read (default the first).
    max_bytes : refuse larger files.
    chunk_rows : rows read, scored and recorded at a time.
    risk_bands, lgd, explain : as :func:`riskcore.serving.scoring.score_frame`.
    progress : ``progress(fraction, message)``.
    sink : sees every scored chunk (monitoring counts them).

    Returns
    -------
    ScoreJob

    Raises
    ------
    riskcore.errors.AuditError
        When the audit trail cannot be written: nothing is written, no score is returned.
    riskcore.errors.DataFileError
        When the file cannot be read at all.
    riskcore.errors.SchemaError
        When a required column is missing, so no row can be scored.
    """
    request = FileRequest(face=face, caller=caller or default_caller(face),
                          output=Path(output) if output is not None else None,
                          rejects_path=Path(rejects_path) if rejects_path is not None else None, keep=keep,
                          sheet=sheet, max_bytes=max_bytes, chunk_rows=chunk_rows, risk_bands=risk_bands, lgd=lgd,
                          explain=explain, progress=progress, sink=sink)
    audit.check_writable()  # before any work: no audit, no scores
    progress(0.0, "reading and validating")
    return score_in_chunks(bundle, source, request, audit=audit)
