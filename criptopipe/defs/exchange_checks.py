"""Checks of the exchanges' and the derived datasets: the structural ones every dataset gets
(unique keys, both stores agree, valid prices), the pairs an exchange answered nothing for, and
`sources_agree` on daily_prices: a warning when a coin's prices spread wider than the warning
threshold (naming coin, day and the outlying source), an error when one lies further from the
median than the error threshold. Verdicts land in coincap.check_results like the others."""

import dagster as dg

from criptopipe import quality as rules
from criptopipe.datasets import DAILY_PRICES, EXCHANGE_CANDLES
from criptopipe.defs.assets.derived import daily_prices
from criptopipe.defs.assets.exchanges import exchange_candles
from criptopipe.defs.checks import _held_back, _result, structural_checks
from criptopipe.defs.exchange_resource import ExchangesResource
from criptopipe.defs.partitions import daily_partitions, window
from criptopipe.defs.resources import PostgresResource


@dg.asset_check(
    asset=exchange_candles,
    name="empty_answers",
    partitions_def=daily_partitions,
    description="Each exchange answered candles for every pair whose rows the stores hold; a "
    "pair it answered nothing for is left out of the write and named here (a warning).",
)
def candle_empty_answers(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    slc = window(context)
    held = _held_back(context, exchange_candles.key)
    verdict = rules.empty_answers(held, "candles", slc.describe_days(), "the exchange", "pair")
    severity = dg.AssetCheckSeverity.WARN
    return _result(context, postgres, EXCHANGE_CANDLES, "empty_answers", verdict, severity, slc)


@dg.asset_check(
    asset=daily_prices,
    name="sources_agree",
    partitions_def=daily_partitions,
    description="CoinCap's d1 average and the exchanges' VWAPs agree: a spread beyond "
    "CRIPTOPIPE_SOURCES_WARN_PCT (2%) warns naming coin, day and outlying source; a price beyond "
    "CRIPTOPIPE_SOURCES_ERROR_PCT (10%) from the median is an error.",
)
def sources_agree(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    exchanges: ExchangesResource,
) -> dg.AssetCheckResult:
    slc = window(context)
    warn, error = exchanges.thresholds()
    verdict = rules.sources_agree(postgres.store().read_slice(DAILY_PRICES, slc), warn, error)
    severity = (
        dg.AssetCheckSeverity.ERROR
        if verdict.metadata.get("level") == "error"
        else dg.AssetCheckSeverity.WARN
    )
    return _result(context, postgres, DAILY_PRICES, "sources_agree", verdict, severity, slc)


exchange_checks: list[dg.AssetChecksDefinition] = [
    *structural_checks(exchange_candles, EXCHANGE_CANDLES),
    *structural_checks(daily_prices, DAILY_PRICES),
    candle_empty_answers,
    sources_agree,
]
