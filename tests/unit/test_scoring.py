"""score_frame / score_file / score_one: hostile files, output columns, the CSV written back.

The hostile cases start from a clean template (20 rows of the small portfolio's
latest year, written with :func:`riskcore.data.tabular.write_csv`) and break it in
one way each. Every case asserts the message and, whenever some rows are valid,
that exactly those rows were scored. Data rows are numbered from 1, the header
not counted, so ``R[4]`` of the template is data row 4.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table, write_csv
from riskcore.errors import DataFileError, SchemaError
from riskcore.evaluation.grading import MASTER_SCALE, PD_FLOOR, grade_of
from riskcore.serving.scoring import REJECT_COLUMNS, SCORE_COLUMNS, score_file, score_frame, score_one, write_scores

N = 20
ID, YEAR = "company_id", "fiscal_year"


# ---------------------------------------------------------------------------
# the template and how to break it
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(small_portfolio) -> list[list[str]]:
    """Header + 20 data rows as text cells, exactly as write_csv writes them."""
    frame = small_portfolio.frame
    latest = frame[frame[YEAR] == frame[YEAR].max()].drop(columns=["default_12m", "true_pd"])
    buf = io.BytesIO()
    write_csv(latest.head(N).reset_index(drop=True), buf)
    return [list(r) for r in csv.reader(io.StringIO(buf.getvalue().decode("utf-8")))]


def dump(rows: list[list[str]], delimiter: str = ",") -> bytes:
    """Rows as CSV text (quoted only where needed), UTF-8."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def copy(rows: list[list[str]]) -> list[list[str]]:
    return [list(r) for r in rows]


def col(rows: list[list[str]], name: str) -> int:
    return rows[0].index(name)


def set_cell(row: int, name: str, value: str) -> Callable[[list[list[str]]], bytes]:
    def make(t: list[list[str]]) -> bytes:
        rows = copy(t)
        rows[row][col(rows, name)] = value
        return dump(rows)
    return make


def drop_column(name: str) -> Callable[[list[list[str]]], bytes]:
    def make(t: list[list[str]]) -> bytes:
        j = col(t, name)
        return dump([r[:j] + r[j + 1:] for r in t])
    return make


def raw_cell(row: int, name: str, raw: str) -> Callable[[list[list[str]]], bytes]:
    """Put ``raw`` into the file as is (no quoting), e.g. a quote that is never closed."""
    def make(t: list[list[str]]) -> bytes:
        lines = dump(t).decode().splitlines()
        cells = next(csv.reader([lines[row]]))
        cells[col(t, name)] = "\x00MARK\x00"
        line = io.StringIO()
        csv.writer(line, lineterminator="").writerow(cells)
        lines[row] = line.getvalue().replace("\x00MARK\x00", raw)
        return ("\n".join(lines) + "\n").encode()
    return make


def semicolon_decimal_comma(t: list[list[str]]) -> bytes:
    rows = [t[0]] + [[c.replace(".", ",") if _is_decimal(c) else c for c in r] for r in t[1:]]
    return dump(rows, ";")


def _is_decimal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return "." in text and "e" not in text.lower()


def latin1_name(t: list[list[str]]) -> bytes:
    rows = copy(t)
    rows[4][col(rows, "company_name")] = "Müller & Söhne GmbH"
    return dump(rows).decode().encode("latin-1")


def shuffled_renamed(t: list[list[str]]) -> bytes:
    order = list(reversed(range(len(t[0]))))
    rows = [[r[j] for j in order] for r in t]
    rows[0] = [f"  {h.upper()} " for h in rows[0]]
    return dump(rows)


def wide(t: list[list[str]]) -> bytes:
    rows = [t[0] + [f"extra_{j}" for j in range(5000)]] + [r + [str(j % 7) for j in range(5000)] for r in t[1:]]
    return dump(rows)


def duplicate_column(t: list[list[str]]) -> bytes:
    return dump([t[0] + ["ROA"]] + [r + ["0.5"] for r in t[1:]])


def formula_header(t: list[list[str]]) -> bytes:
    return dump([t[0] + ['=HYPERLINK("http://x","y")']] + [r + ["x"] for r in t[1:]])


