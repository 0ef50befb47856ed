"""The API's side of the identity model: the ``X-API-Key`` header in, 401, 403 or 503 out.

The keys, their file and what each role may call are the engine's (:mod:`riskcore.identity`, whose table lists
every role on every face); this module only turns them into HTTP answers:

- no key, or a key that is unknown or revoked: 401 with ``WWW-Authenticate: X-API-Key``;
- a keys file that cannot be read: 503 (the operator must repair it; the details go to the log only);
- a caller (key or bearer token, :mod:`api.oidc`) whose role lacks the endpoint's permission: 403 naming the
  roles that hold it.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException

from riskcore.identity import ApiKey, KeyFileError, KeyStore, Permission, allowed_roles, can_call

__all__ = ["API_KEY_HEADER", "authorize", "key_caller"]

log = logging.getLogger("api")

API_KEY_HEADER = "X-API-Key"
_WHAT: dict[Permission, str] = {"score": "score companies", "explain": "explain scores",
                                "model_info": "read the model's information", "retrain": "start the retraining loop",
                                "all_jobs": "see every caller's jobs or name a file on the server"}
_CHALLENGE = {"WWW-Authenticate": API_KEY_HEADER}


def key_caller(keys: KeyStore, secret: str | None, *, bearer_accepted: bool = False) -> ApiKey:
    """The active key whose secret the header holds.

    Parameters
    ----------
    keys : the key store.
    secret : the header's value (``None`` or empty when the header was not sent).
    bearer_accepted : whether the 401 for a missing key may suggest a bearer token instead.

    Raises
    ------
    fastapi.HTTPException
        401 when there is no key or it is unknown or revoked; 503 when the keys file cannot be read.
    """
    if not secret:
        bearer = " or a bearer token in the Authorization header" if bearer_accepted else ""
        raise HTTPException(401, f"no API key: send it in the {API_KEY_HEADER} header{bearer}", headers=_CHALLENGE)
    try:
        found = keys.authenticate(secret)
    except KeyFileError as err:
        log.error("cannot read the API keys: %s", err)
        raise HTTPException(KeyFileError.http_status, "the API keys cannot be read; tell the operator") from None
    if found is None:
        raise HTTPException(401, "the API key is unknown or revoked", headers=_CHALLENGE)
    return found


def authorize(caller: ApiKey, permission: Permission) -> None:
    """Let the caller through when its role holds ``permission``.

    Raises
    ------
    fastapi.HTTPException
        403 naming the caller's role and the roles that hold the permission.
    """
    if not can_call(caller.role, permission):
        raise HTTPException(403, f"a key with role {caller.role!r} may not {_WHAT[permission]}; "
                                 f"this needs one of the roles {', '.join(allowed_roles(permission))}")
