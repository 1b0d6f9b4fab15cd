"""The MCP Registry source: paging over a real HTTP server, and server.json mapping."""

from __future__ import annotations

from typing import Any

import pytest
from registry_data import FILESYSTEM, GITHUB, NOTES, WEATHER

from conftest import CatalogServer
from mcpkit.catalog.model import ServerSpec
from mcpkit.catalog.sources import RegistrySource, Validators, make_source
from mcpkit.catalog.sources.registry_api import convert_server_json, registry_endpoint
from mcpkit.errors import SourceError


def _by_id(specs: list[ServerSpec]) -> dict[str, ServerSpec]:
    return {s.id: s for s in specs}


def test_every_page_is_listed_and_only_latest_usable_servers_are_kept(
    catalog_server: CatalogServer,
) -> None:
    result = make_source("registry", catalog_server.url("/v0/servers")).fetch(Validators())
    assert result.document is not None
    assert [s.id for s in result.document.servers] == [
        "io.github.example/weather",
        "io.modelcontextprotocol/filesystem",
        "io.github.example/versions",
        "io.github.github/github-mcp-server",
        "com.example/remote-notes",
        "com.example/legacy-search",
    ]
    cursors = [r.query.get("cursor") for r in catalog_server.requests]
    assert cursors == [None, ["p2"], ["p3"]]
    assert all(r.query["limit"] == ["100"] for r in catalog_server.requests)
    skipped = [w for w in result.warnings if "skipped" in w]
    assert skipped == [
        (
            f"{catalog_server.url('/v0/servers')}: io.github.example/dotnet-tools: skipped: "
            "nothing mcpkit can run (a nuget package)"
        )
    ]
    versions = _by_id(result.document.servers)["io.github.example/versions"]
    assert versions.source.type == "package"
    assert versions.source.version == "1.2.0"


def test_a_base_url_given_as_registry_gets_the_listing_path(
    catalog_server: CatalogServer,
) -> None:
    source = make_source("registry", catalog_server.base_url)
    assert isinstance(source, RegistrySource)
    assert source.endpoint == catalog_server.url("/v0/servers")
    assert registry_endpoint("https://r.example.com/v0.1/servers") == (
        "https://r.example.com/v0.1/servers"
    )


def test_an_unchanged_listing_is_not_modified(catalog_server: CatalogServer) -> None:
    source = make_source("registry", catalog_server.url("/v0/servers"))
    first = source.fetch(Validators())
    second = source.fetch(first.validators)
    assert second.document is None
    assert second.validators == first.validators
    catalog_server.pages["p3"] = {"servers": [], "metadata": {}}
    third = source.fetch(first.validators)
    assert third.document is not None
    assert "io.github.example/versions" in [s.id for s in third.document.servers]
    assert "com.example/legacy-search" not in [s.id for s in third.document.servers]


def test_the_older_flat_shape_is_read(catalog_server: CatalogServer) -> None:
    result = make_source("registry", catalog_server.url("/flat/v0/servers")).fetch(Validators())
    assert result.document is not None
    old_time, old_image = result.document.servers
    assert old_time.id == "io.github.example/old-time"
    assert old_time.source.type == "package"
    assert (old_time.source.registry, old_time.source.name) == ("pypi", "old-time-mcp")
    assert [(s.name, s.env, s.required) for s in old_time.secrets] == [
        ("old-time.tz_token", "TZ_TOKEN", True)
    ]
    assert old_image.source.type == "image"
    assert old_image.source.image == "example/old-image:3.1.0"


