"""Asset checks: data-quality rules (blocking where structural) and freshness."""

from criptopipe.checks.checks import freshness_checks, quality_checks

coincap_checks = [*quality_checks, *freshness_checks]

__all__ = ["coincap_checks", "freshness_checks", "quality_checks"]
