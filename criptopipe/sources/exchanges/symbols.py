"""Map tracked CoinCap coins (id + CoinCap `symbol`) to an exchange's unified spot symbols.

The rule is explicit and fails closed: a coin maps to `SYMBOL/QUOTE` for the first quote in the
preference order that has a spot market for its symbol, active markets first (a delisted Binance
pair keeps its history, so it is still used when nothing active exists). CCXT's renames come from
the loaded markets themselves: each market's `info` carries the exchange's own code for the base
(Binance `baseAsset`, Kraken `base` plus the asset's `altname`), and a code CCXT shows under
another name is a rename (Kraken XDG -> DOGE, LUNA -> LUNC, LUNA2 -> LUNA). Nothing is guessed:
- two tracked coins with one CoinCap symbol: a collision, neither is mapped;
- a CoinCap symbol that is both a unified code and an exchange code CCXT renamed to something
  else (Kraken "LUNA"): a collision, not mapped;
- a CoinCap symbol known to the exchange only under a CCXT rename: a collision, not mapped;
- no spot market with a preferred quote: missing, with the quotes it does trade against.
A reviewed pin (`ExchangeSettings.pins`) settles any of these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from criptopipe.sources.exchanges.models import (
    ProblemKind,
    SymbolMap,
    SymbolMatch,
    SymbolProblem,
    TrackedCoin,
)


def exchange_codes(
    market: Mapping[str, Any], currencies: Mapping[str, Any], raw_base_key: str
) -> set[str]:
    """The exchange's own codes for a market's base asset (upper case)."""
    codes = set()
    info = market.get("info") or {}
    raw = info.get(raw_base_key)
    if isinstance(raw, str) and raw:
        codes.add(raw.upper())
    currency = currencies.get(market.get("base") or "") or {}
    altname = (currency.get("info") or {}).get("altname")
    if isinstance(altname, str) and altname:
        codes.add(altname.upper())
    return codes


def _match(
    coin: TrackedCoin,
    exchange_id: str,
    market: Mapping[str, Any],
    codes: set[str],
    pinned: bool = False,
) -> SymbolMatch:
    base = str(market["base"])
    renamed = sorted(c for c in codes if c != base.upper() and not c.endswith(base.upper()))
    return SymbolMatch(
        coin_id=coin.id,
        coin_symbol=coin.symbol,
        exchange=exchange_id,
        symbol=str(market["symbol"]),
        market_id=str(market["id"]),
        base=base,
        quote=str(market["quote"]),
        renamed_from=renamed[0] if renamed else None,
        active=market.get("active") is not False,
        pinned=pinned,
    )


def map_symbols(
    exchange_id: str,
    markets: Mapping[str, Mapping[str, Any]],
    coins: Iterable[TrackedCoin],
    quote_preference: tuple[str, ...],
    *,
    currencies: Mapping[str, Any] | None = None,
    raw_base_key: str = "base",
    pins: Mapping[str, str] | None = None,
) -> SymbolMap:
    """Map `coins` onto `markets` (CCXT's loaded markets of `exchange_id`)."""
    currencies = currencies or {}
    pins = pins or {}
    coins = list(coins)
    spot = [m for m in markets.values() if m.get("spot")]
    codes = {str(m["symbol"]): exchange_codes(m, currencies, raw_base_key) for m in spot}
    by_base: dict[str, list[Mapping[str, Any]]] = {}
    renamed_away: dict[str, list[Mapping[str, Any]]] = {}
    for m in spot:
        base = str(m["base"]).upper()
        by_base.setdefault(base, []).append(m)
        for code in codes[str(m["symbol"])]:
            if code != base:
                renamed_away.setdefault(code, []).append(m)
    shared = Counter(c.symbol.upper() for c in coins)
    out = SymbolMap(exchange=exchange_id, quote_preference=quote_preference)

    def problem(coin: TrackedCoin, kind: ProblemKind, message: str) -> None:
        out.problems.append(
            SymbolProblem(
                coin_id=coin.id,
                coin_symbol=coin.symbol,
                exchange=exchange_id,
                kind=kind,
                message=f"{exchange_id}: {coin.id} ({coin.symbol}) {message}",
            )
        )

    for coin in coins:
        symbol = coin.symbol.upper()
        if coin.id in pins:
            market = markets.get(pins[coin.id])
            if market is None or not market.get("spot"):
                problem(
                    coin,
                    ProblemKind.BAD_PIN,
                    f"is pinned to {pins[coin.id]!r}, which is not a spot market of "
                    f"{exchange_id} (fix ExchangeSettings.pins)",
                )
            else:
                out.matches.append(
                    _match(coin, exchange_id, market, codes[str(market["symbol"])], pinned=True)
                )
            continue
        if shared[symbol] > 1:
            others = sorted(c.id for c in coins if c.symbol.upper() == symbol and c.id != coin.id)
            problem(
                coin,
                ProblemKind.COLLISION,
                f"shares its CoinCap symbol with {', '.join(others)}: not mapped; pin the right "
                "one in ExchangeSettings.pins",
            )
            continue
        direct = by_base.get(symbol, [])
        renamed = [m for m in renamed_away.get(symbol, []) if str(m["base"]).upper() != symbol]
        if renamed:
            shown = sorted({f"{symbol} -> {m['base']}" for m in renamed})
            if direct:
                via = sorted({c for m in direct for c in codes[str(m["symbol"])]} - {symbol})
                message = (
                    f"is ambiguous: {exchange_id}'s own code {symbol} is shown by CCXT as "
                    f"{shown[0].split(' -> ')[1]}, while CCXT's {symbol} is {exchange_id}'s "
                    f"{', '.join(via) or 'other code'}; not mapped, pin the right market"
                )
            else:
                message = (
                    f"exists on {exchange_id} only under a CCXT rename ({'; '.join(shown)}); not "
                    "mapped automatically, pin it if it is the same coin"
                )
            problem(coin, ProblemKind.COLLISION, message)
            continue
        if not direct:
            problem(coin, ProblemKind.MISSING, f"has no spot market on {exchange_id}")
            continue
        chosen = None
        for want_active in (True, False):
            for quote in quote_preference:
                found = [
                    m
                    for m in direct
                    if str(m["quote"]).upper() == quote
                    and (m.get("active") is not False) == want_active
                ]
                if found:
                    chosen = sorted(found, key=lambda m: str(m["symbol"]))[0]
                    break
            if chosen is not None:
                break
        if chosen is None:
            quotes = sorted({str(m["quote"]) for m in direct})
            problem(
                coin,
                ProblemKind.MISSING,
                f"has no {' or '.join(f'{symbol}/{q}' for q in quote_preference)} spot market "
                f"on {exchange_id}; it trades against {', '.join(quotes)} (extend the quote "
                "preference to use one)",
            )
            continue
        out.matches.append(_match(coin, exchange_id, chosen, codes[str(chosen["symbol"])]))
    return out
