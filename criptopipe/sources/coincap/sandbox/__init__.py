"""A CoinCap v3-compatible local server with synthetic data, a credit counter and faults.

The stand-in for CoinCap in tests, benchmarks and `make run` without a key. Its data is
synthetic: names end in "(synthetic)" and prices are a seeded random walk.
"""

from criptopipe.sources.coincap.sandbox.server import SandboxServer
from criptopipe.sources.coincap.sandbox.universe import Universe

__all__ = ["SandboxServer", "Universe"]
