"""The model ledger: moves of the champion chained into the audit trail, verified with the scores.

Every test runs on a SQLite file and again on a PostgreSQL database of its own (see tests/databases.py).
"""

from __future__ import annotations

import pytest
from databases import Database

from riskcore.errors import AuditError
from riskcore.serving.audit import AuditLog, AuditRecord, ModelMove


def _move(**changes) -> ModelMove:
    base = {"event": "promote", "actor": "cli:ana", "from_version": "logistic-1", "to_version": "lightgbm-2",
            "reason": "cheaper at the same calibration", "gate_digest": "ab" * 32, "to_bundle_hash": "cd" * 32}
    return ModelMove(**{**base, **changes})


@pytest.fixture
def log(audit_database: Database):
    log = AuditLog(audit_database.url)
    yield log
    log.close()


def _score(log: AuditLog, company: str) -> None:
    log.record([AuditRecord(company, {"roa": 0.1}, 0.02, "accept", "5")], source="cli", caller="t",
               model_version="lightgbm-2", bundle_hash="cd" * 32)


def test_moves_are_chained_between_scores_and_read_back_in_order(log):
    _score(log, "C1")
    first = log.record_move(_move())
    _score(log, "C2")
    second = log.record_move(_move(event="rollback", from_version="lightgbm-2", to_version="logistic-1",
                                   gate_digest="", reason="review pending"))
    moves = log.moves()
    assert [m.event for m in moves] == ["promote", "rollback"]
    assert moves[0] == first and moves[1] == second and first.seq < second.seq
    assert log.count() == 2  # the ledger holds no scores
    assert len(log.recent(10)) == 2 and set(log.recent(10)["company_id"]) == {"C1", "C2"}
    result = log.verify()
    assert result.ok, result.message
    assert result.requests == 4


def test_an_edited_move_breaks_the_chain(log, audit_database):
    _score(log, "C1")
    log.record_move(_move())
    _score(log, "C2")
    audit_database.sql("UPDATE audit_requests SET columns = replace(columns, 'cheaper', 'richer') "
                       "WHERE source = 'ledger'")
    assert audit_database.sql("SELECT count(*) FROM audit_requests WHERE columns LIKE '%richer%'") == [(1,)]
    result = log.verify()
    assert not result.ok and "was altered" in result.message


def test_a_deleted_move_breaks_the_chain(log, audit_database):
    log.record_move(_move())
    _score(log, "C1")
    audit_database.sql("DELETE FROM audit_requests WHERE source = 'ledger'")
    assert not log.verify().ok


@pytest.mark.parametrize("changes, message", [({"reason": "  "}, "needs a reason"),
                                              ({"event": "override", "gate_digest": ""}, "names the gate report"),
                                              ({"event": "demote"}, "unknown")])
def test_an_incomplete_move_is_refused_and_nothing_is_recorded(log, changes, message):
    with pytest.raises(AuditError, match=message):
        log.record_move(_move(**changes))
    assert log.moves() == [] and log.verify().ok
