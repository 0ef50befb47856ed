"""Request and response models of the REST API.

The request models are generated from the deployed bundle's
:class:`~riskcore.data.schema.DatasetSpec` by :func:`build_request_models`, so the
API accepts exactly the features the model was trained on, and its OpenAPI
document states the spec's valid ranges, categories and required features.

Validation happens once per rule. The models check the JSON itself, strictly:
no strings for numbers, no booleans, no NaN or infinities, no unknown fields.
The spec's rules (required, valid range, categories) are not repeated here: the
engine checks them (:func:`riskcore.serving.records.validate_record`, the same
check and the same sentence as for a file's cells), and the API reports what it
finds in the same 422 shape, with the error types a pydantic rule would have had
(:mod:`api.validation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, create_model

from api.monitoring_bodies import (
    AlertDelivery,
    DeliveryTry,
    ExpectedPerformance,
    GradeBacktest,
    MonitoredFeature,
    MonitoredScore,
    MonitoringAlert,
    MonitoringSummary,
    RealisedPerformance,
    ValidationGrade,
    ValidationSummary,
    ValidationTest,
)
from api.validation import engine_record
from riskcore.workbench import MAX_ID_CHARS, RISK_LEVELS, DatasetSpec, FeatureSpec, ModelBundle, validate_record

ID_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"  # one visible character at least, and no NUL (ECMA and Rust regex)

__all__ = [
    "AlertDelivery",
    "BatchError",
    "BatchItem",
    "BatchResult",
    "Contribution",
    "DeliveryTry",
    "ErrorBody",
    "ExpectedPerformance",
    "Explained",
    "FeatureInfo",
    "FieldError",
    "GradeBacktest",
    "Health",
    "ModelInfo",
    "MonitoredFeature",
    "MonitoredScore",
    "MonitoringAlert",
    "MonitoringSummary",
    "Prediction",
    "Ready",
    "RealisedPerformance",
    "Reason",
    "RequestModels",
    "ValidationErrorBody",
    "ValidationGrade",
    "ValidationSummary",
    "ValidationTest",
    "build_request_models",
]

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
_MAX_CATEGORY_CHARS = 200
_YEAR_RANGE = (1900, 2200)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

class ErrorBody(BaseModel):
    """An error: what went wrong and what to do, with the request id for the server log."""

    detail: str
    request_id: str


class FieldError(BaseModel):
    """One invalid value: where it is (``["body", "features", "roa"]``), why, and the error type."""

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """422: every invalid value of the request."""

    detail: list[FieldError]
    request_id: str


# ---------------------------------------------------------------------------
# responses
# ---------------------------------------------------------------------------

class Prediction(BaseModel):
    """The score of one company."""

    company_id: str
    fiscal_year: int | None = None
    p_default: float = Field(description="Calibrated probability of default within 12 months, in [0, 1] "
                                         "(floored at 0.05%).")
    score_raw: float = Field(description="The model's raw score (log-odds) before calibration.")
    decision: Literal["accept", "refer"] = Field(description="'refer' when p_default is at or above the model's "
                                                             "cost-based threshold, else 'accept'.")
    grade: str = Field(description="Master-scale grade, '1' (best) to '10'.")
    risk_level: Literal[RISK_LEVELS] = Field(description="Low, Medium, High or Critical.")  # type: ignore[valid-type]
    expected_loss: float | None = Field(description="p_default × LGD × exposure, when an exposure was sent.")
    n_missing: int = Field(description="Optional features sent without a value (scored as missing).")
    model_version: str
    request_id: str
    timestamp: datetime = Field(description="When the score was computed (UTC).")


class BatchItem(Prediction):
    """The score of one company of a batch; ``index`` is its position in ``companies``."""

    index: int


class BatchError(BaseModel):
    """Why one company of a batch was not scored."""

    index: int = Field(description="Position of the company in `companies` (0-based).")
    company_id: str | None
    field: str | None = Field(description="Path of the invalid value inside the company, e.g. 'features.roa'.")
    message: str
    type: str


class BatchResult(BaseModel):
    """The scores of a batch and the companies that could not be scored."""

    results: list[BatchItem]
    errors: list[BatchError]
    n_companies: int
    n_scored: int
    n_rejected: int
    model_version: str
    request_id: str
    timestamp: datetime


class Reason(BaseModel):
    """A reason code: a feature that raises this company's risk, in plain words."""

    feature: str
    label: str
    value: float | str | None
    sector_median: float | None
    contribution_pd: float
    text: str