def test_a_repeated_cursor_stops_paging(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/loop/v0/servers")
    with pytest.raises(SourceError) as info:
        make_source("registry", url).fetch(Validators())
    assert info.value.message == (
        f"cannot list {url}: the registry returned the cursor 'same' twice, "
        "so paging would never end"
    )
    assert len(catalog_server.requests) == 2


def test_a_failing_page_fails_the_whole_listing(catalog_server: CatalogServer) -> None:
    catalog_server.pages["p2"] = {"nope": True}
    url = catalog_server.url("/v0/servers")
    with pytest.raises(SourceError) as info:
        make_source("registry", url).fetch(Validators())
    assert info.value.message == (
        f"{url}?limit=100&cursor=p2: not an MCP Registry answer (no 'servers' list)"
    )


def test_a_registry_that_errors_names_the_page(catalog_server: CatalogServer) -> None:
    url = catalog_server.url("/error/v0/servers")
    with pytest.raises(SourceError) as info:
        make_source("registry", url).fetch(Validators())
    assert info.value.message == f"cannot fetch {url}?limit=100: HTTP 404 Not Found"


def test_a_pypi_package_maps_arguments_secrets_and_config() -> None:
    spec, warnings = convert_server_json(WEATHER, origin="reg")
    assert warnings == []
    assert spec is not None
    assert spec.title == "Weather"
    assert spec.homepage == "https://github.com/example/weather-mcp"
    assert spec.publisher.name == "io.github.example"
    assert spec.publisher.url == "https://github.com/example"
    assert spec.publisher.tier == "community"
    assert spec.source.type == "package"
    assert (spec.source.registry, spec.source.name, spec.source.version) == (
        "pypi", "weather-mcp", "0.3.1")  # fmt: skip
    assert spec.args == ["--log-level=info", "{{cache_dir}}"]
    assert [(s.name, s.env, s.required) for s in spec.secrets] == [
        ("weather.openweather_api_key", "OPENWEATHER_API_KEY", True)
    ]
    assert spec.env == {"WEATHER_UNITS": "{{weather_units}}"}
    assert spec.config_schema == {
        "type": "object",
        "properties": {
            "cache_dir": {"type": "string", "description": "Where forecasts are cached"},
            "weather_units": {
                "type": "string",
                "description": "Units for temperatures",
                "default": "metric",
                "enum": ["metric", "imperial"],
            },
        },
        "required": ["cache_dir"],
    }


def test_an_npm_package_keeps_its_scope_and_website() -> None:
    spec, _ = convert_server_json(FILESYSTEM, origin="reg")
    assert spec is not None
    assert spec.source.type == "package"
    assert (spec.source.registry, spec.source.name) == (
        "npm", "@modelcontextprotocol/server-filesystem")  # fmt: skip
    assert spec.homepage == "https://modelcontextprotocol.io/examples"
    assert spec.args == ["{{root}}"]


def test_an_oci_package_becomes_an_image_and_runtime_arguments_are_ignored() -> None:
    spec, warnings = convert_server_json(GITHUB, origin="reg")
    assert spec is not None
    assert spec.source.type == "image"
    assert spec.source.image == "ghcr.io/github/github-mcp-server:0.13.0"
    assert [s.name for s in spec.secrets] == ["github-mcp-server.github_personal_access_token"]
    assert warnings == [
        (
            "reg: io.github.github/github-mcp-server: runtimeArguments ignored: "
            "mcpkit decides how a package runs"
        )
    ]


def test_a_remote_maps_secret_headers_to_secret_templates() -> None:
    spec, _ = convert_server_json(NOTES, origin="reg")
    assert spec is not None
    assert spec.is_remote
    assert spec.source.type == "remote"
    assert spec.source.url == "https://notes.example.com/mcp"
    assert spec.source.transport == "streamable-http"
    assert spec.source.headers == {
        "Authorization": "Bearer {{secret:remote-notes.token}}",
        "X-Workspace": "{{x_workspace}}",
    }
    assert [(s.name, s.env) for s in spec.secrets] == [("remote-notes.token", "TOKEN")]
    assert spec.config_schema["required"] == ["x_workspace"]


def _server(**fields: Any) -> dict[str, Any]:
    return {"name": "io.github.example/thing", "description": "d", "version": "1.0.0", **fields}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"packages": [{"registryType": "mcpb", "identifier": "https://x/t.mcpb"}]},
            "nothing mcpkit can run (a mcpb package)",
        ),
        (
            {"packages": [{"registryType": "npm", "identifier": "t",
                           "registryBaseUrl": "https://npm.internal.example"}]},
            "nothing mcpkit can run (a npm package from https://npm.internal.example)",
        ),
        (
            {"packages": [{"registryType": "pypi", "identifier": "t",
                           "transport": {"type": "streamable-http", "url": "http://localhost"}}]},
            "nothing mcpkit can run (a pypi package served over streamable-http)",
        ),
        ({}, "nothing mcpkit can run (no packages or remotes)"),
        (
            {"packages": [{"registryType": "npm", "identifier": "t", "packageArguments": [
                {"type": "named", "name": "--token", "isSecret": True}]}]},
            "an argument is a secret, and mcpkit never puts secrets on a command line",
        ),
    ],
)  # fmt: skip
def test_servers_mcpkit_cannot_run_safely_are_skipped(fields: dict[str, Any], reason: str) -> None:
    spec, warnings = convert_server_json(_server(**fields), origin="reg")
    assert spec is None
    assert warnings[-1] == f"reg: io.github.example/thing: skipped: {reason}"


def test_a_name_that_is_no_usable_id_is_skipped() -> None:
    spec, warnings = convert_server_json(
        _server(name="io.github.example/thing with spaces"), origin="reg"
    )
    assert spec is None
    assert "is not a usable server id" in warnings[-1]


def test_the_first_usable_package_wins_over_remotes() -> None:
    spec, _ = convert_server_json(
        _server(
            packages=[
                {"registryType": "nuget", "identifier": "X"},
                {"registryType": "pypi", "identifier": "thing-mcp"},
            ],
            remotes=[{"type": "sse", "url": "https://thing.example.com/sse"}],
        ),
        origin="reg",
    )
    assert spec is not None
    assert spec.source.type == "package"
    assert spec.source.name == "thing-mcp"
