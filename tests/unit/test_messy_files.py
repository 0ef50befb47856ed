"""Messy files through the real CLI: a loan-level export, hostile demo files, Excel and Parquet.

Every command runs in-process through ``riskcore.cli.main`` with the state folder
(``RISKCORE_HOME``) and the audit trail under the test's own temporary folder. A
command must end with an integer exit status and a message, never a traceback.
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from messy import (
    LOAN_MONEY,
    LOAN_POST_OUTCOME,
    LoanColumns,
    cr_in_quoted_field,
    fiscal_year_as_date,
    loan_export,
    nul_in_cell,
    numbered_in_turn,
    parse_money,
    spreadsheet_headers,
    to_csv_bytes,
)

from riskcore.cli import build_parser, main
from riskcore.cli.common import roles_from_args
from riskcore.config import load_settings
from riskcore.data.quality import prepare_frame
from riskcore.serving.audit import AuditLog
from riskcore.workbench import load_dataset

LOAN = LoanColumns()
ROLES = ["--target", LOAN.target, "--positive", LOAN.positive, "--id", LOAN.id, "--time", LOAN.time]
NO_ID = ["--target", LOAN.target, "--positive", LOAN.positive, "--time", LOAN.time]  # each loan its own borrower
QUICK = ["--quick", "--no-mlflow", "--candidates", "logistic"]
ID, YEAR = "company_id", "fiscal_year"


def run(*args, capsys):
    """Run one command; return (exit status, stdout, stderr), insisting on an int status and no traceback."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert isinstance(code, int) and not isinstance(code, bool), f"exit status {code!r} is not an int"
    assert "Traceback" not in out.out and "Traceback" not in out.err, out.err
    return code, out.out, out.err


