"""The known-truth demo portfolio.

:func:`generate_portfolio` simulates SMEs over about ten fiscal years. Each
company carries a latent financial condition that moves slowly from year to
year (an AR(1) process); its observed ratios, ESG scores and alternative-data
signals are noisy, sector-calibrated functions of that condition. The true
probability of default of every company-year is a documented logistic function
of the *observed* values (so a model can, in principle, reach it), written to
column ``true_pd``; the outcome ``default_12m`` is drawn from it (the simulation
is :mod:`riskcore.data.simulation`). Afterwards the generator injects realistic
imperfections and records each one in the :class:`Manifest`, which the tests read.
With ``later_years`` it also continues the companies after the training years
(:class:`LaterYears`) with three planted changes (a macro shock, an ESG provider
rescaling its scores, one sector's payment delays rising) for monitoring to find.
``docs/demo_portfolio.md`` documents the model for validators.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.schema import DEMO_SPEC, REGIONS, SECTORS, SIZE_CLASSES, DatasetSpec
from riskcore.data.simulation import PanelState, simulate_later_years, simulate_survival, simulate_training, true_logit
from riskcore.numeric import expit, roc_auc
from riskcore.numeric import logit as log_odds

__all__ = ["LaterYears", "Manifest", "Portfolio", "generate_portfolio", "true_lifetime_pd", "true_logit"]

_ESG_MISSING = (0.30, 0.12, 0.04)  # share of company-years without ESG scores, per size class
_ESG_COLUMNS = ("esg_environmental", "esg_social", "esg_governance", "carbon_intensity",
                "esg_controversies", "governance_red_flag", "esg_momentum")
_MARKET_COLUMNS = ("equity_vol_30d", "equity_vol_90d", "equity_vol_250d", "bid_ask_spread_bps")

# The planted changes of the later years (docs/demo_portfolio.md, "The later years")
_SHOCK_GDP = -2.5  # GDP growth in the recession, %
_SHOCK_RATE = 1.5  # policy-rate rise over the last training year, points
_RESCALED = "esg_environmental"  # reported on 0-10 instead of 0-100 by one provider
_LATE_SECTOR = "Consumer Discretionary"
_LATE_FACTOR = 2.5  # supplier payment delays in that sector, times the usual
_MACRO_COLUMNS = tuple(f.name for f in DEMO_SPEC.features if f.family == "macro")
# ratios the recession moves through the simulation: coverage through the borrowing rate, growth through GDP
_MACRO_KNOCK_ON = ("interest_coverage", "revenue_growth")


@dataclass
class Manifest:
    """What the generator did, so tests and validators can check the data against it.

    Keys are ``(company_id, fiscal_year)`` pairs. ``outliers`` and ``impossible``
    list ``{"id", "year", "column", "value"}`` records; ``duplicates`` lists the
    keys of rows that appear twice; ``missing`` maps column to the number of
    missing cells the generator produced. The ``later_*`` fields describe the years
    after the training panel when they were asked for (:class:`LaterYears`).
    """

    seed: int
    n_companies: int
    n_rows: int
    first_year: int
    last_year: int
    default_rate_target: float
    default_rate: float
    mean_true_pd: float
    oracle_auc: float
    oracle_auc_latest: float
    stress_year: int
    intercept: float
    esg_missing: list[tuple[str, int]] = field(default_factory=list)
    unlisted_rows: int = 0
    outliers: list[dict[str, Any]] = field(default_factory=list)
    impossible: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    later_first_year: int | None = None
    later_last_year: int | None = None
    later_changes: list[dict[str, Any]] = field(default_factory=list)
    later_default_rate: float | None = None

    def to_json(self) -> str:
        """The manifest as JSON."""
        return json.dumps(asdict(self), indent=1, default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read a manifest written by :meth:`to_json`."""
        d = json.loads(text)
        d["esg_missing"] = [tuple(k) for k in d["esg_missing"]]
        d["duplicates"] = [tuple(k) for k in d["duplicates"]]
        return cls(**d)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    raise TypeError(type(o))


