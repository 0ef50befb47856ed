"""Small widgets and formatters shared by the pages."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.tables import csv_bytes
from riskcore.errors import RiskcoreError, SchemaError

STATUS_ICONS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "error": "❌ error", "warning": "⚠️ warning",
                "info": "ℹ️ info", "skip": "⏭️ skip"}
# a browser shows a table of this many rows at once; a larger one (a million scored rows) would not fit in one
# message between the server and the page, so the rest is in the download
MAX_TABLE_ROWS = 10_000
PARTS = {"test": "Test year (most recent, never seen in training)", "validation": "Validation year"}


def money(x: float | None) -> str:
    """An amount with thousands separators (``1,234,567``), or ``n/a``."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage (``3.2%``), or ``n/a``."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}%}"


def show_error(err: RiskcoreError) -> None:
    """Tell the user what went wrong: the message, and for a SchemaError every problem as a table."""
    st.error(str(err))
    if isinstance(err, SchemaError) and err.problems:
        st.dataframe(pd.DataFrame([p.as_dict() for p in err.problems]), hide_index=True, width="stretch")


def part_picker(key: str, label: str = "Rows", on_change: Callable[[], None] | None = None) -> str:
    """Choose the test (default) or the validation rows of the hold-out."""
    choice = st.segmented_control(label, list(PARTS), format_func=lambda p: PARTS[p], default="test", key=key,
                                  selection_mode="single", on_change=on_change)
    return choice or "test"


def progress_bar(text: str = "starting") -> Callable[[float, str], None]:
    """A progress bar and the ``progress(fraction, message)`` callback the engine calls to move it."""
    bar = st.progress(0.0, text=text)

    def update(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=message)

    return update


def forget(prefix: str) -> None:
    """Drop the widget states whose keys start with ``prefix`` (e.g. when the company they edit changes)."""
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[key]


def csv_download(label: str, frame: pd.DataFrame, file_name: str, key: str) -> None:
    """A download button whose CSV is written (injection-safe) only when clicked."""
    st.download_button(label, data=lambda: csv_bytes(frame), file_name=file_name, mime="text/csv", key=key,
                       icon=":material/download:")


def with_status_icons(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """A copy with a status column (pass / warn / fail …) shown with an icon."""
    return frame.assign(**{column: frame[column].map(lambda s: STATUS_ICONS.get(str(s), s))})


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose mixed-type text columns (a reject report's ``value``) are shown as text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def big_table(frame: pd.DataFrame, what: str, *, downloadable: bool = False, **kwargs: Any) -> None:
    """``st.dataframe`` of at most :data:`MAX_TABLE_ROWS` rows, saying so when there are more."""
    if len(frame) > MAX_TABLE_ROWS:
        rest = "; the download below has all of them" if downloadable else ""
        st.caption(f"Showing the first {MAX_TABLE_ROWS:,} of {len(frame):,} {what}{rest}.")
        frame = frame.head(MAX_TABLE_ROWS)
    st.dataframe(frame, **kwargs)


def folder_download(label: str, folder: Path, key: str) -> None:
    """A download button for a folder, zipped (stored, not compressed again) only when clicked."""

    def zipped() -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                archive.write(path, Path(folder.name) / path.relative_to(folder))
        return buffer.getvalue()

    st.download_button(label, data=zipped, file_name=f"{folder.name}.zip", mime="application/zip", key=key,
                       icon=":material/download:")
