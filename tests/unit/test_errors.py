"""One error contract: each kind of problem is one exception type with one exit status and one HTTP status.

The table below is the contract (it repeats the one in ``riskcore/errors.py``). The tests then run the
command line as a user does, on every command where each kind can happen, and check that the exception
raised is the kind's and the exit status its class's. The API's side is in ``tests/api/test_error_answers.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import riskcore
import riskcore.cli as cli
import riskcore.cli.audit as cli_audit
from riskcore.cli import main
from riskcore.data.tabular import write_csv
from riskcore.errors import (
    AuditError,
    BundleError,
    ClusterError,
    ConfigError,
    DataFileError,
    LeakageError,
    MissingColumnError,
    ModelNotFoundError,
    Problem,
    RiskcoreError,
    SchemaError,
    TrackingError,
    loggable,
)

# kind of problem → (exception, exit status, HTTP status)
CONTRACT: dict[str, tuple[type[RiskcoreError], int, int]] = {
    "unusable file": (DataFileError, 2, 422),
    "missing required column": (MissingColumnError, 2, 422),
    "invalid rows": (SchemaError, 2, 422),
    "bad settings": (ConfigError, 3, 500),
    "model not found": (ModelNotFoundError, 4, 503),
    "bundle unusable": (BundleError, 4, 503),
    "leakage": (LeakageError, 5, 422),
    "audit unavailable": (AuditError, 6, 503),
    "tracking unavailable": (TrackingError, 6, 503),
    "cluster unavailable": (ClusterError, 6, 503),
}


@pytest.mark.parametrize("kind", list(CONTRACT))
def test_each_kind_carries_its_exit_and_http_status(kind):
    cls, exit_status, http_status = CONTRACT[kind]
    assert issubclass(cls, RiskcoreError)
    assert (cls.exit_status, cls.http_status) == (exit_status, http_status)


def test_every_error_class_is_in_the_contract_and_exported():
    classes = {c for c in vars(riskcore.errors).values()
               if isinstance(c, type) and issubclass(c, RiskcoreError) and c is not RiskcoreError}
    assert classes == {cls for cls, _, _ in CONTRACT.values()}
    for cls in classes:
        assert cls.__name__ in riskcore.__all__ and getattr(riskcore, cls.__name__) is cls
        assert cls.__name__ in (riskcore.errors.__doc__ or "")


def test_errors_never_share_the_status_of_a_run_that_found_problems():
    assert all(cls.exit_status not in (cli.EXIT_OK, cli.EXIT_PROBLEMS) for cls, _, _ in CONTRACT.values())


def test_a_missing_column_is_still_caught_as_either_former_type():
    err = MissingColumnError(["roa", "sector"], "required column(s) 'roa', 'sector' are not in the file")
    assert isinstance(err, SchemaError) and isinstance(err, DataFileError) and isinstance(err, ValueError)
    assert str(err) == "required column(s) 'roa', 'sector' are not in the file"
    assert err.columns == ("roa", "sector")
    assert err.problems == [Problem(None, "roa", None, str(err))]


# -- the command line maps by the class attribute, on every command -----------------------------------

COMMANDS = {
    "demo-data": ("cmd_demo_data", ["demo-data", "--out", "x.csv"]),
    "check": ("cmd_check", ["check", "--data", "x.csv"]),
    "train": ("cmd_train", ["train", "--data", "x.csv"]),
    "score": ("cmd_score", ["score", "--input", "x.csv", "--output", "y.csv"]),
    "audit verify": ("cmd_audit_verify", ["audit", "verify"]),
    "audit export": ("cmd_audit_export", ["audit", "export", "--since", "2026-01-01", "--until", "2027-01-01",
                                          "--out", "x"]),
    "audit archive": ("cmd_audit_archive", ["audit", "archive"]),
}


def _raise(cls: type[RiskcoreError]):
    def command(args):
        if cls is LeakageError:
            raise cls("the message", [])
        if cls is MissingColumnError:
            raise cls("roa", "the message")
        raise cls("the message")

    return command


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", list(CONTRACT))
def test_main_exits_with_the_class_status_on_every_command(monkeypatch, capsys, kind, command):
    cls, exit_status, _ = CONTRACT[kind]
    name, argv = COMMANDS[command]
    monkeypatch.setattr(cli_audit if name.startswith("cmd_audit") else cli, name, _raise(cls))
    assert main(argv) == exit_status
    err = capsys.readouterr().err
    assert err.strip() == "error: the message"


def test_an_error_that_is_not_the_users_surfaces_as_a_bug(monkeypatch):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_check", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["check", "--data", "x.csv"])


# -- real inputs, as a user meets them ---------------------------------------------------------------

@pytest.fixture
def caught(monkeypatch):
    """The RiskcoreError main() handled in the last run (main prints only its message)."""
    seen: list[RiskcoreError] = []
    fail = cli._fail

    def spy(err):
        seen.append(err)
        return fail(err)

    monkeypatch.setattr(cli, "_fail", spy)
    return seen


def _expect(argv, cls, caught, capsys, message=""):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert caught and type(caught[-1]) is cls, (caught, err)
    assert code == cls.exit_status, err
    assert message in err and "Traceback" not in err
    return err


@pytest.fixture
def empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    return path


@pytest.fixture
def small_csv(tmp_path):
    """300 rows with an id, one feature and a 0/1 target (about 60 defaults)."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = ["id,x,y"] + [f"c{i},{rng.normal():.3f},{int(rng.random() < 0.2)}" for i in range(300)]
    path = tmp_path / "small.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("argv", [
    ["check", "--data", "{file}"],
    ["train", "--data", "{file}", "--quick", "--no-mlflow"],
    ["score", "--model", "{bundle}", "--input", "{file}", "--output", "{out}"],
], ids=["check", "train", "score"])
def test_unusable_file(request, argv, empty_csv, tmp_path, caught, capsys, audit_url):
    bundle = request.getfixturevalue("quick_bundle").path if "score" in argv else ""
    argv = [a.format(file=empty_csv, bundle=bundle, out=tmp_path / "o.csv") for a in argv]
    _expect(argv, DataFileError, caught, capsys, "the file is empty")


