"""The demo portfolio's simulation: companies whose condition drifts, observed through noisy ratios.

Each company carries a latent financial condition that moves slowly from year to
year (an AR(1) process); its ratios, ESG scores and alternative-data signals are
noisy, sector-calibrated functions of that condition (:func:`simulate_panel`).
The true probability of default of a company-year is a documented logistic
function of the *observed* values (:func:`true_logit`), so a model can in
principle reach it. :mod:`riskcore.data.synth` calibrates the intercept, adds the
imperfections and writes the manifest. :func:`simulate_later_years` continues the
same companies after the training years (from the :class:`PanelState` the
training pass ends in), with the changes that monitoring should find.

Every random number of the training years is drawn from one generator, in a
fixed order, so a seed gives the same portfolio byte for byte; the functions
below are called in that order and must stay so. The later years draw from a
generator of their own, so asking for them leaves the training years unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from riskcore.data.schema import REGIONS, SECTORS, SIZE_CLASSES
from riskcore.numeric import expit

__all__ = ["PanelState", "simulate_later_years", "simulate_panel", "simulate_survival", "simulate_training",
           "true_logit"]

# --- sector calibration ------------------------------------------------------
# columns: share, leverage, ebitda margin, asset turnover, receivable days,
# carbon intensity median (tCO2e / EUR m revenue), equity vol, growth, PD offset
_SECTOR_TABLE: dict[str, tuple[float, ...]] = {
    "Energy": (0.05, 0.38, 0.18, 0.70, 45, 900, 0.45, 0.03, 0.15),
    "Materials": (0.09, 0.33, 0.14, 0.90, 55, 700, 0.40, 0.03, 0.05),
    "Industrials": (0.18, 0.30, 0.11, 1.10, 70, 150, 0.35, 0.04, 0.00),
    "Consumer Discretionary": (0.14, 0.30, 0.09, 1.50, 35, 60, 0.42, 0.04, 0.25),
    "Consumer Staples": (0.08, 0.30, 0.08, 1.70, 30, 120, 0.28, 0.03, -0.10),
    "Health Care": (0.08, 0.22, 0.15, 0.90, 60, 30, 0.40, 0.08, -0.05),
    "Financials": (0.06, 0.45, 0.25, 0.30, 40, 5, 0.32, 0.04, 0.00),
    "Information Technology": (0.12, 0.18, 0.17, 1.00, 65, 15, 0.50, 0.12, 0.10),
    "Communication Services": (0.06, 0.30, 0.20, 0.70, 50, 10, 0.42, 0.06, 0.15),
    "Utilities": (0.05, 0.48, 0.25, 0.40, 45, 1200, 0.22, 0.02, -0.35),
    "Real Estate": (0.09, 0.52, 0.35, 0.15, 30, 50, 0.30, 0.03, 0.20),
}
_CARBON_HEAVY = ("Energy", "Materials", "Utilities")
_REGION_SHARE = (0.25, 0.35, 0.22, 0.18)
_REGION_GDP = (0.2, 0.0, -0.4, 1.2)
_SIZE_SHARE = (0.45, 0.35, 0.20)
_SIZE_ASSETS = (0.8, 5.0, 30.0)  # median total assets, EUR m
_SIZE_EMPLOYEES_PER_M = (6.0, 5.0, 4.0)
_SIZE_PD = (0.40, 0.15, 0.0)
_LISTED = (0.15, 0.40, 0.70)
_INITIAL_SHARE = 0.62  # companies in the panel from its first year; the others enter later
_ASSET_GROWTH = 0.03  # yearly log growth of balance sheets in the training years

# The realistic default path, fiscal years 2015-2024: a pandemic-like stress in
# 2020 and a rate shock from 2022.
_GDP_PATH = (2.0, 1.9, 2.6, 1.9, 1.6, -6.0, 5.9, 3.5, 0.8, 0.9)
_RATE_PATH = (0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.5, 3.5)

# Strength of the latent risk signal; sets the oracle AUC (about 0.87 on the
# latest years with the defaults).
_SIGNAL = 0.95


def _macro_paths(first_year: int, n_years: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """GDP growth and policy rate per year (the realistic 2015-2024 path, else a drawn one), and the stress year."""
    if first_year == 2015 and n_years == 10:
        gdp = np.array(_GDP_PATH, dtype=float)
        rate = np.array(_RATE_PATH, dtype=float)
    else:
        gdp = 1.8 + rng.normal(0, 0.8, n_years)
        s = n_years // 2
        gdp[s] = -6.0
        if s + 1 < n_years:
            gdp[s + 1] = 5.5
        rate = np.where(np.arange(n_years) < int(0.7 * n_years), 0.0, 3.5)
    stress = first_year + int(np.argmin(gdp))
    return gdp, rate, stress


def true_logit(df: pd.DataFrame, prev_debt_to_assets: np.ndarray | None = None) -> np.ndarray:
    """The latent risk score of the demo's true PD, before the intercept.

    ``true_pd = sigmoid(intercept + true_logit)``. Every term reads an observed
    column, so a model that sees the same columns can in principle learn it;
    the terms are documented in ``docs/demo_portfolio.md``.
    """
    g = df
    sector = g["sector"].to_numpy()
    size = g["size_class"].to_numpy()
    sec_off = np.array([_SECTOR_TABLE[s][8] for s in SECTORS])
    sector_idx = pd.Categorical(sector, categories=SECTORS).codes
    size_idx = pd.Categorical(size, categories=SIZE_CLASSES).codes
    cov = g["interest_coverage"].to_numpy(float)
    lev = g["debt_to_assets"].to_numpy(float)
    roa = g["roa"].to_numpy(float)
    cr = g["current_ratio"].to_numpy(float)
    re = g["retained_earnings_to_assets"].to_numpy(float)
    delay = g["supplier_payment_delay"].to_numpy(float)
    news = g["news_sentiment"].to_numpy(float)
    carbon = g["carbon_intensity"].to_numpy(float)
    gov = g["esg_governance"].to_numpy(float)
    contro = g["esg_controversies"].to_numpy(float)
    flag = g["governance_red_flag"].to_numpy(float)
    vol = g["equity_vol_90d"].to_numpy(float)
    growth = g["revenue_growth"].to_numpy(float)
    age = g["firm_age"].to_numpy(float)
    gdp = g["gdp_growth"].to_numpy(float)
    rate = g["policy_rate"].to_numpy(float)
    pmi = g["sector_pmi"].to_numpy(float)
    heavy = np.isin(sector, _CARBON_HEAVY)

    signal = (
        -0.22 * np.log(np.clip(cov, 0.01, 30.0)) + 0.3 * (cov < 1.5)
        + 2.5 * np.maximum(lev - 0.5, 0.0) + 1.2 * lev
        - 2.0 * roa - 2.0 * np.minimum(roa, 0.0)
        + 1.4 * np.maximum(1.0 - cr, 0.0)
        - 1.6 * re
        + 0.045 * delay
        - 0.9 * news + 1.5 * np.maximum(1.1 - cr, 0.0) * np.maximum(-news, 0.0)
        + heavy * 1.0 * lev * (carbon / 1000.0)
        - 0.02 * (gov - 50.0) + 0.2 * contro + 0.8 * flag
        + np.where(np.isnan(vol), 0.0, 1.2 * (np.nan_to_num(vol, nan=0.35) - 0.35))
        + 1.5 * np.maximum(-0.15 - growth, 0.0) + 0.35 * np.maximum(growth - 0.8, 0.0)
    )
    if prev_debt_to_assets is not None:
        signal = signal + 1.2 * np.nan_to_num(lev - prev_debt_to_assets, nan=0.0)
    macro = -0.06 * gdp + 0.05 * rate - 0.015 * (pmi - 50.0)
    return (
        sec_off[sector_idx] + np.array(_SIZE_PD)[size_idx] + 0.3 * (age < 3)
        + _SIGNAL * signal + macro
    )


@dataclass
class _Companies:
    """What is drawn once per company: its sector, region and size, entry, age, listing, persistent offsets."""

    sector_idx: np.ndarray
    region_idx: np.ndarray
    size_idx: np.ndarray
    sector_means: np.ndarray  # the sector table's columns 1-7 for each company
    entry: np.ndarray
    startup: np.ndarray
    age0: np.ndarray
    listed: np.ndarray
    assets0: np.ndarray
    emp_per_m: np.ndarray
    ead_share: np.ndarray
    persist: np.ndarray
    quality: np.ndarray

    def concat(self, other: _Companies) -> _Companies:
        """These companies followed by ``other`` (entrants get the next ids)."""
        return _Companies(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                            for f in fields(self)))


_K_SIGNALS = 12  # persistent company-specific offsets, one per signal


def _draw_companies(n: int, n_years: int, rng: np.random.Generator, entering_at: int | None = None) -> _Companies:
    """The companies of the panel, drawn in the generator's fixed order.

    Without ``entering_at``, 62% exist in the first year and the others enter in a
    later one; with it, all enter in year index ``entering_at`` (the entrants of a
    year after the training panel), half of them as start-ups as before.
    """
    shares = np.array([_SECTOR_TABLE[s][0] for s in SECTORS])
    sector_idx = rng.choice(len(SECTORS), n, p=shares / shares.sum())
    region_idx = rng.choice(len(REGIONS), n, p=np.array(_REGION_SHARE))
    size_idx = rng.choice(len(SIZE_CLASSES), n, p=np.array(_SIZE_SHARE))
    tab = np.array([_SECTOR_TABLE[s] for s in SECTORS])[sector_idx]
    if entering_at is None:
        initial = rng.random(n) < _INITIAL_SHARE
        entry = np.where(initial, 0, rng.integers(1, n_years, n))
    else:
        initial = np.zeros(n, dtype=bool)
        entry = np.full(n, entering_at)
    startup = (~initial) & (rng.random(n) < 0.5)
    age0 = np.where(startup, rng.integers(0, 3, n), np.clip(rng.gamma(2.2, 8.0, n), 2, 140)).astype(int)
    listed = rng.random(n) < np.array(_LISTED)[size_idx]
    assets0 = np.array(_SIZE_ASSETS)[size_idx] * np.exp(rng.normal(0, 0.55, n))
    emp_per_m = np.array(_SIZE_EMPLOYEES_PER_M)[size_idx]
    ead_share = rng.uniform(0.08, 0.35, n)
    persist = rng.normal(0, 1, (n, _K_SIGNALS))
    quality = rng.normal(0, 1, n)
    return _Companies(sector_idx, region_idx, size_idx, tab[:, 1:8], entry, startup, age0, listed, assets0,
                      emp_per_m, ead_share, persist, quality)


Signal = Callable[..., np.ndarray]


def _financials(co: _Companies, c: np.ndarray, z: Signal, noise: np.ndarray, age: np.ndarray, gdp: np.ndarray,
                rate: float, asset_trend: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The year's financial ratios of every company, from its condition ``c`` and the economy.

    ``asset_trend`` is the log growth of balance sheets since the first year (3% a
    year in the training years).
    """
    n = len(c)
    lev_mu, margin_mu, turn_mu, recv_mu, _, _, growth_mu = co.sector_means.T
    size_f = np.array([1.0, 0.8, 0.65])[co.size_idx]
    lev = lev_mu * np.exp(0.5 * -z(0.4, 0) - 0.125)
    lev = np.clip(lev, 0.0, 1.6)
    turnover = np.clip(turn_mu * np.exp(0.35 * z(0.2, 1)), 0.05, 5.0)
    z_prof = z(0.35, 2)
    roa = np.clip(0.4 * margin_mu * turn_mu * 0.8 + 0.055 * size_f * 1.3 * z_prof - 0.01
                  + 0.002 * (gdp - 1.8), -0.45, 0.35)
    ebit_ta = np.clip(1.2 * roa + 0.015 + 0.01 * noise[:, 3], -0.5, 0.45)
    ebitda_margin = np.clip(margin_mu + 0.07 * (0.8 * z_prof + 0.6 * noise[:, 4]) * size_f, -0.6, 0.6)
    net_margin = np.clip(roa / np.maximum(turnover, 0.05), -0.8, 0.45)
    other_liab = 0.25 + 0.06 * noise[:, 5]
    equity_ratio = np.clip(1.0 - lev - other_liab, -0.8, 0.95)
    roe = np.clip(roa / np.maximum(equity_ratio, 0.05), -2.0, 1.5)
    borrow_rate = 0.025 + rate / 100 + 0.02 * np.exp(-0.5 * c)
    coverage = np.clip(ebit_ta / np.maximum(lev * borrow_rate, 1e-4), 0.01, 250.0)
    cr = np.clip(np.exp(0.3 + 0.38 * z(0.35, 6)), 0.05, 12.0)
    quick = np.clip(cr * rng.uniform(0.5, 0.92, n), 0.02, 10.0)
    cash_ratio = np.clip(quick * rng.uniform(0.15, 0.6, n), 0.0, 6.0)
    cash_ta = np.clip(0.45 * cash_ratio * 0.35, 0, 0.6)
    ebitda_ta = ebitda_margin * turnover
    nd_ebitda = np.where(ebitda_ta > 0.005, (lev - cash_ta) / np.maximum(ebitda_ta, 0.005), 30.0)
    nd_ebitda = np.clip(nd_ebitda, -10.0, 30.0)
    wc_ta = np.clip((1 - 1 / cr) * 0.45 + 0.05 * noise[:, 7], -0.8, 0.8)
    re_ta = np.clip(0.08 + 0.004 * np.minimum(age, 40) + 0.2 * z(0.35, 8, 0.85), -1.5, 0.8)
    recv = np.clip(recv_mu * np.exp(0.35 * -z(0.35, 9)), 0.0, 240.0)
    growth = np.clip(growth_mu + 0.02 * (gdp - 1.8) + 0.12 * z(0.4, 10)
                     + 0.25 * co.startup * (age < 5) + 0.05 * rng.standard_t(3, n), -0.7, 1.5)
    assets = np.clip(co.assets0 * np.exp(asset_trend + 0.05 * noise[:, 11]), 0.02, 400.0)
    employees = np.clip(np.round(assets * co.emp_per_m * np.exp(0.3 * noise[:, 12])), 1, 400)
    return {
        "current_ratio": cr.round(3), "quick_ratio": quick.round(3), "cash_ratio": cash_ratio.round(3),
        "debt_to_assets": lev.round(4), "equity_ratio": equity_ratio.round(4),
        "net_debt_to_ebitda": nd_ebitda.round(2), "interest_coverage": coverage.round(2).clip(0.01, 250),
        "roa": roa.round(4), "roe": roe.round(4), "ebitda_margin": ebitda_margin.round(4),
        "net_margin": net_margin.round(4), "asset_turnover": turnover.round(3), "receivables_days": recv.round(1),
        "revenue_growth": growth.round(4), "total_assets": assets.round(3).clip(0.02, 400),
        "employees": employees.astype(int), "retained_earnings_to_assets": re_ta.round(4),
        "working_capital_to_assets": wc_ta.round(4), "ebit_to_assets": ebit_ta.round(4),
        "_assets": assets, "_growth": growth,
    }


