"""Personal data kept out of the audit trail: the inputs it stores only as salted hashes, and their key.

An input whose column names people or their contact details (:data:`riskcore.data.schema.PERSONAL_COLUMNS`,
plus ``[audit] redact`` in riskcore.toml) is stored as ``hmac-sha256:<key id>:<64 hex digits>``: the HMAC-SHA256 of
the value's text under a secret salt kept outside the database. The same value always gives the same text, so a
company is still found by its exact name (:meth:`AuditLog.find_by <riskcore.serving.audit.AuditLog.find_by>`),
but nobody who reads the database, or a copy of it, can read the name back or test guesses without the salt.
The key id (the first 8 hex digits of an HMAC of a fixed text) tells which salt hashed a value, never the salt.

The salt is ``$RISKCORE_AUDIT_SALT`` when set (every host that writes one trail must then share it), else the file
``<RISKCORE_HOME>/secrets/audit_salt``, made on first use with 32 random bytes, readable by its owner only. Losing
it loses the lookup of every value hashed with it (the scores stay readable and verifiable): back it up with the
state folder, apart from the database.

Hashing is columnar: a column's distinct values are hashed once each (a copy of the keyed HMAC per value, in C)
and spread back over the rows with Arrow's ``take``; the chunk and row hashes of the trail are computed over the
stored, hashed values, so ``verify()`` checks them like any other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from riskcore.config import Settings
from riskcore.data.schema import is_personal
from riskcore.data.tabular import normalise_name
from riskcore.errors import ConfigError
from riskcore.identity import write_private

__all__ = ["HASH_PREFIX", "SALT_ENV", "Redaction", "salt_file"]

HASH_PREFIX = "hmac-sha256:"
"""How every redacted value starts; then the key id, a colon and the 64 hex digits of the HMAC."""
SALT_ENV = "RISKCORE_AUDIT_SALT"
_MIN_SALT = 16  # characters of a salt given in the environment: a short one could be guessed
_KEY_ID_TEXT = b"riskcore-audit-key-id"


def salt_file(home: str | os.PathLike[str]) -> Path:
    """Where the audit salt is kept when ``$RISKCORE_AUDIT_SALT`` is not set: ``<home>/secrets/audit_salt``."""
    return Path(home) / "secrets" / "audit_salt"


@dataclass(frozen=True)
class Redaction:
    """Which inputs the audit trail stores only as salted hashes, and the secret key of those hashes.

    Parameters
    ----------
    key : the salt, as bytes (never shown: not in ``repr`` nor in any message).
    columns : names redacted beyond :data:`~riskcore.data.schema.PERSONAL_COLUMNS` (``[audit] redact``), matched
        as column names are (case, spaces and punctuation ignored).
    source : where the key came from, for messages (the variable's name or the file's path).

    Examples
    --------
    >>> r = Redaction(b"0123456789abcdef0123456789abcdef", columns=("director_notes",))
    >>> r.covers("Contact E-mail"), r.covers("director notes"), r.covers("current_ratio")
    (True, True, False)
    >>> r.hash_text("ACME Ltd").startswith(HASH_PREFIX + r.key_id + ":")
    True
    """

    key: bytes = field(repr=False)
    columns: Iterable[str] = ()
    source: str = ""
    _extra: frozenset[str] = field(init=False, repr=False, compare=False)
    _prefix: str = field(init=False, repr=False, compare=False)
    _keyed: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) < _MIN_SALT:
            raise ConfigError(f"the audit salt must be at least {_MIN_SALT} bytes; set {SALT_ENV} to a long random "
                              "text, or unset it to use the salt file of the state folder")
        names = tuple(self.columns)
        object.__setattr__(self, "columns", names)
        object.__setattr__(self, "_extra", frozenset(normalise_name(c) for c in names))
        object.__setattr__(self, "_prefix", f"{HASH_PREFIX}{self.key_id}:")
        # keyed once: a copy per value skips the key's two SHA-256 blocks (a quarter of a short name's cost)
        object.__setattr__(self, "_keyed", hmac.new(self.key, digestmod=hashlib.sha256))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the key and the names (the keyed HMAC is made again)."""
        return type(self), (self.key, self.columns, self.source)

    @property
    def key_id(self) -> str:
        """The first 8 hex digits of an HMAC of a fixed text under the key: which salt hashed a value."""
        return hmac.new(self.key, _KEY_ID_TEXT, hashlib.sha256).hexdigest()[:8]

    @property
    def prefix(self) -> str:
        """What every value hashed with this key starts with: ``hmac-sha256:<key id>:``."""
        return self._prefix

    def covers(self, name: str) -> bool:
        """Whether the input column ``name`` is stored only as hashes."""
        return is_personal(name) or normalise_name(name) in self._extra

    def hash_text(self, value: str) -> str:
        """The stored form of one value's text: ``hmac-sha256:<key id>:<hex>``."""
        mac = self._keyed.copy()
        mac.update(value.encode("utf-8"))
        return self._prefix + mac.hexdigest()

    def hash_array(self, kind: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """A stored column of any kind (``text``, ``json``, ``int``, ``float``, ``bool``) as hashes of its text.

        Numbers and booleans are hashed as Arrow writes them (``12``, ``0.5``, ``1e+20``, ``true``); missing
        values stay missing. Each distinct value is hashed once.
        """
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        text = values if kind in ("text", "json") else pc.cast(values, pa.string())
        if text.null_count == len(text):
            return pa.nulls(len(text), pa.string())
        encoded = pc.dictionary_encode(text)
        keyed, prefix = self._keyed, self._prefix
        hashed = []
        for value in encoded.dictionary.to_pylist():
            mac = keyed.copy()
            mac.update(value.encode("utf-8"))
            hashed.append(prefix + mac.hexdigest())
        return pc.take(pa.array(hashed, pa.string()), encoded.indices)

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> Redaction:
        """The redaction of ``settings`` (``[audit] redact``) with the salt of ``env`` or of the state folder.

        The salt is ``$RISKCORE_AUDIT_SALT`` when set, else the file :func:`salt_file` of ``settings.home``,
        created (owner-only) when it does not exist.

        Raises
        ------
        ConfigError
            When the variable is too short, or the salt file cannot be created or read (the message says what
            to do; it never shows the salt).
        """
        env = os.environ if env is None else env
        given = env.get(SALT_ENV, "")
        if given.strip():
            return cls(given.encode("utf-8"), columns=settings.audit.redact, source=f"${SALT_ENV}")
        path = salt_file(settings.home)
        return cls(_read_or_create(path), columns=settings.audit.redact, source=str(path))


def _read_or_create(path: Path) -> bytes:
    """The salt in ``path``; a new one is written privately and linked into place only when none exists."""
    if not path.exists():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create the folder of the audit salt {str(path.parent)!r}: "
                              f"{err.strerror or err}; make the state folder (RISKCORE_HOME) writable, or set "
                              f"{SALT_ENV}") from None
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        write_private(tmp, secrets.token_hex(32) + "\n", "audit salt", ConfigError)
        try:
            os.link(tmp, path)  # fails when another process made it first: theirs is kept, so all share one
        except FileExistsError:
            pass
        except OSError as err:
            raise ConfigError(f"cannot create the audit salt {str(path)!r}: {err.strerror or err}; make the state "
                              f"folder (RISKCORE_HOME) writable, or set {SALT_ENV}") from None
        finally:
            tmp.unlink(missing_ok=True)
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else "it is not a salt file"
        raise ConfigError(f"the audit salt {str(path)!r} cannot be read ({why}); give this process read access "
                          f"to it, restore it from a backup, or set {SALT_ENV}. Do not replace it with a new one: "
                          "the names already recorded could no longer be looked up") from None
    if len(text) < _MIN_SALT:
        raise ConfigError(f"the audit salt {str(path)!r} is shorter than {_MIN_SALT} characters; restore it from a "
                          f"backup, or set {SALT_ENV}")
    return text.encode("ascii")
