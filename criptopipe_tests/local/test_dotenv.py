"""The `.env` block `make run` writes: read back by Dagster's own loader, the shell's values
still win, other lines (docker-compose's) survive, `make stop` takes only the block away."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster._core.secrets.env_file import get_env_var_dict  # what every dagster CLI loads

from criptopipe.local import dotenv

USER_LINES = "# compose settings\nPOSTGRES_PASSWORD=change-me\nCOINCAP_API_KEY=\n"


def test_dagster_reads_the_block_and_the_shell_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    url = "postgresql://postgres:criptopipe@127.0.0.1:55432/criptopipe"
    dotenv.write(tmp_path, {"DATABASE_URL": url, "DAGSTER_HOME": str(tmp_path)})
    assert get_env_var_dict(str(tmp_path)) == {"DATABASE_URL": url, "DAGSTER_HOME": str(tmp_path)}
    # a value exported in the shell (or set for one command) is handed back, not overridden
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@elsewhere:5432/db")
    assert get_env_var_dict(str(tmp_path))["DATABASE_URL"] == "postgresql://u:p@elsewhere:5432/db"


def test_other_lines_survive_and_stop_removes_only_the_block(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(USER_LINES)
    dotenv.write(tmp_path, {"CRIPTOPIPE_SNAPSHOT_START": "2026-11-30"})
    dotenv.write(
        tmp_path, {"CRIPTOPIPE_SNAPSHOT_START": "2026-11-29", "MONGODB_URI": "mongodb://h/x"}
    )
    text = (tmp_path / ".env").read_text()
    assert text.startswith(USER_LINES) and text.count(dotenv.BEGIN) == 1
    assert dotenv.written(tmp_path) == {
        "CRIPTOPIPE_SNAPSHOT_START": "2026-11-29",
        "MONGODB_URI": "mongodb://h/x",
    }
    assert dotenv.remove(tmp_path)
    assert (tmp_path / ".env").read_text() == USER_LINES
    assert not dotenv.remove(tmp_path)  # nothing of ours left

    alone = tmp_path / "alone"
    alone.mkdir()
    dotenv.write(alone, {"MONGODB_URI": "mongodb://h/x"})
    assert dotenv.remove(alone) and not (alone / ".env").exists()


def test_a_value_that_cannot_be_a_default_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        dotenv.write(tmp_path, {"DATABASE_URL": "postgresql://u:p}w@h/db"})
