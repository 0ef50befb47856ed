"""The provisions runs on record: listed from a real SQLite audit trail, newest first, and opened from their folders
only when the file is the one the trail's SHA-256 names."""

from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

from riskcore.config import Settings
from riskcore.errors import DataFileError
from riskcore.serving.audit import AuditLog, ProvisionRecord
from riskcore.workbench import RecordedRun, Workbench
from riskcore.workbench.provision_history import COMPANIES_FILE, open_recorded, recorded_runs

ID = "company_id"


@pytest.fixture(scope="module")
def recorded(quick_bundle, small_portfolio, tmp_path_factory):
    """One real provisions run (the session champion, 300 companies of the small portfolio) on a SQLite trail."""
    root = tmp_path_factory.mktemp("provision_history")
    frame = small_portfolio.frame
    panel = root / "panel.csv"
    frame[frame[ID].isin(frame[ID].drop_duplicates().iloc[:300])].to_csv(panel, index=False)
    audit = AuditLog("sqlite:///" + str(root / "audit.db"))
    bench = Workbench(Settings(home=root / "home"), audit=audit)
    files = bench.provisions(quick_bundle, panel, as_of=2024, out=root / "run", caller="tester")
    return bench, files


def _trail_with(tmp_path, record: ProvisionRecord, **changes) -> tuple[AuditLog, RecordedRun]:
    """A fresh SQLite trail holding a copy of ``record`` with ``changes`` (as another run would have recorded it)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    audit.record_event(dataclasses.replace(record, ts="", seq=0, **changes))
    [run] = recorded_runs(audit)
    return audit, run


def test_the_run_on_record_is_listed_and_opened_as_written(recorded):
    bench, files = recorded
    [run] = bench.recorded_provisions()
    assert run.record == files.record and run.folder == files.folder.resolve()
    assert (run.as_of, run.standard, run.model_version) == (2024, "ifrs9", files.run.model_version)
    assert run.ecl == pytest.approx(files.run.companies["ecl"].sum()) and run.recorded_at.startswith("20")
    companies = bench.open_recorded_provisions(run, ID)
    written = pd.read_csv(files.files[COMPANIES_FILE], dtype={ID: str})
    pd.testing.assert_frame_equal(companies, written)
    assert companies[ID].map(type).eq(str).all() and set(companies["stage"]) <= {1, 2, 3}
    assert bench.audit.verify().ok


def test_runs_are_listed_newest_first(recorded, tmp_path):
    record = recorded[1].record
    audit = AuditLog("sqlite:///" + str(tmp_path / "audit.db"))
    for year in (2022, 2023, 2024):
        audit.record_event(dataclasses.replace(record, as_of=year, ts="", seq=0))
    runs = recorded_runs(audit)
    assert [r.as_of for r in runs] == [2024, 2023, 2022]
    assert runs[0].seq > runs[1].seq > runs[2].seq
    assert [r.as_of for r in recorded_runs(audit, limit=1)] == [2024]
    assert recorded_runs(AuditLog("sqlite:///" + str(tmp_path / "empty.db"))) == []


def test_an_altered_file_is_refused_with_both_hashes(recorded, tmp_path):
    copy = shutil.copytree(recorded[1].folder, tmp_path / "run")
    _, run = _trail_with(tmp_path, recorded[1].record, folder=str(copy))
    assert len(open_recorded(run, ID)) == len(recorded[1].run.companies)  # the copy is the file as written
    companies = pd.read_csv(copy / COMPANIES_FILE)
    companies.loc[0, "ecl"] += 1000.0
    companies.to_csv(copy / COMPANIES_FILE, index=False)
    with pytest.raises(DataFileError, match=r"is not the file provisions run \d+ \(as of 2024, IFRS9, recorded .*"
                                            r"it was altered since; put back the file as written"):
        open_recorded(run, ID)


def test_a_moved_folder_or_a_deleted_file_is_named(recorded, tmp_path):
    _, run = _trail_with(tmp_path, recorded[1].record, folder=str(tmp_path / "moved"))
    with pytest.raises(DataFileError, match=r"the folder of provisions run .*moved'.* is not there: it was moved or "
                                            "deleted; put it back"):
        open_recorded(run, ID)
    (tmp_path / "moved").mkdir()
    with pytest.raises(DataFileError, match="companies.csv of provisions run .* is missing from"):
        open_recorded(run, ID)


def test_a_run_recorded_before_runs_named_their_folder_says_so(recorded, tmp_path):
    _, run = _trail_with(tmp_path, recorded[1].record, folder="")
    assert run.folder is None
    with pytest.raises(DataFileError, match="recorded before provisions runs named their output folder.*run python "
                                            "-m riskcore provisions again with --out"):
        open_recorded(run, ID)
    _, run = _trail_with(tmp_path / "other", recorded[1].record, outputs={})
    with pytest.raises(DataFileError, match="recorded no SHA-256 of companies.csv"):
        open_recorded(run, ID)


def test_another_id_column_is_refused(recorded):
    bench, files = recorded
    [run] = bench.recorded_provisions()
    with pytest.raises(DataFileError, match="has no column 'borrower': a provisions run's companies.csv has the "
                                            "company id"):
        open_recorded(run, "borrower")
