"""The hand-rolled baseline of ``python -m riskcore score``: the same job with plain libraries only.

Nothing of riskcore is imported here. What the script knows of the model comes from a
"model card" the benchmark exports beforehand from the bundle (``model_card.py``): the
feature order, the category lists, the panel and row recipes with their constants, the
LightGBM model file or the logistic regression's fitted numbers, the calibrator's knots,
the decision threshold and the grade cut-offs. Then, with pyarrow, numpy, scipy and
lightgbm:

* read: pyarrow reads the whole file (CSV or Parquet, by its suffix);
* panel: the year-on-year features by one sort of the companies' rows (id, period) and a
  grouped difference; the rolling volatilities over the same sort. A company's history is
  its rows with an id, the first of any repeated id and period, its values counting only
  inside their valid range (as the model was trained); a column of the file with the
  feature's name fills in where the history gives none;
* matrix: the numbers, the category codes, the products and the composite;
* predict: ``lightgbm.Booster.predict`` (raw score, on every core as riskcore's scorer predicts
  a chunk; ``--threads 1`` for one), or for a logistic champion
  its median imputation, missing-value indicators, quantile transform (``numpy.interp``
  and ``scipy.special.ndtri``), one-hot categories and coefficients;
* calibrate: the PD is ``numpy.interp`` over the calibrator's knots (or the Platt curve),
  floored; the decision is the threshold, the grade ``numpy.searchsorted`` of the cut-offs;
* write: pyarrow writes id, period, ``p_default``, ``score_raw``, decision, grade and the
  file's other columns.

What it leaves out on purpose: validation and the reject report (every row is scored),
risk levels, expected loss, flags, injection-safe CSV, the audit trail. That is the price
the benchmark measures.

    .venv/bin/python benchmarks/handrolled_score.py --card CARD.json --input FILE --output OUT [--timings] [--threads N]

With ``--timings`` it prints one line ``timings: {json}`` to stderr (seconds per stage: load_model,
read, panel, matrix, predict, calibrate, write, total), like the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

BLOCK = 250_000  # rows per model call, so the matrix of a big file is never whole in memory


def read(source: str) -> pa.Table:
    """The whole file, typed by pyarrow."""
    return pq.read_table(source) if source.endswith(".parquet") else pcsv.read_csv(source)


def numbers(table: pa.Table, name: str) -> np.ndarray:
    """A column as float64, NaN where missing (or absent)."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = pc.cast(table.column(name), pa.float64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)


