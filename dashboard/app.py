"""riskcore dashboard: page config, sign-in, first start, sidebar, navigation.

Run with ``streamlit run dashboard/app.py``. The list of pages below is the
dashboard's table of contents; the navigation lists the pages the signed-in
role opens, and the others answer their URL with the role they need
(:mod:`dashboard.auth`).
"""

from __future__ import annotations

from pathlib import Path

from riskcore.config import set_thread_defaults

set_thread_defaults()  # before any model library starts its OpenMP threads

import streamlit as st  # noqa: E402

from dashboard import auth, state, widgets  # noqa: E402
from riskcore.errors import RiskcoreError  # noqa: E402
from riskcore.workbench import ModelBundle  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "pages"

st.set_page_config(page_title="riskcore", page_icon=str(ROOT / "assets" / "logo.svg"), layout="wide")


def first_start() -> None:
    """No model yet: generate the demo portfolio and train a quick model, with a progress bar."""
    st.title("Welcome to riskcore")
    st.write(f"There is no model yet. riskcore is generating its demo portfolio ({state.settings().demo_companies:,} "
             "companies over ten years, with a known true probability of default), training a first model with "
             "the quick profile, and monitoring the three years that follow, in which the economy, one ESG "
             "provider and one sector change. This takes about a minute, once.")
    state.clear_model_caches()
    state.bench().first_start(profile="quick", progress=widgets.progress_bar())
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


def navigation(person: auth.Person) -> dict[str, list[st.Page]]:
    """The table of contents: the pages the person's role opens, by section; the others hidden, still routed.

    Hidden pages join the first section (Business impact, which every role opens, keeps it visible), so no
    section shows a heading without pages, and their URLs reach the page's "you need role" message.
    """
    contents = {
        "Overview": [("business_impact", "Business impact", ":material/savings:"),
                     ("provisions", "Provisions", ":material/account_balance:")],
        "Model": [("data_quality", "Data quality", ":material/fact_check:"),
                  ("training_runs", "Training runs", ":material/model_training:"),
                  ("calibration", "Calibration", ":material/tune:"),
                  ("costs_threshold", "Costs & threshold", ":material/balance:"),
                  ("performance", "Performance", ":material/monitoring:"),
                  ("sectors", "Sectors", ":material/domain:"),
                  ("monitoring", "Monitoring", ":material/query_stats:"),
                  ("model_report", "Model report", ":material/article:"),
                  ("audit_trail", "Audit trail", ":material/verified_user:")],
        "Companies": [("company_explorer", "Company explorer", ":material/search:"),
                      ("portfolio_scoring", "Portfolio scoring", ":material/upload_file:")],
    }
    pages: dict[str, list[st.Page]] = {section: [] for section in contents}
    for section, entries in contents.items():
        for name, title, icon in entries:
            shown = auth.visibility(person, name)
            page = st.Page(PAGES / f"{name}.py", title=title, icon=icon, default=name == "business_impact",
                           visibility=shown)
            pages[section if shown == "visible" else "Overview"].append(page)
    return {section: entries for section, entries in pages.items() if entries}


person = auth.gate()  # the sign-in form and nothing else until someone signs in
try:
    if state.champion_ref() is None:
        first_start()
    bundle = state.model_bundle()
except RiskcoreError as err:
    st.error(f"The model cannot be loaded: {err}")
    st.stop()

auth.sidebar(person)
sidebar(bundle)
st.navigation(navigation(person)).run()
