"""The hand-rolled baseline of ``python -m riskcore score``: the simplest script that does the same job.

pyarrow reads the file (CSV or Parquet, by its suffix) → the bundle's own matrix
builder makes the model matrix (the booster expects FeatureBuilder's layout:
numeric and panel features, category codes, row features such as the composite)
→ ``lightgbm.Booster.predict`` gives the raw log-odds → the bundle's calibrator
gives the PD → pyarrow writes the id, ``p_default`` and the input columns.

Panel features (year-on-year deltas, rolling volatility) are computed with the
engine's ``add_panel_features`` because the file holds several years per company;
without them the scores would differ from the model's. What it leaves out on
purpose: validation and reject reports, grades and decisions, injection-safe CSV,
the audit trail. That is the price the benchmark measures.

    .venv/bin/python benchmarks/handrolled_score.py --model BUNDLE --input FILE --output OUT [--timings]

With ``--timings`` it prints one line ``timings: {json}`` to stderr (seconds per
stage: read, panel, matrix, predict, calibrate, write, total), like the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(model: str, source: str, output: str, timings: bool) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from riskcore.modelling.bundle import load_bundle
    from riskcore.modelling.features import add_panel_features

    t_start = time.perf_counter()
    bundle = load_bundle(model)
    spec = bundle.spec
    booster = bundle.scorer.booster  # type: ignore[attr-defined]  # a LightGBM champion
    stages: dict[str, float] = {"load_model": time.perf_counter() - t_start}

    t0 = time.perf_counter()
    table = pq.read_table(source) if source.endswith(".parquet") else pcsv.read_csv(source)
    stages["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    panel_inputs = [f.recipe.inputs[0] for f in spec.panel_features if f.recipe is not None]
    wanted = dict.fromkeys([c for c in (spec.id, spec.time) if c] + list(spec.feature_names) + panel_inputs)
    frame = table.select([c for c in wanted if c in table.column_names]).to_pandas()
    frame = add_panel_features(frame, spec)
    stages["panel"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    matrix = bundle.matrix(frame)
    del frame
    stages["matrix"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    raw = booster.predict(matrix, raw_score=True)
    del matrix
    stages["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    p_default = bundle.calibrate(np.asarray(raw, dtype=float))
    stages["calibrate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    id_col = spec.id if spec.id in table.column_names else None
    out = table.select([id_col]) if id_col else pa.table({"row": pa.array(np.arange(1, table.num_rows + 1))})
    out = out.append_column("p_default", pa.array(p_default))
    for name in table.column_names:
        if name != id_col:
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
    parser.add_argument("--model", required=True, help="a LightGBM bundle folder")
    parser.add_argument("--input", required=True, help="CSV or Parquet file to score")
    parser.add_argument("--output", required=True, help="CSV or Parquet file to write (by its suffix)")
    parser.add_argument("--timings", action="store_true", help="print seconds per stage to stderr")
    args = parser.parse_args()
    main(args.model, args.input, args.output, args.timings)
