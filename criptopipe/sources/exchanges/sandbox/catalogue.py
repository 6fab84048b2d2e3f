"""Which pairs each imitated exchange lists, since when, and until when.

The coins are the CoinCap sandbox's (`criptopipe.sources.coincap.sandbox.universe`): same ids, same symbols, same
seeded prices, so a cross-source check sees two sources that agree within a realistic spread.
The listing dates of the real coins follow the venues' history where it is well known (Binance
opened in July 2017; Kraken listed bitcoin in 2013); everything here is still synthetic.

Paths the catalogue exists to exercise:
- missing on one exchange: tether on Binance (no USDT/USDT), BNB and MATIC on Kraken;
- listed after a window starts: SOL/USDT on Binance (2020-08-11), and on Kraken AVAX/USD, which is
  always listed 200 days before today so that it is young inside Kraken's 720-candle horizon
  whatever the date;
- delisted: MATIC/USDT (2024-09-10) and XMR/USDT (2024-02-20) on Binance stay in `exchangeInfo`
  with status BREAK and keep their history, like the real venue;
- a gap: USDC/USDT on Binance has no candles in March 2019;
- quote preference: BTC and ETH trade against USDT and USD on Kraken, BTC against USDT and USDC
  on Binance;
- CCXT renames: Kraken's XXBT/XBT (BTC), XXDG/XDG (DOGE), and LUNA/LUNA2, which CCXT shows as
  LUNC and LUNA (a symbol collision for anyone tracking "LUNA").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from criptopipe.sources.coincap.sandbox.universe import Universe

BINANCE, KRAKEN = "binance", "kraken"
EXCHANGES = (BINANCE, KRAKEN)
#: Kraken keeps one pair always young: listed this many days before today
KRAKEN_YOUNG_DAYS = 200


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) from its parts: the exchange sandbox's only randomness."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Pair:
    """One spot market of one exchange, priced from the universe's coins."""

    exchange: str
    #: the exchange's own market id: Binance `BTCUSDT`, Kraken's AssetPairs key `XXBTZUSD`
    id: str
    #: the exchange's asset codes (Kraken: Assets keys such as `XXBT`, `ZUSD`)
    base: str
    quote: str
    #: universe coin id the price follows, and the coin the quote is worth (None: USD)
    coin: str
    quote_coin: str | None
    listed: date
    #: first day without trading (Binance keeps the pair with status BREAK); None: trading
    delisted: date | None = None
    #: (first, last) day ranges with no candle at all
    gaps: tuple[tuple[date, date], ...] = ()
    #: Kraken only
    altname: str = ""
    wsname: str = ""
    #: price multiplier over the followed coin (exchange-only assets priced from a proxy)
    scale: float = 1.0

    def trades_on(self, day: date) -> bool:
        if day < self.listed or (self.delisted is not None and day >= self.delisted):
            return False
        return not any(a <= day <= b for a, b in self.gaps)


@dataclass(frozen=True)
class Asset:
    """A Kraken asset (`/0/public/Assets`): its key, altname and decimals."""

    key: str
    altname: str
    decimals: int = 8
    display_decimals: int = 5


@dataclass
class Catalogue:
    pairs: dict[str, list[Pair]] = field(default_factory=dict)
    kraken_assets: dict[str, Asset] = field(default_factory=dict)

    def pair(self, exchange: str, market_id: str) -> Pair | None:
        """The pair by market id (Kraken also by altname, as the real API accepts both)."""
        for p in self.pairs.get(exchange, []):
            if market_id in (p.id, p.altname):
                return p
        return None


D = date

