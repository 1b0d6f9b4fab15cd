"""Docker's MCP catalog entries and server.yaml files, converted to server specs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mcpkit.catalog.docker_format import (
    convert_catalog_entry,
    convert_server_yaml,
    derive_secret_name,
    is_docker_catalog,
)
from mcpkit.catalog.document import load_catalog_text
from mcpkit.catalog.model import SECRET_NAME_RE, ServerSpec

# Shaped like Docker's docker-mcp.yaml (docker/mcp-registry pkg/catalog Tile, v2).
GITHUB_DIGEST = "sha256:5d9a0f1e7a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d"
DOCKER_CATALOG = """\
version: 2
name: docker-mcp
displayName: Docker MCP Catalog
registry:
  github-official:
    description: Official GitHub MCP Server, by GitHub.
    title: GitHub Official
    type: server
    image: ghcr.io/github/github-mcp-server@{GITHUB_DIGEST}
    source: https://github.com/github/github-mcp-server/tree/main
    upstream: https://github.com/github/github-mcp-server
    icon: https://avatars.githubusercontent.com/u/9919?s=200&v=4
    tools:
      - name: get_issue
        description: Get details of a specific issue.
        annotations: {readOnlyHint: true}
      - name: create_issue
        description: Create a new issue.
    secrets:
      - name: github.personal_access_token
        env: GITHUB_PERSONAL_ACCESS_TOKEN
        example: <YOUR_TOKEN>
    allowHosts: [api.github.com:443, github.com:443]
    prompts: 0
    resources: {}
    metadata:
      category: devops
      tags: [github, devops]
      license: MIT License
      owner: github
    oauth:
      providers:
        - provider: github
          secret: github.personal_access_token
          env: GITHUB_PERSONAL_ACCESS_TOKEN
  atlassian:
    description: Tools for Atlassian products (Confluence and Jira).
    title: Atlassian
    type: server
    image: mcp/atlassian
    secrets:
      - {name: atlassian.jira.api_token, env: JIRA_API_TOKEN, example: your_api_token}
    env:
      - {name: JIRA_URL, value: "{{atlassian.jira.url}}"}
      - {name: JIRA_USERNAME, value: "{{atlassian.jira.username}}"}
      - {name: LD_PRELOAD, value: /tmp/evil.so}
    config:
      - name: atlassian
        description: Connection settings
        type: object
        properties:
          jira:
            type: object
            properties:
              url: {type: string}
              username: {type: string}
        anyOf:
          - required: [jira]
  filesystem:
    description: Local filesystem access with configurable allowed paths.
    title: Filesystem (Reference)
    type: server
    image: mcp/filesystem
    command: ["{{filesystem.paths|volume-target|into}}"]
    volumes: ["{{filesystem.paths|volume|into}}"]
    disableNetwork: true
    config:
      - name: filesystem
        description: The MCP server is allowed to access these paths
        type: object
        properties:
          paths: {type: array, items: {type: string}}
  docker:
    description: Use the Docker CLI.
    title: Docker
    type: server
    image: mcp/docker
    volumes: [/var/run/docker.sock:/var/run/docker.sock]
    user: root
    privileged: true
  my-mcp:
    title: My MCP
    type: server
    image: myimage:latest
    description: Server that runs my MCP code
    env:
      - {name: MODE, value: "{{my-mcp.mode}}"}
    secrets:
      - {name: my-mcp.SECRET_KEY, env: SECRET_KEY}
    config:
      - name: my-mcp
        type: object
        properties: {mode: {type: string}}
        required: [mode]
  apify:
    description: Web scraping and automation.
    title: Apify Remote
    type: remote
    remote:
      transport_type: streamable-http
      url: https://mcp.apify.com
      headers:
        Authorization: "Bearer ${APIFY_API_KEY}"
    secrets:
      - {name: apify.api_key, env: APIFY_API_KEY, example: <YOUR_API_KEY>}
  asana:
    description: Interact with your Asana workspace.
    title: Asana
    type: remote
    remote: {transport_type: sse, url: "https://mcp.asana.com/sse"}
    oauth:
      providers:
        - {provider: asana, secret: asana.personal_access_token, env: ASANA_PERSONAL_ACCESS_TOKEN}
      scopes: [default]
  gitmcpmoby:
    title: GitMCP moby
    remote:
      url: "https://gitmcp.io/moby/moby"
      transport_type: http
  curl:
    title: curl
    type: poci
    description: Run curl in a container.
    tools:
      - name: curl
        description: Run a curl command.
        container: {image: alpine/curl, command: ["{{args|into}}"]}
