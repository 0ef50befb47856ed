"""Business impact — the executives' landing page."""

import streamlit as st

from dashboard import auth, charts, state
from riskcore.evaluation import impact_sentences

auth.require_page("business_impact")

bundle = state.model_bundle()
view = state.current_view(bundle)
i = view.impact

st.title("Business impact")
st.caption("Measured on the most recent year of data, which the model never saw during training, at the costs set "
           "on the Costs & threshold page.")
a, b, c, d = st.columns(4)
a.metric("Savings", f"{i.savings:,.0f}", f"{i.savings_pct:.0%} less loss")
b.metric("Loss avoided", f"{i.loss_avoided:,.0f}", help="cost of the defaults the model caught")
c.metric("Defaults caught", f"{i.defaults_caught:,} of {view.test_defaults:,}")
d.metric("False alarms", f"{i.false_alarms:,}")
a, b, c, d = st.columns(4)
a.metric("Companies referred", f"{i.referred:,}", f"{i.referral_rate:.1%} of the portfolio", delta_color="off")
b.metric("Return on review effort", "n/a" if i.roi != i.roi else f"{i.roi:.1f}×",
         help="savings divided by the cost of the false alarms")
c.metric("Top-decile lift", f"{i.top_decile_lift:.1f}×")
d.metric("Portfolio expected loss", "n/a" if view.portfolio_expected_loss is None
         else f"{view.portfolio_expected_loss:,.0f}", help="sum of PD × LGD × exposure over the test year")

left, right = st.columns([3, 2])
with left:
    st.plotly_chart(charts.loss_comparison(view), width="stretch")
with right:
    st.subheader("What it means")
    for sentence in impact_sentences(view):
        st.write(sentence)
