"""riskcore dashboard: page config, first start, sidebar, navigation.

Run with ``streamlit run dashboard/app.py``. The list of pages below is the
dashboard's table of contents.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from riskcore.config import set_thread_defaults

set_thread_defaults()  # before any model library starts its OpenMP threads

import streamlit as st  # noqa: E402

from dashboard import state, widgets  # noqa: E402
from riskcore.errors import RiskcoreError  # noqa: E402

if TYPE_CHECKING:
    from riskcore.modelling.bundle import ModelBundle

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "pages"

st.set_page_config(page_title="riskcore", page_icon=str(ROOT / "assets" / "logo.svg"), layout="wide")


def first_start() -> None:
    """No model yet: generate the demo portfolio and train a quick model, with a progress bar."""
    from riskcore.lifecycle import first_start as start

    st.title("Welcome to riskcore")
    st.write(f"There is no model yet. riskcore is generating its demo portfolio ({state.settings().demo_companies:,} "
             "companies over ten years, with a known true probability of default), training a first model with "
             "the quick profile, and monitoring the three years that follow, in which the economy, one ESG "
             "provider and one sector change. This takes about a minute, once.")
    progress = widgets.progress_bar()
    with state.exclusive("first-start"):
        state.clear_model_caches()
        if state.champion_ref() is None:
            start(state.settings(), profile="quick", progress=progress)
    state.clear_model_caches()
    st.rerun()


def sidebar(bundle: ModelBundle) -> None:
    """The model in use and the costs in force, on every page."""
    m = bundle.metrics
    with st.sidebar:
        st.markdown("**Model in use**")
        st.caption(f"{bundle.version}")
        served = state.served()
        if served.status == "degraded":  # the champion fails verification: say which version serves instead
            st.warning(served.reason, icon=":material/gpp_maybe:")
        trained = str(m["model"].get("trained_at", ""))[:16].replace("T", " ")
        st.caption(f"{m['model']['kind']} · trained {trained} UTC · {m['split']['mode'].replace('_', '-')} test")
        auc = m["test"]["auc"]
        lo, hi = m["test"]["auc_ci"]
        st.metric("Test AUC", f"{auc:.3f}", help=f"95% bootstrap interval {lo:.3f}–{hi:.3f}, on rows the model "
                  "never saw during training")
        c = state.costs(bundle)
        fn = "LGD × exposure" if c.mode == "exposure" else f"{c.fn:,.0f}"
        st.caption(f"Costs in force: missed default {fn} · false alarm {c.fp:,.0f}")


try:
    if state.champion_ref() is None:
        first_start()
    bundle = state.model_bundle()
except RiskcoreError as err:
    st.error(f"The model cannot be loaded: {err}")
    st.stop()

sidebar(bundle)
pages = {
    "Overview": [
        st.Page(PAGES / "business_impact.py", title="Business impact", icon=":material/savings:", default=True),
    ],
    "Model": [
        st.Page(PAGES / "data_quality.py", title="Data quality", icon=":material/fact_check:"),
        st.Page(PAGES / "training_runs.py", title="Training runs", icon=":material/model_training:"),
        st.Page(PAGES / "calibration.py", title="Calibration", icon=":material/tune:"),
        st.Page(PAGES / "costs_threshold.py", title="Costs & threshold", icon=":material/balance:"),
        st.Page(PAGES / "performance.py", title="Performance", icon=":material/monitoring:"),
        st.Page(PAGES / "sectors.py", title="Sectors", icon=":material/domain:"),
        st.Page(PAGES / "monitoring.py", title="Monitoring", icon=":material/query_stats:"),
        st.Page(PAGES / "model_report.py", title="Model report", icon=":material/article:"),
    ],
    "Companies": [
        st.Page(PAGES / "company_explorer.py", title="Company explorer", icon=":material/search:"),
        st.Page(PAGES / "portfolio_scoring.py", title="Portfolio scoring", icon=":material/upload_file:"),
    ],
}
st.navigation(pages).run()