def duplicate_id(t: list[list[str]]) -> bytes:
    rows = copy(t)
    rows[5][col(rows, ID)] = rows[3][col(rows, ID)]
    return dump(rows)


def ragged(extra: int) -> Callable[[list[list[str]]], bytes]:
    def make(t: list[list[str]]) -> bytes:
        rows = copy(t)
        rows[4] = rows[4] + ["x"] * extra if extra > 0 else rows[4][:extra]
        return dump(rows)
    return make


def header_only(t: list[list[str]]) -> bytes:
    return dump(t[:1])


def all_bad(t: list[list[str]]) -> bytes:
    rows = copy(t)
    for r in rows[1:]:
        r[col(rows, "roa")] = "n/a"
    return dump(rows)


def blank_lines_and_crlf(t: list[list[str]]) -> bytes:
    text = dump(t).decode().replace("\n", "\r\n")
    lines = text.split("\r\n")
    lines.insert(6, "")
    lines.insert(3, "")
    return "\r\n".join(lines).encode()


def only_delimiters(t: list[list[str]]) -> bytes:
    rows = copy(t)
    rows[4] = [""] * len(rows[0])
    return dump(rows)


def utf16(t: list[list[str]]) -> bytes:
    return dump(t).decode().encode("utf-16")


@dataclass
class Case:
    """One hostile file: what is expected back."""

    make: Callable[[list[list[str]]], bytes]
    rejects: list[tuple[int, str | None, str]] = field(default_factory=list)
    error: tuple[type[Exception], str] | None = None
    note: str | None = None
    lost: tuple[int, ...] = ()  # rows that are neither scored nor in the reject report
    check: Callable[[object, list[list[str]]], None] | None = None


def _check_id_less(result, t):
    assert result.id_column == "row"
    assert result.scores["row"].tolist() == list(range(1, N + 1))


def _check_optional_missing(result, t):
    assert (result.scores["n_missing"] >= 1).all()


def _check_nan_optional(result, t):
    assert result.scores.set_index("row").loc[4, "n_missing"] >= 1


def _check_newline(result, t):
    names = dict(zip(result.scores["row"], result.scores["company_name"]))
    assert names[4] == "Acme\nHoldings"


def _check_latin1(result, t):
    names = dict(zip(result.scores["row"], result.scores["company_name"]))
    assert names[4] == "Müller & Söhne GmbH"


def _check_007(result, t):
    assert dict(zip(result.scores["row"], result.scores[ID]))[4] == "007"
    assert dict(zip(result.scores["row"], result.scores[ID]))[5] == "0042"


def _check_long_name(result, t):
    names = dict(zip(result.scores["row"], result.scores["company_name"]))
    assert len(names[4]) == 200_000


def _check_wide(result, t):
    assert "extra_4999" in result.scores.columns
    assert result.scores["extra_4999"].iloc[0] == str(4999 % 7)


def _check_sector_canonical(result, t):
    assert dict(zip(result.scores["row"], result.scores["sector"]))[4].strip().casefold() == "energy"


def _check_all_rejected(result, t):
    assert result.n_scored == 0 and result.n_rejected == N
    assert "Scored 0 of 20 rows" in result.summary()


