"""Monitoring a later portfolio end to end: scored, recorded in the audit trail, compared, written and logged."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from samples import SEED
from training_data import later_years_model

from riskcore.config import AlertRules
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.tabular import write_csv
from riskcore.errors import BundleError, MissingColumnError
from riskcore.evaluation.monitor_report import MonitorReport
from riskcore.lifecycle import monitor_file, record_monitoring
from riskcore.lifecycle.monitoring_history import MonitoringHistory
from riskcore.modelling.bundle import load_bundle, write_json
from riskcore.modelling.tracking import Tracker
from riskcore.serving.audit import AuditLog, Redaction

YEAR = "fiscal_year"


@pytest.fixture(scope="module")
def later(model_cache, tmp_path_factory):
    """A model trained once on 800 demo companies, and the two later years with their outcomes as files."""
    folder = tmp_path_factory.mktemp("lifecycle")
    result, portfolio = later_years_model(model_cache, folder, 800, 2, SEED)
    write_csv(portfolio.later.frame, folder / "later.csv")
    write_csv(portfolio.later.outcomes, folder / "outcomes.csv")
    return {"bundle": load_bundle(result.bundle_dir), "folder": folder, "frame": portfolio.later.frame,
            "outcomes": portfolio.later.outcomes, "changes": portfolio.later.changes}


@pytest.fixture
def audit(tmp_path):
    return AuditLog("sqlite:///" + str(tmp_path / "audit.db"))


@pytest.fixture(scope="module")
def run(later, tmp_path_factory):
    audit = AuditLog("sqlite:///" + str(tmp_path_factory.mktemp("audit") / "audit.db"))
    found = monitor_file(later["bundle"], later["folder"] / "later.csv", audit=audit, face="cli",
                         outcomes=later["folder"] / "outcomes.csv")
    return found, audit


def test_every_later_row_is_scored_recorded_and_monitored(later, run):
    found, audit = run
    n = len(later["frame"])
    data = found.report.data
    assert (found.job.n_scored, found.job.n_rejected, data["n"], data["rows_in_file"]) == (n, 0, n, n)
    assert audit.count() == n and audit.verify().ok
    assert data["audit_request"] == found.job.request_id
    assert data["periods"] == sorted(later["frame"][YEAR].unique().tolist()) and data["period_column"] == YEAR
    assert data["model_version"] == later["bundle"].version and data["source"].endswith("later.csv")
    assert found.summary().startswith(f"Scored {n:,} of {n:,} rows; audit request {found.job.request_id}")


def test_the_planted_rescaling_acts_in_its_year_only(later, run):
    found, _ = run
    change = next(c for c in later["changes"] if c["kind"] == "data")
    feature = next(f for f in found.report.data["features"] if f["name"] == change["columns"][0])
    by_period = {e["period"]: e["status"] for e in feature["by_period"]}
    assert by_period[change["year"]] == "act"
    assert all(status == "stable" for year, status in by_period.items() if year < change["year"])
    alert = next(a for a in found.report.alerts if a.rule == "feature_psi")
    assert alert.status == "fail" and f"{feature['name']} " in alert.detail


def test_the_outcomes_give_the_realised_figures(later, run):
    found, _ = run
    data = found.report.data
    outcomes = later["outcomes"]
    assert data["realized"]["n"] == len(outcomes)
    assert data["realized"]["default_rate"] == pytest.approx(outcomes["default_12m"].mean())
    assert [v["period"] for v in data["vintages"]] == data["periods"]
    assert sum(v["defaults"] for v in data["vintages"]) == outcomes["default_12m"].sum()
    assert all(g["traffic_light"] in ("green", "amber", "red") for g in data["grades"])
    assert data["migration"]["companies"] > 0
    assert abs(data["expected"]["auc"] - data["realized"]["auc"]) < 0.1


def test_rejected_rows_are_reported_and_left_out(later, audit, tmp_path):
    frame = later["frame"].head(200).astype({"roa": object}).reset_index(drop=True)
    frame.loc[3, "roa"] = "abc"
    write_csv(frame, tmp_path / "broken.csv")
    found = monitor_file(later["bundle"], tmp_path / "broken.csv", audit=audit, face="cli",
                         rejects_path=tmp_path / "rejects.csv", period="Fiscal Year")
    assert (found.job.n_rejected, found.report.data["n"], found.report.data["rejected"]) == (1, 199, 1)
    assert found.report.data["notes"][0].startswith("1 row(s) were rejected and are not monitored")
    assert "'abc'" in (tmp_path / "rejects.csv").read_text(encoding="utf-8")
    assert found.report.data["realized"] is None and found.report.data["period_column"] == "Fiscal Year"


def test_a_period_column_the_file_lacks_is_said(later, audit):
    found = monitor_file(later["bundle"], later["frame"].head(100), audit=audit, face="api", period="quarter",
                         rules=AlertRules(feature_psi=5.0, feature_psi_warn=4.0))
    assert found.report.data["periods"] == ["all"]
    assert found.report.data["notes"][0] == "the portfolio has no column 'quarter': it was monitored as one period"
    assert found.report.data["source"] == "upload"


def test_an_unusable_outcomes_file_stops_before_anything_is_scored(later, audit, tmp_path):
    (tmp_path / "bad.csv").write_text("name,score\nA,1\n", encoding="utf-8")
    with pytest.raises(MissingColumnError, match="the outcomes file has no company id and no outcome column"):
        monitor_file(later["bundle"], later["frame"].head(10), audit=audit, face="cli", outcomes=tmp_path / "bad.csv")
    assert audit.count() == 0


def test_outcome_rows_that_cannot_be_used_are_noted(later, audit, tmp_path):
    outcomes = later["outcomes"].head(50).astype({"default_12m": object}).reset_index(drop=True)
    outcomes.loc[2, "default_12m"] = "unknown"
    write_csv(outcomes, tmp_path / "outcomes.csv")
    found = monitor_file(later["bundle"], later["frame"], audit=audit, face="cli", outcomes=tmp_path / "outcomes.csv")
    notes = found.report.data["notes"]
    assert notes[0].startswith("1 of 50 outcome row(s) could not be used: row 3, column 'default_12m'")
    assert found.report.data["realized"]["n"] == 49
    assert any("have no outcome yet" in note for note in notes)


def test_record_writes_monitor_json_and_logs_the_run(later, run, tmp_path):
    found, _ = run
    tracker = Tracker("sqlite:///" + str(tmp_path / "mlflow.db"), tmp_path / "mlartifacts")
    bundle = later["bundle"]
    recorded = record_monitoring(found, bundle, out=tmp_path / "out", tracker=tracker)
    assert recorded.written == tmp_path / "out" / "monitor.json"
    text = recorded.written.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert {"features", "score", "expected", "realized", "grades", "alerts"} <= set(data)
    assert data["alerts"] == [a.as_dict() for a in found.report.alerts]
    assert (tmp_path / "out" / "summary.txt").read_text(encoding="utf-8").startswith("Scored ")
    runs = tracker.monitoring_runs(bundle.version)
    assert list(runs["run_id"]) == [recorded.run_id]
    assert runs.iloc[0]["tags.bundle_hash"] == bundle.manifest_hash
    assert tracker.monitoring_report(recorded.run_id) == data


def test_the_history_reads_a_recorded_run_back_as_the_report_written(later, run, tmp_path):
    found, _ = run
    tracker = Tracker("sqlite:///" + str(tmp_path / "mlflow.db"), tmp_path / "mlartifacts")
    bundle = later["bundle"]
    history = MonitoringHistory(tracker)
    assert history.latest(bundle.version) is None
    recorded = record_monitoring(found, bundle, out=tmp_path / "out", tracker=tracker)
    written = json.loads((tmp_path / "out" / "monitor.json").read_text(encoding="utf-8"))
    assert found.report.to_json() == written  # the report is strict JSON data already
    latest = history.latest(bundle.version)
    assert latest is not None and latest.run_id == recorded.run_id
    assert latest.report == MonitorReport.from_json(written) and latest.report.to_json() == written
    assert latest.report.to_text() == found.report.to_text()
    assert list(history.runs(bundle.version)["run_id"]) == [recorded.run_id]


def _rewrite_without_reference(src, dst, reference=None):
    """A copy of a bundle as written before monitoring existed (or with another reference.json), manifest redone."""
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text(encoding="utf-8"))
    if reference is None:
        (dst / "reference.json").unlink()
        del manifest["files"]["reference.json"]
    else:
        write_json(dst / "reference.json", reference)
        from riskcore.modelling.bundle import _sha256

        manifest["files"]["reference.json"] = _sha256(dst / "reference.json")
    write_json(dst / "manifest.json", manifest)
    return load_bundle(dst)


def test_an_older_bundle_without_a_reference_says_to_retrain(later, audit, tmp_path):
    old = _rewrite_without_reference(later["bundle"].path, tmp_path / "old")
    with pytest.raises(BundleError, match=r"trained before riskcore kept a monitoring reference profile; retrain it"):
        _ = old.reference
    with pytest.raises(BundleError, match="retrain"):
        monitor_file(old, later["frame"].head(10), audit=audit, face="cli")
    assert audit.count() == 0


def test_a_reference_of_an_unknown_format_says_to_retrain(later, tmp_path):
    damaged = _rewrite_without_reference(later["bundle"].path, tmp_path / "damaged", reference={"format": 99})
    with pytest.raises(BundleError, match=r"reference.json cannot be read .*retrain the model"):
        _ = damaged.reference


def test_the_bundle_reference_matches_its_training(later):
    ref = later["bundle"].reference
    assert list(ref.features) == [n for n in DEMO_SPEC.feature_names if n in ref.features]
    assert ref.segment == DEMO_SPEC.segment
    test = later["bundle"].metrics["test"]
    assert ref.test["auc"] == pytest.approx(test["auc"], abs=1e-9)
    assert ref.test["ece"] == pytest.approx(test["ece_calibrated"], abs=1e-9)
    assert (ref.test["n"], ref.test["defaults"]) == (test["n"], test["defaults"])
    assert not math.isnan(ref.test["expected_auc"]) and sum(g["n"] for g in ref.test_grades) == test["n"]


# ---------------------------------------------------------------------------
# the scores already in the audit trail
# ---------------------------------------------------------------------------

def test_the_audit_trail_gives_the_same_drift_without_scoring_again(later, run):
    from riskcore.lifecycle import monitor_audit

    found, audit = run
    again = monitor_audit(later["bundle"], audit, outcomes=later["folder"] / "outcomes.csv")
    assert again.job is None
    a, b = found.report.data, again.report.data
    assert b["n"] == a["n"] and b["periods"] == a["periods"]
    psi_file = {f["name"]: f["psi"] for f in a["features"]}
    for f in b["features"]:
        assert f["psi"] == pytest.approx(psi_file[f["name"]], abs=1e-12), f["name"]
    assert b["score"]["psi"] == pytest.approx(a["score"]["psi"], abs=1e-12)
    assert b["realized"]["auc"] == pytest.approx(a["realized"]["auc"], abs=1e-12)
    assert [x.status for x in again.report.alerts] == [x.status for x in found.report.alerts]


def test_a_company_scored_twice_in_a_period_counts_once_with_its_latest_score(later, tmp_path):
    from riskcore.lifecycle import monitor_audit

    audit = AuditLog("sqlite:///" + str(tmp_path / "twice.db"))
    first_year = later["frame"][later["frame"][YEAR] == later["frame"][YEAR].min()]
    monitor_file(later["bundle"], first_year, audit=audit, face="cli")
    monitor_file(later["bundle"], first_year, audit=audit, face="cli")
    found = monitor_audit(later["bundle"], audit)
    assert found.report.data["n"] == len(first_year)
    assert any("scored again" in note for note in found.report.data["notes"])


def test_an_empty_window_or_a_bad_date_says_what_to_do(later, run):
    from riskcore.errors import AuditError, SchemaError
    from riskcore.lifecycle import monitor_audit

    _, audit = run
    with pytest.raises(SchemaError, match="no score of model .* widen --since/--until"):
        monitor_audit(later["bundle"], audit, since="2999-01-01")
    with pytest.raises(AuditError, match="not a date or time"):
        monitor_audit(later["bundle"], audit, since="last tuesday-ish")


def test_a_trail_that_hashes_the_company_ids_is_monitored_with_the_outcomes_of_plain_ids(later, tmp_path):
    from riskcore.lifecycle import monitor_audit

    redaction = Redaction(b"a salt for the monitoring tests!", columns=("company_id",))
    audit = AuditLog("sqlite:///" + str(tmp_path / "hashed.db"), redaction=redaction)
    first_year = later["frame"][later["frame"][YEAR] == later["frame"][YEAR].min()]
    outcomes = later["folder"] / "outcomes.csv"
    found = monitor_file(later["bundle"], first_year, audit=audit, face="cli", outcomes=outcomes)
    assert audit.scored(later["bundle"].version)["_company_id"].str.startswith(redaction.prefix).all()
    again = monitor_audit(later["bundle"], audit, outcomes=outcomes)
    assert found.report.data["realized"]["auc"] > 0.5
    assert again.report.data["realized"]["auc"] == pytest.approx(found.report.data["realized"]["auc"], abs=1e-12)


def test_a_feature_the_trail_keeps_only_hashed_cannot_be_monitored_from_it(later, tmp_path):
    from riskcore.errors import SchemaError
    from riskcore.lifecycle import monitor_audit
    from riskcore.serving.audit import AuditRecord

    audit = AuditLog("sqlite:///" + str(tmp_path / "sector.db"), redaction=Redaction(b"x" * 32, columns=("sector",)))
    audit.record([AuditRecord("C1", {"sector": "Energy", "roa": 0.1}, 0.1, "accept", "A")], source="cli",
                 caller="analyst", model_version=later["bundle"].version, bundle_hash="h")
    with pytest.raises(SchemaError, match="keeps only salted hashes of the feature\\(s\\) 'sector'.*--data FILE"):
        monitor_audit(later["bundle"], audit)


def test_one_period_migrates_from_the_period_before_as_recorded_in_the_audit_trail(later, tmp_path):
    audit = AuditLog("sqlite:///" + str(tmp_path / "years.db"))
    frame = later["frame"]
    first, second = sorted(frame[YEAR].unique())
    one = monitor_file(later["bundle"], frame[frame[YEAR] == first], audit=audit, face="cli")
    assert one.report.data["migration"] is None  # nothing before the first year
    two = monitor_file(later["bundle"], frame[frame[YEAR] == second], audit=audit, face="cli")
    moved = two.report.data["migration"]
    # brute force: each company in both years, its grade in the first year's report run and in the second's
    scored = audit.scored(later["bundle"].version)
    grade = {(str(r["_company_id"]), str(r[YEAR])): int(r["_grade"]) - 1 for _, r in scored.iterrows()}
    expected = [[0] * 10 for _ in range(10)]
    pairs = 0
    for (company, year), g in grade.items():
        if year == str(first) and (company, str(second)) in grade:
            expected[g][grade[(company, str(second))]] += 1
            pairs += 1
    assert moved is not None and moved["pairs"] == [{"from": str(first), "to": str(second), "companies": pairs}]
    assert moved["matrix"] == expected
    assert any(f"grade migration from {first} to {second}" in n for n in two.report.data["notes"])


# ---------------------------------------------------------------------------
# the demo's later years: the planted changes are named, nothing else is
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_years(model_cache, tmp_path_factory):
    """The demo (4,000 companies) with three later years, a quick logistic model, and each year monitored."""
    from riskcore.modelling.features import with_history_features

    folder = tmp_path_factory.mktemp("demo_years")
    result, portfolio = later_years_model(model_cache, folder, 4000, 3, SEED)
    bundle = load_bundle(result.bundle_dir)
    later = with_history_features(portfolio.frame, portfolio.later.frame, DEMO_SPEC)
    audit = AuditLog("sqlite:///" + str(folder / "audit.db"))
    reports = {}
    for year in sorted(later[YEAR].unique()):
        part = later[later[YEAR] == year]
        found = portfolio.later.outcomes[portfolio.later.outcomes[YEAR] == year]
        reports[int(year)] = monitor_file(bundle, part, audit=audit, face="cli",
                                          outcomes=found.to_csv(index=False).encode()).report
    return reports, portfolio.later.changes


def _named(report) -> set[str]:
    """The non-macro features the report says act on: over the portfolio or within a sector."""
    data = report.data
    acting = {f["name"] for f in data["features"] if f["status"] == "act" and f["family"] != "macro"}
    return acting | {s["feature"] for s in data["segments"] if s["family"] != "macro"}


def test_the_planted_changes_are_named_in_their_years_and_nothing_else(demo_years):
    reports, changes = demo_years
    for year, report in reports.items():
        planted = {c for ch in changes if ch["year"] <= year for c in ch["columns"]}
        assert _named(report) <= planted, (year, _named(report) - planted)
        for change in changes:
            if change["year"] == year and change["kind"] != "macro":
                assert set(change["columns"]) <= _named(report), (year, change)
        macro = {f["name"] for f in report.data["features"] if f["family"] == "macro" and f["status"] == "act"}
        assert macro == {"gdp_growth", "policy_rate", "sector_pmi"}
    behaviour = next(c for c in changes if c["kind"] == "behaviour")
    within = [s for s in reports[behaviour["year"]].data["segments"] if s["feature"] in behaviour["columns"]]
    assert within and within[0]["segment"] == behaviour["segment"]


def test_the_expected_auc_is_close_to_the_realised_one_on_the_later_years(demo_years):
    reports, _ = demo_years
    for year, report in reports.items():
        expected, realised = report.data["expected"], report.data["realized"]
        low, high = expected["auc_ci"]
        assert low <= realised["auc"] <= high, year  # the interval holds the realised AUC
        assert abs(expected["auc"] - realised["auc"]) < 0.05, year
