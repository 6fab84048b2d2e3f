"""DDL of the pipeline's own tables beside the data: the credit ledger and the operations log.

`PostgresStore.ensure_schema` runs it (and only it does), once per run, under the same advisory
lock as the datasets' tables; the modules that write and read these tables (`ledger.py`,
`ops_log.py`) run DML only and treat a missing table as "nothing recorded yet".
"""

from __future__ import annotations

from psycopg import sql

LEDGER = "credit_ledger"
CHECK_RESULTS = "check_results"
RUN_FAILURES = "run_failures"

SYSTEM_TABLES = (LEDGER, CHECK_RESULTS, RUN_FAILURES)

_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.credit_ledger (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL,
    asset text NOT NULL,
    partition_start date NOT NULL,
    partition_end date NOT NULL,
    requests integer NOT NULL,
    bytes bigint NOT NULL,
    credits integer NOT NULL,
    source text NOT NULL,
    succeeded boolean NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS credit_ledger_recorded_at_idx ON {schema}.credit_ledger (recorded_at);
CREATE TABLE IF NOT EXISTS {schema}.check_results (
    id bigserial PRIMARY KEY,
    asset text NOT NULL,
    check_name text NOT NULL,
    partition_key text,
    passed boolean NOT NULL,
    severity text NOT NULL,
    description text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{{}}',
    evaluated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS check_results_evaluated_at_idx ON {schema}.check_results (evaluated_at);
CREATE TABLE IF NOT EXISTS {schema}.run_failures (
    run_id text PRIMARY KEY,
    job_name text NOT NULL,
    asset text,
    partition_key text,
    error text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    notified boolean NOT NULL DEFAULT false
);
"""


def system_ddl(schema: str) -> sql.Composed:
    return sql.SQL(_DDL).format(schema=sql.Identifier(schema))