# coin id -> Binance listing day, quote USDT (tether has no USDT/USDT pair)
BINANCE_USDT: dict[str, date] = {
    "bitcoin": D(2017, 8, 17),
    "ethereum": D(2017, 8, 17),
    "binance-coin": D(2017, 11, 6),
    "xrp": D(2018, 5, 4),
    "solana": D(2020, 8, 11),
    "usd-coin": D(2018, 12, 15),
    "dogecoin": D(2019, 7, 5),
    "cardano": D(2018, 4, 17),
    "tron": D(2018, 6, 11),
    "avalanche": D(2020, 9, 22),
    "chainlink": D(2019, 1, 16),
    "polkadot": D(2020, 8, 18),
    "bitcoin-cash": D(2019, 11, 28),
    "litecoin": D(2017, 12, 13),
    "polygon": D(2019, 4, 26),
    "stellar": D(2018, 5, 31),
    "monero": D(2019, 3, 15),
    "uniswap": D(2020, 9, 17),
    "cosmos": D(2019, 4, 29),
}
BINANCE_DELISTED = {"polygon": D(2024, 9, 10), "monero": D(2024, 2, 20)}
BINANCE_GAPS = {"usd-coin": ((D(2019, 3, 1), D(2019, 3, 31)),)}

# coin id -> (Kraken base asset key, altname of the base, listing day); quote USD.
# BNB and MATIC are not listed (MATIC's pairs were removed from AssetPairs).
KRAKEN_USD: dict[str, tuple[str, str, date]] = {
    "bitcoin": ("XXBT", "XBT", D(2013, 10, 6)),
    "ethereum": ("XETH", "ETH", D(2015, 8, 7)),
    "tether": ("USDT", "USDT", D(2017, 5, 2)),
    "xrp": ("XXRP", "XRP", D(2017, 5, 18)),
    "solana": ("SOL", "SOL", D(2021, 6, 16)),
    "usd-coin": ("USDC", "USDC", D(2019, 2, 20)),
    "dogecoin": ("XXDG", "XDG", D(2019, 3, 19)),
    "cardano": ("ADA", "ADA", D(2018, 9, 27)),
    "tron": ("TRX", "TRX", D(2020, 1, 20)),
    "chainlink": ("LINK", "LINK", D(2019, 6, 27)),
    "polkadot": ("DOT", "DOT", D(2020, 8, 18)),
    "bitcoin-cash": ("BCH", "BCH", D(2017, 12, 19)),
    "litecoin": ("XLTC", "LTC", D(2014, 1, 1)),
    "stellar": ("XXLM", "XLM", D(2016, 6, 1)),
    "monero": ("XXMR", "XMR", D(2016, 11, 29)),
    "uniswap": ("UNI", "UNI", D(2020, 9, 22)),
    "cosmos": ("ATOM", "ATOM", D(2019, 4, 25)),
}
#: legacy X/Z pairs: base key + quote key; newer pairs: altname + USD
KRAKEN_LEGACY = {"XXBT", "XETH", "XXRP", "XLTC", "XXLM", "XXMR"}


