"""Costs & threshold — price the two mistakes, see the cut-off that minimises their cost, override it."""

import streamlit as st

from dashboard import auth, charts, state, widgets

auth.require_page("costs_threshold")

MODES = {"fixed": "a fixed amount", "exposure": "LGD × exposure"}
SLIDER = "threshold_slider"  # the cut-off slider, in percent; the override itself lives in state.THRESHOLD

bundle = state.model_bundle()
base = bundle.costs
exposure_ok = state.has_exposure(bundle)

st.title("Costs & threshold")
st.caption("A company is referred for review when its PD is at or above the cut-off. The cut-off that minimises "
           "the cost of missed defaults and false alarms is found on the validation year; its consequences are "
           "measured on the later test year. Everything here is recomputed from the stored scores — the model is "
           "not run again. The costs you choose also drive the Business impact page.")


def _override() -> None:
    st.session_state[state.THRESHOLD] = st.session_state[SLIDER] / 100


def _back_to_optimal() -> None:
    st.session_state.pop(state.THRESHOLD, None)


@st.fragment
def decision_panel() -> None:
    """The sliders and everything they change; only this part reruns when a slider moves."""
    left, right = st.columns([1, 2], gap="large")
    with left:
        st.subheader("Costs")
        mode = "fixed"
        if exposure_ok:
            mode = st.radio("A missed default costs", ["fixed", "exposure"], horizontal=True,
                            index=0 if base.mode == "fixed" else 1, key=state.COST_MODE, persist_state="session",
                            format_func=MODES.__getitem__)
        st.slider("Cost of a missed default", 1_000, 500_000, int(base.fn), step=1_000, key=state.COST_FN,
                  persist_state="session", disabled=mode == "exposure", format="%d",
                  help="Loss when a company the model accepts defaults.")
        if exposure_ok:
            st.slider("Loss given default (LGD)", 0.05, 1.0, float(base.lgd), step=0.05, key=state.LGD,
                      persist_state="session", disabled=mode != "exposure",
                      help="Share of the exposure lost when a company defaults.")
        st.slider("Cost of a false alarm", 500, 100_000, int(base.fp), step=500, key=state.COST_FP,
                  persist_state="session", format="%d",
                  help="Review effort and lost margin when a company that would have repaid is referred.")

        view = state.current_view(bundle)
        st.subheader("Cut-off")
        # the slider shows the cut-off in force: the optimal one unless the user set one
        st.session_state[SLIDER] = round(view.threshold * 100, 1)
        st.slider("Refer at a PD of (%) or more", 0.0, 100.0, step=0.1, format="%.1f%%", key=SLIDER,
                  on_change=_override, help="Move it to set the cut-off by hand.")
        st.button("Back to optimal", key="threshold_reset", on_click=_back_to_optimal, disabled=not view.overridden,
                  icon=":material/restart_alt:")

    i = view.impact
    with right:
        a, b, c = st.columns(3)
        a.metric("Cut-off in force", widgets.pct(view.threshold),
                 "set by hand" if view.overridden else "cost-optimal", delta_color="off",
                 help=f"The cost-optimal cut-off at these costs is {widgets.pct(view.optimal_threshold)}.")
        b.metric("Approval rate", widgets.pct(1 - i.referral_rate), f"{i.referred:,} referred", delta_color="off")
        c.metric("Savings on the test year", widgets.money(i.savings), f"{i.savings_pct:.0%} less loss")
        a, b, c = st.columns(3)
        a.metric("Defaults caught", f"{i.defaults_caught:,} of {view.test_defaults:,}")
        b.metric("False alarms", f"{i.false_alarms:,}")
        c.metric("Cost on validation", widgets.money(view.validation_cost),
                 help="The cost the cut-off was chosen on (validation year).")
        st.plotly_chart(charts.cost_curve(state.cost_curve(bundle, view), current=view.threshold), width="stretch",
                        key="cost_curve")
        st.plotly_chart(charts.confusion_matrix(view.confusion), width="stretch", key="confusion")


decision_panel()
