"""``profile runtime``, the gateway's runtime flags and ``doctor``'s engine line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from mcpkit.app import App
from mcpkit.catalog.model import ServerSpec
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.profiles.model import ServerRun
from mcpkit.store import Locations

if TYPE_CHECKING:
    from conftest import Run


def test_runtime_and_limits_are_stored_shown_exported_and_reset(run: Run, tmp_path: Path) -> None:
    run("server", "add", "time")
    assert "runtime auto; gateway defaults" in run("profile", "runtime", "time").stdout
    out = run(
        "profile", "runtime", "time", "--runtime", "docker", "--memory", "256m", "--pids", "64"
    )
    assert "runtime docker; memory 256m, pids 64" in out.stdout
    shown = json.loads(run("profile", "runtime", "time", "--json").stdout)
    assert shown == {"runtime": "docker", "memory": "256m", "pids": 64}
    exported = run("profile", "export", "default", "--format", "json").stdout
    assert json.loads(exported)["servers"][0]["run"] == shown
    target = tmp_path / "p.json"
    target.write_text(exported)
    run("profile", "import", str(target), "--name", "copy")
    assert json.loads(run("profile", "runtime", "time", "-p", "copy", "--json").stdout) == shown
    assert "gateway defaults" in run("profile", "runtime", "time", "--reset").stdout


def test_bad_runtime_settings_are_refused_and_nothing_changes(run: Run) -> None:
    run("server", "add", "time")
    run("profile", "runtime", "time", "--memory", "256m")
    for args in (
        ("--memory", "lots"),
        ("--memory", "1k"),
        ("--pids", "2"),
        ("--cpus", "0"),
        ("--user", "root"),
    ):
        result = run("profile", "runtime", "time", *args, code=4)
        assert "hint:" in result.stderr, result.stderr
    assert json.loads(run("profile", "runtime", "time", "--json").stdout)["memory"] == "256m"
    result = run("profile", "runtime", "nope", code=4)
    assert "has no server 'nope'" in result.stderr


def test_a_runtime_the_source_cannot_use_is_refused(run: Run) -> None:
    run("server", "add", "mine", "--command", "python3 -m my_server")
    result = run("profile", "runtime", "mine", "--runtime", "docker", code=4)
    assert "cannot run in a container" in result.stderr
    run("server", "add", "img", "--image", "example/img:1")
    result = run("profile", "runtime", "img", "--runtime", "process", code=4)
    assert "only the docker runtime" in result.stderr


def test_a_bad_memory_flag_stops_the_gateway_before_it_starts(run: Run) -> None:
    result = run("gateway", "run", "--memory", "huge", code=4)
    assert "'huge' is not a size" in result.stderr


def test_a_command_server_forced_into_docker_fails_alone(environ: dict[str, str]) -> None:
    app = App(environ)
    try:
        app.profiles.add_server("default", "time")
        spec = ServerSpec.model_validate(
            {"id": "mine", "title": "Mine", "source": {"type": "command", "command": "true"}}
        )
        app.profiles.add_server("default", "mine", spec=spec)
        gateway = build_gateway(app, RunOptions(runtime="docker"))
        mine = gateway.slots["mine"].health()
        assert mine["state"] == "failed" and "cannot run in a container" in mine["error"]
        assert gateway.slots["time"].health()["state"] != "failed"  # docker, engine or not
    finally:
        app.close()


def test_a_state_database_of_the_previous_schema_is_migrated(environ: dict[str, str]) -> None:
    app = App(environ)
    app.profiles.add_server("default", "time")
    app.close()
    db = Locations.from_environ(environ).db_path
    with sqlite3.connect(db) as conn:  # back to schema 1: no run column
        conn.execute("ALTER TABLE profile_servers DROP COLUMN run")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    app = App(environ)
    try:
        [server] = app.profiles.get("default").servers
        assert server.id == "time" and server.run == ServerRun()
    finally:
        app.close()


def test_doctor_names_the_engine_it_could_not_reach(run: Run, tmp_path: Path) -> None:
    run.environ["DOCKER_HOST"] = f"unix://{tmp_path}/none.sock"
    out = run("doctor", code=0).stdout
    line = next(line for line in out.splitlines() if " docker " in f" {line} ")
    assert "no engine answers" in line and "none.sock" in line and "(DOCKER_HOST)" in line
