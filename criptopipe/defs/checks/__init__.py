"""Asset checks: `definitions.py` declares them, `results.py` decides what slice each reads and
how its verdict is reported (per day of a range run, so the UI never shows a check that ran as
Skipped)."""

from criptopipe.defs.checks.definitions import JUMP_THRESHOLD, build_checks
from criptopipe.defs.checks.results import check_window, run_coins
from criptopipe.defs.partitions import snapshot_partitions

#: the checks over the default snapshot start (tests; the definitions build their own)
quality_checks = build_checks(snapshot_partitions())
coincap_checks = quality_checks

__all__ = [
    "JUMP_THRESHOLD",
    "build_checks",
    "check_window",
    "coincap_checks",
    "quality_checks",
    "run_coins",
]
