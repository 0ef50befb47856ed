"""Lifetime PDs against the demo's known truth: estimated vs true cumulative PD per grade, both methods.

Setup: the demo portfolio (``--companies``, seed 7) and a model: ``--model`` (a bundle folder) or the quick
profile trained on the portfolio (a few minutes). Every company-year is scored; both term structures
(``evaluation/lifetime.py``) are estimated on the panel; the known truth (``true_lifetime_pd``) simulates the
last training year's companies forward ``--paths`` times. For each grade of the model's PD the script prints
(the term structures estimated on the years before the last, as ``provisions`` at that year does) the
companies, the mean true and estimated cumulative PD at ``--horizon`` years and the relative error, and
checks the issue's target: within 20% for every grade with at least 100 companies. Then the provisions of
that year (IFRS 9 and CECL, the settings' defaults) by stage.

    .venv/bin/python benchmarks/lifetime_bench.py [--companies 5000] [--paths 200] [--horizon 3] [--model DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from riskcore.config import ProvisionRules, TrainingConfig, set_thread_defaults  # noqa: E402

set_thread_defaults()

import pandas as pd  # noqa: E402

from riskcore.data.schema import DEMO_SPEC  # noqa: E402
from riskcore.data.synth import generate_portfolio, true_lifetime_pd  # noqa: E402
from riskcore.evaluation.lifetime import PanelOutcomes, against_truth, grade_hazards, migration_matrix  # noqa: E402
from riskcore.modelling.bundle import load_bundle  # noqa: E402
from riskcore.modelling.train import train  # noqa: E402
from riskcore.serving.provisions import provision_frame  # noqa: E402
from riskcore.serving.scoring import score_frame  # noqa: E402

TARGET_REL = 0.20
MIN_COMPANIES = 100


class _NoTracker:
    """Training without an experiment store: the benchmark keeps only the bundle."""

    def log_run(self, **_: object) -> str:
        return "benchmark"

    def register(self, **_: object) -> str:
        return "benchmark"

    def champion(self) -> None:
        return None

    def set_champion(self, _: str) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=5000)
    parser.add_argument("--paths", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--model", help="a bundle folder (default: train the quick profile on the portfolio)")
    args = parser.parse_args()
    portfolio = generate_portfolio(args.companies, seed=7)
    if args.model:
        bundle = load_bundle(args.model)
    else:
        folder = Path(tempfile.mkdtemp(prefix="lifetime-bench-"))
        result = train(portfolio.frame, DEMO_SPEC, config=TrainingConfig.quick(), models_dir=folder,
                       tracker=_NoTracker())  # type: ignore[arg-type]
        bundle = load_bundle(result.bundle_dir)
    keys = ["company_id", "fiscal_year"]
    scores = score_frame(bundle, portfolio.frame, passthrough=False).scores.drop_duplicates(keys)
    panel = portfolio.frame.drop_duplicates(keys).merge(
        scores[[*keys, "p_default"]].rename(columns={"p_default": "p_model"}), on=keys, how="left")
    year = int(panel["fiscal_year"].max())
    # estimated on the years before the last one, as the provisions at that year are: its outcomes are the future
    outcomes = PanelOutcomes.from_frame(panel[panel["fiscal_year"] < year], id_column="company_id",
                                        period_column="fiscal_year", pd_column="p_model",
                                        default_column="default_12m")
    hazards, migration = grade_hazards(outcomes, args.horizon), migration_matrix(outcomes)
    truth = true_lifetime_pd(portfolio, args.horizon, n_paths=args.paths)
    last = panel[panel["fiscal_year"] == panel["fiscal_year"].max()].set_index("company_id")
    truth["p_model"] = last.loc[truth["company_id"], "p_model"].to_numpy()
    truth = truth[truth["p_model"].notna()].copy()
    p = truth["p_model"].to_numpy()
    true_cum = truth[[f"true_cum_pd_{k}" for k in range(1, args.horizon + 1)]].to_numpy()
    every = against_truth(p, true_cum, hazards=hazards, migration=migration)
    table = every[every["year"] == args.horizon].set_index("grade")
    table = table.rename(columns={"true_pd": "true", "hazard_pd": "hazard", "migration_pd": "migration",
                                  "hazard_error": "hazard_rel", "migration_error": "migration_rel"})
    table = table.drop(columns="year")
    pd.set_option("display.width", 200)
    print(f"Cumulative {args.horizon}-year PD by grade, last training year ({len(truth)} companies, "
          f"{args.paths} paths):")
    print(table.round(4).to_string())
    big = table[table["companies"] >= MIN_COMPANIES]
    verdicts = {}
    for method in ("hazard", "migration"):
        err = big[f"{method}_rel"].abs()
        verdicts[method] = bool((err <= TARGET_REL).all())
        print(f"{method:>9}: mean |relative error| {err.mean():.1%}, {int((err <= TARGET_REL).sum())} of {len(big)} "
              f"grades with >= {MIN_COMPANIES} companies within {TARGET_REL:.0%}")
    best = min(("hazard", "migration"), key=lambda m: float(big[f"{m}_rel"].abs().mean()))
    print(f"better method: {best}")
    for standard in ("ifrs9", "cecl"):
        run = provision_frame(bundle, portfolio.frame, year, ProvisionRules(), standard=standard)
        print(f"\n{standard.upper()} provisions at {year} (the settings' method, hazard):")
        print(run.summary("stage").round(4).to_string(index=False))
    return 0 if verdicts[best] else 1


if __name__ == "__main__":
    raise SystemExit(main())
