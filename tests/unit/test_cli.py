"""The CLI's exit statuses and messages: 0 clean, 1 problems found, 2 unusable input.

tests/unit/test_errors.py holds the whole table, one row per kind of error.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

from riskcore.cli import main


def run(*args, capsys):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_data_prints_rows_rate_and_oracle(tmp_path, capsys):
    out = tmp_path / "demo.csv"
    code, text, _ = run("demo-data", "--companies", "600", "--seed", "7", "--out", str(out), capsys=capsys)
    assert code == 0
    assert "rows" in text and "default rate" in text and "oracle AUC" in text
    assert out.exists() and (tmp_path / "demo.csv.manifest.json").exists()
    assert not (tmp_path / "demo.later.csv").exists()


def test_demo_data_writes_the_later_years_and_names_their_changes(tmp_path, capsys):
    out = tmp_path / "demo.csv"
    code, text, _ = run("demo-data", "--companies", "300", "--seed", "7", "--later-years", "2", "--out", str(out),
                        capsys=capsys)
    assert code == 0
    later = pd.read_csv(tmp_path / "demo.later.csv")
    outcomes = pd.read_csv(tmp_path / "demo.later_outcomes.csv")
    assert "default_12m" not in later.columns and "true_pd" not in later.columns
    assert list(outcomes.columns) == ["company_id", "fiscal_year", "default_12m", "true_pd"]
    assert len(later) == len(outcomes) and set(later["fiscal_year"]) == {2025, 2026}
    # the year-on-year features come as columns computed on the whole history: a company's first later
    # row has a delta whenever it was in the last training year
    first = later[later["fiscal_year"] == 2025]
    panel = pd.read_csv(out)
    known = first["company_id"].isin(panel.loc[panel["fiscal_year"] == 2024, "company_id"])
    assert known.any() and first.loc[known, "debt_to_assets_delta"].notna().all()
    manifest = json.loads((tmp_path / "demo.csv.manifest.json").read_text())
    assert (manifest["later_first_year"], manifest["later_last_year"]) == (2025, 2026)
    assert len(manifest["later_changes"]) == 3
    for change in manifest["later_changes"]:
        assert change["change"] in text


def test_demo_data_refuses_too_many_later_years(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["demo-data", "--later-years", "50", "--out", str(tmp_path / "demo.csv")])
    assert stop.value.code == 2 and "--later-years" in capsys.readouterr().err


def test_check_demo_reports_imperfections_and_exit_1(demo_csv, small_portfolio, capsys):
    code, text, _ = run("check", "--data", str(demo_csv), capsys=capsys)
    assert code == 1
    d = small_portfolio.manifest.impossible[0]
    assert f"{d['id']} {d['year']}" in text
    assert "duplicate_row" in text and "outlier" in text
    assert "Leakage checks" in text and "FAIL" not in text


def test_check_leaked_column_fails_b(demo_csv, tmp_path, capsys):
    leak = tmp_path / "leak.csv"
    text = demo_csv.read_text()
    leak.write_text(text.replace("true_pd", "internal_score", 1))
    code, out, _ = run("check", "--data", str(leak), capsys=capsys)
    assert code == 1
    fails = [line for line in out.splitlines() if line.strip().startswith("FAIL")]
    assert fails and all("internal_score" in line for line in fails)


def test_clean_file_exits_0(tmp_path, capsys):
    import numpy as np
    rng = np.random.default_rng(0)
    rows = ["id,x,y"] + [f"c{i},{rng.normal():.3f},{int(rng.random() < 0.2)}" for i in range(300)]
    path = tmp_path / "clean.csv"
    path.write_text("\n".join(rows) + "\n")
    code, out, _ = run("check", "--data", str(path), "--target", "y", "--id", "id", capsys=capsys)
    assert code == 0, out


@pytest.mark.parametrize("content,message", [
    (b"", "the file is empty"),
    (b"a,b,default\n", "header but no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV: it looks like a PNG image"),
    (b"a,b\n1,2\n", "target column 'default' is not in the file"),
])
def test_unusable_files_exit_2_with_a_message(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, _, err = run("check", "--data", str(path), "--target", "default", capsys=capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_missing_file_exit_2(tmp_path, capsys):
    code, _, err = run("check", "--data", str(tmp_path / "nope.csv"), capsys=capsys)
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("encode", ["semicolon", "bom"])
def test_semicolon_and_bom_files_are_read(tmp_path, capsys, encode):
    rows = ["id;x;y", *[f"c{i};{i % 7},5;{int(i % 9 == 0)}" for i in range(200)]]
    text = "\n".join(rows) + "\n"
    if encode == "bom":
        text = text.replace(";", ",").replace(",5,", ".5,")
        data = b"\xef\xbb\xbf" + text.encode()
    else:
        data = text.encode()
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    code, out, _ = run("check", "--data", str(path), "--target", "y", "--id", "id", capsys=capsys)
    assert code in (0, 1)
    assert ("semicolon-separated, decimal comma" in out) if encode == "semicolon" else ("UTF-8 with BOM" in out)
    assert "200 rows" in out


def test_help_lists_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for line in ("0 success", "1 the command ran and found problems", "2 the input cannot be used",
                 "3 a setting or option is invalid", "4 no model", "5 training stopped by a leakage check",
                 "6 the audit trail or the experiment store is unavailable"):
        assert line in text


def test_module_entry_point_has_no_traceback(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "riskcore", "check", "--data", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "empty" in proc.stderr


def test_train_says_which_columns_look_like_personal_data_before_it_trains(tmp_path, capsys):
    n = 60
    frame = pd.DataFrame({"customer": [f"K{i:03d}" for i in range(n)],
                          "contact_email": [f"owner{i % 5}@firm{i % 5}.example" for i in range(n)],
                          "turnover": [float(i) for i in range(n)], "defaulted": [0] * n})
    path = tmp_path / "own.csv"
    frame.to_csv(path, index=False)
    code, text, err = run("train", "--data", str(path), "--target", "defaulted", "--id", "customer", "--quick",
                          "--no-mlflow", capsys=capsys)
    assert code == 2, err  # a single class: nothing to learn, stopped after the warning
    assert "Personal data: 1 column(s) look like it:" in text
    assert "WARNING 'contact_email' (feature): 100% of its values (60) look like e-mail addresses, e.g. " \
           "o***@f***.example; a model would learn from personal data: leave it out (--drop contact_email)" in text
    assert "owner1@" not in text + err
