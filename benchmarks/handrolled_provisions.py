"""The hand-rolled baseline of ``python -m riskcore provisions``: the same job with plain libraries only.

Nothing of riskcore is imported here. What the script knows of the model comes from the model card the
benchmark exports beforehand (``model_card.py``), and it scores rows with ``handrolled_score.py``'s own
functions (panel features, model matrix, booster or logistic numbers, calibrator knots). What it knows of
the scenarios (each one's weight and macro moves, the macro inputs' valid ranges) comes from a small JSON
file the benchmark writes from the riskcore run's ``summary.json``. Then, with pyarrow and numpy:

* read: pyarrow reads the columns the model, the key, the default flag and the exposure need; rows after the
  as-of year are dropped, a repeated company and year is kept once (the first), the rest sorted by company
  and year;
* score: every row up to the as-of year gets its base PD; the as-of rows are scored again once per scenario
  with the macro inputs moved by the scenario's shifts (clipped to their valid range);
* term structure: per grade of the master scale, the default hazard in each year after a company-year of the
  years before the as-of year (at risk: the company still has a row every year since; defaults: that row's
  flag), a raw ratio (an empty grade takes the year's pooled rate; years beyond the history repeat the last
  year with a default); a company's year-*k* hazard is its grade's times its PD over the grade's mean PD,
  year 1 its own PD;
* stages: the portfolio is every company with an as-of row, plus last year's defaulters (stage 3, PD 1);
  stage 2 when the scenario-weighted lifetime PD over the term is at least twice the lifetime PD of the
  company's earliest year in the file and at least 2 points above it; stage 1 otherwise;
* ECL: Σ marginal PD × LGD × EAD × (1 + EIR)^−t over the term (the first year only in stage 1), per scenario,
  weighted; LGD 0.45, EIR 5%, 5 years, the exposure column as EAD (the settings' defaults);
* write: pyarrow writes ``companies.csv`` (id, stage, PDs, EAD, ECL per scenario and weighted) and the script
  prints one ``summary: {json}`` line (companies, EAD, ECL, companies and ECL by stage).

What it leaves out on purpose: validation and the reject report (every row is scored), the shrinkage of thin
grades toward their neighbours, the migration method, the audit trail and its origination lookup, the
summaries by grade and sector, the term-structure files, the stage reasons. That is the price the benchmark
measures.

    .venv/bin/python benchmarks/handrolled_provisions.py --card CARD.json --scenarios SCENARIOS.json --input FILE \
        --as-of 2024 --out companies.csv [--exposure exposure_eur] [--timings] [--threads N]

With ``--timings`` it prints one line ``timings: {json}`` to stderr (seconds per stage: load_model, read, sort,
panel, score, scenarios, term_structure, ecl, write, total), like the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

import handrolled_score as hs  # noqa: E402

LGD = 0.45
EIR = 0.05
TERM_YEARS = 5
SICR_RELATIVE = 1.0  # the lifetime PD doubled since origination
SICR_ABSOLUTE = 0.02  # and 2 points of PD above it


def read(source: str, wanted: list[str]) -> pa.Table:
    """The wanted columns the file has, typed by pyarrow."""
    if source.endswith(".parquet"):
        names = pq.read_schema(source).names
        return pq.read_table(source, columns=[c for c in wanted if c in names])
    with pcsv.open_csv(source) as reader:
        names = reader.schema.names
    return pcsv.read_csv(source, convert_options=pcsv.ConvertOptions(include_columns=[c for c in wanted if c in names]))


def wanted_columns(card: dict[str, Any], exposure: str) -> list[str]:
    """The key, year, default flag, exposure, and every column the model matrix reads."""
    names = [card["id"], card["time"], card["target"], exposure]
    names += [c["name"] for c in card["numeric"]] + [c["name"] for c in card["categorical"]]
    names += [p["input"] for p in card["panel"]]
    return list(dict.fromkeys(names))


def score(table: pa.Table, panel: dict[str, np.ndarray], card: dict[str, Any], booster: Any,
          threads: int) -> np.ndarray:
    """The calibrated PD of every row, a block of rows at a time."""
    raw = np.empty(table.num_rows)
    for start in range(0, table.num_rows, hs.BLOCK):
        part = table.slice(start, hs.BLOCK)
        matrix = hs.model_matrix(part, {k: v[start:start + hs.BLOCK] for k, v in panel.items()}, card)
        raw[start:start + len(matrix)] = hs.raw_scores(matrix, card, booster, threads)
    return hs.calibrated(raw, card)


def moved(table: pa.Table, shifts: dict[str, float], bounds: dict[str, list[float | None]]) -> pa.Table:
    """The table with each macro input moved by its shift, inside its valid range."""
    for name, shift in shifts.items():
        if name not in table.column_names:
            continue
        lo, hi = bounds.get(name, [None, None])
        x = np.clip(hs.numbers(table, name) + shift, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        table = table.set_column(table.column_names.index(name), name, pa.array(x))
    return table


def grade_of(p: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    """Position on the master scale of each PD (after the floor)."""
    return np.searchsorted(np.asarray(card["grades"]["uppers"]), np.maximum(p, card["pd_floor"]), side="right")


def relative_hazards(p: np.ndarray, flags: np.ndarray, company: np.ndarray, year: np.ndarray, history: np.ndarray,
                     card: dict[str, Any]) -> np.ndarray:
    """(grades, years) each grade's hazard over its mean PD (rows sorted by company and year; module notes)."""
    grades = len(card["grades"]["names"])
    g = grade_of(p, card)
    n = len(p)
    nxt = np.r_[(company[1:] == company[:-1]) & (year[1:] - year[:-1] == 1), False]  # row i + 1 is next year's
    at_risk = np.zeros((grades, TERM_YEARS))
    defaults = np.zeros((grades, TERM_YEARS))
    start = np.flatnonzero(history)
    alive = start.copy()
    for k in range(TERM_YEARS):
        if k:
            step = alive[alive >= 0]
            ok = nxt[step] & history[np.minimum(step + 1, n - 1)]
            alive[alive >= 0] = np.where(ok, step + 1, -1)
        sel = alive >= 0
        if not sel.any():
            break
        np.add.at(at_risk[:, k], g[start[sel]], 1.0)
        np.add.at(defaults[:, k], g[start[sel]], flags[alive[sel]])
    hazard = np.zeros((grades, TERM_YEARS))
    for k in range(TERM_YEARS):
        if k and defaults[:, k].sum() == 0:  # beyond the history: the last year with a default
            hazard[:, k] = hazard[:, k - 1]
            continue
        pooled = defaults[:, k].sum() / max(at_risk[:, k].sum(), 1.0)
        hazard[:, k] = np.divide(defaults[:, k], at_risk[:, k], out=np.full(grades, pooled), where=at_risk[:, k] > 0)
    seen = np.bincount(g[history], minlength=grades)
    mean_pd = np.divide(np.bincount(g[history], weights=p[history], minlength=grades), seen,
                        out=np.full(grades, p[history].mean()), where=seen > 0)
    return np.asarray(hazard / mean_pd[:, None])