CASES: dict[str, Case] = {
    # -- the file as a whole --------------------------------------------------
    "empty-file": Case(lambda t: b"", error=(DataFileError, "the file is empty")),
    "only-blank-lines": Case(lambda t: b"\r\n \n\n", error=(DataFileError, "the file is empty")),
    "header-only": Case(header_only, error=(DataFileError, "has a header but no data rows")),
    "png-renamed-csv": Case(lambda t: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,
                            error=(DataFileError, "not a CSV: it looks like a PNG image")),
    "xlsx-renamed-csv": Case(lambda t: b"PK\x03\x04" + b"\x00" * 64,
                             error=(DataFileError, "Save it as CSV")),
    "missing-required-feature": Case(drop_column("interest_coverage"),
                                     error=(SchemaError, "required column(s) 'interest_coverage' (Interest "
                                                         "coverage) are not in the file")),
    # -- columns ----------------------------------------------------------------
    "missing-id-column": Case(drop_column(ID), note="no 'company_id' column: rows are identified by their row number",
                              check=_check_id_less),
    "missing-optional-feature": Case(drop_column("esg_social"),
                                     note="optional feature column(s) are not in the file and were scored as "
                                          "missing: 'esg_social'", check=_check_optional_missing),
    "duplicate-column-names": Case(duplicate_column, note="column 'roa' appears 2 times ('roa', 'ROA'); the first "
                                                          "was used"),
    "header-case-spaces-any-order": Case(shuffled_renamed),
    "5000-columns": Case(wide, check=_check_wide),
    "formula-in-header": Case(formula_header),
    # -- ids ----------------------------------------------------------------------
    "duplicate-ids": Case(duplicate_id, rejects=[(5, ID, "the same company_id and fiscal_year as row 3")]),
    "empty-id": Case(set_cell(4, ID, ""), rejects=[(4, ID, "the company id is empty")]),
    "very-long-id": Case(set_cell(4, ID, "X" * 5000),
                         rejects=[(4, ID, "the id is longer than 100 characters")]),
    "formula-in-id": Case(set_cell(4, ID, "=cmd|' /C calc'!A0")),
    "nul-in-id": Case(set_cell(4, ID, "C-\x00-4"), rejects=[(4, ID, "holds a NUL (zero) byte, which is not text")]),
    "007-style-ids": Case(lambda t: set_cell(5, ID, "0042")(read_back(set_cell(4, ID, "007")(t))),
                          check=_check_007),
    # -- values ---------------------------------------------------------------------
    "text-in-numeric-column": Case(set_cell(4, "roa", "abc"), rejects=[(4, "roa", "'abc' is not a number")]),
    "inf": Case(set_cell(4, "roa", "inf"), rejects=[(4, "roa", "'inf' is infinite or too large")]),
    "minus-inf": Case(set_cell(4, "current_ratio", "-Infinity"),
                      rejects=[(4, "current_ratio", "'-Infinity' is infinite")]),
    "nan-in-required-feature": Case(set_cell(4, "roa", "nan"),
                                    rejects=[(4, "roa", "Return on assets is required; fill it in")]),
    "nan-in-optional-feature": Case(set_cell(4, "quick_ratio", "NaN"), check=_check_nan_optional),
    "1e400": Case(set_cell(4, "quick_ratio", "1e400"),
                  rejects=[(4, "quick_ratio", "'1e400' is infinite or too large to represent")]),
    "negative-exposure": Case(set_cell(4, "exposure_eur", "-5000"),
                              rejects=[(4, "exposure_eur", "exposure cannot be negative")]),
    "text-exposure": Case(set_cell(4, "exposure_eur", "ten million"),
                          rejects=[(4, "exposure_eur", "'ten million' is not a usable amount")]),
    "out-of-range-ratio": Case(set_cell(4, "debt_to_assets", "7"),
                               rejects=[(4, "debt_to_assets", "value 7 is outside the valid range 0 to 5")]),
    "negative-liquidity-ratio": Case(set_cell(4, "current_ratio", "-0.5"),
                                     rejects=[(4, "current_ratio", "value -0.5 is outside the valid range 0 to 100")]),
    "unknown-sector": Case(set_cell(4, "sector", "Space Mining"),
                           rejects=[(4, "sector", "'Space Mining' is not a known sector; allowed: Energy")]),
    "sector-case-and-spaces": Case(set_cell(4, "sector", "  energy "), check=_check_sector_canonical),
    "text-in-year": Case(set_cell(4, YEAR, "last year"), rejects=[(4, YEAR, "'last year' is not a year")]),
    "very-long-string": Case(set_cell(4, "company_name", "y" * 200_000), check=_check_long_name),
    "all-rows-invalid": Case(all_bad, rejects=[(r, "roa", "Return on assets is required") for r in range(1, N + 1)],
                             check=_check_all_rejected),
    "row-of-empty-fields": Case(only_delimiters, rejects=[(4, ID, "the company id is empty")] + [
        (4, f.name, f"{f.display_label} is required; fill it in") for f in DEMO_SPEC.features if f.required]),
    # -- the file's structure --------------------------------------------------------
    "ragged-row-too-many-fields": Case(ragged(+1), rejects=[(4, None, "this row has 47 fields but the header "
                                                                      "has 46")]),
    "ragged-row-too-few-fields": Case(ragged(-36), rejects=[(4, None, "this row has 10 fields but the header "
                                                                      "has 46; add the missing fields")]),
    "unclosed-quote": Case(raw_cell(4, "company_name", '"Acme Holdings'),
                           rejects=[(4, None, "a quote opened in this row is never closed")]),
    "newline-in-quoted-field": Case(set_cell(4, "company_name", "Acme\nHoldings"), check=_check_newline),
    "semicolon-decimal-comma": Case(semicolon_decimal_comma),
    "tab-delimited": Case(lambda t: dump(t, "\t")),
    "latin-1-bytes": Case(latin1_name, note="it was read as Windows-1252/Latin-1", check=_check_latin1),
    "utf-8-bom": Case(lambda t: b"\xef\xbb\xbf" + dump(t)),
    "utf-16": Case(utf16),
    "blank-lines-and-crlf": Case(blank_lines_and_crlf),
}


