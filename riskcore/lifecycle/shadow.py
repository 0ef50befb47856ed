"""A challenger against the champion on the companies the API scored with both: the shadow history.

While a challenger scores in shadow (``[serving] challenger``), every API request
leaves two scores of each company in the audit trail under one request id: the
deciding model's (source ``api``) and the other's (source ``shadow``).
:func:`compare_from_audit` pairs them, joins the outcomes that have since been
observed (a file of id, period, outcome, as for monitoring) and compares the two
models on exactly those companies, with the same figures and gate as
:func:`riskcore.lifecycle.versions.compare_versions`:
``python -m riskcore models compare CHALLENGER --from-audit --outcomes FILE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from riskcore.errors import SchemaError
from riskcore.evaluation.gate import compare_models
from riskcore.evaluation.realised import join_outcomes
from riskcore.lifecycle.versions import VersionComparison
from riskcore.serving.monitor import read_outcomes

if TYPE_CHECKING:
    import pandas as pd

    from riskcore.config import Costs, PromotionRules
    from riskcore.modelling.bundle import ModelBundle
    from riskcore.serving.audit import AuditLog
    from riskcore.serving.batch import FileSource

__all__ = ["compare_from_audit", "paired_scores"]


def paired_scores(audit: AuditLog, champion: ModelBundle, challenger: ModelBundle, *, since: str | None = None,
                  until: str | None = None) -> pd.DataFrame:
    """Companies both models scored in the same request: ``id``, ``period``, ``p_default`` (champion), ``p_challenger``.

    A company scored in several requests of one period counts once, with its latest pair.
    """
    spec = champion.spec
    frames = []
    for bundle, name in ((champion, "p_default"), (challenger, "p_challenger")):
        scored = audit.scored(bundle.version, since=since, until=until)
        period = scored[spec.time].astype(str) if spec.time and spec.time in scored else None
        frames.append(scored.assign(id=scored["_company_id"].astype(str), period=period)
                      .rename(columns={"_p_default": name})[["seq", "_request_id", "id", "period", name]])
    both = frames[0].merge(frames[1].drop(columns=["seq", "period"]), on=["_request_id", "id"])
    both = both.sort_values("seq", kind="stable").drop_duplicates(["id", "period"], keep="last")
    return both[["id", "period", "p_default", "p_challenger"]].reset_index(drop=True)


def compare_from_audit(audit: AuditLog, champion: ModelBundle, challenger: ModelBundle, *, outcomes: FileSource,
                       costs: Costs, rules: PromotionRules | None = None, since: str | None = None,
                       until: str | None = None, period: str | None = None, positive: str | None = None,
                       random_state: int = 7) -> VersionComparison:
    """Compare the two models on the companies the API scored with both, with their observed outcomes.

    Parameters
    ----------
    audit : the audit trail holding the champion's and the challenger's scores of the same requests.
    champion, challenger : the two bundles (each decides at its own cut-off).
    outcomes : a file of company id, period and outcome (see :func:`riskcore.serving.monitor.read_outcomes`).
    costs, rules, random_state : as :func:`riskcore.lifecycle.versions.compare_versions`.
    since, until : ISO dates or times bounding when the requests were recorded.
    period, positive : the outcomes' period column and default label, when not the model's.

    Raises
    ------
    riskcore.errors.SchemaError
        When no company was scored by both, or none of them has an outcome yet.
    """
    window = f"{since or 'the start'} to {until or 'now'}"
    pairs = paired_scores(audit, champion, challenger, since=since, until=until)
    if pairs.empty:
        raise SchemaError(f"the audit trail holds no company scored by both {champion.version} and "
                          f"{challenger.version} from {window}; set [serving] challenger = \"{challenger.version}\" "
                          "so the API scores it in shadow, or compare on a file (--data FILE)")
    found = read_outcomes(outcomes, champion.spec, period=period, positive=positive)
    notes = found.notes()
    matched = join_outcomes(pairs, found.frame, notes)
    if matched.empty or matched["y"].nunique() < 2:
        raise SchemaError(f"{len(matched):,} of the {len(pairs):,} companies scored by both have an outcome in the "
                          "file, with only one kind of outcome; comparing needs defaults and non-defaults")
    comparison = compare_models(matched["y"], matched["p_default"], matched["p_challenger"],
                                threshold_champion=champion.threshold, threshold_challenger=challenger.threshold,
                                costs=costs, rules=rules, random_state=random_state)
    rows_from = f"the companies the API scored with both models from {window} (shadow history)"
    return VersionComparison(champion.version, challenger.version, rows_from, comparison, notes,
                             y=matched["y"].to_numpy(dtype=np.int64),
                             p_champion=matched["p_default"].to_numpy(dtype=float),
                             p_challenger=matched["p_challenger"].to_numpy(dtype=float),
                             thresholds=(champion.threshold, challenger.threshold))
