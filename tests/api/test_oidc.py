"""Bearer tokens of a real (mock) OpenID Connect provider on 127.0.0.1, next to the API keys."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from apitools import assert_clean, header
from cryptography.hazmat.primitives.asymmetric import rsa

from api.oidc import BearerVerifier
from riskcore.errors import ConfigError
from riskcore.identity import OidcSettings, claim_values

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
werkzeug_serving = pytest.importorskip("werkzeug.serving")

AUDIENCE = "riskcore-api"
USERS = {
    "alice": {"email": "alice@example.com", "roles": ["service"]},
    "vera": {"email": "vera@example.com", "roles": ["viewer"]},
    "gina": {"email": "gina@example.com", "groups": ["risk-ops", "everyone"]},
    "nora": {"email": "nora@example.com", "roles": ["intern"]},
}


@dataclass
class Provider:
    """A running mock provider: its issuer URL, how often its key set was fetched, extra keys it publishes."""

    issuer: str
    jwks_fetches: int = 0
    extra_keys: list[dict[str, Any]] = field(default_factory=list)

    def token(self, sub: str, client_id: str = AUDIENCE) -> str:
        """An ID token for ``sub``, through the authorization-code flow a client would run."""
        cb = "http://127.0.0.1/cb"
        r = httpx.post(f"{self.issuer}/oauth2/authorize", data={"sub": sub},
                       params={"client_id": client_id, "redirect_uri": cb, "response_type": "code",
                               "scope": "openid email profile"})
        assert r.status_code == 302, r.text
        code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
        r = httpx.post(f"{self.issuer}/oauth2/token", auth=(client_id, "secret"),
                       data={"grant_type": "authorization_code", "code": code, "redirect_uri": cb})
        assert r.status_code == 200, r.text
        return str(r.json()["id_token"])


def _jwks_middleware(app: Any, provider: Provider) -> Any:
    """Count the key-set fetches and publish ``provider.extra_keys`` next to the provider's own key."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/jwks":
            return app(environ, start_response)
        provider.jwks_fetches += 1
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = json.loads(b"".join(app(environ, capture)))
        body["keys"] += provider.extra_keys
        data = json.dumps(body).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(data)))])
        return [data]

    return wrapped


@contextmanager
def _serve(max_age: timedelta) -> Iterator[Provider]:
    users = [oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in USERS.items()]
    app = oidc_provider_mock.app(user_claims=users, access_token_max_age=max_age)
    server = werkzeug_serving.make_server("127.0.0.1", 0, app, threaded=True)
    provider = Provider(issuer=f"http://127.0.0.1:{server.server_port}")
    server.app = _jwks_middleware(app, provider)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """The organisation's provider: tokens live an hour."""
    with _serve(timedelta(hours=1)) as p:
        yield p


@pytest.fixture(scope="module")
def stale_provider() -> Iterator[Provider]:
    """A provider whose tokens expired two minutes before they were issued, well past the API's clock skew."""
    with _serve(timedelta(minutes=-2)) as p:
        yield p


