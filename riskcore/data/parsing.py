"""Reading cell values as a person would: numbers, money, percentages and dates written as text.

Files exported from spreadsheets and loan systems write values for people:
``$60,000.00``, ``€ 1.234,50``, ``(1,234)``, ``12,5 %``, ``28-Feb-97``. This module
turns such a text column into numbers or dates and says which cells it could not read.

* :func:`parse_numbers` reads plain numbers, and also money (currency symbols or
  codes such as ``$``, ``€``, ``USD``; thousands separators ``,`` ``.`` space or
  ``'``), accounting negatives ``(1,234)``, and percentages ``12%`` → ``0.12`` (the
  project's unit convention: a fraction, 0.25 means 25%). It always accepts these
  forms, so a column read as money when its spec was inferred parses the same way at
  scoring time without the spec having to remember the format. In a numeric column,
  placeholders such as ``none``, ``-``, ``?``, ``n/a`` mean "no value" and become
  missing (:data:`MISSING_WORDS`); in a text column they stay a category.
* :func:`parse_dates` reads common date formats (ISO ``2024-12-31``, ``31/12/2024``,
  ``12/31/2024``, ``28-Feb-97``, ``28 Feb 1997``, ``2024-12-31 10:00``), decides from
  the data whether the day or the month comes first, and pivots two-digit years.
* :func:`classify_column` says what a text column holds (number, money, percent,
  date or text) with a note for the user about what was converted; the spec
  inference uses it.
* :func:`observation_dates`, :func:`fiscal_years`, :func:`fiscal_year_end` and
  :func:`date_ages` turn a time column into periods and a date into its age at the
  row's observation date (dates are never raw features).

Speed: a clean numeric column costs one pyarrow cast; only a column that fails
pays for the tolerant pass, which is a fixed number of vectorised pyarrow
operations (no Python call per cell). Dates are parsed with pyarrow's ``strptime``.
A column is converted only when it is consistent: at least 90% of its present
cells parse (:data:`CONSISTENT_SHARE`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.table import text_array

__all__ = [
    "CONSISTENT_SHARE",
    "MISSING_WORDS",
    "ColumnFormat",
    "ValueKind",
    "classify_column",
    "date_ages",
    "fiscal_year_end",
    "fiscal_years",
    "row_fiscal_years",
    "observation_dates",
    "parse_dates",
    "parse_numbers",
]

ValueKind = Literal["number", "money", "percent", "date", "text", "empty"]
CONSISTENT_SHARE = 0.9
MISSING_WORDS: tuple[str, ...] = ("", "na", "n/a", "n.a.", "nan", "null", "none", "nil", "#n/a", "-", "--", "—", "–",
                                  "?", "..", ".")
"""Placeholders (compared case-insensitively) that mean "no value" in a numeric or date column."""

_MISSING_SET = pa.array(list(MISSING_WORDS), type=pa.large_string())
_CURRENCY = (r"(?i)(?:US\$|[$€£¥₹₩₽₺₪₫฿]|USD|EUR|GBP|CHF|JPY|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|RON|INR|CNY|"
             r"BRL|MXN|ZAR|SGD|HKD|Fr\.|kr)")
_GROUP_SPACES = r"^\d{1,3}(?:[ \x{00A0}\x{202F}'’]\d{3})+(?:[.,]\d*)?$"
_FLOAT = r"(?i)^(?:\d+\.?\d*(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?|inf|infinity|nan)$"
# unambiguous evidence of the decimal mark of one cell (digits and separators only)
_POINT_EVIDENCE = r"^\d{1,3}(?:,\d{3})+\.\d*$|^\d*\.(?:\d{1,2}|\d{4,})$|^\d{1,3}(?:,\d{3}){2,}$"
_COMMA_EVIDENCE = r"^\d{1,3}(?:\.\d{3})+,\d*$|^\d*,(?:\d{1,2}|\d{4,})$|^\d{1,3}(?:\.\d{3}){2,}$"


# ---------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _NumberDetail:
    """What the tolerant pass converted in one column (counts of cells)."""

    currency: int = 0
    grouped: int = 0
    percent: int = 0
    parens: int = 0
    placeholders: int = 0
    words: tuple[str, ...] = ()
    decimal: str = "."
    example: str = ""


def parse_numbers(values: pd.Series, decimal: str = ".") -> tuple[np.ndarray, np.ndarray]:
    """Turn a text column into float64 and flag the cells that are not numbers.

    Missing cells, cells holding only spaces, and placeholders such as ``none``,
    ``-``, ``?`` (:data:`MISSING_WORDS`) stay NaN and are not flagged. Money
    (``$60,000.00``, ``€ 1.234,50``, ``USD 1,234``, ``1 234,50``), accounting
    negatives (``(1,234)`` → -1234) and percentages (``12%`` → 0.12) are read as
    numbers. ``inf``, ``1e400`` and the like parse to infinity; callers decide
    whether that is allowed.

    Parameters
    ----------
    values : the column, as text (or already numeric).
    decimal : the file's decimal mark; a column whose cells show the other mark
        unambiguously (``1.234,50`` or ``12,5``) is read with that one instead.

    Returns
    -------
    (numbers, not_a_number) : float64 array and boolean mask of the same length.

    Examples
    --------
    >>> parse_numbers(pd.Series(["$60,000.00", "(1,234)", "12%", "none"]))[0].tolist()
    [60000.0, -1234.0, 0.12, nan]
    """
    out, bad, _ = _parse_numbers_detail(values, decimal)
    return out, bad


def _parse_numbers_detail(values: pd.Series, decimal: str) -> tuple[np.ndarray, np.ndarray, _NumberDetail]:
    """:func:`parse_numbers` plus what its tolerant pass converted."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        return arr, np.zeros(len(arr), dtype=bool), _NumberDetail(decimal=decimal)
    raw = text_array(values)
    text = _decimal_point(pc.utf8_trim_whitespace(raw)) if decimal == "," else raw
    # most columns are clean: one cast, and only a column that fails pays for the tolerant pass
    for attempt in range(2):
        try:
            out = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
            return np.asarray(out, dtype=np.float64), np.zeros(len(out), dtype=bool), _NumberDetail(decimal=decimal)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if attempt == 0:  # blank cells and surrounding spaces are common and cheap to fix
                text = pc.utf8_trim_whitespace(text)
                text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    return _tolerant_numbers(raw, decimal)


