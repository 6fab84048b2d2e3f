#!/bin/sh
# docker-entrypoint-initdb.d hook: run postgres-init.sql with the passwords from the environment.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v warehouse_password="$WAREHOUSE_PASSWORD" -v dashboard_password="$DASHBOARD_PASSWORD" \
  -f /docker-entrypoint-initdb.d/10-init.sql.in