class Contribution(BaseModel):
    """How much one feature moved the PD from the average company's PD (``base_pd``)."""

    feature: str
    label: str
    value: float | str | None
    contribution_logodds: float
    contribution_pd: float


class Explained(Prediction):
    """A score with its reason codes and per-feature contributions (largest effect first).

    ``base_pd`` plus the sum of ``contribution_pd`` equals ``p_default``.
    """

    base_pd: float
    reasons: list[Reason]
    contributions: list[Contribution]


class FeatureInfo(BaseModel):
    """One feature the model accepts, with its valid and typical range."""

    name: str
    kind: Literal["numeric", "categorical"]
    family: str
    label: str
    unit: str
    description: str
    required: bool
    min: float | None
    max: float | None
    typical_min: float | None
    typical_max: float | None
    categories: list[str]


class Costs(BaseModel):
    """The costs the threshold was chosen under."""

    fn: float = Field(description="Cost of a missed default.")
    fp: float = Field(description="Cost of a false alarm.")
    lgd: float = Field(description="Loss given default.")
    mode: str


ServingStatus = Literal["ok", "degraded", "unavailable"]


class ModelInfo(BaseModel):
    """The model actually serving (the champion, or the last verified champion when the champion cannot be)."""

    model_version: str = Field(description="The version that decides; see `status` when it is not the champion.")
    kind: str
    trained_at: str
    bundle_hash: str = Field(description="SHA-256 of the bundle's manifest; pins every file of the model.")
    calibration: str
    threshold: float
    costs: Costs
    test_metrics: dict[str, float | int | list[float] | None]
    features: list[FeatureInfo]
    max_batch: int
    status: ServingStatus = Field(description="'ok': the champion serves; 'degraded': the champion cannot be "
                                              "served (its bundle fails verification) and an earlier one does.")
    reason: str = Field(description="Why the status is not 'ok'; empty when it is.")
    champion_version: str | None = Field(description="The registry's champion (null for a bundle served directly).")
    challenger_version: str | None = Field(description="The challenger scoring in shadow, if one is configured.")
    canary_share: float = Field(description="Share of companies the challenger decides (0: shadow only).")


class Health(BaseModel):
    """The process is alive."""

    status: Literal["ok"]


class Ready(BaseModel):
    """Whether the API can score: a verified model and a writable audit store."""

    ready: bool
    status: ServingStatus = Field(description="'ok': the champion serves; 'degraded': an earlier, verified "
                                              "champion serves because the champion cannot; 'unavailable'.")
    model_version: str | None = Field(description="The version serving (same as serving_version).")
    serving_version: str | None
    champion_version: str | None
    challenger_version: str | None = Field(description="The challenger scoring in shadow, if any.")
    reason: str = Field(description="Why the status is not 'ok'; empty when it is.")
    reasons: list[str] = Field(description="Why the API is not ready; empty when it is.")


# ---------------------------------------------------------------------------
# request models, built from the spec
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestModels:
    """The request models of one bundle and a valid example company."""

    features: type[BaseModel]
    company: type[BaseModel]
    batch: type[BaseModel]
    examples: list[dict[str, Any]]


def _describe(f: FeatureSpec) -> str:
    parts = [f.description or f.display_label]
    if f.unit:
        parts.append(f"Unit: {f.unit}.")
    if f.kind == "numeric" and f.typical_min is not None and f.typical_max is not None:
        parts.append(f"Typical range {f.typical_min:g} to {f.typical_max:g}.")
    if not f.required:
        parts.append("Optional: leave it out (or send null) when unknown.")
    return " ".join(parts)


