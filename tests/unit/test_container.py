"""The container files: compose.yaml's services, health checks, volumes, secrets and variables; the Containerfile
and what the build may copy; the image's entrypoint (scripts/container_entrypoint.py) and its first start.

The image itself is built and run by ``scripts/container check`` in CI (a prediction through the API lands in the
audit trail); these tests hold the files together without a container engine.
"""

from __future__ import annotations

import importlib.util
import re
import stat
import uuid
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy
import yaml
from argon2 import PasswordHasher
from databases import postgres_server_url
from sqlalchemy.engine import URL, make_url

from riskcore.identity import KeyStore, UserStore

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts" / "container_entrypoint.py"
IMAGE_HOME = "/var/lib/riskcore"
OUR_SERVICES = {"mlflow", "init", "api", "dashboard"}
# the official postgres image's interface: the role, its database, and the password read from a file
POSTGRES_VARIABLES = {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD_FILE"}


def _entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("container_entrypoint", ENTRYPOINT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entry = _entrypoint()


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _product_sources() -> str:
    files = [p for top in ("riskcore", "api", "dashboard", "pages") for p in (ROOT / top).rglob("*.py")]
    return "\n".join(p.read_text(encoding="utf-8") for p in [*files, ENTRYPOINT])


# -- compose.yaml --------------------------------------------------------------------------------------------------
def test_the_stack_is_postgres_mlflow_the_first_start_the_api_and_the_dashboard_from_one_image(compose):
    services = compose["services"]
    assert set(services) == {"postgres"} | OUR_SERVICES
    commands = set()
    for name in OUR_SERVICES:
        service = services[name]
        assert service["image"] == "localhost/riskcore:latest"
        assert service["build"] == {"context": ".", "dockerfile": "Containerfile"}
        assert service["init"] is True  # a real PID 1 reaps the job workers and forwards signals
        commands.add(service["command"][0])
    assert commands == {"mlflow", "init", "api", "dashboard"}
    assert commands <= {*entry.SERVICES, "init"}
    assert services["init"]["restart"] == "no"


def test_every_long_running_service_has_a_health_check_the_image_answers(compose):
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"] == ["CMD-SHELL",
                                                           "pg_isready --username riskcore --dbname riskcore"]
    for name in ("mlflow", "api", "dashboard"):
        test = services[name]["healthcheck"]["test"]
        # CMD-SHELL: podman-compose 1.0 quotes a CMD list into one word
        assert test == ["CMD-SHELL", f"/app/scripts/container_entrypoint.py health {name}"]
        assert name in entry.HEALTH_PATHS
    assert "healthcheck" not in services["init"]


def test_services_start_after_what_they_reach(compose):
    services = compose["services"]
    assert services["mlflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["init"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                              "mlflow": {"condition": "service_healthy"}}
    for name in ("api", "dashboard"):
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}


def test_the_state_lives_in_named_volumes_at_the_images_state_folder(compose):
    services = compose["services"]
    declared = set(compose["volumes"])
    used = {}
    for name, service in services.items():
        for mount in service.get("volumes", []):
            volume, target = mount.split(":")[:2]
            assert volume in declared, f"{name} mounts {volume}, which is not a named volume"
            used.setdefault(volume, set()).add((name, target))
    assert used == {
        "postgres-data": {("postgres", "/var/lib/postgresql/data")},
        "mlflow-artifacts": {("mlflow", IMAGE_HOME)},
        "riskcore-state": {("init", IMAGE_HOME), ("api", IMAGE_HOME), ("dashboard", IMAGE_HOME)},
    }
    containerfile = (ROOT / "Containerfile").read_text(encoding="utf-8")
    assert f"RISKCORE_HOME={IMAGE_HOME}" in containerfile and f"VOLUME {IMAGE_HOME}" in containerfile


def test_secrets_are_files_each_service_reads_from_run_secrets(compose):
    declared = compose["secrets"]
    assert declared == {"riskcore_db_password": {"file": "./secrets/db_password"},
                        "riskcore_admin_password": {"file": "./secrets/admin_password"},
                        "riskcore_api_key": {"file": "./secrets/api_key"}}
    assert entry.DEFAULT_ADMIN_PASSWORD_FILE == "/run/secrets/riskcore_admin_password"
    assert entry.DEFAULT_API_KEY_FILE == "/run/secrets/riskcore_api_key"
    for name, service in compose["services"].items():
        secrets = set(service.get("secrets", []))
        assert secrets <= set(declared), name
        for variable, value in service.get("environment", {}).items():
            if variable.endswith("_FILE"):
                assert value.removeprefix("/run/secrets/") in secrets, f"{name}: {variable} names a secret it lacks"
    assert set(compose["services"]["init"]["secrets"]) == set(declared)
    assert "secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_every_variable_the_stack_sets_is_read_by_the_product_and_holds_no_password(compose):
    sources = _product_sources()
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        if name == "postgres":
            assert set(environment) == POSTGRES_VARIABLES
            continue
        assert environment, name
        for variable, value in environment.items():
            assert f'"{variable}"' in sources, f"{name} sets {variable}, which nothing in the product reads"
            if "://" in str(value):
                assert make_url(value).password is None, f"{name}: {variable} holds a password"


def test_published_ports_face_this_host_only_and_the_mlflow_server_none(compose):
    services = compose["services"]
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    assert services["dashboard"]["ports"] == ["127.0.0.1:8501:8501"]
    assert all("ports" not in services[name] for name in ("postgres", "mlflow", "init"))
    assert entry.PORTS == {"api": 8000, "dashboard": 8501, "mlflow": 5000}


# -- the Containerfile and what the build copies -------------------------------------------------------------------
def test_the_image_installs_the_products_requirements_only_as_a_user_other_than_root():
    text = (ROOT / "Containerfile").read_text(encoding="utf-8")
    assert "ARG BASE_IMAGE=docker.io/library/python:3.11-slim\nFROM ${BASE_IMAGE}" in text
    assert "pip install --quiet -r /app/requirements.txt" in text and "requirements-dev" not in text
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users == ["riskcore"]
    assert '["/opt/riskcore/bin/python", "/app/scripts/container_entrypoint.py"]' in text


def test_the_build_copies_the_product_and_nothing_of_development():
    lines = [line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"  # everything is left out unless let in by name
    let_in = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert let_in == {"requirements.txt", "pyproject.toml", "README.md", "riskcore", "api", "dashboard", "pages",
                      "assets", ".streamlit/config.toml", "scripts/container_entrypoint.py"}
    assert {"**/__pycache__", "**/.riskcore"} <= set(lines)


# -- the entrypoint ------------------------------------------------------------------------------------------------
@pytest.fixture
def database_role():
    """A role of the tests' PostgreSQL server whose password has every character libpq's password file escapes."""
    server = make_url(postgres_server_url())
    name, password = f"pgpass_{uuid.uuid4().hex[:8]}", "p:a\\ss w@rd/ü"
    engine = sqlalchemy.create_engine(server, poolclass=sqlalchemy.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")  # DDL takes no parameters
    url = URL.create(server.drivername, username=name, host=server.host, port=server.port, database="postgres")
    yield url, password
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE {name}")
    engine.dispose()


def test_the_database_password_reaches_postgresql_through_a_private_password_file(monkeypatch, tmp_path,
                                                                                  database_role):
    url, password = database_role
    (tmp_path / "db_password").write_text(password + "\n", encoding="utf-8")
    monkeypatch.setenv("RISKCORE_DATABASE_PASSWORD_FILE", str(tmp_path / "db_password"))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "run" / "pgpass"))
    entry.database_password()
    assert stat.S_IMODE((tmp_path / "run" / "pgpass").stat().st_mode) == 0o600
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.NullPool)  # the URL names no password
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT current_user")).scalar_one() == url.username
    entry.wait_for_database(url.render_as_string(), 1)


