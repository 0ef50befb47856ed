"""Generation of the demo portfolio (50,000 rows) and its quality report.

Baselines measured in the same run: reading the same rows back with pandas'
C CSV parser, and ``DataFrame.describe()`` (one pass of summary statistics).

    .venv/bin/python benchmarks/data_bench.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import row, timeit  # noqa: E402

from riskcore.data.quality import check_frame, clean_for_training, prepare_frame  # noqa: E402
from riskcore.data.schema import DEMO_SPEC  # noqa: E402
from riskcore.data.synth import generate_portfolio  # noqa: E402
from riskcore.data.tabular import read_table, write_csv  # noqa: E402
from riskcore.modelling.leakage import run_leakage_checks  # noqa: E402
from riskcore.modelling.split import split_portfolio  # noqa: E402


def main() -> None:
    gen_s, portfolio = timeit(lambda: generate_portfolio(9200, seed=7), repeat=3)
    frame = portfolio.frame
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.csv"
        write_csv(frame, path)
        base_read, _ = timeit(lambda: pd.read_csv(path), repeat=5)
        read_s, table = timeit(lambda: read_table(path), repeat=5)
    base_desc, _ = timeit(lambda: frame.describe(), repeat=5)
    check_s, report = timeit(lambda: check_frame(frame, DEMO_SPEC), repeat=3)
    check_file_s, _ = timeit(lambda: check_frame(table, DEMO_SPEC), repeat=3)
    prepared = prepare_frame(frame, DEMO_SPEC)
    clean, _ = clean_for_training(prepared, check_frame(prepared))
    y = clean["default_12m"].to_numpy()
    split = split_portfolio(clean, y, time="fiscal_year", id="company_id")
    leak_s, _ = timeit(lambda: run_leakage_checks(clean, y, DEMO_SPEC, split), repeat=1)

    print(f"demo portfolio: {len(frame):,} rows × {frame.shape[1]} columns")
    print(row("baseline: pandas.read_csv of the same rows", base_read))
    print(row("baseline: DataFrame.describe()", base_desc))
    print(row("generate_portfolio (9,200 companies)", gen_s, base_read))
    print(row("read_table (tolerant reader, every cell as text)", read_s, base_read))
    print(row("check_frame on the frame", check_s, base_desc, f"{len(report.findings)} findings"))
    print(row("check_frame on the file as read (typing included)", check_file_s, base_desc))
    print(row("leakage checks (b)-(d), incl. quick models", leak_s, base_desc))


if __name__ == "__main__":
    main()