@pytest.fixture
def oidc_client(make_client, monkeypatch, provider):
    """A client of an API that accepts ``provider``'s tokens for :data:`AUDIENCE`; keyword arguments set env."""

    def make(issuer: str = provider.issuer, **env: str):
        monkeypatch.setenv("RISKCORE_OIDC_ISSUER", issuer)
        monkeypatch.setenv("RISKCORE_OIDC_AUDIENCE", AUDIENCE)
        for name in ("ROLES_CLAIM", "ROLE_MAP"):
            monkeypatch.delenv(f"RISKCORE_OIDC_{name}", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(f"RISKCORE_OIDC_{name.upper()}", value)
        return make_client()

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _minted(provider: Provider, kid: str, **claims: Any) -> tuple[str, dict[str, Any]]:
    """A token signed by a key of our own under ``kid``, and that key's public JWK."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    payload = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 600,
               "email": "mallory@example.com", "roles": ["admin"], **claims}
    token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return token, {**public, "kid": kid, "use": "sig", "alg": "RS256"}


def test_a_token_scores_with_its_role_and_names_the_person_in_the_audit_trail(oidc_client, provider, company,
                                                                                audit):
    client = oidc_client()
    r = client.post("/predict", json=company, headers=bearer(provider.token("alice")))
    assert r.status_code == 200, r.text
    row = audit.recent(10).iloc[0]
    assert (row["request_id"], row["caller"], row["source"]) == (r.json()["request_id"], "oidc:alice@example.com",
                                                                 "api")


def test_the_role_decides_what_a_token_may_call(oidc_client, provider, company):
    client = oidc_client()
    token = provider.token("vera")
    assert client.get("/model_info", headers=bearer(token)).status_code == 200
    r = client.post("/predict", json=company, headers=bearer(token))
    assert r.status_code == 403
    assert "role 'viewer' may not score companies" in r.json()["detail"]


def test_a_groups_claim_maps_to_api_roles(oidc_client, provider, company):
    client = oidc_client(roles_claim="groups", role_map="risk-ops=service")
    r = client.post("/predict", json=company, headers=bearer(provider.token("gina")))
    assert r.status_code == 200, r.text


def test_a_token_without_an_api_role_is_403(oidc_client, provider):
    r = oidc_client().get("/model_info", headers=bearer(provider.token("nora")))
    assert r.status_code == 403
    assert "'roles' claim names no API role" in r.json()["detail"]
    assert_clean(r)


def test_an_expired_token_is_401(oidc_client, stale_provider):
    client = oidc_client(issuer=stale_provider.issuer)
    r = client.get("/model_info", headers=bearer(stale_provider.token("vera")))
    assert r.status_code == 401
    assert r.json()["detail"] == f"the bearer token has expired; get a new one from {stale_provider.issuer}"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_clean(r, "Traceback")


def test_a_token_for_another_audience_is_401(oidc_client, provider):
    r = oidc_client().get("/model_info", headers=bearer(provider.token("vera", client_id="another-app")))
    assert r.status_code == 401
    assert "issued for another audience" in r.json()["detail"]


def test_a_token_of_another_provider_is_401(oidc_client):
    """Signed by a key this provider does not publish (the other provider's), so its signature fails."""
    with _serve(timedelta(hours=1)) as stranger:
        r = oidc_client().get("/model_info", headers=bearer(stranger.token("vera")))
    assert r.status_code == 401
    assert "signature does not match the keys" in r.json()["detail"]


def test_an_unknown_signer_is_401_and_a_rotated_key_is_picked_up_without_a_restart(oidc_client, provider):
    client = oidc_client()
    state = client.app.state.riskcore
    state.bearer = BearerVerifier(state.bearer.settings, refresh_cooldown=0)
    vera = provider.token("vera")
    before = provider.jwks_fetches
    assert client.get("/model_info", headers=bearer(vera)).status_code == 200
    assert client.get("/model_info", headers=bearer(vera)).status_code == 200
    assert provider.jwks_fetches == before + 1  # the key set is cached

    token, jwk = _minted(provider, "next-key")
    r = client.get("/model_info", headers=bearer(token))
    assert r.status_code == 401
    assert "signed by a key" in r.json()["detail"] and "does not publish" in r.json()["detail"]
    assert provider.jwks_fetches == before + 2  # an unknown kid fetched the key set again

    provider.extra_keys.append(jwk)  # the provider rotates: it now publishes the new key
    try:
        r = client.get("/model_info", headers=bearer(token))
    finally:
        provider.extra_keys.clear()
    assert r.status_code == 200, r.text


def test_unsigned_and_malformed_tokens_are_401(oidc_client, provider):
    client = oidc_client()
    now = int(time.time())
    unsigned = jwt.encode({"iss": provider.issuer, "aud": AUDIENCE, "sub": "eve", "iat": now, "exp": now + 60,
                           "roles": ["admin"]}, None, algorithm="none")
    for token in (unsigned, "not-a-jwt"):
        r = client.get("/model_info", headers=bearer(token))
        assert r.status_code == 401, token
        assert_clean(r)


def test_keys_still_work_and_no_credentials_is_401(oidc_client, keys, company):
    client = oidc_client()
    assert client.post("/predict", json=company, headers=header(keys["service"])).status_code == 200
    r = client.get("/model_info")
    assert r.status_code == 401
    assert "or a bearer token in the Authorization header" in r.json()["detail"]
    scheme = client.get("/openapi.json").json()["components"]["securitySchemes"]["BearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_without_an_issuer_bearer_tokens_are_not_accepted(make_client, monkeypatch, provider):
    monkeypatch.delenv("RISKCORE_OIDC_ISSUER", raising=False)
    r = make_client().get("/model_info", headers=bearer(provider.token("vera")))
    assert r.status_code == 401
    assert r.json()["detail"] == "no API key: send it in the X-API-Key header"


def test_an_unreachable_provider_is_503(oidc_client, provider):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = oidc_client(issuer=closed).get("/model_info", headers=bearer(provider.token("vera")))
    assert r.status_code == 503
    assert "keys cannot be fetched" in r.json()["detail"]


def test_invalid_settings_refuse_tokens_but_keep_keys(oidc_client, monkeypatch, keys, provider):
    client = oidc_client(role_map="risk-ops=superuser")
    assert client.get("/model_info", headers=header(keys["viewer"])).status_code == 200
    r = client.get("/model_info", headers=bearer(provider.token("vera")))
    assert r.status_code == 500
    assert "sign-in settings are invalid" in r.json()["detail"]
    assert "superuser" not in r.text


@pytest.mark.parametrize("env,message", [
    ({"RISKCORE_OIDC_ISSUER": "https://idp.example.com"}, "RISKCORE_OIDC_AUDIENCE is not"),
    ({"RISKCORE_OIDC_ISSUER": "idp.example.com", "RISKCORE_OIDC_AUDIENCE": "a"}, "http(s) issuer URL"),
    ({"RISKCORE_OIDC_ISSUER": "https://idp", "RISKCORE_OIDC_AUDIENCE": "a", "RISKCORE_OIDC_ROLE_MAP": "ops"},
     "'ops' must be claim-value=role"),
])
def test_settings_errors_say_what_to_set(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OidcSettings.from_env(env)


def test_settings_from_env():
    s = OidcSettings.from_env({"RISKCORE_OIDC_ISSUER": "https://idp", "RISKCORE_OIDC_AUDIENCE": "api",
                               "RISKCORE_OIDC_ROLES_CLAIM": "groups",
                               "RISKCORE_OIDC_ROLE_MAP": "risk-ops=service, model-risk = analyst"})
    assert s == OidcSettings("https://idp", "api", "groups", {"risk-ops": "service", "model-risk": "analyst"})
    assert OidcSettings.from_env({}) is None


@pytest.mark.parametrize("claims,path,expected", [
    ({"roles": ["a", "b"]}, "roles", ["a", "b"]),
    ({"roles": "a b,c"}, "roles", ["a", "b", "c"]),
    ({"realm_access": {"roles": ["x"]}}, "realm_access.roles", ["x"]),
    ({"groups": ["g"]}, "roles", []),
    ({"roles": {"a": 1}}, "roles", []),
])
def test_claim_values(claims, path, expected):
    assert claim_values(claims, path) == expected