def build(universe: Universe, today: date) -> Catalogue:
    """The exchanges' listings as of `today` (only the young Kraken pair depends on it)."""
    cat = Catalogue(pairs={BINANCE: [], KRAKEN: []})
    coins = universe.by_id
    seed = universe.seed

    # ---------------------------------------------------------------- Binance
    binance = cat.pairs[BINANCE]
    for coin_id, listed in BINANCE_USDT.items():
        if coin_id not in coins:
            continue
        sym = coins[coin_id].symbol
        binance.append(
            Pair(
                BINANCE,
                f"{sym}USDT",
                sym,
                "USDT",
                coin_id,
                "tether",
                max(listed, coins[coin_id].listed),
                delisted=BINANCE_DELISTED.get(coin_id),
                gaps=BINANCE_GAPS.get(coin_id, ()),
            )
        )
    extra = [
        ("BTCUSDC", "BTC", "USDC", "bitcoin", "usd-coin", D(2018, 12, 15)),
        ("ETHBTC", "ETH", "BTC", "ethereum", "bitcoin", D(2017, 7, 14)),
        ("BNBBTC", "BNB", "BTC", "binance-coin", "bitcoin", D(2017, 7, 25)),
    ]
    for mid, base, quote, coin_id, quote_coin, listed in extra:
        if coin_id in coins and quote_coin in coins:
            listed = max(listed, coins[coin_id].listed, coins[quote_coin].listed)
            binance.append(Pair(BINANCE, mid, base, quote, coin_id, quote_coin, listed))

    # ---------------------------------------------------------------- Kraken
    kraken = cat.pairs[KRAKEN]
    assets = cat.kraken_assets
    assets["ZUSD"] = Asset("ZUSD", "USD", 4, 2)
    for coin_id, (key, alt, listed) in KRAKEN_USD.items():
        if coin_id not in coins:
            continue
        assets[key] = Asset(key, alt, 10 if key == "XXBT" else 8)
        legacy = key in KRAKEN_LEGACY
        pid = f"{key}ZUSD" if legacy or key == "USDT" else f"{alt}USD"
        kraken.append(
            Pair(
                KRAKEN,
                pid,
                key,
                "ZUSD",
                coin_id,
                None,
                max(listed, coins[coin_id].listed),
                altname=f"{alt}USD",
                wsname=f"{alt}/USD",
            )
        )
    if "avalanche" in coins:
        assets["AVAX"] = Asset("AVAX", "AVAX")
        kraken.append(
            Pair(
                KRAKEN,
                "AVAXUSD",
                "AVAX",
                "ZUSD",
                "avalanche",
                None,
                today - timedelta(days=KRAKEN_YOUNG_DAYS),
                altname="AVAXUSD",
                wsname="AVAX/USD",
            )
        )
    if "tether" in coins:
        for coin_id, key, alt, listed in (
            ("bitcoin", "XXBT", "XBT", D(2019, 6, 4)),
            ("ethereum", "XETH", "ETH", D(2019, 6, 4)),
        ):
            if coin_id in coins:
                kraken.append(
                    Pair(
                        KRAKEN,
                        f"{alt}USDT",
                        key,
                        "USDT",
                        coin_id,
                        "tether",
                        listed,
                        altname=f"{alt}USDT",
                        wsname=f"{alt}/USDT",
                    )
                )
    if "ethereum" in coins and "bitcoin" in coins:
        kraken.append(
            Pair(
                KRAKEN,
                "XETHXXBT",
                "XETH",
                "XXBT",
                "ethereum",
                "bitcoin",
                D(2015, 8, 7),
                altname="ETHXBT",
                wsname="ETH/XBT",
            )
        )
    # exchange-only assets (not CoinCap-sandbox coins), priced from cosmos at a fixed ratio:
    # Kraken's classic LUNA (CCXT: LUNC) and LUNA2 (CCXT: LUNA)
    if "cosmos" in coins:
        for key, listed, scale in (("LUNA", D(2021, 1, 7), 2e-5), ("LUNA2", D(2022, 5, 31), 0.05)):
            assets[key] = Asset(key, key)
            kraken.append(
                Pair(
                    KRAKEN,
                    f"{key}USD",
                    key,
                    "ZUSD",
                    "cosmos",
                    None,
                    listed,
                    altname=f"{key}USD",
                    wsname=f"{key}/USD",
                    scale=scale,
                )
            )

    # ---------------------------------------------------------------- synthetic coins
    # about a third of the synthetic coins trade on Binance and a fifth on Kraken, each listed
    # some time after its CoinCap listing
    for coin in universe.coins[20:]:
        if unit(seed, coin.id, "binance") < 0.35:
            listed = coin.listed + timedelta(days=int(unit(seed, coin.id, "binance-day") * 500))
            binance.append(
                Pair(BINANCE, f"{coin.symbol}USDT", coin.symbol, "USDT", coin.id, "tether", listed)
            )
        if unit(seed, coin.id, "kraken") < 0.2:
            listed = coin.listed + timedelta(days=int(unit(seed, coin.id, "kraken-day") * 700))
            assets[coin.symbol] = Asset(coin.symbol, coin.symbol)
            kraken.append(
                Pair(
                    KRAKEN,
                    f"{coin.symbol}USD",
                    coin.symbol,
                    "ZUSD",
                    coin.id,
                    None,
                    listed,
                    altname=f"{coin.symbol}USD",
                    wsname=f"{coin.symbol}/USD",
                )
            )
    # every quote asset Kraken's pairs use must be in Assets too
    assets.setdefault("USDT", Asset("USDT", "USDT", 8, 4))
    return cat
