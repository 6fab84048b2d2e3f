"""Dagster's PostgreSQL event-log storage, holding its connection for the life of the process.

`PostgresEventLogStorage` opens a new connection for every statement it runs (a SQLAlchemy
`NullPool`, so that many short-lived instances never pile up idle connections). A run worker
is one long-lived instance that writes an event per partition of a range: a year of
`asset_history` is 365 materializations and, with its six partitioned checks, 2,190 check
evaluations, and storing each one connects two to four times (the event, its index rows, the
check-execution row and a catalog query asking whether that table exists). Profiled on this
project's embedded server, connecting (SCRAM authentication and a new backend) was 43% of a
run's wall time.

This class is the same storage with a small pool, as Dagster already does for its webserver
(`optimize_for_webserver`): two connections kept (a write opens a second one inside its index
transaction); a caller beyond them (the daemon's threads at once) gets a connection of its own,
opened and closed as before, never a wait. Each kept one is checked with a ping when it is taken
(a server restart costs a reconnect, never a failed write) and recycled
after `POOL_RECYCLE_SECONDS`. Configured in every `dagster.yaml` as `event_log_storage`; run and
schedule storage stay Dagster's own. `dagster==1.13.27` is pinned; `defs/test_instance_storage.py`
fails if an upgrade changes what this relies on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

POOL_SIZE = 2
# beyond the two, a connection is opened and closed as Dagster's own storage does: a bounded
# overflow could deadlock threads that each hold one and wait for a nested second
MAX_OVERFLOW = -1
POOL_RECYCLE_SECONDS = 3600


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """`PostgresEventLogStorage` that reuses its connection instead of opening one per write."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(
            postgres_url,
            should_autocreate_tables=should_autocreate_tables,
            inst_data=inst_data,
            token_provider=token_provider,
        )
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_pre_ping=True,
        )

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()
