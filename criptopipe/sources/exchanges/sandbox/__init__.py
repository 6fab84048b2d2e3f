"""A local imitation of Binance's and Kraken's public REST APIs, with synthetic candles.

The stand-in for the exchanges in tests, benchmarks and `make run` without network. Its prices
follow the CoinCap sandbox's universe (same coins, symbols and seed); nothing is market data.
"""

from criptopipe.sources.exchanges.sandbox.server import ExchangeSandbox

__all__ = ["ExchangeSandbox"]
