"""The sandbox's synthetic market: deterministic coins, daily history, snapshots and markets.

Everything is a pure function of (seed, coin, day): two sandboxes with the same seed serve the
same bytes (bar the envelope's `timestamp`). The first coins carry real CoinCap slugs so that
configuration written for CoinCap works unchanged here, but every name ends in "(synthetic)",
explorer links point at example.invalid and prices are a random walk: nothing here is market
data.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np

EPOCH = date(1970, 1, 1)

# slug, symbol, name, listed, first price, price at ANCHOR, supply, max supply
REAL: list[tuple[str, str, str, date, float, float, float, float | None]] = [
    ("bitcoin", "BTC", "Bitcoin", date(2013, 4, 28), 135.0, 70_000.0, 19_800_000, 21_000_000),
    ("ethereum", "ETH", "Ethereum", date(2015, 8, 7), 2.8, 3_000.0, 120_000_000, None),
    ("tether", "USDT", "Tether", date(2015, 2, 25), 1.0, 1.0, 140_000_000_000, None),
    ("xrp", "XRP", "XRP", date(2015, 1, 21), 0.02, 2.2, 57_000_000_000, 100_000_000_000),
    ("binance-coin", "BNB", "BNB", date(2017, 7, 25), 0.1, 600.0, 145_000_000, 200_000_000),
    ("solana", "SOL", "Solana", date(2020, 4, 10), 0.95, 150.0, 470_000_000, None),
    ("usd-coin", "USDC", "USDC", date(2018, 10, 8), 1.0, 1.0, 60_000_000_000, None),
    ("dogecoin", "DOGE", "Dogecoin", date(2015, 1, 1), 0.0002, 0.17, 146_000_000_000, None),
    ("cardano", "ADA", "Cardano", date(2017, 10, 1), 0.02, 0.7, 35_000_000_000, 45_000_000_000),
    ("tron", "TRX", "TRON", date(2017, 9, 13), 0.002, 0.25, 87_000_000_000, None),
    ("avalanche", "AVAX", "Avalanche", date(2020, 9, 22), 4.0, 30.0, 400_000_000, 720_000_000),
    ("chainlink", "LINK", "Chainlink", date(2017, 9, 20), 0.17, 15.0, 600_000_000, 1_000_000_000),
    ("polkadot", "DOT", "Polkadot", date(2020, 8, 20), 2.9, 6.0, 1_400_000_000, None),
    ("bitcoin-cash", "BCH", "Bitcoin Cash", date(2017, 8, 1), 300.0, 400.0, 19_700_000, 21_000_000),
    ("litecoin", "LTC", "Litecoin", date(2015, 1, 1), 2.6, 90.0, 74_000_000, 84_000_000),
    ("polygon", "MATIC", "Polygon", date(2019, 4, 28), 0.004, 0.4, 9_300_000_000, 10_000_000_000),
    ("stellar", "XLM", "Stellar", date(2015, 1, 1), 0.004, 0.3, 29_000_000_000, 50_001_806_812),
    ("monero", "XMR", "Monero", date(2015, 1, 1), 0.5, 200.0, 18_400_000, None),
    ("uniswap", "UNI", "Uniswap", date(2020, 9, 17), 3.0, 8.0, 600_000_000, 1_000_000_000),
    ("cosmos", "ATOM", "Cosmos", date(2019, 3, 14), 7.0, 6.0, 390_000_000, None),
]
#: the day the price trend reaches each coin's "present" price; afterwards it is flat
ANCHOR = date(2025, 6, 1)
#: log-price noise around the trend: AR(1) with this persistence and stationary deviation
#: (daily moves of ~3.5 %, but no drift far from the trend, so market-cap ranks stay plausible)
PHI, NOISE_SD = 0.99, 0.25
STABLE = {"tether", "usd-coin"}
EXCHANGES = [
    "Binance",
    "Coinbase Pro",
    "Kraken",
    "Bitfinex",
    "Bitstamp",
    "Gemini",
    "OKX",
    "Bybit",
    "KuCoin",
    "Gate",
    "HTX",
    "Bitget",
    "MEXC",
    "Crypto.com Exchange",
    "Poloniex",
    "Bittrex",
    "Upbit",
    "Bithumb",
    "LBank",
    "WhiteBIT",
    "BingX",
    "Bitso",
    "Luno",
    "Zaif",
]
QUOTES = [
    ("tether", "USDT"),
    ("united-states-dollar", "USD"),
    ("usd-coin", "USDC"),
    ("bitcoin", "BTC"),
    ("ethereum", "ETH"),
    ("euro", "EUR"),
    ("binance-coin", "BNB"),
    ("korean-won", "KRW"),
    ("japanese-yen", "JPY"),
    ("british-pound-sterling", "GBP"),
]
TOKEN_CHAINS = ["1", "56", "137", "42161", "10", "43114"]


def _u(*parts: object) -> float:
    """A uniform number in [0, 1) from its parts: the sandbox's only source of randomness."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def dec18(value: float) -> str:
    """CoinCap v3's number format: the float's exact binary value to 18 decimals (artefacts)."""
    return format(Decimal(value), ".18f")


