"""The retraining loop: newest data → a challenger with the champion's configuration → the gate → a decision.

The champion is the logistic one the run shares (tests/models.py); each test works on a copy of its state
folder. Training is what costs: two challengers are trained in this file, one that waits for a signature
(``awaiting``) and one the loop promotes (``promoted``); the other decisions stop before training.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jobhooks import Hooked, cancel_from_another_thread
from models import champion_and_challenger, demo_panel

from riskcore.config import AlertRules, JobRules, PromotionRules, RetrainingRules, Settings, load_settings
from riskcore.data.tabular import write_csv
from riskcore.errors import ConfigError
from riskcore.serving.audit import ModelMove
from riskcore.workbench import Workbench, Worker
from riskcore.workbench.retraining import data_digest, read_newest, retrain, schedule_due, training_config_of
from riskcore.workbench.worker import schedule_job_id

pytestmark = pytest.mark.slow  # the loop trains real challengers: started early, with the other long files

LOOP = "retraining-loop"
LENIENT = PromotionRules(cost_confidence=0.5, cost_margin=0.99, max_ece=1.0, max_red_grades=100)
QUARTERLY = "0 0 1 1,4,7,10 *"


def _ts(*when: int) -> float:
    return datetime(*when, tzinfo=UTC).timestamp()  # type: ignore[misc]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def state(model_cache):
    """The state the run shares: a logistic champion (registry version 1) and a LightGBM challenger."""
    return champion_and_challenger(model_cache)


@pytest.fixture(scope="module")
def newer(model_cache, tmp_path_factory) -> Path:
    """Newer data: another demo portfolio (500 companies, another seed), as CSV."""
    path = tmp_path_factory.mktemp("newer") / "newer.csv"
    write_csv(model_cache.portfolio(500, seed=11).frame, path)
    return path


def _bench(state, folder: Path, **changes) -> Workbench:
    """A workbench on a copy of the state, with the settings changed (``retraining`` and the others)."""
    home = state.copy_to(folder / "home").folder
    return Workbench(replace(Settings(home=home), **changes))


def _retrain_moves(bench: Workbench) -> list[ModelMove]:
    return [m for m in bench.history() if m.event == "retrain"]


@pytest.fixture(scope="module")
def awaiting(state, newer, tmp_path_factory):
    """The loop run as a queued job on newer data, with a gate it passes: its challenger waits for a signature."""
    bench = _bench(state, tmp_path_factory.mktemp("awaiting"), promotion=LENIENT,
                   retraining=RetrainingRules(data=str(newer)))
    before = bench.champion()
    job = bench.submit_retrain(caller="cli:ops", trigger="command")
    ended = Worker(bench, name="w1").run_one()
    assert ended is not None and ended.id == job.id
    return bench, ended, before


@pytest.fixture(scope="module")
def promoted(state, newer, tmp_path_factory):
    """The loop run at once on newer data with ``auto_promote`` and a gate it passes: it promotes its challenger."""
    bench = _bench(state, tmp_path_factory.mktemp("promoted"), promotion=LENIENT,
                   retraining=RetrainingRules(data=str(newer), auto_promote=True, identity="loop:nightly"))
    before = bench.champion()
    outcome = bench.retrain(trigger="schedule", job_id="b" * 32)
    return bench, outcome, before


# ---------------------------------------------------------------------------
# the runs that stop before training, on record
# ---------------------------------------------------------------------------

def test_without_data_the_loop_stops_on_record_and_the_champion_stays(state, tmp_path):
    bench = _bench(state, tmp_path)
    before = bench.champion()
    outcome = bench.retrain(trigger="command", job_id="a" * 32)
    assert (outcome.decision, outcome.challenger, outcome.champion) == ("stopped", "", before.model_version)
    assert outcome.reason.startswith("no data to retrain on: set [retraining] data in riskcore.toml")
    (move,) = _retrain_moves(bench)
    assert (move.actor, move.from_version, move.to_version, move.gate_digest) == (LOOP, before.model_version, "", "")
    assert move.reason == f"job {'a' * 32}: {outcome.sentence()}" and move.seq == outcome.ledger_seq
    assert "retraining (command) on data -: champion " in move.reason
    assert bench.champion() == before and bench.verify_audit().ok

    missing = bench.retrain(trigger="command", job_id="c" * 32, data=str(tmp_path / "nowhere.csv"))
    assert missing.decision == "stopped" and "DataFileError" in missing.reason and "nowhere.csv" in missing.reason
    assert len(_retrain_moves(bench)) == 2 and bench.champion() == before


def test_without_a_champion_the_queued_loop_stops_and_says_so(newer, tmp_path):
    bench = Workbench(Settings(home=tmp_path / "empty", retraining=RetrainingRules(data=str(newer))))
    job = bench.submit_retrain(caller="cli:ops", trigger="command")
    ended = Worker(bench).run_one()
    assert ended.id == job.id and ended.state == "succeeded"  # the loop ran; what it decided is its result
    assert ended.result["decision"] == "stopped"
    assert ended.result["reason"] == "there is no champion to retrain: train a first model (python -m riskcore train)"
    (move,) = _retrain_moves(bench)
    assert (move.from_version, move.to_version) == ("", "") and f"job {job.id}" in move.reason


def test_data_an_earlier_run_gave_the_champion_is_no_new_data(state, newer, tmp_path):
    bench = _bench(state, tmp_path)
    champion = bench.champion().model_version
    earlier = [{"challenger": champion, "data_sha256": _sha256(newer)}, {"challenger": "other", "data_sha256": "x"}]
    outcome = retrain(bench.settings, tracker=bench.tracker, audit=bench.audit, trigger="schedule", job_id="d" * 32,
                      out=tmp_path / "out", data=str(newer), previous=lambda: earlier)
    assert (outcome.decision, outcome.challenger, outcome.data_sha256) == ("stopped", "", _sha256(newer))
    assert outcome.reason.startswith(f"no new data: {newer} is the data champion {champion} was trained on")
    assert bench.champion().model_version == champion and not (tmp_path / "out").exists()
    assert len(bench.versions()) == 2  # nothing trained


def test_data_a_waiting_challenger_was_trained_on_trains_no_second_one(state, newer, tmp_path):
    bench = _bench(state, tmp_path)
    champion = bench.champion().model_version
    earlier = [{"challenger": "logistic-20990101T000000Z", "champion": champion, "data_sha256": _sha256(newer),
                "decision": "awaiting_signoff"}]
    outcome = retrain(bench.settings, tracker=bench.tracker, audit=bench.audit, trigger="alert:ece", job_id="e" * 32,
                      out=tmp_path / "out", data=str(newer), previous=lambda: earlier)
    assert (outcome.decision, outcome.challenger) == ("stopped", "")
    assert outcome.reason == (f"no new data: challenger logistic-20990101T000000Z was already trained on this data "
                              f"against champion {champion} (decision: awaiting signoff), and the same data would "
                              "train the same challenger; the loop waits for new data")
    assert len(bench.versions()) == 2  # nothing trained


def test_a_run_cancelled_before_it_trains_is_on_record_and_trains_nothing(state, newer, tmp_path):
    plain = _bench(state, tmp_path, retraining=RetrainingRules(data=str(newer)), jobs=JobRules(lease_seconds=1))
    bench = Hooked(plain.settings, lambda fraction, message: message.startswith("training a challenger"))
    bench.hook = cancel_from_another_thread(bench)
    job = bench.submit_retrain(caller="cli:ops", trigger="command")
    ended = Worker(bench).run_one()
    assert bench.fired and (ended.id, ended.state, ended.result) == (job.id, "cancelled", {})
    (move,) = _retrain_moves(bench)
    assert move.to_version == "" and f"job {job.id}: " in move.reason
    assert f"stopped: the run was interrupted (JobStopped: job {job.id} was cancelled or taken over)" in move.reason
    assert len(bench.versions()) == 2 and bench.verify_audit().ok  # nothing trained


# ---------------------------------------------------------------------------
# a challenger trained, gated, reported; the decision
# ---------------------------------------------------------------------------

def test_newer_data_gives_a_challenger_with_the_champions_configuration_that_waits(awaiting, newer):
    bench, job, before = awaiting
    assert job.state == "succeeded" and job.kind == "retrain" and job.params["trigger"] == "command"
    r = job.result
    assert (r["trigger"], r["decision"], r["champion"]) == ("command", "awaiting_signoff", before.model_version)
    assert r["reason"].startswith("the gate passed; the challenger waits for a validator's signature")
    assert bench.champion() == before  # the loop never promotes unless auto_promote says so
    assert r["data"] == str(newer) and r["data_sha256"] == _sha256(newer)
    assert r["rows"] == len(bench.load(newer).table.frame) > 0

    champion, challenger = bench.open_model(before.model_version), bench.open_model(r["challenger"])
    mine, theirs = challenger.metrics["model"], champion.metrics["model"]
    assert (mine["kind"], mine["profile"], mine["calibration"], mine["seed"]) == (
        theirs["kind"], theirs["profile"], theirs["calibration"], theirs["seed"]) == ("logistic", "quick",
                                                                                        "isotonic", 7)
    assert mine["trained_by"] == LOOP
    assert challenger.metrics["data"]["sha256"] == _sha256(newer)
    registry = bench.registry().set_index("model_version")
    assert not registry.loc[r["challenger"], "champion"]
    search = {k: bench.run(registry.loc[v, "run_id"])["params"] for k, v in
              (("champion", before.model_version), ("challenger", r["challenger"]))}
    assert {k: (p["cv_folds"], p["n_iter"]) for k, p in search.items()} == {"champion": ("2", "1"),
                                                                           "challenger": ("2", "1")}

    # the gate's verdict as the loop recorded it is the comparison anyone can make again
    found = bench.compare(r["challenger"])
    assert r["gate_passed"] is True and r["gate_digest"] == found.comparison.digest()
    assert [(c["name"], c["passed"]) for c in r["checks"]] == [("cost", True), ("calibration", True)]
    report = Path(r["report"])
    assert report.is_file() and report.name == f"model-report-{r['challenger']}.html"
    assert report.parent == bench.settings.home / "reports" / f"retraining-{job.id}"
    assert r["challenger"] in report.read_text(encoding="utf-8")

    (move,) = _retrain_moves(bench)
    assert (move.actor, move.from_version, move.to_version, move.gate_digest) == (
        LOOP, before.model_version, r["challenger"], r["gate_digest"])
    assert move.seq == r["ledger_seq"] and move.reason.startswith(f"job {job.id}: retraining (command) on data ")
    assert "gate passed; awaiting signoff" in move.reason
    assert bench.verify_audit().ok


def test_a_gate_that_cannot_pass_names_the_failed_check(awaiting):
    """The challenger against the champion with a calibration limit nothing meets: what the loop decides on."""
    bench, job, before = awaiting
    strict = Workbench(replace(bench.settings, promotion=replace(LENIENT, max_ece=1e-9)))
    gate = strict.compare(job.result["challenger"]).comparison
    assert not gate.passed
    failed = [c for c in gate.checks if not c.passed]
    assert [c.name for c in failed] == ["calibration"] and "(limit 1e-09)" in failed[0].detail
    assert bench.champion() == before


def test_the_loop_promotes_what_passed_when_auto_promote_is_on(promoted, newer):
    bench, outcome, before = promoted
    assert outcome.decision == "promoted" and outcome.reason == "promoted through the ledger (auto_promote)"
    assert outcome.gate_passed and outcome.champion == before.model_version
    assert bench.champion().model_version == outcome.challenger != before.model_version
    moves = bench.history()
    (override,) = [m for m in moves if m.event == "override"]
    assert (override.actor, override.from_version, override.to_version, override.overrode) == (
        "loop:nightly", before.model_version, outcome.challenger, "duties")  # it trained what it promoted
    assert override.reason.startswith(f"retraining job {'b' * 32}: the gate passed and [retraining] auto_promote")
    assert override.gate_digest == outcome.gate_digest
    (entry,) = [m for m in moves if m.event == "retrain" and m.seq == outcome.ledger_seq]
    assert entry.seq > override.seq and entry.actor == "loop:nightly" and "; promoted: " in entry.reason
    assert bench.open_model("champion").metrics["model"]["trained_by"] == "loop:nightly"
    assert bench.verify_audit().ok


def test_the_data_the_champion_was_trained_on_is_no_new_data(promoted, newer, tmp_path):
    bench, outcome, _ = promoted
    versions = len(bench.versions())
    again = bench.retrain(trigger="schedule", job_id="e" * 32)
    assert (again.decision, again.challenger, again.champion) == ("stopped", "", outcome.challenger)
    assert again.reason == (f"no new data: {newer} is the data champion {outcome.challenger} was trained on "
                            f"(SHA-256 {_sha256(newer)[:12]}…)")
    assert bench.champion().model_version == outcome.challenger and len(bench.versions()) == versions


def test_the_champions_configuration_or_a_named_profile(awaiting):
    bench, _, before = awaiting
    champion = bench.open_model(before.model_version)
    recorded = training_config_of(champion, params={"cv_folds": "2", "n_iter": "1"})
    assert (recorded.profile, recorded.candidates, recorded.cv_folds, recorded.n_iter) == ("quick", ("logistic",),
                                                                                             2, 1)
    assert training_config_of(champion).cv_folds == 3  # without the run's parameters: the profile's search
    named = training_config_of(champion, "full")
    assert named.profile == "full" and len(named.candidates) == 7  # the scorecard among them


# ---------------------------------------------------------------------------
# the newest data: a file, or a folder of partitions
# ---------------------------------------------------------------------------

def test_a_folder_of_partitions_is_read_as_one_table_numbered_across(model_cache, tmp_path):
    frame = model_cache.portfolio(500, seed=11).frame
    companies = frame["company_id"].unique()
    folder = tmp_path / "partitions"
    folder.mkdir()
    first, second = frame[frame["company_id"].isin(companies[:150])], frame[frame["company_id"].isin(companies[150:])]
    write_csv(second, folder / "part-2.csv")
    write_csv(first, folder / "part-1.csv")
    (folder / "_SUCCESS").write_text("")

    dataset, files = read_newest(folder)
    assert files == [folder / "part-1.csv", folder / "part-2.csv"]
    table = dataset.table
    assert len(table.frame) == len(frame) and table.rows.tolist() == list(range(1, len(frame) + 1))
    assert table.frame["company_id"].tolist() == [*first["company_id"], *second["company_id"]]
    assert dataset.spec.target == "default_12m" and "2 partitions read as one table" in table.info.notes[-1]
    assert data_digest(files) == hashlib.sha256(f"{_sha256(files[0])}\n{_sha256(files[1])}".encode()).hexdigest()

    single, found = read_newest(folder / "part-1.csv")
    assert found == [folder / "part-1.csv"] and len(single.table.frame) == len(first)
    assert data_digest(found) == _sha256(folder / "part-1.csv")


def test_rows_a_partition_could_not_read_keep_their_numbers(tmp_path):
    """A row the reader refused still has its number: the next partition's rows come after it, never on it."""
    folder = tmp_path / "partitions"
    folder.mkdir()
    (folder / "a.csv").write_text("id,x\nA1,1\nA2,2,3,4\nA3,3\n", encoding="utf-8")
    (folder / "b.csv").write_text("id,x\nB1,1\nB2,2,9\n", encoding="utf-8")
    dataset, _ = read_newest(folder)
    assert dataset.table.frame["id"].tolist() == ["A1", "A3", "B1"]
    assert dataset.table.rows.tolist() == [1, 3, 4]
    assert [p.row for p in dataset.table.problems] == [2, 5]


