"""``python -m riskcore report``: the HTML and the PDF of one version, read back (pdftotext), and bad formats."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from riskcore.cli import main
from riskcore.lifecycle.report import SECTION_IDS


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKCORE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")


def test_the_report_command_writes_html_and_a_pdf_with_every_section(quick_bundle, env, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--model", str(quick_bundle.path), "--out", str(out), "--format", "html,pdf"]) == 0
    html = (out / f"model-report-{quick_bundle.version}.html").read_text(encoding="utf-8")
    pdf = out / f"model-report-{quick_bundle.version}.pdf"
    assert all(f'<section id="{sid}">' in html for sid in SECTION_IDS)
    assert "Wrote" in capsys.readouterr().out
    if shutil.which("pdftotext") is None:
        if os.environ.get("RISKCORE_REQUIRE_BROWSER"):
            pytest.fail("pdftotext (poppler-utils) is not installed")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert text.count("\f") >= 3  # pages
    assert quick_bundle.version in text
    for heading in ("Purpose", "Performance", "Limitations", "Sign-off"):
        assert heading.lower() in text.lower(), heading


def test_an_unknown_format_is_a_usage_error(quick_bundle, env, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--model", str(quick_bundle.path), "--out", str(tmp_path), "--format", "docx"])
    assert exit_.value.code == 2 and "choose html, pdf" in capsys.readouterr().err


def test_a_model_that_does_not_exist_exits_4(env, tmp_path, capsys):
    assert main(["report", "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")]) == 4
    assert "error:" in capsys.readouterr().err
