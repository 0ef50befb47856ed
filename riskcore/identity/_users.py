"""The dashboard's users: one private JSON file of names, roles and argon2id password hashes.

The users file (``users.json`` in the state folder, :attr:`IdentitySettings.users_file`) holds, per user, the
name, the role (one of :data:`USER_ROLES`), the creation time and an argon2id hash of the password (argon2-cffi's
:class:`~argon2.PasswordHasher`); the password itself is never stored. It is a :class:`JsonFileStore`: written
whole and atomically, readable by its owner only, and re-read when it changes, so a removed user or a new role
takes effect on the user's next click.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from riskcore.errors import ConfigError
from riskcore.identity._filestore import JsonFileStore
from riskcore.identity._roles import KEY_ROLES, USER_ROLES, Role

__all__ = ["User", "UserStore"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_MIN_PASSWORD, _MAX_PASSWORD = 8, 1024


@dataclass(frozen=True)
class User:
    """One user's record, without the password hash."""

    name: str
    role: Role
    created_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_name(name: str) -> str:
    """The user name, or a ConfigError saying which names are allowed (it goes into audit rows as is)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"user name {name!r} is not allowed; use 1 to 64 letters, digits, '.', '_', '@' or '-', "
                          "starting with a letter or a digit, e.g. 'alice'")
    return name


def _check_role(role: str) -> Role:
    """A person's role, or a ConfigError naming the roles a user may hold."""
    if role in USER_ROLES:
        return cast(Role, role)
    if role in KEY_ROLES:
        raise ConfigError(f"role {role!r} is for a machine calling the API and opens no dashboard page; give it to "
                          f"an API key (python -m api keys add --role {role}) or use one of {', '.join(USER_ROLES)}")
    raise ConfigError(f"role {role!r} is unknown; use one of {', '.join(USER_ROLES)}")


def _check_password(password: str) -> str:
    if not isinstance(password, str) or not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
        raise ConfigError(f"a password needs {_MIN_PASSWORD} to {_MAX_PASSWORD} characters; choose a longer one")
    return password


def _check_entry(entry: dict[str, Any]) -> None:
    if not all(isinstance(entry.get(k), str) for k in ("name", "role", "hash")) or entry["role"] not in USER_ROLES:
        raise ValueError("an entry lacks a name, a known role or a hash")


def _record(e: dict[str, Any]) -> User:
    return User(name=e["name"], role=e["role"], created_at=str(e.get("created_at", "")))


class UserStore:
    """The dashboard's users in one JSON file, with argon2id password hashes.

    Parameters
    ----------
    path : the users file; it need not exist yet (no users: the dashboard runs as one local user).
    hasher : the argon2 hasher; argon2-cffi's defaults (RFC 9106's low-memory profile) when ``None``.

    Raises
    ------
    riskcore.errors.ConfigError
        From any method, when the file exists but cannot be read as a users file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = UserStore(pathlib.Path(tempfile.mkdtemp()) / "users.json")
    >>> store.add_user("alice", "analyst", "correct horse").role
    'analyst'
    >>> store.authenticate("alice", "correct horse").name, store.authenticate("alice", "wrong guess!")
    ('alice', None)
    """

    def __init__(self, path: str | os.PathLike[str], *, hasher: PasswordHasher | None = None):
        self._file = JsonFileStore(path, records="users", what="users file", error=ConfigError, check=_check_entry,
                                   repair="restore it, or remove it and add the users again with: "
                                          "python -m riskcore users add")
        self.path = self._file.path
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    # -- reading ---------------------------------------------------------------
    def _find(self, name: str) -> dict[str, Any] | None:
        """The entry of a name, ignoring case (two users never differ by case alone)."""
        wanted = name.casefold()
        return next((e for e in self._file.records() if e["name"].casefold() == wanted), None)

    def list_users(self) -> list[User]:
        """Every user, oldest first."""
        return [_record(e) for e in self._file.records()]

    def has_users(self) -> bool:
        """Whether sign-in is required (at least one user)."""
        return bool(self._file.records())

    def role_of(self, name: str) -> Role | None:
        """The role the file gives ``name`` now, or ``None`` when there is no such user."""
        found = self._find(name) if isinstance(name, str) else None
        return None if found is None else cast(Role, found["role"])

    def authenticate(self, name: str, password: str) -> User | None:
        """The user whose name (any case) and password these are, or ``None``.

        An unknown name is checked against a throw-away hash, so the answer takes as long as for a known
        name with a wrong password and does not reveal which names exist.
        """
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > _MAX_PASSWORD:
            return None
        found = self._find(name)
        if found is None:
            self._dummy = self._dummy or self._hasher.hash(secrets.token_urlsafe(16))
            stored = self._dummy
        else:
            stored = found["hash"]
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return None if found is None else _record(found)

    # -- writing ---------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> User:
        """Add a user with a role and a password (at least 8 characters).

        Raises
        ------
        riskcore.errors.ConfigError
            When the name is not allowed or taken (in any case), the role is not a person's, the password too
            short, or the file cannot be written.
        """
        entry = {"name": _check_name(name), "role": _check_role(role), "created_at": _now(),
                 "hash": self._hasher.hash(_check_password(password))}
        with self._file.updating() as entries:
            existing = self._find(name)
            if existing is not None:
                raise ConfigError(f"a user named {existing['name']!r} exists already; remove it first "
                                  "(python -m riskcore users remove NAME) or choose another name")
            self._file.write([*entries, entry])
        return _record(entry)

    def remove_user(self, name: str) -> User:
        """Remove a user (any case of the name); their open sessions end on their next click.

        Raises
        ------
        riskcore.errors.ConfigError
            When there is no such user or the file cannot be written.
        """
        with self._file.updating() as entries:
            found = self._find(name) if isinstance(name, str) else None
            if found is None:
                known = ", ".join(e["name"] for e in entries) or "none"
                raise ConfigError(f"there is no user named {name!r}; users: {known} (python -m riskcore users list)")
            self._file.write([e for e in entries if e is not found])
        return _record(found)
