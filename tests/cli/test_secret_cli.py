"""``mcpkit secret`` from the command line, and where secret values must never show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Run

VALUE = "ghp_Sup3rSecretValue_0123456789abcdef"


def test_set_reads_stdin_and_ls_shows_names_never_values(run: Run) -> None:
    run("server", "add", "github")
    out = run("secret", "set", "github.token", input=VALUE + "\n").stdout
    assert "stored github.token" in out and VALUE not in out
    listing = run("secret", "ls").stdout
    assert "github.token" in listing and "default/github" in listing
    assert VALUE not in listing
    data = json.loads(run("secret", "ls", "--json").stdout)
    assert data == [
        {
            "name": "github.token",
            "scope": "global",
            "store": "file",
            "used_by": ["default/github"],
            "orphan": False,
        }
    ]


def test_a_value_on_the_command_line_is_refused_without_echoing_it(run: Run) -> None:
    result = run("secret", "set", "github.token", VALUE, code=2)
    assert VALUE not in result.stdout + result.stderr
    assert "never taken from the command line" in result.stderr


def test_profile_scoped_secrets_win_and_are_listed_per_scope(run: Run, app: object) -> None:
    run("profile", "create", "work", "--server", "github")
    run("secret", "set", "github.token", input="global-value\n")
    run("secret", "set", "github.token", "--profile", "work", input="work-value\n")
    from mcpkit.app import App

    assert isinstance(app, App)
    assert app.secrets.resolve("github.token", profile="work") == "work-value"
    assert app.secrets.resolve("github.token", profile="default") == "global-value"
    scopes = {
        (i["scope"], tuple(i["used_by"])) for i in json.loads(run("secret", "ls", "--json").stdout)
    }
    assert scopes == {("global", ("work/github",)), ("work", ("work/github",))}


def test_rm_by_name_orphans_and_all(run: Run) -> None:
    run("server", "add", "github")
    for name in ("github.token", "old.key", "other.key"):
        run("secret", "set", name, input="v-" + name + "\n")
    out = run("secret", "rm", "--orphans").stdout
    assert "removed old.key" in out and "removed other.key" in out
    assert [i["name"] for i in json.loads(run("secret", "ls", "--json").stdout)] == ["github.token"]
    run("secret", "rm", "--all", "--yes")
    assert json.loads(run("secret", "ls", "--json").stdout) == []


def test_rm_of_an_unknown_secret_exits_3(run: Run) -> None:
    result = run("secret", "rm", "nope.key", code=3)
    assert "error[unknown-secret]" in result.stderr


def test_invalid_names_and_empty_values_are_usage_errors(run: Run) -> None:
    assert "<server>.<key>" in run("secret", "set", "NoDot", input="x\n", code=2).stderr
    assert "empty" in run("secret", "set", "a.b", input="\n", code=2).stderr


def test_secret_values_appear_in_no_output_export_or_state_file(
    run: Run, environ: dict[str, str], tmp_path: Path
) -> None:
    run("profile", "create", "dev", "--server", "github", "--server", "git")
    run("secret", "set", "github.token", "-p", "dev", input=VALUE + "\n")
    outputs = [
        run(*args)
        for args in (
            ("secret", "ls"),
            ("secret", "ls", "--json"),
            ("profile", "show", "dev"),
            ("profile", "show", "dev", "--json"),
            ("profile", "export", "dev"),
            ("profile", "export", "dev", "--format", "json"),
            ("catalog", "show", "github"),
            ("profile", "ls"),
            ("config", "ls"),
        )
    ]
    for result in outputs:
        assert VALUE not in result.stdout + result.stderr
    # Nothing on disk holds the plain value either (the store file is encrypted).
    for path in Path(environ["MCPKIT_HOME"]).rglob("*"):
        if path.is_file():
            assert VALUE.encode() not in path.read_bytes(), path


def test_the_value_is_never_in_the_process_argv_or_environment(environ: dict[str, str]) -> None:
    env = {**os.environ, **environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcpkit.cli", "secret", "set", "github.token"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(VALUE.encode())
    proc.stdin.flush()
    # While the value sits in the pipe, the process's argv and environment are public.
    seen = (
        Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        + Path(f"/proc/{proc.pid}/environ").read_bytes()
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert VALUE.encode() not in seen + out + err


def test_a_corrupt_store_is_reported_and_left_intact(run: Run, environ: dict[str, str]) -> None:
    run("secret", "set", "a.b", input="value-one\n")
    store = Path(environ["MCPKIT_HOME"]) / "data" / "secrets.enc"
    store.write_text("{not json")
    result = run("secret", "set", "a.c", input="value-two\n", code=7)
    assert "error[secret-store" in result.stderr and result.stderr.count("hint:") == 1
    assert store.read_text() == "{not json"