def _tolerant_numbers(raw: pa.ChunkedArray, default_decimal: str) -> tuple[np.ndarray, np.ndarray, _NumberDetail]:
    """The slow (still vectorised) pass: placeholders, currency, signs, percent, separators."""
    text = pc.utf8_trim_whitespace(raw.cast(pa.large_string()))
    placeholder = pc.fill_null(pc.is_in(pc.utf8_lower(text), value_set=_MISSING_SET), False)
    present = pc.and_(pc.invert(pc.is_null(text)), pc.invert(placeholder))
    t = pc.if_else(present, text, pa.scalar(None, pa.large_string()))
    has_currency = pc.fill_null(pc.match_substring_regex(t, _CURRENCY), False)
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, _CURRENCY, ""))
    parens = pc.fill_null(pc.match_substring_regex(t, r"^\(.*\)$"), False)
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, r"^\((.*)\)$", r"\1"))
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, _CURRENCY, ""))  # ($1,234) and (1,234 €)
    percent = pc.fill_null(pc.match_substring_regex(t, r"%$"), False)
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, r"%$", ""))
    lead_minus = pc.fill_null(pc.match_substring_regex(t, r"^[-−]"), False)
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, r"^[-+−]", ""))
    t = pc.utf8_trim_whitespace(pc.replace_substring_regex(t, _CURRENCY, ""))  # -$5 written as - $ 5
    trail_minus = pc.fill_null(pc.match_substring_regex(t, r"^[\d.,]+-$"), False)
    t = pc.replace_substring_regex(t, r"-$", "")
    spaced = pc.fill_null(pc.match_substring_regex(t, _GROUP_SPACES), False)
    t = pc.if_else(spaced, pc.replace_substring_regex(t, r"[ \x{00A0}\x{202F}'’]", ""), t)
    # the column's decimal mark: unambiguous cells vote, the file's mark breaks ties
    point_votes = pc.sum(pc.cast(pc.fill_null(pc.match_substring_regex(t, _POINT_EVIDENCE), False), pa.int64()))
    comma_votes = pc.sum(pc.cast(pc.fill_null(pc.match_substring_regex(t, _COMMA_EVIDENCE), False), pa.int64()))
    pv, cv = point_votes.as_py() or 0, comma_votes.as_py() or 0
    decimal = "," if cv > pv else "." if pv > cv else default_decimal
    if decimal == ",":
        grouped = pc.fill_null(pc.match_substring_regex(t, r"^\d{1,3}(?:\.\d{3})+(?:,\d*)?$"), False)
        t = pc.if_else(grouped, pc.replace_substring(t, ".", ""), t)
        t = pc.replace_substring(t, ",", ".")
    else:
        grouped = pc.fill_null(pc.match_substring_regex(t, r"^\d{1,3}(?:,\d{3})+(?:\.\d*)?$"), False)
        t = pc.if_else(grouped, pc.replace_substring(t, ",", ""), t)
    valid = pc.fill_null(pc.match_substring_regex(t, _FLOAT), False)
    numbers = pc.cast(pc.if_else(valid, t, pa.scalar(None, pa.large_string())), pa.float64())
    out = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    negative = _mask(parens) | _mask(lead_minus) | _mask(trail_minus)
    out = np.where(negative, -out, out)
    pct = _mask(percent)
    out = np.where(pct, out / 100.0, out)
    bad = _mask(present) & ~_mask(valid)
    ok = ~bad & _mask(present)
    conv = ok & (_mask(has_currency) | _mask(grouped) | _mask(spaced) | pct | _mask(parens))
    example = ""
    word_mask = _mask(placeholder) & _mask(pc.not_equal(text, ""))
    words: tuple[str, ...] = ()
    if word_mask.any():
        words = tuple(pc.unique(text.filter(pa.array(word_mask))).to_pylist()[:3])
    if conv.any():
        example = str(text.take(pa.array([int(np.flatnonzero(conv)[0])])).to_pylist()[0])
    detail = _NumberDetail(
        currency=int((ok & _mask(has_currency)).sum()), grouped=int((ok & (_mask(grouped) | _mask(spaced))).sum()),
        percent=int((ok & pct).sum()), parens=int((ok & _mask(parens)).sum()),
        placeholders=int(word_mask.sum()), words=words, decimal=decimal, example=example)
    return out, bad, detail