# ---------------------------------------------------------------------------
# the schedule and the alerts
# ---------------------------------------------------------------------------

def test_the_schedule_queues_each_due_run_once_however_many_workers_look(tmp_path):
    settings = Settings(home=tmp_path / "home", retraining=RetrainingRules(schedule="quarterly"))
    assert settings.retraining.cron == QUARTERLY
    one, two = Worker(Workbench(settings), name="one"), Worker(Workbench(settings), name="two")

    def scheduled() -> list[str]:
        return sorted(j.id for j in one.bench.jobs(kind="retrain"))

    did = one.tick(now=_ts(2026, 2, 15))
    jan = schedule_job_id(QUARTERLY, datetime(2026, 1, 1, tzinfo=UTC))
    assert did == [f"retraining due 2026-01-01T00:00:00+00:00 queued as job {jan}"]
    for worker, when in ((one, _ts(2026, 2, 15)), (two, _ts(2026, 2, 15)), (two, _ts(2026, 3, 31, 23, 59, 59))):
        assert worker.tick(now=when) == []
    assert scheduled() == [jan]
    job = one.bench.job(jan)
    assert (job.state, job.caller, job.params["trigger"], job.max_attempts) == ("queued", LOOP, "schedule", 1)

    apr = schedule_job_id(QUARTERLY, datetime(2026, 4, 1, tzinfo=UTC))
    assert two.tick(now=_ts(2026, 4, 1)) == [f"retraining due 2026-04-01T00:00:00+00:00 queued as job {apr}"]
    assert one.tick(now=_ts(2026, 4, 1, 0, 0, 1)) == []
    assert scheduled() == sorted([jan, apr])

    # a year without a worker: the runs missed are one run, the latest due
    jan27 = schedule_job_id(QUARTERLY, datetime(2027, 1, 1, tzinfo=UTC))
    assert one.tick(now=_ts(2027, 2, 20)) == [f"retraining due 2027-01-01T00:00:00+00:00 queued as job {jan27}"]
    assert scheduled() == sorted([jan, apr, jan27])
    assert one.tick(now=_ts(2027, 3, 1)) == [] and two.tick(now=_ts(2027, 3, 1)) == []


