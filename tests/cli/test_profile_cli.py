"""``mcpkit profile`` and ``mcpkit server`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from conftest import Run


def test_profile_lifecycle_from_create_to_rm(run: Run) -> None:
    run("profile", "create", "dev", "--server", "time", "--server", "git")
    run("profile", "config", "git", "--profile", "dev", "--set", "repository=/src/app")
    assert (
        run("profile", "config", "git", "-p", "dev", "--get", "repository").stdout == "/src/app\n"
    )
    run("profile", "tools", "git", "-p", "dev", "--disable", "git_commit")
    shown = json.loads(run("profile", "show", "dev", "--json").stdout)
    git = next(s for s in shown["servers"] if s["id"] == "git")
    assert git["config"] == {"repository": "/src/app"}
    assert git["tools"] == {"allow": None, "deny": ["git_commit"]}
    assert "dev" in run("profile", "ls").stdout
    run("profile", "rm", "dev")
    assert "dev" not in run("profile", "ls").stdout


def test_commands_without_profile_use_default(run: Run) -> None:
    run("server", "add", "time")
    run("server", "add", "fetch")
    servers = json.loads(run("server", "ls", "--json").stdout)
    assert [s["id"] for s in servers] == ["time", "fetch"]
    assert [s["id"] for s in json.loads(run("profile", "show", "--json").stdout)["servers"]] == [
        "time",
        "fetch",
    ]


def test_a_bad_config_value_is_refused_with_the_schema_reason(run: Run) -> None:
    run("server", "add", "filesystem")
    result = run("profile", "config", "filesystem", "--set", "paths=notalist", code=4)
    assert "error[config-invalid]" in result.stderr
    assert "is not of type 'array'" in result.stderr
    assert json.loads(run("profile", "config", "filesystem", "--json").stdout) == {}


def test_adding_a_server_with_bad_config_adds_nothing(run: Run) -> None:
    run("server", "add", "git", "--config", "nope=1", code=4)
    assert json.loads(run("server", "ls", "--json").stdout) == []


def test_an_unknown_server_or_profile_exits_3_with_a_hint(run: Run) -> None:
    result = run("server", "add", "tmie", code=3)
    assert "did you mean time" in result.stderr
    result = run("profile", "show", "nope", code=3)
    assert "mcpkit profile create nope" in result.stderr


def test_own_server_added_straight_to_a_profile(run: Run) -> None:
    run("profile", "server", "add", "mine", "--command", "python -m mine", "--env", "A=1")
    shown = json.loads(run("profile", "show", "--json").stdout)
    assert shown["servers"][0]["own_spec"] is True
    assert shown["servers"][0]["kind"] == "command"


def test_export_and_import_round_trip_through_a_file(run: Run, tmp_path: Path) -> None:
    run("profile", "create", "dev", "--server", "git")
    run("profile", "config", "git", "-p", "dev", "--set", "repository=/r")
    out = tmp_path / "dev.json"
    run("profile", "export", "dev", "-o", str(out))
    assert json.loads(out.read_text())["servers"] == [{"id": "git", "config": {"repository": "/r"}}]
    run("profile", "import", str(out), "--name", "copy")
    copy = json.loads(run("profile", "show", "copy", "--json").stdout)
    assert copy["servers"][0]["config"] == {"repository": "/r"}
    result = run("profile", "import", str(out), "--name", "copy", code=5)
    assert "--replace" in result.stderr


def test_importing_a_malformed_profile_exits_4_and_keeps_profiles(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: dev\nservers: [{id: time, config: 3}]\n")
    result = run("profile", "import", str(bad), code=4)
    assert "error[profile-format]" in result.stderr and "bad.yaml" in result.stderr
    assert [p["name"] for p in json.loads(run("profile", "ls", "--json").stdout)] == ["default"]


def test_removing_a_server_explains_what_stays_and_purges_on_request(run: Run) -> None:
    run("profile", "create", "a", "--server", "github")
    run("profile", "create", "b", "--server", "github")
    run("secret", "set", "github.token", input="ghp_abcdefghijklmnop\n")
    out = run("server", "rm", "github", "-p", "a", "--purge-secrets").stdout
    assert "kept secret github.token (still used by b)" in out
    assert "image cache" in out
    out = run("server", "rm", "github", "-p", "b", "--purge-secrets").stdout
    assert "removed secret github.token" in out
    assert json.loads(run("secret", "ls", "--json").stdout) == []


def test_removing_without_purge_keeps_secrets_and_says_how_to_remove_them(run: Run) -> None:
    run("server", "add", "github")
    run("secret", "set", "github.token", input="ghp_abcdefghijklmnop\n")
    out = run("server", "rm", "github").stdout
    assert "mcpkit secret rm github.token" in out
    assert "--purge-secrets" in out
    assert json.loads(run("secret", "ls", "--json").stdout)[0]["orphan"] is True


def test_docker_toolkit_config_becomes_the_default_profile_once(
    run: Run, environ: dict[str, str]
) -> None:
    mcp = Path(environ["HOME"]) / ".docker" / "mcp"
    (mcp / "catalogs").mkdir(parents=True)
    (mcp / "registry.yaml").write_text(
        "registry:\n  git: {ref: ''}\n  time: {ref: ''}\n  dice: {ref: ''}\n  mystery: {ref: ''}\n"
    )
    (mcp / "config.yaml").write_text("git:\n  repository: /home/me/src\n")
    (mcp / "tools.yaml").write_text("git:\n  - git_status\n  - git_log\n")
    (mcp / "catalogs" / "docker-mcp.yaml").write_text(
        yaml.safe_dump(
            {
                "registry": {
                    "dice": {
                        "title": "Dice",
                        "description": "Roll dice",
                        "type": "server",
                        "image": "mcp/dice@sha256:" + "a" * 64,
                    }
                }
            }
        )
    )
    result = run("profile", "ls")
    assert "git: imported from Docker MCP Toolkit" in result.stderr
    assert "mystery: not in any mcpkit catalog" in result.stderr
    shown = json.loads(run("profile", "show", "--json").stdout)
    by_id = {s["id"]: s for s in shown["servers"]}
    assert set(by_id) == {"dice", "git", "time"}
    assert by_id["git"]["config"] == {"repository": "/home/me/src"}
    assert by_id["git"]["tools"]["allow"] == ["git_status", "git_log"]
    assert by_id["dice"]["own_spec"] is True
    # Not again on later runs; on purpose it changes nothing.
    assert "imported" not in run("profile", "ls").stderr
    again = run("profile", "import", "--from-docker").stdout
    assert "git: already in the default profile" in again
    assert json.loads(run("profile", "show", "--json").stdout) == shown


def test_a_broken_docker_toolkit_file_is_reported_not_fatal_on_first_run(
    run: Run, environ: dict[str, str]
) -> None:
    mcp = Path(environ["HOME"]) / ".docker" / "mcp"
    mcp.mkdir(parents=True)
    (mcp / "registry.yaml").write_text("registry: [unclosed\n")
    first = run("profile", "ls")
    assert "could not import Docker MCP Toolkit" in first.stderr
    assert "mcpkit profile import --from-docker" in first.stderr
    assert "could not import" not in run("profile", "ls").stderr
    result = run("profile", "import", "--from-docker", code=4)
    assert "registry.yaml is not valid YAML" in result.stderr
    assert (mcp / "registry.yaml").read_text() == "registry: [unclosed\n"


def test_a_server_whose_catalog_is_gone_is_reported_not_fatal(run: Run, tmp_path: Path) -> None:
    run("catalog", "create", "mine")
    run("catalog", "server", "add", "mine", "hello", "--command", "hello")
    run("server", "add", "hello")
    run("server", "add", "time")
    run("catalog", "source", "rm", "mine")
    out = run("profile", "show").stdout
    assert "in no catalog any more" in out
    assert "time  [pypi]" in out
    shown = json.loads(run("profile", "show", "--json").stdout)
    assert [s["kind"] for s in shown["servers"]] == ["missing", "pypi"]
    run("secret", "ls")
    run("server", "add", "github")
    run("profile", "create", "b", "--server", "github")
    run("secret", "set", "github.token", input="ghp_abcdefghijklmnop\n")
    out = run("server", "rm", "github").stdout
    assert "kept secret github.token (still used by b)" in out
    run("server", "rm", "hello")
