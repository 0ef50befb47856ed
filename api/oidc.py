"""Bearer tokens from the organisation's OpenID Connect provider, accepted next to the API keys.

A client may send ``Authorization: Bearer <token>`` instead of an ``X-API-Key``. The token is a JWT
issued by the provider the operator names, and it passes when

- its signature verifies with one of the keys the provider publishes (the ``jwks_uri`` of its
  discovery document ``<issuer>/.well-known/openid-configuration``; the key set is cached for five
  minutes and fetched again, at most every 30 seconds, when a token names a key id it does not hold,
  which is how a provider's key rotation reaches the API without a restart);
- its ``iss`` is the configured issuer, its ``aud`` holds the configured audience, and its ``exp``
  has not passed (30 seconds of clock skew allowed); ``sub``, ``iat`` and ``exp`` are required;
- its roles claim names an API role (the table in :mod:`riskcore.identity`).

A token that fails any check is answered 401 with a ``detail`` that says which; a valid token whose
role may not call the endpoint is 403, and a provider that cannot be reached is 503, exactly like a
key. The caller written to the audit trail is ``oidc:<email>`` (else ``preferred_username``, else
``sub``), so the person is on the record.

The provider and its role mapping are identity settings (:class:`riskcore.identity.IdentitySettings`, from the
``RISKCORE_OIDC_*`` variables); the roles a token may carry are the API's roles of the one role table
(:data:`riskcore.identity.KEY_ROLES`).
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import HTTPException

from riskcore.identity import KEY_ROLES, ApiKey, IdentitySettings, OidcSettings, Permission, can_call, claimed_roles

__all__ = ["BearerVerifier", "Identity", "verifier"]

log = logging.getLogger("api")

_LEEWAY_SECONDS = 30
_TIMEOUT_SECONDS = 10
_MAX_NAME = 200  # the audit trail stores callers of up to 255 characters, with "oidc:" in front
# Asymmetric algorithms only: a provider signs with its private key and publishes the public one;
# "none" and the HMAC family would let anyone who knows the (public) key forge a token.
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@dataclass(frozen=True)
class Identity:
    """The person or service a verified token speaks for."""

    subject: str
    name: str
    roles: tuple[str, ...]


class BearerVerifier:
    """Verifies bearer tokens against one provider's published keys.

    Parameters
    ----------
    settings : the provider and the role mapping.
    problem : set instead of ``settings`` when those are invalid: every token is then refused with
        500 (the API still starts and its keys work); the text goes to the log, never to a client.
    refresh_cooldown : the fewest seconds between two fetches of the key set caused by unknown key ids
        (a stream of forged kids must not make the API hammer the provider).
    """

    def __init__(self, settings: OidcSettings | None, problem: str = "", *, refresh_cooldown: float = 30):
        self.settings = settings
        self.problem = problem if settings is None else ""
        self.refresh_cooldown = refresh_cooldown
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _usable(self) -> OidcSettings:
        """The settings, or the 500 of a verifier whose settings are invalid."""
        if self.settings is None:
            raise HTTPException(500, "bearer tokens cannot be checked because the server's sign-in settings "
                                     "are invalid; use an API key or tell the operator")
        return self.settings

    # -- the provider's keys -----------------------------------------------------
    def _key_client(self, s: OidcSettings) -> jwt.PyJWKClient:
        """The JWKS client of the provider, found through its discovery document on first use."""
        with self._lock:
            if self._jwks is None:  # a failed discovery is tried again on the next token
                self._jwks = jwt.PyJWKClient(_jwks_uri(s.issuer), cache_jwk_set=True, lifespan=300,
                                             timeout=_TIMEOUT_SECONDS,
                                             cooldown_duration=self.refresh_cooldown)
            return self._jwks

    def _signing_key(self, token: str, s: OidcSettings) -> jwt.PyJWK:
        """The published key that signed ``token``: by its ``kid``, or the only key when it names none."""
        kid = jwt.get_unverified_header(token).get("kid")
        client = self._key_client(s)
        if kid:
            return client.get_signing_key(kid)  # fetches the key set again once when the kid is unknown
        keys = client.get_signing_keys()
        if len(keys) != 1:
            raise _unauthorized("the bearer token names no signing key (kid) and the provider publishes "
                                f"{len(keys)}; ask the provider's administrator to include the kid")
        return keys[0]

    # -- verification ------------------------------------------------------------
    def verify(self, token: str) -> Identity:
        """Check the token's signature, issuer, audience and expiry and read its roles.

        Returns
        -------
        Identity
            Its ``roles`` may be empty (:meth:`caller` answers 403).

        Raises
        ------
        fastapi.HTTPException
            401 with the reason when the token is not valid, 503 when the provider cannot be reached,
            500 when the bearer-token settings are invalid.
        """
        s = self._usable()
        try:
            key = self._signing_key(token, s)
            claims = jwt.decode(token, key, algorithms=list(_ALGORITHMS), audience=s.audience, issuer=s.issuer,
                                leeway=_LEEWAY_SECONDS, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWKClientConnectionError as err:
            log.error("cannot fetch the keys of the sign-in provider %s: %s", s.issuer, err)
            raise HTTPException(503, "the sign-in provider's keys cannot be fetched, so the bearer token "
                                     "cannot be checked; try again later or use an API key") from None
        except (jwt.PyJWTError, _DiscoveryError) as err:
            raise _unauthorized(_reason(err, s)) from None
        return _identity(claims, s)

    def caller(self, token: str, permission: Permission, *others: Permission) -> ApiKey:
        """The key-like record of the token's holder, with the first of its roles that holds ``permission``.

        With ``others`` (a route that admits any of several permissions), the first role holding any of them.
        When none of its roles holds it, the record carries its first role, so the guard's usual 403
        names it; a token with no API role at all is 403 here.
        """
        s = self._usable()
        who = self.verify(token)
        if not who.roles:
            raise HTTPException(403, f"the bearer token's {s.roles_claim!r} claim names no API role; "
                                     f"ask for one of {', '.join(KEY_ROLES)} (or a group mapped to one)")
        role = next((r for r in who.roles if any(can_call(r, p) for p in (permission, *others))),
                    who.roles[0])
        return ApiKey(id=f"oidc:{who.name}", name=who.name, role=role, created_at="")


class _DiscoveryError(Exception):
    """The provider's discovery document is missing, unreadable or names another issuer."""


