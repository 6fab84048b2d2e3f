"""The `criptopipe` command as a person meets it: every bad input ends in one line saying what
is wrong and what is valid (exit 2, no traceback), every `--help` describes every option and its
default, and what `plan` prints reads right (plurals, thousands, the budget it was given)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from criptopipe import cli, days

YESTERDAY = days.latest_closed()
TODAY = YESTERDAY + timedelta(days=1)

#: argv -> fragments the one line must hold (what is wrong, what is valid)
BAD_INPUTS = {
    ("plan", "--partition", "2025-13-01"): ["'2025-13-01' is not a date", "YYYY-MM-DD"],
    ("plan", "--partition", "2025-02-30"): ["'2025-02-30' is not a date", "YYYY-MM-DD"],
    ("plan", "--partition", "2025-1-1"): ["'2025-1-1' is not a date", "YYYY-MM-DD"],
    ("plan", "--partition", "2025-01-01", "--budget", "abc"): [
        "'abc' is not a budget",
        "2500",
        "off",
    ],
    ("plan", "--partition", "2030-01-01"): [
        "2030-01-01 has not closed yet",
        f"partitions run from {days.START} to {YESTERDAY}",
    ],
    ("plan", "--partition", str(TODAY)): [f"{TODAY} has not closed yet"],
    ("plan", "--partition", "2012-12-31"): ["before the first partition", str(days.START)],
    ("plan", "--partition-range", "2025-02-01...2025-01-01"): [
        "2025-02-01 is after 2025-01-01",
        "earlier day first",
    ],
    ("plan", "--partition-range", "2025-01-01..2025-01-31"): ["not a range", "FIRST...LAST"],
    ("plan", "--partition-range", "2025-01-01...2030-01-01"): ["2030-01-01 has not closed"],
    ("plan",): ["give --partition YYYY-MM-DD or --partition-range"],
    ("plan", "--partition", "2025-01-01", "--partition-range", "2025-01-01...2025-01-02"): [
        "not both"
    ],
    ("plan", "--partition", "2025-01-01", "--select", "prices"): [
        "unknown asset 'prices'",
        "raw_assets, asset_history, market_snapshots",
    ],
    ("plan", "--partition", "2025-01-01", "--coins", "Bitcoin"): [
        "'Bitcoin' is not a CoinCap id",
        "bitcoin,ethereum",
    ],
    ("plan", "--partition", "2025-01-01", "--top-n", "0"): ["--top-n", "x>=1"],
    ("plan", "--partition", "2025-01-01", "--markets-per-coin", "many"): [
        "'many' is not a number of markets",
        "or all",
    ],
    ("fill-gaps", "--partition", "2025-01-01", "--select", "raw_assets"): [
        "raw_assets cannot be gap-filled",
        "choose from asset_history",
    ],
    ("fill-gaps", "--partition", "2025-01-01", "--select", "market_snapshots"): [
        "market_snapshots cannot be gap-filled"
    ],
    ("replay", "--partition", "2025-13-01"): ["'2025-13-01' is not a date"],
    ("run", "--days", "0"): ["--days", "1<=x<=3650"],
    ("run", "--days", "thirty"): ["'thirty' is not a valid integer"],
    ("dev", "--port", "70000"): ["--port", "1<=x<=65535"],
    ("plan", "--bogus"): ["No such option '--bogus'"],
    ("nosuch",): ["No such command 'nosuch'"],
}


@pytest.mark.parametrize("argv", list(BAD_INPUTS), ids=" ".join)
def test_bad_input_is_one_line_saying_what_is_wrong_and_what_is_valid(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in BAD_INPUTS[argv]:
        assert fragment in lines[0], (fragment, lines[0])


def test_a_bad_value_from_a_shell_prints_no_traceback() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "criptopipe.cli", "plan", "--budget", "abc", "--partition", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: Invalid value for '--budget': 'abc' is not a budget")


COMMANDS = ["run", "dev", "dashboard", "plan", "fill-gaps", "replay", "env", "stop"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_describes_each_option_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([command, "--help"]) == 0
    text = capsys.readouterr().out
    intro, _, options = text.partition("\nOptions:\n")
    assert len(intro.split("\n\n", 1)[1].strip()) > 20, "the command needs a description"
    entries = re.split(r"\n(?=  -)", options.strip("\n"))
    for entry in entries:
        flag = entry.split()[0]
        described = re.sub(r"^\s*\S+(, \S+)?( [A-Z|.\[\],-]+| INTEGER RANGE| TEXT)?", "", entry)
        assert described.strip(), f"{command} {flag} has no description"
        if flag not in ("-h,", "--partition", "--partition-range"):
            assert "[default:" in entry, f"{command} {flag} does not say its default"


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^  {command}\s+\S", text, re.M), command


def test_plan_reads_right_for_one_day_one_coin_and_its_budget(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in ("DATABASE_URL", "COINCAP_CREDIT_BUDGET", "CRIPTOPIPE_COINS"):
        monkeypatch.delenv(key, raising=False)
    argv = ["plan", "--partition", "2025-01-01", "--coins", "bitcoin"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "2025-01-01...2025-01-01 (1 day), bitcoin" in out
    assert "1 coin x 1 request of <= 365 days" in out
    assert "(s)" not in out and "1 days" not in out and "1 requests" not in out
    assert "of the month's 2,500 remain" in out

    assert cli.main([*argv, "--budget", "1"]) == 2
    assert "REFUSED" in capsys.readouterr().out
    monkeypatch.setenv("COINCAP_CREDIT_BUDGET", "1")
    assert cli.main([*argv, "--budget", "off"]) == 0  # the option wins over the variable
    assert "budget: off" in capsys.readouterr().out


def test_a_bad_variable_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRIPTOPIPE_TOP_N", "ten")
    assert cli.main(["plan", "--partition", "2025-01-01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: CRIPTOPIPE_TOP_N='ten'")


def test_the_partition_bounds_are_dagsters() -> None:
    from criptopipe.defs.partitions import daily_partitions

    keys = daily_partitions.get_partition_keys(datetime.now(timezone.utc))
    assert (keys[0], keys[-1]) == (str(days.START), str(YESTERDAY))