def test_a_missing_password_file_is_refused_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("RISKCORE_DATABASE_PASSWORD_FILE", str(tmp_path / "pw"))
    with pytest.raises(entry.Refused, match="which does not exist; give the database password as that secret"):
        entry.database_password()
    (tmp_path / "pw").write_text("secret", encoding="utf-8")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "pw" / "inside-a-file"))
    with pytest.raises(entry.Refused, match="cannot write the database password file .*; set PGPASSFILE"):
        entry.database_password()


def test_a_database_that_does_not_answer_is_named_without_its_password():
    url = "postgresql+psycopg://riskcore:hidden@127.0.0.1:9/riskcore"  # the discard port: nothing listens
    with pytest.raises(entry.Refused, match=r"riskcore:\*\*\*@127.0.0.1:9/riskcore did not accept a connection "
                                            r"within 0 s") as caught:
        entry.wait_for_database(url, 0)
    assert "hidden" not in str(caught.value)


def test_an_unknown_command_says_what_the_commands_are(capsys):
    assert entry.main(["no-such-program-here"]) == 127
    assert "the commands are api, dashboard, worker, mlflow, init, health" in capsys.readouterr().err
    assert entry.main(["health", "postgres"]) == 2
    assert entry.main(["init", "--wait"]) == 2


