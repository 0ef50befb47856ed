"""How a request's companies are validated: once, by the JSON model and then the spec's rules.

The request models (:mod:`api.schemas`) check the JSON itself; the spec's rules
(required, valid range, categories) are checked by the engine
(:func:`riskcore.serving.records.validate_record`, in its strict form), with the
same sentence a file's cell gets. This module turns a validated ``Company`` into
the record the engine takes, and a broken rule into an error in pydantic's shape
(``loc``, ``msg``, ``type``), for one company (a 422) or inside a batch (one
entry of ``errors``).
"""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from riskcore.errors import Problem, SchemaError
from riskcore.workbench import MAX_ID_CHARS, DatasetSpec

__all__ = ["RULE_TYPES", "batch_rule_errors", "engine_record", "rule_error", "rule_errors", "shown_id",
           "validate_items"]

RULE_TYPES = {"required_missing": "missing", "unknown_category": "literal_error", "non_finite": "finite_number",
              "type": "float_type"}
"""The API error type of each rule of :mod:`riskcore.data.rules` (a range's depends on the side it misses)."""


def engine_record(spec: DatasetSpec, company: BaseModel) -> dict[str, Any]:
    """The dict :func:`riskcore.serving.scoring.score_one` takes, from a Company the JSON model accepted."""
    record = company.features.model_dump(by_alias=True)  # type: ignore[attr-defined]
    record[spec.id or "company_id"] = company.company_id  # type: ignore[attr-defined]
    if spec.exposure and getattr(company, "exposure", None) is not None:
        record[spec.exposure] = company.exposure  # type: ignore[attr-defined]
    return record


def rule_error(spec: DatasetSpec, problem: Problem) -> tuple[tuple[str, ...], str, str]:
    """Where a broken rule of the spec sits in a request, its message, and its error type.

    The location is ``("body", "features", name)`` for a feature and ``("body",
    "exposure")`` for the exposure; the message is the engine's sentence, the same a
    file's cell gets; the type is the one pydantic gives the same rule
    (``missing``, ``greater_than_equal``, ``less_than_equal``, ``literal_error``,
    ``finite_number``), so clients keep telling errors apart by ``type``.
    """
    column = problem.column
    loc: tuple[str, ...] = ("body",)
    if column is not None:
        loc = ("body", "exposure") if column == spec.exposure else ("body", "features", column)
    kind = problem.check or ""
    if kind == "range":
        low = spec.feature(column).min if column is not None and spec.has_feature(column) else 0.0
        below = low is not None and isinstance(problem.value, (int, float)) and problem.value < low
        return loc, problem.problem, "greater_than_equal" if below else "less_than_equal"
    return loc, problem.problem, RULE_TYPES.get(kind, "value_error")


def rule_errors(spec: DatasetSpec, err: SchemaError) -> RequestValidationError:
    """The spec's rules one company breaks, as the 422 a pydantic rule would have given."""
    errors = []
    for p in err.problems:
        loc, msg, kind = rule_error(spec, p)
        errors.append({"loc": loc, "msg": msg, "type": kind})
    return RequestValidationError(errors)


def shown_id(item: Any) -> str | None:
    """The company id of a batch item, when it is one a response may repeat."""
    cid = item.get("company_id") if isinstance(item, dict) else None
    return cid if isinstance(cid, str) and len(cid) <= MAX_ID_CHARS else None


def validate_items(company: type[BaseModel],
                   items: list[Any]) -> tuple[list[tuple[int, BaseModel]], list[dict[str, Any]]]:
    """Each batch item through the JSON model on its own: the valid companies by index, the others' errors."""
    valid: list[tuple[int, BaseModel]] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            valid.append((i, company.model_validate(item)))
        except ValidationError as err:
            errors.extend({"index": i, "company_id": shown_id(item), "field": ".".join(map(str, e["loc"])) or None,
                           "message": e["msg"], "type": e["type"]} for e in err.errors())
    return valid, errors


def batch_rule_errors(spec: DatasetSpec, items: list[Any], valid: list[tuple[int, BaseModel]],
                      problems: list[tuple[int, SchemaError]]) -> list[dict[str, Any]]:
    """The spec's rules broken inside a batch, one entry per problem, with the item's index in the request."""
    errors = []
    for j, problem in problems:
        i = valid[j][0]
        for p in problem.problems:
            loc, msg, kind = rule_error(spec, p)
            errors.append({"index": i, "company_id": shown_id(items[i]), "field": ".".join(loc[1:]) or None,
                           "message": msg, "type": kind})
    return errors
