"""Origination PDs from the audit trail: each company's first scored fiscal year and the PD recorded for it.

On SQLite and on PostgreSQL (tests/databases.py), recorded by the trail's own write paths; a property test holds
``AuditLog.origination`` to a brute-force reading of every company's scores through ``AuditLog.find``.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskcore.errors import AuditError
from riskcore.serving.audit import HASH_PREFIX, AuditLog, AuditPart, AuditRecord, Redaction

COLUMNS = ["company_id", "year", "p_default", "seq", "request_id", "model_version"]
META = {"source": "cli", "caller": "analyst", "model_version": "v1", "bundle_hash": "ab" * 32}
SALT = b"a salt for the origination tests!"
TUNING = "riskcore.serving.audit._origination."


@pytest.fixture
def log(database):
    log = AuditLog(database.url)
    yield log
    log.close()


def _score(log: AuditLog, rows: list[tuple[str, object, float]], *, chunks: int = 1, **meta: str) -> str:
    """Record one request of (company, year input, PD) rows, in ``chunks`` chunks; its request id."""
    ids = [r[0] for r in rows]
    inputs = pd.DataFrame({"year": [r[1] for r in rows], "roa": np.linspace(0.0, 1.0, len(rows))})
    p = np.array([r[2] for r in rows])
    cuts = np.array_split(np.arange(len(rows)), chunks)
    with log.batch(**{**META, **meta}) as batch:
        for part in cuts:
            if len(part):
                batch.add([ids[i] for i in part], inputs.iloc[part].reset_index(drop=True), p[part],
                          ["accept"] * len(part), ["A"] * len(part))
    return batch.request_id


def _seq(log: AuditLog, company: str, request_id: str) -> int:
    """The trail position of a company's (first) score in one request, as ``find`` reports it."""
    found = log.find(company)
    return int(found.loc[found["request_id"] == request_id, "seq"].min())


def _as_dict(frame: pd.DataFrame) -> dict[str, tuple]:
    return {r.company_id: (r.year, r.p_default, r.seq, r.request_id, r.model_version)
            for r in frame.itertuples(index=False)}


def test_the_earliest_year_wins_with_its_pd(log):
    late = _score(log, [("A", 2022, 0.1), ("B", 2022, 0.2)])
    early = _score(log, [("A", 2020, 0.3)], model_version="v2", source="api")
    middle = _score(log, [("A", 2021, 0.4), ("B", 2021, 0.5), ("C", 2021, 0.6)], source="dashboard")
    found = log.origination(["A", "B", "C"], year_column="year")
    assert list(found.columns) == COLUMNS
    assert _as_dict(found) == {
        "A": (2020, 0.3, _seq(log, "A", early), early, "v2"),
        "B": (2021, 0.5, _seq(log, "B", middle), middle, "v1"),
        "C": (2021, 0.6, _seq(log, "C", middle), middle, "v1"),
    }
    assert late not in set(found["request_id"])
    assert found.dtypes.to_dict() == {"company_id": "str", "year": "int64", "p_default": "float64", "seq": "int64",
                                      "request_id": "str", "model_version": "str"}


def test_of_several_scores_of_that_year_the_first_recorded_wins(log):
    first = _score(log, [("B", 2019, 0.7), ("A", 2020, 0.1), ("A", 2020, 0.15)], chunks=2)
    _score(log, [("A", 2020, 0.2), ("B", 2019, 0.8)])
    found = _as_dict(log.origination(["A", "B"], year_column="year"))
    assert found["A"][:3] == (2020, 0.1, _seq(log, "A", first))
    assert found["B"][:2] == (2019, 0.7)


def test_a_redacting_log_takes_the_plain_ids_and_returns_them(database):
    log = AuditLog(database.url, redaction=Redaction(SALT, columns=("company_id",)))
    request = _score(log, [("ACME Ltd", 2021, 0.1), ("Bolt plc", 2020, 0.2)])
    _score(log, [("ACME Ltd", 2019, 0.3)])
    assert log.find("ACME Ltd")["company_id"].str.startswith(HASH_PREFIX).all()  # stored as salted hashes
    found = log.origination(["Bolt plc", "ACME Ltd", "Nobody"], year_column="year")
    assert list(found["company_id"]) == ["Bolt plc", "ACME Ltd"]
    assert list(found["year"]) == [2020, 2019]
    assert found.loc[0, "request_id"] == request
    log.close()