@dataclass
class LaterYears:
    """The years after the training panel: a portfolio scored later, the outcomes that follow, what changed.

    Attributes
    ----------
    frame : pandas.DataFrame
        The later company-years with the training frame's columns, in its order and
        dtypes, except the outcome and ``true_pd`` (a portfolio scored later has no
        outcome yet).
    outcomes : pandas.DataFrame
        ``company_id, fiscal_year, default_12m, true_pd``, one row per row of ``frame``
        (the outcomes arrive a year later; ``true_pd`` is for validators).
    changes : list of dict
        The planted changes: ``year`` (the first fiscal year it holds), ``change`` (a
        sentence), ``columns`` (the features it touches), ``kind`` (``"macro"``,
        ``"data"`` or ``"behaviour"``) and ``segment`` (a sector, or None).
    """

    frame: pd.DataFrame
    outcomes: pd.DataFrame
    changes: list[dict[str, Any]]


@dataclass
class Portfolio:
    """The generated frame, its spec, the manifest of what was injected and, if asked for, the later years.

    ``end_state`` is where the true process stood after the last training year (every company's latent
    condition); :func:`true_lifetime_pd` simulates forward from it.
    """

    frame: pd.DataFrame
    manifest: Manifest
    spec: DatasetSpec = DEMO_SPEC
    later: LaterYears | None = None
    end_state: PanelState | None = field(default=None, repr=False)


