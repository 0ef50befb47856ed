"""Sectors — does the model work as well in every sector, and how does ESG relate to PD within one?"""

import streamlit as st

from dashboard import auth, state, widgets
from dashboard import charts_model as charts
from riskcore.evaluation import SMALL_SEGMENT_DEFAULTS, esg_columns, small_segments_note

auth.require_page("sectors")

bundle = state.model_bundle()
st.title("Sectors")
if not bundle.spec.segment:
    st.info("The model's data has no segment column, so there is no per-sector view.")
    st.stop()
st.caption("A model can look good overall and still fail a sector. Each sector's AUC comes with a 95% bootstrap "
           "interval; in a sector with few defaults the interval is wide and the point value means little.")

left, right = st.columns([3, 2])
with left:
    part = widgets.part_picker("sec_part")
min_defaults = right.slider("Warn below this many defaults", 5, 100, SMALL_SEGMENT_DEFAULTS, step=5,
                            key="sec_min_defaults")
table = state.sectors(bundle, bundle.version, part, min_defaults)
note = small_segments_note(table, min_defaults)
if note:
    st.warning(note, icon=":material/warning:")

left, right = st.columns(2)
left.plotly_chart(charts.segment_auc(table), width="stretch", key="sec_auc")
right.plotly_chart(charts.segment_rates(table), width="stretch", key="sec_rates")
st.dataframe(table, hide_index=True, width="stretch", column_config={
    "segment": st.column_config.TextColumn("sector"),
    "observed_rate": st.column_config.NumberColumn("observed rate", format="percent"),
    "mean_pd": st.column_config.NumberColumn("mean PD", format="percent"),
    "auc": st.column_config.NumberColumn("AUC", format="%.3f"),
    "auc_lower": st.column_config.NumberColumn("AUC low", format="%.3f"),
    "auc_upper": st.column_config.NumberColumn("AUC high", format="%.3f"),
    "ece": st.column_config.NumberColumn("ECE", format="%.4f"),
    "small": st.column_config.CheckboxColumn("few defaults")})
st.plotly_chart(charts.ece_by_segment(table), width="stretch", key="sec_ece")

st.subheader("PD by ESG band within each sector")
esg = esg_columns(bundle.spec)
if not esg:
    st.info("The model's data has no ESG scores.")
else:
    st.caption(f"A company's ESG score is the mean of {', '.join(bundle.spec.label(c) for c in esg)}; bands are "
               "terciles within its sector, so each sector is compared with itself. Companies without ESG scores "
               "form their own band.")
    bands = state.esg_bands(bundle, bundle.version, part)
    st.plotly_chart(charts.esg_bands(bands), width="stretch", key="sec_esg")
    st.dataframe(bands, hide_index=True, width="stretch", column_config={
        "mean_pd": st.column_config.NumberColumn("mean PD", format="percent"),
        "observed_rate": st.column_config.NumberColumn("observed rate", format="percent")})
