"""The audited scoring service: one function that validates, scores, records and writes, for every face."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from models import demo_panel, quick

from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import read_table, write_csv
from riskcore.errors import AuditError, SchemaError
from riskcore.serving.audit import AuditLog
from riskcore.serving.companies import score_companies
from riskcore.serving.scoring import score_file
from riskcore.workflows import check_file, score_and_record, train_file

ID, YEAR = "company_id", "fiscal_year"


@pytest.fixture(scope="module")
def panel(small_portfolio):
    """Three fiscal years of 80 companies, sorted by company (a company's rows next to each other)."""
    frame = small_portfolio.frame.drop(columns=["default_12m", "true_pd"])
    last = frame[YEAR].max()
    ids = frame[ID].drop_duplicates().head(80)
    out = frame[frame[ID].isin(ids) & (frame[YEAR] > last - 3)]
    return out.sort_values([ID, YEAR], kind="stable").reset_index(drop=True)


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    write_csv(frame, buffer)
    return buffer.getvalue()


@pytest.fixture
def audit(tmp_path):
    return AuditLog("sqlite:///" + str(tmp_path / "audit.db"))


def _by_key(scores: pd.DataFrame) -> pd.Series:
    return scores.assign(key=scores[ID].astype(str) + " " + scores[YEAR].astype(str)).set_index("key")["p_default"]


@pytest.mark.parametrize("chunk_rows", [7, 50, 100_000])
def test_chunked_scoring_equals_scoring_in_one_piece(quick_bundle, panel, audit, tmp_path, chunk_rows):
    data = _csv(panel)
    whole = score_file(quick_bundle, data)
    out = tmp_path / "scores.csv"
    job = score_and_record(quick_bundle, data, audit=audit, face="cli", output=out, chunk_rows=chunk_rows)
    written = pd.read_csv(out, dtype={ID: str})
    assert job.n_scored == whole.n_scored == len(written) == audit.count()
    assert job.n_rows == whole.n_rows == len(panel)
    # the panel features need each company's earlier years: chunks never cut a company's rows apart
    # equal up to the last bits a matrix product on a different number of rows may change
    np.testing.assert_allclose(_by_key(written).sort_index().to_numpy(),
                               _by_key(whole.scores).sort_index().to_numpy(), rtol=1e-12, atol=0)
    assert written["row"].tolist() == whole.scores["row"].tolist()
    assert job.summary() == whole.summary()
    assert audit.verify().ok


@pytest.mark.parametrize("part_rows", [1_000_000, 37])
def test_a_file_sorted_by_year_gathers_histories_first_and_scores_the_same(quick_bundle, panel, audit, tmp_path,
                                                                          monkeypatch, part_rows):
    from riskcore.serving.history import FileHistory

    monkeypatch.setattr(FileHistory, "_PART_ROWS", part_rows)  # 37: the histories are split over several parts
    parts = []
    real_solve = FileHistory._solve
    monkeypatch.setattr(FileHistory, "_solve", lambda self, p: parts.append(p) or real_solve(self, p))
    by_year = panel.sort_values([YEAR, ID], kind="stable").reset_index(drop=True)
    data = _csv(by_year)
    whole = score_file(quick_bundle, data)
    job = score_and_record(quick_bundle, data, audit=audit, face="cli", output=tmp_path / "s.csv", chunk_rows=40)
    written = pd.read_csv(tmp_path / "s.csv", dtype={ID: str})
    assert written["row"].tolist() == whole.scores["row"].tolist()
    # a row's panel features depend on its own company's rows only
    np.testing.assert_allclose(written["p_default"].to_numpy(), whole.scores["p_default"].to_numpy(), rtol=1e-12,
                               atol=0)
    assert any("sorting it by company id" in n for n in job.notes)
    assert "history" in job.timings
    assert (len(parts) > 3) == (part_rows < len(panel))
    # the aborted first pass left nothing in the audit trail: each score is recorded once
    assert audit.count() == whole.n_scored
    assert audit.verify().ok


@pytest.mark.parametrize("part_rows", [1_000_000, 29])
def test_repeated_keys_far_apart_are_rejected_as_in_one_piece(quick_bundle, panel, audit, tmp_path, monkeypatch,
                                                              part_rows):
    from riskcore.serving.history import FileHistory

    monkeypatch.setattr(FileHistory, "_PART_ROWS", part_rows)
    by_year = panel.sort_values([YEAR, ID], kind="stable").reset_index(drop=True)
    copy = pd.concat([by_year, by_year.iloc[[2]]], ignore_index=True)  # row 3 again, at the end
    broken = copy.astype({"sector": object})
    broken.loc[5, "sector"] = "Space Mining"  # a rejected year still belongs to its company's history
    data = _csv(broken)
    whole = score_file(quick_bundle, data)
    job = score_and_record(quick_bundle, data, audit=audit, face="cli", output=tmp_path / "s.csv", chunk_rows=25)
    assert job.rejects[["row", "column", "problem"]].values.tolist() == \
        whole.rejects[["row", "column", "problem"]].values.tolist()
    assert len(broken) in set(job.rejects["row"]) and "as row 3" in job.rejects["problem"].iloc[-1]
    written = pd.read_csv(tmp_path / "s.csv", dtype={ID: str})
    np.testing.assert_allclose(written["p_default"].to_numpy(), whole.scores["p_default"].to_numpy(), rtol=1e-12,
                               atol=0)


def test_parquet_output_and_kept_rows(quick_bundle, panel, audit, tmp_path):
    data = _csv(panel)
    job = score_and_record(quick_bundle, data, audit=audit, face="dashboard", output=tmp_path / "s.parquet",
                           keep=True, chunk_rows=60)
    table = pq.read_table(tmp_path / "s.parquet").to_pandas()
    assert len(table) == job.n_scored == len(job.result.scores)
    np.testing.assert_allclose(table["p_default"].to_numpy(), job.result.scores["p_default"].to_numpy())
    assert len(job.result.inputs) == job.n_scored


def test_rejects_are_reported_across_chunks(quick_bundle, panel, audit, tmp_path):
    broken = panel.astype({"roa": object}).copy()
    last = len(broken) - 5
    broken.loc[[3, last], "roa"] = "abc"
    job = score_and_record(quick_bundle, _csv(broken), audit=audit, face="cli", output=tmp_path / "s.csv",
                           chunk_rows=40)
    assert set(job.rejects["row"]) == {4, last + 1}
    assert job.rejects_path == tmp_path / "s.rejects.csv" and job.rejects_path.exists()
    assert audit.count() == job.n_scored == len(panel) - 2


class _FailingBatch:
    """An audit batch whose store fails after ``ok`` chunks."""

    def __init__(self, inner, ok):
        self.inner, self.ok, self.request_id = inner, ok, inner.request_id

    def add(self, *args, **kwargs):
        if self.ok <= 0:
            raise AuditError("the audit store went away")
        self.ok -= 1
        return self.inner.add(*args, **kwargs)

    def commit(self):
        if self.ok < 0:
            raise AuditError("the audit store went away")
        return self.inner.commit()

    def abort(self):
        self.inner.abort()


@pytest.mark.parametrize("ok_chunks", [0, 2])
def test_an_audit_failure_midway_leaves_no_output_and_no_request(quick_bundle, panel, audit, tmp_path,
                                                                  monkeypatch, ok_chunks):
    real = audit.batch
    monkeypatch.setattr(audit, "batch", lambda **kw: _FailingBatch(real(**kw), ok_chunks))
    out = tmp_path / "scores.csv"
    with pytest.raises(AuditError, match="went away"):
        score_and_record(quick_bundle, _csv(panel), audit=audit, face="cli", output=out, chunk_rows=30)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "audit.db"] or \
        all(p.name.startswith("audit.db") for p in tmp_path.iterdir())
    assert audit.count() == 0
    assert audit.verify().ok