def read_back(data: bytes) -> list[list[str]]:
    return [list(r) for r in csv.reader(io.StringIO(data.decode("utf-8")))]


def test_there_are_at_least_25_hostile_cases():
    assert len(CASES) >= 25


def test_the_template_is_clean(lgbm_bundle, template):
    result = score_file(lgbm_bundle, dump(template))
    assert result.n_scored == N and result.n_rejected == 0


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_file(quick_bundle, template, name):
    case = CASES[name]
    data = case.make(template)
    if case.error is not None:
        cls, message = case.error
        with pytest.raises(cls) as err:
            score_file(quick_bundle, data)
        assert message in str(err.value)
        return
    result = score_file(quick_bundle, data)
    rejects = result.rejects
    assert list(rejects.columns) == REJECT_COLUMNS
    got = {(int(r), c if isinstance(c, str) else None) for r, c in zip(rejects["row"], rejects["column"])}
    assert got == {(r, c) for r, c, _ in case.rejects}, rejects.to_string()
    for r, c, fragment in case.rejects:
        where = (rejects["row"] == r) & (rejects["column"].isna() if c is None else rejects["column"] == c)
        problems = " | ".join(rejects.loc[where, "problem"])
        assert fragment in problems, problems
    # every other row was scored, and no row was both
    rejected_rows = {r for r, _, _ in case.rejects}
    expected = set(range(1, N + 1)) - rejected_rows - set(case.lost)
    assert set(result.scores["row"]) == expected
    assert len(result.scores) == len(expected)
    assert result.n_rows == N
    if case.note is not None:
        assert any(case.note in n for n in result.notes), result.notes
    if case.check is not None:
        case.check(result, template)
    # the valid rows score exactly as in the clean file
    clean = score_file(quick_bundle, dump(template)).scores.set_index("row")["p_default"]
    same = result.scores.set_index("row")["p_default"]
    unaffected = [r for r in same.index if r != 4 and name not in ("missing-optional-feature",
                                                                    "missing-id-column")]
    np.testing.assert_allclose(same.loc[unaffected], clean.loc[unaffected], rtol=1e-12)


def test_hostile_5000_columns_are_read_and_the_rows_scored(quick_bundle, template):
    """5,000 unknown columns beside the model's: ignored, every row still scored (benchmarks time the reading)."""
    result = score_file(quick_bundle, wide(template))
    assert len(result.scores) + len(result.rejects) == len(template) - 1 and len(result.scores) > 0


# ---------------------------------------------------------------------------
# what comes back
# ---------------------------------------------------------------------------

def test_output_columns_in_documented_order(quick_bundle, template):
    result = score_file(quick_bundle, dump(template))
    cols = list(result.scores.columns)
    assert cols[:3] == ["row", ID, YEAR]
    assert cols[3:3 + len(SCORE_COLUMNS)] == list(SCORE_COLUMNS)
    # the file's other columns follow, unchanged text
    assert "company_name" in cols and "roa" in cols
    s = result.scores
    assert s["roa"].tolist() == [r[col(template, "roa")] for r in template[1:]]
    assert (s["model_version"] == quick_bundle.version).all()


