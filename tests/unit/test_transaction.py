"""riskcore.data.transaction: a with-block commits on success and aborts on an exception."""

from __future__ import annotations

import pytest

from riskcore.data.transaction import CommitOrAbort


class _Write(CommitOrAbort):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> str:
        self.calls.append("commit")
        return "done"

    def abort(self) -> None:
        self.calls.append("abort")


def test_a_clean_block_commits_once():
    with _Write() as w:
        assert w.calls == []
    assert w.calls == ["commit"]


def test_an_exception_aborts_and_propagates():
    w = _Write()
    with pytest.raises(KeyError, match="boom"), w:
        raise KeyError("boom")
    assert w.calls == ["abort"]


def test_a_subclass_must_say_how_to_commit_and_abort():
    class Half(CommitOrAbort):
        def commit(self) -> None:
            pass

    with pytest.raises(TypeError, match="abort"):
        Half()  # type: ignore[abstract]


def test_the_table_writer_and_the_audit_batch_share_it(tmp_path):
    from riskcore.data.writing import TableWriter
    from riskcore.serving.audit import AuditBatch

    assert issubclass(TableWriter, CommitOrAbort) and issubclass(AuditBatch, CommitOrAbort)
