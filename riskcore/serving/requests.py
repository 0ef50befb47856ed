"""Scoring requests with what is served: several requests answered together, a canary share, a shadow challenger.

:func:`score_group` takes the requests a server answers together (the API groups the requests that arrive
within a few milliseconds of each other, see ``api_group_wait_ms``): each model scores every company it has
to score in one matrix, and every score of every request, the deciding ones (source ``api``) and the shadow
ones (source ``shadow``), is recorded in ONE audit transaction before any request is answered. When that
transaction fails, no request of the group gets a score. Each request keeps its own request id and caller in
the audit trail (:class:`~riskcore.serving.audit.AuditPart`).

Each company is decided by the champion, or by the challenger when it falls in the canary share
(:func:`~riskcore.serving.server.in_canary` of its id); the other model, when there is one, scores it in
shadow. A company the challenger cannot score in the canary is decided by the champion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from riskcore.errors import ModelNotFoundError, SchemaError, loggable
from riskcore.modelling.bundle import ModelBundle
from riskcore.serving.audit import AuditLog, AuditPart, AuditRecord
from riskcore.serving.companies import company_id, score_records
from riskcore.serving.server import NO_VERIFIED_MODEL, Served, in_canary

__all__ = ["ScoringRequest", "ServedScores", "score_group", "score_served"]


@dataclass(frozen=True)
class ScoringRequest:
    """One request of a group: its companies, their ids, who sent it and its id.

    Attributes
    ----------
    records : one dict per company, as :func:`riskcore.serving.scoring.score_one` takes.
    ids : each company's id (it chooses the canary side).
    caller, request_id : who asked, and the id the audit trail keeps for this request's scores.
    explain : explain the deciding scores too.
    audit_inputs : ``audit_inputs(index, result) -> dict`` of the inputs to record (default ``result["inputs"]``).
    """

    records: Sequence[Mapping[str, Any]]
    ids: Sequence[str]
    caller: str
    request_id: str
    explain: bool = False
    audit_inputs: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None


@dataclass
class ServedScores:
    """Scores of a request: the deciding model's result per company, in request order, and the problems.

    ``results`` holds ``(index, result)`` where ``result["model_version"]`` names the model that decided;
    ``problems`` ``(index, SchemaError)`` for the companies the deciding model could not score;
    ``shadow_problems`` what the shadow scoring could not do (the answer does not depend on it), in words a log may
    hold: the company's index in the request and the rules its values broke, never the values or its id.
    """

    results: list[tuple[int, dict[str, Any]]]
    problems: list[tuple[int, SchemaError]]
    shadow_problems: list[str] = field(default_factory=list)


Entry = tuple[int, int]  # (request, company) of a group


def score_group(served: Served, requests: Sequence[ScoringRequest], *, audit: AuditLog,
                risk_bands: Literal["master", "fixed"] = "master", strict: bool = True) -> list[ServedScores]:
    """Score the requests of a group with what is served, all their scores recorded in one transaction first.

    Returns
    -------
    list[ServedScores]
        One per request, in ``requests`` order.

    Raises
    ------
    riskcore.errors.ModelNotFoundError
        When nothing is served.
    riskcore.errors.AuditError
        When the scores cannot be recorded: no request of the group may be answered with a score.
    """
    champion, challenger = served.bundle, served.challenger
    if champion is None:
        raise ModelNotFoundError(served.reason or NO_VERIFIED_MODEL)
    out = [ServedScores([], [], []) for _ in requests]
    entries = [(r, i) for r, req in enumerate(requests) for i in range(len(req.records))]
    canary = {e: challenger is not None and in_canary(str(requests[e[0]].ids[e[1]]), served.canary_share)
              for e in entries}
    decided: dict[Entry, tuple[ModelBundle, dict[str, Any]]] = {}
    parts: list[AuditPart] = []
    # what each company's values gave against a spec: the shadow model does not check them again
    checked: dict[Entry, tuple[Any, dict[str, Any] | None, SchemaError | None]] = {}

    def run(bundle: ModelBundle, picked: list[Entry], source: Literal["api", "shadow"]) -> list[Entry]:
        """Score ``picked`` with ``bundle`` as one matrix; keep the results, return the entries it could not score."""
        spec = bundle.spec
        known = [checked.get(e) for e in picked]
        same = all(k is not None and (k[0] is spec or k[0] == spec) for k in known)
        results, problems = score_records(bundle, [requests[r].records[i] for r, i in picked], risk_bands=risk_bands,
                                          strict=strict,
                                          explain=[source == "api" and requests[r].explain for r, _ in picked],
                                          checked=[(k[1], k[2]) for k in known if k is not None] if same else None)
        for j, result in results:
            checked.setdefault(picked[j], (spec, result["inputs"], None))
        for j, problem in problems:
            checked.setdefault(picked[j], (spec, None, problem))
        done = [(picked[j], result) for j, result in results]
        if source == "api":
            decided.update((entry, (bundle, result)) for entry, result in done)
        parts.append(_part(bundle, source, requests, done))
        for j, problem in problems:
            r, i = picked[j]
            if source == "api":
                out[r].problems.append((i, problem))
            else:
                out[r].shadow_problems.append(f"company at index {i}: {bundle.version} cannot score it in shadow "
                                              f"({loggable(problem)})")
        return [picked[j] for j, _ in problems]

    if challenger is not None:
        refused = run(challenger, [e for e in entries if canary[e]], "api")
        for r, i in refused:  # the challenger could not decide these: the champion does
            problem = next(p for k, p in out[r].problems if k == i)
            out[r].problems.remove((i, problem))
            out[r].shadow_problems.append(f"company at index {i}: the challenger cannot score it "
                                          f"({loggable(problem)}); the champion decided")
            canary[(r, i)] = False
    run(champion, [e for e in entries if not canary[e]], "api")
    if challenger is not None:
        run(champion, sorted(e for e in decided if canary[e]), "shadow")
        run(challenger, sorted(e for e in decided if not canary[e]), "shadow")
    audit.record_parts([p for p in parts if p.records])
    for (r, i), (_, result) in sorted(decided.items()):
        out[r].results.append((i, result))
    for scores in out:
        scores.problems.sort(key=lambda t: t[0])
    return out


def _part(bundle: ModelBundle, source: Literal["api", "shadow"], requests: Sequence[ScoringRequest],
          done: list[tuple[Entry, dict[str, Any]]]) -> AuditPart:
    """The audit head of one model's scores from one source: each row with its request's id and caller."""
    spec = bundle.spec
    records = []
    for (r, i), result in done:
        req = requests[r]
        inputs = req.audit_inputs(i, result) if req.audit_inputs is not None else result["inputs"]
        reasons = tuple(x.text for x in result["explanation"].reasons) if "explanation" in result else ()
        records.append(AuditRecord(company_id(spec, req.records[i], i), inputs, result["p_default"],
                                   result["decision"], result["grade"], reasons))
    return AuditPart(records, [requests[r].request_id for (r, _), _ in done],
                     [requests[r].caller for (r, _), _ in done], source, bundle.version, bundle.manifest_hash,
                     key=spec.id or "company_id")


def score_served(served: Served, records: Sequence[Mapping[str, Any]], ids: Sequence[str], *, audit: AuditLog,
                 caller: str, request_id: str, risk_bands: Literal["master", "fixed"] = "master",
                 explain: bool = False, strict: bool = True,
                 audit_inputs: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None) -> ServedScores:
    """Score one request's companies with what is served, recording every decision and shadow score first.

    A group of one (:func:`score_group`): the deciding scores are recorded with source ``api``, the shadow ones
    with source ``shadow``, all under ``request_id``, in one transaction.

    Raises
    ------
    riskcore.errors.ModelNotFoundError
        When nothing is served.
    riskcore.errors.AuditError
        When the scores cannot be recorded.
    """
    request = ScoringRequest(records, ids, caller, request_id, explain, audit_inputs)
    return score_group(served, [request], audit=audit, risk_bands=risk_bands, strict=strict)[0]
