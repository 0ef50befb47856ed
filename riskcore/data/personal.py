"""Columns that look like personal data: e-mail addresses, phone numbers, IBANs, or a header that names them.

:func:`find_personal_data` looks at every text column of a frame, with Arrow's regular expressions over the
whole column at once (no Python per cell), and flags a column when enough of its values look like

* e-mail addresses (``name@domain.tld``);
* phone numbers: an international number (``+44 20 7946 0958``, ``0049 30 1234567``), a national one with
  its leading 0 (``020 7946 0958``, ``0612345678``) or a North-American one (``(555) 123-4567``), 7 to 15
  digits, and not a date;
* IBANs whose mod-97 check holds (ISO 13616: spaces and case ignored), computed for every candidate at once
  with NumPy (:func:`iban_valid`);

and flags every column whose header names personal data (:func:`riskcore.data.schema.is_personal`). Each
finding names the column, the share of its values that match, one example *masked* (never the value itself)
and what to do: leave the column out of the features, or add it to ``[audit] redact`` so that the audit trail
keeps only its salted hash. The quality report (:func:`riskcore.data.quality.check_frame`) carries them, so
``check``, ``train`` and the Data quality page tell the user before a model learns from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from riskcore.data.columns import normalise_name
from riskcore.data.schema import DatasetSpec, is_personal
from riskcore.data.table import text_array

__all__ = ["PERSONAL_KINDS", "MIN_SHARE", "PersonalColumn", "PersonalKind", "find_personal_data", "iban_valid",
           "looks_like_email", "looks_like_phone", "mask"]

PersonalKind = Literal["email", "phone", "iban", "header"]
PERSONAL_KINDS: tuple[str, ...] = get_args(PersonalKind)
MIN_SHARE: dict[str, float] = {"email": 0.01, "iban": 0.01, "phone": 0.2}
"""The share of a column's present values that must match for it to be flagged. A value that is an e-mail address,
or an IBAN whose checksum holds, is rarely anything else, so one in a hundred flags the column (the rest may be
``n/a``); a phone number's shape is looser, so a fifth of the values must have it."""

_EMAIL = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
_SEP = r"[ ()./-]"
_PHONE = "|".join((
    r"^\+[1-9][0-9 ()./-]{5,20}[0-9]$",  # +44 20 7946 0958
    r"^00[1-9][0-9]{8,13}$",  # 00493012345678
    rf"^00[1-9][0-9 ()./-]*{_SEP}[0-9 ()./-]*[0-9]$",  # 0049 30 1234567
    r"^0[1-9][0-9]{7,9}$",  # 0612345678
    rf"^\(?0[1-9][0-9]*\)?{_SEP}[0-9 ()./-]*[0-9]$",  # 020 7946 0958, (030) 1234567
    r"^(\+?1[ .-]?)?(\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}$",  # (555) 123-4567
))
_DATE = r"^([0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4})$"
_IBAN_SHAPE = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"
_IBAN_MAX = 34
_WHAT = {"email": "e-mail addresses", "phone": "phone numbers", "iban": "IBANs (checksum valid)"}
_SAMPLE = 20_000  # present values tried first: a column with no match among them is not read whole


@dataclass(frozen=True)
class PersonalColumn:
    """A column that looks like personal data.

    Attributes
    ----------
    column : the column's name.
    kind : ``email``, ``phone`` or ``iban`` (its values look like that), or ``header`` (its name says so).
    role : what the data contract does with it: ``feature``, ``id``, ``name`` (the display name), or ``unused``.
    share : of the column's present values, the share that match (for ``header``: the share of rows with a value).
    count : how many values match (for ``header``: how many are present).
    example : one matching value, masked (``j***@a***.com``); never a value as written.
    redacted_by_name : whether the audit trail already keeps only its salted hashes, by its name alone.
    advice : what to do, in a sentence.
    """

    column: str
    kind: PersonalKind
    role: Literal["feature", "id", "name", "unused"]
    share: float
    count: int
    example: str
    redacted_by_name: bool
    advice: str

    @property
    def message(self) -> str:
        """One sentence for the report: what the column looks like, how much of it, an example and what to do."""
        if self.kind == "header":
            what = f"its name says it holds personal data ({self.count:,} value(s), e.g. {self.example})"
        else:
            what = (f"{self.share:.0%} of its values ({self.count:,}) look like {_WHAT[self.kind]}, "
                    f"e.g. {self.example}")
        return f"{what}; {self.advice}"