def test_without_a_schedule_a_tick_queues_nothing(tmp_path):
    worker = Worker(Workbench(Settings(home=tmp_path / "home")))
    assert worker.tick(now=_ts(2026, 4, 1)) == [] and worker.bench.jobs() == []


def test_the_schedule_is_due_at_its_due_time(tmp_path):
    assert schedule_due(QUARTERLY, datetime(2026, 4, 1, tzinfo=UTC)) == datetime(2026, 4, 1, tzinfo=UTC)
    assert schedule_due(QUARTERLY, datetime(2026, 3, 31, 23, 59, 59, 999_000, tzinfo=UTC)) == datetime(
        2026, 1, 1, tzinfo=UTC)
    assert schedule_due("0 6 * * 1", datetime(2026, 4, 1, 12, tzinfo=UTC)) == datetime(2026, 3, 30, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def later_csv(model_cache, tmp_path_factory) -> Path:
    """The demo panel's two later years (the champion's portfolio, later), as CSV."""
    path = tmp_path_factory.mktemp("later") / "later.csv"
    write_csv(demo_panel(model_cache).later.frame, path)
    return path


def test_a_failing_alert_of_on_alert_queues_the_loop_once(state, later_csv, tmp_path):
    touchy = AlertRules(score_psi=1e-6, score_psi_warn=0.0)
    bench = _bench(state, tmp_path, alerts=touchy, retraining=RetrainingRules(on_alert=("score_psi", "ece")))
    run = bench.monitor("champion", later_csv, track=False)
    assert any(a.rule == "score_psi" and a.status == "fail" for a in run.report.alerts)
    assert run.retrain_job
    job = bench.job(run.retrain_job)
    assert (job.kind, job.state, job.caller) == ("retrain", "queued", LOOP)
    assert job.params["trigger"].startswith("alert:") and "score_psi" in job.params["trigger"].split(":")[1]
    again = bench.monitor("champion", later_csv, track=False)
    assert again.retrain_job == run.retrain_job and len(bench.jobs(kind="retrain")) == 1  # one run at a time


def test_a_failing_alert_not_in_on_alert_queues_nothing(state, later_csv, tmp_path):
    touchy = AlertRules(score_psi=1e-6, score_psi_warn=0.0)
    for k, rules in enumerate((RetrainingRules(), RetrainingRules(on_alert=("auc_drop",)))):
        bench = _bench(state, tmp_path / str(k), alerts=touchy, retraining=rules)
        run = bench.monitor("champion", later_csv, track=False)
        assert any(a.rule == "score_psi" and a.status == "fail" for a in run.report.alerts)
        assert run.retrain_job == "" and bench.jobs(kind="retrain") == []


# ---------------------------------------------------------------------------
# the settings
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ('schedule = "fortnightly"', "retraining setting schedule='fortnightly' must be monthly, quarterly, yearly or a "
                                 "cron expression"),
    ('schedule = "0 0 1 13 *"', "schedule='0 0 1 13 *'"),
    ('on_alert = ["score_psi", "psi"]', "on_alert names unknown alert rules ['psi']; allowed: feature_psi, score_psi"),
    ('on_alert = "score_psi"', "setting retraining.on_alert='score_psi'"),
    ('profile = "medium"', "retraining setting profile='medium' must be quick, full or empty"),
    ('identity = " "', "retraining setting identity must name the loop"),
    ('auto_promote = "sometimes"', "setting retraining.auto_promote='sometimes'"),
    ("nightly = true", "unknown retraining settings ['nightly']"),
])
def test_bad_retraining_settings_are_named(tmp_path, text, words):
    config = tmp_path / "riskcore.toml"
    config.write_text(f"[retraining]\n{text}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    assert words in str(err.value) and "riskcore.toml" in str(err.value)


def test_good_retraining_settings_are_read(tmp_path):
    config = tmp_path / "riskcore.toml"
    config.write_text('[retraining]\ndata = "/srv/portfolios"\nschedule = "0 6 1 */3 *"\non_alert = ["ece"]\n'
                      'auto_promote = true\nprofile = "quick"\n', encoding="utf-8")
    rules = load_settings(config, env={}).retraining
    assert rules == RetrainingRules(data="/srv/portfolios", schedule="0 6 1 */3 *", on_alert=("ece",),
                                    auto_promote=True, profile="quick")
    assert rules.cron == "0 6 1 */3 *" and RetrainingRules(schedule="monthly").cron == "0 0 1 * *"