def test_a_redacting_log_finds_ids_recorded_before_it_redacted(database):
    _score(AuditLog(database.url), [("A", 2018, 0.4)])
    log = AuditLog(database.url, redaction=Redaction(SALT, columns=("company_id",)))
    _score(log, [("A", 2017, 0.5), ("B", 2020, 0.6)])
    assert _as_dict(log.origination(["A", "B"], year_column="year")).keys() == {"A", "B"}
    assert list(log.origination(["A"], year_column="year")["year"]) == [2017]
    log.close()


def test_years_count_as_numbers_numeric_text_or_dates(log):
    _score(log, [("A", "2021-12-31", 0.1), ("B", "2019", 0.2), ("C", " 2018.0 ", 0.3)])  # text
    _score(log, [("D", 2017.0, 0.4), ("E", None, 0.5)])  # decimals with a gap
    _score(log, [("F", 2016, 0.6), ("G", "2015-06-30T00:00:00", 0.7)])  # mixed kinds: stored as JSON text
    _score(log, [("H", "31/12/2014", 0.8)])
    found = log.origination(list("ABCDEFGH"), year_column="year")
    assert dict(zip(found["company_id"], found["year"], strict=True)) == {
        "A": 2021, "B": 2019, "C": 2018, "D": 2017, "F": 2016, "G": 2015, "H": 2014}


def test_unreadable_years_do_not_count(log):
    _score(log, [("A", None, 0.1), ("B", "n/a", 0.2), ("C", 2020.5, 0.3), ("D", 0, 0.4), ("E", 20211231, 0.5)])
    _score(log, [("A", 2022, 0.6)])
    _score(log, [("F", True, 0.7)])
    assert _as_dict(log.origination(list("ABCDEF"), year_column="year")).keys() == {"A"}


def test_companies_never_scored_or_scored_without_the_year_are_absent(log):
    log.record([AuditRecord("X", {"roa": 0.1}, 0.2, "accept", "A")], **META)
    _score(log, [("Y", 2020, 0.3)])
    assert list(log.origination(["X", "Nobody", "Y"], year_column="year")["company_id"]) == ["Y"]
    assert log.origination(["X", "Y"], year_column="fiscal_year").empty  # no request recorded that input
    assert log.origination(["Y"], year_column="roa").empty  # not a year: 0.0


def test_ids_come_back_in_their_order_once_each_from_any_sequence(log):
    _score(log, [("A", 2020, 0.1), ("B", 2021, 0.2), ("C", 2022, 0.3)])
    for ids in (["C", "A", "C", "B", "A"], np.array(["C", "A", "C", "B", "A"]),
                np.array(["C", "A", "C", "B", "A"], dtype=object), pd.Series(["C", "A", "C", "B", "A"]),
                pd.Index(["C", "A", "C", "B", "A"]), ("C", "A", "C", "B", "A")):
        assert list(log.origination(ids, year_column="year")["company_id"]) == ["C", "A", "B"]


def test_no_ids_give_an_empty_frame_with_the_columns(log):
    _score(log, [("A", 2020, 0.1)])
    for ids in ([], np.array([], dtype=object)):
        found = log.origination(ids, year_column="year")
        assert list(found.columns) == COLUMNS and found.empty
        assert found["year"].dtype == "int64" and found["p_default"].dtype == "float64"


@pytest.mark.parametrize(("ids", "year_column", "message"), [
    ("A", "year", r"company_ids must be a sequence .* not str"),
    (7, "year", r"company_ids must be a sequence .* not int"),
    (np.array([["A"]]), "year", r"1-d array .* not ndarray"),
    (["A", 7], "year", r"company_ids\[1\]=7 is not a company id"),
    (["A", None], "year", r"company_ids\[1\]=None is not a company id"),
    (np.array([1, 2]), "year", r"company_ids\[0\]=.*1.* is not a company id"),
    (["A"], "", r"year_column='' must name the input"),
    (["A"], None, r"year_column=None must name the input"),
])
def test_bad_arguments_are_refused_with_what_to_pass(log, ids, year_column, message):
    with pytest.raises(AuditError, match=message):
        log.origination(ids, year_column=year_column)