def _mask(a: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean Arrow array as a NumPy mask (missing is False)."""
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


def _decimal_point(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """``1.234,5`` → ``1234.5`` and ``1,5`` → ``1.5`` (decimal comma, optional thousands points)."""
    thousands = pc.match_substring_regex(text, r"^[-+]?\d{1,3}(\.\d{3})+(,\d+)?$")
    text = pc.if_else(thousands, pc.replace_substring(text, ".", ""), text)
    return pc.replace_substring(text, ",", ".")


# ---------------------------------------------------------------------------
# dates
# ---------------------------------------------------------------------------

_ISO_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
                "%Y/%m/%d", "%Y%m%d")
_NAMED_FORMATS = ("%d-%b-%y", "%d-%b-%Y", "%d %b %Y", "%d %b %y", "%d %B %Y", "%d-%B-%Y", "%b %d, %Y", "%B %d, %Y",
                  "%d-%b-%y %H:%M", "%b %d %Y", "%d.%b.%Y")
_DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y", "%d/%m/%Y %H:%M")
_MONTH_FIRST = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m/%d/%Y %H:%M")
_SAMPLE = 2000
# a two-digit year more than this many years ahead of today belongs to the previous century
_TWO_DIGIT_YEARS_AHEAD = 10


def _strptime(text: pa.ChunkedArray, fmt: str) -> pa.ChunkedArray:
    return pc.strptime(text, format=fmt, unit="ns", error_is_null=True)


def _parsed_count(text: pa.ChunkedArray, fmt: str) -> int:
    return len(text) - int(_strptime(text, fmt).null_count)


def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray, str]:
    """Turn a text column into dates and flag the cells that are not dates.

    The formats tried are ISO (``2024-12-31``, ``2024-12-31 10:00``,
    ``2024-12-31T10:00:00``), ``31/12/2024`` and ``12/31/2024`` (with ``/``, ``.`` or
    ``-``), and month names (``28-Feb-97``, ``28 Feb 1997``, ``Feb 28, 1997``). Whether
    the day or the month comes first is decided from the data (a first number above
    12 is a day); when no cell tells them apart the day is read first, and the note
    says so. Two-digit years are read as 19xx or 20xx, whichever is not more than
    ten years after today (``28-Feb-97`` is 1997, ``01-Mar-05`` is 2005). Missing
    cells and placeholders (:data:`MISSING_WORDS`) stay missing and are not flagged.

    Parameters
    ----------
    values : the column (text, or already dates).

    Returns
    -------
    (dates, not_a_date, format_note) : ``datetime64[ns]`` array (NaT where missing or
        unreadable), boolean mask of unreadable cells, and a note naming the format(s)
        used (empty when nothing was read).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        arr = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return arr.to_numpy(dtype="datetime64[ns]"), np.zeros(len(values), dtype=bool), "already dates"
    text = pc.utf8_trim_whitespace(text_array(values).cast(pa.large_string()))
    placeholder = pc.fill_null(pc.is_in(pc.utf8_lower(text), value_set=_MISSING_SET), False)
    text = pc.if_else(placeholder, pa.scalar(None, pa.large_string()), text)
    n = len(text)
    present_idx = np.flatnonzero(~np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool))
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if len(present_idx) == 0:
        return out, np.zeros(n, dtype=bool), ""
    step = max(1, len(present_idx) // _SAMPLE)
    sample = text.take(pa.array(present_idx[::step][:_SAMPLE]))
    formats, order_note = _choose_formats(sample)
    remaining = text
    used: list[str] = []
    for fmt in formats:
        parsed = _strptime(remaining, fmt)
        got = np.asarray(parsed.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype="float64")
        hit = ~np.isnan(got) & np.isnat(out)
        if not hit.any():
            continue
        values_ns = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype="datetime64[ns]")
        if "%y" in fmt:
            values_ns = _pivot_two_digit_years(values_ns)
        out[hit] = values_ns[hit]
        used.append(str(remaining.take(pa.array([int(np.flatnonzero(hit)[0])])).to_pylist()[0]))
        remaining = pc.if_else(pa.array(hit), pa.scalar(None, pa.large_string()), remaining)
        if remaining.null_count == n:
            break
    present = np.zeros(n, dtype=bool)
    present[present_idx] = True
    bad = present & np.isnat(out)
    if not used:
        return out, bad, ""
    shown = ", ".join(map(repr, used[:3]))
    return out, bad, f"dates written as {shown} read as dates" + (f"; {order_note}" if order_note else "")


