"""``mcpkit catalog`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from conftest import Run


def test_ls_lists_the_bundled_catalog_and_marks_remote_servers(run: Run) -> None:
    out = run("catalog", "ls").stdout
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert {"time", "git", "fetch", "everything", "filesystem"} <= set(lines)
    assert "☁ remote" in lines["deepwiki"]
    assert "☁" not in lines["time"]


def test_ls_json_has_a_remote_field_and_filters_work(run: Run) -> None:
    remote = json.loads(run("catalog", "ls", "--remote", "--json").stdout)
    local = json.loads(run("catalog", "ls", "--local", "--json").stdout)
    assert remote and all(item["remote"] for item in remote)
    assert local and not any(item["remote"] for item in local)
    assert len(remote) + len(local) == len(json.loads(run("catalog", "ls", "--json").stdout))
    dbs = json.loads(run("catalog", "ls", "--category", "databases", "--json").stdout)
    assert dbs and {d["category"] for d in dbs} == {"databases"}


def test_show_prints_secrets_config_and_tools(run: Run) -> None:
    out = run("catalog", "show", "git").stdout
    assert "pypi mcp-server-git" in out
    assert "repository: string (required)" in out
    assert "git_status" in out
    data = json.loads(run("catalog", "show", "github", "--format", "json").stdout)
    assert data["secrets"][0]["name"].startswith("github.")
    assert data["remote"] is False


def test_show_of_an_unknown_server_exits_3_with_suggestions(run: Run) -> None:
    result = run("catalog", "show", "gti", code=3)
    assert "error[unknown-server]" in result.stderr
    assert "did you mean git" in result.stderr
    assert "Traceback" not in result.stderr


def test_search_ranks_an_exact_id_first(run: Run) -> None:
    out = run("catalog", "search", "git").stdout
    assert out.splitlines()[1].split()[0] == "git"
    found = json.loads(run("catalog", "search", "time", "zone", "--json").stdout)
    assert found[0]["id"] == "time"


def test_search_treats_query_syntax_as_text(run: Run) -> None:
    run("catalog", "search", 'git" OR NEAR(', "--json")
    assert json.loads(run("catalog", "search", "zzzznothing", "--json").stdout) == []


def test_a_custom_catalog_takes_servers_without_writing_a_file(run: Run, tmp_path: Path) -> None:
    run("catalog", "create", "mine")
    run(
        "catalog",
        "server",
        "add",
        "mine",
        "hello",
        "--command",
        "python -m hello",
        "--title",
        "Hello",
    )
    run("catalog", "server", "add", "mine", "api", "--url", "https://mcp.example.com/mcp")
    items = {i["id"]: i for i in json.loads(run("catalog", "ls", "--json").stdout)}
    assert items["hello"]["catalog"] == "mine" and items["hello"]["kind"] == "command"
    assert items["api"]["remote"] is True
    out = tmp_path / "mine.yaml"
    run("catalog", "export", "mine", "-o", str(out))
    doc = yaml.safe_load(out.read_text())
    assert [s["id"] for s in doc["servers"]] == ["api", "hello"]
    run("catalog", "import", str(out), "--name", "copy")
    assert "copy" in run("catalog", "source", "ls").stdout


def test_a_later_catalog_overrides_an_earlier_one_for_the_same_id(run: Run) -> None:
    run("catalog", "create", "mine")
    run("catalog", "server", "add", "mine", "time", "--command", "my-time", "--title", "My time")
    data = json.loads(run("catalog", "show", "time", "--format", "json").stdout)
    assert data["catalog"] == "mine" and data["source"]["command"] == "my-time"
    run("catalog", "source", "rm", "mine")
    data = json.loads(run("catalog", "show", "time", "--format", "json").stdout)
    assert data["catalog"] == "default"


def test_editing_a_non_custom_source_is_refused(run: Run) -> None:
    result = run("catalog", "server", "add", "default", "x", "--command", "x", code=2)
    assert "only custom catalogs can be edited" in result.stderr


def test_the_bundled_catalog_cannot_be_removed(run: Run) -> None:
    result = run("catalog", "source", "rm", "default", code=2)
    assert "cannot be removed" in result.stderr


def test_importing_a_malformed_catalog_exits_4_and_adds_nothing(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nservers:\n  - id: x\n    title: X\n    source: {type: nope}\n")
    result = run("catalog", "import", str(bad), "--name", "bad", code=4)
    assert "error[catalog-format]" in result.stderr
    assert str(bad) in result.stderr
    assert "bad" not in run("catalog", "source", "ls").stdout.split()


def test_adding_a_file_source_that_does_not_parse_adds_nothing(run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("servers: [")
    result = run("catalog", "source", "add", "bad", str(bad), code=4)
    assert "bad.yaml" in result.stderr
    assert "bad" not in run("catalog", "source", "ls").stdout.split()
