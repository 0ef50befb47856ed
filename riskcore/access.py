"""Who may see and do what on the dashboard: the users file, the roles, the pages and actions, the session token.

Roles are cumulative, lowest first; each holds everything of the roles before it:

=========  ===================================================================
role       adds
=========  ===================================================================
viewer     the Business impact, Performance and Sectors pages
officer    the Company explorer and Portfolio scoring pages (score an upload)
analyst    Data quality, Training runs (start a run), Costs & threshold,
           Monitoring (monitor an upload), Model report
validator  Calibration, compare two versions, sign the report
admin      promote, roll back, manage the users
=========  ===================================================================

Costs & threshold belongs to the analyst: the cut-off it tunes is the risk managers' decision, and the
Business impact page (viewer) shows the consequences of the costs set there.

The users file (``users.json`` in the state folder) holds, per user, the name, the role, the creation time
and an argon2id hash of the password (argon2-cffi's :class:`~argon2.PasswordHasher`); the password itself is
never stored. It is written whole and atomically, readable by its owner only, and re-read when it changes,
so a removed user or a new role takes effect on the user's next click.

A signed-in session holds only a token: ``name|time|HMAC-SHA256(key, name|time)`` with a random key kept in
``session.key`` next to the users file (created once, owner-only). The token proves who signed in and when
they were last active; it carries no role. Every run reads the role of the verified name from the users file,
so a session state edited to claim another role or name opens nothing more.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from riskcore.errors import ConfigError

if TYPE_CHECKING:
    from riskcore.config import Settings

__all__ = ["ACTIONS", "PAGES", "ROLES", "Action", "Role", "SessionSigner", "SignedSession", "User", "UserStore",
           "can_do", "can_open", "claim_values", "role_at_least"]

Role = Literal["viewer", "officer", "analyst", "validator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
Action = Literal["score_upload", "start_training", "monitor_upload", "compare_versions", "sign_report", "promote",
                 "rollback", "manage_users"]

# the least role that opens each page (pages/<name>.py)
PAGES: dict[str, Role] = {
    "business_impact": "viewer", "performance": "viewer", "sectors": "viewer",
    "company_explorer": "officer", "portfolio_scoring": "officer",
    "data_quality": "analyst", "training_runs": "analyst", "costs_threshold": "analyst", "monitoring": "analyst",
    "model_report": "analyst",
    "calibration": "validator",
}
# the least role that may do each action
ACTIONS: dict[Action, Role] = {
    "score_upload": "officer",
    "start_training": "analyst", "monitor_upload": "analyst",
    "compare_versions": "validator", "sign_report": "validator",
    "promote": "admin", "rollback": "admin", "manage_users": "admin",
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_MIN_PASSWORD, _MAX_PASSWORD = 8, 1024
_FORMAT = 1
_UNREAD = (-1, -1, -1)


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


def role_at_least(role: str, needed: str) -> bool:
    """Whether ``role`` holds everything ``needed`` does (an unknown role holds nothing)."""
    return role in ROLES and needed in ROLES and ROLES.index(role) >= ROLES.index(needed)


def can_open(role: str, page: str) -> bool:
    """Whether ``role`` may open ``pages/<page>.py``.

    Raises
    ------
    KeyError
        When the page is not in :data:`PAGES` (a page without an entry is a bug, never opened by default).
    """
    return role_at_least(role, PAGES[page])


def can_do(role: str, action: Action) -> bool:
    """Whether ``role`` may do ``action``.

    Raises
    ------
    KeyError
        When the action is not in :data:`ACTIONS`.
    """
    return role_at_least(role, ACTIONS[action])


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
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    return cast(Role, role)


def _check_password(password: str) -> str:
    if not isinstance(password, str) or not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
        raise ConfigError(f"a password needs {_MIN_PASSWORD} to {_MAX_PASSWORD} characters; choose a longer one")
    return password


def _write_private(path: Path, text: str, what: str) -> None:
    """Write a file whole and atomically (a reader sees the old or the new one), readable by its owner only."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise ConfigError(f"cannot write the {what} {str(path)!r}: {err.strerror or err}; check that the state "
                          "folder (RISKCORE_HOME) is writable") from None


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
        self.path = Path(path)
        self._hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = _UNREAD
        self._entries: list[dict[str, Any]] = []
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> UserStore:
        """The users file of the settings' state folder, ``home / "users.json"``."""
        return cls(Path(settings.home) / "users.json")

    # -- reading ---------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise ConfigError(f"cannot read the users file {str(self.path)!r}: {err.strerror or err}") from None
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
                    entries = [dict(e) for e in json.loads(self.path.read_text(encoding="utf-8"))["users"]]
                    for e in entries:
                        if not all(isinstance(e.get(k), str) for k in ("name", "role", "hash")) \
                                or e["role"] not in ROLES:
                            raise ValueError("an entry lacks a name, a known role or a hash")
                except (OSError, ValueError, KeyError, TypeError) as err:
                    raise ConfigError(f"the users file {str(self.path)!r} cannot be read ({err}); restore it, or "
                                      "remove it and add the users again with: python -m riskcore users add") \
                        from None
            self._entries, self._stamp = entries, stamp
            return entries

    def _find(self, name: str) -> dict[str, Any] | None:
        """The entry of a name, ignoring case (two users never differ by case alone)."""
        wanted = name.casefold()
        return next((e for e in self._load() if e["name"].casefold() == wanted), None)

    def list_users(self) -> list[User]:
        """Every user, oldest first."""
        return [_record(e) for e in self._load()]

    def has_users(self) -> bool:
        """Whether sign-in is required (at least one user)."""
        return bool(self._load())

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
            When the name is not allowed or taken (in any case), the role is unknown, the password too short,
            or the file cannot be written.
        """
        entry = {"name": _check_name(name), "role": _check_role(role), "created_at": _now(),
                 "hash": self._hasher.hash(_check_password(password))}
        with self._writing():
            existing = self._find(name)
            if existing is not None:
                raise ConfigError(f"a user named {existing['name']!r} exists already; remove it first "
                                  "(python -m riskcore users remove NAME) or choose another name")
            self._write([*self._load(), entry])
        return _record(entry)

    def remove_user(self, name: str) -> User:
        """Remove a user (any case of the name); their open sessions end on their next click.

        Raises
        ------
        riskcore.errors.ConfigError
            When there is no such user or the file cannot be written.
        """
        with self._writing():
            found = self._find(name) if isinstance(name, str) else None
            if found is None:
                known = ", ".join(e["name"] for e in self._load()) or "none"
                raise ConfigError(f"there is no user named {name!r}; users: {known} (python -m riskcore users list)")
            self._write([e for e in self._load() if e is not found])
        return _record(found)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Serialise read-modify-write between processes (two ``users add`` at once keep both users)."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock_path, "w")
        except OSError as err:
            raise ConfigError(f"cannot write next to the users file {str(self.path)!r}: {err.strerror or err}") \
                from None
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        _write_private(self.path, json.dumps({"format": _FORMAT, "users": entries}, indent=1, sort_keys=True),
                       "users file")
        with self._lock:
            self._stamp = _UNREAD  # re-read on next use


def _record(e: dict[str, Any]) -> User:
    return User(name=e["name"], role=e["role"], created_at=str(e.get("created_at", "")))


@dataclass(frozen=True)
class SignedSession:
    """What a valid token proves: who signed in, and when the token was issued (seconds since the epoch)."""

    user: str
    issued: float

    def idle_seconds(self, now: float | None = None) -> float:
        """Seconds since the token was issued (a token is issued anew on every run, so: since the last click)."""
        return (time.time() if now is None else now) - self.issued


class SessionSigner:
    """Issues and checks session tokens with a secret key kept in a file.

    Parameters
    ----------
    key_path : the key file, created once with 32 random bytes (owner-only) when it does not exist.

    Raises
    ------
    riskcore.errors.ConfigError
        When the key file cannot be created or read.
    """

    def __init__(self, key_path: str | os.PathLike[str]):
        self.key_path = Path(key_path)
        self._key = self._read_or_create()

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        """The signer with the key ``home / "session.key"`` of the settings' state folder."""
        return cls(Path(settings.home) / "session.key")

    def _read_or_create(self) -> bytes:
        """The key; a new one is written to a private temporary file and linked into place only when none exists."""
        if not self.key_path.exists():
            tmp = self.key_path.with_name(f".{self.key_path.name}.{secrets.token_hex(4)}")
            _write_private(tmp, secrets.token_hex(32), "session key")
            try:
                os.link(tmp, self.key_path)  # fails when another process created it first: theirs is kept
            except FileExistsError:
                pass
            except OSError as err:
                raise ConfigError(f"cannot create the session key {str(self.key_path)!r}: {err.strerror or err}") \
                    from None
            finally:
                tmp.unlink(missing_ok=True)
        try:
            key = bytes.fromhex(self.key_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            key = b""
        if len(key) == 32:
            return key
        raise ConfigError(f"the session key {str(self.key_path)!r} cannot be read; remove it and restart the "
                          "dashboard (a new key is made; everyone signs in again)")

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def issue(self, user: str, now: float | None = None) -> str:
        """A token for ``user`` issued at ``now`` (default: the current time).

        Raises
        ------
        riskcore.errors.ConfigError
            When the name is empty, longer than 255 characters or holds a ``|`` (a single sign-on name may
            hold more characters than a users-file name, e.g. ``ana+risk@example.com``).
        """
        if not isinstance(user, str) or not 0 < len(user) <= 255 or "|" in user:
            raise ConfigError(f"user name {user!r} cannot be signed in; it needs 1 to 255 characters and no '|'")
        message = f"{user}|{time.time() if now is None else now:.3f}"
        return f"{message}|{self._mac(message)}"

    def verify(self, token: object) -> SignedSession | None:
        """Who the token was issued to and when, or ``None`` when it was not issued with this key or is malformed."""
        if not isinstance(token, str) or token.count("|") != 2:
            return None
        user, issued, mac = token.split("|")
        if not hmac.compare_digest(self._mac(f"{user}|{issued}"), mac):
            return None
        try:
            return SignedSession(user=user, issued=float(issued))
        except ValueError:
            return None