@pytest.mark.parametrize("command", ["check", "train"])
def test_missing_target_column(command, small_csv, caught, capsys):
    argv = [command, "--data", small_csv, "--target", "default", "--id", "id"]
    _expect(argv + (["--quick", "--no-mlflow"] if command == "train" else []), MissingColumnError, caught, capsys,
            "the target column 'default' is not in the file")


def test_missing_exposure_column_when_training_with_exposure_costs(small_csv, caught, capsys):
    argv = ["train", "--data", small_csv, "--target", "y", "--id", "id", "--cost-mode", "exposure", "--quick",
            "--no-mlflow"]
    _expect(argv, MissingColumnError, caught, capsys, "needs an exposure column")


def test_missing_required_feature_column_when_scoring(quick_bundle, small_portfolio, tmp_path, caught, capsys,
                                                      audit_url):
    frame = small_portfolio.frame.head(20).drop(columns=["current_ratio", "default_12m", "true_pd"])
    path = tmp_path / "in.csv"
    write_csv(frame, path)
    _expect(["score", "--model", quick_bundle.path, "--input", path, "--output", tmp_path / "o.csv"],
            MissingColumnError, caught, capsys, "'current_ratio' (Current ratio)")
    assert not (tmp_path / "o.csv").exists()


def test_missing_required_feature_column_when_training(small_portfolio, tmp_path):
    """The demo layout needs its required features: training names every one that is missing."""
    from riskcore.config import TrainingConfig
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.modelling.train import train

    required = [f.name for f in DEMO_SPEC.features if f.required][:2]
    frame = small_portfolio.frame.drop(columns=required)
    with pytest.raises(MissingColumnError, match="required feature column") as info:
        train(frame, DEMO_SPEC, config=TrainingConfig.quick(), models_dir=tmp_path)
    assert list(info.value.columns) == required


@pytest.fixture
def bad_settings(tmp_path, monkeypatch):
    path = tmp_path / "riskcore.toml"
    path.write_text('[costs]\nfn = "fifty thousand"\n', encoding="utf-8")
    monkeypatch.setenv("RISKCORE_CONFIG", str(path))
    return path


@pytest.mark.parametrize("argv", [
    ["train", "--data", "x.csv"],
    ["score", "--input", "x.csv", "--output", "y.csv"],
    ["audit", "verify"],
], ids=["train", "score", "audit-verify"])
def test_bad_settings(argv, bad_settings, caught, capsys):
    err = _expect(argv, ConfigError, caught, capsys, "costs.fn='fifty thousand'")
    assert str(bad_settings) in err


def test_bad_option_is_a_bad_setting(small_csv, caught, capsys):
    _expect(["train", "--data", small_csv, "--target", "y", "--candidates", "deep_forest"], ConfigError, caught,
            capsys, "unknown model kind(s) 'deep_forest'")