def test_decision_grade_risk_level_and_expected_loss(quick_bundle, small_portfolio):
    frame = small_portfolio.frame.drop_duplicates(subset=[ID, YEAR]).head(3000)
    result = score_frame(quick_bundle, frame)
    s = result.scores
    p = s["p_default"].to_numpy()
    assert ((p >= PD_FLOOR) & (p <= 1)).all()
    assert ((s["decision"] == "refer") == (p >= quick_bundle.threshold)).all()
    assert (s["grade"].to_numpy() == grade_of(p)).all()
    bounds = {g.name: (g.lower, g.upper) for g in MASTER_SCALE}
    assert all(bounds[g][0] <= max(x, PD_FLOOR) < bounds[g][1] for g, x in zip(s["grade"], p))
    levels = {g.name: g.level for g in MASTER_SCALE}
    assert (s["risk_level"] == s["grade"].map(levels)).all()
    ead = pd.to_numeric(s["exposure_eur"]).to_numpy()
    np.testing.assert_allclose(s["expected_loss"], p * quick_bundle.costs.lgd * ead)
    assert "Total expected loss" in result.summary()


def test_no_exposure_column_means_no_expected_loss(quick_bundle, template):
    result = score_file(quick_bundle, drop_column("exposure_eur")(template))
    assert result.n_scored == N
    assert result.scores["expected_loss"].isna().all()
    assert "Total expected loss" not in result.summary()


def test_fixed_risk_bands_and_explicit_lgd(quick_bundle, template):
    result = score_file(quick_bundle, dump(template), risk_bands="fixed", lgd=0.2)
    s = result.scores
    p = s["p_default"].to_numpy()
    assert (s.loc[p < 0.25, "risk_level"] == "Low").all()
    np.testing.assert_allclose(s["expected_loss"], p * 0.2 * pd.to_numeric(s["exposure_eur"]))


def test_a_file_column_named_like_an_output_column_is_noted(quick_bundle, template):
    rows = [template[0] + ["Grade", "row"]] + [r + ["AA", "x"] for r in template[1:]]
    result = score_file(quick_bundle, dump(rows))
    assert result.n_scored == N
    assert any("'Grade' has the name of an output column" in n for n in result.notes)
    assert any("'row' has the name of an output column" in n for n in result.notes)
    assert result.scores["row"].tolist() == list(range(1, N + 1))
    assert set(result.scores["grade"]) <= {g.name for g in MASTER_SCALE}


def test_unusual_values_are_flagged_not_rejected(quick_bundle, template):
    result = score_file(quick_bundle, set_cell(4, "receivables_days", "900")(template))
    assert result.n_rejected == 0
    flags = dict(zip(result.scores["row"], result.scores["flags"]))
    assert flags[4] == "unusual value: receivables_days=900"
    assert flags[3] == ""


def test_summary_counts_grades_and_rejects(quick_bundle, template):
    result = score_file(quick_bundle, set_cell(4, "roa", "abc")(template))
    text = result.summary()
    assert "Scored 19 of 20 rows" in text and "rejected 1" in text
    assert "Grades: " in text and "Rejected rows by column: roa (1)" in text
    dist = result.grade_distribution()
    assert list(dist["grade"]) == [g.name for g in MASTER_SCALE]
    assert dist["companies"].sum() == 19
    assert dist["share"].sum() == pytest.approx(1.0)


