"""API keys: stored hashed, each with one role.

The key store is a JSON file (``Settings.keys_file``) holding, per key, a random
id, a name, the role, the creation time, a revoked flag and the SHA-256 of the
key. The key itself is shown once, when it is created
(``python -m api keys add --role service``), and never stored.

Roles and what they may do:

=========  =====================================================
role       permissions
=========  =====================================================
admin      score, explain, model_info (everything)
analyst    explain (POST /predict_explain), model_info
service    score (POST /predict, POST /predict_batch)
viewer     model_info (GET /model_info, GET /monitoring)
=========  =====================================================

The running API re-reads the file when it changes, so a revoked key stops
working on its next request without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

__all__ = ["PERMISSIONS", "ROLES", "ApiKey", "KeyFileError", "KeyStore", "Permission", "Role", "allowed_roles"]

Role = Literal["admin", "analyst", "service", "viewer"]
ROLES: tuple[str, ...] = get_args(Role)
Permission = Literal["score", "explain", "model_info"]
PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"score", "explain", "model_info"}),
    "analyst": frozenset({"explain", "model_info"}),
    "service": frozenset({"score"}),
    "viewer": frozenset({"model_info"}),
}
_KEY_PREFIX = "rk_"
_UNREAD = (-1, -1, -1)
_MAX_KEY_CHARS = 256
_FORMAT = 1


def allowed_roles(permission: str) -> list[str]:
    """Roles that hold ``permission``, in the order of :data:`ROLES`."""
    return [r for r in ROLES if permission in PERMISSIONS[r]]


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
    """One key's record, without its secret."""

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
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = _UNREAD
        self._entries: list[dict[str, Any]] = []

    # -- reading ---------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise KeyFileError(f"cannot read the API key file {str(self.path)!r}: {err.strerror or err}") from None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _load(self) -> list[dict[str, Any]]:
        """The entries, re-read when the file changed since the last read."""
        stamp = self._file_stamp()
        with self._lock:
            if stamp == self._stamp:
                return self._entries
            entries: list[dict[str, Any]] = []
            if stamp is not None:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    entries = [dict(e) for e in data["keys"]]
                    for e in entries:
                        if not all(isinstance(e.get(k), str) for k in ("id", "role", "sha256")):
                            raise ValueError("an entry lacks id, role or sha256")
                except (OSError, ValueError, KeyError, TypeError) as err:
                    raise KeyFileError(f"the API key file {str(self.path)!r} cannot be read ({err}); "
                                       "restore it or create new keys with: python -m api keys add") from None
            self._entries, self._stamp = entries, stamp
            return entries

    def keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        return [_record(e) for e in self._load()]

    def authenticate(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or ``None``.

        Every stored hash is compared in constant time, so the answer takes
        the same time whichever key (if any) matches.
        """
        if not secret or len(secret) > _MAX_KEY_CHARS:
            return None
        digest = _hash(secret)
        found = None
        for e in self._load():
            if hmac.compare_digest(digest, e["sha256"]) and not e.get("revoked", False):
                found = e
        return None if found is None else _record(found)

    # -- writing ---------------------------------------------------------------
    def add(self, role: str, name: str = "") -> tuple[ApiKey, str]:
        """Create a key; returns its record and the secret, which is never shown again.

        Raises
        ------
        KeyFileError
            When the role is unknown or the file cannot be written.
        """
        if role not in ROLES:
            raise KeyFileError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
        secret = _KEY_PREFIX + secrets.token_urlsafe(32)
        entries = list(self._load())
        ids = {e["id"] for e in entries}
        key_id = "k_" + secrets.token_hex(6)
        while key_id in ids:  # pragma: no cover - 48 random bits
            key_id = "k_" + secrets.token_hex(6)
        entry = {"id": key_id, "name": name, "role": role, "created_at": _now(), "revoked": False,
                 "revoked_at": None, "sha256": _hash(secret)}
        self._write([*entries, entry])
        return _record(entry), secret

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id (it stays listed, marked revoked).

        Raises
        ------
        KeyFileError
            When no key has this id or the file cannot be written.
        """
        entries = [dict(e) for e in self._load()]
        for e in entries:
            if e["id"] == key_id:
                if not e.get("revoked", False):
                    e["revoked"], e["revoked_at"] = True, _now()
                    self._write(entries)
                return _record(e)
        known = ", ".join(e["id"] for e in entries) or "none"
        raise KeyFileError(f"no API key has the id {key_id!r}; known ids: {known} (see: python -m api keys list)")

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """Write the whole file atomically, readable by its owner only."""
        text = json.dumps({"format": _FORMAT, "keys": entries}, indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".api_keys.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            raise KeyFileError(f"cannot write the API key file {str(self.path)!r}: {err.strerror or err}") from None
        with self._lock:
            self._stamp = _UNREAD  # re-read on next use


def _record(e: dict[str, Any]) -> ApiKey:
    return ApiKey(id=e["id"], name=str(e.get("name") or ""), role=e["role"], created_at=str(e.get("created_at", "")),
                  revoked=bool(e.get("revoked", False)), revoked_at=e.get("revoked_at"))
