"""A portfolio's provisions from a model and its panel: the PDs of each macro scenario, the term structures, the ECL.

:func:`provision_file` reads a panel of company-years (the portfolio's history with the default flag, and
the as-of year's rows) a chunk of companies at a time, so a file of any size takes flat memory, and

1. scores each chunk's rows up to the as-of year with the model (:func:`riskcore.serving.scoring.score_frame`:
   the same validation and panel features as ``score``), and the as-of year's rows once more under each
   macro scenario (:func:`default_scenarios` from the settings and the model report's macro stress, or a
   file, :func:`read_scenarios`): the rows are validated and their panel features built once, each scenario
   moves the model's macro inputs and predicts again;
2. adds the years before the as-of year, whose 12-month outcomes are known by then, to the counts both term
   structures are estimated from (``evaluation/lifetime.py``: :class:`~riskcore.evaluation.lifetime.PanelCounts`
   add up chunk by chunk because a chunk never splits a company's rows);
3. keeps, per as-of company, only its PDs, exposure terms and its first scored year; the as-of rows' inputs
   go to a scratch folder for the audit trail (:meth:`ProvisionRun.inputs`);
4. at the end estimates the term structures, stages the companies and computes their ECL
   (``evaluation/provisions.py``). :func:`provision_frame` does the same for a frame in memory.

The as-of portfolio is every company with a row in the as-of year, plus the companies that defaulted in
the 12 months before it (their last row's default flag): their exposures are in default, stage 3.
The origination PD is, per company, the ``origination_column`` when the file has a value, else the PD of
the company's earliest year found in the audit trail (``origination``, the scores recorded at the time) or
in the file, whichever year is earlier (the audit trail on a tie): ``origination_year`` and
``origination_source`` say which. Remaining terms, LGD, EIR, days past due and the watch list come from the
columns the settings name, where the file has them, and from the settings otherwise.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from riskcore.config import ProvisionRules
from riskcore.data.macro import macro_shift
from riskcore.data.parsing import parse_numbers, row_fiscal_years
from riskcore.data.prepare import match_spec_columns
from riskcore.data.schema import DatasetSpec, FeatureSpec
from riskcore.data.tabular import ReadInfo, Table
from riskcore.errors import ConfigError, DataFileError
from riskcore.evaluation.lifetime import (
    GradeHazards,
    MigrationMatrix,
    PanelCounts,
    PanelOutcomes,
    hazards_from_counts,
    migration_from_counts,
    panel_counts,
)
from riskcore.evaluation.provisions import Exposures, ProvisionResult, provisions
from riskcore.modelling.bundle import ModelBundle
from riskcore.serving.batch import CHUNK_ROWS, CompanyChunks, FileSource
from riskcore.serving.history import FileHistory, ScatteredCompanies
from riskcore.serving.scoring import Scenarios, score_frame

__all__ = ["OriginationLookup", "ProvisionRun", "Scenario", "as_of_year", "default_scenarios", "provision_file",
           "provision_frame", "read_scenarios"]

_MAX_TERM = 100
_LOOKUP_IDS = 250_000
"""Companies looked up in the audit trail at once (a redacting trail looks each up as given and as its hash)."""
OriginationLookup = Callable[[np.ndarray], pd.DataFrame]
"""Company ids → their earliest recorded year and its PD (``company_id``, ``year``, ``p_default``, ``request_id``):
:meth:`riskcore.serving.audit.AuditLog.origination` with the year column bound."""


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


def default_scenarios(bundle: ModelBundle, rules: ProvisionRules, frame: pd.DataFrame | None = None) -> list[Scenario]:
    """Base (as observed), upside and downside from the settings' weights and severities.

    The downside moves the model's macro inputs adversely by ``downside_severity`` times the model report's
    macro stress (measured at training: 2 points for inputs in percentage points, one standard deviation of
    the training values otherwise); the upside moves them the other way by ``upside_severity`` times the
    same. A model trained before the report measured its macro stress takes the standard deviations of
    ``frame``'s values instead.
    """
    stress = ((bundle.metrics.get("sensitivity") or {}).get("macro_stress") or {}).get("scenario")
    if stress:
        steps = {str(k): float(v) for k, v in stress.items()}
    elif frame is not None:
        steps = {f.name: macro_shift(f, frame[f.name]) for f in _macro_inputs(bundle.spec, frame)}
    else:
        steps = {}
    steps = {k: v for k, v in steps.items() if v != 0.0 and np.isfinite(v)}
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
    companies : per company: the id, sector, grade, everything :meth:`ProvisionResult.frame` holds,
        ``pd_12m_<scenario>`` for each scenario, ``origination_year`` and ``origination_source`` (``column``,
        ``audit trail``, ``file`` or empty when none was found).
    result : the :class:`~riskcore.evaluation.provisions.ProvisionResult`.
    scenarios : the scenarios, with their weights and moves.
    hazards, migration : the term structures estimated on the years before the as-of year.
    as_of : the fiscal year; ``history_rows`` the company-years the term structures were estimated on;
    rejected : rows up to the as-of year the model could not score (left out, listed by scoring's reject report).
    scored_now : the first ``scored_now`` companies are the as-of year's scored rows (the others defaulted
        the year before), in the order :meth:`inputs` gives their inputs.
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
    scored_now: int = 0
    input_parts: tuple[Path | pd.DataFrame, ...] = field(default=(), repr=False)

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

    def inputs(self) -> Iterator[pd.DataFrame]:
        """The model inputs of the first ``scored_now`` companies, a part at a time, in their order."""
        for part in self.input_parts:
            if isinstance(part, pd.DataFrame):
                yield part
            else:
                with open(part, "rb") as fh:
                    yield pickle.load(fh)  # noqa: S301 - a scratch file this run wrote itself


_BOOK_NUMBERS = ("ead", "terms", "lgd", "eir", "days_past_due", "watch", "flagged", "origination")


class _Collector:
    """What the chunks of a panel leave for the provisions: term-structure counts, the as-of book, first years."""

    def __init__(self, bundle: ModelBundle, year: int, rules: ProvisionRules, scenarios: list[Scenario],
                 scratch: Path | None, whole_companies: bool):
        self.bundle, self.spec, self.year, self.rules = bundle, bundle.spec, year, rules
        self.scenarios = scenarios
        self.scratch, self.whole_companies = scratch, whole_companies
        self.counts = PanelCounts.empty(_MAX_TERM)
        self.panels: list[PanelOutcomes] = []  # companies split over chunks: counted once all are read
        self.book: list[pd.DataFrame] = []
        self.before: list[pd.DataFrame] = []
        self.first: list[pd.DataFrame] = []
        self.input_parts: list[Path | pd.DataFrame] = []
        self.history_rows = self.rejected = self.later_rows = self.no_year_rows = self.now_rows = 0
        self.years_seen: set[int] = set()
        self.notes: dict[str, None] = {}
        self.mapping: dict[str, str] | None = None
        self.segments: dict[str, int] = {}
        self.columns = {"ead": self.spec.exposure or "", "terms": rules.term_column, "lgd": rules.lgd_column,
                        "eir": rules.eir_column, "days_past_due": rules.dpd_column, "watch": rules.watchlist_column,
                        "flagged": rules.defaulted_column, "origination": rules.origination_column}
        self.present: set[str] = set()

    def _names(self, columns: list[str]) -> dict[str, str]:
        """The file's column → the name it is read under (the spec's key columns and the settings' columns)."""
        spec = self.spec
        wanted = [c for c in dict.fromkeys((spec.id, spec.time, spec.target, spec.segment, *self.columns.values()))
                  if c]
        found, _ = match_spec_columns(columns, wanted, spec)
        self.present = {k for k, c in self.columns.items() if c and c in found}
        return {file: name for name, file in found.items() if file != name}

    def add(self, part: Table, history: FileHistory | None) -> None:
        """Score one chunk (and its as-of rows under each scenario) and keep what the provisions need of it."""
        try:
            self._add(part, history)
        finally:  # the chunk's Arrow buffers go back to the system, not kept for the next chunk's
            pa.default_memory_pool().release_unused()

    def _add(self, part: Table, history: FileHistory | None) -> None:
        spec, year = self.spec, self.year
        if self.mapping is None:
            self.mapping = self._names([str(c) for c in part.frame.columns])
        frame = part.frame.rename(columns=self.mapping) if self.mapping else part.frame
        time_col = spec.time or "year"
        years = row_fiscal_years(frame[time_col], spec.year_end_month).to_numpy(dtype=float)
        self.no_year_rows += int(np.isnan(years).sum())
        self.later_rows += int((years > year).sum())
        self.now_rows += int((years == year).sum())
        self.years_seen.update(int(y) for y in np.unique(years[np.isfinite(years)]))
        if history is None:  # rows after the as-of year are not scored (with file histories, chunks stay whole)
            keep = np.flatnonzero(years <= year)
            if len(keep) < len(frame):
                kept = set(part.rows[keep].tolist())
                part = Table(frame=part.frame.iloc[keep].reset_index(drop=True), rows=part.rows[keep], info=part.info,
                             problems=[p for p in part.problems if p.row is None or p.row in kept])
                frame, years = frame.iloc[keep].reset_index(drop=True), years[keep]
        if not len(frame):
            return
        moves = {s.name: s.shifts for s in self.scenarios if s.shifts}
        res = score_frame(self.bundle, part, passthrough=False, history=history,
                          scenarios=Scenarios(year, moves) if moves else None)
        self.notes.update(dict.fromkeys(res.notes))
        scores = res.scores
        at_file = years <= year
        self.rejected += int(at_file.sum()) - len(scores)
        if not len(scores):
            return
        pos = np.searchsorted(part.rows, scores["row"].to_numpy())
        ids = scores[res.id_column].astype(str).to_numpy(dtype=object)
        yrs = years[pos]
        p = scores["p_default"].to_numpy(dtype=float)
        flags = _flags(frame[spec.target].iloc[pos], spec) if spec.target in frame else np.full(len(pos), np.nan)
        keys = _keys(ids)
        past = (yrs < year) & ~np.isnan(flags)
        if past.any():
            panel = PanelOutcomes(keys[past], yrs[past].astype(np.int64), p[past], flags[past].astype(np.int64))
            self.history_rows += int(past.sum())
            if self.whole_companies:
                self.counts = self.counts + panel_counts(panel, _MAX_TERM)
            else:
                self.panels.append(panel)
        order = np.lexsort((yrs, keys))
        first = pd.DataFrame({"key": keys[order], "year": yrs[order], "p": p[order]}).drop_duplicates("key")
        self.first.append(first)
        now = np.flatnonzero(yrs == year)
        if len(now):
            book = self._columns(frame, pos[now])
            book.insert(0, "id", ids[now])
            book.insert(1, "key", keys[now])
            book["p_base"] = p[now]
            for sc in self.scenarios:
                book[f"p_{sc.name}"] = res.scenario_pd[sc.name][now] if sc.shifts else p[now]
            self.book.append(book)
            self._keep_inputs(res.inputs.iloc[now].reset_index(drop=True))
        last = np.flatnonzero((yrs == year - 1) & (flags == 1))
        if len(last):
            gone = self._columns(frame, pos[last])
            gone.insert(0, "id", ids[last])
            gone.insert(1, "key", keys[last])
            self.before.append(gone)

    def notes_for_user(self, with_trail: bool) -> list[str]:
        """What the user should know of how the file was read."""
        out = []
        if self.later_rows:
            out.append(f"{self.later_rows:,} row(s) after the as-of year {self.year} were not used: provisions at "
                       f"{self.year} know only what was known by then")
        if self.no_year_rows:
            out.append(f"{self.no_year_rows:,} row(s) have no readable fiscal year in {self.spec.time!r} and were "
                       "left out; write the year (2024) or a date (2024-12-31)")
        if "origination" not in self.present:
            where = "the audit trail or the file" if with_trail else "the file"
            out.append(f"no {self.rules.origination_column!r} column: the origination PD is each company's PD in its "
                       f"earliest year in {where}")
        return out

    def _columns(self, frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
        """The exposure columns of some rows, as numbers (money and percentages read), NaN where absent."""
        out = {}
        for key, column in self.columns.items():
            if key in self.present:
                out[key] = parse_numbers(frame[column].iloc[rows].reset_index(drop=True))[0]
            else:
                out[key] = np.full(len(rows), np.nan)
        book = pd.DataFrame(out)
        segment = self.spec.segment
        if segment and segment in frame:  # a code per distinct sector: a million rows hold a few names
            names, codes = np.unique(frame[segment].iloc[rows].astype(str).to_numpy(dtype=object), return_inverse=True)
            known = np.array([self.segments.setdefault(str(n), len(self.segments)) for n in names], dtype=np.int32)
            book["segment"] = known[codes] if len(names) else np.zeros(len(rows), dtype=np.int32)
        else:
            book["segment"] = np.full(len(rows), -1, dtype=np.int32)
        return book

    def _keep_inputs(self, inputs: pd.DataFrame) -> None:
        if self.scratch is None:
            self.input_parts.append(inputs)
            return
        path = self.scratch / f"inputs-{len(self.input_parts):05d}.pickle"
        with open(path, "wb") as fh:
            pickle.dump(inputs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.input_parts.append(path)

    def term_structures(self, horizon: int) -> tuple[GradeHazards, MigrationMatrix]:
        """Both term structures from the counts (the split companies' panel counted now, whole)."""
        counts = self.counts
        if self.panels:
            whole = PanelOutcomes(*(np.concatenate([getattr(p, a) for p in self.panels])
                                    for a in ("ids", "periods", "p_default", "defaults")))
            counts = counts + panel_counts(whole, _MAX_TERM)
        return (hazards_from_counts(counts, horizon, prior_weight=self.rules.prior_weight),
                migration_from_counts(counts.transitions, prior_weight=self.rules.prior_weight))


def _flags(values: pd.Series, spec: DatasetSpec) -> np.ndarray:
    """The default flag as 0/1 (NaN where unknown): an outcome written as labels counts its positive one."""
    if spec.positive is not None:
        return np.where(values.isna(), np.nan, (values.astype(str) == str(spec.positive)).astype(float))
    return parse_numbers(values.reset_index(drop=True))[0]


def _keys(ids: np.ndarray) -> np.ndarray:
    """64-bit hashes of company ids: what the end of a run joins on, 8 bytes per company."""
    return np.asarray(pd.util.hash_array(np.asarray(ids, dtype=object)), dtype=np.uint64)


def _origination(book: pd.DataFrame, first: pd.DataFrame, recorded: pd.DataFrame | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each company's origination PD, year and source (module notes)."""
    n = len(book)
    keys = book["key"].to_numpy()
    in_file = first.set_index("key").reindex(keys)
    pd_o, year_o = in_file["p"].to_numpy(dtype=float), in_file["year"].to_numpy(dtype=float)
    del in_file
    source = np.where(np.isnan(pd_o), "", "file").astype(object)
    if recorded is not None and len(recorded):
        rec = pd.DataFrame({"key": _keys(recorded["company_id"].astype(str).to_numpy(dtype=object)),
                            "year": pd.to_numeric(recorded["year"], errors="coerce").to_numpy(dtype=float),
                            "p": pd.to_numeric(recorded["p_default"], errors="coerce").to_numpy(dtype=float)})
        rec = rec.drop_duplicates("key").set_index("key").reindex(keys)
        r_year, r_pd = rec["year"].to_numpy(dtype=float), rec["p"].to_numpy(dtype=float)
        use = ~np.isnan(r_year) & ~np.isnan(r_pd) & (np.isnan(year_o) | (r_year <= year_o))
        pd_o, year_o = np.where(use, r_pd, pd_o), np.where(use, r_year, year_o)
        source[use] = "audit trail"
    column = book["origination"].to_numpy(dtype=float) if "origination" in book else np.full(n, np.nan)
    given = ~np.isnan(column)
    pd_o = np.where(given, column, pd_o)
    year_o = np.where(given, np.nan, year_o)
    source[given] = "column"
    return pd_o, year_o, source


def _finish(col: _Collector, bundle: ModelBundle, scenarios: list[Scenario], standard: str | None,
            origination: OriginationLookup | None) -> ProvisionRun:
    """The provisions from what the chunks left (module notes)."""
    spec, rules, year = bundle.spec, col.rules, col.year
    if not col.book:
        found = sorted(col.years_seen)
        shown = f"{found[:3]}…{found[-3:]}" if len(found) > 6 else str(found)
        if col.now_rows:
            raise DataFileError(f"none of the {col.now_rows:,} row(s) of the as-of year {year} could be scored; "
                                "python -m riskcore score on the file lists why, row by row")
        raise DataFileError(f"no company has a row in the as-of year {year}; the data holds {shown}")
    if not col.history_rows:
        raise DataFileError(f"the data has no scored year before the as-of year {year} with the default flag "
                            f"{spec.target!r}; lifetime PDs are estimated from that history")
    # the audit trail first, while only the ids are gathered: its lookup's memory is given back before the book's
    ids_now = np.concatenate([b["id"].to_numpy(dtype=object) for b in col.book])
    ids_before = (np.concatenate([b["id"].to_numpy(dtype=object) for b in col.before]) if col.before
                  else np.empty(0, dtype=object))
    every = np.concatenate([ids_now, ids_before])
    del ids_now, ids_before
    recorded = (pd.concat([origination(every[at:at + _LOOKUP_IDS]) for at in range(0, len(every), _LOOKUP_IDS)],
                          ignore_index=True) if origination is not None and len(every) else None)
    del every
    now = pd.concat(col.book, ignore_index=True)
    col.book.clear()
    before = pd.concat(col.before, ignore_index=True) if col.before else now.iloc[:0]
    col.before.clear()
    before = before[~np.isin(before["key"].to_numpy(), now["key"].to_numpy())].drop_duplicates("key", keep="last")
    book = pd.concat([now, before], ignore_index=True) if len(before) else now
    n_now = len(now)
    del now, before
    terms = book["terms"].to_numpy(dtype=float)
    longest = float(np.nanmax(terms, initial=1.0)) if "terms" in col.present else 1.0
    horizon = int(np.ceil(min(max(rules.term_years, longest), _MAX_TERM)))  # a longer term is refused below
    try:
        hazards, migration = col.term_structures(horizon)
    except ValueError as err:
        raise DataFileError(f"lifetime PDs cannot be estimated from the years before {year}: {err}") from None
    first = pd.concat(col.first, ignore_index=True).sort_values(["year"], kind="stable").drop_duplicates("key")
    col.first.clear()
    origination_pd, origination_year, origination_source = _origination(book, first, recorded)
    del first, recorded
    notes = list(col.notes_for_user(origination is not None))
    p_scen: dict[str, np.ndarray] = {}
    for sc in scenarios:
        p = book[f"p_{sc.name}"].to_numpy(dtype=float).copy() if n_now else np.ones(len(book))
        p[n_now:] = 1.0  # in default
        p_scen[sc.name] = np.where(np.isnan(p), book["p_base"].to_numpy(dtype=float), p)
    if "ead" in col.present:
        ead = np.nan_to_num(book["ead"].to_numpy(dtype=float), nan=0.0)
    else:
        ead = np.ones(len(book))
        notes.append("the data has no exposure column: every EAD is 1, so each ECL is a share of its exposure")
    columns = {name: book[key].to_numpy(dtype=float) for key, name in
               (("terms", "terms"), ("lgd", "lgd"), ("eir", "eir"), ("days_past_due", "days_past_due"))
               if key in col.present}
    in_default = np.r_[np.zeros(n_now, dtype=bool), np.ones(len(book) - n_now, dtype=bool)]
    watch = np.nan_to_num(book["watch"].to_numpy(dtype=float), nan=0.0) > 0
    flagged = np.nan_to_num(book["flagged"].to_numpy(dtype=float), nan=0.0) > 0
    book_ids, book_segments = book["id"].to_numpy(dtype=object), book["segment"].to_numpy()
    del book
    try:
        exposures = Exposures.uniform(ead, rules, origination_pd=origination_pd, **columns, watch_list=watch,
                                      defaulted=in_default | flagged)
    except ValueError as err:
        raise DataFileError(f"the as-of portfolio's exposures cannot be used: {err} (rows counted in the as-of "
                            f"year; the columns {rules.term_column!r}, {rules.lgd_column!r} and {rules.eir_column!r} "
                            "give the remaining term, LGD and EIR, as [provisions] names them)") from None
    del columns
    try:
        result = provisions(p_scen, {s.name: s.weight for s in scenarios}, exposures, rules, hazards=hazards,
                            migration=migration, standard=standard)
    except ValueError as err:
        raise ConfigError(f"provisions cannot be computed: {err}") from None
    id_col = spec.id or "id"
    columns_out: dict[str, object] = {id_col: book_ids}
    if spec.segment and col.segments:  # the names themselves, shared by every row of a sector
        columns_out[spec.segment] = np.array(list(col.segments) + [""], dtype=object)[book_segments]
    columns_out.update(result.columns())
    columns_out.update({f"pd_12m_{name}": p for name, p in p_scen.items()})
    columns_out["origination_year"] = pd.array(np.where(np.isnan(origination_year), np.nan, origination_year),
                                               dtype="Int64")
    columns_out["origination_source"] = origination_source
    # a million companies: the arrays themselves, not copies (text kept as the Python strings it already is)
    out = pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if isinstance(v, np.ndarray) and v.dtype == object
                        else v for k, v in columns_out.items()}, copy=False)
    return ProvisionRun(out, result, scenarios, hazards, migration, year, col.history_rows, col.rejected,
                        bundle.version, tuple(notes), n_now, tuple(col.input_parts))


def _check_needed(spec: DatasetSpec, columns: list[str] | None = None) -> None:
    """Refuse a model without an id, year and default column, or (given ``columns``) a file without them."""
    needed = (spec.id, spec.time, spec.target)
    missing: list[str] = []
    if columns is not None and all(needed):
        found, _ = match_spec_columns(columns, [str(c) for c in needed], spec)
        missing = [str(c) for c in needed if c not in found]
    if not all(needed) or missing:
        raise DataFileError(f"provisions need the company id, the fiscal year and the default flag "
                            f"({spec.id!r}, {spec.time!r}, {spec.target!r}) in the data, with the years before "
                            "the as-of date" + (f"; the file has no {', '.join(map(repr, missing))} column"
                                                if missing else ""))


def _run(bundle: ModelBundle, chunks: Iterable[Table], history: FileHistory | None, year: int, rules: ProvisionRules,
         scenarios: list[Scenario] | None, standard: str | None, origination: OriginationLookup | None,
         scratch: Path | None) -> ProvisionRun:
    col: _Collector | None = None
    for part in chunks:
        if col is None:
            _check_needed(bundle.spec, [str(c) for c in part.frame.columns])
            chosen = scenarios if scenarios is not None else default_scenarios(bundle, rules, part.frame)
            col = _Collector(bundle, year, rules, chosen, scratch, whole_companies=history is None)
        col.add(part, history)
    if col is None:
        raise DataFileError("the file has no data rows; add the portfolio's company-years below the header")
    _trim_heap()
    return _finish(col, bundle, col.scenarios, standard, origination)


def _trim_heap() -> None:
    """Give the chunks' freed memory back to the system before the end of the run holds the whole book.

    The C allocator keeps freed pages for reuse; after sixty chunks of a million-company file they are a few
    hundred megabytes the process no longer uses. ``malloc_trim`` (GNU C library) returns them; elsewhere this
    does nothing.
    """
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def provision_file(bundle: ModelBundle, source: FileSource, as_of: str | int, rules: ProvisionRules, *,
                   scenarios: list[Scenario] | None = None, standard: str | None = None,
                   origination: OriginationLookup | None = None, scratch: Path | None = None,
                   chunk_rows: int = CHUNK_ROWS, sheet: str | None = None) -> tuple[ProvisionRun, ReadInfo | None]:
    """Provisions of a panel file, read a chunk of companies at a time (module notes).

    Parameters
    ----------
    bundle : the model that scores the PDs.
    source : the panel file (CSV, Excel, Parquet): company-years with the model's inputs, the id, the fiscal
        year and the default flag (read on the years before ``as_of``).
    as_of : a date or fiscal year; the portfolio is the companies with a row in that year.
    rules : the ``[provisions]`` settings.
    scenarios : the macro scenarios (default: :func:`default_scenarios`).
    standard : ``ifrs9`` or ``cecl`` (default ``rules.standard``).
    origination : the audit trail's earliest recorded year of each company (:data:`OriginationLookup`).
    scratch : a folder for the as-of rows' inputs (kept in memory without one).
    chunk_rows : rows read at a time.

    Returns
    -------
    (ProvisionRun, ReadInfo or None)
        The run, and how the file was read.

    Raises
    ------
    DataFileError
        When the data has no id, year or default column, no row in the as-of year, or no history before it.
    """
    _check_needed(bundle.spec)
    year = as_of_year(as_of)
    for gather in (False, True):  # companies scattered over the file: their histories gathered first
        try:
            with CompanyChunks(bundle, source, gather=gather, chunk_rows=chunk_rows, sheet=sheet) as chunks:
                run = _run(bundle, chunks, chunks.history, year, rules, scenarios, standard, origination, scratch)
                return run, chunks.info
        except ScatteredCompanies:
            if scratch is not None:
                for old in scratch.glob("inputs-*.pickle"):
                    old.unlink()
    raise AssertionError("unreachable: the second pass gathers the histories")


def provision_frame(bundle: ModelBundle, frame: pd.DataFrame, as_of: str | int, rules: ProvisionRules, *,
                    scenarios: list[Scenario] | None = None, standard: str | None = None,
                    origination: OriginationLookup | None = None) -> ProvisionRun:
    """Provisions of a panel held in memory (as :func:`provision_file`, in one chunk).

    Raises
    ------
    DataFileError
        When the data has no id, year or default column, no row in the as-of year, or no history before it.
    """
    _check_needed(bundle.spec)
    year = as_of_year(as_of)
    with CompanyChunks(bundle, frame, gather=False) as chunks:
        return _run(bundle, chunks, None, year, rules, scenarios, standard, origination, None)