def test_requests_answered_together_keep_each_rows_request(log):
    records = [AuditRecord("A", {"year": 2020}, 0.1, "accept", "A"),
               AuditRecord("B", {"year": 2019}, 0.2, "refer", "C")]
    log.record_parts([AuditPart(records, ["r-1", "r-2"], ["k1", "k2"], "api", "v3", "cd" * 32)])
    found = _as_dict(log.origination(["A", "B"], year_column="year"))
    assert found["A"][3:] == ("r-1", "v3") and found["B"][3:] == ("r-2", "v3")


def test_every_access_path_and_batch_size_gives_the_same_answer(log):
    rng = np.random.default_rng(3)
    for k in range(6):
        rows = [(f"C{i}", int(rng.integers(2015, 2020)), float(rng.random())) for i in rng.choice(40, 25)]
        _score(log, rows, chunks=3, model_version=f"v{k}")
    ids = [f"C{i}" for i in range(45)]
    reference = log.origination(ids, year_column="year")
    assert len(reference) > 30
    for tuning in ({"INDEX_SHARE": 0}, {"INDEX_SHARE": 10**9},
                   {"INDEX_SHARE": 0, "ID_BATCH": 4, "MIN_GROUP": 1, "GROUP_ROWS": 7},
                   {"INDEX_SHARE": 10**9, "MIN_GROUP": 1, "GROUP_ROWS": 1}):
        with mock.patch.multiple(TUNING.rstrip("."), **tuning):
            pd.testing.assert_frame_equal(log.origination(ids, year_column="year"), reference)


# -- against a brute-force reading ------------------------------------------------------------------------------
COMPANIES = [f"K{i:02d}" for i in range(30)]
_years = st.integers(2000, 2030)
_year_inputs = st.one_of(st.none(), _years, _years.map(lambda y: f"{y}-06-30"), _years.map(str))
_requests = st.lists(st.tuples(st.sampled_from(COMPANIES), _year_inputs, st.floats(0.0, 1.0)), min_size=1,
                     max_size=12)


def _brute_force(log: AuditLog, companies: list[str]) -> dict[str, tuple]:
    """Each company's scores read one by one through ``find``; the smallest (year, seq) of those with a year."""
    out = {}
    for company in dict.fromkeys(companies):
        best = None
        for row in log.find(company).itertuples(index=False):
            value = row.inputs.get("year")
            if value is None:
                continue
            year = int(value[:4]) if isinstance(value, str) else int(value)
            candidate = (year, row.seq, row.p_default, row.request_id, row.model_version)
            best = candidate if best is None or candidate[:2] < best[:2] else best
        if best is not None:
            out[company] = (best[0], best[2], best[1], best[3], best[4])
    return out


@settings(max_examples=30, deadline=None)
@given(trail=st.lists(st.tuples(_requests, st.integers(1, 3)), min_size=1, max_size=4),
       wanted=st.lists(st.sampled_from([*COMPANIES, "nobody"]), max_size=40),
       tuning=st.fixed_dictionaries({"INDEX_SHARE": st.sampled_from([0, 10**9]), "ID_BATCH": st.integers(1, 20),
                                     "MIN_GROUP": st.integers(1, 8), "GROUP_ROWS": st.integers(1, 20)}))
def test_origination_matches_every_company_read_through_find(trail, wanted, tuning):
    log = AuditLog("sqlite://")
    for k, (rows, chunks) in enumerate(trail):
        _score(log, rows, chunks=chunks, model_version=f"v{k}")
    with mock.patch.multiple(TUNING.rstrip("."), **tuning):
        found = log.origination(wanted, year_column="year")
    expected = _brute_force(log, wanted)
    assert list(found["company_id"]) == [c for c in dict.fromkeys(wanted) if c in expected]
    assert _as_dict(found) == expected
    log.close()