def _esg_and_market(co: _Companies, c: np.ndarray, c_prev: np.ndarray, noise: np.ndarray, assets: np.ndarray,
                    growth: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The year's raw ESG pillars, carbon, controversies and flags, then the alternative and market data."""
    n = len(c)
    carbon_mu, vol_mu = co.sector_means[:, 4], co.sector_means[:, 5]
    persist = co.persist
    # ESG: pillar quality, normalised to 0-100 within sector and year (by the caller)
    e_raw = 0.3 * c + persist[:, 1] + 0.5 * noise[:, 13]
    s_raw = 0.3 * c + persist[:, 2] + 0.5 * noise[:, 14]
    g_raw = 0.35 * c + persist[:, 3] + 0.5 * noise[:, 15]
    carbon = np.clip(carbon_mu * np.exp(0.55 * rng.normal(0, 1, n) - 0.25 * persist[:, 1]), 0.0, 5000.0)
    contro = np.clip(rng.poisson(0.35 * np.exp(-0.5 * s_raw + 0.4 * (co.size_idx == 2))), 0, 12)
    red_flag = (rng.random(n) < expit(-3.3 - 0.9 * g_raw)).astype(float)
    # alternative data
    analyst = np.tanh(0.3 * c + 0.4 * rng.normal(0, 1, n))
    news = np.tanh(0.2 * c + 0.5 * (c - c_prev) + 0.2 * persist[:, 5] + 0.35 * rng.normal(0, 1, n))
    social = np.tanh(0.2 * c + 0.5 * rng.normal(0, 1, n))
    vol90 = np.clip(vol_mu * np.exp(-0.3 * c + 0.25 * rng.normal(0, 1, n)) * np.array([1.3, 1.1, 1.0])[co.size_idx],
                    0.02, 3.0)
    vol30 = np.clip(vol90 * np.exp(0.2 * rng.normal(0, 1, n)), 0.02, 3.0)
    vol250 = np.clip(vol90 * np.exp(0.1 * rng.normal(0, 1, n)), 0.02, 3.0)
    spread = np.clip(np.exp(4.6 - 0.45 * np.log(assets) - 0.2 * c + 0.4 * rng.normal(0, 1, n)), 1.0, 2500.0)
    delay = np.clip(7.0 * np.exp(-0.3 * c + 0.3 * persist[:, 4] + 0.45 * rng.normal(0, 1, n)), 0.0, 150.0)
    web = np.clip(0.05 + 0.12 * rng.normal(0, 1, n) + 0.5 * growth, -0.9, 3.0)
    listed = co.listed
    return {
        "_e": e_raw, "_s": s_raw, "_g": g_raw,
        "carbon_intensity": carbon.round(1), "esg_controversies": contro.astype(int),
        "governance_red_flag": red_flag.astype(int), "analyst_sentiment": analyst.round(3),
        "news_sentiment": news.round(3), "social_sentiment": social.round(3),
        "equity_vol_30d": np.where(listed, vol30, np.nan).round(4),
        "equity_vol_90d": np.where(listed, vol90, np.nan).round(4),
        "equity_vol_250d": np.where(listed, vol250, np.nan).round(4),
        "bid_ask_spread_bps": np.where(listed, spread, np.nan).round(1),
        "supplier_payment_delay": delay.round(1), "web_traffic_growth": web.round(4),
    }


def _esg_scores(f: pd.DataFrame, prev_esg: np.ndarray, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """ESG pillar scores as percentiles within sector and year, and the momentum on the previous year."""
    for col, raw in (("esg_environmental", "_e"), ("esg_social", "_s"), ("esg_governance", "_g")):
        pct = f.groupby("sector")[raw].rank(pct=True)
        f[col] = (100 * pct - 50 / f.groupby("sector")[raw].transform("size")).round(1)
    esg_avg = f[["esg_environmental", "esg_social", "esg_governance"]].mean(axis=1).to_numpy()
    prev = prev_esg[idx]
    momentum = np.where(np.isnan(prev), rng.normal(0, 6, len(idx)), esg_avg - prev)
    f["esg_momentum"] = np.clip(momentum + rng.normal(0, 2, len(idx)), -35, 35).round(1)
    prev_esg[idx] = esg_avg
    return f.drop(columns=["_e", "_s", "_g"])


@dataclass(frozen=True)
class _YearMacro:
    """The economy of one simulated year: GDP growth per region, the policy rate, PMI and shocks per sector.

    ``asset_trend`` is the log growth of balance sheets since the first year.
    """

    region_gdp: np.ndarray
    rate: float
    sector_pmi: np.ndarray
    sector_shock: np.ndarray
    asset_trend: float


@dataclass
class PanelState:
    """Where the simulation stands after its last simulated year, so later years can continue it.

    Holds the companies drawn so far and, per company, its latent condition
    ``c``, whether it is still in the panel, and last year's leverage and ESG
    average (the deterioration term and the ESG momentum read them).
    ``next_t`` is the index of the next year (0 is ``first_year``);
    ``entrants`` is how many companies enter in a training year, on average.
    """

    companies: _Companies
    c: np.ndarray
    alive: np.ndarray
    prev_lev: np.ndarray
    prev_esg: np.ndarray
    next_t: int
    first_year: int
    n_years: int
    last_rate: float
    intercept: float
    entrants: int

    def add_companies(self, new: _Companies) -> None:
        """Append entrants: their condition starts at their quality, with no previous year."""
        self.companies = self.companies.concat(new)
        m = len(new.quality)
        self.c = np.concatenate([self.c, new.quality])
        self.alive = np.concatenate([self.alive, np.ones(m, dtype=bool)])
        self.prev_lev = np.concatenate([self.prev_lev, np.full(m, np.nan)])
        self.prev_esg = np.concatenate([self.prev_esg, np.full(m, np.nan)])


def simulate_panel(
    n_companies: int, first_year: int, n_years: int, seed: int, intercept: float
) -> tuple[pd.DataFrame, int]:
    """One pass of the panel simulation with a given PD intercept; also the stress year.

    Companies enter over the years and leave after a default, or by closing or
    being acquired (4% a year). The frame has the raw columns of the demo spec
    (company ids as integers), ``true_pd`` and ``default_12m``.
    """
    frame, stress, _ = simulate_training(n_companies, first_year, n_years, seed, intercept)
    return frame, stress


def simulate_training(
    n_companies: int, first_year: int, n_years: int, seed: int, intercept: float
) -> tuple[pd.DataFrame, int, PanelState]:
    """The training panel as :func:`simulate_panel`, with the state after its last year.

    The state lets :func:`simulate_later_years` continue the same companies
    without drawing from this pass's generator again.
    """
    rng = np.random.default_rng(seed)
    gdp_path, rate_path, stress = _macro_paths(first_year, n_years, rng)
    n = n_companies
    co = _draw_companies(n, n_years, rng)
    region_gdp = gdp_path[None, :] + np.array(_REGION_GDP)[:, None] + rng.normal(0, 0.4, (len(REGIONS), n_years))
    sector_pmi = 50 + 1.4 * (gdp_path[None, :] - 1.8) + rng.normal(0, 2.0, (len(SECTORS), n_years))
    sector_shock = rng.normal(0, 0.15, (len(SECTORS), n_years))
    state = PanelState(co, co.quality.copy(), np.ones(n, dtype=bool), np.full(n, np.nan), np.full(n, np.nan),
                       0, first_year, n_years, float(rate_path[-1]), intercept,
                       round(n * (1 - _INITIAL_SHARE) / max(n_years - 1, 1)))
    frames = []
    for t in range(n_years):
        macro = _YearMacro(region_gdp[:, t], float(rate_path[t]), sector_pmi[:, t], sector_shock[:, t],
                           _ASSET_GROWTH * t)
        f, idx = _observe_year(state, macro, rng)
        frames.append(_close_year(state, f, idx, rng))
    return pd.concat(frames, ignore_index=True), stress, state


def simulate_later_years(
    state: PanelState,
    n_later: int,
    rng: np.random.Generator,
    *,
    gdp_growth: float = -2.5,
    rate_rise: float = 1.5,
    delay_sector: str = "Consumer Discretionary",
    delay_factor: float = 2.5,
    delay_from: int | None = None,
    asset_growth: float = 0.0,
) -> pd.DataFrame:
    """Continue the panel for ``n_later`` years after the training years, with a macro shock and late payers.

    Every later year GDP growth is about ``gdp_growth`` (plus the regional offsets),
    the policy rate is ``rate_rise`` points above the last training year and the
    sector PMI follows GDP down; the true PD reads these columns, so defaults rise
    while P(default | observed row) keeps its formula. From fiscal year
    ``delay_from`` on, the customers of ``delay_sector`` pay late and its
    companies' supplier payment delays are ``delay_factor`` times longer; the
    true PD reads the observed delay, so these companies really get riskier.
    Balance sheets grow by ``asset_growth`` a year (log; nothing in the recession,
    against 3% in the training years). As many companies enter as in a
    training year, and exits follow the same rules. ``state`` is advanced in
    place; draws come from ``rng`` only.

    Returns
    -------
    pandas.DataFrame
        The later company-years with the training pass's columns.
    """
    sector = SECTORS.index(delay_sector)
    frames = []
    for _ in range(n_later):
        t = state.next_t
        state.add_companies(_draw_companies(state.entrants, t + 1, rng, entering_at=t))
        gdp = gdp_growth + rng.normal(0, 0.3)
        macro = _YearMacro(
            region_gdp=gdp + np.array(_REGION_GDP) + rng.normal(0, 0.4, len(REGIONS)),
            rate=state.last_rate + rate_rise,
            sector_pmi=50 + 1.4 * (gdp - 1.8) + rng.normal(0, 2.0, len(SECTORS)),
            sector_shock=rng.normal(0, 0.15, len(SECTORS)),
            asset_trend=_ASSET_GROWTH * (state.n_years - 1) + asset_growth * (t - state.n_years + 1),
        )
        f, idx = _observe_year(state, macro, rng)
        if delay_from is not None and state.first_year + t >= delay_from:
            late = state.companies.sector_idx[idx] == sector
            delay = f["supplier_payment_delay"].to_numpy(float)
            f["supplier_payment_delay"] = np.where(late, np.clip(delay * delay_factor, 0.0, 150.0).round(1), delay)
        frames.append(_close_year(state, f, idx, rng))
    return pd.concat(frames, ignore_index=True)


def _observe_year(state: PanelState, macro: _YearMacro, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Move every company's condition one year on and observe the companies in the panel; their rows and ids.

    The draws keep the order of the original single loop, so a seed gives the same panel.
    """
    co = state.companies
    t = state.next_t
    n = len(state.c)
    eps = rng.normal(0, 1, n)
    c_prev = state.c
    c = 0.85 * c_prev + np.sqrt(1 - 0.85**2) * eps + macro.sector_shock[co.sector_idx]
    state.c = c
    active = state.alive & (co.entry <= t)
    noise = rng.normal(0, 1, (n, 16))

    def z(loading: float, j: int, persist_w: float = 0.7) -> np.ndarray:
        idio = persist_w * co.persist[:, j % _K_SIGNALS] + np.sqrt(1 - persist_w**2) * noise[:, j]
        return loading * c + np.sqrt(1 - loading**2) * idio

    age = co.age0 + (t - co.entry)
    gdp = macro.region_gdp[co.region_idx]
    fin = _financials(co, c, z, noise, age, gdp, macro.rate, macro.asset_trend, rng)
    assets, growth = fin.pop("_assets"), fin.pop("_growth")
    esg = _esg_and_market(co, c, c_prev, noise, assets, growth, rng)

    idx = np.flatnonzero(active)
    f = pd.DataFrame({
        "company_id": idx,
        "fiscal_year": state.first_year + t,
        "sector": np.array(SECTORS, dtype=object)[co.sector_idx[idx]],
        "region": np.array(REGIONS, dtype=object)[co.region_idx[idx]],
        "size_class": np.array(SIZE_CLASSES, dtype=object)[co.size_idx[idx]],
        "firm_age": age[idx],
        **{k: v[idx] for k, v in fin.items()},
        **{k: v[idx] for k, v in esg.items()},
        "gdp_growth": gdp[idx].round(2),
        "policy_rate": np.full(len(idx), macro.rate),
        "sector_pmi": macro.sector_pmi[co.sector_idx][idx].round(1),
        "exposure_eur": (assets[idx] * co.ead_share[idx] * 1e6).round(-2),
    })
    return _esg_scores(f, state.prev_esg, idx, rng), idx


def _close_year(state: PanelState, f: pd.DataFrame, idx: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the year's true PD and outcomes, then the exits; the rows with ``true_pd`` and ``default_12m``."""
    p = expit(state.intercept + true_logit(f, state.prev_lev[idx]))
    u = rng.random(len(idx))
    y = (u < p).astype(int)
    f["true_pd"] = p
    f["default_12m"] = y
    state.prev_lev[idx] = f["debt_to_assets"].to_numpy()
    # exits: defaulters leave; others close or are acquired at 4% a year
    state.alive[idx[y == 1]] = False
    attrition = rng.random(len(idx)) < 0.04
    state.alive[idx[attrition]] = False
    state.next_t += 1
    return f


def simulate_survival(
    state: PanelState,
    companies: np.ndarray,
    years: int,
    rng: np.random.Generator,
    *,
    region_gdp: np.ndarray,
    sector_pmi: np.ndarray,
    rate: float,
    n_paths: int = 200,
    batch: int = 20,
) -> np.ndarray:
    """Each company's expected true survival over the ``years`` after the state's last year, by simulation.

    The known truth behind a lifetime PD: every company of ``companies`` (indices into the state) is moved
    forward from its true condition ``n_paths`` times, through the same process as the panel (its condition's
    AR(1) step, its observed ratios, :func:`true_logit`), with the economy held at ``region_gdp`` (per region),
    ``sector_pmi`` (per sector) and the policy ``rate`` and a fresh sector shock each year and batch of
    ``batch`` paths. Nobody enters, closes or is acquired: the truth is the probability of default of an
    exposure that stays, as a provision needs it. Each path's survival is the product of its years' ``1 −
    true PD`` (the expected value over the default draws, so no default is drawn). ESG percentiles are ranked
    among the simulated companies of a batch, as the panel ranks a year's companies.

    ``state`` is not changed; draws come from ``rng`` only.

    Returns
    -------
    numpy.ndarray
        (len(companies), years): column *k* is the mean over paths of the survival through year *k + 1*.
    """
    co = state.companies
    companies = np.asarray(companies, dtype=np.int64)
    n = len(companies)
    total = np.zeros((n, years))
    done = 0
    while done < n_paths:
        b = min(batch, n_paths - done)
        sel = np.tile(companies, b)
        sub = PanelState(_Companies(*(getattr(co, f.name)[sel] for f in fields(co))), state.c[sel].copy(),
                         np.ones(len(sel), dtype=bool), state.prev_lev[sel].copy(), state.prev_esg[sel].copy(),
                         state.next_t, state.first_year, state.n_years, state.last_rate, state.intercept, 0)
        survival = np.ones(len(sel))
        for k in range(years):
            t = sub.next_t
            macro = _YearMacro(np.asarray(region_gdp, dtype=float), float(rate), np.asarray(sector_pmi, dtype=float),
                               rng.normal(0, 0.15, len(SECTORS)), _ASSET_GROWTH * t)
            f, idx = _observe_year(sub, macro, rng)
            p = expit(sub.intercept + true_logit(f, sub.prev_lev[idx]))
            sub.prev_lev[idx] = f["debt_to_assets"].to_numpy()
            sub.next_t += 1
            survival[idx] *= 1.0 - p
            total[:, k] += survival.reshape(b, n).sum(axis=0)
        done += b
    return total / n_paths
