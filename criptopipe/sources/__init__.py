"""One folder per data source; nothing under `sources/` imports Dagster."""
