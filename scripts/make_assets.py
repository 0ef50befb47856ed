"""Regenerate the CSV files in ``assets/`` that the Portfolio scoring page offers for download.

* ``portfolio_template.csv`` — the header a portfolio file needs: the id, name and
  fiscal-year columns, every feature of the demo data contract and the exposure.
* ``sample_portfolio.csv`` — the last three fiscal years of 150 companies from the
  known-truth generator (another seed than the demo portfolio's, so these are
  companies no model has seen), without the outcome and the true PD. Three years
  let the model compute year-on-year changes and volatilities. The generator's
  own imperfections are kept (impossible values, duplicates, gaps), so the reject
  report has something to show.

Deterministic: the same code gives the same bytes. Run with
``.venv/bin/python scripts/make_assets.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from riskcore.data.schema import DEMO_SPEC  # noqa: E402
from riskcore.data.synth import generate_portfolio  # noqa: E402
from riskcore.data.tabular import write_csv  # noqa: E402

SEED = 2024
COMPANIES = 150
YEARS = 3


def columns() -> list[str]:
    """The columns of a portfolio file, in the template's order."""
    spec = DEMO_SPEC
    roles = [c for c in (spec.id, spec.name_column, spec.time) if c]
    return roles + list(spec.feature_names) + ([spec.exposure] if spec.exposure else [])


def main(out: Path = ROOT / "assets") -> None:
    """Write the template and the sample into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cols = columns()
    (out / "portfolio_template.csv").write_text(",".join(cols) + "\n", encoding="utf-8")
    frame = generate_portfolio(COMPANIES, seed=SEED, n_duplicates=3, n_outliers=10, n_impossible=20).frame
    last = frame[DEMO_SPEC.time].max()
    sample = frame[frame[DEMO_SPEC.time] > last - YEARS][cols].reset_index(drop=True)
    write_csv(sample, out / "sample_portfolio.csv")
    print(f"wrote {out / 'portfolio_template.csv'} ({len(cols)} columns) and "
          f"{out / 'sample_portfolio.csv'} ({len(sample):,} rows)")


if __name__ == "__main__":
    main()