def test_a_read_only_audit_store_stops_before_any_work(quick_bundle, panel, tmp_path):
    path = tmp_path / "audit.db"
    AuditLog("sqlite:///" + str(path)).count()  # create it
    ro = AuditLog(f"sqlite:///file:{path}?mode=ro&uri=true")
    out = tmp_path / "scores.csv"
    with pytest.raises(AuditError):
        score_and_record(quick_bundle, _csv(panel), audit=ro, face="cli", output=out)
    assert not out.exists()


def test_a_missing_required_column_is_a_schema_error_and_nothing_is_recorded(quick_bundle, panel, audit,
                                                                             tmp_path):
    required = next(f.name for f in quick_bundle.spec.features if f.required)
    with pytest.raises(SchemaError, match=required):
        score_and_record(quick_bundle, _csv(panel.drop(columns=[required])), audit=audit, face="cli",
                         output=tmp_path / "s.csv")
    assert audit.count() == 0 and not (tmp_path / "s.csv").exists()


def test_a_frame_is_scored_like_its_file(quick_bundle, panel, audit):
    job = score_and_record(quick_bundle, panel, audit=audit, face="api", keep=True)
    from_file = score_file(quick_bundle, _csv(panel))
    np.testing.assert_allclose(job.result.scores["p_default"].to_numpy(), from_file.scores["p_default"].to_numpy())
    assert audit.count() == job.n_scored