def _choose_formats(sample: pa.ChunkedArray) -> tuple[list[str], str]:
    """Formats to try on the whole column, best first, and a note on day/month order."""
    scores = {f: _parsed_count(sample, f) for f in (*_ISO_FORMATS, *_NAMED_FORMATS)}
    day = {f: _parsed_count(sample, f) for f in _DAY_FIRST}
    month = {f: _parsed_count(sample, f) for f in _MONTH_FIRST}
    note = ""
    n_day, n_month = sum(day.values()), sum(month.values())
    if n_day or n_month:
        if n_day > n_month:
            note = "day first, as some first numbers are above 12"
            scores.update(day)
        elif n_month > n_day:
            note = "month first, as some second numbers are above 12"
            scores.update(month)
        else:
            note = "no number above 12 tells day and month apart, so the day was read first (31/12/2024)"
            scores.update(day)
    ranked = [f for f, c in sorted(scores.items(), key=lambda kv: -kv[1]) if c > 0]
    return ranked, note


def _pivot_two_digit_years(values: np.ndarray) -> np.ndarray:
    """Dates read with a two-digit year, moved back a century when they land too far in the future."""
    limit = _dt.date.today().year + _TWO_DIGIT_YEARS_AHEAD
    years = values.astype("datetime64[Y]").astype(np.int64) + 1970
    late = ~np.isnat(values) & (years > limit)
    if not late.any():
        return values
    fixed = pd.DatetimeIndex(values[late]) - pd.DateOffset(years=100)
    out = values.copy()
    out[late] = fixed.to_numpy(dtype="datetime64[ns]")
    return out


