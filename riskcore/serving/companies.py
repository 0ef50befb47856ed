"""Companies sent one by one or in a small batch (the API): validate, score, record, then answer.

"Score, then record in the audit trail, then hand the scores over" holds here as in
:mod:`riskcore.serving.batch` for files: every valid company's score is in one audit
request before any is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from riskcore.data.schema import DatasetSpec
from riskcore.data.tabular import normalise_name
from riskcore.errors import SchemaError
from riskcore.modelling.bundle import ModelBundle
from riskcore.serving.audit import AuditLog, AuditRecord, Source
from riskcore.serving.explain import explain_one
from riskcore.serving.records import records_matrix, validate_record
from riskcore.serving.scoring import company_results, score_one

__all__ = ["CompanyScores", "company_id", "score_companies", "score_records"]



@dataclass
class CompanyScores:
    """The outcome of :func:`score_companies`: one result per valid company, problems per invalid one.

    ``results`` holds ``(index, score_one's dict)`` in request order; ``problems`` holds
    ``(index, SchemaError)`` for every company that could not be scored; ``request_id`` names the
    audit request that holds every score.
    """

    request_id: str
    results: list[tuple[int, dict[str, Any]]]
    problems: list[tuple[int, SchemaError]]


def score_companies(
    bundle: ModelBundle,
    records: Sequence[Mapping[str, Any]],
    *,
    audit: AuditLog,
    face: Source,
    caller: str,
    request_id: str | None = None,
    risk_bands: Literal["master", "fixed"] = "master",
    explain: bool = False,
    audit_inputs: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None,
    strict: bool = False,
) -> CompanyScores:
    """Score companies given as dicts and record every score in one audit request before returning.

    Parameters
    ----------
    bundle : the model bundle.
    records : one dict per company, as :func:`riskcore.serving.scoring.score_one` takes.
    audit : the :class:`riskcore.serving.audit.AuditLog`.
    face, caller, request_id : the audit request's source, caller and id.
    risk_bands : as :func:`riskcore.serving.scoring.score_one`.
    explain : also explain each company (:func:`riskcore.serving.explain.explain_one`); its result dict then has an
        ``explanation`` and its reason codes are recorded.
    audit_inputs : ``audit_inputs(index, result) -> dict`` of the inputs to record (default the validated
        inputs ``result["inputs"]``).
    strict : read each record as a machine client's JSON (categories exactly as the spec writes
        them, only ``None`` missing), see :func:`riskcore.serving.records.validate_record`.

    Returns
    -------
    CompanyScores

    Raises
    ------
    riskcore.errors.AuditError
        When the scores cannot be recorded: none may be returned.
    """
    results, problems = score_records(bundle, records, risk_bands=risk_bands, strict=strict, explain=explain)
    spec = bundle.spec
    audit_rows = [AuditRecord(company_id(spec, records[i], i),
                              audit_inputs(i, r) if audit_inputs is not None else r["inputs"],
                              r["p_default"], r["decision"], r["grade"],
                              tuple(x.text for x in r["explanation"].reasons) if "explanation" in r else ())
                  for i, r in results]
    rid = audit.record(audit_rows, source=face, caller=caller, model_version=bundle.version,
                       bundle_hash=bundle.manifest_hash, request_id=request_id, key=spec.id or "company_id")
    return CompanyScores(request_id=rid, results=results, problems=problems)


def score_records(bundle: ModelBundle, records: Sequence[Mapping[str, Any]], *,
                  risk_bands: Literal["master", "fixed"] = "master", strict: bool = False,
                  explain: bool | Sequence[bool] = False,
                  checked: Sequence[tuple[dict[str, Any] | None, SchemaError | None]] | None = None,
                  ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, SchemaError]]]:
    """Validate companies one by one, then score the valid ones as one matrix (one model call for all).

    Each result equals :func:`riskcore.serving.scoring.score_one`'s for the same record (a test holds it to that).

    Parameters
    ----------
    bundle, records, risk_bands, strict : as :func:`score_companies`.
    explain : explain every company, or per record whether to (its result then has an ``explanation``).
    checked : per record, its values already checked against this bundle's spec, ``(clean, None)``, or the
        problem found, ``(None, SchemaError)`` (a shadow model scoring what the deciding one checked).

    Returns
    -------
    (results, problems) : ``(index, result)`` of the valid companies and ``(index, SchemaError)`` of the others,
        each in record order.
    """
    wanted = [explain] * len(records) if isinstance(explain, bool) else list(explain)
    if len(records) == 1 and checked is None:  # one company: the single-company path, no stacking
        try:
            result = score_one(bundle, dict(records[0]), risk_bands=risk_bands, strict=strict)
            if wanted[0]:
                result["explanation"] = explain_one(bundle, dict(records[0]))
        except SchemaError as err:
            return [], [(0, err)]
        return [(0, result)], []
    valid: list[int] = []
    cleans: list[dict[str, Any]] = []
    problems: list[tuple[int, SchemaError]] = []
    for i, record in enumerate(records):
        if checked is not None:
            clean, error = checked[i]
        else:
            clean, found = validate_record(bundle.spec, dict(record), strict=strict)
            error = SchemaError(found) if found else None
        if error is not None or clean is None:
            problems.append((i, error or SchemaError([])))
            continue
        valid.append(i)
        cleans.append(clean)
    if not cleans:
        return [], problems
    raw, p = bundle.score_matrix(records_matrix(bundle, cleans))
    results = list(zip(valid, company_results(bundle, cleans, raw, p, risk_bands=risk_bands), strict=True))
    for i, result in results:
        if wanted[i]:
            result["explanation"] = explain_one(bundle, dict(records[i]))
    return results, problems


def company_id(spec: DatasetSpec, record: Mapping[str, Any], index: int) -> str:
    """The record's company id (the spec's id column, matched as column names are), or ``row N``."""
    if spec.id:
        key = normalise_name(spec.id)
        for k, v in record.items():
            if normalise_name(k) == key and v is not None:
                return str(v)
    return f"row {index + 1}"
