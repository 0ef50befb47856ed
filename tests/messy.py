"""Builders of messy data for the file-handling tests: a loan-level export and hostile variants of a file.

Everything here is seeded, small and fast, and returns text the way a user's export
holds it. :func:`loan_export` is a synthetic loan book with the traits of a real
public loan-level export; the other helpers take a frame (usually rows of the demo
layout) and make one thing about it hostile: spreadsheet headers, a fiscal year
written as a date, a carriage return inside a quoted field, a NUL byte in a cell.

Tests import this module by name (``from messy import loan_export``): ``tests/`` is
on the import path because ``tests/conftest.py`` lives there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "LOAN_MONEY",
    "LOAN_POST_OUTCOME",
    "LoanColumns",
    "cr_in_quoted_field",
    "fiscal_year_as_date",
    "loan_default_logit",
    "loan_export",
    "money_text",
    "nul_in_cell",
    "parse_money",
    "numbered_in_turn",
    "spreadsheet_headers",
    "to_csv_bytes",
]

LOAN_MONEY: tuple[str, ...] = ("GrAppv", "SBA_Appv", "DisbursementGross")
"""Money columns written as ``"$60,000.00"``."""

LOAN_POST_OUTCOME: tuple[str, ...] = ("ChgOffPrinGr", "ChgOffDate")
"""Columns recorded after the outcome: the amount charged off and the charge-off date."""


@dataclass(frozen=True)
class LoanColumns:
    """The role columns of :func:`loan_export`, as the CLI options name them."""

    id: str = "LoanNr"
    target: str = "MIS_Status"
    positive: str = "CHGOFF"
    negative: str = "P I F"
    time: str = "ApprovalFY"
    guarantor: str = "Guarantor"


_SECTORS: dict[str, float] = {
    "Agriculture": -0.20, "Mining": -0.35, "Utilities": -0.55, "Construction": 0.35,
    "Manufacturing": -0.15, "Wholesale trade": -0.10, "Retail trade": 0.30, "Transportation": 0.45,
    "Information": 0.25, "Finance and insurance": 0.40, "Real estate": 0.55, "Professional services": -0.05,
    "Management of companies": -0.40, "Administrative support": 0.20, "Educational services": 0.10,
    "Health care": -0.50, "Arts and entertainment": 0.15, "Accommodation and food": 0.25,
    "Other services": 0.00, "Public administration": -0.60,
}
_STATES = ("AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
           "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYLLABLES = ("ar", "bel", "cor", "dan", "el", "fair", "glen", "har", "is", "jef", "kin", "lake", "mar", "nor",
              "oak", "pine", "quin", "ros", "sal", "tor", "val", "wes", "york", "zen")
_PLACE_ENDINGS = ("ville", "ton", " City", " Springs", "burg", "field", " Falls", "port", "wood", " Heights")
_FIRST_YEAR, _LAST_YEAR = 1970, 2014
_INTERCEPT = -2.2


def _words(rng: np.random.Generator, n: int, endings: tuple[str, ...]) -> list[str]:
    """``n`` distinct made-up names such as ``Belton`` or ``Marfield Springs``."""
    out: dict[str, None] = {}
    while len(out) < n:
        a, b = rng.choice(_SYLLABLES, 2)
        out[(a + b).capitalize() + str(rng.choice(endings))] = None
    return list(out)


def money_text(values: np.ndarray) -> list[str]:
    """Amounts as a loan export writes them: ``$60,000.00``."""
    return [f"${v:,.2f}" for v in values]


def parse_money(values: pd.Series) -> np.ndarray:
    """The numbers behind :func:`money_text` cells (for checking what the product read)."""
    return values.str.replace(r"[$,]", "", regex=True).astype(float).to_numpy()


def _date_text(dates: pd.DatetimeIndex | pd.Series) -> list[str]:
    """Dates as ``28-Feb-97`` (day, English month abbreviation, two-digit year)."""
    d = pd.DatetimeIndex(dates)
    return [f"{day:02d}-{_MONTHS[m - 1]}-{y % 100:02d}" for day, m, y in zip(d.day, d.month, d.year)]


def loan_default_logit(term: np.ndarray, sector: np.ndarray, gross: np.ndarray, urban: np.ndarray) -> np.ndarray:
    """The known log-odds of default of :func:`loan_export` (term in months, gross approved amount)."""
    effect = np.array([_SECTORS[s] for s in sector])
    return (_INTERCEPT
            - 1.2 * (np.log(term) - np.log(84.0))
            + effect
            - 0.30 * (np.log(gross) - np.log(100_000.0))
            + 0.45 * (urban == 1))


def loan_export(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A synthetic loan-level export, every cell as text (as read from a CSV export).

    Traits (those of a real public loan-level export):

    * ``LoanNr``: a unique loan id (10 digits); ``Name``: the borrower's name (almost all distinct);
    * ``City``: about 320 distinct town names; ``State``: the 50 US states; ``Bank``: about 200 lenders;
      ``Sector``: 20 industry sectors;
    * ``ApprovalDate``: text like ``28-Feb-97``; ``ApprovalFY``: the fiscal year of approval, 1970–2014
      (45 years), with only 1–3 loans in each of 1970–1977 and most loans in 2000–2014;
    * ``Term``: months (6–300); ``NoEmp``: number of employees (a count, ≥ 0); ``CreateJob``: jobs
      created (a count, 0 for most loans); ``UrbanRural``: 1 urban, 2 rural, 0 undefined;
    * ``RevLineCr``: revolving line of credit, ``Y``/``N``/``0``/``T``; ``LowDoc``: ``Y``/``N``;
    * money as ``"$60,000.00"``: ``GrAppv`` (gross approved), ``SBA_Appv`` (the guaranteed part, 50–85% of it),
      ``DisbursementGross`` (disbursed);
    * ``Guarantor``: ``none``, ``personal`` or ``corporate`` (``none`` is a level, not a missing value);
    * ``MIS_Status``: the outcome, ``P I F`` (paid in full) or ``CHGOFF`` (charged off, about 15%), drawn
      from :func:`loan_default_logit` of term, sector, gross amount and the urban flag (an honest model
      reaches an AUC of about 0.7–0.8; nothing else carries signal);
    * recorded after the outcome: ``ChgOffPrinGr``, the amount charged off (``$0.00`` unless charged off,
      then positive) and ``ChgOffDate``, the charge-off date (``28-Feb-97`` style, after the approval date,
      empty unless charged off).

    Parameters
    ----------
    n : number of loans (at least 100).
    seed : random seed; the same seed gives the same frame.

    Returns
    -------
    pandas.DataFrame
        One row per loan, ``object`` columns of text, empty strings where a cell is empty.
    """
    if n < 100:
        raise ValueError(f"n={n!r} is too small for the year profile; use at least 100 loans")
    rng = np.random.default_rng(seed)
    # years: 1–3 loans in each of the first 8 years, a thin middle, most loans in the last 15 years
    early = np.repeat(np.arange(_FIRST_YEAR, _FIRST_YEAR + 8), rng.integers(1, 4, size=8))
    rest = n - len(early)
    middle_years = np.arange(_FIRST_YEAR + 8, _LAST_YEAR - 14)
    late_years = np.arange(_LAST_YEAR - 14, _LAST_YEAR + 1)
    n_middle = int(round(rest * 0.15))
    years = np.concatenate([early, rng.choice(middle_years, n_middle),
                            rng.choice(late_years, rest - n_middle)])
    years = np.sort(years)
    day_of_year = rng.integers(0, 365, size=n)
    approval = pd.to_datetime(pd.Series(years).astype(str) + "-01-01") + pd.to_timedelta(day_of_year, unit="D")

    sectors = np.array(list(_SECTORS))
    sector = rng.choice(sectors, n)
    term = np.clip(np.round(rng.lognormal(np.log(90), 0.7, n)), 6, 300).astype(int)
    gross = np.round(np.exp(rng.normal(np.log(100_000), 1.0, n)) / 500) * 500 + 1000
    sba_share = rng.uniform(0.5, 0.85, n)
    urban = rng.choice([1, 2, 0], n, p=[0.65, 0.30, 0.05])
    p = 1 / (1 + np.exp(-loan_default_logit(term, sector, gross, urban)))
    default = rng.random(n) < p

    cities = _words(rng, 320, _PLACE_ENDINGS)
    banks = [f"{w} {kind}" for w, kind in zip(_words(rng, 200, ("",)),
                                               rng.choice(["Bank", "National Bank", "Savings", "Credit Union"],
                                                          200))]
    syllables = rng.choice(_SYLLABLES, (n, 3))
    kinds = rng.choice(["LLC", "Inc.", "Corp", "& Sons", "Diner", "Motors"], n)
    names = [f"{''.join(s).capitalize()} {kind}" for s, kind in zip(syllables, kinds)]
    charge_off = approval + pd.to_timedelta(rng.integers(60, 30 * np.maximum(term, 3)), unit="D")
    charged = np.where(default, np.round(gross * rng.uniform(0.05, 0.9, n), 2), 0.0)
    disbursed = np.round(gross * rng.uniform(0.9, 1.0, n), 2)

    frame = pd.DataFrame({
        "LoanNr": [str(1_000_000_000 + 7919 * i) for i in rng.permutation(n)],
        "Name": names,
        "City": rng.choice(cities, n),
        "State": rng.choice(_STATES, n),
        "Bank": rng.choice(banks, n),
        "Sector": sector,
        "ApprovalDate": _date_text(approval),
        "ApprovalFY": years.astype(str),
        "Term": term.astype(str),
        "NoEmp": np.clip(np.round(rng.lognormal(1.6, 1.1, n)) - 1, 0, None).astype(int).astype(str),
        "CreateJob": np.where(rng.random(n) < 0.75, 0, rng.integers(1, 25, n)).astype(str),
        "UrbanRural": urban.astype(str),
        "RevLineCr": rng.choice(["N", "Y", "0", "T"], n, p=[0.5, 0.3, 0.15, 0.05]),
        "LowDoc": rng.choice(["N", "Y"], n, p=[0.85, 0.15]),
        "GrAppv": money_text(gross),
        "SBA_Appv": money_text(np.round(gross * sba_share, 2)),
        "DisbursementGross": money_text(disbursed),
        "Guarantor": rng.choice(["none", "personal", "corporate"], n, p=[0.4, 0.4, 0.2]),
        "MIS_Status": np.where(default, "CHGOFF", "P I F"),
        "ChgOffPrinGr": money_text(charged),
        "ChgOffDate": np.where(default, _date_text(charge_off), ""),
    })
    return frame.astype(object)


