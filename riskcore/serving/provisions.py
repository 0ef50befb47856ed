"""A portfolio's provisions from a model and its panel: the PDs of each macro scenario, the term structures, the ECL.

:func:`provision_frame` takes a panel of company-years (the portfolio's history with the default flag, and
the as-of year's rows) and a model bundle, and

1. scores every row with the model (:func:`riskcore.serving.scoring.score_frame`: the same validation and
   panel features as ``score``);
2. estimates both term structures (``evaluation/lifetime.py``) on the years before the as-of year, whose
   12-month outcomes are known by then;
3. re-scores the as-of rows under each macro scenario (:func:`default_scenarios` from the settings, or a
   file, :func:`read_scenarios`): the model's own macro inputs moved, the rows scored again with their
   history, as the model report's macro stress does on the test rows;
4. stages the companies and computes their ECL (``evaluation/provisions.py``).

The as-of portfolio is every company with a row in the as-of year, plus the companies that defaulted in
the 12 months before it (their last row's default flag): their exposures are in default, stage 3.
The origination PD is the ``origination_column`` when the file has one, else the company's PD in its
first year in the file. Remaining terms, LGD, EIR, days past due and the watch list come from the
columns the settings name, where the file has them, and from the settings otherwise.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from riskcore.config import ProvisionRules
from riskcore.data.parsing import fiscal_years, parse_dates
from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.errors import ConfigError, DataFileError
from riskcore.evaluation.lifetime import GradeHazards, MigrationMatrix, PanelOutcomes, grade_hazards, migration_matrix
from riskcore.evaluation.provisions import Exposures, ProvisionResult, provisions
from riskcore.modelling.bundle import ModelBundle
from riskcore.modelling.soundness import macro_shift, stressed
from riskcore.serving.scoring import score_frame

__all__ = ["ProvisionRun", "Scenario", "as_of_year", "default_scenarios", "provision_frame",
           "read_scenarios", "row_years"]

_MAX_TERM = 100.0


@dataclass(frozen=True)
class Scenario:
    """A macro scenario: its weight and how far each macro input moves from the as-of year (in the input's units)."""

    name: str
    weight: float
    shifts: dict[str, float] = field(default_factory=dict)

    def describe(self, spec: DatasetSpec) -> str:
        """``GDP growth (region) −2 pp, Policy rate +2 pp`` (or ``as observed``)."""
        parts = [f"{spec.feature(k).display_label} {v:+.3g} {spec.feature(k).unit}".rstrip()
                 for k, v in self.shifts.items() if v]
        return ", ".join(parts) if parts else "as observed"


def _macro_inputs(spec: DatasetSpec, frame: pd.DataFrame) -> list[FeatureSpec]:
    return [f for f in spec.features if f.family == "macro" and f.direction and f.kind == "numeric" and f.name in frame]


def default_scenarios(spec: DatasetSpec, frame: pd.DataFrame, rules: ProvisionRules) -> list[Scenario]:
    """Base (as observed), upside and downside from the settings' weights and severities.

    The downside moves every macro input of the spec with a declared risk direction adversely, by
    ``downside_severity`` × 2 points for inputs in percentage points and × one standard deviation of the
    panel's values otherwise; the upside moves them the other way by ``upside_severity`` × the same.
    """
    steps = {f.name: macro_shift(f, frame[f.name]) for f in _macro_inputs(spec, frame)}
    steps = {k: v for k, v in steps.items() if v != 0.0}
    return [Scenario("base", rules.base_weight),
            Scenario("upside", rules.upside_weight, {k: -v * rules.upside_severity for k, v in steps.items()}),
            Scenario("downside", rules.downside_weight, {k: v * rules.downside_severity for k, v in steps.items()})]


def read_scenarios(path: str | os.PathLike[str], spec: DatasetSpec) -> list[Scenario]:
    """Scenarios from a TOML file: one table per scenario with its ``weight`` and macro inputs' moves.

    Example::

        [base]
        weight = 0.5
        [downside]
        weight = 0.3
        gdp_growth = -3.0     # points below the as-of year
        policy_rate = 1.5

    Raises
    ------
    ConfigError
        When the file cannot be read, a scenario has no weight, names an input that is not a macro input of
        the model's data, gives a value that is not a number, or the weights do not add up to 1.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"scenarios file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"scenarios file {str(path)!r} cannot be read: {err}") from None
    macro = [f.name for f in spec.features if f.family == "macro" and f.kind == "numeric"]
    out = []
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"scenarios file {str(path)!r}: {name!r} must be a table, e.g. [downside] followed by "
                              "weight = 0.3 and the macro inputs' moves")
        values: dict[str, float] = {}
        for key, value in table.items():
            if key != "weight" and key not in macro:
                raise ConfigError(f"scenarios file {str(path)!r}: [{name}] moves {key!r}, which is not a macro input "
                                  f"of the model; allowed: weight, {', '.join(macro)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"scenarios file {str(path)!r}: [{name}] {key}={value!r} must be a number, e.g. "
                                  "-2.0")
            values[key] = float(value)
        if "weight" not in values or not 0 <= values["weight"] <= 1:
            raise ConfigError(f"scenarios file {str(path)!r}: [{name}] needs a weight in [0, 1], e.g. weight = 0.3")
        weight = values.pop("weight")
        out.append(Scenario(name, weight, values))
    total = sum(s.weight for s in out)
    if not out or abs(total - 1.0) > 1e-6:
        raise ConfigError(f"scenarios file {str(path)!r}: the weights add up to {total:g}; they must add up to 1")
    return out


def as_of_year(value: str | int) -> int:
    """The fiscal year of an as-of date (``2024-12-31``, ``2024``).

    Raises
    ------
    ConfigError
        When the value is not a year or a date.
    """
    text = str(value).strip()
    try:
        year = int(text[:4]) if len(text) >= 4 and (len(text) == 4 or text[4] in "-/") else int("x")
        if len(text) > 4:
            pd.Timestamp(text)
    except ValueError:
        raise ConfigError(f"as-of date {text!r} is not a date; give a date or a fiscal year, e.g. 2024-12-31 or "
                          "2024") from None
    return year


@dataclass(frozen=True)
class ProvisionRun:
    """Provisions of a portfolio at an as-of year: per company, the portfolio's summary, what they came from.

    Attributes
    ----------
    companies : per company: the id, sector, grade and everything :meth:`ProvisionResult.frame` holds, and
        ``pd_12m_<scenario>`` for each scenario.
    result : the :class:`~riskcore.evaluation.provisions.ProvisionResult`.
    scenarios : the scenarios, with their weights and moves.
    hazards, migration : the term structures estimated on the years before the as-of year.
    as_of : the fiscal year; ``history_rows`` the company-years the term structures were estimated on;
    rejected : rows the model could not score (left out, listed by scoring's reject report).
    notes : what the run assumed for the user to know (no exposure column, origination from the file).
    """

    companies: pd.DataFrame
    result: ProvisionResult
    scenarios: list[Scenario]
    hazards: GradeHazards
    migration: MigrationMatrix
    as_of: int
    history_rows: int
    rejected: int
    model_version: str
    notes: tuple[str, ...] = ()

    def summary(self, by: str) -> pd.DataFrame:
        """ECL, EAD, companies and coverage by ``stage``, ``grade`` or ``sector`` (with a total row)."""
        f = self.companies
        ecl_cols = [c for c in f.columns if c.startswith("ecl")]
        out = f.groupby(by, sort=True).agg(companies=("stage", "size"), ead=("ead", "sum"),
                                           **{c: (c, "sum") for c in ecl_cols})
        if by == "grade":  # the master scale's order, not the text's
            out = out.sort_index(key=lambda g: g.astype(int))
        out.loc["total"] = out.sum()
        out["coverage"] = np.divide(out["ecl"], out["ead"], out=np.zeros(len(out)), where=out["ead"] > 0)
        return out.reset_index()


def _scores(bundle: ModelBundle, frame: pd.DataFrame, spec: DatasetSpec, id_col: str, time_col: str) -> pd.Series:
    """The model's PD of every (id, year) of the frame that it could score."""
    scores = score_frame(bundle, frame, passthrough=False).scores
    scores = scores.drop_duplicates([id_col, time_col])
    return pd.Series(scores["p_default"].to_numpy(float),
                     index=pd.MultiIndex.from_arrays([scores[id_col].astype(str), scores[time_col].astype(int)]))


def row_years(values: pd.Series, spec: DatasetSpec) -> pd.Series:
    """Each row's fiscal year: the time column's numbers, or its dates' fiscal years (as scoring reads them)."""
    years = pd.to_numeric(values, errors="coerce")
    if years.isna().sum() > 0.1 * max(int(values.notna().sum()), 1):
        dates, _, _ = parse_dates(values.astype("string"))
        years = pd.Series(fiscal_years(dates, spec.year_end_month), index=values.index)
    return years


def _column(frame: pd.DataFrame, name: str, rows: pd.DataFrame) -> np.ndarray | None:
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float) if name in frame else None


def provision_frame(bundle: ModelBundle, frame: pd.DataFrame, as_of: str | int, rules: ProvisionRules, *,
                    scenarios: list[Scenario] | None = None, standard: str | None = None) -> ProvisionRun:
    """Provisions of the as-of year's portfolio (module notes).

    Parameters
    ----------
    bundle : the model that scores the PDs.
    frame : the panel: company-years with the model's inputs, the id, the fiscal year and the default flag
        (the flag is read on the years before ``as_of``).
    as_of : a date or fiscal year; the portfolio is the companies with a row in that year.
    rules : the ``[provisions]`` settings.
    scenarios : the macro scenarios (default: :func:`default_scenarios`).
    standard : ``ifrs9`` or ``cecl`` (default ``rules.standard``).

    Raises
    ------
    DataFileError
        When the data has no id, year or default column, no row in the as-of year, or no history before it.
    """
    spec = bundle.spec
    if not spec.id or not spec.time or spec.target not in frame or spec.id not in frame or spec.time not in frame:
        raise DataFileError(f"provisions need the company id, the fiscal year and the default flag "
                            f"({spec.id!r}, {spec.time!r}, {spec.target!r}) in the data, with the years before "
                            "the as-of date")
    year = as_of_year(as_of)
    id_col, time_col = spec.id, spec.time
    data = frame.drop_duplicates([id_col, time_col]).reset_index(drop=True)  # a repeated row counts once
    years = row_years(data[time_col], spec)
    ids = data[id_col].astype(str)
    now_rows = np.flatnonzero((years == year).to_numpy())
    if not len(now_rows):
        found = sorted(years.dropna().astype(int).unique().tolist())
        raise DataFileError(f"no company has a row in the as-of year {year}; the data holds {found[:3]}…{found[-3:]}"
                            if len(found) > 6 else f"no company has a row in the as-of year {year}; the data holds "
                            f"{found}")
    base = _scores(bundle, data, spec, id_col, time_col)
    key = pd.MultiIndex.from_arrays([ids, years.fillna(-1).astype(int)])
    p_all = base.reindex(key).to_numpy()
    if spec.positive is not None:  # an outcome written as labels: the positive one is a default
        target = data[spec.target]
        flags = np.where(target.isna(), np.nan, (target.astype(str) == str(spec.positive)).astype(float))
    else:
        flags = pd.to_numeric(data[spec.target], errors="coerce").to_numpy(dtype=float)
    history = (years < year).to_numpy() & ~np.isnan(p_all) & ~np.isnan(flags)
    if not history.any():
        raise DataFileError(f"the data has no scored year before the as-of year {year} with the default flag "
                            f"{spec.target!r}; lifetime PDs are estimated from that history")
    panel = PanelOutcomes(ids.to_numpy()[history], years.to_numpy()[history].astype(np.int64), p_all[history],
                          flags[history].astype(np.int64))
    longest = (float(np.nanmax(pd.to_numeric(data[rules.term_column], errors="coerce").to_numpy(float),
                               initial=1.0)) if rules.term_column in data else 1.0)
    horizon = int(np.ceil(min(max(rules.term_years, longest), _MAX_TERM)))  # a longer term is refused below
    try:
        hazards = grade_hazards(panel, horizon, prior_weight=rules.prior_weight)
        migration = migration_matrix(panel, prior_weight=rules.prior_weight)
    except ValueError as err:
        raise DataFileError(f"lifetime PDs cannot be estimated from the years before {year}: {err}") from None

    # the portfolio: scored rows of the as-of year, and the companies in default since the year before
    now = data.iloc[now_rows].drop_duplicates(id_col)
    now = now[~np.isnan(base.reindex(pd.MultiIndex.from_arrays([now[id_col].astype(str),
                                                                 np.full(len(now), year)])).to_numpy())]
    before = data[(years == year - 1).to_numpy() & (flags == 1)].drop_duplicates(id_col)
    before = before[~before[id_col].astype(str).isin(now[id_col].astype(str))]
    book = pd.concat([now, before], ignore_index=True)
    in_default = np.r_[np.zeros(len(now), dtype=bool), np.ones(len(before), dtype=bool)]
    book_ids = book[id_col].astype(str).to_numpy()
    book_years = row_years(book[time_col], spec).astype(int).to_numpy()
    rows_now = np.arange(len(now))
    chosen = scenarios if scenarios is not None else default_scenarios(spec, data, rules)
    p_scen: dict[str, np.ndarray] = {}
    for sc in chosen:
        if sc.shifts:
            hist_mask = (years <= year).to_numpy() & ids.isin(set(book_ids)).to_numpy()
            sub = data[hist_mask].reset_index(drop=True)
            sub_now = np.flatnonzero((row_years(sub[time_col], spec) == year).to_numpy())
            scored = _scores(bundle, stressed(sub, sc.shifts, spec, rows=sub_now), spec, id_col, time_col)
        else:
            scored = base
        p = scored.reindex(pd.MultiIndex.from_arrays([book_ids, book_years])).to_numpy().copy()
        p[len(rows_now):] = 1.0  # in default
        p_scen[sc.name] = np.where(np.isnan(p), base.reindex(pd.MultiIndex.from_arrays([book_ids, book_years]))
                                   .to_numpy(), p)
    first_year = data.assign(_y=years, _id=ids).sort_values("_y").drop_duplicates("_id").set_index("_id")["_y"]
    orig_key = pd.MultiIndex.from_arrays([book_ids, first_year.reindex(book_ids).fillna(-1).astype(int).to_numpy()])
    origination = _column(data, rules.origination_column, book)
    first_pd = base.reindex(orig_key).to_numpy()
    notes: list[str] = []
    if spec.exposure and spec.exposure in book:
        ead = pd.to_numeric(book[spec.exposure], errors="coerce").fillna(0.0).to_numpy(float)
    else:
        ead = np.ones(len(book))
        notes.append("the data has no exposure column: every EAD is 1, so each ECL is a share of its exposure")
    if origination is None:
        notes.append(f"no {rules.origination_column!r} column: the origination PD is each company's PD in its first "
                     "year in the file")
    origination = first_pd if origination is None else np.where(np.isnan(origination), first_pd, origination)
    columns = {k: v for k, v in {"terms": _column(data, rules.term_column, book),
                                 "lgd": _column(data, rules.lgd_column, book),
                                 "eir": _column(data, rules.eir_column, book),
                                 "days_past_due": _column(data, rules.dpd_column, book)}.items() if v is not None}
    watch = _column(data, rules.watchlist_column, book)
    flagged = _column(data, rules.defaulted_column, book)
    try:
        exposures = Exposures.uniform(
            ead, rules, origination_pd=origination, **columns,
            watch_list=np.nan_to_num(watch, nan=0.0) > 0 if watch is not None else np.zeros(len(book), dtype=bool),
            defaulted=in_default | ((np.nan_to_num(flagged, nan=0.0) > 0) if flagged is not None else False))
    except ValueError as err:
        raise DataFileError(f"the as-of portfolio's exposures cannot be used: {err} (rows counted in the as-of "
                            f"year; the columns {rules.term_column!r}, {rules.lgd_column!r} and {rules.eir_column!r} "
                            "give the remaining term, LGD and EIR, as [provisions] names them)") from None
    try:
        result = provisions(p_scen, {s.name: s.weight for s in chosen}, exposures, rules, hazards=hazards,
                            migration=migration, standard=standard)
    except ValueError as err:
        raise ConfigError(f"provisions cannot be computed: {err}") from None
    out = result.frame()
    out.insert(0, id_col, book_ids)
    if spec.segment and spec.segment in book:
        out.insert(1, spec.segment, book[spec.segment].to_numpy())
    for name, p in p_scen.items():
        out[f"pd_12m_{name}"] = p
    return ProvisionRun(out, result, chosen, hazards, migration, year, int(history.sum()),
                        int(len(data) - len(base)), bundle.version, tuple(notes))