def _names(raw: np.ndarray) -> np.ndarray:
    """Unique company names: a repeated name gets ``II``, ``III``, … in order of appearance.

    Appending names never changes the earlier ones, so the entrants of the later
    years get names without renaming the training companies.
    """
    s = pd.Series(raw)
    dup = s.groupby(s).cumcount()
    roman = np.array(["", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X"])
    suffix = np.where(dup < len(roman), roman[np.minimum(dup, len(roman) - 1)], " " + (dup + 1).astype(str))
    return (s + suffix).to_numpy(dtype=object)


def _raw_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Plausible company names (``Adler Precision GmbH``), possibly repeated."""
    first = np.array(["Adler", "Borea", "Castell", "Delta", "Elbe", "Fjord", "Granit", "Helios", "Iberia",
                      "Juno", "Kestrel", "Lumen", "Maris", "Nordic", "Orion", "Pannon", "Quarz", "Riva",
                      "Saxon", "Tessin", "Umbra", "Vesta", "Wester", "Xanten", "Ysel", "Zenit", "Alba",
                      "Baltic", "Corvin", "Danube", "Egret", "Falken", "Garda", "Hansa", "Istra", "Jura"])
    second = np.array(["Precision", "Logistics", "Foods", "Textiles", "Software", "Energy", "Metals",
                       "Health", "Media", "Building", "Retail", "Chemicals", "Engineering", "Pharma",
                       "Digital", "Property", "Mobility", "Packaging", "Optics", "Agri", "Tools",
                       "Furniture", "Solar", "Water", "Labs", "Print", "Glass", "Marine"])
    legal = np.array(["GmbH", "S.A.", "Ltd", "B.V.", "S.r.l.", "AB", "Oy", "sp. z o.o.", "SAS", "A/S", "s.r.o."])
    a = rng.integers(0, len(first), n)
    b = rng.integers(0, len(second), n)
    c = rng.integers(0, len(legal), n)
    return np.char.add(np.char.add(np.char.add(first[a], " "), np.char.add(second[b], " ")), legal[c])


def _company_ids(numbers: pd.Series) -> np.ndarray:
    """The simulation's integer company numbers as ids ``C00042``."""
    return np.char.add("C", np.char.zfill(numbers.astype(str).to_numpy().astype(str), 5))


def generate_portfolio(
    n_companies: int = 5000,
    *,
    seed: int = 7,
    default_rate: float = 0.06,
    first_year: int = 2015,
    n_years: int = 10,
    n_duplicates: int = 12,
    n_outliers: int = 30,
    n_impossible: int = 15,
    later_years: int = 0,
    intercept: float | None = None,
) -> Portfolio:
    """Generate the known-truth demo portfolio.

    Parameters
    ----------
    n_companies : companies simulated; rows are about 6.5 per company.
    seed : the one seed; the same seed gives the same portfolio, byte for byte.
    default_rate : target share of company-years that default (0.04-0.10 is realistic here).
    first_year, n_years : the fiscal years covered.
    n_duplicates, n_outliers, n_impossible : imperfections to inject.
    later_years : fiscal years to simulate after the training years, with planted
        changes for monitoring (:class:`LaterYears`); 0 for none. The training
        panel is the same with or without them.
    intercept : the true PD's intercept; by default the one whose panel has ``default_rate`` (found by
        simulating the panel up to seven times). A manifest's ``intercept`` makes its portfolio again in one pass.

    Returns
    -------
    Portfolio
        ``frame`` with the columns of :data:`riskcore.data.schema.DEMO_SPEC` plus
        ``true_pd``; ``manifest`` with every injected imperfection; ``later`` with
        the later years when ``later_years > 0``.

    Examples
    --------
    >>> p = generate_portfolio(300, seed=1)
    >>> p.frame["default_12m"].isin([0, 1]).all()
    True
    """
    if not 0.005 <= default_rate <= 0.5:
        raise ValueError(f"default_rate={default_rate!r} is outside 0.005-0.5; pick a rate such as 0.06")
    if n_companies < 50:
        raise ValueError(f"n_companies={n_companies!r} is too small; use at least 50")
    if not 0 <= later_years <= 20:
        raise ValueError(f"later_years={later_years!r} is outside 0-20; pick a number such as 3")
    if intercept is None:
        df, stress, intercept, state = _calibrated_panel(n_companies, first_year, n_years, seed, default_rate)
    else:
        df, stress, state = simulate_training(n_companies, first_year, n_years, seed, intercept=float(intercept))
    rng = np.random.default_rng(seed + 1)
    df["company_id"] = _company_ids(df["company_id"])
    raw_names = _raw_names(n_companies, np.random.default_rng(seed + 2))
    names = _names(raw_names)
    df.insert(1, "company_name", names[df["company_id"].str[1:].astype(int).to_numpy()])

    esg_keys, taken = _remove_esg_scores(df, rng)
    outliers, impossible, picks = _wrong_values(df, rng, taken, n_outliers, n_impossible)
    df, dups = _duplicate_rows(df, rng, picks, n_duplicates)
    cols = ["company_id", "company_name", "fiscal_year", *DEMO_SPEC.feature_names, "exposure_eur", "true_pd",
            "default_12m"]
    df = df[cols]

    y = df["default_12m"].to_numpy()
    p = df["true_pd"].to_numpy()
    last = df["fiscal_year"] >= df["fiscal_year"].max() - 1
    manifest = Manifest(
        seed=seed,
        n_companies=n_companies,
        n_rows=len(df),
        first_year=first_year,
        last_year=first_year + n_years - 1,
        default_rate_target=default_rate,
        default_rate=float(y.mean()),
        mean_true_pd=float(p.mean()),
        oracle_auc=roc_auc(y, p),
        oracle_auc_latest=roc_auc(y[last.to_numpy()], p[last.to_numpy()]),
        stress_year=stress,
        intercept=float(intercept),
        esg_missing=esg_keys,
        unlisted_rows=int(df["equity_vol_90d"].isna().sum()),
        outliers=outliers,
        impossible=impossible,
        duplicates=sorted((str(a), int(b)) for a, b in zip(dups["company_id"], dups["fiscal_year"])),
        missing={c: int(df[c].isna().sum()) for c in DEMO_SPEC.feature_names if df[c].isna().any()},
    )
    end_state = copy.deepcopy(state)  # the later years advance the state in place
    if not later_years:
        return Portfolio(frame=df, manifest=manifest, end_state=end_state)
    later = _later_portfolio(state, df, raw_names, seed, later_years)
    manifest.later_first_year = int(later.outcomes["fiscal_year"].min())
    manifest.later_last_year = int(later.outcomes["fiscal_year"].max())
    manifest.later_changes = later.changes
    manifest.later_default_rate = float(later.outcomes["default_12m"].mean())
    return Portfolio(frame=df, manifest=manifest, later=later, end_state=end_state)


def true_lifetime_pd(portfolio: Portfolio, years: int = 5, *, n_paths: int = 200, seed: int | None = None
                     ) -> pd.DataFrame:
    """The known-truth cumulative PD of the last training year's companies for 1 … ``years`` years ahead.

    As ``true_pd`` is the true 12-month PD of a company-year, this is its lifetime counterpart: each
    company of the last training year is simulated forward from its true condition ``n_paths`` times by
    the process that made the panel (:func:`riskcore.data.simulation.simulate_survival`), with the
    economy held where it was in that year (each region's GDP growth, each sector's PMI, the policy rate)
    and nobody leaving except by default. Year 1 is the row's own ``true_pd``; year *k* is
    ``1 − (1 − true_pd) × E[survival through the k − 1 years after]``. The draws come from a generator of
    their own (``[seed, 4]``), so the portfolio's columns are unchanged.

    Parameters
    ----------
    portfolio : a portfolio from :func:`generate_portfolio` (its ``end_state``).
    years : horizons, 1 to 30.
    n_paths : simulated paths per company; the Monte-Carlo error of a grade's mean is small beside the
        companies' spread (200 paths: about 0.1 point of cumulative PD).
    seed : the generator's seed; by default the portfolio's.

    Returns
    -------
    pandas.DataFrame
        ``company_id``, ``fiscal_year`` (the last training year), ``true_pd`` and ``true_cum_pd_1`` …
        ``true_cum_pd_<years>``, one row per company of that year.

    Raises
    ------
    ValueError
        When the portfolio has no end state (made by an older version) or ``years`` / ``n_paths`` are
        out of range.
    """
    state = portfolio.end_state
    if state is None:
        raise ValueError("this portfolio has no end state; generate it again with generate_portfolio")
    if not 1 <= years <= 30:
        raise ValueError(f"years={years!r} is outside 1-30; pick a horizon such as 5")
    if n_paths < 1:
        raise ValueError(f"n_paths={n_paths!r} must be at least 1, e.g. 200")
    spec = portfolio.spec
    f = portfolio.frame
    last = f[f[spec.time] == f[spec.time].max()].drop_duplicates([spec.id, spec.time])
    numbers = last[spec.id].str[1:].astype(int).to_numpy()
    economy = {"region_gdp": last.groupby("region")["gdp_growth"].median(),
               "sector_pmi": last.groupby("sector")["sector_pmi"].median()}
    region_gdp = economy["region_gdp"].reindex(list(REGIONS)).fillna(economy["region_gdp"].mean()).to_numpy()
    sector_pmi = economy["sector_pmi"].reindex(list(SECTORS)).fillna(50.0).to_numpy()
    rate = float(last["policy_rate"].median())
    rng = np.random.default_rng([portfolio.manifest.seed if seed is None else seed, 4])
    survival = simulate_survival(state, numbers, years - 1, rng, region_gdp=region_gdp, sector_pmi=sector_pmi,
                                 rate=rate, n_paths=n_paths) if years > 1 else np.ones((len(last), 0))
    p0 = last["true_pd"].to_numpy(float)
    out = pd.DataFrame({spec.id: last[spec.id].to_numpy(), spec.time: last[spec.time].to_numpy(), "true_pd": p0,
                        "true_cum_pd_1": p0})
    for k in range(1, years):
        out[f"true_cum_pd_{k + 1}"] = 1.0 - (1.0 - p0) * survival[:, k - 1]
    return out.reset_index(drop=True)


def _calibrated_panel(n_companies: int, first_year: int, n_years: int, seed: int,
                      default_rate: float) -> tuple[pd.DataFrame, int, float, PanelState]:
    """The simulated panel whose PD intercept gives the target default rate; its stress year, intercept, end state.

    The intercept depends on the panel, which depends (through exits after
    default) on the intercept: iterate to the fixed point. Every pass uses the
    same random numbers.
    """
    intercept = -3.0
    for _ in range(6):
        df, stress, state = simulate_training(n_companies, first_year, n_years, seed, intercept=intercept)
        p = df["true_pd"].to_numpy()
        logit = log_odds(p) - intercept
        lo, hi = -20.0, 10.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if expit(mid + logit).mean() > default_rate:
                hi = mid
            else:
                lo = mid
        if abs((lo + hi) / 2 - intercept) < 1e-3:
            break
        intercept = (lo + hi) / 2
    else:
        df, stress, state = simulate_training(n_companies, first_year, n_years, seed, intercept=intercept)
    return df, stress, intercept, state


def _planted_changes(first: int, n_later: int) -> list[dict[str, Any]]:
    """The changes planted in the later years ``first`` … ``first + n_later - 1``, in words for a risk manager.

    The macro shock starts in the first later year, the ESG rescaling in the
    second and the late payments in the third (or the last year when there are
    fewer), so monitoring meets one new change a year.
    """
    last = first + n_later - 1
    return [
        {"year": first, "kind": "macro", "segment": None, "columns": [*_MACRO_COLUMNS, *_MACRO_KNOCK_ON],
         "change": f"A recession begins: GDP growth falls to about {_SHOCK_GDP:.1f}%, the policy rate rises by "
                   f"{_SHOCK_RATE:.1f} points and sector PMIs drop; interest coverage falls and revenue growth "
                   "slows with them, and defaults rise."},
        {"year": min(first + 1, last), "kind": "data", "segment": None, "columns": [_RESCALED],
         "change": "The provider of the environmental scores now reports them on a 0-10 scale instead of "
                   "0-100; the companies did not change, only the reporting did."},
        {"year": min(first + 2, last), "kind": "behaviour", "segment": _LATE_SECTOR,
         "columns": ["supplier_payment_delay"],
         "change": f"Customers of {_LATE_SECTOR} companies pay late, so these companies' supplier payment "
                   f"delays are about {_LATE_FACTOR:g} times longer and their risk rises."},
    ]


def _later_portfolio(state: PanelState, train: pd.DataFrame, raw_names: np.ndarray, seed: int,
                     n_later: int) -> LaterYears:
    """Continue the training panel's companies for ``n_later`` years with the planted changes.

    The simulation draws from its own generator (``[seed, 2]``) and the names and
    ESG gaps from another (``[seed, 3]``), so asking for later years never changes
    the training panel. The ESG gaps follow the training rates per size class, so
    the missing share does not drift by itself. The environmental score is
    rescaled after the true PD was drawn: only the reporting changed.
    """
    n_train = len(raw_names)
    changes = _planted_changes(state.first_year + state.next_t, n_later)
    rescaled_from, late_from = changes[1]["year"], changes[2]["year"]
    df = simulate_later_years(state, n_later, np.random.default_rng([seed, 2]), gdp_growth=_SHOCK_GDP,
                              rate_rise=_SHOCK_RATE, delay_sector=_LATE_SECTOR, delay_factor=_LATE_FACTOR,
                              delay_from=late_from)
    rng = np.random.default_rng([seed, 3])
    names = _names(np.concatenate([raw_names, _raw_names(len(state.c) - n_train, rng)]))
    numbers = df["company_id"].to_numpy()
    df["company_id"] = _company_ids(df["company_id"])
    df.insert(1, "company_name", names[numbers])
    _remove_esg_scores(df, rng)
    rescaled = df["fiscal_year"].to_numpy() >= rescaled_from
    df.loc[rescaled, _RESCALED] = (df.loc[rescaled, _RESCALED] / 10).round(2)
    order = np.lexsort((df["company_id"].to_numpy(), df["fiscal_year"].to_numpy()))
    df = df.iloc[order].reset_index(drop=True)
    outcomes = df[[DEMO_SPEC.id, DEMO_SPEC.time, DEMO_SPEC.target, "true_pd"]].copy()
    scored = [c for c in train.columns if c not in (DEMO_SPEC.target, "true_pd")]
    frame = df[scored].astype(train.dtypes[scored].to_dict())
    return LaterYears(frame=frame, outcomes=outcomes, changes=changes)


def _remove_esg_scores(df: pd.DataFrame, rng: np.random.Generator) -> tuple[list[tuple[str, int]], set[int]]:
    """Blank the ESG columns of some company-years (more often for small companies); their keys and rows."""
    n = len(df)
    size_idx = pd.Categorical(df["size_class"], categories=SIZE_CLASSES).codes
    esg_gap = rng.random(n) < np.array(_ESG_MISSING)[size_idx]
    df.loc[esg_gap, list(_ESG_COLUMNS)] = np.nan
    esg_keys = sorted(zip(df.loc[esg_gap, "company_id"].astype(str), df.loc[esg_gap, "fiscal_year"].astype(int)))
    return [(a, int(b)) for a, b in esg_keys], set(np.flatnonzero(esg_gap).tolist())


def _wrong_values(df: pd.DataFrame, rng: np.random.Generator, taken: set[int], n_outliers: int,
                  n_impossible: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], np.ndarray]:
    """Put unusual-but-possible values and impossible values into rows that still have their ESG scores."""
    n = len(df)
    numeric = [f for f in DEMO_SPEC.features if f.kind == "numeric" and f.family != "macro"]
    outlier_cols = [f for f in numeric if (f.typical_max is not None and f.max is not None and f.max > f.typical_max)
                    and f.name not in _ESG_COLUMNS + _MARKET_COLUMNS and not f.integer]
    years = df["fiscal_year"].to_numpy()
    free_rows = np.array(sorted(set(range(n)) - taken))
    picks = rng.choice(free_rows, n_outliers + n_impossible, replace=False)
    outliers: list[dict[str, Any]] = []
    for r in picks[:n_outliers]:
        f = outlier_cols[int(rng.integers(len(outlier_cols)))]
        assert f.max is not None and f.typical_max is not None
        value = round(float(f.typical_max + rng.uniform(0.2, 0.9) * (f.max - f.typical_max)), 3)
        df.at[r, f.name] = value
        outliers.append({"id": df.at[r, "company_id"], "year": int(years[r]),
                         "column": f.name, "value": value})
    impossible: list[dict[str, Any]] = []
    bounded = [f for f in numeric if f.min is not None and f.name not in _MARKET_COLUMNS + _ESG_COLUMNS]
    for r in picks[n_outliers:]:
        f = bounded[int(rng.integers(len(bounded)))]
        assert f.min is not None
        if f.max is not None and rng.random() < 0.5:
            value = float(f.max + abs(f.max) * 0.5 + 1)
        else:
            value = float(f.min - max(abs(f.min), 1.0) * rng.uniform(0.5, 2.0))
        value = round(value, 2) if not f.integer else float(round(value))
        df[f.name] = df[f.name].astype(float) if f.integer else df[f.name]
        df.at[r, f.name] = value
        impossible.append({"id": df.at[r, "company_id"], "year": int(years[r]),
                           "column": f.name, "value": value})
    return outliers, impossible, picks


def _duplicate_rows(df: pd.DataFrame, rng: np.random.Generator, picks: np.ndarray,
                    n_duplicates: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Repeat some untouched rows exactly, sort by year and company, keep whole-number columns whole."""
    n = len(df)
    dup_rows = rng.choice(np.array(sorted(set(range(n)) - set(picks.tolist()))), n_duplicates, replace=False)
    dups = df.iloc[np.sort(dup_rows)]
    df = pd.concat([df, dups], ignore_index=True)
    order = np.lexsort((df["company_id"].to_numpy(), df["fiscal_year"].to_numpy()))
    df = df.iloc[order].reset_index(drop=True)
    for col in ("employees", "esg_controversies", "governance_red_flag", "firm_age"):
        if df[col].notna().all() and np.all(np.mod(df[col], 1) == 0):
            df[col] = df[col].astype(int)
    return df, dups
