"""Which slice a check reads, and how its verdict reaches Dagster and the ops log.

Dagster 1.13 plans one result per check and per partition of the run (for a single-run
backfill, one per day of the range) and shows a planned result that never came as "Skipped".
It can key a check's result to a partition only when the step has one partition. So a check
reads its whole window once and applies its rule once per day of it (the day's rows, from the
same read), and a range run reports each day's verdict under that day's partition, tied to that
day's materialization: the Checks tab shows each check's latest result, the partitions view
each day's. One run of one partition reports its one result the usual way. Either way the ops
log (`coincap.check_results`, read by the dashboard) gets one row per check and run, for the
whole window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

# what an evaluation points at; Dagster builds it itself for AssetCheckResult (no public alias)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from criptopipe.datasets import Dataset
from criptopipe.defs.assets.common import CoinsConfig
from criptopipe.defs.resources import PostgresResource
from criptopipe.quality import Verdict
from criptopipe.storage import ops_log
from criptopipe.storage.errors import scrub
from criptopipe.storage.slices import Slice, as_date

Reported = Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output[None]]


@dataclass(frozen=True)
class Check:
    ds: Dataset
    name: str
    severity: dg.AssetCheckSeverity
    blocking: bool = False


def check_window(context: dg.AssetCheckExecutionContext) -> Slice:
    """The days the check reads: its run's partition or range (from the run's tags)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        raise dg.Failure(
            description="this check is daily-partitioned, like its asset: run it for a "
            "partition or a range.",
            allow_retries=False,
        )
    keys = context.partition_key_range
    return Slice.days(date.fromisoformat(keys.start), date.fromisoformat(keys.end))


def run_coins(context: dg.AssetCheckExecutionContext, asset: str) -> list[str] | None:
    """The coins the run narrowed `asset` to, read with the asset's own config model."""
    ops: Any = context.run.run_config.get("ops", {})
    raw = ops.get(asset, {}).get("config", {}) if isinstance(ops, Mapping) else {}
    coins = CoinsConfig.model_validate({"coins": (raw or {}).get("coins") or []}).coins
    return coins or None


def by_day(frame: pd.DataFrame, column: str) -> Callable[[date], pd.DataFrame]:
    """The rows of one day of an already-read frame."""
    groups = {as_date(d): g for d, g in frame.groupby(column)} if not frame.empty else {}
    empty = frame.iloc[0:0]
    return lambda day: groups.get(day, empty)


def held_back(context: dg.AssetCheckExecutionContext, key: dg.AssetKey) -> dict[str, int]:
    """What the asset's write held back (`held_back` in its materialization metadata): this
    run's materialization, or the latest one when the check runs on its own."""
    instance = context.instance
    entries = [
        e
        for e in instance.all_logs(
            context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        if e.asset_materialization is not None and e.asset_materialization.asset_key == key
    ]
    if not entries:
        latest = instance.get_latest_materialization_event(key)
        entries = [latest] if latest is not None else []
    for entry in reversed(entries):
        mat = entry.asset_materialization
        value = mat.metadata.get("held_back") if mat is not None else None
        if isinstance(value, dg.JsonMetadataValue) and isinstance(value.value, dict):
            return {str(c): int(n) for c, n in value.value.items()}
    return {}


def all_days(slc: Slice, verdict: Callable[[date], Verdict]) -> Verdict:
    """A window's verdict from its days' (every day passed, or what failed on which day)."""
    verdicts = {day: verdict(day) for day in slc.day_list()}
    failed = {str(d): v for d, v in verdicts.items() if not v.passed}
    if len(verdicts) == 1 or not failed:
        return next(iter(verdicts.values()))
    return Verdict(
        False,
        f"{len(failed)} of {len(verdicts)} days failed: "
        + "; ".join(f"{d}: {v.description}" for d, v in list(failed.items())[:5]),
        {"failed_days": {d: v.metadata for d, v in list(failed.items())[:20]}},
    )


def label(slc: Slice) -> str:
    return str(slc.start) if slc.start == slc.last else f"{slc.start}...{slc.last}"


def _metadata(verdict: Verdict, partitions: str, **extra: str) -> dict[str, Any]:
    return {
        "partitions": partitions,
        **extra,
        **{
            k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
            for k, v in verdict.metadata.items()
        },
    }


def _targets(
    context: dg.AssetCheckExecutionContext, key: dg.AssetKey, days: list[date]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each day (one query), which each day's result checks."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[str(d) for d in days]),
        limit=len(days) * 3,
    ).records
    out: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for r in records:  # newest first
        if r.partition_key is not None and r.partition_key not in out:
            out[r.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp
            )
    return out


def report(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    check: Check,
    slc: Slice,
    window: Verdict,
    per_day: Callable[[date], Verdict],
) -> Reported:
    """The check's results: one per day of a range run, else one; one ops-log row."""
    window_label = label(slc)
    try:
        ops_log.record_check(
            postgres.store(),
            ops_log.CheckRecord(
                check.ds.name,
                check.name,
                window_label,
                window.passed,
                check.severity.value,
                window.description,
                window.metadata,
            ),
        )
    except Exception as exc:  # the log must never hide the verdict
        said = scrub(str(exc), *postgres.secrets())
        context.log.warning(f"could not record the check result: {said}")
    if context.has_partition_key or not context.has_partition_key_range:
        yield dg.AssetCheckResult(
            passed=window.passed,
            severity=check.severity,
            description=window.description,
            metadata=_metadata(window, window_label),
        )
        return
    key = dg.AssetKey(check.ds.name)
    days = slc.day_list()
    targets = _targets(context, key, days)
    for day in days:
        verdict = per_day(day)
        yield dg.AssetCheckEvaluation(
            asset_key=key,
            check_name=check.name,
            passed=verdict.passed,
            metadata=_metadata(verdict, str(day), run_window=window_label),
            target_materialization_data=targets.get(str(day)),
            severity=check.severity,
            description=verdict.description,
            blocking=check.blocking,
            partition=str(day),
        )
    yield dg.Output(None)