@pytest.fixture
def first_start(monkeypatch, tmp_path, _session_store):
    """A fresh state folder on the session's MLflow store (a champion exists: no training) and two secrets."""
    monkeypatch.setenv("RISKCORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///" + str(_session_store.folder / "mlflow.db"))
    monkeypatch.setenv("RISKCORE_ADMIN_PASSWORD_FILE", str(tmp_path / "admin_password"))
    monkeypatch.setenv("RISKCORE_API_KEY_FILE", str(tmp_path / "api_key"))
    monkeypatch.setenv("RISKCORE_ADMIN_USER", "root-admin")
    for variable in ("RISKCORE_DATABASE_PASSWORD_FILE", "RISKCORE_AUDIT_URL", "MLFLOW_BACKEND_STORE_URI"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def test_the_first_start_adds_the_admin_and_the_key_of_the_secrets_once(first_start, capsys):
    home = first_start / "home"
    (first_start / "admin_password").write_text("a long admin password\n", encoding="utf-8")
    (first_start / "api_key").write_text("too short\n", encoding="utf-8")
    assert entry.main(["init", "--wait", "1"]) == 1  # an unfit key stops the start and says why
    err = capsys.readouterr().err
    assert f"the first API key from {first_start / 'api_key'}: an API key must have 24 to 256" in err
    key = "k" * 40
    (first_start / "api_key").write_text(key + "\n", encoding="utf-8")
    assert entry.main(["init", "--wait", "1"]) == 0
    out = capsys.readouterr().out
    assert "the dashboard has users" in out and "added the first API key" in out
    assert "the registry has a champion: no first model trained" in out
    users = UserStore(home / "users.json", hasher=PasswordHasher())
    assert [u.name for u in users.list_users()] == ["root-admin"]
    assert users.authenticate("root-admin", "a long admin password") is not None
    keys = KeyStore(home / "api_keys.json")
    assert keys.authenticate(key).role == "admin"
    before = {name: (home / name).read_bytes() for name in ("users.json", "api_keys.json")}
    (first_start / "api_key").write_text("another key of forty characters or more\n", encoding="utf-8")
    assert entry.main(["init", "--wait", "1"]) == 0  # a later start changes nothing
    assert "no first admin added" in capsys.readouterr().out
    assert before == {name: (home / name).read_bytes() for name in ("users.json", "api_keys.json")}


def test_without_secrets_the_first_start_says_how_to_add_a_user_and_a_key(first_start, capsys):
    assert entry.main(["init", "--wait", "1"]) == 0
    out = capsys.readouterr().out
    assert f"no first admin's password in {first_start / 'admin_password'}" in out
    assert "python -m riskcore users add NAME --role admin" in out
    assert "python -m api keys add --role service" in out
    assert not UserStore(first_start / "home" / "users.json").has_users()


def test_an_unreadable_secret_names_the_file_and_the_user_to_let_read_it(first_start, capsys):
    (first_start / "admin_password").mkdir()  # reading a folder fails as an unreadable file does
    assert entry.main(["init", "--wait", "1"]) == 1
    err = capsys.readouterr().err
    assert f"cannot read the first admin's password from {first_start / 'admin_password'}" in err
    assert "readable by the image's user" in err
