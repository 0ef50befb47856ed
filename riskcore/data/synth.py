"""The known-truth demo portfolio.

:func:`generate_portfolio` simulates SMEs over about ten fiscal years. Each
company carries a latent financial condition that moves slowly from year to
year (an AR(1) process); its observed ratios, ESG scores and alternative-data
signals are noisy, sector-calibrated functions of that condition. The true
probability of default of every company-year is a documented logistic function
of the *observed* values (so a model can, in principle, reach it), written to
column ``true_pd``; the outcome ``default_12m`` is drawn from it. Afterwards the
generator injects realistic imperfections and records each one in the
:class:`Manifest`, which the tests read. ``docs/demo_portfolio.md`` documents the
model for validators.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskcore.data.schema import DEMO_SPEC, REGIONS, SECTORS, SIZE_CLASSES, DatasetSpec

__all__ = ["Manifest", "Portfolio", "generate_portfolio", "true_logit"]

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
_ESG_MISSING = (0.30, 0.12, 0.04)

# The realistic default path, fiscal years 2015-2024: a pandemic-like stress in
# 2020 and a rate shock from 2022.
_GDP_PATH = (2.0, 1.9, 2.6, 1.9, 1.6, -6.0, 5.9, 3.5, 0.8, 0.9)
_RATE_PATH = (0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 3.5, 3.5)

_ESG_COLUMNS = ("esg_environmental", "esg_social", "esg_governance", "carbon_intensity",
                "esg_controversies", "governance_red_flag", "esg_momentum")
_MARKET_COLUMNS = ("equity_vol_30d", "equity_vol_90d", "equity_vol_250d", "bid_ask_spread_bps")

# Strength of the latent risk signal; sets the oracle AUC (about 0.87 on the
# latest years with the defaults).
_SIGNAL = 0.95


@dataclass
class Manifest:
    """What the generator did, so tests and validators can check the data against it.

    Keys are ``(company_id, fiscal_year)`` pairs. ``outliers`` and ``impossible``
    list ``{"id", "year", "column", "value"}`` records; ``duplicates`` lists the
    keys of rows that appear twice; ``missing`` maps column to the number of
    missing cells the generator produced.
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
class Portfolio:
    """The generated frame, its spec and the manifest of what was injected."""

    frame: pd.DataFrame
    manifest: Manifest
    spec: DatasetSpec = DEMO_SPEC


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _macro_paths(first_year: int, n_years: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
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


def _names(n: int, rng: np.random.Generator) -> np.ndarray:
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
    names = np.char.add(np.char.add(np.char.add(first[a], " "), np.char.add(second[b], " ")), legal[c])
    # make names unique in a deterministic way
    s = pd.Series(names)
    dup = s.groupby(s).cumcount()
    roman = np.array(["", " II", " III", " IV", " V", " VI", " VII", " VIII", " IX", " X"])
    suffix = np.where(dup < len(roman), roman[np.minimum(dup, len(roman) - 1)], " " + (dup + 1).astype(str))
    return (s + suffix).to_numpy(dtype=object)


def _simulate(
    n_companies: int, first_year: int, n_years: int, seed: int, intercept: float
) -> tuple[pd.DataFrame, int]:
    """One pass of the panel simulation with a given PD intercept."""
    rng = np.random.default_rng(seed)
    years = np.arange(first_year, first_year + n_years)
    gdp_path, rate_path, stress = _macro_paths(first_year, n_years, rng)
    n = n_companies
    shares = np.array([_SECTOR_TABLE[s][0] for s in SECTORS])
    sector_idx = rng.choice(len(SECTORS), n, p=shares / shares.sum())
    region_idx = rng.choice(len(REGIONS), n, p=np.array(_REGION_SHARE))
    size_idx = rng.choice(len(SIZE_CLASSES), n, p=np.array(_SIZE_SHARE))
    tab = np.array([_SECTOR_TABLE[s] for s in SECTORS])[sector_idx]
    lev_mu, margin_mu, turn_mu, recv_mu, carbon_mu, vol_mu, growth_mu = (tab[:, i] for i in range(1, 8))
    initial = rng.random(n) < 0.62
    entry = np.where(initial, 0, rng.integers(1, n_years, n))
    startup = (~initial) & (rng.random(n) < 0.5)
    age0 = np.where(startup, rng.integers(0, 3, n), np.clip(rng.gamma(2.2, 8.0, n), 2, 140)).astype(int)
    listed = rng.random(n) < np.array(_LISTED)[size_idx]
    assets0 = np.array(_SIZE_ASSETS)[size_idx] * np.exp(rng.normal(0, 0.55, n))
    emp_per_m = np.array(_SIZE_EMPLOYEES_PER_M)[size_idx]
    ead_share = rng.uniform(0.08, 0.35, n)
    # persistent company-specific offsets, one per signal
    k_sig = 12
    persist = rng.normal(0, 1, (n, k_sig))
    quality = rng.normal(0, 1, n)
    # macro per region/sector and year
    region_gdp = gdp_path[None, :] + np.array(_REGION_GDP)[:, None] + rng.normal(0, 0.4, (len(REGIONS), n_years))
    sector_pmi = 50 + 1.4 * (gdp_path[None, :] - 1.8) + rng.normal(0, 2.0, (len(SECTORS), n_years))
    sector_shock = rng.normal(0, 0.15, (len(SECTORS), n_years))

    alive = np.ones(n, dtype=bool)
    c = quality.copy()
    prev_lev = np.full(n, np.nan)
    prev_esg = np.full(n, np.nan)
    frames = []
    for t, year in enumerate(years):
        eps = rng.normal(0, 1, n)
        c_prev = c
        c = 0.85 * c + np.sqrt(1 - 0.85**2) * eps + sector_shock[sector_idx, t]
        active = alive & (entry <= t)
        noise = rng.normal(0, 1, (n, 16))

        def z(loading: float, j: int, persist_w: float = 0.7, noise: np.ndarray = noise,
              c: np.ndarray = c) -> np.ndarray:
            idio = persist_w * persist[:, j % k_sig] + np.sqrt(1 - persist_w**2) * noise[:, j]
            return loading * c + np.sqrt(1 - loading**2) * idio

        age = age0 + (t - entry)
        gdp = region_gdp[region_idx, t]
        rate = rate_path[t]
        pmi = sector_pmi[sector_idx, t]
        size_f = np.array([1.0, 0.8, 0.65])[size_idx]

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
                         + 0.25 * startup * (age < 5) + 0.05 * rng.standard_t(3, n), -0.7, 1.5)
        assets = np.clip(assets0 * np.exp(0.03 * t + 0.05 * noise[:, 11]), 0.02, 400.0)
        employees = np.clip(np.round(assets * emp_per_m * np.exp(0.3 * noise[:, 12])), 1, 400)
        # ESG: pillar quality, normalised to 0-100 within sector and year
        e_raw = 0.3 * c + persist[:, 1] + 0.5 * noise[:, 13]
        s_raw = 0.3 * c + persist[:, 2] + 0.5 * noise[:, 14]
        g_raw = 0.35 * c + persist[:, 3] + 0.5 * noise[:, 15]
        carbon = np.clip(carbon_mu * np.exp(0.55 * rng.normal(0, 1, n) - 0.25 * persist[:, 1]), 0.0, 5000.0)
        contro = np.clip(rng.poisson(0.35 * np.exp(-0.5 * s_raw + 0.4 * (size_idx == 2))), 0, 12)
        red_flag = (rng.random(n) < _sigmoid(-3.3 - 0.9 * g_raw)).astype(float)
        # alternative data
        analyst = np.tanh(0.3 * c + 0.4 * rng.normal(0, 1, n))
        news = np.tanh(0.2 * c + 0.5 * (c - c_prev) + 0.2 * persist[:, 5] + 0.35 * rng.normal(0, 1, n))
        social = np.tanh(0.2 * c + 0.5 * rng.normal(0, 1, n))
        vol90 = np.clip(vol_mu * np.exp(-0.3 * c + 0.25 * rng.normal(0, 1, n)) * np.array([1.3, 1.1, 1.0])[size_idx],
                        0.02, 3.0)
        vol30 = np.clip(vol90 * np.exp(0.2 * rng.normal(0, 1, n)), 0.02, 3.0)
        vol250 = np.clip(vol90 * np.exp(0.1 * rng.normal(0, 1, n)), 0.02, 3.0)
        spread = np.clip(np.exp(4.6 - 0.45 * np.log(assets) - 0.2 * c + 0.4 * rng.normal(0, 1, n)), 1.0, 2500.0)
        delay = np.clip(7.0 * np.exp(-0.3 * c + 0.3 * persist[:, 4] + 0.45 * rng.normal(0, 1, n)), 0.0, 150.0)
        web = np.clip(0.05 + 0.12 * rng.normal(0, 1, n) + 0.5 * growth, -0.9, 3.0)

        idx = np.flatnonzero(active)
        f = pd.DataFrame({
            "company_id": idx,
            "fiscal_year": year,
            "sector": np.array(SECTORS, dtype=object)[sector_idx[idx]],
            "region": np.array(REGIONS, dtype=object)[region_idx[idx]],
            "size_class": np.array(SIZE_CLASSES, dtype=object)[size_idx[idx]],
            "firm_age": age[idx],
            "current_ratio": cr[idx].round(3),
            "quick_ratio": quick[idx].round(3),
            "cash_ratio": cash_ratio[idx].round(3),
            "debt_to_assets": lev[idx].round(4),
            "equity_ratio": equity_ratio[idx].round(4),
            "net_debt_to_ebitda": nd_ebitda[idx].round(2),
            "interest_coverage": coverage[idx].round(2).clip(0.01, 250),
            "roa": roa[idx].round(4),
            "roe": roe[idx].round(4),
            "ebitda_margin": ebitda_margin[idx].round(4),
            "net_margin": net_margin[idx].round(4),
            "asset_turnover": turnover[idx].round(3),
            "receivables_days": recv[idx].round(1),
            "revenue_growth": growth[idx].round(4),
            "total_assets": assets[idx].round(3).clip(0.02, 400),
            "employees": employees[idx].astype(int),
            "retained_earnings_to_assets": re_ta[idx].round(4),
            "working_capital_to_assets": wc_ta[idx].round(4),
            "ebit_to_assets": ebit_ta[idx].round(4),
            "_e": e_raw[idx],
            "_s": s_raw[idx],
            "_g": g_raw[idx],
            "carbon_intensity": carbon[idx].round(1),
            "esg_controversies": contro[idx].astype(int),
            "governance_red_flag": red_flag[idx].astype(int),
            "analyst_sentiment": analyst[idx].round(3),
            "news_sentiment": news[idx].round(3),
            "social_sentiment": social[idx].round(3),
            "equity_vol_30d": np.where(listed, vol30, np.nan)[idx].round(4),
            "equity_vol_90d": np.where(listed, vol90, np.nan)[idx].round(4),
            "equity_vol_250d": np.where(listed, vol250, np.nan)[idx].round(4),
            "bid_ask_spread_bps": np.where(listed, spread, np.nan)[idx].round(1),
            "supplier_payment_delay": delay[idx].round(1),
            "web_traffic_growth": web[idx].round(4),
            "gdp_growth": gdp[idx].round(2),
            "policy_rate": np.full(len(idx), rate),
            "sector_pmi": pmi[idx].round(1),
            "exposure_eur": (assets[idx] * ead_share[idx] * 1e6).round(-2),
        })
        # ESG pillar scores are percentiles within sector and year
        for col, raw in (("esg_environmental", "_e"), ("esg_social", "_s"), ("esg_governance", "_g")):
            pct = f.groupby("sector")[raw].rank(pct=True)
            f[col] = (100 * pct - 50 / f.groupby("sector")[raw].transform("size")).round(1)
        esg_avg = f[["esg_environmental", "esg_social", "esg_governance"]].mean(axis=1).to_numpy()
        prev = prev_esg[idx]
        momentum = np.where(np.isnan(prev), rng.normal(0, 6, len(idx)), esg_avg - prev)
        f["esg_momentum"] = np.clip(momentum + rng.normal(0, 2, len(idx)), -35, 35).round(1)
        prev_esg[idx] = esg_avg
        f = f.drop(columns=["_e", "_s", "_g"])
        logit = intercept + true_logit(f, prev_lev[idx])
        p = _sigmoid(logit)
        u = rng.random(len(idx))
        y = (u < p).astype(int)
        f["true_pd"] = p
        f["default_12m"] = y
        prev_lev[idx] = lev[idx].round(4)
        # exits: defaulters leave; others close or are acquired at 4% a year
        alive[idx[y == 1]] = False
        attrition = rng.random(len(idx)) < 0.04
        alive[idx[attrition]] = False
        frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    return df, stress


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


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
) -> Portfolio:
    """Generate the known-truth demo portfolio.

    Parameters
    ----------
    n_companies : companies simulated; rows are about 6.5 per company.
    seed : the one seed; the same seed gives the same portfolio, byte for byte.
    default_rate : target share of company-years that default (0.04-0.10 is realistic here).
    first_year, n_years : the fiscal years covered.
    n_duplicates, n_outliers, n_impossible : imperfections to inject.

    Returns
    -------
    Portfolio
        ``frame`` with the columns of :data:`riskcore.data.schema.DEMO_SPEC` plus
        ``true_pd``; ``manifest`` with every injected imperfection.

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
    # The intercept that gives the target default rate depends on the panel,
    # which depends (through exits after default) on the intercept: iterate to
    # the fixed point. Every pass uses the same random numbers.
    intercept = -3.0
    for _ in range(6):
        df, stress = _simulate(n_companies, first_year, n_years, seed, intercept=intercept)
        p = df["true_pd"].to_numpy()
        logit = np.log(p / (1 - p)) - intercept
        lo, hi = -20.0, 10.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if _sigmoid(mid + logit).mean() > default_rate:
                hi = mid
            else:
                lo = mid
        if abs((lo + hi) / 2 - intercept) < 1e-3:
            break
        intercept = (lo + hi) / 2
    else:
        df, stress = _simulate(n_companies, first_year, n_years, seed, intercept=intercept)
    rng = np.random.default_rng(seed + 1)

    df["company_id"] = np.char.add("C", np.char.zfill(df["company_id"].astype(str).to_numpy().astype(str), 5))
    names = _names(n_companies, np.random.default_rng(seed + 2))
    df.insert(1, "company_name", names[df["company_id"].str[1:].astype(int).to_numpy()])

    # --- imperfections -------------------------------------------------------
    n = len(df)
    size_idx = pd.Categorical(df["size_class"], categories=SIZE_CLASSES).codes
    esg_gap = rng.random(n) < np.array(_ESG_MISSING)[size_idx]
    df.loc[esg_gap, list(_ESG_COLUMNS)] = np.nan
    esg_keys = sorted(zip(df.loc[esg_gap, "company_id"].astype(str), df.loc[esg_gap, "fiscal_year"].astype(int)))
    taken = set(np.flatnonzero(esg_gap).tolist())

    numeric = [f for f in DEMO_SPEC.features if f.kind == "numeric" and f.family != "macro"]
    outlier_cols = [f for f in numeric if (f.typical_max is not None and f.max is not None and f.max > f.typical_max)
                    and f.name not in _ESG_COLUMNS + _MARKET_COLUMNS and not f.integer]
    free_rows = np.array(sorted(set(range(n)) - taken))
    picks = rng.choice(free_rows, n_outliers + n_impossible, replace=False)
    outliers: list[dict[str, Any]] = []
    for r in picks[:n_outliers]:
        f = outlier_cols[int(rng.integers(len(outlier_cols)))]
        assert f.max is not None and f.typical_max is not None
        value = round(float(f.typical_max + rng.uniform(0.2, 0.9) * (f.max - f.typical_max)), 3)
        df.at[r, f.name] = value
        outliers.append({"id": df.at[r, "company_id"], "year": int(df.at[r, "fiscal_year"]),
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
        impossible.append({"id": df.at[r, "company_id"], "year": int(df.at[r, "fiscal_year"]),
                           "column": f.name, "value": value})

    dup_rows = rng.choice(np.array(sorted(set(range(n)) - set(picks.tolist()))), n_duplicates, replace=False)
    dups = df.iloc[np.sort(dup_rows)]
    df = pd.concat([df, dups], ignore_index=True)
    order = np.lexsort((df["company_id"].to_numpy(), df["fiscal_year"].to_numpy()))
    df = df.iloc[order].reset_index(drop=True)
    for col in ("employees", "esg_controversies", "governance_red_flag", "firm_age"):
        if df[col].notna().all() and np.all(np.mod(df[col], 1) == 0):
            df[col] = df[col].astype(int)

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
        oracle_auc=_auc(y, p),
        oracle_auc_latest=_auc(y[last.to_numpy()], p[last.to_numpy()]),
        stress_year=stress,
        intercept=float(intercept),
        esg_missing=[(a, int(b)) for a, b in esg_keys],
        unlisted_rows=int(df["equity_vol_90d"].isna().sum()),
        outliers=outliers,
        impossible=impossible,
        duplicates=sorted((str(a), int(b)) for a, b in zip(dups["company_id"], dups["fiscal_year"])),
        missing={c: int(df[c].isna().sum()) for c in DEMO_SPEC.feature_names if df[c].isna().any()},
    )
    return Portfolio(frame=df, manifest=manifest)
