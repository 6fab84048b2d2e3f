#!/bin/sh
# docker-entrypoint-initdb.d hook (runs once, on an empty volume): postgres-init.sql with the
# passwords from the environment. The .sql.in name keeps the entrypoint from running the SQL
# itself without them. INIT_SQL lets the test run the same script against a local server.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v warehouse_password="$WAREHOUSE_PASSWORD" -v dashboard_password="$DASHBOARD_PASSWORD" \
  -f "${INIT_SQL:-/docker-entrypoint-initdb.d/10-init.sql.in}"
