"""Single sign-on for the dashboard through the organisation's OpenID Connect provider.

The interface :mod:`dashboard.auth` calls (agreed in its docstring): ``sso_configured()``,
``current_sso_user() -> tuple[str, str] | None`` (the signed-in person's name and riskcore role),
``sso_sign_in_button()`` and ``sso_sign_out()``. Nothing here decides what a role may open; that is
:mod:`riskcore.identity`, whose one role table also names the API's roles.

Single sign-on is on when ``.streamlit/secrets.toml`` (or the secrets Streamlit is given) has an
``[auth]`` section; the sign-in page then offers "Sign in with <provider>" (Streamlit's ``st.login``),
and the sign-out button calls ``st.logout``. Streamlit's own keys (``redirect_uri``, ``cookie_secret``,
``client_id``, ``client_secret``, ``server_metadata_url``, ``client_kwargs``, or one ``[auth.<name>]``
table per provider) are described in its ``st.login`` documentation. riskcore reads three more::

    [auth]
    redirect_uri = "https://risk.example.com/oauth2callback"
    cookie_secret = "a long random string"
    client_id = "riskcore-dashboard"
    client_secret = "..."
    server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
    provider_name = "Example SSO"     # the button says "Sign in with Example SSO"
    roles_claim = "groups"            # the ID-token claim with the roles: "roles" (default) or "groups",
                                      # or a dotted path such as "realm_access.roles"

    [auth.role_map]                   # claim value -> riskcore role
    "risk-committee" = "admin"
    "model-validation" = "validator"
    "credit-officers" = "officer"

A claim value that is a riskcore role's own name (``viewer``, ``officer``, ``analyst``, ``validator``,
``admin``) needs no entry. A person whose claim holds several values gets the highest role they map
to; one whose values map to none is signed in with the provider but opens nothing, and the sign-in
page says which values arrived and where to map them. The claim must be in the ID token (Streamlit
reads the ID token, not the access token): Microsoft Entra sends app roles as ``roles``; Okta and
Keycloak send ``groups`` once a groups claim is added to the ID token.

``st.user`` is read from a cookie Streamlit signs with ``cookie_secret``, so a browser cannot forge a
claim; the role is worked out from it again on every run and never kept in the session state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from riskcore.identity import USER_ROLES, Role, claim_values, claimed_roles

__all__ = ["current_sso_user", "providers", "role_from_claims", "sso_configured", "sso_name", "sso_sign_in_button",
           "sso_sign_out"]

# keys of [auth] (or of a provider's table) that name a provider; other tables, like role_map, are riskcore's
_PROVIDER_KEYS = ("client_id", "server_metadata_url")
_MAX_NAME = 64  # the length of a name in an access event of the audit trail


def _auth() -> Mapping[str, Any]:
    """The ``[auth]`` section of the secrets, or an empty mapping when there is none."""
    try:
        if not st.secrets.load_if_toml_exists():
            return {}
        section = st.secrets.get("auth")
    except (FileNotFoundError, KeyError):  # an unreadable secrets file reads as no sign-on
        return {}
    if section is None:
        return {}
    return section.to_dict() if hasattr(section, "to_dict") else dict(section)


def providers(auth: Mapping[str, Any] | None = None) -> list[tuple[str | None, str]]:
    """The providers to offer, as ``(name for st.login, label for the button)``.

    ``None`` is the provider written directly in ``[auth]``; a table ``[auth.<name>]`` with a
    ``client_id`` or ``server_metadata_url`` is the provider ``<name>``.
    """
    auth = _auth() if auth is None else auth
    found: list[tuple[str | None, str]] = []
    if any(k in auth for k in _PROVIDER_KEYS):
        found.append((None, str(auth.get("provider_name") or "single sign-on")))
    for name, table in auth.items():
        if isinstance(table, Mapping) and any(k in table for k in _PROVIDER_KEYS):
            found.append((str(name), str(table.get("provider_name") or name.replace("-", " ").title())))
    return found


def sso_configured() -> bool:
    """Whether the secrets name at least one provider (sign-in is then required, even without a users file)."""
    return bool(providers())


def role_from_claims(claims: Mapping[str, Any], roles_claim: str = "roles",
                     role_map: Mapping[str, str] | None = None) -> Role | None:
    """The highest riskcore role the claim's values map to, or ``None`` when they map to none.

    Parameters
    ----------
    claims : the ID token's claims (``st.user``).
    roles_claim : the claim holding the roles or groups.
    role_map : claim value → riskcore role; a value that is a role's own name maps to it without an entry.
        An entry naming an unknown role is ignored, so a typo never grants anything.
    """
    roles = claimed_roles(claims, roles_claim, role_map or {}, USER_ROLES)
    return roles[-1] if roles else None  # USER_ROLES is lowest first


def sso_name(claims: Mapping[str, Any]) -> str:
    """The name on record for a signed-in person: email, else preferred_username, else sub.

    A ``|`` (which a session token cannot hold) becomes ``_``, and the name is cut to the length the
    audit trail's access events keep, so the name signed and the name recorded are the same.
    """
    name = next((str(claims[c]) for c in ("email", "preferred_username", "sub") if claims.get(c)), "")
    return name.replace("|", "_")[:_MAX_NAME]


def _claims() -> dict[str, Any]:
    """The signed-in person's claims (``st.user``), or an empty dict when nobody is signed in with a provider."""
    user = st.user.to_dict()
    return dict(user) if user.get("is_logged_in") else {}


def _mapping(auth: Mapping[str, Any]) -> tuple[str, Mapping[str, str]]:
    """The roles claim and the claim-value → role table of the ``[auth]`` section."""
    table = auth.get("role_map")
    role_map = {str(k): str(v) for k, v in table.items()} if isinstance(table, Mapping) else {}
    return str(auth.get("roles_claim") or "roles"), role_map


def current_sso_user() -> tuple[str, str] | None:
    """The person signed in through the provider and their riskcore role, or ``None``.

    ``None`` also when single sign-on is off, the claims name nobody, or the roles claim maps to no role.
    """
    auth = _auth()
    if not providers(auth):
        return None
    claims = _claims()
    name = sso_name(claims)
    role = role_from_claims(claims, *_mapping(auth)) if name else None
    return None if role is None else (name, role)


def sso_sign_in_button() -> None:
    """Under the sign-in form: one "Sign in with <provider>" button per provider.

    A person signed in with the provider whose claim maps to no role is told which values arrived and
    where to map them, and may sign out to try another account.
    """
    auth = _auth()
    offered = providers(auth)
    if not offered:
        return
    claims = _claims()
    if claims and current_sso_user() is None:
        roles_claim, _ = _mapping(auth)
        values = ", ".join(claim_values(claims, roles_claim)) or "none"
        st.warning(f"You are signed in with the provider as {sso_name(claims) or 'an unnamed user'}, but the "
                   f"claim {roles_claim!r} (values: {values}) names no riskcore role. Ask an administrator to "
                   f"give you one of the roles {', '.join(USER_ROLES)}, or to map your group in [auth.role_map] "
                   "of the dashboard's secrets.", icon=":material/badge:")
        if st.button("Sign out of the provider", key="sso_sign_out_unmapped", icon=":material/logout:"):
            sso_sign_out()
        return
    st.caption("Or sign in with your organisation's account:")
    for name, label in offered:
        if st.button(f"Sign in with {label}", key=f"sso_sign_in_{name or 'default'}", icon=":material/key:"):
            st.login(name)


def sso_sign_out() -> None:
    """Sign out of the provider too (Streamlit removes its identity cookie and starts a new session)."""
    st.logout()