def numbered_in_turn(frame: pd.DataFrame) -> pd.DataFrame:
    """A :func:`loan_export` as a lender's system numbers its loans, with the guaranteed share as a ratio.

    ``LoanNr`` becomes a sequential 10-digit number with a check digit, handed out in approval order (so it
    rises with ``ApprovalFY``, as the loan number of a real public export does); ``SBA_Share`` is
    ``SBA_Appv / GrAppv`` written with ten decimals: a genuine feature, unique per row because it is a ratio.
    """
    approved = pd.to_datetime(frame["ApprovalDate"], format="%d-%b-%y").to_numpy()
    turn = np.empty(len(frame), dtype=np.int64)
    turn[np.argsort(approved, kind="stable")] = np.arange(len(frame))
    number = 100_001_400 + 10 * turn
    share = parse_money(frame["SBA_Appv"]) / parse_money(frame["GrAppv"])
    return frame.assign(LoanNr=[f"{n}{n % 7}" for n in number], SBA_Share=[f"{v:.10f}" for v in share])


def to_csv_bytes(frame: pd.DataFrame, *, line_end: str = "\n") -> bytes:
    """The frame as UTF-8 CSV bytes: every cell as text, empty cells empty, quotes only where needed.

    Fields holding a delimiter, a quote, a line feed or a carriage return are quoted.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    writer.writerow([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        cells = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in row]
        writer.writerow(cells)
    return buf.getvalue().encode("utf-8")


def spreadsheet_headers(frame: pd.DataFrame) -> pd.DataFrame:
    """The demo layout with the headers a spreadsheet user types.

    ``company_id`` → ``COMPANY ID``, ``fiscal_year`` → ``Fiscal Year``, ``current_ratio`` →
    ``Current Ratio``, ``sector`` → ``SECTOR``; every other feature of the demo layout goes under its
    plain-language label from ``DEMO_SPEC`` (``Return on assets``, ``Net debt / EBITDA`` …).
    """
    from riskcore.data.schema import DEMO_SPEC

    names = {"company_id": "COMPANY ID", "fiscal_year": "Fiscal Year", "current_ratio": "Current Ratio",
             "sector": "SECTOR", "company_name": "Company Name"}
    for f in DEMO_SPEC.features:
        names.setdefault(f.name, f.display_label)
    return frame.rename(columns={c: names[c] for c in frame.columns if c in names})


def fiscal_year_as_date(frame: pd.DataFrame, column: str = "fiscal_year") -> pd.DataFrame:
    """The fiscal year written as its last day, ``2024-12-31``."""
    out = frame.copy()
    out[column] = [f"{int(float(y))}-12-31" for y in out[column]]
    return out


def cr_in_quoted_field(frame: pd.DataFrame, column: str = "company_name", row: int = 0) -> bytes:
    """CSV bytes with a carriage return inside one quoted text cell (``"Acme\rHoldings"``).

    ``row`` is the 0-based frame row; the cell keeps its text around the break. Only
    that cell is quoted (unless another needs quotes anyway), as a spreadsheet writes it.
    """
    token = "\x02line-break\x02"
    out = frame.copy().astype({column: object})
    plain = f"{out[column].iloc[row]}{token}Holdings"
    out.loc[out.index[row], column] = plain
    text = to_csv_bytes(out).decode("utf-8")
    if f'"{plain}' in text:  # the writer quoted the field already
        text = text.replace(token, "\r")
    else:
        text = text.replace(plain, '"' + plain.replace(token, "\r") + '"')
    return text.encode("utf-8")


def nul_in_cell(frame: pd.DataFrame, column: str, row: int) -> bytes:
    """CSV bytes with a NUL byte in the middle of one cell (``row`` is the 0-based frame row)."""
    out = frame.copy().astype({column: object})
    text = str(out[column].iloc[row])
    out.loc[out.index[row], column] = text[:1] + "\x00" + text[1:]
    return to_csv_bytes(out)
