"""Personal data kept out of the audit trail: redacted inputs stored as salted hashes, found by their exact value.

On SQLite and on PostgreSQL (tests/databases.py): what the database holds afterwards, read back whole (every
table, every chunk decoded, and the SQLite files' bytes), never contains a raw name, e-mail address or key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import stat
import threading
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskcore.config import AuditRules, Settings
from riskcore.errors import AuditError, ConfigError
from riskcore.serving.audit import (
    HASH_PREFIX,
    SALT_ENV,
    AuditLog,
    AuditPart,
    AuditRecord,
    Redaction,
    salt_file,
)

SALT = b"a salt for the redaction tests!!"
NAMES = ["Zyxwvut Holdings Ltd", "Qwertzu & Söhne GmbH", "Jan Kowalczyk Bakery"]
EMAILS = ["ewelina.kowalczyk@zyxwvut.example", "hq@qwertzu.example", "jan@bakery.example"]
META = {"source": "cli", "caller": "analyst", "model_version": "v1", "bundle_hash": "f" * 64}


def _inputs(n: int, offset: int = 0) -> pd.DataFrame:
    k = np.arange(offset, offset + n) % len(NAMES)
    return pd.DataFrame({"company_name": [NAMES[i] for i in k], "contact_email": [EMAILS[i] for i in k],
                         "roa": np.linspace(0.01, 0.2, n), "sector": ["Energy"] * n})


def _stored_text(database) -> str:
    """Everything the audit tables hold, as text: every column of every row, every chunk decoded."""
    parts = []
    for table in ("audit_requests", "audit_ids", "audit_staged"):
        parts.append(repr(database.sql(f"SELECT * FROM {table}")))
    for (data,) in database.sql("SELECT data FROM audit_segments"):
        parts.append(repr(ipc.open_stream(pa.py_buffer(bytes(data))).read_all().to_pylist()))
    if not database.is_postgres:
        for suffix in ("", "-wal"):
            path = database.path.with_name(database.path.name + suffix)
            if path.exists():
                parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def _assert_no_personal_data(database) -> None:
    stored = _stored_text(database)
    for raw in (*NAMES, *EMAILS, "Zyxwvut", "kowalczyk", "SSN-4711-0815"):
        assert raw not in stored, f"{raw!r} is stored in the audit trail"


def test_redacted_inputs_are_stored_as_salted_hashes_and_the_chain_verifies(database):
    redaction = Redaction(SALT)
    log = AuditLog(database.url, redaction=redaction)
    with log.batch(**META) as batch:  # chunks: one compressed (LZ4 from 256 rows), one plain
        batch.add([f"C{i}" for i in range(300)], _inputs(300), np.full(300, 0.1), ["accept"] * 300, ["A"] * 300)
        batch.add(["C300", "C301"], _inputs(2, 300), np.array([0.2, 0.3]), ["refer"] * 2, ["B"] * 2)
    log.record([AuditRecord("C9", {"company_name": NAMES[0], "contact_email": EMAILS[0], "roa": 0.05}, 0.1,
                            "accept", "A")], source="api", caller="key-1", model_version="v1", bundle_hash="h")
    part = AuditPart([AuditRecord("C8", {"company_name": NAMES[1], "roa": 0.06}, 0.2, "refer", "B")] * 2,
                     ["r1", "r2"], ["k1", "k2"], "api", "v1", "h")
    log.record_parts([part])
    assert log.verify().ok and log.count() == 305
    _assert_no_personal_data(database)
    inputs = log.find("C0")["inputs"].iloc[0]
    assert inputs["company_name"] == redaction.hash_text(NAMES[0])
    assert inputs["contact_email"] == redaction.hash_text(EMAILS[0])
    assert (inputs["roa"], inputs["sector"]) == (0.01, "Energy")  # the model's inputs are kept as they were
    assert inputs["company_name"] == HASH_PREFIX + redaction.key_id + ":" + hmac.new(
        SALT, NAMES[0].encode(), hashlib.sha256).hexdigest()
    log.close()


def test_a_company_is_found_by_its_exact_name_and_a_typo_finds_nothing(database):
    log = AuditLog(database.url, redaction=Redaction(SALT))
    with log.batch(**META) as batch:
        batch.add(["C0", "C1", "C2", "C3"], _inputs(4), np.full(4, 0.1), ["accept"] * 4, ["A"] * 4)
    log.record([AuditRecord("C7", {"company_name": NAMES[0], "roa": 0.1}, 0.3, "refer", "C")], source="api",
               caller="k", model_version="v1", bundle_hash="h")
    found = log.find_by("company_name", NAMES[0])
    assert found.by_hash and found.other_keys == 0
    assert found.scores["company_id"].tolist() == ["C7", "C3", "C0"]  # newest first
    assert list(found.scores.columns) == list(log.find("C0").columns)
    assert log.find_by("company_name", NAMES[0], limit=1).scores["company_id"].tolist() == ["C7"]
    assert log.find_by("company_name", NAMES[0].lower()).scores.empty
    assert log.find_by("sector", "Energy").scores["company_id"].tolist() == ["C3", "C2", "C1", "C0"]
    with pytest.raises(AuditError, match="no score in the audit trail has an input named 'company'"):
        log.find_by("company", NAMES[0])
    other = AuditLog(database.url, redaction=Redaction(b"another salt, another host......"))
    missed = other.find_by("company_name", NAMES[0])
    assert missed.scores.empty and missed.other_keys == 5  # every name of the column, hashed with the first salt
    other.close()
    log.close()


def test_a_redacted_key_is_stored_hashed_and_found_by_its_raw_value(database):
    redaction = Redaction(SALT)
    log = AuditLog(database.url, redaction=redaction)
    frame = pd.DataFrame({"national_id": ["SSN-4711-0815"], "roa": [0.1]})
    with log.batch(**META, key="national_id") as batch:
        batch.add(["SSN-4711-0815"], frame, np.array([0.1]), ["accept"], ["A"])
    log.record([AuditRecord("SSN-4711-0815", {"roa": 0.2}, 0.2, "accept", "A")], source="api", caller="k",
               model_version="v1", bundle_hash="h", key="national_id")
    found = log.find("SSN-4711-0815")
    assert found["company_id"].tolist() == [redaction.hash_text("SSN-4711-0815")] * 2
    assert len(log.recent(company_id="SSN-4711-0815")) == 2
    assert log.verify().ok
    _assert_no_personal_data(database)
    log.close()


def test_without_a_redaction_values_are_stored_as_given(tmp_path):
    log = AuditLog(f"sqlite:///{tmp_path / 'a.db'}")
    log.record([AuditRecord("C1", {"company_name": NAMES[0]}, 0.1, "accept", "A")], **META)
    found = log.find_by("company_name", NAMES[0])
    assert not found.by_hash and found.scores["inputs"].iloc[0] == {"company_name": NAMES[0]}
    log.close()


def test_the_redaction_covers_the_default_columns_and_the_settings_by_their_normalised_names():
    redaction = Redaction(SALT, columns=("Internal Notes",))
    assert all(redaction.covers(c) for c in ("company_name", "Contact E-mail", "PHONE", "iban", "internal_notes"))
    assert not any(redaction.covers(c) for c in ("current_ratio", "sector", "company_id", "notes"))
    assert "salt" not in repr(redaction) and SALT.decode() not in repr(redaction)
    assert pickle.loads(pickle.dumps(redaction)).hash_text("x") == redaction.hash_text("x")


def test_every_kind_of_value_is_hashed_as_the_text_arrow_writes():
    r = Redaction(SALT)
    cases = [("int", pa.array([12, None]), ["12", None]), ("float", pa.array([0.5, 1.0]), ["0.5", "1"]),
             ("bool", pa.array([True, False]), ["true", "false"]), ("json", pa.array(['[1,"x"]']), ['[1,"x"]']),
             ("float", pa.nulls(2, pa.float64()), [None, None])]
    for kind, values, texts in cases:
        assert r.hash_array(kind, values).to_pylist() == [None if t is None else r.hash_text(t) for t in texts]


@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=40))
def test_hashing_a_column_hashes_each_value_as_alone(values):
    r = Redaction(SALT)
    assert r.hash_array("text", pa.array(values, pa.string())).to_pylist() == \
        [None if v is None else r.hash_text(v) for v in values]


def test_the_salt_comes_from_the_environment_or_a_private_file_made_once(tmp_path):
    settings = Settings(home=tmp_path / "home", audit=AuditRules(redact=("notes",)))
    from_env = Redaction.from_settings(settings, env={SALT_ENV: "a long enough secret salt"})
    assert from_env.key == b"a long enough secret salt" and from_env.source == f"${SALT_ENV}"
    assert not salt_file(settings.home).exists()
    with pytest.raises(ConfigError, match=f"at least 16 bytes; set {SALT_ENV}"):
        Redaction.from_settings(settings, env={SALT_ENV: "short"})
    made = Redaction.from_settings(settings, env={})
    path = salt_file(settings.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and made.source == str(path)
    assert Redaction.from_settings(settings, env={}).key == made.key  # read again, not made again
    assert made.covers("notes") and made.covers("contact_email")


def test_processes_starting_together_share_one_salt(tmp_path):
    settings = Settings(home=tmp_path / "home")
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(Redaction.from_settings(settings, env={}).key))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in salt_file(settings.home).parent.iterdir()] == ["audit_salt"]


def test_an_unreadable_salt_is_a_clear_message_never_a_traceback_nor_a_new_salt(tmp_path):
    settings = Settings(home=tmp_path / "home")
    salt_file(settings.home).mkdir(parents=True)  # not a file
    with pytest.raises(ConfigError, match="cannot be read .*restore it from a backup, or set RISKCORE_AUDIT_SALT. "
                                          "Do not replace it"):
        Redaction.from_settings(settings, env={})
    os.rmdir(salt_file(settings.home))
    salt_file(settings.home).write_text("short\n", encoding="ascii")
    with pytest.raises(ConfigError, match="shorter than 16 characters"):
        Redaction.from_settings(settings, env={})


def test_the_audit_log_of_the_settings_redacts_with_their_salt(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_ENV, raising=False)
    settings = Settings(home=tmp_path / "home", audit=AuditRules(redact=("director_notes",)))
    log = AuditLog.from_settings(settings)
    assert log.redaction is not None and log.redaction.covers("director notes")
    assert log.redaction.key == salt_file(settings.home).read_text(encoding="ascii").strip().encode()
    log.close()
    second = AuditLog.from_settings(replace(settings, audit=AuditRules()))
    assert second.redaction is not None and second.redaction.key_id == log.redaction.key_id
    second.close()