def looks_like_email(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per value, whether it looks like an e-mail address (surrounding spaces ignored; missing: False)."""
    return _matches(pc.utf8_trim_whitespace(values), _EMAIL)


def looks_like_phone(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per value, whether it looks like a phone number (see the module's docstring; missing: False)."""
    text = pc.utf8_trim_whitespace(values)
    digits = pc.fill_null(pc.count_substring_regex(text, "[0-9]"), 0).to_numpy(zero_copy_only=False)
    return _matches(text, _PHONE) & (digits >= 7) & (digits <= 15) & ~_matches(text, _DATE)


def iban_valid(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per value, whether it is an IBAN whose ISO 13616 mod-97 check holds (spaces and case ignored).

    The check moves the first four characters to the end, reads letters as two-digit numbers (A = 10 …
    Z = 35) and takes the whole number modulo 97, which must be 1. It runs on every candidate at once: one
    row per value, one column per character, 34 vectorised steps of ``r = (r * 10**k + v) mod 97``.

    Examples
    --------
    >>> iban_valid(pa.array(["GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 33", None])).tolist()
    [True, False, False]
    """
    text = pc.utf8_upper(pc.replace_substring(values, " ", ""))
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    out = np.zeros(len(text), dtype=bool)
    candidates = np.flatnonzero(_matches(text, _IBAN_SHAPE))
    if len(candidates):
        out[candidates] = _mod97(pc.cast(text.take(pa.array(candidates)), pa.large_string())) == 1
    return out


def _mod97(text: pa.Array) -> np.ndarray:
    """The ISO 7064 mod-97 remainder of IBAN-shaped text (``[A-Z0-9]``, 15 to 34 characters), per value."""
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64, count=text.offset + n + 1)[text.offset:]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
    lengths = np.diff(offsets)
    positions = np.arange(_IBAN_MAX)
    # the rearranged text: character j of the check is character (j + 4) mod length of the value
    chars = data[offsets[:-1, None] + (positions[None, :] + 4) % lengths[:, None]]
    used = positions[None, :] < lengths[:, None]
    values = np.where(chars >= ord("A"), chars.astype(np.int64) - (ord("A") - 10), chars.astype(np.int64) - ord("0"))
    remainder = np.zeros(n, dtype=np.int64)
    for j in range(_IBAN_MAX):
        v = values[:, j]
        step = (remainder * np.where(v >= 10, 100, 10) + v) % 97
        remainder = np.where(used[:, j], step, remainder)
    return remainder


def _matches(text: pa.Array | pa.ChunkedArray, pattern: str) -> np.ndarray:
    """Per value, whether the (RE2) pattern matches; missing values do not."""
    found = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def mask(value: str, kind: PersonalKind) -> str:
    """A value shown masked: enough of its shape to recognise the kind, not enough to read it.

    Examples
    --------
    >>> mask("jane.doe@acme.co.uk", "email"), mask("+44 20 7946 0958", "phone")
    ('j***@a***.uk', '+44 ** **** **58')
    >>> mask("GB82 WEST 1234 5698 7654 32", "iban"), mask("ACME Ltd", "header")
    ('GB82******************32', 'A*** L**')
    """
    value = value.strip()
    if kind == "email":
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain[:1]}***.{domain.rsplit('.', 1)[-1]}"
    if kind == "phone":
        digits = [i for i, c in enumerate(value) if c.isdigit()]
        keep = set(digits[:2] + digits[-2:])
        return "".join(c if not c.isdigit() or i in keep else "*" for i, c in enumerate(value))
    if kind == "iban":
        compact = value.replace(" ", "").upper()
        return compact[:4] + "*" * max(len(compact) - 6, 0) + compact[-2:]
    return re.sub(r"(?<=\w)\w", "*", value)


def find_personal_data(frame: pd.DataFrame, spec: DatasetSpec | None = None) -> list[PersonalColumn]:
    """The columns of ``frame`` that look like personal data, by their values or by their header.

    Parameters
    ----------
    frame : the data, as read or as prepared (text columns are looked at; numbers only by their header).
    spec : the data contract, to say what each column is used for (without it every column is ``unused``);
        the frame's names are matched to it as column names are (``Contact E-mail`` is ``contact_email``).

    Returns
    -------
    list of PersonalColumn
        In the frame's column order; one per column (its values' kind first, else its header).
    """
    found = []
    roles = _roles(spec)
    for column in frame.columns:
        name = str(column)
        series = frame[column]
        role = roles.get(normalise_name(name), "unused")
        by_name = is_personal(name)
        present = int(series.notna().sum())
        hit = _by_values(series, present) if present and _is_text(series) else None
        if hit is not None:
            kind, count, example = hit
            found.append(PersonalColumn(name, kind, role, count / present, count, mask(example, kind), by_name,
                                        _advice(name, role, by_name)))
        elif by_name and present:
            first = series[series.notna()].iloc[0]
            found.append(PersonalColumn(name, "header", role, present / max(len(series), 1), present,
                                        mask(str(first), "header"), True, _advice(name, role, True)))
    return found


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
                or pd.api.types.is_bool_dtype(series))


def _by_values(series: pd.Series, present: int) -> tuple[PersonalKind, int, str] | None:
    """The kind the column's values look like, how many match and the first that does; None below the shares."""
    text = text_array(series)
    sample = pc.drop_null(text).slice(0, _SAMPLE)
    for kind, test in (("email", looks_like_email), ("iban", iban_valid), ("phone", looks_like_phone)):
        if not test(sample).any():
            continue
        hits = test(text)
        count = int(hits.sum())
        if count and count >= MIN_SHARE[kind] * present:
            first = int(np.flatnonzero(hits)[0])
            return kind, count, str(text[first].as_py())  # type: ignore[return-value]
    return None


_Role = Literal["feature", "id", "name", "unused"]


def _roles(spec: DatasetSpec | None) -> dict[str, _Role]:
    """Normalised column name to what the contract does with it (absent: unused)."""
    if spec is None:
        return {}
    roles: dict[str, _Role] = {}
    for names, role in ((spec.feature_names, "feature"), (spec.key_columns, "id"),
                        ((spec.name_column,) if spec.name_column else (), "name")):
        for name in names:
            roles.setdefault(normalise_name(name), role)  # type: ignore[arg-type]
    return roles


def _advice(name: str, role: str, redacted: bool) -> str:
    """What to do about a column of personal data, by what the contract does with it."""
    kept = ("the audit trail keeps only its salted hashes" if redacted else
            f"add it to [audit] redact in riskcore.toml (redact = [\"{name}\"]) so the audit trail keeps only its "
            "salted hashes")
    if role == "feature":
        return f"a model would learn from personal data: leave it out (--drop {name}); if it must stay, {kept}"
    if role == "id":
        return f"it identifies rows by personal data: use another id if you can; {kept}"
    if role == "name":
        return f"it is shown to find a company, never a feature; {kept}"
    return ("the model does not use it and the audit trail does not record it, but it stays in the file and "
            "in scored output: remove it before sharing them")