def test_progress_is_reported_from_start_to_done(quick_bundle, template):
    seen: list[tuple[float, str]] = []
    score_file(quick_bundle, dump(template), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("scoring rows" in m for _, m in seen)


def test_score_frame_accepts_a_typed_frame_and_a_text_table(quick_bundle, template):
    typed = pd.read_csv(io.BytesIO(dump(template)))
    assert pd.api.types.is_float_dtype(typed["roa"])
    from_typed = score_frame(quick_bundle, typed)
    from_table = score_frame(quick_bundle, read_table(dump(template)))
    np.testing.assert_allclose(from_typed.scores["p_default"], from_table.scores["p_default"], rtol=1e-12)
    assert from_typed.scores[YEAR].tolist() == [int(r[col(template, YEAR)]) for r in template[1:]]


def test_explain_adds_reasons_for_referred_companies(quick_bundle, small_portfolio):
    frame = small_portfolio.frame.drop_duplicates(subset=[ID, YEAR]).head(400)
    result = score_frame(quick_bundle, frame, explain=True)
    s = result.scores
    refer = s["decision"] == "refer"
    assert refer.any()
    assert (s.loc[refer, "reasons"].str.len() > 0).all()
    assert (s.loc[~refer, "reasons"] == "").all()
    assert s.loc[refer, "reasons"].str.split("; ").map(len).max() <= 4


# ---------------------------------------------------------------------------
# the CSV written back
# ---------------------------------------------------------------------------

def test_written_csv_neutralises_formulas_and_keeps_numbers(quick_bundle, template, tmp_path):
    rows = copy(template)
    rows[0][col(rows, "company_name")] = "=SUM(A1:A9)"
    rows[4][col(rows, ID)] = "=cmd|' /C calc'!A0"
    rows[5][col(rows, ID)] = "+41 79 000"
    rows[6][col(rows, ID)] = "@risk"
    rows[7][col(rows, "=SUM(A1:A9)")] = "\t=TAB"
    rows[8][col(rows, ID)] = "007"
    rows[9][col(rows, "roa")] = "-0.05"
    result = score_file(quick_bundle, dump(rows))
    out = tmp_path / "scores.csv"
    write_scores(result, out, tmp_path / "rejects.csv")
    back = list(csv.reader(out.open(encoding="utf-8", newline="")))
    header, body = back[0], {int(r[0]): r for r in back[1:]}
    assert "'=SUM(A1:A9)" in header
    idc = header.index(ID)
    assert body[4][idc] == "'=cmd|' /C calc'!A0"
    assert body[5][idc] == "'+41 79 000"
    assert body[6][idc] == "'@risk"
    assert body[7][header.index("'=SUM(A1:A9)")] == "'\t=TAB"
    assert body[8][idc] == "007"
    assert body[9][header.index("roa")] == "-0.05"
    assert float(body[9][header.index("p_default")]) > 0
    assert not any(c.startswith("'") for r in back[1:] for c in r[header.index("p_default"):][:2])


def test_rejects_csv_has_row_id_column_value_problem(quick_bundle, template, tmp_path):
    rows = copy(template)
    rows[4][col(rows, "roa")] = "=1+1"
    rows[6][col(rows, "debt_to_assets")] = "7"
    result = score_file(quick_bundle, dump(rows))
    path = tmp_path / "rejects.csv"
    write_scores(result, tmp_path / "scores.csv", path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(back.columns) == REJECT_COLUMNS
    assert back["row"].tolist() == ["4", "6"]
    assert back["value"].tolist() == ["'=1+1", "7.0"]
    assert back["id"].iloc[0] == f"{rows[4][0]} {rows[4][col(rows, YEAR)]}"


# ---------------------------------------------------------------------------
# one company
# ---------------------------------------------------------------------------

def _record(template: list[list[str]], row: int) -> dict[str, str]:
    return dict(zip(template[0], template[row]))


def test_score_one_equals_a_one_row_file(lgbm_bundle, template):
    for row in (1, 7, 13):
        record = _record(template, row)
        one = score_one(lgbm_bundle, record)
        batch = score_file(lgbm_bundle, dump([template[0], template[row]])).scores.iloc[0]
        for key in ("p_default", "score_raw", "expected_loss"):
            assert one[key] == pytest.approx(batch[key], rel=1e-12)
        for key in ("decision", "grade", "risk_level", "n_missing", "model_version"):
            assert one[key] == batch[key]


def test_score_one_reports_every_problem(lgbm_bundle, template):
    record = _record(template, 2) | {"roa": "abc", "sector": "Space", "debt_to_assets": 9, "interest_coverage": None}
    with pytest.raises(SchemaError) as err:
        score_one(lgbm_bundle, record)
    columns = {p.column for p in err.value.problems}
    assert columns == {"roa", "sector", "debt_to_assets", "interest_coverage"}
    text = str(err.value)
    assert "'abc' is not a number" in text and "'Space' is not a known sector" in text


def test_score_one_ignores_case_and_spaces_in_keys(lgbm_bundle, template):
    record = _record(template, 3)
    messy = {f" {k.upper()} ": v for k, v in record.items()}
    assert score_one(lgbm_bundle, messy)["p_default"] == score_one(lgbm_bundle, record)["p_default"]


# ---------------------------------------------------------------------------
# the hand-written fast pieces equal the library versions
# ---------------------------------------------------------------------------

def test_record_matrix_equals_the_frame_path(lgbm_bundle, template):
    from riskcore.serving.records import record_matrix, validate_record

    for row in (1, 4, 9):
        record = _record(template, row) | {"sector": "  ENERGY ", "quick_ratio": "", "esg_social": None}
        clean, problems = validate_record(lgbm_bundle.spec, record)
        assert not problems
        for values in (clean, clean | {"sector": None, "region": "Atlantis"}):  # a category missing or unknown
            np.testing.assert_array_equal(record_matrix(lgbm_bundle, values),
                                          lgbm_bundle.matrix(pd.DataFrame([values])))


@pytest.mark.parametrize("kind", ["lgbm_bundle", "quick_bundle"])
def test_model_columns_build_the_same_matrix_as_the_bundle(request, kind, small_portfolio):
    from riskcore.data.quality import prepare_frame
    from riskcore.modelling.features import add_panel_features
    from riskcore.serving.columns import ModelColumns

    bundle = request.getfixturevalue(kind)
    frame = small_portfolio.frame.drop(columns=["esg_social", "quick_ratio"]).head(500).copy()
    frame["sector"] = frame["sector"].astype(object)
    frame.loc[[3, 7], "sector"] = None
    frame.loc[[5], "region"] = "Atlantis"  # unknown: missing after preparation
    typed = prepare_frame(frame, DEMO_SPEC)
    prepared = add_panel_features(typed.frame, DEMO_SPEC)
    panel_names = [pf.name for pf in DEMO_SPEC.panel_features]
    rows = np.array([9, 3, 5, 7, 0, 499, 250])
    expected = prepared.iloc[rows][[c for c in DEMO_SPEC.feature_names if c in prepared]].isna().sum(axis=1)
    # categories encoded from their text, and from the positions prepare_frame found
    for codes in (None, typed.category_codes):
        columns = ModelColumns(bundle, prepared.drop(columns=panel_names), prepared[panel_names], codes)
        matrix, missing = columns.matrix(rows, rows)
        np.testing.assert_array_equal(matrix, bundle.matrix(prepared.iloc[rows]))
        np.testing.assert_array_equal(missing, expected.to_numpy())


@pytest.mark.parametrize("rejected", [[], [0], [3, 4, 5, 99], list(range(0, 100, 2))],
                         ids=["none", "first", "run-and-last", "every-other"])
def test_keeping_rows_by_slices_equals_take(rejected):
    from riskcore.serving.columns import keep_rows, true_runs

    values = pd.Series([None if i % 7 == 0 else f"v{i}" for i in range(100)], dtype="str")
    good = np.ones(100, dtype=bool)
    good[rejected] = False
    good_idx = np.flatnonzero(good)
    kept = keep_rows(values, good_idx, true_runs(good))
    assert pd.Series(kept).tolist() == values.take(good_idx).tolist()
    typed = pd.Series(np.arange(100.0))
    assert list(keep_rows(typed, good_idx, true_runs(good))) == typed.take(good_idx).tolist()


def test_category_matching_equals_a_dictionary_lookup():
    from riskcore.data.prepare import _match_categories

    categories = ("Energy", "Health Care", "Real Estate")
    cells = ["Energy", " energy ", "HEALTH CARE", "health  care", None, "", "Space", "real estate", "  "]
    folded, unknown, position = _match_categories(pd.Series(cells, dtype="str"), categories)
    canon = {c.casefold(): c for c in categories}
    expected = [None if c is None or not c.strip() else canon.get(c.strip().casefold()) for c in cells]
    assert list(folded) == expected
    assert list(unknown) == [c is not None and bool(c.strip()) and e is None for c, e in zip(cells, expected)]
    assert list(position) == [-1 if e is None else categories.index(e) for e in expected]


def test_output_label_columns_equal_the_grading_functions(lgbm_bundle, small_portfolio):
    from riskcore.evaluation.grading import risk_level_of

    frame = small_portfolio.frame.drop_duplicates(subset=[ID, YEAR]).head(2000)
    for bands in ("master", "fixed"):
        s = score_frame(lgbm_bundle, frame, risk_bands=bands).scores
        p = s["p_default"].to_numpy()
        assert s["grade"].tolist() == list(grade_of(p))
        assert s["risk_level"].tolist() == list(risk_level_of(p, bands))
        assert s["decision"].tolist() == ["refer" if x >= lgbm_bundle.threshold else "accept" for x in p]
        assert set(s["model_version"]) == {lgbm_bundle.version}


def test_panel_features_come_from_history_else_from_the_file(lgbm_bundle, small_portfolio):
    frame = small_portfolio.frame.drop_duplicates(subset=[ID, YEAR])
    company = frame[ID].iloc[0]
    rows = frame[frame[ID] == company].sort_values(YEAR).tail(2).reset_index(drop=True)
    with_history = score_frame(lgbm_bundle, rows).scores["p_default"].iloc[1]
    alone = score_frame(lgbm_bundle, rows.iloc[[1]]).scores["p_default"].iloc[0]
    delta = rows["roa"].iloc[1] - rows["roa"].iloc[0]
    given = score_frame(lgbm_bundle, rows.iloc[[1]].assign(ROA_delta=delta)).scores["p_default"].iloc[0]
    record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rows.iloc[1].items()}
    assert score_one(lgbm_bundle, record | {"roa_delta": delta})["p_default"] == given
    assert score_one(lgbm_bundle, record)["p_default"] == alone
    if with_history != alone:  # the history matters to this company's score …
        assert given != alone  # … and a file can give it too


def test_a_bad_panel_feature_value_is_a_reject(quick_bundle, template):
    rows = copy(template)
    rows[0].append("roa_delta")
    for i, r in enumerate(rows[1:], start=1):
        r.append("oops" if i == 4 else "0.01")
    result = score_file(quick_bundle, dump(rows))
    assert result.rejects[["row", "column"]].values.tolist() == [[4, "roa_delta"]]
    assert "'oops' is not a finite number" in result.rejects["problem"].iloc[0]


def test_time_column_keeps_whole_years_when_one_is_missing(quick_bundle, template):
    result = score_file(quick_bundle, set_cell(4, YEAR, "")(template))
    years = result.scores.set_index("row")[YEAR]
    assert pd.isna(years.loc[4]) and years.loc[3] == int(template[3][col(template, YEAR)])
    assert str(years.dtype) == "Int64"


def test_the_same_problem_reads_alike_in_a_file_and_in_score_one(lgbm_bundle, template):
    record = _record(template, 2) | {"roa": "abc"}
    with pytest.raises(SchemaError) as err:
        score_one(lgbm_bundle, record)
    from_file = score_file(lgbm_bundle, set_cell(2, "roa", "abc")(template)).rejects["problem"].iloc[0]
    assert err.value.problems[0].problem.split(";")[0] == from_file.split(";")[0] == "'abc' is not a number"


# -- the stages of score_frame ---------------------------------------------------

def test_check_columns_refuses_a_missing_required_column_and_notes_the_optional_ones(small_portfolio):
    from riskcore.data.quality import prepare_frame
    from riskcore.errors import MissingColumnError
    from riskcore.serving.scoring import _check_columns

    frame = small_portfolio.frame.head(20)
    notes: list[str] = []
    assert _check_columns(prepare_frame(frame.drop(columns=["esg_social"]), DEMO_SPEC), DEMO_SPEC, notes) == 1
    assert len(notes) == 1 and "'esg_social'" in notes[0]
    with pytest.raises(MissingColumnError, match="current_ratio"):
        _check_columns(prepare_frame(frame.drop(columns=["current_ratio"]), DEMO_SPEC), DEMO_SPEC, [])


def test_check_rows_keeps_the_rows_without_a_problem(small_portfolio):
    from riskcore.data.quality import prepare_frame
    from riskcore.serving.scoring import _check_rows

    frame = small_portfolio.frame.drop(columns=["default_12m"]).head(30).astype({"sector": object})
    frame.loc[4, "sector"] = "Space Mining"
    frame.loc[7, "company_id"] = None
    notes: list[str] = []
    checked = _check_rows(prepare_frame(frame, DEMO_SPEC), DEMO_SPEC, ".", None, notes)
    assert set(checked.rejects["row"]) >= {5, 8}
    assert not checked.good[[4, 7]].any() and checked.good_idx.tolist() == np.flatnonzero(checked.good).tolist()
    assert not checked.key_ok[7] and checked.key_ok[4]  # a rejected year still belongs to its company's history
    assert checked.has_id and checked.id_column == "company_id" and notes == []
