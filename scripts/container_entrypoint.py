#!/usr/bin/env python3
"""The riskcore image's entrypoint: one command per service, the first start, and a health probe.

::

    container_entrypoint.py api [OPTIONS]        the REST API with its job workers (python -m api), port 8000
    container_entrypoint.py dashboard [OPTIONS]  the dashboard (streamlit run dashboard/app.py), port 8501
    container_entrypoint.py worker [OPTIONS]     a job worker (python -m riskcore worker)
    container_entrypoint.py mlflow [OPTIONS]     the MLflow tracking server, port 5000: its tables in the database,
                                                 the bundles it serves in $RISKCORE_HOME/mlartifacts
    container_entrypoint.py init [--wait SECONDS]
                                                 the first start, safe to repeat: wait for the database and the
                                                 MLflow server; add the first admin user and the first API key
                                                 from their secret files when there are none; train a first model
                                                 on the demo portfolio when the registry has no champion
    container_entrypoint.py health api|dashboard|mlflow
                                                 exit 0 when the service in this container answers
    container_entrypoint.py COMMAND [ARGS]       anything else runs as it is (python -m riskcore models list, bash)

OPTIONS go to the service's own command (``python -m api --help``, ``streamlit run --help``,
``python -m riskcore worker --help``, ``mlflow server --help``), after the image's defaults.

The environment, besides the product's own variables (``RISKCORE_HOME``, ``MLFLOW_TRACKING_URI``,
``RISKCORE_AUDIT_URL``, ``RISKCORE_CONFIG``, ``RISKCORE_DEMO_COMPANIES``, ``RISKCORE_JOB_WORKERS``) and the MLflow
server's store (``MLFLOW_BACKEND_STORE_URI``, default a SQLite file in the state folder):

===================================  =========================================================================
``RISKCORE_DATABASE_PASSWORD_FILE``  the file holding PostgreSQL's password (a secret). It is copied into a
                                     password file of PostgreSQL's client library (``PGPASSFILE``, default
                                     ``/tmp/riskcore.pgpass``, owner-only), so the database URLs carry no
                                     password and commands run later in the container find it too
``RISKCORE_ADMIN_USER``              the first admin's name (default ``admin``)
``RISKCORE_ADMIN_PASSWORD_FILE``     the first admin's password (default ``/run/secrets/riskcore_admin_password``)
``RISKCORE_API_KEY_FILE``            the first API key, role admin (default ``/run/secrets/riskcore_api_key``)
===================================  =========================================================================

Every service first waits (up to three minutes) for the database and the MLflow server it reaches, so services
started together come up in a working order. The dashboard adds the first admin too when init has not yet
(a compose tool that ignores ``depends_on`` conditions starts both at once); without users it is one local user
with every role, so it then listens inside its container only (as ``./scripts/run`` keeps it on 127.0.0.1) and
says how to add the first admin. Exit statuses: the started command's; for ``init`` 0 done, 1 a service did not
answer or a secret cannot be used, 2 bad arguments, and for an error of the engine its class's exit status (3
invalid settings).
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from riskcore.config import database_url, load_settings, set_thread_defaults
from riskcore.errors import ConfigError, RiskcoreError
from riskcore.identity import IdentitySettings, KeyFileError, KeyStore, UserStore

APP = Path(__file__).resolve().parent.parent
PORTS = {"api": 8000, "dashboard": 8501, "mlflow": 5000}
HEALTH_PATHS = {"api": "/ready", "dashboard": "/_stcore/health", "mlflow": "/health"}
SERVICES = ("api", "dashboard", "worker", "mlflow")
DEFAULT_ADMIN_PASSWORD_FILE = "/run/secrets/riskcore_admin_password"
DEFAULT_API_KEY_FILE = "/run/secrets/riskcore_api_key"
DEFAULT_PGPASSFILE = "/tmp/riskcore.pgpass"
FIRST_KEY_ROLE = "admin"
WAIT_SECONDS = 180


class Refused(Exception):
    """A start that cannot go on; the message says what to do."""


def say(message: str) -> None:
    """One line of progress."""
    print(f"==> {message}", flush=True)


def shown(url: str) -> str:
    """A URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def read_secret(path: str, what: str) -> str | None:
    """A secret file's text without its final line break, or ``None`` when the file does not exist."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise Refused(f"cannot read {what} from {path} ({reason}); the file must be readable by the image's user "
                      f"(uid {os.getuid()}), e.g. chmod 0644 on the host in a folder only you can open") from None
    return text.rstrip("\r\n")


def pgpass_line(password: str) -> str:
    """A password file line (libpq's format) that gives ``password`` for every server, database and user."""
    return "*:*:*:*:" + password.replace("\\", "\\\\").replace(":", "\\:") + "\n"


def database_password() -> None:
    """The password of RISKCORE_DATABASE_PASSWORD_FILE into a password file of libpq (``PGPASSFILE``).

    The database URLs (``RISKCORE_AUDIT_URL``, ``MLFLOW_BACKEND_STORE_URI``) then carry no password: PostgreSQL's
    client library reads it from that file, owner-only in this container, for this process and for every command
    run later in the container (``podman exec``), and it never reaches an environment listing, a command line or a
    log.
    """
    path = os.environ.get("RISKCORE_DATABASE_PASSWORD_FILE", "").strip()
    if not path:
        return
    password = read_secret(path, "the database password")
    if password is None:
        raise Refused(f"RISKCORE_DATABASE_PASSWORD_FILE names {path}, which does not exist; give the database "
                      "password as that secret")
    target = Path(os.environ.setdefault("PGPASSFILE", DEFAULT_PGPASSFILE))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(pgpass_line(password))
        os.chmod(target, 0o600)  # libpq ignores a password file others may read
    except OSError as err:
        raise Refused(f"cannot write the database password file {target} ({err.strerror}); set PGPASSFILE to a "
                      "file this user may write") from None


def identity() -> IdentitySettings:
    """Where the users and the keys are kept (the settings' state folder)."""
    return IdentitySettings.from_settings(load_settings())


def answers(url: str, timeout: float = 5) -> bool:
    """Whether ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (OSError, ValueError):
        return False


def service_command(command: str, args: list[str], seconds: float = WAIT_SECONDS) -> list[str]:
    """The program and arguments that run one service, once what it reaches answers.

    Each service waits for its database and the MLflow server itself, so a compose tool that starts every
    service at once (older podman-compose ignores ``depends_on`` conditions) starts them in a working order.
    """
    python = sys.executable
    if command == "mlflow":
        home = load_settings().home
        store = database_url(os.environ.get("MLFLOW_BACKEND_STORE_URI", "").strip())
        os.environ["MLFLOW_BACKEND_STORE_URI"] = store or "sqlite:///" + str(Path(home, "mlflow.db").resolve())
        wait_for_database(os.environ["MLFLOW_BACKEND_STORE_URI"], seconds)
    else:
        settings = load_settings()
        wait_for_database(settings.resolved_audit_url, seconds)
        wait_for_tracking_server(settings.tracking_uri, seconds)
    if command == "api":
        return [python, "-m", "api", "--host", "0.0.0.0", "--port", str(PORTS["api"]), *args]
    if command == "worker":
        return [python, "-m", "riskcore", "worker", *args]
    if command == "mlflow":
        os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # MLflow's GenAI jobs: unused
        artifacts = Path(home, "mlartifacts")
        artifacts.mkdir(parents=True, exist_ok=True)
        return [python, "-m", "mlflow", "server", "--serve-artifacts", "--artifacts-destination", str(artifacts),
                "--host", "0.0.0.0", "--port", str(PORTS["mlflow"]), "--workers", "1", *args]
    # the dashboard: without users it is one local user with every role, so it must not face the network
    address = "0.0.0.0"
    if not first_admin():
        address = "127.0.0.1"
        say("without users the dashboard is one local user with every role, so it listens inside this container "
            "only. Give the first admin's password as the secret riskcore_admin_password (or add a user: "
            "python -m riskcore users add NAME --role admin), then restart the dashboard.")
    return [python, "-m", "streamlit", "run", str(APP / "dashboard" / "app.py"), "--server.port",
            str(PORTS["dashboard"]), "--server.address", address, "--server.headless", "true", *args]


def wait_for_database(url: str, seconds: float) -> None:
    """Return once a PostgreSQL database accepts a connection (a SQLite file needs no wait)."""
    if not url.startswith("postgresql"):
        return
    import sqlalchemy  # lazy: the health probe, run every few seconds, never reaches a database

    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5}, poolclass=sqlalchemy.NullPool)
    deadline, told = time.monotonic() + seconds, False
    while True:
        try:
            with engine.connect():
                return
        except sqlalchemy.exc.SQLAlchemyError as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        if time.monotonic() > deadline:
            raise Refused(f"the database {shown(url)} did not accept a connection within {seconds:.0f} s: {reason}; "
                          "check the URL, the password file (RISKCORE_DATABASE_PASSWORD_FILE) and that the database "
                          "is up")
        if not told:
            say(f"waiting for the database {shown(url)}")
            told = True
        time.sleep(1)


def wait_for_tracking_server(uri: str, seconds: float) -> None:
    """Return once an MLflow tracking server answers its health check (a local store needs no wait)."""
    if not uri.startswith(("http://", "https://")):
        return
    health = uri.rstrip("/") + "/health"
    deadline, told = time.monotonic() + seconds, False
    while not answers(health):
        if time.monotonic() > deadline:
            raise Refused(f"the MLflow server {uri} did not answer {health} within {seconds:.0f} s; check "
                          "MLFLOW_TRACKING_URI and the server's log")
        if not told:
            say(f"waiting for the MLflow server {uri}")
            told = True
        time.sleep(1)


def first_admin() -> bool:
    """The first admin from the secret file, when the dashboard has no users yet; whether it has users now.

    The init command and the dashboard both call it (a compose tool that starts them together may run both at
    once): the users file's lock lets one add the admin, and the other finds it.
    """
    store = UserStore(identity().users_file)
    if store.has_users():
        say(f"the dashboard has users ({store.path}): no first admin added")
        return True
    path = os.environ.get("RISKCORE_ADMIN_PASSWORD_FILE") or DEFAULT_ADMIN_PASSWORD_FILE
    password = read_secret(path, "the first admin's password")
    if password is None:
        say(f"no first admin's password in {path}: the dashboard has no users")
        return False
    name = os.environ.get("RISKCORE_ADMIN_USER") or "admin"
    try:
        user = store.add_user(name, "admin", password)
    except ConfigError as err:
        if store.has_users():  # added by the other process meanwhile
            say(f"the dashboard has users ({store.path}): no first admin added")
            return True
        raise ConfigError(f"the first admin from {path}: {err}") from None
    say(f"added the first admin {user.name} to {store.path}: the dashboard asks everyone to sign in")
    return True


def first_key() -> None:
    """The first API key from the secret file, when the API has no keys yet."""
    store = KeyStore(identity().keys_file)
    if store.keys():
        say(f"the API has keys already ({store.path}): no first key added")
        return
    path = os.environ.get("RISKCORE_API_KEY_FILE") or DEFAULT_API_KEY_FILE
    secret = read_secret(path, "the first API key")
    if secret is None:
        say(f"no first API key in {path}: the API answers 401 until a key is added with: "
            "python -m api keys add --role service")
        return
    try:
        record, _ = store.add(FIRST_KEY_ROLE, "first key (the deployment's secret)", secret=secret.strip())
    except KeyFileError as err:
        raise Refused(f"the first API key from {path}: {err}") from None
    say(f"added the first API key {record.id} (role {record.role}) to {store.path}")


def first_model() -> None:
    """The dashboard's first start (the demo portfolio, a quick model, its monitoring) when there is no champion."""
    from riskcore.workbench import Workbench  # lazy: seconds of imports the services and the probe do not need

    bench = Workbench()
    if bench.tracker.champion() is not None:
        say("the registry has a champion: no first model trained")
        return
    say(f"no champion yet: training a first model on the demo portfolio ({bench.settings.demo_companies:,} "
        "companies, the quick profile) and monitoring its later years, as the dashboard's first start does")
    last = [""]

    def progress(fraction: float, message: str) -> None:
        step = message.split(" (")[0]  # "cross-validating logistic (3/18 fits)": one line per step
        if step != last[0]:
            last[0] = step
            say(f"  {fraction:4.0%} {message}")

    result = bench.first_start(profile="quick", progress=progress)
    if result is None:
        say("another process trained the first model meanwhile")
    else:
        say(f"the first model {result.model_version} is the champion")


def init(args: list[str]) -> int:
    """The first start; see the module's docstring."""
    seconds = WAIT_SECONDS
    if len(args) == 2 and args[0] == "--wait" and args[1].isdigit():
        seconds = int(args[1])
    elif args:
        print("usage: container_entrypoint.py init [--wait SECONDS]", file=sys.stderr)
        return 2
    set_thread_defaults()
    try:
        settings = load_settings()
        wait_for_database(settings.resolved_audit_url, seconds)
        wait_for_tracking_server(settings.tracking_uri, seconds)
        if not first_admin():
            say("the dashboard stays inside its container until a user exists: add one with "
                "python -m riskcore users add NAME --role admin")
        first_key()
        first_model()
    except RiskcoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    say("the first start is done")
    return 0


def health(args: list[str]) -> int:
    """0 when the named service of this container answers its health check, else 1."""
    if len(args) != 1 or args[0] not in HEALTH_PATHS:
        print(f"usage: container_entrypoint.py health {'|'.join(HEALTH_PATHS)}", file=sys.stderr)
        return 2
    return 0 if answers(f"http://127.0.0.1:{PORTS[args[0]]}{HEALTH_PATHS[args[0]]}") else 1


def main(argv: list[str]) -> int:
    """Run one command; returns an exit status, or replaces this process with the service."""
    command, args = (argv[0], argv[1:]) if argv else ("api", [])
    if command == "health":
        return health(args)
    try:
        database_password()
        if command == "init":
            return init(args)
        program = service_command(command, args) if command in SERVICES else argv
    except Refused as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RiskcoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_status
    if command in SERVICES:
        os.chdir(APP)  # streamlit reads .streamlit/config.toml from here
    try:
        os.execvp(program[0], program)
    except OSError as err:
        print(f"error: cannot run {program[0]!r} ({err.strerror}); the commands are {', '.join(SERVICES)}, init, "
              "health, or a program of the image", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
