"""The `criptopipe` command's options and their types: what a person types, checked before anything runs.

Each type turns text into a value or fails with one sentence saying what is wrong and what is
valid (click prefixes the option's name): days must be partitions, ranges must run forward,
budgets are credits or `off`, asset names come from the dataset registry, coin ids follow
CoinCap's grammar. No Dagster here (the partition bounds come from `criptopipe.days`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from criptopipe import config, datasets, days
from criptopipe.storage.slices import Slice


class Day(click.ParamType):
    """A partition: a UTC day between the first partition and the latest closed day."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            reason = str(exc)
            why = f" ({reason})" if "range" in reason or "must be in" in reason else ""
            example = days.latest_closed()
            self.fail(f"{text!r} is not a date{why}: give YYYY-MM-DD, e.g. {example}", param, ctx)
        if len(text) != 10:
            self.fail(f"{text!r} is not YYYY-MM-DD: write it as {day.isoformat()}", param, ctx)
        if outside := days.outside(day):
            self.fail(outside, param, ctx)
        return day


class DayRange(click.ParamType):
    """Two partitions `A...B`, both included, A not after B."""

    name = "YYYY-MM-DD...YYYY-MM-DD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[date, date]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if text.count("...") != 1:
            self.fail(
                f"{text!r} is not a range: give FIRST...LAST with three dots, e.g. "
                "2025-01-01...2025-01-31 (both days included)",
                param,
                ctx,
            )
        a, b = (part.strip() for part in text.split("..."))
        first, last = Day().convert(a, param, ctx), Day().convert(b, param, ctx)
        if last < first:
            self.fail(
                f"{first}...{last} is reversed ({first} is after {last}): give the earlier day "
                f"first, {last}...{first}",
                param,
                ctx,
            )
        return first, last


class AssetList(click.ParamType):
    """Comma-separated dataset names from the registry (optionally only those `allowed`)."""

    name = "ASSET[,ASSET...]"

    def __init__(self, allowed: str | None = None) -> None:
        self.allowed = allowed  # a Dataset attribute that must be true, e.g. 'gaps_fillable'

    def choices(self) -> list[str]:
        return [
            ds.name
            for ds in datasets.all_datasets()
            if self.allowed is None or getattr(ds, self.allowed)
        ]

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[datasets.Dataset]:
        if isinstance(value, list):
            return value
        names = [n.strip() for n in str(value).split(",") if n.strip()]
        if not names:
            self.fail(f"name at least one asset: {', '.join(self.choices())}", param, ctx)
        chosen = []
        for name in dict.fromkeys(names):
            if name not in datasets.names():
                self.fail(
                    f"unknown asset {name!r}: choose from {', '.join(self.choices())}", param, ctx
                )
            if name not in self.choices():
                self.fail(
                    f"{name} cannot be gap-filled (CoinCap keeps no history of a snapshot "
                    f"dataset, so its missing days cannot be fetched): choose from "
                    f"{', '.join(self.choices())}",
                    param,
                    ctx,
                )
            chosen.append(datasets.get(name))
        return chosen


class CoinList(click.ParamType):
    """Comma-separated CoinCap ids (lowercase slugs)."""

    name = "ID[,ID...]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        ids = [c.strip() for c in str(value).split(",") if c.strip()]
        bad = [c for c in ids if not config.COIN_ID.match(c)]
        if bad or not ids:
            shown = ", ".join(repr(b) for b in bad[:3]) or repr(value)
            self.fail(
                f"{shown} is not a CoinCap id: lowercase letters, digits, '-', '.' or '_', "
                "comma-separated, e.g. bitcoin,ethereum",
                param,
                ctx,
            )
        return tuple(dict.fromkeys(ids))


class Budget(click.ParamType):
    """Credits per month, or `off`: read exactly as COINCAP_CREDIT_BUDGET is."""

    name = "CREDITS|off"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        try:
            return config.parse_budget(str(value), name="--budget")
        except config.ConfigError:
            self.fail(
                f"{value!r} is not a budget: give whole credits per month (e.g. 2500) or off",
                param,
                ctx,
            )


class Markets(click.ParamType):
    """Markets kept per coin: a positive whole number, or `all`."""

    name = "N|all"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        text = str(value).strip().lower()
        if text == "all":
            return None
        if text.isdigit() and int(text) >= 1:
            return int(text)
        self.fail(
            f"{value!r} is not a number of markets: give a whole number >= 1, or all", param, ctx
        )


# ------------------------------------------------------------------ shared options


def window(partition: date | None, partition_range: tuple[date, date] | None) -> Slice:
    if partition is not None and partition_range is not None:
        raise click.UsageError("give --partition or --partition-range, not both")
    if partition is not None:
        return Slice.days(partition, partition)
    if partition_range is not None:
        return Slice.days(*partition_range)
    raise click.UsageError(
        "give --partition YYYY-MM-DD or --partition-range YYYY-MM-DD...YYYY-MM-DD "
        f"(partitions run from {days.START} to {days.latest_closed()})"
    )


def window_options(select: AssetList, default: str) -> Any:
    def wrap(f: Any) -> Any:
        f = click.option(
            "--partition-range",
            type=DayRange(),
            help="First and last day, both included, e.g. 2025-01-01...2025-01-31.",
        )(f)
        f = click.option(
            "--partition", type=Day(), help="One UTC day (a partition), e.g. 2025-01-31."
        )(f)
        names = ", ".join(select.choices())
        return click.option(
            "--select",
            type=select,
            default=default,
            show_default=True,
            help=f"Comma-separated assets: {names}.",
        )(f)

    return wrap


def listen_options(what: str, host_var: str, port_var: str, port: int) -> Any:
    def wrap(f: Any) -> Any:
        f = click.option(
            "--port",
            type=click.IntRange(1, 65535),
            show_default=f"{port_var}, else {port}",
            help=f"Port of {what}.",
        )(f)
        return click.option(
            "--host",
            show_default=f"{host_var}, else 127.0.0.1",
            help=f"Address {what} listens on (0.0.0.0: every interface).",
        )(f)

    return wrap
