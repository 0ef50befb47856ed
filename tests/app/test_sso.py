"""Single sign-on on the dashboard: the role from the ID token's claim, per page, and the sign-in page's button."""

from __future__ import annotations

import pytest
from pagetools import APP, open_page
from streamlit.testing.v1 import AppTest

from dashboard.sso import providers, role_from_claims, sso_name

TIMEOUT = 120
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-of-enough-length",
    "client_id": "riskcore-dashboard",
    "client_secret": "not-used",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",  # never contacted here
    "provider_name": "Example SSO",
    "roles_claim": "groups",
    "role_map": {"risk-committee": "admin", "credit-officers": "officer"},
}


@pytest.mark.parametrize("claims,expected", [
    ({"groups": ["credit-officers"]}, "officer"),
    ({"groups": ["credit-officers", "risk-committee", "everyone"]}, "admin"),
    ({"groups": ["viewer"]}, "viewer"),  # a role's own name needs no entry
    ({"groups": "analyst credit-officers"}, "analyst"),
    ({"groups": ["everyone"]}, None),
    ({"roles": ["admin"]}, None),  # the wrong claim grants nothing
    ({"groups": ["typo"]}, None),
])
def test_role_from_claims_takes_the_highest_mapped_role(claims, expected):
    role_map = {"risk-committee": "admin", "credit-officers": "officer", "typo": "superuser"}
    assert role_from_claims(claims, "groups", role_map) == expected


def test_providers_and_names():
    assert providers(AUTH) == [(None, "Example SSO")]
    named = {"redirect_uri": "x", "cookie_secret": "y", "role_map": {"a": "admin"},
             "okta": {"client_id": "c", "client_secret": "s", "server_metadata_url": "u"}}
    assert providers(named) == [("okta", "Okta")]
    assert providers({}) == []
    assert sso_name({"email": "a@b.c", "sub": "1"}) == "a@b.c"
    assert sso_name({"preferred_username": "x|y", "sub": "1"}) == "x_y"
    assert sso_name({"sub": "s" * 300}) == "s" * 64


def _app(user: dict) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.secrets["auth"] = AUTH
    app.user = user
    app.run()
    return app


def _user(**claims) -> dict:
    return {"is_logged_in": True, "email": "vera@example.com", **claims}


def test_signed_out_the_sign_in_page_offers_the_provider(app_env):
    app = _app({"is_logged_in": False})
    assert not app.exception, [e.value for e in app.exception]
    assert "Sign in with Example SSO" in [b.label for b in app.button]
    assert not app.metric  # nothing of the dashboard before signing in


def test_a_viewer_by_claim_is_signed_in_and_kept_out_of_training_runs(app_env):
    app = _app(_user(groups=["viewer"]))
    assert not app.exception, [e.value for e in app.exception]
    assert any("vera@example.com" in c.value and "viewer" in c.value for c in app.sidebar.caption)
    open_page(app, "training_runs")
    assert any("You need role analyst" in e.value for e in app.error)


def test_a_mapped_group_opens_what_its_role_opens(app_env):
    app = _app(_user(groups=["risk-committee"]))
    open_page(app, "training_runs")
    assert not app.exception, [e.value for e in app.exception]
    assert not [e.value for e in app.error if "You need role" in e.value]


def test_a_claim_that_maps_to_no_role_opens_nothing_and_says_why(app_env):
    app = _app(_user(groups=["everyone"]))
    assert not app.exception, [e.value for e in app.exception]
    assert any("names no riskcore role" in w.value and "everyone" in w.value for w in app.warning)
    assert not app.metric
