"""``python -m riskcore provisions``: IFRS 9 / CECL stages and expected credit loss of a portfolio, on record."""

from __future__ import annotations

import argparse

from riskcore.cli.common import EXIT_OK, say
from riskcore.workbench import Workbench

__all__ = ["add_provisions_parser"]


def cmd_provisions(args: argparse.Namespace) -> int:
    """Compute the provisions of a panel file at an as-of date; record them in the audit trail; write the files."""
    bench = Workbench()
    bundle = bench.open_model(args.model)
    done = bench.provisions(bundle, args.input, as_of=args.as_of, out=args.out, scenarios=args.scenarios,
                            standard=args.standard, previous=args.previous)
    run = done.run
    by_stage = run.summary("stage").set_index("stage")
    total = by_stage.loc["total"].to_dict()
    say(f"Provisions ({run.result.standard.upper()}, {bench.settings.provisions.method} lifetime PDs) of "
        f"{int(total['companies'])} companies at {run.as_of} with model {run.model_version}: ECL "
        f"{total['ecl']:,.0f} on EAD {total['ead']:,.0f} (coverage {total['coverage']:.2%})")
    for stage in (1, 2, 3):
        row = by_stage.loc[stage].to_dict()
        say(f"  stage {stage}: {int(row['companies'])} companies, ECL {row['ecl']:,.0f} "
            f"(coverage {row['coverage']:.2%})")
    for s in run.scenarios:
        say(f"  scenario {s.name} (weight {s.weight:g}): ECL {total[f'ecl_{s.name}']:,.0f}; {s.describe(bundle.spec)}")
    if done.movements is not None:
        moved = done.movements
        for (a, b), label in ((("1", "2"), "stage 1 to 2"), (("2", "1"), "stage 2 to 1"), (("1", "3"), "stage 1 to 3"),
                              (("2", "3"), "stage 2 to 3")):
            hit = moved[(moved["from_stage"] == a) & (moved["to_stage"] == b)]
            if len(hit):
                say(f"  since the previous run, {label}: {int(hit['companies'].sum())} companies, ECL "
                    f"{float(hit['ecl_change'].sum()):+,.0f}")
        for kind, column in (("new", "from_stage"), ("gone", "to_stage")):
            hit = moved[moved[column] == kind]
            say(f"  {kind} since the previous run: {int(hit['companies'].sum())} companies, ECL "
                f"{float(hit['ecl_change'].sum()):+,.0f}")
    for note in run.notes:
        say(f"note: {note}")
    if run.rejected:
        say(f"note: {run.rejected} row(s) could not be scored and were left out; python -m riskcore score lists why")
    say(f"Wrote {len(done.files)} files to {done.folder}; audit: scores request {done.record.scores_request}, "
        f"provisions run {done.record.seq}")
    return EXIT_OK


def add_provisions_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``provisions`` command."""
    p = sub.add_parser("provisions", help="IFRS 9 / CECL stages and expected credit loss of a portfolio")
    p.add_argument("--model", default="champion",
                   help="a model version (e.g. lightgbm-20261201T101500Z), a bundle folder, or 'champion' (default)")
    p.add_argument("--input", required=True,
                   help="the portfolio's panel (CSV, Excel or Parquet): the as-of year's rows and the years before "
                        "it with the default flag")
    p.add_argument("--as-of", required=True, dest="as_of", help="the date provided for, e.g. 2024-12-31 (its fiscal "
                                                                "year's rows are the portfolio)")
    p.add_argument("--scenarios", help="TOML file of macro scenarios: [name] tables with weight and the macro "
                                       "inputs' moves (default: base, upside, downside from [provisions])")
    p.add_argument("--standard", choices=("ifrs9", "cecl"), help="default: [provisions] standard (ifrs9)")
    p.add_argument("--previous", help="an earlier provisions run's folder (or its companies.csv): writes "
                                      "stage_movements.csv, the companies and ECL moving between stages since")
    p.add_argument("--out", required=True, help="folder for companies.csv, by_stage/grade/sector.csv, the term "
                                                "structures and summary.json")
    p.set_defaults(func=cmd_provisions)