def panel_features(table: pa.Table, card: dict[str, Any]) -> dict[str, np.ndarray]:
    """Year-on-year deltas and rolling volatilities: one sort by company and period, grouped differences."""
    n = table.num_rows
    out = {p["name"]: np.full(n, np.nan) for p in card["panel"]}
    if not card["panel"] or card["id"] not in table.column_names or card["time"] not in table.column_names:
        return out
    ids = pc.dictionary_encode(table.column(card["id"])).combine_chunks()
    company = np.asarray(pc.fill_null(ids.indices, -1).to_numpy(), dtype=np.int64)
    valid_id = company >= 0
    period = numbers(table, card["time"])
    # by company, then period, then position: a repeated id and period follows its first row and is left out
    order = np.lexsort((np.arange(n), np.where(np.isnan(period), -np.inf, period), company))
    c, t = company[order], period[order]
    repeat = np.r_[False, (c[1:] == c[:-1]) & ((t[1:] == t[:-1]) | (np.isnan(t[1:]) & np.isnan(t[:-1])))]
    order = order[valid_id[order] & ~repeat]
    c, t = company[order], period[order]
    m = len(order)
    consecutive = np.r_[False, (c[1:] == c[:-1]) & (np.diff(t) == 1)]
    run_start = np.maximum.accumulate(np.where(consecutive, 0, np.arange(m))) if m else np.zeros(0, np.int64)
    depth = np.arange(m) - run_start  # earlier rows of the same unbroken history
    inputs: dict[str, np.ndarray] = {}
    for p in card["panel"]:
        col = p["input"]
        if col not in inputs:
            x = numbers(table, col)[order]
            lo, hi = card["history_bounds"].get(col, [None, None])
            with np.errstate(invalid="ignore"):
                x[((x < lo) if lo is not None else False) | ((x > hi) if hi is not None else False)] = np.nan
            inputs[col] = x
        x = inputs[col]
        if p["op"] == "delta":
            values = np.where(consecutive, x - np.r_[np.nan, x[:-1]], np.nan)
        else:  # rolling standard deviation over the last `window` periods, at least two values
            w = max(p["window"], 2)
            window = np.full((m, w), np.nan)
            for k in range(w):
                window[k:, k] = x[: m - k] if k else x
                window[depth < k, k] = np.nan
            count = np.sum(~np.isnan(window), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.nansum(window, axis=1) / count
                var = np.nansum((window - mean[:, None]) ** 2, axis=1) / (count - 1)
            values = np.where(count >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
        out[p["name"]][order] = values
    for name, values in out.items():  # a column of the file fills in where the history gives none
        if name in table.column_names:
            given = numbers(table, name)
            values[np.isnan(values)] = given[np.isnan(values)]
    return out


def category_codes(table: pa.Table, name: str, categories: list[str]) -> np.ndarray:
    """Positions in the category list, NaN for a missing or unknown category."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    enc = pc.dictionary_encode(table.column(name)).combine_chunks()
    position = {c: float(i) for i, c in enumerate(categories)}
    lookup = np.array([position.get(v, np.nan) for v in enc.dictionary.to_pylist()] + [np.nan])
    return lookup[pc.fill_null(enc.indices, len(lookup) - 1).to_numpy()]


def model_matrix(table: pa.Table, panel: dict[str, np.ndarray], card: dict[str, Any]) -> np.ndarray:
    """Numbers, panel features, category codes, then the row recipes: the model's column order."""
    numeric = [panel[c["name"]] if c["from"] == "panel" else numbers(table, c["name"]) for c in card["numeric"]]
    cats = [category_codes(table, c["name"], c["categories"]) for c in card["categorical"]]
    index = {c["name"]: i for i, c in enumerate(card["numeric"])}
    engineered = []
    for e in card["engineered"]:
        cols = []
        for name in e["inputs"]:
            x = numeric[index[name]]
            cols.append(np.sign(x) * np.log1p(np.abs(x)) if name in e["log_inputs"] else x)
        if e["op"] == "product":
            v = cols[0].copy()
            for x in cols[1:]:
                v = v * x
            engineered.append(v * e["scale"])
        else:  # composite: weighted mean of robust z-scores, a missing input counting as the median
            z = np.column_stack([(x - m) / s for x, m, s in zip(cols, e["centres"], e["spreads"])])
            w = np.asarray(e["weights"])
            with np.errstate(invalid="ignore"):
                engineered.append(np.where(np.isnan(z).all(axis=1), np.nan, np.nansum(z * w, axis=1) / np.abs(w).sum()))
    return np.column_stack(numeric + cats + engineered)


def logistic_raw(matrix: np.ndarray, lg: dict[str, Any]) -> np.ndarray:
    """Median imputation + missing indicators → quantile transform to normal scores, one-hot, coefficients."""
    from scipy.special import ndtri

    x = matrix[:, lg["numeric_columns"]]
    missing = np.isnan(x)
    x = np.where(missing, np.asarray(lg["medians"]), x)
    x = np.hstack([x, missing[:, lg["indicators"]].astype(float)])
    eps = lg["bounds_threshold"]
    refs = np.asarray(lg["references"])
    z = np.empty_like(x)
    for j, q in enumerate(np.asarray(lg["quantiles"])):
        v = x[:, j]
        u = 0.5 * (np.interp(v, q, refs) - np.interp(-v, -q[::-1], -refs[::-1]))
        u[v + eps > q[-1]] = 1.0
        u[v - eps < q[0]] = 0.0
        z[:, j] = ndtri(u)
    z = np.clip(z, ndtri(eps - np.spacing(1)), ndtri(1 - (eps - np.spacing(1))))
    parts = [z]
    for j, cats in zip(lg.get("categorical_columns", []), lg.get("onehot", [])):
        codes = np.where(np.isnan(matrix[:, j]), lg["fill"], matrix[:, j])
        parts.append((codes[:, None] == np.asarray(cats)[None, :]).astype(float))
    return np.hstack(parts) @ np.asarray(lg["coef"]) + lg["intercept"]


def calibrated(raw: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    """The calibrated PD: the isotonic knots by ``numpy.interp`` (or the Platt curve), floored."""
    cal = card["calibrator"]
    if cal["method"] == "isotonic":
        p = np.interp(raw, np.asarray(cal["x"]), np.asarray(cal["y"]))
    else:
        p = 1.0 / (1.0 + np.exp(-(cal["a"] * raw + cal["b"])))
    return np.clip(p, card["pd_floor"], 1.0)


def labels(codes: np.ndarray, names: list[str]) -> pa.Array:
    """A text column from codes into a few labels (decoded from a dictionary, no Python string per row)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(names)).cast(pa.string())


def load(card_path: str) -> tuple[dict[str, Any], Any]:
    """The model card, and the LightGBM booster it names (None for a logistic champion)."""
    with open(card_path, encoding="utf-8") as fh:
        card = json.load(fh)
    booster = None
    if card["kind"] == "lightgbm":
        import lightgbm as lgb

        booster = lgb.Booster(model_file=card["model_file"])
    return card, booster


def raw_scores(matrix: np.ndarray, card: dict[str, Any], booster: Any, threads: int = 0) -> np.ndarray:
    """The model's raw score (log-odds) of each row of the model matrix (``threads`` 0: every core)."""
    if booster is not None:
        return np.asarray(booster.predict(matrix, raw_score=True, num_threads=threads), dtype=float)
    return logistic_raw(matrix, card["logistic"])


def main(card_path: str, source: str, output: str, timings: bool, threads: int = 0) -> None:
    t_start = time.perf_counter()
    card, booster = load(card_path)
    stages: dict[str, float] = {"load_model": time.perf_counter() - t_start}

    t0 = time.perf_counter()
    table = read(source)
    stages["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    panel = panel_features(table, card)
    stages["panel"] = time.perf_counter() - t0

    n = table.num_rows
    raw = np.empty(n)
    stages["matrix"] = stages["predict"] = 0.0
    for start in range(0, n, BLOCK):
        t0 = time.perf_counter()
        part = table.slice(start, BLOCK)
        matrix = model_matrix(part, {k: v[start:start + BLOCK] for k, v in panel.items()}, card)
        stages["matrix"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        raw[start:start + len(matrix)] = raw_scores(matrix, card, booster, threads)
        stages["predict"] += time.perf_counter() - t0
    del panel

    t0 = time.perf_counter()
    p_default = calibrated(raw, card)
    decision = labels((p_default >= card["threshold"]).astype(np.int32), ["accept", "refer"])
    grade = labels(np.searchsorted(np.asarray(card["grades"]["uppers"]), p_default, side="right").astype(np.int32),
                   card["grades"]["names"])
    stages["calibrate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    keys = [c for c in (card["id"], card["time"]) if c in table.column_names]
    out = table.select(keys)
    for name, values in (("p_default", pa.array(p_default)), ("score_raw", pa.array(raw)), ("decision", decision),
                         ("grade", grade)):
        out = out.append_column(name, values)
    for name in table.column_names:
        if name not in keys:
            out = out.append_column(name, table.column(name))
    if output.endswith(".parquet"):
        pq.write_table(out, output)
    else:
        pcsv.write_csv(out, output)
    stages["write"] = time.perf_counter() - t0
    stages["total"] = time.perf_counter() - t_start
    print(f"Wrote {output} ({out.num_rows:,} rows)")
    if timings:
        print("timings: " + json.dumps({k: round(v, 4) for k, v in stages.items()}), file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--card", required=True, help="the model card (JSON) exported by benchmarks/model_card.py")
    parser.add_argument("--input", required=True, help="CSV or Parquet file to score")
    parser.add_argument("--output", required=True, help="CSV or Parquet file to write (by its suffix)")
    parser.add_argument("--timings", action="store_true", help="print seconds per stage to stderr")
    parser.add_argument("--threads", type=int, default=0,
                        help="LightGBM's threads (default 0: every core, as riskcore predicts a chunk)")
    args = parser.parse_args()
    main(args.card, args.input, args.output, args.timings, args.threads)
