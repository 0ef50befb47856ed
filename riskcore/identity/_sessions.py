"""The dashboard's session tokens: who signed in and when, signed with a key kept in a private file.

A signed-in session holds only a token: ``name|time|HMAC-SHA256(key, name|time)`` with a random key kept in
``session.key`` next to the users file (:attr:`IdentitySettings.session_key_file`, created once, owner-only). The
token proves who signed in and when they were last active; it carries no role. Every run reads the role of the
verified name from the users file (or the single sign-on claim), so a session state edited to claim another role or
name opens nothing more.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from riskcore.errors import ConfigError
from riskcore.identity._filestore import write_private

__all__ = ["SessionSigner", "SignedSession"]


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

    def _read_or_create(self) -> bytes:
        """The key; a new one is written to a private temporary file and linked into place only when none exists."""
        if not self.key_path.exists():
            tmp = self.key_path.with_name(f".{self.key_path.name}.{secrets.token_hex(4)}")
            write_private(tmp, secrets.token_hex(32), "session key", ConfigError)
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