def _value_schema(f: FeatureSpec) -> dict[str, Any]:
    """The JSON schema of one feature's value: its type, and the spec's range or categories as documentation."""
    if f.kind == "categorical":
        if f.categories:
            return {"type": "string", "enum": list(f.categories)}
        return {"type": "string", "minLength": 1, "maxLength": _MAX_CATEGORY_CHARS}
    bounds = {k: v for k, v in (("minimum", f.min), ("maximum", f.max)) if v is not None}
    return {"type": "number", **bounds}


def _feature_field(f: FeatureSpec) -> tuple[Any, Any]:
    """(type, FieldInfo) of one feature; the alias is the feature's name.

    The type checks only what JSON says (a number is a finite number, a category
    without a fixed list is a short string); whether a value is required, in range
    or a known category is the engine's check, so every field may be absent here and
    the schema states the rules instead.
    """
    schema = _value_schema(f)
    if not f.required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if f.kind == "categorical" and f.categories:
        base: Any = Any  # any JSON value reaches the category check, which names the allowed ones
    elif f.kind == "categorical":
        base = Annotated[str, Field(min_length=1, max_length=_MAX_CATEGORY_CHARS)]
    else:
        base = float
    typ = Annotated[base | None, WithJsonSchema(schema)]
    field = Field(None, alias=f.name, title=f.display_label, description=_describe(f))
    return typ, field


def _required_in_schema(required: list[str]) -> Any:
    """Mark the spec's required features as required in the JSON schema (the engine enforces it)."""

    def extra(schema: dict[str, Any]) -> None:
        if required:
            schema["required"] = required
        for name in required:
            schema["properties"][name].pop("default", None)

    return extra


def _panel_field(f: FeatureSpec) -> tuple[Any, Any]:
    text = (f"{f.description or f.display_label} Optional: a company's earlier years are not part of a request, "
            "so send it when you know it; otherwise it is scored as missing.")
    return float | None, Field(None, alias=f.name, title=f.display_label, description=text)


