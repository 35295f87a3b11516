"""Streamlit dashboard over a run folder."""
