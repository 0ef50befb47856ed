"""Dashboard responsiveness: warm rerun of every page (AppTest) and the cost slider on 1,000,000 scores.

Baselines measured in the same run: an AppTest rerun of a one-line Streamlit
script, and one pass of ``numpy.sort`` over the 1,000,000 scores.

    .venv/bin/python benchmarks/dashboard_bench.py            # trains a quick demo model first (~1 min)
    RISKCORE_BENCH_HOME=/path/with/model .venv/bin/python benchmarks/dashboard_bench.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from riskcore.config import set_thread_defaults  # noqa: E402

set_thread_defaults()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _common import row, timeit  # noqa: E402

PAGES = ["business_impact", "data_quality", "training_runs", "calibration", "costs_threshold", "performance",
         "sectors", "company_explorer", "portfolio_scoring"]


def _home() -> str:
    home = os.environ.get("RISKCORE_BENCH_HOME")
    if home:
        return home
    from riskcore.config import load_settings
    from riskcore.modelling.demo import train_demo

    home = tempfile.mkdtemp(prefix="riskcore_bench_")
    t0 = time.perf_counter()
    train_demo(load_settings(env={"RISKCORE_HOME": home}), profile="quick")
    print(f"trained the demo model (quick profile, 5,000 companies) in {time.perf_counter() - t0:.1f} s")
    return home


def pages() -> None:
    from streamlit.testing.v1 import AppTest

    os.environ["RISKCORE_HOME"] = _home()
    trivial = AppTest.from_string("import streamlit as st\nst.write('hello')").run()
    base, _ = timeit(lambda: trivial.run(), repeat=5)
    print(row("baseline: AppTest rerun of a one-line script", base))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300).run()
    for page in PAGES:
        at.switch_page(f"../pages/{page}.py")
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(3):
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        w = statistics.median(warm)
        flag = "OK" if w < 1.0 else "over the 1 s target"
        err = f" EXCEPTION {at.exception[0].value[:60]}" if at.exception else ""
        print(row(f"page {page}: warm rerun", w, base, f"first run {cold:.2f} s; {flag}{err}"))


def slider() -> None:
    from riskcore.config import Costs
    from riskcore.evaluation.costs import CostSweep
    from riskcore.evaluation.report import decision_view

    rng = np.random.default_rng(0)
    n = 1_000_000
    p = 1 / (1 + np.exp(-rng.normal(-3, 1.3, n)))
    y = (rng.random(n) < p).astype(int)
    base, _ = timeit(lambda: np.sort(p), repeat=3)
    print(row("baseline: numpy.sort of 1,000,000 scores", base))
    build, sweep = timeit(lambda: CostSweep(y, p), repeat=3)
    print(row("CostSweep construction (once per model, cached)", build, base))
    costs = [Costs(fn=float(fn), fp=float(fp)) for fn, fp in rng.integers(10_000, 200_000, (20, 2))]
    times = []
    for c in costs:
        t0 = time.perf_counter()
        sweep.optimal(c)
        times.append(time.perf_counter() - t0)
    print(row("slider move: optimal cut-off for new costs (median of 20)", statistics.median(times), base,
              "target < 0.1 s"))
    hold = pd.DataFrame({"part": np.where(np.arange(n) % 2 == 0, "validation", "test"), "y": y, "p_default": p})
    val = hold[hold["part"] == "validation"]
    vsweep = CostSweep(val["y"].to_numpy(), val["p_default"].to_numpy())
    t, _ = timeit(lambda: decision_view(hold, costs[0], sweep=vsweep), repeat=3)
    print(row("slider move: whole decision view (500k validation + 500k test)", t, base, "target < 0.1 s"))


if __name__ == "__main__":
    slider()
    pages()