def test_score_companies_records_the_valid_ones_in_one_request(quick_bundle, panel, audit):
    table = read_table(_csv(panel.head(3)))
    records = table.frame.to_dict(orient="records")
    records[1] = {**records[1], "roa": "abc"}
    done = score_companies(quick_bundle, records, audit=audit, face="api", caller="key-1", explain=True)
    assert [i for i, _ in done.results] == [0, 2]
    assert [i for i, _ in done.problems] == [1] and "roa" in str(done.problems[0][1])
    assert audit.count() == 2
    rows = audit.recent(10)
    assert set(rows["request_id"]) == {done.request_id}
    assert set(rows["company_id"]) == {records[0][ID], records[2][ID]}
    assert all(len(r) > 0 for r in rows["reasons"])


def test_a_file_without_a_scorable_row_writes_the_header_and_every_reject(quick_bundle, panel, audit, tmp_path):
    broken = panel.head(5).astype({"roa": object})
    broken["roa"] = "abc"
    out = tmp_path / "s.csv"
    job = score_and_record(quick_bundle, _csv(broken), audit=audit, face="cli", output=out)
    assert job.n_scored == 0 and job.n_rejected == 5
    written = pd.read_csv(out)
    assert len(written) == 0 and {"p_default", "grade", "decision"} <= set(written.columns)
    assert len(pd.read_csv(job.rejects_path)) == 5
    assert audit.count() == 0


# ---------------------------------------------------------------- checking a file

@pytest.fixture(scope="module")
def little():
    from riskcore.data.synth import generate_portfolio

    return generate_portfolio(200, seed=7)


def test_check_data_reports_quality_split_and_leakage(little):
    from riskcore.data.tabular import write_csv

    buffer = io.BytesIO()
    write_csv(little.frame, buffer)
    check = check_file(read_table(buffer.getvalue()), DEMO_SPEC, leakage=True)
    assert check.report.n_rows == len(little.frame)
    assert list(check.split_summary["part"]) == ["train", "validation", "test"]
    assert check.split_summary["rows"].sum() < len(little.frame)  # duplicates were removed, as in training
    checks = {f.check for f in check.leakage.findings}
    assert {"too_good", "post_event", "key_overlap", "shift"} <= checks
    assert len(check.leakage.feature_auc) and len(check.leakage.shift)
    quick = check_file(little.frame, DEMO_SPEC, leakage=False)
    assert quick.leakage is None and quick.split_summary is not None


