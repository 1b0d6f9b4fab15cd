"""Two mcpkit commands writing at once lose nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

N = 8


def _loop(
    commands: list[list[str]], env: dict[str, str], stdin: bytes | None
) -> subprocess.Popen[bytes]:
    # One shell loop of real `mcpkit` processes, each a separate invocation.
    lines = []
    for cmd in commands:
        line = " ".join([sys.executable, "-m", "mcpkit", *cmd])
        lines.append(
            f"{line} <<'EOF' || exit 1\nvalue-$RANDOM-secret\nEOF" if stdin else f"{line} || exit 1"
        )
    script = "\n".join(lines)
    return subprocess.Popen(
        ["bash", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_two_commands_writing_at_once_lose_nothing(environ: dict[str, str]) -> None:
    env = {**os.environ, **environ}
    subprocess.run(
        [sys.executable, "-m", "mcpkit", "catalog", "create", "mine"],
        env=env,
        check=True,
        capture_output=True,
    )
    a = _loop([["profile", "create", f"p{i}", "--server", "time"] for i in range(N)], env, None)
    b = _loop(
        [["catalog", "server", "add", "mine", f"s{i}", "--command", "x"] for i in range(N)],
        env,
        None,
    )
    c = _loop([["secret", "set", f"s{i}.key"] for i in range(N)], env, b"1")
    for proc in (a, b, c):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err

    def cli(*args: str) -> list[dict[str, str]]:
        out = subprocess.run(
            [sys.executable, "-m", "mcpkit", *args, "--json"],
            env=env,
            check=True,
            capture_output=True,
        ).stdout
        return json.loads(out)

    profiles = {p["name"] for p in cli("profile", "ls")}
    assert {f"p{i}" for i in range(N)} <= profiles
    ids = {s["id"] for s in cli("catalog", "ls")}
    assert {f"s{i}" for i in range(N)} <= ids
    secrets = {s["name"] for s in cli("secret", "ls")}
    assert secrets == {f"s{i}.key" for i in range(N)}
    db = Path(environ["MCPKIT_HOME"]) / "data" / "state.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
