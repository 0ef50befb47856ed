"""Settings: defaults, the TOML file, the environment, and a ConfigError naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskcore.config import AlertRules, Costs, Settings, TrainingConfig, load_settings, parse_candidates
from riskcore.errors import ConfigError


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "riskcore.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}) == Settings(home=tmp_path / ".riskcore")


def test_a_valid_file_is_read_and_converted(tmp_path):
    path = _toml(tmp_path, 'home = "~/state"\napi_rate_limit = "50"\napi_max_batch = 20.0\nrisk_bands = "fixed"\n'
                           '[costs]\nfn = 40000\nfp = "12000"\nlgd = 0.4\nmode = "exposure"\n')
    settings = load_settings(path, env={})
    assert settings.home == Path("~/state").expanduser()
    assert (settings.api_rate_limit, settings.api_max_batch, settings.risk_bands) == (50, 20, "fixed")
    assert settings.costs == Costs(fn=40000.0, fp=12000.0, lgd=0.4, mode="exposure")


def test_the_environment_overrides_the_file(tmp_path):
    path = _toml(tmp_path, 'home = "/from/file"\n')
    settings = load_settings(path, env={"RISKCORE_HOME": str(tmp_path), "RISKCORE_DEMO_COMPANIES": "300",
                                        "MLFLOW_TRACKING_URI": "sqlite:///x.db"})
    assert settings.home == tmp_path and settings.demo_companies == 300
    assert settings.resolved_tracking_uri == "sqlite:///x.db"


@pytest.mark.parametrize("text,key", [
    ('[costs]\nfn = "fifty thousand"\n', "costs.fn='fifty thousand'"),
    ("[costs]\nlgd = true\n", "costs.lgd=True"),
    ("[costs]\nfp = [1, 2]\n", "costs.fp=[1, 2]"),
    ('api_rate_limit = "many"\n', "api_rate_limit='many'"),
    ("api_max_batch = 2.5\n", "api_max_batch=2.5"),
    ("api_max_body_bytes = true\n", "api_max_body_bytes=True"),
    ("upload_max_mb = {}\n", "upload_max_mb={}"),
    ("home = 12\n", "home=12"),
    ("audit_url = 3\n", "audit_url=3"),
], ids=["cost-text", "cost-bool", "cost-list", "int-text", "int-fraction", "int-bool", "int-table", "path-number",
        "text-number"])
def test_a_value_of_the_wrong_type_names_its_key_and_the_file(tmp_path, text, key):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert f"{key} in {str(path)!r}" in message


@pytest.mark.parametrize("text,expected", [
    ("[costs]\nfn = -5\n", "fn=-5.0 must be a positive amount"),
    ("[costs]\nlgd = 1.5\n", "lgd=1.5 must be in (0, 1]"),
    ('[costs]\nmode = "sometimes"\n', "mode='sometimes' must be 'fixed' or 'exposure'"),
    ("[costs]\ncurrency = 1\n", "unknown cost settings ['currency']"),
    ("costs = 5\n", "[costs]"),
    ("colour = 1\n", "unknown setting 'colour'"),
    ('risk_bands = "rainbow"\n', "risk_bands='rainbow'"),
    ("api_rate_limit = 0\n", "api_max_batch and api_rate_limit"),
])
def test_an_invalid_value_names_the_file(tmp_path, text, expected):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert expected in str(info.value) and repr(str(path)) in str(info.value)


def test_an_invalid_environment_variable_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"demo_companies='lots' in \$RISKCORE_DEMO_COMPANIES must be a whole"):
        load_settings(env={"RISKCORE_DEMO_COMPANIES": "lots", "RISKCORE_CONFIG": str(_toml(tmp_path, ""))})


@pytest.mark.parametrize("content,expected", [
    (None, "does not exist"),
    ("home = \n", "is not valid TOML"),
    (b"\xff\xfe\x00", "cannot be read"),
])
def test_a_file_that_cannot_be_used(tmp_path, content, expected):
    path = tmp_path / "riskcore.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_settings(path, env={})


def test_candidates_are_parsed_and_checked():
    assert parse_candidates(" Logistic, hist-gb ,logistic") == ("logistic", "hist_gb")
    with pytest.raises(ConfigError, match="unknown model kind"):
        parse_candidates("logistic,deep_forest")
    with pytest.raises(ConfigError, match="at least two others"):
        TrainingConfig(candidates=("logistic", "ensemble"))


def test_alert_rules_are_read_from_the_alerts_table(tmp_path):
    path = _toml(tmp_path, '[alerts]\nfeature_psi = 0.3\nfeature_psi_warn = "0.2"\nred_grades = 2\n'
                           'skip_families = ["macro", "esg"]\n')
    alerts = load_settings(path, env={}).alerts
    assert (alerts.feature_psi, alerts.feature_psi_warn, alerts.red_grades) == (0.3, 0.2, 2)
    assert alerts.skip_families == ("macro", "esg")
    assert (alerts.score_psi, alerts.auc_drop, alerts.ece) == (0.10, 0.05, 0.02)  # the rest keep their defaults
    assert load_settings(_toml(tmp_path, ""), env={}).alerts == AlertRules()


@pytest.mark.parametrize("text,expected", [
    ("[alerts]\nauc_dorp = 0.1\n", "unknown alert settings ['auc_dorp']"),
    ('[alerts]\nece = "tiny"\n', "alerts.ece='tiny'"),
    ("[alerts]\nred_grades = 1.5\n", "alerts.red_grades=1.5"),
    ('[alerts]\nskip_families = "macro"\n', "alerts.skip_families='macro'"),
    ("[alerts]\nskip_families = [1]\n", 'must be a list of family names, e.g. ["macro"]'),
    ("alerts = 3\n", "[alerts]"),
    ("[alerts]\nscore_psi_warn = 0.2\n", "score_psi_warn=0.2 must be between 0 and score_psi=0.1"),
    ("[alerts]\nfeature_psi = 0.05\n", "feature_psi_warn=0.1 must be between 0 and feature_psi=0.05"),
    ("[alerts]\nece_warn = -0.01\n", "ece_warn=-0.01 must be between 0"),
    ("[alerts]\nred_grades = 0\n", "red_grades=0 must be at least 1"),
], ids=["unknown", "float-text", "int-fraction", "families-text", "families-numbers", "not-a-table", "warn>fail",
        "fail<warn", "negative", "no-grade"])
def test_an_invalid_alert_setting_names_its_key_and_the_file(tmp_path, text, expected):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert expected in str(info.value) and repr(str(path)) in str(info.value)


def test_the_audit_table_adds_columns_to_redact_and_refuses_an_empty_name(tmp_path):
    settings = load_settings(_toml(tmp_path, '[audit]\nredact = ["internal_notes", "customer_number"]\n'), env={})
    assert settings.audit.redact == ("internal_notes", "customer_number")
    with pytest.raises(ConfigError, match=r"riskcore.toml'.*redact=\['notes', ' '\] names an empty column"):
        load_settings(_toml(tmp_path, '[audit]\nredact = ["notes", " "]\n'), env={})
    with pytest.raises(ConfigError, match=r"audit.redact='notes'.* must be a list of names, e.g. \[\"company_name\"\]"):
        load_settings(_toml(tmp_path, '[audit]\nredact = "notes"\n'), env={})


def test_the_provisions_table_is_read_and_checked(tmp_path):
    from riskcore.config import ProvisionRules

    settings = load_settings(_toml(tmp_path, '[provisions]\nstandard = "cecl"\nmethod = "migration"\nterm_years = 3\n'
                                             'base_weight = 0.6\nupside_weight = 0.1\ndownside_weight = 0.3\n'),
                             env={})
    assert settings.provisions == ProvisionRules(standard="cecl", method="migration", term_years=3.0, base_weight=0.6,
                                                 upside_weight=0.1, downside_weight=0.3)
    assert settings.provisions.weights == {"base": 0.6, "upside": 0.1, "downside": 0.3}
    assert load_settings(_toml(tmp_path, ""), env={}).provisions == ProvisionRules()


@pytest.mark.parametrize("text,expected", [
    ("[provisions]\nstandrd = 'cecl'\n", "unknown provisions settings ['standrd']"),
    ("[provisions]\nstandard = 'ias39'\n", "standard='ias39' must be ifrs9 or cecl"),
    ("[provisions]\nmethod = 'vasicek'\n", "method='vasicek' must be hazard or migration"),
    ("[provisions]\nbase_weight = 0.9\n", "must be at least 0 and add up to 1, e.g. 0.5, 0.2 and 0.3"),
    ("[provisions]\nlgd = 'high'\n", "provisions.lgd='high'"),
    ("[provisions]\nlgd = 0\n", "lgd=0.0 must be in (0, 1], e.g. 0.45"),
    ("[provisions]\ndpd_backstop = 90\n", "must be days with 0 < dpd_backstop < dpd_default, e.g. 30 and 90"),
    ("[provisions]\nsicr_absolute = 2\n", "sicr_absolute=2.0 a share of PD in [0, 1)"),
    ("[provisions]\nead_profile = 'bullet'\n", "ead_profile='bullet' must be constant or amortising"),
    ("[provisions]\nterm_years = 0.5\n", "term_years=0.5 must be in [1, 50], e.g. 5"),
    ("[provisions]\ndpd_column = ' '\n", "*_column must each name a column"),
], ids=["unknown", "standard", "method", "weights", "lgd-text", "lgd-zero", "dpd", "sicr", "ead", "term", "column"])
def test_an_invalid_provisions_setting_names_its_key_and_the_file(tmp_path, text, expected):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert expected in str(info.value) and repr(str(path)) in str(info.value)
