"""Who may see and do what, on the dashboard and the API: one role table, the users, the keys, the session tokens.

One table of roles (:data:`GRANTS`) says what each role may do on every face. People's roles are ranked and
cumulative on the dashboard (each holds the pages and actions of the ones before it); the API's permissions are
given per role; ``service`` is the machine role of an API key:

=========  ===============================================  ===============================  ======================
role       dashboard pages                                  dashboard actions                API permissions
=========  ===============================================  ===============================  ======================
viewer     Business impact, Performance, Sectors            —                                model_info
officer    + Company explorer, Portfolio scoring            score an upload                  —
analyst    + Data quality, Training runs, Costs &           + start a training run,          explain, model_info
           threshold, Monitoring, Model report              monitor an upload
validator  + Calibration                                    + compare two versions,          —
                                                            sign the report
admin      every page                                       + promote, roll back,            score, explain,
                                                            manage the users                 model_info
service    none                                             none                             score
=========  ===============================================  ===============================  ======================

The API permissions open: ``model_info`` GET /model_info and GET /monitoring, ``explain`` POST /predict_explain,
``score`` POST /predict and POST /predict_batch. A person holds one of :data:`USER_ROLES` (the users file, the
dashboard's single sign-on); an API key or bearer token holds one of :data:`KEY_ROLES` (the roles with an API
permission). Costs & threshold belongs to the analyst: the cut-off it tunes is the risk managers' decision, and the
Business impact page (viewer) shows the consequences of the costs set there.

Modules, each with one meaning (private; their names are re-exported here):

- ``_roles``: the table and the checks (:func:`can_open`, :func:`can_do`, :func:`can_call`), a claim's roles;
- ``_filestore``: :class:`JsonFileStore`, the one private JSON file store of the users and the keys;
- ``_users``: :class:`UserStore`, the dashboard's users with argon2id password hashes;
- ``_keys``: :class:`KeyStore`, the API's hashed keys;
- ``_sessions``: :class:`SessionSigner`, the dashboard's signed session tokens;
- ``_settings``: :class:`IdentitySettings`, every identity setting, read once at the edge.
"""

from __future__ import annotations

from riskcore.identity._filestore import JsonFileStore, write_private
from riskcore.identity._keys import ApiKey, KeyFileError, KeyStore
from riskcore.identity._roles import (
    ACTIONS,
    GRANTS,
    KEY_ROLES,
    PAGES,
    PERMISSIONS,
    ROLES,
    USER_ROLES,
    Action,
    Grants,
    Permission,
    Role,
    allowed_roles,
    can_call,
    can_do,
    can_open,
    claim_values,
    claimed_roles,
    role_at_least,
)
from riskcore.identity._sessions import SessionSigner, SignedSession
from riskcore.identity._settings import IdentitySettings, OidcSettings
from riskcore.identity._users import User, UserStore

__all__ = [
    "ACTIONS",
    "GRANTS",
    "KEY_ROLES",
    "PAGES",
    "PERMISSIONS",
    "ROLES",
    "USER_ROLES",
    "Action",
    "ApiKey",
    "Grants",
    "IdentitySettings",
    "JsonFileStore",
    "KeyFileError",
    "KeyStore",
    "OidcSettings",
    "Permission",
    "Role",
    "SessionSigner",
    "SignedSession",
    "User",
    "UserStore",
    "allowed_roles",
    "can_call",
    "can_do",
    "can_open",
    "claim_values",
    "claimed_roles",
    "role_at_least",
    "write_private",
]