def _jwks_uri(issuer: str) -> str:
    """The ``jwks_uri`` of the provider's discovery document (which must name the same issuer)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) checked
            doc = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError) as err:
        raise jwt.PyJWKClientConnectionError(f"discovery document {url}: {err}") from None
    except ValueError:
        raise _DiscoveryError(f"the discovery document {url} is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("jwks_uri"), str):
        raise _DiscoveryError(f"the discovery document {url} has no jwks_uri")
    if str(doc.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise _DiscoveryError(f"the discovery document names the issuer {doc.get('issuer')!r}, not {issuer!r}")
    return str(doc["jwks_uri"])


def _reason(err: Exception, s: OidcSettings) -> str:
    """What was wrong with the token, in words a client can act on."""
    if isinstance(err, jwt.ExpiredSignatureError):
        return f"the bearer token has expired; get a new one from {s.issuer}"
    if isinstance(err, jwt.InvalidAudienceError):
        return f"the bearer token was issued for another audience; this API accepts tokens for {s.audience!r}"
    if isinstance(err, jwt.InvalidIssuerError):
        return f"the bearer token was issued by another provider; this API accepts tokens from {s.issuer}"
    if isinstance(err, jwt.ImmatureSignatureError):
        return "the bearer token is not valid yet; check the clocks of the client and the provider"
    if isinstance(err, jwt.MissingRequiredClaimError):
        return f"the bearer token lacks the claim {err.claim!r}"
    if isinstance(err, jwt.InvalidSignatureError):
        return f"the bearer token's signature does not match the keys {s.issuer} publishes"
    if isinstance(err, jwt.InvalidAlgorithmError):
        return f"the bearer token is signed with an algorithm this API refuses; use one of {', '.join(_ALGORITHMS)}"
    if isinstance(err, jwt.PyJWKClientError):
        return f"the bearer token is signed by a key {s.issuer} does not publish"
    if isinstance(err, _DiscoveryError):
        log.error("the sign-in provider's discovery document is unusable: %s", err)
        return "the bearer token cannot be checked: the provider's discovery document is unusable"
    return "the bearer token is not a valid signed JWT"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers=_CHALLENGE)


def _identity(claims: Mapping[str, Any], s: OidcSettings) -> Identity:
    """Who the claims name and which API roles their roles claim maps to (in :data:`KEY_ROLES` order)."""
    roles = claimed_roles(claims, s.roles_claim, s.role_map, KEY_ROLES)
    name = next((str(claims[c]) for c in ("email", "preferred_username", "sub") if claims.get(c)), "")
    return Identity(subject=str(claims["sub"]), name=name[:_MAX_NAME], roles=roles)


def verifier(identity: IdentitySettings) -> BearerVerifier | None:
    """The verifier of the identity settings' provider, or ``None`` when bearer tokens are off.

    Invalid ``RISKCORE_OIDC_*`` settings are logged and give a verifier that refuses every token (500), so
    the API still starts, keys keep working, and no token passes unchecked.
    """
    if identity.oidc_problem:
        log.error("bearer tokens are refused: %s", identity.oidc_problem)
        return BearerVerifier(None, problem=identity.oidc_problem)
    return None if identity.oidc is None else BearerVerifier(identity.oidc)
