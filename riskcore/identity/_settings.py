"""Every identity setting in one object, built once at the edge (the API, the dashboard, the command line).

:class:`IdentitySettings` names the users file, the keys file, the session key, the idle timeout and the API's
OpenID Connect provider. The files live in the state folder (``Settings.home``, ``RISKCORE_HOME``); the idle time is
``session_idle_minutes`` of ``riskcore.toml``; the provider comes from the environment:

==============================  ===============================================================
variable                        meaning
==============================  ===============================================================
RISKCORE_OIDC_ISSUER            the provider's issuer URL, exactly as in its tokens' ``iss``;
                                without it the API accepts no bearer token
RISKCORE_OIDC_AUDIENCE          the audience the tokens are issued for (often the client id);
                                required with the issuer
RISKCORE_OIDC_ROLES_CLAIM       the claim that holds the roles: ``roles`` (default), ``groups``,
                                or a dotted path such as ``realm_access.roles``
RISKCORE_OIDC_ROLE_MAP          claim values to API roles, ``value=role`` pairs separated by
                                commas (``risk-ops=service,model-risk=analyst``); a value that is
                                an API role's own name needs no entry
==============================  ===============================================================

The dashboard's single sign-on is Streamlit's, configured in the ``[auth]`` section of its secrets, which the
engine never reads (``dashboard/sso.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from riskcore.config import Settings
from riskcore.errors import ConfigError
from riskcore.identity._roles import KEY_ROLES

__all__ = ["IdentitySettings", "OidcSettings"]


@dataclass(frozen=True)
class OidcSettings:
    """Which provider's bearer tokens the API accepts and how their roles claim maps to API roles."""

    issuer: str
    audience: str
    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OidcSettings | None:
        """The settings from ``RISKCORE_OIDC_*`` variables, or ``None`` when no issuer is set.

        Raises
        ------
        ConfigError
            When the issuer is set without an audience, is not an http(s) URL, or the role map
            names a role no API key may hold or is not ``value=role`` pairs.
        """
        env = os.environ if env is None else env
        issuer = env.get("RISKCORE_OIDC_ISSUER", "").strip()
        if not issuer:
            return None
        if not issuer.startswith(("https://", "http://")):
            raise ConfigError(f"RISKCORE_OIDC_ISSUER must be the provider's http(s) issuer URL, not {issuer!r}")
        audience = env.get("RISKCORE_OIDC_AUDIENCE", "").strip()
        if not audience:
            raise ConfigError("RISKCORE_OIDC_ISSUER is set but RISKCORE_OIDC_AUDIENCE is not; set it to the "
                              "audience the provider issues the API's tokens for (often the client id)")
        claim = env.get("RISKCORE_OIDC_ROLES_CLAIM", "").strip() or "roles"
        return cls(issuer=issuer, audience=audience, roles_claim=claim,
                   role_map=_parse_role_map(env.get("RISKCORE_OIDC_ROLE_MAP", "")))


def _parse_role_map(text: str) -> dict[str, str]:
    """``value=role,value=role`` as a dict, every role checked against :data:`KEY_ROLES`."""
    mapping: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        value, sep, role = (s.strip() for s in pair.rpartition("="))
        if not sep or not value or role not in KEY_ROLES:
            raise ConfigError(f"RISKCORE_OIDC_ROLE_MAP entry {pair!r} must be claim-value=role with a role "
                              f"among {', '.join(KEY_ROLES)}")
        mapping[value] = role
    return mapping


@dataclass(frozen=True)
class IdentitySettings:
    """Where identities are kept and how long a session lasts: read once, passed to whoever checks a caller.

    Attributes
    ----------
    users_file : the dashboard's users (:class:`UserStore`).
    keys_file : the API's keys (:class:`KeyStore`).
    session_key_file : the key that signs the dashboard's session tokens (:class:`SessionSigner`).
    idle_minutes : minutes without a click after which a dashboard session ends.
    oidc : the provider whose bearer tokens the API accepts, or ``None``.
    oidc_problem : why the ``RISKCORE_OIDC_*`` variables are invalid, or ``""``; the API then refuses every
        bearer token with 500 (its keys keep working).
    """

    users_file: Path
    keys_file: Path
    session_key_file: Path
    idle_minutes: int = 30
    oidc: OidcSettings | None = None
    oidc_problem: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> IdentitySettings:
        """The identity settings of ``settings``' state folder, with the provider of ``env`` (default: the process's).

        Invalid ``RISKCORE_OIDC_*`` variables do not raise: they give ``oidc=None`` and the reason in
        ``oidc_problem``, so the API still starts and its keys work while no bearer token passes unchecked.
        """
        home = Path(settings.home)
        try:
            oidc, problem = OidcSettings.from_env(env), ""
        except ConfigError as err:
            oidc, problem = None, str(err)
        return cls(users_file=home / "users.json", keys_file=Path(settings.keys_file),
                   session_key_file=home / "session.key", idle_minutes=settings.session_idle_minutes,
                   oidc=oidc, oidc_problem=problem)