def test_model_not_found(tmp_path, monkeypatch, caught, capsys, audit_url):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(tmp_path / "empty-mlflow.db"))
    _expect(["score", "--input", "x.csv", "--output", tmp_path / "o.csv"], ModelNotFoundError, caught, capsys,
            "there is no champion model yet")


def test_bundle_that_does_not_exist(tmp_path, caught, capsys, audit_url):
    _expect(["score", "--model", tmp_path / "no-bundle", "--input", "x.csv", "--output", tmp_path / "o.csv"],
            BundleError, caught, capsys, "no model bundle at")


def test_leakage_stops_training(demo_csv, tmp_path, caught, capsys):
    leak = tmp_path / "leak.csv"
    leak.write_text(demo_csv.read_text().replace("true_pd", "internal_score", 1))
    _expect(["train", "--data", leak, "--quick", "--no-mlflow"], LeakageError, caught, capsys,
            "leakage check failed for")


def test_audit_unavailable_when_scoring(quick_bundle, small_portfolio, tmp_path, monkeypatch, caught, capsys):
    from riskcore.serving.audit import AuditLog

    db = tmp_path / "audit.db"
    AuditLog("sqlite:///" + str(db)).count()  # creates the tables
    monkeypatch.setenv("RISKCORE_AUDIT_URL", f"sqlite:///file:{db}?mode=ro&uri=true")
    path = tmp_path / "in.csv"
    write_csv(small_portfolio.frame.head(5).drop(columns=["default_12m", "true_pd"]), path)
    _expect(["score", "--model", quick_bundle.path, "--input", path, "--output", tmp_path / "o.csv"], AuditError,
            caught, capsys, "audit")
    assert not (tmp_path / "o.csv").exists()


def test_audit_unavailable_when_verifying(caught, capsys):
    _expect(["audit", "verify", "--url", "not a database"], AuditError, caught, capsys, "audit url")


def test_tracking_unavailable_when_scoring_with_the_champion(tmp_path, monkeypatch, caught, capsys, audit_url):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "bogus://nowhere")
    _expect(["score", "--input", "x.csv", "--output", tmp_path / "o.csv"], TrackingError, caught, capsys,
            "cannot open the experiment store 'bogus://nowhere'")


def test_rows_rejected_is_a_successful_run_not_an_error(quick_bundle, small_portfolio, tmp_path, caught, capsys,
                                                        audit_url):
    frame = small_portfolio.frame.head(10).drop(columns=["default_12m", "true_pd"]).astype({"sector": object})
    frame.loc[3, "sector"] = "Space Mining"
    path = tmp_path / "in.csv"
    write_csv(frame, path)
    code = main([str(a) for a in ("score", "--model", quick_bundle.path, "--input", path, "--output",
                                  tmp_path / "o.csv")])
    assert code == cli.EXIT_PROBLEMS and not caught
    assert (tmp_path / "o.csv").exists()


_secrets = st.from_regex(r"[A-Z][a-z]{4,9} [A-Z][a-z]{4,9}", fullmatch=True)


@given(values=st.lists(_secrets, min_size=1, max_size=8), rows=st.lists(st.integers(1, 10**6), min_size=8,
                                                                        max_size=8))
def test_a_log_never_says_the_values_of_a_schema_error(values, rows):
    problems = [Problem(rows[i], "company_name" if i % 2 else "sector", v, f"{v!r} is not a known category",
                        id=f"{v} Ltd", check="unknown_category") for i, v in enumerate(values)]
    err = SchemaError(problems)
    said = loggable(err)
    assert all(v not in said for v in values) and "unknown_category" in said and "'sector'" in said
    assert said.startswith(f"SchemaError: {len(values)} problem(s)")


def test_a_log_says_an_errors_log_message_or_its_message_and_of_a_bug_only_its_type():
    assert loggable(SchemaError("the file has no data rows")) == "SchemaError: the file has no data rows"
    assert loggable(ConfigError("bad setting")) == "ConfigError: bad setting"
    refused = AuditError("cannot record: 'Jan Kowalczyk' is too long")
    refused.log_message = "cannot record: a value is too long"
    assert loggable(refused) == "AuditError: cannot record: a value is too long"
    assert loggable(KeyError("Jan Kowalczyk")) == "KeyError"
    assert "Kowalczyk" not in loggable(MissingColumnError("roa", "the column 'roa' is missing"))
