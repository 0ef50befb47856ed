"""Sign-in in a real browser: the form comes first, a role decides the pages, and single sign-on with a mock provider.

Two dashboards run on their own state folder (a copy of the session's trained one, with two users): one with
the users file only, one with single sign-on against an OpenID Connect provider (``oidc-provider-mock``)
served by this process on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
PASSWORD = "correct horse battery"
PROVIDER_USERS = {
    "ada": {"email": "ada@example.com", "name": "Ada", "groups": ["risk-committee", "everyone"]},
    "olga": {"email": "olga@example.com", "name": "Olga", "groups": ["credit-officers"]},
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _dashboard(home: Path, secrets: Path, name: str, port: int | None = None) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on ``home`` with only the secrets file ``secrets``; its URL."""
    port = port or _free_port()
    env = {**os.environ, "RISKCORE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    log = OUTPUT / f"server-{name}.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless",
             "true", "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats",
             "false", "--secrets.files", str(secrets)],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard server exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not become healthy in 90 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def signin_home(browser_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the trained state folder with a viewer (vic) and an admin (ada) in its users file."""
    from riskcore.identity import UserStore

    home = tmp_path_factory.mktemp("signin") / "home"
    shutil.copytree(browser_home, home)
    users = UserStore(home / "users.json")
    users.add_user("vic", "viewer", PASSWORD)
    users.add_user("ada", "admin", PASSWORD)
    return home


@pytest.fixture(scope="module")
def signin_url(signin_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard with users and no single sign-on."""
    secrets = tmp_path_factory.mktemp("no_sso") / "secrets.toml"
    secrets.write_text("# no [auth]: no single sign-on\n")
    with _dashboard(signin_home, secrets, "sign-in") as url:
        yield url


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """A mock OpenID Connect provider on 127.0.0.1 that knows ada (risk-committee) and olga (credit-officers)."""
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    from werkzeug.serving import make_server

    users = [oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in PROVIDER_USERS.items()]
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def sso_url(signin_home: Path, issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard with single sign-on against the mock provider, roles from its ``groups`` claim."""
    port = _free_port()
    secrets = tmp_path_factory.mktemp("sso") / "secrets.toml"
    secrets.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{os.urandom(24).hex()}"
client_id = "riskcore-dashboard"
client_secret = "mock-provider-accepts-any-secret"
server_metadata_url = "{issuer}/.well-known/openid-configuration"
provider_name = "Mock SSO"
roles_claim = "groups"

[auth.role_map]
"risk-committee" = "admin"
"credit-officers" = "officer"
""")
    with _dashboard(signin_home, secrets, "sso", port=port) as url:
        yield url


def _sign_in(page, wait_for_app, name: str, password: str = PASSWORD) -> None:
    page.get_by_role("heading", name="Sign in to riskcore").wait_for()
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    wait_for_app(page)


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_sign_in_form_comes_first(page, signin_url, wait_for_app):
    for path in ("", "training_runs"):
        page.goto(f"{signin_url}/{path}")
        wait_for_app(page)
        page.get_by_role("heading", name="Sign in to riskcore").wait_for()
        _no_exception(page)
        assert page.get_by_test_id("stMetric").count() == 0
        assert page.get_by_test_id("stSidebarNav").count() == 0
        assert page.get_by_role("heading", name="Training runs").count() == 0
    page.screenshot(path=str(OUTPUT / "screenshots" / "sign_in_form.png"), full_page=True)


def test_a_wrong_password_is_refused(page, signin_url, wait_for_app):
    page.goto(signin_url)
    wait_for_app(page)
    _sign_in(page, wait_for_app, "ada", "not the password")
    page.get_by_text("Wrong user name or password").wait_for()
    assert page.get_by_test_id("stSidebarNav").count() == 0


def _open_by_url(page, wait_for_app, path: str) -> None:
    """Go to ``path`` in this session, as the browser's back and forward buttons do.

    A full page load would start a new Streamlit session, which is signed out (the session token lives in
    the server's session state), so the address is changed in place and the app follows it.
    """
    page.evaluate("""(path) => {
        window.history.pushState({}, "", path);
        window.dispatchEvent(new PopStateEvent("popstate", {state: {}}));
    }""", f"/{path}")
    wait_for_app(page)


def test_a_viewer_cannot_reach_training_runs_by_url(page, signin_url, wait_for_app):
    page.goto(signin_url)
    wait_for_app(page)
    _sign_in(page, wait_for_app, "vic")
    page.get_by_role("heading", name="Business impact").first.wait_for()
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.get_by_text("Business impact").count() == 1
    assert nav.get_by_text("Training runs").count() == 0
    _open_by_url(page, wait_for_app, "training_runs")
    page.get_by_text("You need role analyst").first.wait_for()
    _no_exception(page)
    assert page.get_by_role("heading", name="Training runs").count() == 0
    page.screenshot(path=str(OUTPUT / "screenshots" / "viewer_training_runs.png"), full_page=True)


def test_an_admin_reaches_training_runs(page, signin_url, wait_for_app):
    page.goto(signin_url)
    wait_for_app(page)
    _sign_in(page, wait_for_app, "ada")
    page.get_by_role("heading", name="Business impact").first.wait_for()
    assert page.get_by_test_id("stSidebar").get_by_text("ada").count() >= 1
    _open_by_url(page, wait_for_app, "training_runs")
    page.get_by_role("heading", name="Training runs").first.wait_for()
    _no_exception(page)
    assert page.get_by_text("You need role").count() == 0


def _sign_in_with_provider(page, sso_url, wait_for_app, sub: str, path: str = "") -> None:
    """Through the provider's own pages: the button, the provider's form, back to the dashboard."""
    page.goto(f"{sso_url}/{path}")
    wait_for_app(page)
    page.get_by_role("button", name="Sign in with Mock SSO").click()
    page.wait_for_url("**/oauth2/authorize**")
    page.get_by_role("button", name=sub, exact=True).click()
    page.wait_for_url(f"{sso_url}/**")
    wait_for_app(page)


def test_single_sign_on_maps_the_groups_claim_to_admin(page, sso_url, wait_for_app):
    _sign_in_with_provider(page, sso_url, wait_for_app, "ada")
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("ada@example.com").first.wait_for()
    assert sidebar.get_by_text("admin").count() >= 1
    page.goto(f"{sso_url}/training_runs")  # a new session: the provider's cookie signs it in again
    wait_for_app(page)
    page.get_by_role("heading", name="Training runs").first.wait_for()
    _no_exception(page)
    page.screenshot(path=str(OUTPUT / "screenshots" / "sso_admin_training_runs.png"), full_page=True)


def test_single_sign_on_officer_cannot_reach_training_runs(page, sso_url, wait_for_app):
    _sign_in_with_provider(page, sso_url, wait_for_app, "olga")
    page.get_by_test_id("stSidebar").get_by_text("olga@example.com").first.wait_for()
    page.goto(f"{sso_url}/training_runs")
    wait_for_app(page)
    page.get_by_text("You need role analyst").first.wait_for()
    assert page.get_by_role("heading", name="Training runs").count() == 0
    _no_exception(page)