def test_check_data_leaves_columns_empty_in_training_out_of_the_leakage_checks(little):
    # one fiscal year: every year-on-year change and volatility is empty (scikit-learn cannot fit on it)
    frame = little.frame[little.frame["fiscal_year"] == little.frame["fiscal_year"].max()]
    check = check_file(frame, DEMO_SPEC, leakage=True)
    assert check.leakage is not None
    note = next(n for n in check.notes if "left out of the leakage checks" in n)
    assert "roa_delta" in note
    assert "roa_delta" not in set(check.leakage.feature_auc["column"])


def test_check_data_without_a_target_explains_why_there_is_no_split(little):
    frame = little.frame.drop(columns=["default_12m"])
    check = check_file(frame, DEMO_SPEC)
    assert check.split_summary is None and check.leakage is None
    assert "default_12m" in check.notes[0]



def test_check_without_enough_defaults_says_why_and_counts_as_a_problem(little):
    frame = little.frame.assign(default_12m=0)
    frame.loc[frame.index[:2], "default_12m"] = 1
    check = check_file(frame, DEMO_SPEC)
    assert check.split is None and check.leakage is None and check.has_target
    assert check.skipped is not None and "2 default(s)" in check.skipped
    assert check.has_problems


def test_dropped_columns_are_not_checked_for_leakage(little):
    leaky = little.frame.assign(internal_score=little.frame["true_pd"])
    kept = check_file(leaky, DEMO_SPEC)
    assert "internal_score" in kept.leakage.failed_columns
    dropped = check_file(leaky, DEMO_SPEC, drop=["internal_score"])
    assert "internal_score" not in dropped.leakage.failed_columns
    assert "internal_score" not in set(dropped.leakage.feature_auc["column"])


def _cli_check(path, capsys, monkeypatch, *options):
    """Run ``python -m riskcore check`` on a file; return its exit status and the DataCheck it printed."""
    import riskcore.workbench.bench
    from riskcore.cli import build_parser, main
    from riskcore.cli.common import roles_from_args
    from riskcore.workbench import Workbench

    seen = []
    real = riskcore.workbench.bench.check_file
    monkeypatch.setattr(riskcore.workbench.bench, "check_file",
                        lambda *a, **kw: seen.append(real(*a, **kw)) or seen[-1])
    code = main(["check", "--data", str(path), *options])
    capsys.readouterr()
    args = build_parser().parse_args(["check", "--data", str(path), *options])
    spec = Workbench().load(str(path), roles_from_args(args)).spec
    return code, seen[0], spec


def _same_findings(a, b):
    assert a.report.to_text() == b.report.to_text()
    assert a.notes == b.notes and a.skipped == b.skipped
    assert a.split_summary is not None and b.split_summary is not None
    pd.testing.assert_frame_equal(a.split_summary, b.split_summary)
    assert [f.as_dict() for f in a.leakage.findings] == [f.as_dict() for f in b.leakage.findings]
    pd.testing.assert_frame_equal(a.leakage.feature_auc, b.leakage.feature_auc)


@pytest.mark.parametrize("variant", ["demo", "spreadsheet_headers", "year_as_date"])
def test_the_cli_and_the_dashboard_give_the_same_findings_for_the_same_file(small_portfolio, demo_csv, tmp_path,
                                                                            capsys, monkeypatch, variant):
    from messy import fiscal_year_as_date, spreadsheet_headers, to_csv_bytes

    from dashboard import state

    path, options = demo_csv, ()
    if variant != "demo":
        messy = spreadsheet_headers if variant == "spreadsheet_headers" else fiscal_year_as_date
        path = tmp_path / f"{variant}.csv"
        path.write_bytes(to_csv_bytes(messy(small_portfolio.frame)))
    if variant == "spreadsheet_headers":  # not the demo layout by name: the user names the roles
        options = ("--target", "default_12m", "--id", "COMPANY ID", "--time", "Fiscal Year")
    code, from_cli, spec = _cli_check(path, capsys, monkeypatch, *options)
    from_dashboard = state.data_check(str(path), path.stat().st_mtime, spec, f"test-{variant}", True)
    _same_findings(from_cli, from_dashboard)
    if not options:  # the dashboard checks the demo layout's panel features too, and so does the command now
        assert "roa_delta" in set(from_cli.leakage.feature_auc["column"])
    else:  # the known true PD left in an export is caught on both faces
        assert "true_pd" in from_cli.leakage.failed_columns
    assert code == (1 if from_cli.has_problems else 0)


