"""The API's keys: one private JSON file of hashed keys, each with one role.

The keys file (``api_keys.json`` in the state folder, :attr:`IdentitySettings.keys_file`) holds, per key, a random
id, a name, the role (one of :data:`KEY_ROLES`), the creation time, a revoked flag and the SHA-256 of the key. The
key itself is shown once, when it is created (``python -m api keys add --role service``), and never stored; a
deployment may give the key instead (the container's first start reads it from a secret file). It is
a :class:`JsonFileStore`, so a running API sees a revoked key on its next request without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from riskcore.identity._filestore import JsonFileStore
from riskcore.identity._roles import KEY_ROLES, USER_ROLES

__all__ = ["ApiKey", "KeyFileError", "KeyStore"]

_KEY_PREFIX = "rk_"
_MAX_KEY_CHARS = 256
_MIN_GIVEN_CHARS = 24  # a key given by the operator (a deployment's secret): at least 24 characters


class KeyFileError(Exception):
    """The key file cannot be read or written, or names an unknown key.

    Like the engine's errors (:mod:`riskcore.errors`) it carries its statuses:
    ``python -m api keys`` exits 1, and the API answers 503 (the operator must
    repair the file; the client can do nothing about it).
    """

    exit_status: ClassVar[int] = 1
    http_status: ClassVar[int] = 503


@dataclass(frozen=True)
class ApiKey:
    """One key's record, without its secret (also the record of a bearer token's holder)."""

    id: str
    name: str
    role: str
    created_at: str
    revoked: bool = False
    revoked_at: str | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_entry(entry: dict[str, Any]) -> None:
    if not all(isinstance(entry.get(k), str) for k in ("id", "role", "sha256")):
        raise ValueError("an entry lacks id, role or sha256")


def _record(e: dict[str, Any]) -> ApiKey:
    return ApiKey(id=e["id"], name=str(e.get("name") or ""), role=e["role"], created_at=str(e.get("created_at", "")),
                  revoked=bool(e.get("revoked", False)), revoked_at=e.get("revoked_at"))


class KeyStore:
    """The hashed API keys in one JSON file.

    Parameters
    ----------
    path : the key file; it need not exist yet (no keys: every request gets 401).

    Raises
    ------
    KeyFileError
        From any method, when the file exists but is not a key file.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self._file = JsonFileStore(path, records="keys", what="API key file", error=KeyFileError, check=_check_entry,
                                   repair="restore it or create new keys with: python -m api keys add")
        self.path = self._file.path

    def keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        return [_record(e) for e in self._file.records()]

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or ``None``.

        Every stored hash is compared in constant time, so the answer takes
        the same time whichever key (if any) matches.
        """
        if not secret or len(secret) > _MAX_KEY_CHARS:
            return None
        digest = _hash(secret)
        found = None
        for e in self._file.records():
            if hmac.compare_digest(digest, e["sha256"]) and not e.get("revoked", False):
                found = e
        return None if found is None else _record(found)

    def add(self, role: str, name: str = "", secret: str | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns its record and the secret, which is never shown again.

        Parameters
        ----------
        role : one of :data:`KEY_ROLES`.
        name : who or what uses the key.
        secret : the key itself, when the operator chose it (a deployment's secret file); by default a random
            one. A given key has 24 to 256 visible ASCII characters (no spaces) and is not a key already stored.

        Raises
        ------
        KeyFileError
            When the role cannot hold a key, the given key is unfit or stored already, or the file cannot be
            written.
        """
        if role not in KEY_ROLES:
            if role in USER_ROLES:
                raise KeyFileError(f"role {role!r} opens dashboard pages only and holds no API permission; use one "
                                   f"of {', '.join(KEY_ROLES)}")
            raise KeyFileError(f"role {role!r} is unknown; use one of {', '.join(KEY_ROLES)}")
        if secret is None:
            secret = _KEY_PREFIX + secrets.token_urlsafe(32)
        elif not (_MIN_GIVEN_CHARS <= len(secret) <= _MAX_KEY_CHARS and secret.isascii() and secret.isprintable()
                  and " " not in secret):
            raise KeyFileError(f"an API key must have {_MIN_GIVEN_CHARS} to {_MAX_KEY_CHARS} visible ASCII characters "
                               "without spaces (it travels in an HTTP header), e.g. the output of "
                               "openssl rand -hex 32")
        with self._file.updating() as entries:
            if any(hmac.compare_digest(_hash(secret), e["sha256"]) for e in entries):
                raise KeyFileError("this API key is stored already; choose another one")
            ids = {e["id"] for e in entries}
            key_id = "k_" + secrets.token_hex(6)
            while key_id in ids:  # pragma: no cover - 48 random bits
                key_id = "k_" + secrets.token_hex(6)
            entry = {"id": key_id, "name": name, "role": role, "created_at": _now(), "revoked": False,
                     "revoked_at": None, "sha256": _hash(secret)}
            self._file.write([*entries, entry])
        return _record(entry), secret

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (it stays listed, marked revoked).

        Raises
        ------
        KeyFileError
            When no key has this id or the file cannot be written.
        """
        with self._file.updating() as stored:
            entries = [dict(e) for e in stored]
            for e in entries:
                if e["id"] == key_id:
                    if not e.get("revoked", False):
                        e["revoked"], e["revoked_at"] = True, _now()
                        self._file.write(entries)
                    return _record(e)
        known = ", ".join(e["id"] for e in entries) or "none"
        raise KeyFileError(f"no API key has the id {key_id!r}; known ids: {known} (see: python -m api keys list)")
