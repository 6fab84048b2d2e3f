"""Names of the environment variables the project reads, and their defaults, in one place.

Nothing here reads the environment at import time: resources resolve these names through
`dg.EnvVar(...).get_value()` when a run starts, so an unset optional variable falls back to its
default and an unset required one fails with a message that says what to do.
"""

from __future__ import annotations

COINCAP_API_KEY = "COINCAP_API_KEY"
COINCAP_BASE_URL = "COINCAP_BASE_URL"
DATABASE_URL = "DATABASE_URL"
MONGODB_URI = "MONGODB_URI"
PG_SCHEMA = "CRIPTOPIPE_PG_SCHEMA"
COINS = "CRIPTOPIPE_COINS"
TOP_N = "CRIPTOPIPE_TOP_N"
CREDIT_BUDGET = "COINCAP_CREDIT_BUDGET"
HISTORY_SPAN_DAYS = "CRIPTOPIPE_HISTORY_SPAN_DAYS"
ALERT_WEBHOOK_URL = "CRIPTOPIPE_ALERT_WEBHOOK_URL"
#: the Dagster webserver's base URL as people open it: alerts link to <it>/runs/<run id>
DAGSTER_UI_URL = "CRIPTOPIPE_DAGSTER_UI_URL"
#: the dashboard's read-only connections (a role / user that can only read the warehouse)
DASHBOARD_DATABASE_URL = "DASHBOARD_DATABASE_URL"
DASHBOARD_MONGODB_URI = "DASHBOARD_MONGODB_URI"

DEFAULT_BASE_URL = "https://rest.coincap.io/v3"
DEFAULT_SCHEMA = "coincap"
DEFAULT_TOP_N = 10
DEFAULT_MARKETS_PER_COIN = 25
DEFAULT_SNAPSHOT_GRACE_HOURS = 24.0
#: CoinCap's free tier (2025): runs refuse to start when their estimate exceeds what is left
DEFAULT_CREDIT_BUDGET = 2500
DEFAULT_HISTORY_SPAN_DAYS = 365
