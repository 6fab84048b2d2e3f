"""Asset checks: data-quality rules (blocking where structural) and freshness.

`rules` is pure (pandas in, verdict out); the Dagster checks are loaded only when asked for, so
importing the rules (unit tests, the dashboard, notebooks) does not import Dagster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg

    from criptopipe.checks.checks import freshness_checks, quality_checks

    coincap_checks: list[dg.AssetChecksDefinition]

__all__ = ["coincap_checks", "freshness_checks", "quality_checks"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from criptopipe.checks import checks

    if name == "coincap_checks":
        return [*checks.quality_checks, *checks.freshness_checks]
    return getattr(checks, name)
