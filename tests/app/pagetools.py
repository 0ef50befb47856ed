"""Helpers of the page tests: open a page, read its metrics, errors and charts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

# shared with conftest.py; test modules import them from here ("conftest" can name another folder's)
ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 120


def clear_streamlit_caches() -> None:
    """Forget every cached settings object, tracker, bundle and frame (they are per process)."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(app: AppTest, name: str) -> AppTest:
    """Switch to ``pages/<name>.py`` and run it."""
    app.switch_page(f"../pages/{name}.py").run()
    return app


def metrics(app: AppTest) -> dict[str, str]:
    """Label → value of every st.metric on the page."""
    return {m.label: m.value for m in app.metric}


def errors(app: AppTest) -> list[str]:
    """Messages of every st.error on the page."""
    return [e.value for e in app.error]


def chart_specs(app: AppTest) -> list[str]:
    """The JSON spec of every plotly chart on the page."""
    return [c.proto.spec for c in app.get("plotly_chart")]


def table_with(app: AppTest, *columns: str) -> pd.DataFrame:
    """The first st.dataframe on the page that has all of ``columns``."""
    for frame in app.dataframe:
        value = frame.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no table with columns {columns!r} on the page")