# ---------------------------------------------------------------------------
# a whole column
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnFormat:
    """What a column holds and how its cells were read.

    ``kind``: ``number``, ``money``, ``percent``, ``date``, ``text`` or ``empty``;
    ``note``: a sentence for the user saying what was converted (empty for plain
    numbers and text); ``share``: the share of present cells that parse as that kind;
    ``integer``: numbers only, every finite value is whole.
    """

    kind: ValueKind
    note: str = ""
    share: float = 1.0
    integer: bool = False
    example: str = ""


def classify_column(values: pd.Series, decimal: str = ".") -> ColumnFormat:
    """Say whether a column holds numbers, money, percentages, dates or text.

    A column is numeric (or dates) only when at least 90% of its present cells
    parse (:data:`CONSISTENT_SHARE`); the rest are then reported as bad cells by
    the quality check. Placeholders (:data:`MISSING_WORDS`) do not count as present.

    Parameters
    ----------
    values : the column as read (its name is used in the note).
    decimal : the file's decimal mark.

    Returns
    -------
    ColumnFormat
    """
    name = repr(str(values.name)) if values.name is not None else "the column"
    if pd.api.types.is_datetime64_any_dtype(values):
        return ColumnFormat("date", f"{name}: already dates")
    if pd.api.types.is_bool_dtype(values):
        return ColumnFormat("number", integer=True)
    numbers, bad, detail = _parse_numbers_detail(values, decimal)
    n_missing = int(np.isnan(numbers).sum()) - int(bad.sum())
    n_present = len(numbers) - n_missing
    if n_present == 0:
        return ColumnFormat("empty", f"{name}: no values", share=0.0)
    share = (n_present - int(bad.sum())) / n_present
    finite = numbers[np.isfinite(numbers)]
    if share >= CONSISTENT_SHARE and len(finite):
        integer = bool(np.all(np.mod(finite, 1) == 0))
        n_ok = n_present - int(bad.sum())
        ex = detail.example
        if detail.percent >= 0.5 * n_ok:
            return ColumnFormat("percent", f"{name}: percentages written as {ex!r} read as fractions (12% → 0.12)",
                                share, False, ex)
        if detail.currency or detail.grouped or detail.parens:
            what = "money" if detail.currency else "numbers with thousands separators"
            dec = " (decimal comma)" if detail.decimal == "," else ""
            return ColumnFormat("money" if detail.currency or detail.parens else "number",
                                f"{name}: {what} written as {ex!r}{dec} read as numbers", share, integer, ex)
        if detail.placeholders:
            shown = ", ".join(map(repr, detail.words))
            return ColumnFormat("number", f"{name}: {detail.placeholders:,} cell(s) such as {shown} read as missing",
                                share, integer)
        return ColumnFormat("number", "", share, integer)
    dates, bad_d, fmt_note = parse_dates(values)
    n_dates = int((~np.isnat(dates)).sum())
    present_d = n_dates + int(bad_d.sum())
    if present_d and n_dates >= CONSISTENT_SHARE * present_d:
        return ColumnFormat("date", f"{name}: {fmt_note}", n_dates / present_d)
    return ColumnFormat("text", "", 1.0)


