"""Checks of the exchanges' and the derived datasets: the structural ones every dataset gets
(unique keys, both stores agree, valid prices), the pairs an exchange answered nothing for, and
`sources_agree` on daily_prices: a warning when a coin's prices spread wider than the warning
threshold (naming coin, day and the outlying source), an error when one lies further from the
median than the error threshold. Verdicts are reported per day of a range run and land in
coincap.check_results like the others (`defs/checks/results.py`)."""

import dagster as dg

from criptopipe import quality as rules
from criptopipe.datasets import DAILY_PRICES, EXCHANGE_CANDLES
from criptopipe.defs.checks.definitions import ERROR, WARN, _asset_check, structural_checks
from criptopipe.defs.checks.results import Check, Reported, by_day, check_window, held_back, report
from criptopipe.defs.exchange_resource import ExchangesResource
from criptopipe.defs.partitions import daily_partitions
from criptopipe.defs.resources import PostgresResource


@_asset_check(
    EXCHANGE_CANDLES,
    daily_partitions,
    name="empty_answers",
    description="Each exchange answered candles for every pair whose rows the stores hold; a "
    "pair it answered nothing for is left out of the write and named here (a warning).",
)
def candle_empty_answers(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> Reported:
    slc = check_window(context)
    held = held_back(context, dg.AssetKey(EXCHANGE_CANDLES.name))
    verdict = rules.empty_answers(held, "candles", slc.describe_days(), "the exchange", "pair")
    check = Check(EXCHANGE_CANDLES, "empty_answers", WARN)
    yield from report(context, postgres, check, slc, verdict, lambda _: verdict)


@_asset_check(
    DAILY_PRICES,
    daily_partitions,
    name="sources_agree",
    description="CoinCap's d1 average and the exchanges' VWAPs agree: a spread beyond "
    "CRIPTOPIPE_SOURCES_WARN_PCT (2%) warns naming coin, day and outlying source; a price beyond "
    "CRIPTOPIPE_SOURCES_ERROR_PCT (10%) from the median is an error.",
)
def sources_agree(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    exchanges: ExchangesResource,
) -> Reported:
    slc = check_window(context)
    warn, error = exchanges.thresholds()
    frame = postgres.store().read_slice(DAILY_PRICES, slc)
    rows = by_day(frame, DAILY_PRICES.partition_column)
    verdict = rules.sources_agree(frame, warn, error)
    severity = ERROR if verdict.metadata.get("level") == "error" else WARN
    yield from report(
        context,
        postgres,
        Check(DAILY_PRICES, "sources_agree", severity),
        slc,
        verdict,
        lambda day: rules.sources_agree(rows(day), warn, error),
    )


exchange_checks: list[dg.AssetChecksDefinition] = [
    *structural_checks(EXCHANGE_CANDLES, daily_partitions),
    *structural_checks(DAILY_PRICES, daily_partitions),
    candle_empty_answers,
    sources_agree,
]
