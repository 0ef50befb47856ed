"""Columns that look like personal data: the detectors against references, the masks, the report's findings."""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from riskcore.data.personal import (
    MIN_SHARE,
    find_personal_data,
    iban_valid,
    looks_like_email,
    looks_like_phone,
    mask,
)
from riskcore.data.quality import check_frame
from riskcore.data.schema import DEMO_SPEC, FeatureSpec

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _reference_iban(value: str) -> bool:
    """ISO 13616 by the book, one value at a time: shape, then the rearranged number modulo 97."""
    compact = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _with_check_digits(country: str, bban: str) -> str:
    number = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    return f"{country}{98 - number % 97:02d}{bban}"


_countries = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
_bbans = st.text(alphabet=ALNUM, min_size=11, max_size=30)
_valid = st.builds(_with_check_digits, _countries, _bbans)


@st.composite
def _iban_like(draw) -> str:
    """Valid IBANs, the same with one character changed, with spaces or lower case, and random text."""
    kind = draw(st.sampled_from(["valid", "typo", "spaced", "random", "short"]))
    if kind == "random":
        return draw(st.text(alphabet=ALNUM + " ab", max_size=40))
    iban = draw(_valid)
    if kind == "typo":
        i = draw(st.integers(0, len(iban) - 1))
        iban = iban[:i] + draw(st.sampled_from(ALNUM)) + iban[i + 1:]
    elif kind == "spaced":
        iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)).lower()
    elif kind == "short":
        iban = iban[:draw(st.integers(0, 15))]
    return iban


@given(st.lists(st.one_of(st.none(), _iban_like()), max_size=30))
def test_the_vectorised_iban_check_is_the_reference_for_every_value(values):
    assert iban_valid(pa.array(values, pa.string())).tolist() == [v is not None and _reference_iban(v)
                                                                  for v in values]


@given(_valid)
def test_a_valid_iban_passes_and_a_digit_or_letter_mistyped_as_another_fails(iban):
    assert iban_valid(pa.array([iban])).tolist() == [True]
    # a digit for a digit, or a letter for a letter, changes the number by d * 10**k with 0 < |d| < 97: never a
    # multiple of 97 (a letter for a digit changes its length, which mod 97 does not always catch)
    typos = [iban[:i] + c + iban[i + 1:] for i in range(len(iban))
             for c in ("0", "7") if iban[i].isdigit() and c != iban[i]]
    typos += [iban[:i] + c + iban[i + 1:] for i in range(len(iban)) for c in ("A", "Z")
              if iban[i].isalpha() and c != iban[i]]
    assert not iban_valid(pa.array(typos)).any()


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_emails = st.builds(lambda user, host, tld: f"{user}@{host}.{tld}", st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=2, max_size=20), _label,
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6))
_phones = st.one_of(
    st.builds(lambda cc, groups: "+" + str(cc) + " " + " ".join(groups), st.integers(1, 999),
              st.lists(st.text(alphabet="0123456789", min_size=2, max_size=4), min_size=2, max_size=4)),
    st.builds(lambda area, rest: f"0{area} {rest}", st.integers(10, 999), st.integers(100_000, 99_999_999)),
    st.builds(lambda a, b, c: f"({a}) {b}-{c:04d}", st.integers(200, 999), st.integers(100, 999),
              st.integers(0, 9999)),
)


@given(st.lists(_emails, min_size=1, max_size=20))
def test_email_addresses_are_recognised_and_masked_beyond_reading(emails):
    assert looks_like_email(pa.array(emails)).all()
    for email in emails:
        shown_user, shown_domain = mask(email, "email").split("@")
        user, host = email.split("@")[0], email.split("@")[1].split(".")[0]
        assert len(user) < 2 or user not in shown_user
        assert len(host) < 2 or host not in shown_domain.rsplit(".", 1)[0]


@given(st.lists(_phones, min_size=1, max_size=20))
def test_phone_numbers_are_recognised_and_masked(phones):
    digits = [sum(c.isdigit() for c in p) for p in phones]
    expected = [7 <= d <= 15 for d in digits]
    assert looks_like_phone(pa.array(phones)).tolist() == expected
    for phone, d in zip(phones, digits):
        assert sum(c.isdigit() for c in mask(phone, "phone")) == min(d, 4)


