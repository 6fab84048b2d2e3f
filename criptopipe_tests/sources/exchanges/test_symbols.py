"""Tracked CoinCap coins mapped onto the markets CCXT loads from the sandbox: quote preference,
missing pairs, collisions, CCXT renames and pins; unknown symbols refused before any request."""

from __future__ import annotations

from datetime import date

import pytest

from criptopipe.sources.exchanges import (
    ExchangeClient,
    ProblemKind,
    SymbolMap,
    TrackedCoin,
    UnknownSymbolError,
)
from criptopipe.sources.exchanges.sandbox import ExchangeSandbox
from criptopipe_tests.sources.exchanges.conftest import with_client

REAL = [
    ("bitcoin", "BTC"),
    ("ethereum", "ETH"),
    ("tether", "USDT"),
    ("binance-coin", "BNB"),
    ("solana", "SOL"),
    ("dogecoin", "DOGE"),
    ("polygon", "MATIC"),
]


def coins(*pairs: tuple[str, str]) -> list[TrackedCoin]:
    return [TrackedCoin(id=i, symbol=s) for i, s in pairs]


def mapping(
    sb: ExchangeSandbox, exchange: str, tracked: list[TrackedCoin], **kw: object
) -> SymbolMap:
    async def body(client: ExchangeClient) -> SymbolMap:
        await client.load_markets()
        return client.map_coins(tracked)

    return with_client(sb, exchange, body, **kw)


def by_coin(m: SymbolMap) -> dict[str, str]:
    return {x.coin_id: x.symbol for x in m.matches}


def problems(m: SymbolMap) -> dict[str, ProblemKind]:
    return {p.coin_id: p.kind for p in m.problems}


def test_default_quote_preference_usdt_then_usd(xsb: ExchangeSandbox) -> None:
    binance = mapping(xsb, "binance", coins(*REAL))
    assert by_coin(binance) == {
        "bitcoin": "BTC/USDT",
        "ethereum": "ETH/USDT",
        "binance-coin": "BNB/USDT",
        "solana": "SOL/USDT",
        "dogecoin": "DOGE/USDT",
        "polygon": "MATIC/USDT",
    }
    # Binance has no USDT/USDT and no USD quote: tether is reported, not guessed
    assert problems(binance) == {"tether": ProblemKind.MISSING}
    # MATIC/USDT is delisted (BREAK) but keeps its history: mapped, flagged inactive
    assert {x.coin_id for x in binance.matches if not x.active} == {"polygon"}

    kraken = mapping(xsb, "kraken", coins(*REAL))
    # BTC and ETH trade against USDT there too, so USDT wins; SOL only against USD
    assert by_coin(kraken) == {
        "bitcoin": "BTC/USDT",
        "ethereum": "ETH/USDT",
        "tether": "USDT/USD",
        "solana": "SOL/USD",
        "dogecoin": "DOGE/USD",
    }
    assert problems(kraken) == {"binance-coin": ProblemKind.MISSING, "polygon": ProblemKind.MISSING}
    missing = {p.coin_id: p.message for p in kraken.problems}
    assert "no spot market on kraken" in missing["binance-coin"]
    # CCXT's renames, taken from the loaded markets: Kraken calls them XBT and XDG
    renamed = {x.coin_id: x.renamed_from for x in kraken.matches}
    assert renamed["bitcoin"] == "XBT" and renamed["dogecoin"] == "XDG"
    assert renamed["solana"] is None
    assert {x.coin_id: x.market_id for x in kraken.matches}["dogecoin"] == "XDGUSD"


def test_quote_preference_is_configurable(xsb: ExchangeSandbox) -> None:
    kraken = mapping(xsb, "kraken", coins(*REAL[:2]), quote_preference=("USD", "USDT"))
    assert by_coin(kraken) == {"bitcoin": "BTC/USD", "ethereum": "ETH/USD"}
    assert {x.market_id for x in kraken.matches} == {"XXBTZUSD", "XETHZUSD"}
    binance = mapping(xsb, "binance", coins(*REAL[:2]), quote_preference="USDC,USDT")
    assert by_coin(binance) == {"bitcoin": "BTC/USDC", "ethereum": "ETH/USDT"}
    only_btc = mapping(xsb, "binance", coins(*REAL[:2]), quote_preference=("BTC",))
    assert by_coin(only_btc) == {"ethereum": "ETH/BTC"}
    (problem,) = only_btc.problems
    assert problem.coin_id == "bitcoin" and problem.kind == ProblemKind.MISSING
    assert "trades against USDC, USDT" in problem.message


def test_collisions_are_reported_never_guessed(xsb: ExchangeSandbox) -> None:
    # two CoinCap coins sharing a ticker (like BTG: bitcoin-gold and bitgem)
    shared = mapping(xsb, "binance", coins(("bitcoin", "BTC"), ("bitcoin-bep2", "BTC")))
    assert shared.matches == []
    assert problems(shared) == {
        "bitcoin": ProblemKind.COLLISION,
        "bitcoin-bep2": ProblemKind.COLLISION,
    }
    assert "bitcoin-bep2" in shared.problems[0].message
    # Kraken's own LUNA is shown by CCXT as LUNC while CCXT's LUNA is Kraken's LUNA2
    luna = mapping(xsb, "kraken", coins(("terra-luna", "LUNA"), ("terra-classic", "LUNC")))
    assert problems(luna) == {"terra-luna": ProblemKind.COLLISION}
    assert "LUNA2" in luna.problems[0].message and "LUNC" in luna.problems[0].message
    assert by_coin(luna) == {"terra-classic": "LUNC/USD"}
    assert luna.matches[0].renamed_from == "LUNA"


def test_pins_settle_collisions_and_bad_pins_are_reported(xsb: ExchangeSandbox) -> None:
    pinned = mapping(
        xsb,
        "kraken",
        coins(("terra-luna", "LUNA"), ("bitcoin", "BTC")),
        pins={"kraken": {"terra-luna": "LUNA/USD", "bitcoin": "BTC/EUR"}},
    )
    assert by_coin(pinned) == {"terra-luna": "LUNA/USD"}
    assert pinned.matches[0].pinned and pinned.matches[0].market_id == "LUNA2USD"
    assert problems(pinned) == {"bitcoin": ProblemKind.BAD_PIN}
    assert "BTC/EUR" in pinned.problems[0].message


def test_unknown_symbol_is_refused_before_any_candle_request(xsb: ExchangeSandbox) -> None:
    async def body(client: ExchangeClient) -> None:
        await client.fetch_daily_candles("BTC/USTD", date(2025, 1, 1), date(2025, 2, 1))

    with pytest.raises(UnknownSymbolError) as caught:
        with_client(xsb, "binance", body)
    message = str(caught.value)
    assert "'BTC/USTD'" in message and "BTC/USDT" in message and "\n" not in message
    assert caught.value.retryable is False
    assert xsb.stats()["binance"]["by_route"] == {"exchangeInfo": 1}