def marginal_pds(p: np.ndarray, rel: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    """(n, years) marginal PDs: year 1 the PD, later years the grade's hazard scaled by the PD, times survival."""
    h = np.minimum(p[:, None] * rel[grade_of(p, card)], 1.0)
    h[:, 0] = p
    survival = np.cumprod(1.0 - h, axis=1)
    return np.asarray(np.column_stack([np.ones(len(p)), survival[:, :-1]]) * h)


def main(card_path: str, scenarios_path: str, source: str, as_of: int, out: str, exposure: str, timings: bool,
         threads: int = 0) -> None:
    t_start = time.perf_counter()
    card, booster = hs.load(card_path)
    with open(scenarios_path, encoding="utf-8") as fh:
        setup = json.load(fh)
    scenarios, bounds = setup["scenarios"], setup.get("bounds", {})
    stages: dict[str, float] = {"load_model": time.perf_counter() - t_start}

    t0 = time.perf_counter()
    table = read(source, wanted_columns(card, exposure))
    stages["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    year = hs.numbers(table, card["time"])
    table = table.filter(pa.array(year <= as_of))  # known by the as-of date
    ids = pc.dictionary_encode(table.column(card["id"])).combine_chunks()
    company = np.asarray(pc.fill_null(ids.indices, -1).to_numpy(), dtype=np.int64)
    year = hs.numbers(table, card["time"])
    order = np.lexsort((np.arange(len(year)), year, company))
    c, t = company[order], year[order]
    first = np.r_[True, (c[1:] != c[:-1]) | (t[1:] != t[:-1])] & (c >= 0)  # a repeated company-year kept once
    order = order[first]
    table, company, year = table.take(pa.array(order)), company[order], year[order]
    del order, c, t
    flags = hs.numbers(table, card["target"])
    stages["sort"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    panel = hs.panel_features(table, card)
    stages["panel"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    p = score(table, panel, card, booster, threads)
    stages["score"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    now = np.flatnonzero(year == as_of)
    now_table = table.take(pa.array(now))
    now_panel = {k: v[now] for k, v in panel.items()}
    p_now = {s["name"]: score(moved(now_table, s["shifts"], bounds), now_panel, card, booster, threads)
             if any(s["shifts"].values()) else p[now] for s in scenarios}
    del panel, now_panel
    stages["scenarios"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    history = (year < as_of) & ~np.isnan(flags)
    rel = relative_hazards(p, np.nan_to_num(flags), company, year, history, card)
    stages["term_structure"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    has_now = np.r_[(company[1:] == company[:-1]) & (year[1:] == as_of), False]
    gone = np.flatnonzero((year == as_of - 1) & (flags == 1) & ~has_now)  # defaulted last year: in default now
    book = np.r_[now, gone]
    n_now = len(now)
    run_start = np.maximum.accumulate(np.where(np.r_[True, company[1:] != company[:-1]], np.arange(len(company)), 0))
    origination = p[run_start[now]]  # the company's earliest year in the file
    ead = np.nan_to_num(hs.numbers(table, exposure)[book], nan=0.0) if exposure in table.column_names \
        else np.ones(len(book))
    discount = (1.0 + EIR) ** -np.arange(1.0, TERM_YEARS + 1)
    weights = {s["name"]: float(s["weight"]) for s in scenarios}
    marginal = {name: marginal_pds(pn, rel, card) for name, pn in p_now.items()}
    lifetime = sum(weights[s] * np.minimum(m.sum(axis=1), 1.0) for s, m in marginal.items())
    lifetime_origin = np.minimum(marginal_pds(origination, rel, card).sum(axis=1), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sicr = (lifetime / lifetime_origin - 1.0 >= SICR_RELATIVE) & (lifetime - lifetime_origin >= SICR_ABSOLUTE)
    stage = np.r_[np.where(sicr, 2, 1), np.full(len(gone), 3)]
    in_default = np.zeros(TERM_YEARS)
    in_default[0] = 1.0
    ecl: dict[str, np.ndarray] = {}
    for name, m in marginal.items():
        m = np.vstack([m, np.tile(in_default, (len(gone), 1))])
        loss = m * LGD * ead[:, None] * discount[None, :]
        ecl[name] = np.where(stage == 1, loss[:, 0], loss.sum(axis=1))
    weighted = sum(weights[s] * e for s, e in ecl.items())
    pd_12m = np.r_[sum(weights[s] * pn for s, pn in p_now.items()), np.ones(len(gone))]
    stages["ecl"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    columns: dict[str, Any] = {card["id"]: table.column(card["id"]).take(pa.array(book)), "stage": stage,
                               "pd_12m": pd_12m, "lifetime_pd": np.r_[lifetime, np.ones(len(gone))],
                               "origination_lifetime_pd": np.r_[lifetime_origin, np.full(len(gone), np.nan)],
                               "ead": ead}
    columns.update({f"ecl_{name}": e for name, e in ecl.items()})
    columns["ecl"] = weighted
    columns.update({f"pd_12m_{name}": np.r_[pn, np.ones(len(gone))] for name, pn in p_now.items()})
    pcsv.write_csv(pa.table(columns), out)
    stages["write"] = time.perf_counter() - t0
    stages["total"] = time.perf_counter() - t_start
    by_stage = {str(s): {"companies": int((stage == s).sum()), "ead": float(ead[stage == s].sum()),
                         "ecl": float(weighted[stage == s].sum())} for s in (1, 2, 3)}
    print(f"Wrote {out} ({len(book):,} companies, {n_now:,} scored at {as_of}, ECL {float(weighted.sum()):,.0f})")
    print("summary: " + json.dumps({"companies": int(len(book)), "ead": float(ead.sum()), "ecl": float(weighted.sum()),
                                    "history_rows": int(history.sum()), "by_stage": by_stage}))
    if timings:
        print("timings: " + json.dumps({k: round(v, 4) for k, v in stages.items()}), file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--card", required=True, help="the model card (JSON) exported by benchmarks/model_card.py")
    parser.add_argument("--scenarios", required=True,
                        help='JSON: {"scenarios": [{"name", "weight", "shifts"}], "bounds": {input: [lo, hi]}}')
    parser.add_argument("--input", required=True, help="the panel (CSV or Parquet, by its suffix)")
    parser.add_argument("--as-of", required=True, type=int, dest="as_of", help="the as-of fiscal year, e.g. 2024")
    parser.add_argument("--out", required=True, help="the companies CSV to write")
    parser.add_argument("--exposure", default="exposure_eur", help="the exposure column (EAD); absent: EAD 1")
    parser.add_argument("--timings", action="store_true", help="print seconds per stage to stderr")
    parser.add_argument("--threads", type=int, default=0,
                        help="LightGBM's threads (default 0: every core, as riskcore predicts a chunk)")
    args = parser.parse_args()
    main(args.card, args.scenarios, args.input, args.as_of, args.out, args.exposure, args.timings, args.threads)