def day_ms(day: date) -> int:
    return (day - EPOCH).days * 86_400_000


def ms_day(ms: int) -> date:
    return EPOCH + timedelta(days=ms // 86_400_000)


@dataclass(frozen=True)
class Coin:
    id: str
    symbol: str
    name: str
    listed: date
    first_price: float
    #: the price the trend reaches on ANCHOR (real coins: roughly their real price)
    anchor_price: float
    supply: float
    max_supply: float | None
    #: fraction of days with no d1 point (CoinCap's history has real holes)
    hole_rate: float
    markets: int


class Universe:
    """The synthetic market of one sandbox: `coins` coins, the first ~20 with real slugs.

    For tests: `ids` (rank order today), `assets()`, `history_for(coin, first, last)`,
    `markets_for(coin)` return exactly what the server serves (minus the envelope).
    """

    def __init__(self, coins: int = 300, seed: int = 0) -> None:
        self.seed = seed
        self.coins: list[Coin] = []
        for i in range(coins):
            if i < len(REAL):
                slug, sym, name, listed, price, now, supply, max_supply = REAL[i]
            else:
                slug, sym, name = f"synth-coin-{i:04d}", f"SY{i:04d}", f"Synth Coin {i:04d}"
                listed = date(2015, 1, 1) + timedelta(days=int(_u(seed, slug, "listed") * 2900))
                # market caps from 100k to ~3bn USD: mostly below the real coins, like CoinCap's tail
                cap = 10 ** (5 + _u(seed, slug, "cap") * 4.5)
                now = 10 ** (_u(seed, slug, "price") * 6 - 3)
                price = now * 10 ** (_u(seed, slug, "first") * 2.5 - 2)
                supply = cap / now
                max_supply = supply * 2 if _u(seed, slug, "max") < 0.4 else None
            holes = 0.0 if i < 3 else (0.01 if _u(seed, slug, "holes") < 0.2 else 0.0)
            n_markets = (
                160
                if slug == "bitcoin"
                else 150
                if slug == "ethereum"
                else 3 + int(_u(seed, slug, "markets") ** 2 * 120)
            )
            self.coins.append(
                Coin(
                    slug,
                    sym,
                    f"{name} (synthetic)",
                    listed,
                    price,
                    now,
                    supply,
                    max_supply,
                    holes,
                    n_markets,
                )
            )
        self.by_id = {c.id: c for c in self.coins}
        self._lock = threading.Lock()
        self._assets_cache: dict[date, tuple[dict[str, Any], ...]] = {}

    @property
    def ids(self) -> list[str]:
        """Coin ids in today's rank order (by market cap), as `GET /assets` pages them."""
        today = datetime.now(timezone.utc).date()
        return [r["id"] for r in self._asset_records(today)]

    def assets(self) -> list[dict[str, Any]]:
        """Today's asset list, ranked (what `GET /assets?limit=2000` pages through)."""
        return self.asset_records()

    def history_for(self, coin_id: str, first: date, last: date) -> list[dict[str, Any]]:
        """The served d1 points for the days first..last, both included (holes left out)."""
        return self.history_points(coin_id, first, last + timedelta(days=1))

    def markets_for(self, coin_id: str) -> list[dict[str, Any]]:
        """Today's markets of a coin, by volume (what `GET /assets/{id}/markets` pages)."""
        return self.market_records(coin_id)

    # ------------------------------------------------------------------ history

    @staticmethod
    def last_closed_day(now: datetime | None = None) -> date:
        now = now or datetime.now(timezone.utc)
        return now.date() - timedelta(days=1)

    @lru_cache(maxsize=8192)  # noqa: B019 - one universe per server, bounded
    def _series(self, coin_id: str, last: date) -> tuple[np.ndarray, np.ndarray]:
        """Daily prices from the listing day to `last` (a seeded random walk) and which days
        are holes. Computed once per coin and closing day, vectorised (thousands of coins)."""
        coin = self.by_id[coin_id]
        days = max((last - coin.listed).days + 1, 0)
        rng = np.random.default_rng(self._stream(coin_id, "prices"))
        if coin_id in STABLE:
            prices = 1.0 + rng.normal(0.0, 0.001, days)
        else:
            # log price = a straight line from the first price to the anchor price, plus AR(1)
            # noise x_t = PHI x_(t-1) + e_t, vectorised as x_t = PHI^t * cumsum(e_k / PHI^k).
            # Each draw depends only on earlier ones, so a day's price never changes as `last`
            # moves on.
            t = np.arange(days, dtype=float)
            span = max((ANCHOR - coin.listed).days, 1)
            trend = np.log(coin.first_price) + np.log(
                coin.anchor_price / coin.first_price
            ) * np.minimum(t / span, 1.0)
            eps = rng.normal(0.0, NOISE_SD * np.sqrt(1 - PHI**2), days)
            weight = PHI ** (-t)
            noise = np.cumsum(eps * weight) / weight
            prices = np.maximum(np.exp(trend + noise), 1e-8)
        # holes from their own stream, for the same reason
        holes = np.random.default_rng(self._stream(coin_id, "holes")).random(days) < coin.hole_rate
        return prices, holes

    def _stream(self, coin_id: str, what: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(f"{self.seed}:{coin_id}:{what}".encode(), digest_size=8).digest(),
            "big",
        )

    def price_on(self, coin_id: str, day: date) -> float | None:
        last = self.last_closed_day()
        coin = self.by_id[coin_id]
        if day < coin.listed or day > last:
            return None
        prices, _ = self._series(coin_id, last)
        return float(prices[(day - coin.listed).days])

    def supply_on(self, coin: Coin, day: date) -> float:
        age = max((day - coin.listed).days, 0)
        grown = coin.supply * (0.6 + 0.4 * min(age / 3000, 1.0))
        return min(grown, coin.max_supply) if coin.max_supply else grown

    def history_points(self, coin_id: str, first: date, end: date) -> list[dict[str, Any]]:
        """d1 points for the days in [first, end) that exist (listing..yesterday, minus holes)."""
        coin = self.by_id[coin_id]
        last = self.last_closed_day()
        prices, holes = self._series(coin_id, last)
        out: list[dict[str, Any]] = []
        day = max(first, coin.listed)
        stop = min(end, last + timedelta(days=1))
        while day < stop:
            i = (day - coin.listed).days
            if not holes[i]:
                out.append(
                    {
                        "priceUsd": dec18(float(prices[i])),
                        "time": day_ms(day),
                        "circulatingSupply": dec18(round(self.supply_on(coin, day))),
                        "date": f"{day.isoformat()}T00:00:00.000Z",
                    }
                )
            day += timedelta(days=1)
        return out

    # ------------------------------------------------------------------ snapshots (live only)

    def _live(self, coin: Coin, today: date) -> dict[str, Any]:
        last = self.last_closed_day()
        base = self.price_on(coin.id, last) or coin.first_price
        if coin.listed > last:
            base = coin.first_price
        wiggle = 1 + (_u(self.seed, coin.id, today, "intraday") - 0.5) * 0.04
        price = base * wiggle
        prev = self.price_on(coin.id, last - timedelta(days=1)) or base
        supply = self.supply_on(coin, today)
        return {
            "price": price,
            "change": (price / prev - 1) * 100,
            "supply": supply,
            "cap": price * supply,
            "volume": price * supply * (0.01 + 0.09 * _u(self.seed, coin.id, today, "vol")),
        }

    def asset_records(self, today: date | None = None) -> list[dict[str, Any]]:
        """The asset list as of now, ranked by market cap (fresh copies of a per-day cache)."""
        today = today or datetime.now(timezone.utc).date()
        return [dict(r) for r in self._asset_records(today)]

    def _asset_records(self, today: date) -> tuple[dict[str, Any], ...]:
        with self._lock:  # concurrent first requests wait for one computation
            if today not in self._assets_cache:
                self._assets_cache = {today: self._compute_asset_records(today)}
            return self._assets_cache[today]

    def _compute_asset_records(self, today: date) -> tuple[dict[str, Any], ...]:
        rows = []
        for coin in self.coins:
            live = self._live(coin, today)
            tokens: dict[str, list[str]] = {}
            if _u(self.seed, coin.id, "token") < 0.35 or coin.id in STABLE:
                chains = TOKEN_CHAINS[: 1 + int(_u(self.seed, coin.id, "chains") * 4)]
                tokens = {
                    ch: ["0x" + hashlib.sha1(f"{coin.id}{ch}".encode()).hexdigest()]
                    for ch in chains
                }
            explorer = (
                None
                if _u(self.seed, coin.id, "explorer") < 0.1
                else f"https://example.invalid/explorer/{coin.id}"
            )
            vwap = None if _u(self.seed, coin.id, "vwap") < 0.1 else repr(live["price"] * 0.995)
            rows.append(
                (
                    live["cap"],
                    {
                        "id": coin.id,
                        "rank": "0",
                        "symbol": coin.symbol,
                        "name": coin.name,
                        "supply": dec18(live["supply"]),
                        "maxSupply": dec18(coin.max_supply) if coin.max_supply else None,
                        "marketCapUsd": dec18(live["cap"]),
                        "volumeUsd24Hr": dec18(live["volume"]),
                        "priceUsd": dec18(live["price"]),
                        "changePercent24Hr": repr(live["change"]),
                        "vwap24Hr": vwap,
                        "explorer": explorer,
                        "tokens": tokens,
                    },
                )
            )
        # rank by market cap, as CoinCap does (ties: the universe's order)
        ranked = [r for _, r in sorted(rows, key=lambda x: -x[0])]
        for n, rec in enumerate(ranked, start=1):
            rec["rank"] = str(n)
        return tuple(ranked)

    def market_records(self, coin_id: str, today: date | None = None) -> list[dict[str, Any]]:
        """The coin's markets as of now, by volume (descending)."""
        today = today or datetime.now(timezone.utc).date()
        coin = self.by_id[coin_id]
        live = self._live(coin, today)
        pairs = [(e, q) for e in EXCHANGES for q in QUOTES if q[0] != coin.id]
        picked = sorted(pairs, key=lambda p: _u(self.seed, coin.id, p[0], p[1][0]))[: coin.markets]
        weights = [_u(self.seed, coin.id, e, q[0], "w") ** 3 + 1e-4 for e, q in picked]
        total = sum(weights)
        rows = []
        for (exchange, (quote_id, quote_symbol)), w in zip(picked, weights, strict=True):
            share = w / total
            price = live["price"] * (
                1 + (_u(self.seed, coin.id, exchange, quote_id, "p") - 0.5) * 0.01
            )
            rows.append(
                {
                    "exchangeId": exchange,
                    "baseId": coin.id,
                    "quoteId": quote_id,
                    "baseSymbol": coin.symbol,
                    "quoteSymbol": quote_symbol,
                    "volumeUsd24Hr": repr(live["volume"] * share),
                    "priceUsd": repr(price),
                    "volumePercent": repr(share * 100),
                }
            )
        rows.sort(key=lambda r: -float(r["volumeUsd24Hr"]))
        return rows

    def rate_records(self) -> list[dict[str, Any]]:
        today = datetime.now(timezone.utc).date()
        out: list[dict[str, Any]] = [
            {
                "id": "united-states-dollar",
                "symbol": "USD",
                "currencySymbol": "$",
                "type": "fiat",
                "rateUsd": dec18(1.0),
            },
            {
                "id": "euro",
                "symbol": "EUR",
                "currencySymbol": "€",
                "type": "fiat",
                "rateUsd": dec18(1.08),
            },
        ]
        for coin in self.coins[:20]:
            out.append(
                {
                    "id": coin.id,
                    "symbol": coin.symbol,
                    "currencySymbol": None,
                    "type": "crypto",
                    "rateUsd": dec18(self._live(coin, today)["price"]),
                }
            )
        return out

    def exchange_records(self) -> list[dict[str, Any]]:
        weights = [_u(self.seed, e, "xvol") + 0.05 for e in EXCHANGES]
        total = sum(weights)
        rows = []
        for n, (e, w) in enumerate(
            sorted(zip(EXCHANGES, weights, strict=True), key=lambda x: -x[1]), start=1
        ):
            rows.append(
                {
                    "exchangeId": e.lower().replace(" ", "-").replace(".", ""),
                    "name": e,
                    "rank": str(n),
                    "percentTotalVolume": repr(w / total * 100),
                    "volumeUsd": dec18(w * 1e9),
                    "tradingPairs": str(20 + int(w * 500)),
                    "socket": False,
                    "exchangeUrl": "https://example.invalid/exchange",
                    "updated": 1700000000000,
                }
            )
        return rows
