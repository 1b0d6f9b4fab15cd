"""The state database and file locations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mcpkit.errors import StateError
from mcpkit.store import SCHEMA_VERSION, Database, Locations


def test_mcpkit_home_puts_every_location_under_one_folder(tmp_path: Path) -> None:
    locs = Locations.from_environ({"MCPKIT_HOME": str(tmp_path), "HOME": "/nonexistent"})
    assert {p.parent for p in (locs.config_dir, locs.data_dir, locs.cache_dir, locs.state_dir)} == {
        tmp_path
    }


def test_xdg_variables_are_honoured_and_relative_ones_ignored(tmp_path: Path) -> None:
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "XDG_DATA_HOME": "relative/data",
    }
    locs = Locations.from_environ(env)
    assert locs.config_dir == tmp_path / "cfg" / "mcpkit"
    assert locs.data_dir == tmp_path / ".local/share/mcpkit"
    assert locs.cache_dir == tmp_path / ".cache/mcpkit"
    assert locs.state_dir == tmp_path / ".local/state/mcpkit"


def test_a_new_database_is_migrated_to_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    with Database(tmp_path / "state.db") as db:
        assert db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert db.query("PRAGMA journal_mode")[0][0] == "wal"


def test_a_database_from_a_newer_mcpkit_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError) as info:
        Database(path)
    assert "newer" in info.value.message
    assert info.value.hint and "upgrade" in info.value.hint


def test_a_file_that_is_not_a_database_gives_a_state_error_and_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError) as info:
        Database(path)
    assert "not an mcpkit state database" in info.value.message
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_a_failed_write_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    with Database(tmp_path / "state.db") as db:

        def fail_midway() -> None:
            with db.write() as conn:
                conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fail_midway()
        assert db.get_meta("a") is None


_WRITER = """
import sys
from pathlib import Path
from mcpkit.store import Database, utcnow
db = Database(Path(sys.argv[1]))
for i in range(int(sys.argv[3])):
    with db.write() as conn:
        # read-modify-write: a lost update would show as a wrong counter
        row = conn.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)",
                     (str(int(row[0]) + 1 if row else 1),))
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                     (f"{sys.argv[2]}-{i}", utcnow()))
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Database(path).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, "200"])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Database(path) as db:
        assert db.get_meta("counter") == "400"
        assert len(db.query("SELECT key FROM meta WHERE key LIKE 'a-%' OR key LIKE 'b-%'")) == 400
        assert db.query("PRAGMA integrity_check")[0][0] == "ok"
