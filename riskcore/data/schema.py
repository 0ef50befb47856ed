"""The data contract: which column plays which role, and every feature declared once.

A :class:`DatasetSpec` names the id, time, target, segment and exposure columns,
lists the features with their kind, valid range, unit, plain-language label and
family, and the columns that must never be used as features. The demo
portfolio's spec is :data:`DEMO_SPEC`; a spec for any other CSV comes from
:func:`riskcore.data.infer.infer_spec`. :data:`PERSONAL_COLUMNS` names the
columns that hold personal data by their header alone (people's names, contact
details, account numbers); the audit trail stores their values only as salted
hashes (:func:`is_personal`).

Data generation, validation, the API's request model, slider ranges on the
pages and the hypothesis strategies in the tests all read from here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from riskcore.data.columns import normalise_name

__all__ = [
    "DEMO_SPEC",
    "FAMILIES",
    "PERSONAL_COLUMNS",
    "REGIONS",
    "SECTORS",
    "SIZE_CLASSES",
    "DatasetSpec",
    "Family",
    "FeatureKind",
    "FeatureSpec",
    "Recipe",
    "is_personal",
]

FeatureKind = Literal["numeric", "categorical"]
Family = Literal["financial", "esg", "alternative", "macro", "profile", "engineered", "other"]
FAMILIES: tuple[str, ...] = get_args(Family)
RecipeOp = Literal["product", "composite", "delta", "rolling_std"]
PANEL_OPS: frozenset[str] = frozenset({"delta", "rolling_std"})

Sector = Literal[
    "Energy",
    "Materials",
    "Industrials",
    "Consumer Discretionary",
    "Consumer Staples",
    "Health Care",
    "Financials",
    "Information Technology",
    "Communication Services",
    "Utilities",
    "Real Estate",
]
SECTORS: tuple[str, ...] = get_args(Sector)
Region = Literal["Northern Europe", "Western Europe", "Southern Europe", "Central & Eastern Europe"]
REGIONS: tuple[str, ...] = get_args(Region)
SizeClass = Literal["micro", "small", "medium"]
SIZE_CLASSES: tuple[str, ...] = get_args(SizeClass)

PERSONAL_COLUMNS: tuple[str, ...] = (
    # a company's name: for a sole trader or a small partnership it is a person's name
    "company_name",
    # people
    "name", "full_name", "first_name", "last_name", "surname", "given_name", "contact", "contact_name",
    "contact_person", "director", "director_name", "directors", "owner", "owner_name", "ceo", "ceo_name",
    "representative", "date_of_birth", "birth_date",
    # how to reach them
    "email", "email_address", "contact_email", "phone", "phone_number", "telephone", "mobile", "mobile_phone",
    "contact_phone", "fax", "address", "street", "street_address", "postal_address",
    # their numbers
    "iban", "bank_account", "account_number", "national_id", "passport_number", "ssn", "social_security_number",
    "tax_id",
)
"""Headers that name people or their contact details: the audit trail stores such inputs only as salted hashes.

Matched as column names are (:func:`riskcore.data.columns.normalise_name`: ``Contact E-mail``,
``contact_email`` and ``CONTACT-EMAIL`` are one name). ``[audit] redact`` in riskcore.toml adds to them; the
data-quality report also flags columns whose *values* look like e-mail addresses, phone numbers or IBANs
whatever their header (:mod:`riskcore.data.personal`).
"""
_PERSONAL_KEYS = frozenset(normalise_name(c) for c in PERSONAL_COLUMNS)


def is_personal(name: str) -> bool:
    """Whether a column's header names personal data (one of :data:`PERSONAL_COLUMNS`, as names are matched).

    Examples
    --------
    >>> is_personal("Contact E-mail"), is_personal("current_ratio")
    (True, False)
    """
    return normalise_name(name) in _PERSONAL_KEYS


@dataclass(frozen=True)
class Recipe:
    """How an engineered feature is computed from raw columns.

    ``product``: inputs multiplied, times ``scale``. ``composite``: weighted sum
    of robustly standardised inputs (centre and spread fitted on training rows
    only). ``delta``: change of one input since the company's previous period.
    ``rolling_std``: standard deviation of one input over the last ``window``
    periods of the company, the current one included. The last two look only
    backwards in time, so they may be computed on a whole panel before it is split.
    """

    op: RecipeOp
    inputs: tuple[str, ...]
    weights: tuple[float, ...] = ()
    window: int = 0
    scale: float = 1.0
    log_inputs: tuple[str, ...] = ()

    @property
    def is_panel(self) -> bool:
        """True when the recipe needs a company's earlier periods."""
        return self.op in PANEL_OPS