@pytest.fixture
def home(tmp_path, monkeypatch):
    """State folder and audit trail under the test's temporary folder; no MLflow server."""
    path = tmp_path / "home"
    monkeypatch.setenv("RISKCORE_HOME", str(path))
    monkeypatch.setenv("RISKCORE_AUDIT_URL", "sqlite:///" + str(tmp_path / "audit.db"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return path


@pytest.fixture(scope="module")
def loan_frame():
    return loan_export(3000, seed=0)


@pytest.fixture(scope="module")
def loan_csv(loan_frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("loans") / "loan.csv"
    path.write_bytes(to_csv_bytes(loan_frame))
    return path


@pytest.fixture(scope="module")
def numbered_csv(loan_frame, tmp_path_factory):
    """The export with its loan number handed out in approval order (not named as the id) and a share ratio."""
    path = tmp_path_factory.mktemp("loans") / "numbered.csv"
    path.write_bytes(to_csv_bytes(numbered_in_turn(loan_frame)))
    return path


def _fail_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip().upper().startswith("FAIL")]


# ---------------------------------------------------------------------------
# the loan-level export
# ---------------------------------------------------------------------------

def test_loan_export_has_the_traits_it_documents(loan_frame):
    f = loan_frame
    assert len(f) == 3000 and f[LOAN.id].is_unique
    assert all(f[c].map(type).eq(str).all() for c in f.columns)
    assert f["City"].nunique() >= 300 and f["State"].nunique() == 50 and 150 <= f["Bank"].nunique() <= 200
    years = f[LOAN.time].astype(int)
    assert years.min() == 1970 and years.max() == 2014 and years.nunique() == 45
    early = years.value_counts().sort_index().iloc[:8]
    assert early.between(1, 3).all()
    assert (years >= 2000).mean() > 0.7
    assert f["ApprovalDate"].str.fullmatch(r"\d{2}-[A-Z][a-z]{2}-\d{2}").all()
    assert all(f[c].str.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d{2}").all() for c in (*LOAN_MONEY, "ChgOffPrinGr"))
    assert set(f["RevLineCr"]) == {"Y", "N", "0", "T"} and set(f["LowDoc"]) == {"Y", "N"}
    assert set(f[LOAN.guarantor]) == {"none", "personal", "corporate"}
    y = f[LOAN.target].eq(LOAN.positive).to_numpy()
    assert set(f[LOAN.target]) == {LOAN.positive, LOAN.negative} and 0.12 <= y.mean() <= 0.18
    charged = parse_money(f["ChgOffPrinGr"])
    assert (charged[~y] == 0).all() and (charged[y] > 0).all()
    assert (f["ChgOffDate"][~y] == "").all() and (f["ChgOffDate"][y] != "").all()
    approved = pd.to_datetime(f["ApprovalDate"][y], format="%d-%b-%y")
    assert (pd.to_datetime(f["ChgOffDate"][y], format="%d-%b-%y") > approved).all()
    assert loan_export(3000, seed=0).equals(f)


def test_check_names_both_post_outcome_columns_as_failing(loan_csv, home, capsys):
    code, out, _ = run("check", "--data", loan_csv, *ROLES, capsys=capsys)
    assert code == 1
    fails = _fail_lines(out)
    for col in LOAN_POST_OUTCOME:
        assert any(col in line for line in fails), f"no failing leakage check names {col!r}:\n{out}"


def test_money_is_read_as_numbers_and_none_is_a_guarantor_level(loan_csv, loan_frame, home, capsys):
    args = build_parser().parse_args(["check", "--data", str(loan_csv), *ROLES])
    dataset = load_dataset(str(loan_csv), roles_from_args(args))
    table, spec = dataset.table, dataset.spec
    kinds = {f.name: f.kind for f in spec.features}
    for col in LOAN_MONEY:
        assert kinds.get(col) == "numeric", f"{col!r} was not read as a number: {kinds.get(col)!r}"
    assert kinds.get(LOAN.guarantor) == "categorical"
    assert {"none", "personal", "corporate"} <= set(spec.feature(LOAN.guarantor).categories)
    prepared = prepare_frame(table, spec)
    for col in LOAN_MONEY:
        np.testing.assert_allclose(prepared.frame[col].to_numpy(dtype=float), parse_money(loan_frame[col]))
    guarantor = prepared.frame[LOAN.guarantor]
    assert guarantor.notna().all()
    assert (guarantor.astype(str) == "none").sum() == (loan_frame[LOAN.guarantor] == "none").sum()

    code, out, _ = run("check", "--data", loan_csv, *ROLES, capsys=capsys)
    assert code == 1
    for col in LOAN_MONEY:
        assert not [line for line in out.splitlines() if f"[{col}]" in line and "not a number" in line], out
    about_guarantor = [line for line in out.splitlines() if f"[{LOAN.guarantor}]" in line]
    assert not [line for line in about_guarantor if re.search(r"\b(missing|constant)\b", line)], about_guarantor


def test_train_refuses_the_post_outcome_columns(loan_csv, home, capsys):
    code, out, err = run("train", "--data", loan_csv, *ROLES, *QUICK, capsys=capsys)
    assert code != 0
    for col in LOAN_POST_OUTCOME:
        assert col in out + err, f"the refusal does not name {col!r}:\n{out}\n{err}"


def test_train_without_them_splits_out_of_time_with_an_honest_auc(numbered_csv, home, capsys):
    from riskcore.modelling.bundle import load_bundle

    code, out, err = run("train", "--data", numbered_csv, *NO_ID, *QUICK, "--drop", *LOAN_POST_OUTCOME,
                         capsys=capsys)
    assert code == 0, err
    assert re.search(r"^Split: out-of-time\b", out, re.M), out
    auc = float(re.search(r"^Test \(out of sample[^\n]*?AUC (\d\.\d+)", out, re.M).group(1))
    assert 0.55 <= auc <= 0.95, out
    bundle = load_bundle(re.search(r"^Bundle: (.+)$", out, re.M).group(1).strip())
    assert not set(LOAN_POST_OUTCOME) & set(bundle.spec.model_inputs)
    assert bundle.spec.feature(LOAN.guarantor).kind == "categorical"
    # the sequential loan number is not a feature, and the summary says why; the share ratio is one
    assert "LoanNr" not in bundle.spec.model_inputs and "SBA_Share" in bundle.spec.model_inputs
    assert re.search(r"^Note: 'LoanNr' was left out of the features: 3,000 distinct whole numbers .* rises with the "
                     r"time column 'ApprovalFY'", out, re.M), out
    assert "LoanNr" in bundle.spec.never and any(n.startswith("'LoanNr' was left out") for n in bundle.spec.notes)


def test_a_sequential_loan_number_is_left_out_named_and_still_screened_for_leakage(numbered_csv, home, capsys):
    code, out, _ = run("check", "--data", numbered_csv, *NO_ID, "--drop", *LOAN_POST_OUTCOME, capsys=capsys)
    assert code in (0, 1)
    assert re.search(r"^\s*note: 'LoanNr' was left out of the features: .*--feature LoanNr", out, re.M | re.I), out
    from riskcore.workbench import Workbench

    bench = Workbench()
    args = build_parser().parse_args(["check", "--data", str(numbered_csv), *NO_ID, "--drop", *LOAN_POST_OUTCOME])
    check = bench.check(bench.load(str(numbered_csv), roles_from_args(args)))
    assert any(n.startswith("'LoanNr' was left out") for n in check.report.notes)  # the Data quality page's notes
    screened = check.leakage.feature_auc.set_index("column")
    assert "LoanNr" in screened.index and "SBA_Share" in screened.index
    post_event = next(f for f in check.leakage.findings if f.check == "post_event")
    assert post_event.status == "pass" and "LoanNr" in post_event.detail  # excluded by the spec, named
    named = build_parser().parse_args(["check", "--data", str(numbered_csv), *NO_ID, "--feature", "LoanNr"])
    assert "LoanNr" in load_dataset(str(numbered_csv), roles_from_args(named)).spec.feature_names


# ---------------------------------------------------------------------------
# hostile files in the demo layout, scored with the session's quick model
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_rows(small_portfolio):
    """40 companies of the latest year, as a user would send them for scoring (no outcome)."""
    frame = small_portfolio.frame
    latest = frame[frame[YEAR] == frame[YEAR].max()].drop(columns=["default_12m", "true_pd"])
    return latest.head(40).reset_index(drop=True)


def _score(bundle, source, out, capsys, *extra):
    code, text, err = run("score", "--model", bundle.path, "--input", source, "--output", out, *extra, capsys=capsys)
    assert code in (0, 1), err
    return code, text, err


def _scores(path) -> pd.DataFrame:
    if str(path).endswith(".parquet"):
        return pq.read_table(path).to_pandas()
    return pd.read_csv(path, dtype={ID: str, "row": int})


def _score_plain_csv(quick_bundle, demo_rows, tmp_path, capsys, output: str) -> pd.DataFrame:
    """The demo rows written as a plain CSV and scored to ``output`` (a name under ``tmp_path``)."""
    path = tmp_path / "plain.csv"
    path.write_bytes(to_csv_bytes(demo_rows))
    _score(quick_bundle, path, tmp_path / output, capsys)
    scores = _scores(tmp_path / output)
    assert len(scores) >= 35, "the plain demo rows should nearly all be scored"
    return scores


@pytest.fixture
def baseline(quick_bundle, demo_rows, tmp_path, home, capsys):
    """Scores of the plain CSV (``company_id`` → ``p_default``)."""
    return _score_plain_csv(quick_bundle, demo_rows, tmp_path, capsys, "plain_scores.csv").set_index(ID)["p_default"]


def test_spreadsheet_headers_are_matched(quick_bundle, demo_rows, baseline, tmp_path, capsys):
    hostile = spreadsheet_headers(demo_rows)
    assert "COMPANY ID" in hostile and "Current Ratio" in hostile and "Return on assets" in hostile
    path = tmp_path / "headers.csv"
    path.write_bytes(to_csv_bytes(hostile))
    _score(quick_bundle, path, tmp_path / "o.csv", capsys)
    scores = _scores(tmp_path / "o.csv")
    assert len(scores) == len(baseline)
    got = scores.set_index(ID)["p_default"] if ID in scores else scores.set_index("COMPANY ID")["p_default"]
    pd.testing.assert_series_equal(got.sort_index(), baseline.sort_index(), check_names=False, rtol=1e-9)


def test_fiscal_year_as_a_date_is_scored_and_audited(quick_bundle, demo_rows, baseline, tmp_path, capsys):
    path = tmp_path / "dated.csv"
    path.write_bytes(to_csv_bytes(fiscal_year_as_date(demo_rows)))
    assert b"-12-31," in path.read_bytes()
    _score(quick_bundle, path, tmp_path / "o.csv", capsys)
    scores = _scores(tmp_path / "o.csv")
    assert len(scores) == len(baseline)
    pd.testing.assert_series_equal(scores.set_index(ID)["p_default"].sort_index(), baseline.sort_index(),
                                   check_names=False, rtol=1e-9)
    log = AuditLog.from_settings(load_settings())
    assert log.count() == 2 * len(baseline)  # the plain file's scores, then these
    assert log.verify().ok
    code, text, _ = run("audit", "verify", capsys=capsys)
    assert code == 0 and "chain intact" in text


def test_a_carriage_return_in_a_quoted_field_keeps_the_row_count(quick_bundle, demo_rows, baseline, tmp_path,
                                                                 capsys):
    path = tmp_path / "cr.csv"
    path.write_bytes(cr_in_quoted_field(demo_rows, "company_name", row=3))
    _, text, _ = _score(quick_bundle, path, tmp_path / "o.csv", capsys)
    assert f"of {len(demo_rows)} rows" in text
    scores = _scores(tmp_path / "o.csv")
    assert len(scores) == len(baseline)
    assert sorted(scores[ID]) == sorted(baseline.index)


def test_a_nul_byte_rejects_only_its_row(quick_bundle, demo_rows, baseline, tmp_path, capsys):
    row = 6  # 0-based frame row: data row 7 of the file
    assert demo_rows.loc[row, ID] in baseline.index
    path = tmp_path / "nul.csv"
    path.write_bytes(nul_in_cell(demo_rows, "company_name", row))
    code, text, _ = _score(quick_bundle, path, tmp_path / "o.csv", capsys)
    assert code == 1
    assert f"of {len(demo_rows)} rows" in text
    rejects = pd.read_csv(tmp_path / "o.rejects.csv", dtype={"row": int})
    assert row + 1 in set(rejects["row"])
    scores = _scores(tmp_path / "o.csv")
    assert row + 1 not in set(scores["row"])
    assert sorted(scores[ID]) == sorted(set(baseline.index) - {demo_rows.loc[row, ID]})


# ---------------------------------------------------------------------------
# Excel and Parquet
# ---------------------------------------------------------------------------

def _assert_same_scores(path, expected: pd.DataFrame) -> None:
    assert path.read_bytes()[:4] == b"PAR1", f"{path.name} is not Parquet"
    got = _scores(path)
    assert list(got[ID].astype(str)) == list(expected[ID].astype(str))
    np.testing.assert_allclose(got["p_default"].to_numpy(), expected["p_default"].to_numpy(), rtol=1e-9)


@pytest.fixture
def csv_scores_parquet(quick_bundle, demo_rows, tmp_path, home, capsys):
    """The demo rows scored from CSV, written as Parquet by ``score --output x.parquet``."""
    scores = _score_plain_csv(quick_bundle, demo_rows, tmp_path, capsys, "csv_scores.parquet")
    assert {"row", ID, "p_default", "decision", "grade"} <= set(scores.columns)
    assert pd.api.types.is_float_dtype(scores["p_default"])
    return scores


def test_parquet_input_scores_like_the_csv(quick_bundle, demo_rows, csv_scores_parquet, tmp_path, capsys):
    path = tmp_path / "rows.parquet"
    demo_rows.to_parquet(path, index=False)
    _score(quick_bundle, path, tmp_path / "parquet_scores.parquet", capsys)
    _assert_same_scores(tmp_path / "parquet_scores.parquet", csv_scores_parquet)


@pytest.mark.skipif(importlib.util.find_spec("openpyxl") is None,
                    reason="openpyxl is not installed, so pandas cannot write the .xlsx workbook")
def test_excel_input_scores_like_the_csv(quick_bundle, demo_rows, csv_scores_parquet, tmp_path, capsys):
    path = tmp_path / "rows.xlsx"
    demo_rows.to_excel(path, index=False, sheet_name="Portfolio")
    _score(quick_bundle, path, tmp_path / "xlsx_scores.parquet", capsys)
    _assert_same_scores(tmp_path / "xlsx_scores.parquet", csv_scores_parquet)
