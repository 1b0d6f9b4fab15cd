"""Building a server spec from command-line options."""

from __future__ import annotations

import pytest

from mcpkit.catalog.custom import SpecOptions, build_spec
from mcpkit.errors import InvalidInputError, UsageError


def test_a_command_is_split_into_executable_and_arguments() -> None:
    spec = build_spec("mine", SpecOptions(command="python -m my_server --flag 'a b'"))
    assert spec.source.type == "command"
    assert spec.source.command == "python"
    assert spec.args == ["-m", "my_server", "--flag", "a b"]
    assert spec.publisher.tier == "local"


def test_scoped_npm_packages_keep_their_scope_and_version() -> None:
    spec = build_spec("fs", SpecOptions(npm="@modelcontextprotocol/server-filesystem@2025.8.21"))
    assert spec.source.type == "package"
    assert (spec.source.name, spec.source.version) == (
        "@modelcontextprotocol/server-filesystem",
        "2025.8.21",
    )
    bare = build_spec("fs", SpecOptions(npm="@modelcontextprotocol/server-filesystem"))
    assert bare.source.type == "package"
    assert (bare.source.name, bare.source.version) == (
        "@modelcontextprotocol/server-filesystem",
        None,
    )


def test_pypi_versions_follow_double_equals() -> None:
    spec = build_spec("t", SpecOptions(pypi="mcp-server-time==2025.9.25"))
    assert spec.source.type == "package"
    assert spec.source.requirement == "mcp-server-time==2025.9.25"


def test_a_url_server_is_remote_with_its_headers_and_secrets() -> None:
    spec = build_spec(
        "api",
        SpecOptions(
            url="https://mcp.example.com/mcp",
            transport="sse",
            headers=["Authorization=Bearer {{secret:api.token}}"],
            secrets=["api.token=API_TOKEN"],
        ),
    )
    assert spec.is_remote
    assert spec.source.type == "remote"
    assert spec.source.transport == "sse"
    assert spec.source.headers == {"Authorization": "Bearer {{secret:api.token}}"}
    assert spec.secret_names == ["api.token"]


def test_network_volumes_and_env_are_parsed() -> None:
    spec = build_spec(
        "img",
        SpecOptions(
            image="example/server:1",
            network="api.github.com, example.org",
            volumes=["/data:/data", "/out:/out:rw"],
            env=["LOG=debug"],
        ),
    )
    assert spec.network.mode == "hosts"
    assert spec.network.hosts == ["api.github.com", "example.org"]
    assert [(v.source, v.target, v.read_only) for v in spec.volumes] == [
        ("/data", "/data", True),
        ("/out", "/out", False),
    ]
    assert spec.env == {"LOG": "debug"}


@pytest.mark.parametrize("opts", [SpecOptions(), SpecOptions(command="x", image="y")])
def test_exactly_one_source_option_is_required(opts: SpecOptions) -> None:
    with pytest.raises(UsageError, match="exactly one of"):
        build_spec("x", opts)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (SpecOptions(command="x", env=["NOEQUALS"]), "--env 'NOEQUALS' is not KEY=VALUE"),
        (SpecOptions(command="x", volumes=["/a"]), "--volume '/a'"),
        (SpecOptions(command="x", network=" , "), "--network"),
    ],
)
def test_malformed_options_are_usage_errors(opts: SpecOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_spec("x", opts)


def test_invalid_values_are_reported_with_the_field() -> None:
    with pytest.raises(InvalidInputError, match=r"secrets\.0\.name"):
        build_spec("x", SpecOptions(command="x", secrets=["NotASecretName=ENV"]))
    with pytest.raises(InvalidInputError, match="server id"):
        build_spec("Bad Id", SpecOptions(command="x"))
