"""The one role table: every role, and what it may do on every face (dashboard pages, dashboard actions, API calls).

People's roles are ranked and cumulative on the dashboard, lowest first: each holds every page and action of the
roles before it. The API's permissions are written out per role rather than accumulated, because two people's roles
(officer, validator) hold no API permission and the machine role ``service`` holds no page: a role that may call the
API is exactly one with a permission below, and only such a role can be given to an API key or a bearer token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = ["ACTIONS", "GRANTS", "KEY_ROLES", "PAGES", "PERMISSIONS", "ROLES", "USER_ROLES", "Action", "Grants",
           "Permission", "Role", "allowed_roles", "can_call", "can_do", "can_open", "claim_values", "claimed_roles",
           "role_at_least"]

Role = Literal["viewer", "officer", "analyst", "validator", "admin", "service"]
Action = Literal["score_upload", "start_training", "monitor_upload", "compare_versions", "sign_report", "export_audit",
                 "promote", "rollback", "manage_users"]
Permission = Literal["score", "explain", "model_info", "retrain", "all_jobs"]

ROLES: tuple[Role, ...] = get_args(Role)
# the roles a person holds (users file, dashboard single sign-on), lowest first; each holds the ones before it
USER_ROLES: tuple[Role, ...] = ("viewer", "officer", "analyst", "validator", "admin")


@dataclass(frozen=True)
class Grants:
    """Everything one role may do, on every face.

    Attributes
    ----------
    role : the role's name, as the users file, the keys file and an identity provider's claim write it.
    meaning : who holds it, in one line.
    pages : the dashboard pages it opens (``pages/<name>.py``).
    actions : the dashboard actions it may do.
    permissions : the API permissions it holds (see ``api/app.py`` for the endpoints of each).
    """

    role: Role
    meaning: str
    pages: frozenset[str]
    actions: frozenset[Action]
    permissions: frozenset[Permission]


# role, meaning, the pages and actions it adds to the role before it, and exactly its API permissions
_TABLE: tuple[tuple[Role, str, tuple[str, ...], tuple[Action, ...], tuple[Permission, ...]], ...] = (
    ("viewer", "reads the results: the business impact, the provisions, the model's performance and its sectors",
     ("business_impact", "provisions", "performance", "sectors"), (), ("model_info",)),
    ("officer", "a credit officer: looks up companies and scores an uploaded portfolio",
     ("company_explorer", "portfolio_scoring"), ("score_upload",), ()),
    ("analyst", "builds and watches models: data quality, training runs, costs and the cut-off, monitoring, the report",
     ("data_quality", "training_runs", "costs_threshold", "monitoring", "model_report"),
     ("start_training", "monitor_upload"), ("explain", "model_info", "retrain")),
    ("validator", "checks a model independently: calibration, comparing two versions, signing the report; audits "
     "the trail (verifies it, exports a period for an examiner)",
     ("calibration", "audit_trail"), ("compare_versions", "sign_report", "export_audit"), ()),
    ("admin", "runs the model's life and the team: promotes, rolls back, manages the users; every API call",
     (), ("promote", "rollback", "manage_users"), ("score", "explain", "model_info", "retrain", "all_jobs")),
    ("service", "a machine that scores through the API; it opens no dashboard page",
     (), (), ("score",)),
)


def _resolve() -> dict[Role, Grants]:
    """The table with the people's pages and actions accumulated along their ranks."""
    grants: dict[Role, Grants] = {}
    pages: frozenset[str] = frozenset()
    actions: frozenset[Action] = frozenset()
    for role, meaning, adds_pages, adds_actions, permissions in _TABLE:
        if role in USER_ROLES:
            pages, actions = pages | frozenset(adds_pages), actions | frozenset(adds_actions)
            grants[role] = Grants(role, meaning, pages, actions, frozenset(permissions))
        else:
            grants[role] = Grants(role, meaning, frozenset(adds_pages), frozenset(adds_actions), frozenset(permissions))
    return grants


GRANTS: Mapping[Role, Grants] = MappingProxyType(_resolve())
# the roles an API key or a bearer token may carry: those with an API permission, in alphabetical order
KEY_ROLES: tuple[Role, ...] = tuple(sorted(r for r in ROLES if GRANTS[r].permissions))
# the least role that opens each page, and that may do each action (the dashboard's "you need role …")
PAGES: dict[str, Role] = {page: role for role, _, adds, _, _ in _TABLE if role in USER_ROLES for page in adds}
ACTIONS: dict[Action, Role] = {action: role for role, _, _, adds, _ in _TABLE if role in USER_ROLES
                               for action in adds}
PERMISSIONS: dict[Role, frozenset[Permission]] = {role: g.permissions for role, g in GRANTS.items()}
_BY_NAME: dict[str, Grants] = {str(role): g for role, g in GRANTS.items()}


def _grants(role: str) -> Grants | None:
    """The grants of a role, or ``None`` for an unknown one (which holds nothing)."""
    return _BY_NAME.get(role) if isinstance(role, str) else None


def role_at_least(role: str, needed: str) -> bool:
    """Whether the person's ``role`` holds everything ``needed`` does (an unknown or machine role holds nothing)."""
    return role in USER_ROLES and needed in USER_ROLES and USER_ROLES.index(role) >= USER_ROLES.index(needed)


def can_open(role: str, page: str) -> bool:
    """Whether ``role`` may open ``pages/<page>.py``.

    Raises
    ------
    KeyError
        When the page is not in :data:`PAGES` (a page without an entry is a bug, never opened by default).
    """
    PAGES[page]
    grants = _grants(role)
    return grants is not None and page in grants.pages


def can_do(role: str, action: Action) -> bool:
    """Whether ``role`` may do the dashboard action ``action``.

    Raises
    ------
    KeyError
        When the action is not in :data:`ACTIONS`.
    """
    ACTIONS[action]
    grants = _grants(role)
    return grants is not None and action in grants.actions


def can_call(role: str, permission: Permission) -> bool:
    """Whether ``role`` holds the API permission ``permission`` (an unknown role holds none).

    Raises
    ------
    KeyError
        When the permission is not one of :data:`Permission`.
    """
    if permission not in get_args(Permission):
        raise KeyError(permission)
    grants = _grants(role)
    return grants is not None and permission in grants.permissions


def allowed_roles(permission: Permission) -> list[Role]:
    """The roles that hold the API permission ``permission``, in the order of :data:`KEY_ROLES`."""
    return [r for r in KEY_ROLES if can_call(r, permission)]


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The values of an identity provider's claim at ``path`` (dots go into nested objects), as strings.

    A list is taken as it is; a string is split on spaces and commas, since some providers send
    ``"roles": "a b"``; a missing claim is an empty list. The dashboard's single sign-on and the API's
    bearer tokens both read roles this way.
    """
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, int))]
    return []


def claimed_roles(claims: Mapping[str, Any], path: str, role_map: Mapping[str, str],
                  among: Sequence[Role]) -> tuple[Role, ...]:
    """The roles of ``among`` that the claim's values name or map to, in the order of ``among``.

    Parameters
    ----------
    claims : a verified token's claims.
    path : the claim holding the roles or groups (see :func:`claim_values`).
    role_map : claim value → role; a value that is a role's own name needs no entry. An entry naming a role
        outside ``among`` grants nothing.
    among : the roles the face accepts: :data:`USER_ROLES` for the dashboard, :data:`KEY_ROLES` for the API.
    """
    mapped = {role_map.get(v, v) for v in claim_values(claims, path)}
    return tuple(r for r in among if r in mapped)