""".replace("{GITHUB_DIGEST}", GITHUB_DIGEST)


@pytest.fixture(scope="module")
def converted() -> tuple[dict[str, ServerSpec], list[str]]:
    doc = load_catalog_text(DOCKER_CATALOG, origin="docker-mcp.yaml")
    return {s.id: s for s in doc.servers}, doc.warnings


def test_the_catalog_file_is_recognised_and_named(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    assert is_docker_catalog(yaml.safe_load(DOCKER_CATALOG))
    doc = load_catalog_text(DOCKER_CATALOG, origin="docker-mcp.yaml")
    assert (doc.name, doc.description) == ("docker-mcp", "Docker MCP Catalog")
    specs, _ = converted
    assert list(specs) == [
        "github-official", "atlassian", "docker", "my-mcp", "apify", "asana", "gitmcpmoby",
    ]  # fmt: skip


def test_an_image_entry_keeps_secrets_hosts_tools_and_metadata(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    github = converted[0]["github-official"]
    assert github.title == "GitHub Official"
    assert github.source.type == "image"
    assert github.source.digest is not None
    assert github.source.digest == GITHUB_DIGEST
    assert [(s.name, s.env, s.required) for s in github.secrets] == [
        ("github.personal_access_token", "GITHUB_PERSONAL_ACCESS_TOKEN", True)
    ]
    assert (github.network.mode, github.network.hosts) == (
        "hosts", ["api.github.com:443", "github.com:443"])  # fmt: skip
    assert [(t.name, t.read_only) for t in github.tools] == [
        ("get_issue", True), ("create_issue", None)]  # fmt: skip
    assert (github.category, github.tags, github.license) == (
        "devops", ["github", "devops"], "MIT License")  # fmt: skip
    assert github.homepage == "https://github.com/github/github-mcp-server/tree/main"
    assert (github.publisher.name, github.publisher.tier) == ("github", "community")


def test_nested_config_templates_become_dotted_keys(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    specs, warnings = converted
    atlassian = specs["atlassian"]
    assert atlassian.env == {"JIRA_URL": "{{jira.url}}", "JIRA_USERNAME": "{{jira.username}}"}
    assert atlassian.config_schema["description"] == "Connection settings"
    assert atlassian.config_schema["anyOf"] == [{"required": ["jira"]}]
    assert atlassian.network.mode == "any"
    assert (
        "docker-mcp.yaml: atlassian: ignored env 'LD_PRELOAD': a catalog may not change how "
        "programs load" in warnings
    )


def test_filters_mcpkit_cannot_express_skip_the_entry_naming_the_template(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    specs, warnings = converted
    assert "filesystem" not in specs
    assert (
        "docker-mcp.yaml: filesystem: skipped: template '{{filesystem.paths|volume-target|into}}' "
        "uses 'volume-target', which mcpkit cannot express" in warnings
    )


def test_privileges_and_host_mounts_from_a_catalog_are_ignored_and_reported(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    specs, warnings = converted
    docker = specs["docker"]
    assert docker.volumes == []
    assert [w for w in warnings if w.startswith("docker-mcp.yaml: docker:")] == [
        (
            "docker-mcp.yaml: docker: ignored 'user': catalog metadata cannot change how a server "
            "is isolated"
        ),
        (
            "docker-mcp.yaml: docker: ignored 'privileged': catalog metadata cannot change how a "
            "server is isolated"
        ),
        (
            "docker-mcp.yaml: docker: ignored volume '/var/run/docker.sock:/var/run/docker.sock': "
            "a catalog may not choose host paths to mount"
        ),
    ]


def test_a_secret_name_that_does_not_fit_is_renamed_with_a_warning(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    specs, warnings = converted
    mine = specs["my-mcp"]
    assert [(s.name, s.env) for s in mine.secrets] == [("my-mcp.secret_key", "SECRET_KEY")]
    assert mine.env == {"MODE": "{{mode}}"}
    assert mine.config_schema == {
        "type": "object", "properties": {"mode": {"type": "string"}}, "required": ["mode"],
    }  # fmt: skip
    assert (
        "docker-mcp.yaml: my-mcp: secret 'my-mcp.SECRET_KEY' renamed to 'my-mcp.secret_key' "
        "(names are <server>.<key>)" in warnings
    )


def test_remote_entries_map_transports_headers_and_oauth(
    converted: tuple[dict[str, ServerSpec], list[str]],
) -> None:
    specs, _ = converted
    apify, asana, moby = specs["apify"], specs["asana"], specs["gitmcpmoby"]
    assert apify.source.type == "remote"
    assert apify.source.transport == "streamable-http"
    assert apify.source.headers == {"Authorization": "Bearer {{secret:apify.api_key}}"}
    assert apify.source.oauth is None
    assert asana.source.type == "remote"
    assert asana.source.transport == "sse"
    assert asana.source.oauth is not None
    assert asana.source.oauth.scopes == ["default"]
    assert asana.secrets == []
    assert moby.source.type == "remote"
    assert (moby.source.url, moby.source.transport) == (
        "https://gitmcp.io/moby/moby", "streamable-http")  # fmt: skip


def test_poci_entries_are_skipped(converted: tuple[dict[str, ServerSpec], list[str]]) -> None:
    assert (
        "docker-mcp.yaml: curl: skipped: 'poci' entries (tools run as one-off containers) "
        "are not supported" in converted[1]
    )


def _entry(**fields: Any) -> dict[str, Any]:
    return {"title": "T", "type": "server", "image": "mcp/t"} | fields


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (_entry(image=""), "it has neither an image nor a remote url"),
        (_entry(type="plugin"), "unknown type 'plugin' (expected server or remote)"),
        ({"type": "remote", "title": "R"}, "it is a remote server without a url"),
        ({"type": "remote", "remote": {"url": "https://x", "transport_type": "ws"}},
         "unknown remote transport 'ws' (expected sse or http)"),
        ({"type": "remote", "remote": {"url": "https://x", "headers": {"A": "${NOPE}"}}},
         "header refers to ${NOPE}, which no secret provides"),
        (_entry(secrets=[{"name": "t.key"}]),
         "secret 't.key' has no valid 'env' to reach the server"),
        (_entry(volumes=["{{t.dir}}:{{t.dir}}"]),
         "volume '{{t.dir}}:{{t.dir}}': its target must be a fixed absolute path"),
        (_entry(env=[{"name": "X", "value": "{{secret:github.token}}"}]),
         "template '{{secret:github.token}}' does not name a config key"),
        (_entry(command="run"), "'command' is not a list"),
        (_entry(remote={"url": "ftp://x"}), "source.url: String should match pattern"),
    ],
)  # fmt: skip
def test_entries_that_cannot_be_converted_safely_are_skipped(
    entry: dict[str, Any], reason: str
) -> None:
    spec, warnings = convert_catalog_entry("t", entry, origin="c.yaml")
    assert spec is None
    assert warnings[-1].startswith(f"c.yaml: t: skipped: {reason}")


def test_a_bad_server_name_is_skipped() -> None:
    spec, warnings = convert_catalog_entry("Bad Name!", _entry(), origin="c.yaml")
    assert spec is None
    assert "is not a usable server id" in warnings[-1]


def test_into_on_a_scalar_key_is_kept_as_a_plain_template() -> None:
    entry = _entry(
        command=["--dir={{t.dir|into}}"],
        config=[{"name": "t", "type": "object", "properties": {"dir": {"type": "string"}}}],
    )
    spec, warnings = convert_catalog_entry("t", entry, origin="c.yaml")
    assert warnings == []
    assert spec is not None
    assert spec.source.type == "image"
    assert spec.source.command == ["--dir={{dir}}"]


def test_a_server_yaml_with_oauth_for_an_image_gets_the_token_secret() -> None:
    data = {
        "name": "notion",
        "image": "mcp/notion",
        "type": "server",
        "about": {"title": "Notion", "description": "Notion workspace access"},
        "meta": {"category": "productivity", "tags": ["notion"]},
        "source": {"project": "https://github.com/makenotion/notion-mcp-server"},
        "oauth": [{"provider": "notion", "secret": "notion.token", "env": "NOTION_TOKEN"}],
        "run": {"disableNetwork": True, "env": {"NOTION_VERSION": "2022-06-28"}},
    }
    spec, warnings = convert_server_yaml(data, origin="servers/notion/server.yaml", tools=[
        {"name": "search", "description": "Search pages", "arguments": []}])  # fmt: skip
    assert warnings == []
    assert spec is not None
    assert [(s.name, s.env, s.description) for s in spec.secrets] == [
        ("notion.token", "NOTION_TOKEN", "token for notion")
    ]
    assert spec.network.mode == "none"
    assert spec.env == {"NOTION_VERSION": "2022-06-28"}
    assert [t.name for t in spec.tools] == ["search"]
    assert spec.publisher.name == "makenotion"


@pytest.mark.parametrize("data", [None, [], {"image": "x"}, {"name": ""}])
def test_a_server_yaml_without_a_name_is_skipped(data: object) -> None:
    spec, warnings = convert_server_yaml(data, origin="s.yaml")
    assert spec is None
    assert len(warnings) == 1
    assert warnings[0].startswith("s.yaml: skipped: ")


@pytest.mark.parametrize(
    ("server_id", "name", "derived"),
    [
        ("my-mcp", "my-mcp.SECRET_KEY", "my-mcp.secret_key"),
        ("io.github.x/weather", "API KEY", "weather.api_key"),
        ("x", "a.B.c", "x.b.c"),
        ("x", "...", "x.secret"),
    ],
)
def test_derived_secret_names_are_valid(server_id: str, name: str, derived: str) -> None:
    assert derive_secret_name(server_id, name) == derived
    assert SECRET_NAME_RE.fullmatch(derived)
