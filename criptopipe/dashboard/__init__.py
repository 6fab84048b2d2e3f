"""The Streamlit dashboard over PostgreSQL and MongoDB (no Dagster here)."""
