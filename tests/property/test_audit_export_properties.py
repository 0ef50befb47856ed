"""An audit export's offline check names exactly the scores that were deleted, edited or added, whichever they are."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from trails import STORE_CLOCK, Clock, record_years

from riskcore.serving.audit import AuditLog, examine_export


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        clock = Clock(datetime(2019, 1, 1, tzinfo=UTC))
        patch.setattr(STORE_CLOCK, clock)
        log = AuditLog(f"sqlite:///{folder / 'audit.db'}")
        record_years(log, clock, range(2019, 2022), chunk=4)
        written = log.export(folder / "export", since="2019-01-01", until="2022-01-01", actor="x")
        log.close()
    return written.folder


def _scores(folder: Path) -> pa.Table:
    return pq.read_table(folder / "scores" / "part-00000.parquet")


@st.composite
def tampering(draw, n: int):
    rows = st.lists(st.integers(0, n - 1), unique=True, max_size=6)
    deleted = set(draw(rows))
    edited = set(draw(rows)) - deleted
    added = draw(st.lists(st.integers(0, n - 1), max_size=3))
    column = draw(st.sampled_from(["company_id", "p_default", "grade", "input:x"]))
    return sorted(deleted), sorted(edited), added, column


def _edit(table: pa.Table, column: str, rows: list[int]) -> pa.Table:
    values = table.column(column).to_pylist()
    for i in rows:
        old = values[i]
        if column == "p_default":
            values[i] = 0.5 if old != 0.5 else 0.25
        elif column == "input:x":
            values[i] = "7" if old != "7" else "8"
        else:
            values[i] = f"{old}~"
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), field, pa.array(values, field.type))


def test_every_deleted_edited_and_added_score_is_named(export, tmp_path_factory):
    base = _scores(export)
    n = base.num_rows
    heads, rows = base.column("head_seq").to_pylist(), base.column("row").to_pylist()
    last_row = {h: max(r for hh, r in zip(heads, rows) if hh == h) for h in set(heads)}

    @given(tampering(n))
    def check(case):
        deleted, edited, added, column = case
        folder = tmp_path_factory.mktemp("tampered") / "export"
        shutil.copytree(export, folder)
        table = _edit(base, column, edited)
        extra = []
        next_row = dict(last_row)
        for i in added:
            copy = base.slice(i, 1).to_pylist()[0]
            next_row[copy["head_seq"]] += 1
            copy["row"] = next_row[copy["head_seq"]]
            extra.append(copy)
        keep = pc.invert(pa.array([i in set(deleted) for i in range(n)]))
        table = table.filter(keep)
        if extra:
            table = pa.concat_tables([table, pa.Table.from_pylist(extra, schema=table.schema)])
        if deleted or edited or added:
            pq.write_table(table, folder / "scores" / "part-00000.parquet")
        found = examine_export(folder, limit=1000)
        named = {kind: {(f.head_seq, f.row) for f in found.findings if f.kind == kind}
                 for kind in ("missing", "altered", "added")}
        assert named["missing"] == {(heads[i], rows[i]) for i in deleted}
        assert named["altered"] == {(heads[i], rows[i]) for i in edited}
        assert named["added"] == {(r["head_seq"], r["row"]) for r in extra}
        assert found.ok == (not deleted and not edited and not added)
        assert not [f for f in found.findings if f.kind in ("head", "manifest", "chunk")]

    check()