@dataclass(frozen=True)
class FeatureSpec:
    """One feature: name, kind, family, valid and typical range, unit, label.

    ``min``/``max`` bound the values that are possible at all: a value outside
    them is an error. ``typical_min``/``typical_max`` bound the values seen in
    healthy data: a value outside them but inside the valid range is an outlier,
    reported but kept. ``direction`` says which way risk goes (+1: a higher value
    means more risk, -1: less, 0: not monotone); training measures the model's own
    direction against it, and with ``train --monotone`` the boosted models are
    constrained to it. ``from_date``: the column holds dates and the feature is
    their age in years at the row's observation date (see :class:`DatasetSpec`);
    :func:`riskcore.data.quality.prepare_frame` computes it, and a date is never a raw feature.
    """

    name: str
    kind: FeatureKind = "numeric"
    family: Family = "other"
    label: str = ""
    unit: str = ""
    min: float | None = None
    max: float | None = None
    typical_min: float | None = None
    typical_max: float | None = None
    integer: bool = False
    categories: tuple[str, ...] = ()
    required: bool = False
    key: bool = False
    direction: int = 0
    description: str = ""
    recipe: Recipe | None = None
    from_date: bool = False

    @property
    def display_label(self) -> str:
        """The plain-language label, or the column name when none is given."""
        return self.label or self.name.replace("_", " ").capitalize()

    def format_value(self, value: Any) -> str:
        """Render a value with its unit for a sentence (``0.8×``, ``45 days``)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "missing"
        if self.kind == "categorical":
            return str(value)
        v = float(value)
        unit = self.unit
        if unit == "×":
            if abs(v) < 1:
                return f"{v:.2f}×"
            return f"{v:.1f}×" if abs(v) < 100 else f"{v:,.0f}×"
        if unit == "z":
            return f"{v:+.2f}"
        if unit == "%":
            return f"{v * 100:.1f}%"
        if unit == "pp":
            return f"{v:.1f} pp"
        if unit == "days":
            return f"{v:.0f} days"
        if unit in ("score", "index", "points"):
            return f"{v:.2f}" if abs(v) < 10 and not float(v).is_integer() else f"{v:.0f}"
        if unit == "flag":
            return "yes" if v >= 0.5 else "no"
        if self.integer:
            return f"{v:,.0f}" + (f" {unit}" if unit else "")
        if abs(v) >= 100:
            text = f"{v:,.0f}"
        elif abs(v) >= 1:
            text = f"{v:.2f}"
        else:
            text = f"{v:.3f}"
        return f"{text} {unit}".strip()


@dataclass(frozen=True)
class DatasetSpec:
    """Which column plays which role, and the features with their contract.

    Parameters
    ----------
    target : the binary outcome column (``default_12m`` in the demo).
    id : the company key, or ``None`` (the row number is then the id).
    time : the fiscal year or date column, or ``None`` (no out-of-time split).
    segment : the sector (or other segment) column used for breakdowns.
    exposure : exposure at default, in money, or ``None``.
    name_column : a display name for search, never a feature.
    positive : the target label that means "defaulted" when it is not 0/1.
    features : raw features the model may use.
    engineered : features computed from raw ones by a :class:`Recipe`.
    never : columns that must never be features (e.g. the demo's ``true_pd``).
    post_event : columns known only after the outcome; never features (the leakage
        check still tests them).
    year_end_month : the month a fiscal year ends (12: the calendar year). A time
        column written as dates becomes each row's fiscal year; a row's observation
        date is its time column's date, or the last day of its fiscal year.
    notes : what the inference converted or dropped, in sentences for the user
        (the quality report repeats them).
    """

    name: str
    target: str
    features: tuple[FeatureSpec, ...]
    id: str | None = None
    time: str | None = None
    segment: str | None = None
    exposure: str | None = None
    name_column: str | None = None
    positive: str | None = None
    engineered: tuple[FeatureSpec, ...] = ()
    never: tuple[str, ...] = ()
    post_event: tuple[str, ...] = ()
    oracle: str | None = None
    year_end_month: int = 12
    notes: tuple[str, ...] = ()

    # ----- views of the spec -------------------------------------------------
    @property
    def feature_names(self) -> tuple[str, ...]:
        """Raw feature names, in declaration order."""
        return tuple(f.name for f in self.features)

    @property
    def engineered_names(self) -> tuple[str, ...]:
        """Engineered feature names, in declaration order."""
        return tuple(f.name for f in self.engineered)

    @property
    def panel_features(self) -> tuple[FeatureSpec, ...]:
        """Engineered features that need a company's earlier periods."""
        return tuple(f for f in self.engineered if f.recipe is not None and f.recipe.is_panel)

    @property
    def row_features(self) -> tuple[FeatureSpec, ...]:
        """Engineered features computed from one row (fitted inside the pipeline)."""
        return tuple(f for f in self.engineered if f.recipe is not None and not f.recipe.is_panel)

    @property
    def model_inputs(self) -> tuple[str, ...]:
        """Columns the model pipeline receives: raw features, then panel features."""
        return self.feature_names + tuple(f.name for f in self.panel_features)

    @property
    def all_features(self) -> tuple[FeatureSpec, ...]:
        """Raw and engineered features."""
        return self.features + self.engineered

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns that identify a row: id and time, when present."""
        return tuple(c for c in (self.id, self.time) if c)

    @property
    def role_columns(self) -> tuple[str, ...]:
        """Every column with a role other than feature."""
        cols = [self.id, self.time, self.target, self.exposure, self.name_column]
        cols += list(self.never) + list(self.post_event)
        if self.segment and self.segment not in self.feature_names:
            cols.append(self.segment)
        return tuple(dict.fromkeys(c for c in cols if c))

    def feature(self, name: str) -> FeatureSpec:
        """The spec of one raw or engineered feature."""
        for f in self.all_features:
            if f.name == name:
                return f
        raise KeyError(name)

    def has_feature(self, name: str) -> bool:
        """True when ``name`` is a raw or engineered feature."""
        return any(f.name == name for f in self.all_features)

    def label(self, name: str) -> str:
        """Plain-language label of a feature or role column."""
        if self.has_feature(name):
            return self.feature(name).display_label
        return name.replace("_", " ").capitalize()

    def without_features(self, names: tuple[str, ...] | list[str]) -> DatasetSpec:
        """A copy with some raw features removed (engineered ones using them too)."""
        drop = set(names)
        feats = tuple(f for f in self.features if f.name not in drop)
        eng = tuple(
            f for f in self.engineered
            if f.recipe is None or not (set(f.recipe.inputs) & drop)
        )
        return replace(self, features=feats, engineered=eng)

    # ----- persistence -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` inverts it exactly."""
        return asdict(self)

    def to_json(self) -> str:
        """The spec as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        """Rebuild a spec written by :meth:`to_dict`."""

        def feat(d: dict[str, Any]) -> FeatureSpec:
            d = dict(d)
            r = d.pop("recipe", None)
            recipe = None
            if r is not None:
                recipe = Recipe(
                    op=r["op"],
                    inputs=tuple(r["inputs"]),
                    weights=tuple(r.get("weights", ())),
                    window=int(r.get("window", 0)),
                    scale=float(r.get("scale", 1.0)),
                    log_inputs=tuple(r.get("log_inputs", ())),
                )
            d["categories"] = tuple(d.get("categories", ()))
            return FeatureSpec(recipe=recipe, **d)

        d = dict(data)
        d["features"] = tuple(feat(f) for f in d["features"])
        d["engineered"] = tuple(feat(f) for f in d.get("engineered", ()))
        d["never"] = tuple(d.get("never", ()))
        d["post_event"] = tuple(d.get("post_event", ()))
        d["notes"] = tuple(d.get("notes", ()))
        return cls(**d)


# ---------------------------------------------------------------------------
# The demo portfolio
# ---------------------------------------------------------------------------

def _num(
    name: str,
    family: Family,
    label: str,
    unit: str,
    lo: float | None,
    hi: float | None,
    tlo: float | None = None,
    thi: float | None = None,
    *,
    direction: int = 0,
    key: bool = False,
    required: bool = False,
    integer: bool = False,
    description: str = "",
) -> FeatureSpec:
    return FeatureSpec(
        name=name,
        kind="numeric",
        family=family,
        label=label,
        unit=unit,
        min=lo,
        max=hi,
        typical_min=lo if tlo is None else tlo,
        typical_max=hi if thi is None else thi,
        integer=integer,
        required=required,
        key=key,
        direction=direction,
        description=description,
    )


_DEMO_FEATURES: tuple[FeatureSpec, ...] = (
    # profile
    FeatureSpec("sector", "categorical", "profile", "Sector", categories=SECTORS, required=True,
                description="GICS-style sector of the company's main activity."),
    FeatureSpec("region", "categorical", "profile", "Region", categories=REGIONS, required=True,
                description="Region of the registered office."),
    FeatureSpec("size_class", "categorical", "profile", "Size class", categories=SIZE_CLASSES,
                required=True, description="EU SME size class: micro, small or medium."),
    _num("firm_age", "profile", "Company age", "years", 0, 300, 0, 150, direction=-1, integer=True,
         description="Years since incorporation at fiscal-year end."),
    # financial ratios
    _num("current_ratio", "financial", "Current ratio", "×", 0, 100, 0.05, 12, direction=-1, key=True,
         required=True, description="Current assets / current liabilities."),
    _num("quick_ratio", "financial", "Quick ratio", "×", 0, 100, 0.02, 10, direction=-1,
         description="(Current assets - inventories) / current liabilities."),
    _num("cash_ratio", "financial", "Cash ratio", "×", 0, 50, 0, 6, direction=-1,
         description="Cash and equivalents / current liabilities."),
    _num("debt_to_assets", "financial", "Debt to assets", "×", 0, 5, 0, 1.6, direction=1, key=True,
         required=True, description="Total financial debt / total assets."),
    _num("equity_ratio", "financial", "Equity ratio", "%", -5, 1, -0.8, 0.95, direction=-1,
         description="Book equity / total assets; negative when liabilities exceed assets."),
    _num("net_debt_to_ebitda", "financial", "Net debt / EBITDA", "×", -100, 200, -10, 30, direction=1,
         key=True, description="(Debt - cash) / EBITDA; capped where EBITDA is near zero."),
    _num("interest_coverage", "financial", "Interest coverage", "×", 0.01, 250, direction=-1, key=True,
         required=True, description="EBIT / interest expense, floored at 0.01× and capped at 250×."),
    _num("roa", "financial", "Return on assets", "%", -3, 2, -0.45, 0.35, direction=-1, key=True,
         required=True, description="Net income / total assets."),
    _num("roe", "financial", "Return on equity", "%", -20, 20, -2, 1.5, direction=-1,
         description="Net income / book equity."),
    _num("ebitda_margin", "financial", "EBITDA margin", "%", -10, 1, -0.6, 0.6, direction=-1, key=True,
         description="EBITDA / revenue."),
    _num("net_margin", "financial", "Net margin", "%", -10, 1, -0.8, 0.45, direction=-1,
         description="Net income / revenue."),
    _num("asset_turnover", "financial", "Asset turnover", "×", 0, 30, 0.05, 5, direction=-1,
         description="Revenue / total assets."),
    _num("receivables_days", "financial", "Receivables days", "days", 0, 1000, 0, 240, direction=1,
         description="Trade receivables / revenue × 365."),
    _num("revenue_growth", "financial", "Revenue growth", "%", -1, 50, -0.7, 1.5,
         description="Change in revenue on the previous fiscal year; both collapse and very fast growth add risk."),
    _num("total_assets", "financial", "Total assets", "EUR m", 0, 100_000, 0.02, 400, direction=-1,
         description="Balance-sheet total, millions of euros."),
    _num("employees", "financial", "Employees", "people", 0, 1_000_000, 1, 400, integer=True, direction=-1,
         description="Head count at fiscal-year end."),
    _num("retained_earnings_to_assets", "financial", "Retained earnings / assets", "×", -10, 2, -1.5, 0.8,
         direction=-1, key=True, description="Altman X2: accumulated retained earnings / total assets."),
    _num("working_capital_to_assets", "financial", "Working capital / assets", "×", -5, 1, -0.8, 0.8,
         direction=-1, description="Altman X1: (current assets - current liabilities) / total assets."),
    _num("ebit_to_assets", "financial", "EBIT / assets", "×", -3, 2, -0.5, 0.45, direction=-1,
         description="Altman X3: operating profit / total assets."),
    # ESG
    _num("esg_environmental", "esg", "Environmental score", "score", 0, 100, direction=-1,
         description="Environmental pillar score, 0-100, normalised within sector and year (50 = sector median)."),
    _num("esg_social", "esg", "Social score", "score", 0, 100, direction=-1,
         description="Social pillar score, 0-100, normalised within sector and year."),
    _num("esg_governance", "esg", "Governance score", "score", 0, 100, direction=-1, key=True,
         description="Governance pillar score, 0-100, normalised within sector and year."),
    _num("carbon_intensity", "esg", "Carbon intensity", "tCO2e/EUR m", 0, 20_000, 0, 5_000, direction=1,
         description="Scope 1+2 emissions per million euros of revenue; strongly sector-dependent."),
    _num("esg_controversies", "esg", "ESG controversies", "count", 0, 100, 0, 12, direction=1, integer=True,
         description="Number of ESG controversies reported in the fiscal year."),
    _num("governance_red_flag", "esg", "Governance red flag", "flag", 0, 1, direction=1, integer=True,
         description="1 when the auditor qualified the accounts or a governance breach was reported."),
    _num("esg_momentum", "esg", "ESG momentum", "points", -100, 100, -35, 35, direction=-1,
         description="Change of the average ESG score on the previous year, in points."),
    # alternative data
    _num("analyst_sentiment", "alternative", "Analyst sentiment", "score", -1, 1, direction=-1,
         description="Average tone of analyst and rating-agency notes, -1 (negative) to 1 (positive)."),
    _num("news_sentiment", "alternative", "News sentiment", "score", -1, 1, direction=-1, key=True,
         description="Average tone of news about the company over the last quarter, -1 to 1."),
    _num("social_sentiment", "alternative", "Social-media sentiment", "score", -1, 1, direction=-1,
         description="Average tone of social-media mentions, -1 to 1."),
    _num("equity_vol_30d", "alternative", "Equity volatility (30 days)", "%", 0, 20, 0.02, 3, direction=1,
         description="Annualised volatility of daily equity returns, last 30 trading days; listed companies only."),
    _num("equity_vol_90d", "alternative", "Equity volatility (90 days)", "%", 0, 20, 0.02, 3, direction=1,
         description="Annualised volatility, last 90 trading days; listed companies only."),
    _num("equity_vol_250d", "alternative", "Equity volatility (250 days)", "%", 0, 20, 0.02, 3, direction=1,
         description="Annualised volatility, last 250 trading days; listed companies only."),
    _num("bid_ask_spread_bps", "alternative", "Bid-ask spread", "bps", 0, 10_000, 1, 2_500, direction=1,
         description="Average relative quoted spread in basis points, a measure of illiquidity; listed only."),
    _num("supplier_payment_delay", "alternative", "Supplier payment delay", "days", 0, 365, 0, 150,
         direction=1, key=True, description="Average days past the agreed term on supplier invoices."),
    _num("web_traffic_growth", "alternative", "Web-traffic growth", "%", -1, 100, -0.9, 3, direction=-1,
         description="Year-on-year change in visits to the company's websites."),
    # macro
    _num("gdp_growth", "macro", "GDP growth (region)", "pp", -30, 30, -12, 10, direction=-1,
         description="Real GDP growth of the company's region in the fiscal year, percent."),
    _num("policy_rate", "macro", "Policy rate", "pp", -2, 25, -1, 10, direction=1,
         description="Central-bank policy rate at fiscal-year end, percent."),
    _num("sector_pmi", "macro", "Sector PMI", "index", 0, 100, 25, 75, direction=-1,
         description="Purchasing managers' index of the company's sector (50 = no change)."),
)

_DEMO_ENGINEERED: tuple[FeatureSpec, ...] = (
    FeatureSpec("leverage_x_carbon", family="engineered", label="Leverage × carbon intensity", unit="",
                direction=1, description="Debt to assets × carbon intensity / 1,000: debt is riskier "
                "where a carbon price can hit the business.",
                recipe=Recipe("product", ("debt_to_assets", "carbon_intensity"), scale=0.001)),
    FeatureSpec("liquidity_x_sentiment", family="engineered", label="Liquidity × news sentiment", unit="",
                description="Current ratio × news sentiment: thin liquidity hurts most when the news turns.",
                recipe=Recipe("product", ("current_ratio", "news_sentiment"))),
    FeatureSpec("governance_x_leverage", family="engineered", label="Governance × leverage", unit="",
                description="Governance score / 100 × debt to assets.",
                recipe=Recipe("product", ("esg_governance", "debt_to_assets"), scale=0.01)),
    FeatureSpec("financial_health", family="engineered", label="Financial-health composite", unit="z",
                direction=-1,
                description="Sum of robust z-scores (median and IQR from training rows): liquidity, coverage, "
                "profitability, retained earnings and working capital up; leverage and payment delays down.",
                recipe=Recipe(
                    "composite",
                    ("current_ratio", "interest_coverage", "roa", "retained_earnings_to_assets",
                     "working_capital_to_assets", "debt_to_assets", "supplier_payment_delay"),
                    weights=(1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0),
                    log_inputs=("current_ratio", "interest_coverage"),
                )),
    FeatureSpec("debt_to_assets_delta", family="engineered", label="Change in debt to assets", unit="×",
                direction=1, description="Debt to assets minus its value in the company's previous fiscal year.",
                recipe=Recipe("delta", ("debt_to_assets",))),
    FeatureSpec("roa_delta", family="engineered", label="Change in return on assets", unit="%", direction=-1,
                description="Return on assets minus its previous-year value.",
                recipe=Recipe("delta", ("roa",))),
    FeatureSpec("current_ratio_delta", family="engineered", label="Change in current ratio", unit="×",
                direction=-1, description="Current ratio minus its previous-year value.",
                recipe=Recipe("delta", ("current_ratio",))),
    FeatureSpec("ebitda_margin_delta", family="engineered", label="Change in EBITDA margin", unit="%",
                direction=-1, description="EBITDA margin minus its previous-year value.",
                recipe=Recipe("delta", ("ebitda_margin",))),
    FeatureSpec("roa_vol_3y", family="engineered", label="Profit volatility (3 years)", unit="%", direction=1,
                description="Standard deviation of return on assets over the last three fiscal years.",
                recipe=Recipe("rolling_std", ("roa",), window=3)),
    FeatureSpec("roa_vol_5y", family="engineered", label="Profit volatility (5 years)", unit="%", direction=1,
                description="Standard deviation of return on assets over the last five fiscal years.",
                recipe=Recipe("rolling_std", ("roa",), window=5)),
    FeatureSpec("revenue_growth_vol_3y", family="engineered", label="Growth volatility (3 years)", unit="%",
                direction=1, description="Standard deviation of revenue growth over the last three fiscal years.",
                recipe=Recipe("rolling_std", ("revenue_growth",), window=3)),
)

DEMO_SPEC = DatasetSpec(
    name="demo_portfolio",
    target="default_12m",
    id="company_id",
    time="fiscal_year",
    segment="sector",
    exposure="exposure_eur",
    name_column="company_name",
    features=_DEMO_FEATURES,
    engineered=_DEMO_ENGINEERED,
    never=("true_pd",),
    oracle="true_pd",
)
"""Spec of the demo portfolio generated by :func:`riskcore.data.synth.generate_portfolio`."""