@given(st.lists(st.one_of(st.dates().map(lambda d: d.isoformat()), st.dates().map(lambda d: d.strftime("%d.%m.%Y")),
                          st.floats(-1e6, 1e6).map(str), st.integers(-10**9, 10**9).map(str),
                          st.from_regex(r"C[0-9]{5}", fullmatch=True)), max_size=30))
def test_dates_numbers_and_ids_are_not_phone_numbers_email_addresses_or_ibans(values):
    arr = pa.array(values, pa.string())
    assert not looks_like_phone(arr).any() and not looks_like_email(arr).any() and not iban_valid(arr).any()


def _frame(n: int = 40) -> pd.DataFrame:
    return pd.DataFrame({
        "company_id": [f"C{i:05d}" for i in range(n)],
        "company_name": [f"Zyxwvut {i} Ltd" for i in range(n)],
        "contact_email": [f"person{i}@zyxwvut.example" if i % 2 else None for i in range(n)],
        "switchboard": ["+44 20 7946 0958"] * (n // 2) + ["n/a"] * (n - n // 2),
        "account": ["GB82 WEST 1234 5698 7654 32"] * n,
        "notes": ["call back, or write to a@b.example"] + ["fine"] * (n - 1),
        "roa": [0.1] * n,
    })


def test_each_column_of_personal_data_is_flagged_with_its_share_a_masked_example_and_what_to_do():
    found = {p.column: p for p in find_personal_data(_frame())}
    assert set(found) == {"company_name", "contact_email", "switchboard", "account"}
    email, phone, iban, name = found["contact_email"], found["switchboard"], found["account"], found["company_name"]
    assert (email.kind, email.share, email.count, email.redacted_by_name) == ("email", 1.0, 20, True)
    assert (phone.kind, phone.share, phone.redacted_by_name) == ("phone", 0.5, False)
    assert (iban.kind, iban.example) == ("iban", "GB82****************32")
    assert (name.kind, name.example) == ("header", "Z****** 0 L**")
    assert "remove it before sharing" in phone.advice  # not used by the model, nor recorded
    for p in found.values():
        assert p.example not in _frame()[p.column].astype(str).tolist()  # masked, never a value as written


def test_a_column_is_flagged_from_a_share_of_its_values():
    n = 400
    few = pd.DataFrame({"ref": ["x@y.example"] * 3 + ["n/a"] * (n - 3),
                        "tel": ["+44 20 7946 0958"] * 60 + ["-"] * (n - 60)})
    assert 3 / n < MIN_SHARE["email"] and 60 / n < MIN_SHARE["phone"]
    assert find_personal_data(few) == []
    more = few.assign(ref=["x@y.example"] * 4 + ["n/a"] * (n - 4), tel=["+44 20 7946 0958"] * 80 + ["-"] * (n - 80))
    assert [(p.column, p.kind) for p in find_personal_data(more)] == [("ref", "email"), ("tel", "phone")]


def test_the_quality_report_warns_when_a_model_or_the_key_would_use_personal_data():
    spec = replace(DEMO_SPEC, features=(*DEMO_SPEC.features, FeatureSpec("contact_email", "categorical")))
    frame = _frame().rename(columns={"switchboard": "phone"})
    report = check_frame(frame, spec)
    flagged = {f.column: f for f in report.findings if f.check == "personal_data"}
    assert flagged["contact_email"].severity == "warning"
    assert "a model would learn from personal data: leave it out (--drop contact_email)" in \
        flagged["contact_email"].message
    assert flagged["company_name"].severity == "info" and "keeps only its salted hashes" in \
        flagged["company_name"].message
    assert flagged["phone"].severity == "info"  # not used by the model; its name alone says personal data
    table = report.personal_frame()
    assert list(table.columns) == ["column", "kind", "role", "share", "count", "example", "advice"]
    assert table.set_index("column").loc["contact_email", "role"] == "feature"
    assert "Zyxwvut" not in report.to_text() and "person1@" not in report.to_text()


def test_the_demo_portfolio_has_only_its_names_flagged(small_portfolio):
    report = check_frame(small_portfolio.frame.head(500), DEMO_SPEC)
    assert [(p.column, p.kind, p.role) for p in report.personal] == [("company_name", "header", "name")]
    assert all(f.severity == "info" for f in report.findings if f.check == "personal_data")
