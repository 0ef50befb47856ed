"""The workbench: the one façade every face calls (the command line, the API, the dashboard).

:class:`Workbench` owns the settings, the experiment store, the audit trail, the model server and
the state folder's locks; its verbs return typed results. :func:`load_dataset` and
:class:`DataRoles` read a user's file with its contract, :class:`Cluster` says where a job runs on
a Dask cluster.

The faces import this package, :mod:`riskcore.errors`, :mod:`riskcore.config` and
:mod:`riskcore.progress`, and nothing else of the engine: the types the verbs return (a bundle, a
training result, a scoring job, what is served, a comparison, a move of the champion) are named
here too, as ``mlflow.entities`` names what ``MlflowClient`` returns.
"""

from __future__ import annotations

from riskcore.data.quality import PersonalColumn, QualityReport
from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.data.tabular import write_csv
from riskcore.evaluation.grading import RISK_LEVELS
from riskcore.lifecycle.monitoring import MonitorRun
from riskcore.lifecycle.monitoring_history import RecordedMonitoring
from riskcore.lifecycle.report import SECTION_IDS, Report, ReportFiles, render_report
from riskcore.lifecycle.versions import Move, VersionComparison
from riskcore.modelling.bundle import ModelBundle, json_ready
from riskcore.modelling.demo import DemoFiles
from riskcore.modelling.leakage import SIGNAL_STRONG_AUC, TOO_GOOD_AUC
from riskcore.modelling.tracking import ChampionRef
from riskcore.modelling.train import TrainingResult
from riskcore.serving.audit import (
    FINISHED,
    AccessEvent,
    AccessEventKind,
    AuditArchive,
    AuditExport,
    AuditLog,
    Delivery,
    ExportCheck,
    Finding,
    FoundScores,
    Job,
    JobEvent,
    ModelMove,
    RateBuckets,
    VerifyResult,
)
from riskcore.serving.batch import ScoreJob
from riskcore.serving.explain import Explanation, peer_percentiles, reason_codes
from riskcore.serving.provisions import ProvisionRun
from riskcore.serving.records import validate_record
from riskcore.serving.requests import ScoringRequest, ServedScores
from riskcore.serving.scoring import MAX_ID_CHARS, ScoreResult, WhatIf
from riskcore.serving.server import NO_CHAMPION, ModelServer, Served
from riskcore.workbench.bench import Cluster, Workbench
from riskcore.workbench.datasets import DataRoles, Dataset, load_dataset
from riskcore.workbench.jobs import JOB_KINDS, RESULT_FORMATS, JobFiles
from riskcore.workbench.locks import state_lock
from riskcore.workbench.provision_history import RecordedRun
from riskcore.workbench.provisioning import ProvisionFiles
from riskcore.workbench.retraining import RetrainOutcome
from riskcore.workbench.worker import Worker, WorkerProcesses
from riskcore.workflows import DataCheck, default_caller

__all__ = [
    "FINISHED",
    "JOB_KINDS",
    "MAX_ID_CHARS",
    "NO_CHAMPION",
    "RESULT_FORMATS",
    "RISK_LEVELS",
    "SECTION_IDS",
    "SIGNAL_STRONG_AUC",
    "TOO_GOOD_AUC",
    "AccessEvent",
    "AccessEventKind",
    "AuditArchive",
    "AuditExport",
    "AuditLog",
    "ChampionRef",
    "Cluster",
    "DataCheck",
    "DataRoles",
    "Dataset",
    "DatasetSpec",
    "Delivery",
    "DemoFiles",
    "Explanation",
    "ExportCheck",
    "FeatureSpec",
    "Finding",
    "FoundScores",
    "Job",
    "JobEvent",
    "JobFiles",
    "ModelBundle",
    "ModelMove",
    "ModelServer",
    "MonitorRun",
    "PersonalColumn",
    "Move",
    "ProvisionFiles",
    "ProvisionRun",
    "QualityReport",
    "RecordedMonitoring",
    "RecordedRun",
    "Report",
    "ReportFiles",
    "RetrainOutcome",
    "ScoreJob",
    "ScoreResult",
    "Served",
    "RateBuckets",
    "ScoringRequest",
    "ServedScores",
    "TrainingResult",
    "VerifyResult",
    "VersionComparison",
    "WhatIf",
    "Workbench",
    "Worker",
    "WorkerProcesses",
    "default_caller",
    "json_ready",
    "load_dataset",
    "peer_percentiles",
    "reason_codes",
    "render_report",
    "state_lock",
    "validate_record",
    "write_csv",
]
