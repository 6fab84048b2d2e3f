-- Runs once, when the compose PostgreSQL volume is first created.
-- One server: `dagster` (instance storage) and `criptopipe` (the warehouse), plus the read-only
-- role the dashboard logs in as, `criptopipe_reader` (the same role `make run` creates on the
-- embedded server). Passwords come from psql variables set by deploy/postgres-init.sh.
CREATE ROLE criptopipe LOGIN PASSWORD :'warehouse_password';
-- lets a managed service's non-superuser admin (CREATEROLE, CREATEDB) hand ownership over
GRANT criptopipe TO CURRENT_USER;
CREATE DATABASE criptopipe OWNER criptopipe;
CREATE DATABASE dagster OWNER criptopipe;
CREATE ROLE criptopipe_reader LOGIN PASSWORD :'dashboard_password';
-- the server, not a transaction flag, refuses the reader's writes; the flag is a second line
ALTER ROLE criptopipe_reader SET default_transaction_read_only = on;
-- no temporary tables for anyone but the owner (the warehouse role)
REVOKE TEMPORARY ON DATABASE criptopipe FROM PUBLIC;
\connect criptopipe
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS coincap AUTHORIZATION criptopipe;
GRANT USAGE ON SCHEMA coincap TO criptopipe_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA coincap TO criptopipe_reader;
-- ...and on every table the warehouse role creates there later
ALTER DEFAULT PRIVILEGES FOR ROLE criptopipe IN SCHEMA coincap GRANT SELECT ON TABLES TO criptopipe_reader;