def _whole_number(value: Any) -> Any:
    """2023.0 is the integer 2023 in JSON Schema; pass it on as an int (anything else is left to strict int)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# the bounds sit inside the Annotated so the JSON schema says minimum/maximum (outside, pydantic writes ge/le)
Year = Annotated[int, Field(ge=_YEAR_RANGE[0], le=_YEAR_RANGE[1]), BeforeValidator(_whole_number)]


def _typical_value(f: FeatureSpec) -> Any:
    if f.kind == "categorical":
        return f.categories[0] if f.categories else "unknown"
    lo = f.typical_min if f.typical_min is not None else f.min
    hi = f.typical_max if f.typical_max is not None else f.max
    if lo is not None and hi is not None:
        v = (lo + hi) / 2
    else:
        v = lo if lo is not None else hi if hi is not None else 0.0
    return float(round(v)) if f.integer else float(v)


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):  # NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        return float(value)
    return value


def _example_companies(bundle: ModelBundle, features: type[BaseModel], has_year: bool,
                       has_exposure: bool) -> list[Any]:
    """Two valid companies from the bundle's holdout rows (a low and a high PD), else typical values."""
    spec = bundle.spec
    names = [f.name for f in spec.features] + [f.name for f in spec.panel_features]
    examples = []
    try:
        hold = bundle.holdout()
        if "p_default" in hold and len(hold):
            hold = hold.sort_values("p_default", kind="stable")
            rows = [hold.iloc[len(hold) // 10], hold.iloc[-1]]
        else:
            rows = [hold.iloc[0]] if len(hold) else []
    except Exception:  # an example is a nicety; a bundle without holdout rows still serves
        rows = []
    for i, row in enumerate(rows):
        values = {n: _plain(row[n]) for n in names if n in row.index}
        values = {n: v for n, v in values.items() if v is not None}
        try:
            features.model_validate(values)
        except ValidationError:
            continue
        if validate_record(spec, values, strict=True)[1]:
            continue
        company: dict[str, Any] = {"company_id": str(row[spec.id]) if spec.id and spec.id in row.index
                                   else f"C-{i + 1:04d}"}
        if has_year and spec.time and spec.time in row.index and _plain(row[spec.time]) is not None:
            year = int(_plain(row[spec.time]))
            if _YEAR_RANGE[0] <= year <= _YEAR_RANGE[1]:
                company["fiscal_year"] = year
        if has_exposure and spec.exposure and spec.exposure in row.index:
            ead = _plain(row[spec.exposure])
            if isinstance(ead, float) and ead >= 0:
                company["exposure"] = ead
        company["features"] = values
        examples.append(company)
    if not examples:
        values = {f.name: _typical_value(f) for f in spec.features}
        examples.append({"company_id": "C-0001", "features": values})
    return examples


def build_request_models(bundle: ModelBundle, max_batch: int) -> RequestModels:
    """The request models for a bundle's spec.

    ``Features`` has one field per raw feature (numeric: a finite number within
    the spec's ``min``/``max``; categorical: one of the spec's categories),
    required where the spec says so, plus the optional panel features (changes
    on the previous year, volatilities). ``Company`` wraps it with the id, the
    optional fiscal year and exposure. ``Batch`` holds up to ``max_batch``
    companies, each validated on its own by the endpoint.
    """
    spec = bundle.spec
    fields: dict[str, Any] = {}
    for i, f in enumerate(spec.features):
        fields[f"f{i}"] = _feature_field(f)
    for i, f in enumerate(spec.panel_features):
        fields[f"p{i}"] = _panel_field(f)
    required = [f.name for f in spec.features if f.required]
    features = create_model("Features",  # type: ignore[call-overload]
                            __config__=ConfigDict(**STRICT, json_schema_extra=_required_in_schema(required)), **fields)

    has_year, has_exposure = bool(spec.time), bool(spec.exposure)
    company_fields: dict[str, Any] = {
        # not blank, and no NUL: no database can store one in a key, and the audit trail refuses it
        "company_id": (Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)],
                       Field(..., description=f"The company's identifier (at most {MAX_ID_CHARS} characters, not "
                                              "blank, no NUL character); recorded in the audit trail.")),
    }
    if has_year:
        company_fields["fiscal_year"] = (Year | None, Field(None, description="The fiscal year of the figures."))
    if has_exposure:  # 0 or more: a rule of the engine's, stated here as the schema's minimum
        company_fields["exposure"] = (Annotated[float | None, WithJsonSchema(
            {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]})], Field(None, description=(
                "Exposure at default in money; when sent, the response carries the expected loss.")))
    company_fields["features"] = (features, Field(..., description="The company's values, one per feature."))
    probe = create_model("Company", __config__=STRICT, **company_fields)  # type: ignore[call-overload]
    examples = _example_companies(bundle, features, has_year, has_exposure)
    examples = [e for e in examples if _valid(probe, spec, e)]
    company = create_model("Company", __config__=ConfigDict(**STRICT, json_schema_extra={"examples": examples}),
                           **company_fields)  # type: ignore[call-overload]

    item = Annotated[dict[str, Any], WithJsonSchema({
        "anyOf": [{"$ref": "#/components/schemas/Company"}, {"type": "object"}],
        "description": "A company as in POST /predict. Each company is validated on its own: one that is not a "
                       "valid Company is listed in `errors` and the others are still scored.",
    })]
    batch = create_model(
        "Batch",
        __config__=ConfigDict(**STRICT, json_schema_extra={"examples": [{"companies": examples}]}),
        companies=(Annotated[list[item], Field(min_length=1, max_length=max_batch)],  # type: ignore[valid-type]
                   Field(..., description=f"1 to {max_batch} companies; more is refused with 422.")),
    )
    return RequestModels(features=features, company=company, batch=batch, examples=examples)


def _valid(model: type[BaseModel], spec: DatasetSpec, company: dict[str, Any]) -> bool:
    """True when an example company passes both the JSON model and the spec's rules."""
    try:
        checked = model.model_validate(company)
    except ValidationError:
        return False
    return not validate_record(spec, engine_record(spec, checked), strict=True)[1]
