"""The riskcore dashboard: Streamlit entry point, cached state, charts and widgets shared by the pages."""