def test_train_file_reads_a_path_and_records_its_source(model_cache, tmp_path):
    from riskcore.config import load_settings
    from riskcore.data.schema import DEMO_SPEC as SPEC

    path = tmp_path / "portfolio.csv"
    write_csv(demo_panel(model_cache).frame, path)
    settings = load_settings()
    config = quick("logistic")
    result = train_file(path, SPEC, settings=settings, config=config)
    assert result.bundle_dir.exists()
    assert result.metrics["data"]["source"] == str(path.resolve())


def test_open_model_reads_a_folder_or_the_champion(quick_training, quick_bundle, tracker, monkeypatch, tmp_path):
    from riskcore.config import load_settings
    from riskcore.errors import ModelNotFoundError
    from riskcore.serving.opening import open_model

    assert open_model(quick_bundle.path, load_settings()).version == quick_bundle.version
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracker.tracking_uri)
    assert open_model("champion", load_settings()).version == open_model(None, load_settings()).version
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(tmp_path / "empty.db"))
    with pytest.raises(ModelNotFoundError):
        open_model(None, load_settings())


def test_open_model_finds_a_version_trained_on_another_host_through_the_registry(quick_training, tracker,
                                                                                  monkeypatch, tmp_path):
    from riskcore.config import load_settings
    from riskcore.errors import BundleError
    from riskcore.serving.opening import open_model

    # this host's state folder holds no bundle; the registry knows where the version is (or downloads it)
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "other-host"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracker.tracking_uri)
    opened = open_model(quick_training.model_version, load_settings())
    assert opened.version == quick_training.model_version
    with pytest.raises(BundleError, match="no model bundle at 'logistic-19990101T000000Z'"):
        open_model("logistic-19990101T000000Z", load_settings())  # not in the registry either
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(BundleError):  # no store set and none made here: the registry is not created to look
        open_model(quick_training.model_version, load_settings())
    assert not (tmp_path / "other-host" / "mlflow.db").exists()


def test_check_reads_a_text_target_with_the_positive_label_as_training_does(little):
    frame = little.frame.assign(default_12m=little.frame["default_12m"].map({1: "bad", 0: "good"}))
    check = check_file(frame, DEMO_SPEC, positive="bad", leakage=False)
    assert check.split is not None and check.skipped is None
    assert not [f for f in check.report.findings if f.check == "target"]
    assert check.report.target["positives"] == int(little.frame["default_12m"].sum())
    without = check_file(frame, DEMO_SPEC, leakage=False)
    assert without.split is None and "--positive" in without.skipped


def test_a_check_is_the_first_training_stages_in_report_mode(little, monkeypatch):
    import riskcore.workflows
    from riskcore.modelling.pipeline import LocalExecutor

    ran = []
    real = LocalExecutor.run
    monkeypatch.setattr(LocalExecutor, "run", lambda self, pipeline, ctx: ran.append((pipeline.names, ctx.mode))
                        or real(self, pipeline, ctx))
    riskcore.workflows.check_file(little.frame, DEMO_SPEC, leakage=True)
    riskcore.workflows.check_file(little.frame, DEMO_SPEC, leakage=False)
    assert ran == [(("prepare", "split", "screen_leaks"), "report"), (("prepare", "split"), "report")]
