-- Runs once, when the compose PostgreSQL volume is first created.
-- One server: `dagster` (instance storage) and `criptopipe` (the warehouse), plus a read-only
-- role for the dashboard. Passwords come from psql variables set by deploy/postgres-init.sh.
CREATE ROLE criptopipe LOGIN PASSWORD :'warehouse_password';
-- lets a managed service's non-superuser admin (CREATEROLE, CREATEDB) hand ownership over
GRANT criptopipe TO CURRENT_USER;
CREATE DATABASE criptopipe OWNER criptopipe;
CREATE DATABASE dagster OWNER criptopipe;
CREATE ROLE dashboard LOGIN PASSWORD :'dashboard_password';
\connect criptopipe
CREATE SCHEMA IF NOT EXISTS coincap AUTHORIZATION criptopipe;
GRANT USAGE ON SCHEMA coincap TO dashboard;
ALTER DEFAULT PRIVILEGES FOR ROLE criptopipe IN SCHEMA coincap GRANT SELECT ON TABLES TO dashboard;
ALTER ROLE dashboard SET default_transaction_read_only = on;
