"""Loading submissions: both formats, the spec they become, and load-time problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpkit.catalog.model import ImageSource, PackageSource
from mcpkit.errors import InvalidInputError
from mcpkit.registry.findings import Finding, has_errors
from mcpkit.registry.submission import (
    GitSource,
    SmokeCall,
    load_submission,
    submission_folders,
)

COMMIT = "51238303911efa37052fae6860411fe20475880c"


def time_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "time",
        "title": "Time",
        "description": "Current time and time-zone conversions.",
        "license": "MIT",
        "publisher": {"name": "Model Context Protocol", "url": "https://modelcontextprotocol.io"},
        "category": "utilities",
        "tags": ["time"],
        "source": {
            "type": "package",
            "registry": "pypi",
            "name": "mcp-server-time",
            "version": "2026.10.19",
            "hashes": ["sha256:" + "a" * 64],
        },
        "secrets": [{"name": "time.token", "env": "TIME_TOKEN", "description": "unused"}],
        "config_schema": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
        },
        "args": ["--local-timezone", "{{timezone}}"],
        "test": {
            "config": {"timezone": "UTC"},
            "secrets": {"time.token": "example-value"},
            "timeout": 30,
            "calls": [{"tool": "get_current_time", "arguments": {"timezone": "UTC"}}],
        },
    }
    data.update(changes)
    return data


#: Modelled on docker/mcp-registry's servers/currency/server.yaml, with parameters.
DOCKER_DATA: dict[str, Any] = {
    "name": "currency",
    "image": "mcp/currency",
    "type": "server",
    "meta": {"category": "finance", "tags": ["finance", "currency"]},
    "about": {
        "title": "Currency",
        "description": "Converts amounts between the currencies the ECB publishes rates for.",
        "icon": "https://raw.githubusercontent.com/example/mcp-servers/main/currency.png",
    },
    "source": {
        "project": "https://github.com/example/mcp-servers",
        "branch": "main",
        "commit": COMMIT,
        "dockerfile": "servers/currency/Dockerfile",
    },
    "config": {
        "description": "Optional Pro license key.",
        "secrets": [
            {
                "name": "currency.license_key",
                "env": "MCP_LICENSE_KEY",
                "example": "<MCP_LICENSE_KEY>",
            }
        ],
        "env": [{"name": "BASE_CURRENCY", "example": "EUR", "value": "{{currency.base}}"}],
        "parameters": {
            "type": "object",
            "properties": {
                "base": {"type": "string", "example": "EUR"},
                "cache_hours": {"type": "integer", "default": 6},
            },
        },
    },
}


def rules(findings: tuple[Finding, ...] | list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.where) for f in findings]


def test_our_format_becomes_a_community_spec_with_its_test_plan(
    tmp_path: Path, helpers: Any
) -> None:
    folder = helpers.write_submission(
        tmp_path,
        "time",
        time_data(),
        {"tools.json": '[{"name": "get_current_time", "description": "Now."}]'},
    )
    sub = load_submission(folder, root=tmp_path)
    assert sub.problems == ()
    assert (sub.name, sub.format, sub.folder, sub.root) == ("time", "mcpkit", folder, tmp_path)
    assert sub.spec is not None
    assert sub.spec.id == "time"
    assert isinstance(sub.spec.source, PackageSource)
    assert sub.spec.source.version == "2026.10.19"
    assert sub.spec.publisher.tier == "community"
    assert sub.spec.attestation is not None
    assert sub.spec.attestation.source == "pkg:pypi/mcp-server-time@2026.10.19"
    assert [t.name for t in sub.spec.tools] == ["get_current_time"]
    assert sub.tools == [{"name": "get_current_time", "description": "Now."}]
    assert sub.git is None
    assert sub.test.config == {"timezone": "UTC"}
    assert sub.test.secrets == {"time.token": "example-value"}
    assert sub.test.timeout == 30
    assert sub.test.calls == (SmokeCall("get_current_time", {"timezone": "UTC"}),)
    assert sub.where("source.commit") == "servers/time/server.yaml:source.commit"


def test_a_git_source_becomes_the_image_the_registry_will_publish(
    tmp_path: Path, helpers: Any
) -> None:
    source = {
        "type": "git",
        "url": "https://github.com/example/time",
        "commit": COMMIT,
        "directory": "src/time",
    }
    folder = helpers.write_submission(tmp_path, "time", time_data(source=source))
    sub = load_submission(folder, root=tmp_path)
    assert sub.problems == ()
    assert sub.git == GitSource("https://github.com/example/time", COMMIT, "src/time")
    assert sub.spec is not None
    assert isinstance(sub.spec.source, ImageSource)
    assert sub.spec.source.image == "mcp/time"
    assert sub.spec.attestation is not None
    assert sub.spec.attestation.source == f"git+https://github.com/example/time@{COMMIT}"


def test_a_docker_format_folder_is_converted_with_an_example_test_plan(
    tmp_path: Path, helpers: Any
) -> None:
    folder = helpers.write_submission(tmp_path, "currency", DOCKER_DATA)
    sub = load_submission(folder, root=tmp_path)
    assert sub.format == "docker"
    assert sub.problems == ()
    assert sub.spec is not None
    assert sub.spec.title == "Currency"
    assert sub.spec.env == {"BASE_CURRENCY": "{{base}}"}
    assert sub.spec.secret_names == ["currency.license_key"]
    assert sub.git == GitSource(
        "https://github.com/example/mcp-servers", COMMIT, ".", "servers/currency/Dockerfile"
    )
    assert sub.spec.attestation is not None
    assert sub.spec.attestation.source == f"git+https://github.com/example/mcp-servers@{COMMIT}"
    assert sub.icon == DOCKER_DATA["about"]["icon"]
    assert sub.test.secrets == {"currency.license_key": "<MCP_LICENSE_KEY>"}
    assert sub.test.config == {"base": "EUR", "cache_hours": 6}


def test_a_docker_format_test_yaml_overrides_the_derived_plan(tmp_path: Path, helpers: Any) -> None:
    test_yaml = (
        "test:\n  config: {base: USD}\n  tools: declared\n  timeout: 20\n"
        "  calls:\n    - tool: rates_latest\n      arguments: {base: USD}\n"
    )
    folder = helpers.write_submission(tmp_path, "currency", DOCKER_DATA, {"test.yaml": test_yaml})
    sub = load_submission(folder, root=tmp_path)
    assert sub.problems == ()
    assert sub.test.config == {"base": "USD", "cache_hours": 6}
    assert sub.test.secrets == {"currency.license_key": "<MCP_LICENSE_KEY>"}
    assert (sub.test.tools, sub.test.timeout) == ("declared", 20)
    assert sub.test.calls == (SmokeCall("rates_latest", {"base": "USD"}),)


def test_a_yaml_syntax_error_is_a_yaml_problem_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "servers" / "time"
    folder.mkdir(parents=True)
    text = "name: time\ntitle: Time\nsource:\n  type: [package\n"
    (folder / "server.yaml").write_text(text)
    sub = load_submission(folder, root=tmp_path)
    assert sub.data == {}
    assert sub.spec is None
    assert len(sub.problems) == 1
    problem = sub.problems[0]
    assert problem.rule == "yaml"
    assert problem.where.startswith("servers/time/server.yaml:")
    assert problem.where.rsplit(":", 1)[1].isdigit()
    assert "not YAML" in problem.message
    assert sub.name == "time"  # from the folder when the file says nothing
    assert (folder / "server.yaml").read_text() == text


def test_unknown_and_missing_keys_are_schema_problems_with_their_key_path(
    tmp_path: Path, helpers: Any
) -> None:
    data = time_data(sourcee="typo")
    del data["title"]
    data["source"] = {**data["source"], "registy": "pypi"}
    folder = helpers.write_submission(tmp_path, "time", data)
    sub = load_submission(folder, root=tmp_path)
    assert sub.spec is None
    found = rules(sub.problems)
    assert ("schema", "servers/time/server.yaml:title") in found
    assert ("schema", "servers/time/server.yaml:sourcee") in found
    assert ("schema", "servers/time/server.yaml:source.registy") in found
    assert all(p.rule == "schema" for p in sub.problems)
    assert has_errors(sub.problems)
    by_where = {p.where: p.message for p in sub.problems}
    assert "is required" in by_where["servers/time/server.yaml:title"]
    assert "unknown field" in by_where["servers/time/server.yaml:sourcee"]


def test_an_unknown_source_type_names_the_accepted_ones(tmp_path: Path, helpers: Any) -> None:
    folder = helpers.write_submission(
        tmp_path, "time", time_data(source={"type": "tarball", "url": "x"})
    )
    sub = load_submission(folder, root=tmp_path)
    assert rules(sub.problems) == [("schema", "servers/time/server.yaml:source")]
    assert "package, git, image or remote" in sub.problems[0].message


def test_spec_errors_that_lint_reports_better_are_not_repeated_as_schema(
    tmp_path: Path, helpers: Any
) -> None:
    folder = helpers.write_submission(
        tmp_path, "time", time_data(secrets=[{"name": "TOKEN", "env": "TIME_TOKEN"}])
    )
    sub = load_submission(folder, root=tmp_path)
    assert sub.spec is None  # the spec cannot hold a badly named secret
    assert sub.problems == ()  # ...and secret.name says why


def test_a_broken_tools_json_is_a_tools_json_problem(tmp_path: Path, helpers: Any) -> None:
    folder = helpers.write_submission(tmp_path, "time", time_data(), {"tools.json": "[{,"})
    sub = load_submission(folder, root=tmp_path)
    assert rules(sub.problems) == [("tools.json", "servers/time/tools.json")]
    assert "not valid JSON" in sub.problems[0].message
    assert sub.tools is None


def test_a_tools_json_that_is_not_a_list_is_a_tools_json_problem(
    tmp_path: Path, helpers: Any
) -> None:
    folder = helpers.write_submission(
        tmp_path, "time", time_data(), {"tools.json": '{"tools": []}'}
    )
    sub = load_submission(folder, root=tmp_path)
    assert rules(sub.problems) == [("tools.json", "servers/time/tools.json")]
    assert "not a list" in sub.problems[0].message


def test_a_tool_entry_without_a_name_is_reported_and_left_out(tmp_path: Path, helpers: Any) -> None:
    tools = '[{"name": "a", "description": "A."}, {"description": "nameless"}]'
    folder = helpers.write_submission(tmp_path, "time", time_data(), {"tools.json": tools})
    sub = load_submission(folder, root=tmp_path)
    assert rules(sub.problems) == [("tools.json", "servers/time/tools.json:[1]")]
    assert sub.tools == [{"name": "a", "description": "A."}]


def test_a_registry_root_lists_every_submission_folder_sorted(tmp_path: Path, helpers: Any) -> None:
    helpers.write_submission(tmp_path, "time", time_data())
    helpers.write_submission(tmp_path, "currency", DOCKER_DATA)
    (tmp_path / "servers" / "empty").mkdir()
    assert submission_folders(tmp_path) == [
        tmp_path / "servers" / "currency",
        tmp_path / "servers" / "time",
    ]
    assert submission_folders(tmp_path / "servers" / "time") == [tmp_path / "servers" / "time"]
    assert submission_folders(tmp_path / "servers") == [
        tmp_path / "servers" / "currency",
        tmp_path / "servers" / "time",
    ]


def test_a_folder_with_no_submission_is_an_input_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        submission_folders(tmp_path)
    assert "has no server.yaml" in caught.value.message
    assert caught.value.hint is not None
    assert "servers/<name>/server.yaml" in caught.value.hint
    with pytest.raises(InvalidInputError, match="is not a folder"):
        submission_folders(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match=r"has no server\.yaml"):
        load_submission(tmp_path)


def test_a_submission_given_alone_is_its_own_root(tmp_path: Path, helpers: Any) -> None:
    folder = helpers.write_submission(tmp_path, "time", time_data(name="Time"))
    sub = load_submission(folder)
    assert sub.root == folder
    assert sub.rel == ""
    assert sub.where("name") == "server.yaml:name"