# ---------------------------------------------------------------------------
# periods and ages
# ---------------------------------------------------------------------------

def observation_dates(values: pd.Series, *, decimal: str = ".", year_end_month: int = 12) -> np.ndarray | None:
    """Each row's observation date from its time column, or ``None`` when the column has neither years nor dates.

    A fiscal year ``Y`` is observed on the last day of its final month
    (``year_end_month``; 31 December of ``Y`` by default); a date is observed on
    that date.

    Parameters
    ----------
    values : the time column as read (years or dates, text or typed).
    decimal : the decimal mark of text cells.
    year_end_month : the month a fiscal year ends.

    Returns
    -------
    numpy.ndarray or None
        ``datetime64[ns]`` per row (NaT where the time is missing or unreadable).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return parse_dates(values)[0]
    numbers, bad = parse_numbers(values, decimal)
    present = int((~np.isnan(numbers)).sum()) + int(bad.sum())
    if present == 0:
        return None
    years = numbers[np.isfinite(numbers)]
    if len(years) >= CONSISTENT_SHARE * present:
        if not (np.all(np.mod(years, 1) == 0) and years.min() >= 1800 and years.max() <= 2200):
            return None  # periods numbered 1, 2, 3…: no calendar to measure an age against
        return fiscal_year_end(numbers, year_end_month)
    dates, bad_d, _ = parse_dates(values)
    if int((~np.isnat(dates)).sum()) >= CONSISTENT_SHARE * present:
        return dates
    return None


def fiscal_year_end(years: np.ndarray, year_end_month: int = 12) -> np.ndarray:
    """The last day of each fiscal year (``datetime64[ns]``; NaT where the year is missing)."""
    y = np.asarray(years, dtype=float)
    ok = np.isfinite(y)
    months = np.where(ok, (y - 1970) * 12 + year_end_month, 0).astype(np.int64)
    end = (months.astype("datetime64[M]").astype("datetime64[D]") - np.timedelta64(1, "D")).astype("datetime64[ns]")
    return np.where(ok, end, np.datetime64("NaT", "ns"))


def fiscal_years(dates: np.ndarray, year_end_month: int = 12) -> np.ndarray:
    """The fiscal year of each date as float (NaN where missing).

    A date in a month after ``year_end_month`` counts towards the next fiscal year.
    """
    d = np.asarray(dates, dtype="datetime64[ns]")
    months = d.astype("datetime64[M]").astype(np.int64)
    year = months // 12 + 1970
    month = months % 12 + 1
    fy = np.where(month > year_end_month, year + 1, year).astype(float)
    return np.where(np.isnat(d), np.nan, fy)


def row_fiscal_years(values: pd.Series, year_end_month: int = 12) -> pd.Series:
    """Each row's fiscal year (float, NaN where unreadable): the column's numbers, or its dates' fiscal years.

    A column of whole numbers (``2024``) is read as years; one where more than a tenth of the filled cells are
    not numbers is read as dates (``2024-12-31``, ``31/12/2024``), each counted in its fiscal year.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.Series(fiscal_years(values.to_numpy(dtype="datetime64[ns]"), year_end_month), index=values.index)
    years = pd.to_numeric(values, errors="coerce")
    if years.isna().sum() > 0.1 * max(int(values.notna().sum()), 1):
        dates, _, _ = parse_dates(values.astype("string"))
        years = pd.Series(fiscal_years(dates, year_end_month), index=values.index)
    return years


def date_ages(dates: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Age in years (365.25 days) of each date at its observation date; NaN where either is missing."""
    d = np.asarray(dates, dtype="datetime64[ns]")
    o = np.asarray(observed, dtype="datetime64[ns]")
    days = (o - d).astype("timedelta64[s]").astype(np.float64) / 86_400.0
    return np.where(np.isnat(d) | np.isnat(o), np.nan, days / 365.25)
