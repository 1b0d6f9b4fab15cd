"""Catalog OCI artifacts: ours round-trips, Docker's converts, bad artifacts are refused.

Manifests are real ``mcpkit.oci.media.Manifest`` objects built from the manifest JSON
the client would push, so the reader sees exactly what a pull hands it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mcpkit.catalog.artifact import (
    CATALOG_ARTIFACT_TYPE,
    CATALOG_LAYER_MEDIA_TYPE,
    DOCKER_CATALOG_ARTIFACT_TYPE,
    DOCKER_PROFILE_ARTIFACT_TYPE,
    catalog_layers,
    find_secret_value,
    read_catalog_artifact,
)
from mcpkit.catalog.document import dump_catalog
from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import CatalogFormatError
from mcpkit.oci.media import (
    EMPTY_CONFIG_DATA,
    EMPTY_CONFIG_MEDIA_TYPE,
    OCI_MANIFEST,
    Descriptor,
    Layer,
    Manifest,
    canonical_json,
    image_manifest,
    sha256_digest,
)

DIGEST = "sha256:" + "ab" * 32
HASH = "sha256:" + "cd" * 32
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def manifest_for(
    artifact_type: str, layers: list[Layer], annotations: dict[str, str] | None = None
) -> Manifest:
    """The manifest the OCI client pushes for these layers, as a pull returns it."""
    config = Descriptor(
        EMPTY_CONFIG_MEDIA_TYPE, sha256_digest(EMPTY_CONFIG_DATA), len(EMPTY_CONFIG_DATA)
    )
    data = image_manifest(
        artifact_type=artifact_type,
        config=config,
        layers=[layer.descriptor() for layer in layers],
        annotations=annotations,
        subject=None,
    )
    raw = canonical_json(data)
    return Manifest(Descriptor(OCI_MANIFEST, sha256_digest(raw), len(raw)), raw, data)


def pulled(artifact_type: str, blobs: list[tuple[bytes, str]]) -> tuple[Manifest, list[bytes]]:
    layers = [Layer(data=data, media_type=media) for data, media in blobs]
    return manifest_for(artifact_type, layers), [data for data, _ in blobs]


def team_catalog() -> dict[str, Any]:
    specs = [
        ServerSpec.model_validate(
            {
                "id": "github",
                "title": "GitHub",
                "source": {"type": "image", "image": f"ghcr.io/acme/github-mcp@{DIGEST}"},
                "secrets": [{"name": "github.token", "env": "GITHUB_TOKEN"}],
                "config_schema": {"type": "object", "properties": {"host": {"type": "string"}}},
                "env": {"GITHUB_HOST": "{{host}}"},
            }
        ),
        ServerSpec.model_validate(
            {
                "id": "time",
                "title": "Time",
                "source": {
                    "type": "package",
                    "registry": "pypi",
                    "name": "mcp-server-time",
                    "version": "2025.9.25",
                    "hashes": [HASH],
                },
            }
        ),
        ServerSpec.model_validate(
            {
                "id": "notion",
                "title": "Notion",
                "source": {
                    "type": "remote",
                    "url": "https://mcp.notion.com/mcp",
                    "headers": {"Authorization": "Bearer {{secret:notion.token}}"},
                },
                "secrets": [{"name": "notion.token"}],
            }
        ),
    ]
    return dump_catalog("team", "Servers my team uses", specs)


# Shape from docker/mcp-gateway pkg/catalog_next/catalog.go (CatalogArtifact: title,
# servers[type, image|endpoint|source, tools, snapshot{server}]) and pkg/catalog/types.go
# (the snapshot server's JSON tags); see /work/notes/docker_oci_formats.md.
GITHUB_SNAPSHOT: dict[str, Any] = {
    "name": "github",
    "type": "server",
    "image": "mcp/github:latest",
    "title": "GitHub",
    "description": "Issues and pull requests",
    "remote": {},
    "secrets": [{"name": "github.personal_access_token", "env": "GITHUB_PERSONAL_ACCESS_TOKEN"}],
    "env": [{"name": "GITHUB_HOST", "value": "{{github.host}}"}],
    "config": [
        {
            "name": "github",
            "description": "GitHub settings",
            "type": "object",
            "properties": {"host": {"type": "string", "description": "GitHub host"}},
        }
    ],
    "tools": [{"name": "create_issue", "description": "Create an issue"}],
    "allowHosts": ["api.github.com:443"],
    "metadata": {"category": "devops", "tags": ["github"], "owner": "docker"},
}
NOTION_SNAPSHOT: dict[str, Any] = {
    "name": "notion-remote",
    "type": "remote",
    "image": "",
    "title": "Notion",
    "remote": {"url": "https://mcp.notion.com/mcp", "transport_type": "streamable-http"},
    "oauth": {"providers": [{"provider": "notion"}], "scopes": ["read"]},
}


def docker_catalog() -> dict[str, Any]:
    return {
        "title": "Team catalog",
        "servers": [
            {
                "type": "image",
                "image": f"mcp/github@{DIGEST}",
                "tools": ["create_issue"],
                "snapshot": {"server": GITHUB_SNAPSHOT},
            },
            {
                "type": "remote",
                "endpoint": "https://mcp.notion.com/mcp",
                "snapshot": {"server": NOTION_SNAPSHOT},
            },
            {
                "type": "registry",
                "source": "https://registry.modelcontextprotocol.io/v0/servers/x/versions/1.0.0",
            },
        ],
    }


def test_our_catalog_round_trips_with_its_lock_and_annotations() -> None:
    doc = team_catalog()

    kind, layers, annotations = catalog_layers(doc, created=WHEN)
    manifest = manifest_for(kind, layers, annotations)
    document = read_catalog_artifact(manifest, [layers[0].data], origin="reg/team:1")

    assert kind == CATALOG_ARTIFACT_TYPE
    assert [layer.media_type for layer in layers] == [CATALOG_LAYER_MEDIA_TYPE]
    assert dump_catalog(document.name, document.description, document.servers) == doc
    assert document.warnings == []
    assert annotations == {
        "org.opencontainers.image.title": "team",
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.description": "Servers my team uses",
        "dev.mcpkit.catalog.name": "team",
        "dev.mcpkit.catalog.lock": (
            "servers=3,images=1,pinned-images=1,packages=1,hashed-packages=1,remote=1"
        ),
    }


def test_the_same_catalog_always_gives_the_same_layer_bytes() -> None:
    first = catalog_layers(team_catalog(), created=WHEN)
    reordered = dict(reversed(list(team_catalog().items())))
    second = catalog_layers(reordered, created=WHEN)

    assert first[1][0].data == second[1][0].data
    assert json.loads(first[1][0].data)["version"] == 1


def test_a_docker_registry_form_catalog_is_pushed_in_our_form() -> None:
    docker_file = {"registry": {"github": GITHUB_SNAPSHOT}}

    _, layers, annotations = catalog_layers(docker_file, created=WHEN)

    data = json.loads(layers[0].data)
    assert [s["id"] for s in data["servers"]] == ["github"]
    assert "registry" not in data
    assert annotations["dev.mcpkit.catalog.lock"].startswith("servers=1,images=1,")


def test_a_docker_catalog_artifact_converts_each_server_from_its_snapshot() -> None:
    manifest, blobs = pulled(
        DOCKER_CATALOG_ARTIFACT_TYPE,
        [(json.dumps(docker_catalog()).encode(), "application/json")],
    )

    document = read_catalog_artifact(manifest, blobs, origin="mcp/team-catalog:latest")

    assert document.name == ""
    assert document.description == "Team catalog"
    github, notion = document.servers
    # The profile server's digest-pinned image wins over the snapshot's tag.
    assert github.source.type == "image"
    assert github.source.image == f"mcp/github@{DIGEST}"
    assert github.secret_names == ["github.personal_access_token"]
    assert github.env == {"GITHUB_HOST": "{{host}}"}
    assert notion.is_remote
    assert notion.source.type == "remote"
    assert notion.source.oauth is not None
    assert len(document.warnings) == 1
    assert "servers[2]" in document.warnings[0]
    assert "no snapshot" in document.warnings[0]


def test_a_docker_catalog_entry_with_a_literal_credential_is_dropped_with_a_warning() -> None:
    leaky = dict(GITHUB_SNAPSHOT, name="leaky")
    leaky["env"] = [{"name": "SERVICE_API_TOKEN", "value": "hunter2-literal-value"}]
    catalog = {"title": "t", "servers": [{"type": "image", "snapshot": {"server": leaky}}]}
    manifest, blobs = pulled(
        DOCKER_CATALOG_ARTIFACT_TYPE, [(json.dumps(catalog).encode(), "application/json")]
    )

    document = read_catalog_artifact(manifest, blobs, origin="o")

    assert document.servers == []
    assert any("leaky: skipped" in w and "SERVICE_API_TOKEN" in w for w in document.warnings)
    assert all("hunter2" not in w for w in document.warnings)


def test_a_legacy_registry_catalog_inside_a_docker_artifact_is_read() -> None:
    legacy = {"name": "docker-mcp", "registry": {"github": GITHUB_SNAPSHOT}}
    manifest, blobs = pulled(
        DOCKER_CATALOG_ARTIFACT_TYPE, [(json.dumps(legacy).encode(), "application/json")]
    )

    document = read_catalog_artifact(manifest, blobs, origin="o")

    assert [s.id for s in document.servers] == ["github"]


def test_pushing_a_catalog_with_a_secret_value_is_refused_without_quoting_it() -> None:
    doc = team_catalog()
    doc["servers"][0]["env"] = {"GITHUB_HOST": "{{host}}", "GITHUB_TOKEN": "not-a-template-x1"}

    with pytest.raises(CatalogFormatError) as info:
        catalog_layers(doc)

    assert info.value.code == "secret-value"
    assert "servers[0].env.GITHUB_TOKEN" in info.value.message
    assert "not-a-template-x1" not in info.value.message
    assert info.value.hint is not None and "mcpkit secret set" in info.value.hint


def test_pulling_our_catalog_with_a_known_token_format_is_refused() -> None:
    doc = team_catalog()
    token = "ghp_" + "A1b2C3d4E5" * 4
    doc["servers"][1]["description"] = f"use {token}"
    manifest, blobs = pulled(
        CATALOG_ARTIFACT_TYPE, [(canonical_json(doc), CATALOG_LAYER_MEDIA_TYPE)]
    )

    with pytest.raises(CatalogFormatError) as info:
        read_catalog_artifact(manifest, blobs, origin="reg/team:1")

    assert info.value.code == "secret-value"
    assert "GitHub token" in info.value.message
    assert token not in str(info.value)


@pytest.mark.parametrize(
    ("value", "leak"),
    [
        ("{{secret:github.token}}", False),
        ("${GITHUB_TOKEN}", False),
        ("github.token", False),
        ("/app/.config/gcloud/credentials.json", False),
        ("true", False),
        ("s3cr3t-value", True),
    ],
)
def test_only_literal_values_under_credential_names_count_as_secrets(
    value: str, leak: bool
) -> None:
    assert (find_secret_value({"env": {"API_TOKEN": value}}) is not None) is leak


def test_names_that_merely_contain_token_words_are_not_credentials() -> None:
    data = {"config": {"max_tokens": "1000", "token_url": "https://x/t", "password_file": "x"}}

    assert find_secret_value(data) is None


@pytest.mark.parametrize(
    ("artifact_type", "blobs", "expected"),
    [
        (
            "application/vnd.example.other+json",
            [(b"{}", "application/json")],
            "artifact type 'application/vnd.example.other+json' is not a catalog",
        ),
        (
            DOCKER_PROFILE_ARTIFACT_TYPE,
            [(b"{}", "application/json")],
            "is a profile, not a catalog",
        ),
        (CATALOG_ARTIFACT_TYPE, [], "has no layer"),
        (
            CATALOG_ARTIFACT_TYPE,
            [(b"{}", "application/octet-stream")],
            "expected exactly one layer of type application/vnd.mcpkit.catalog.v1+json",
        ),
        (CATALOG_ARTIFACT_TYPE, [(b"\xff\xfe", CATALOG_LAYER_MEDIA_TYPE)], "not JSON"),
        (CATALOG_ARTIFACT_TYPE, [(b"[1, 2]", CATALOG_LAYER_MEDIA_TYPE)], "not an object"),
        (
            CATALOG_ARTIFACT_TYPE,
            [(b'{"version": 2, "servers": []}', CATALOG_LAYER_MEDIA_TYPE)],
            "written by a newer mcpkit",
        ),
        (
            CATALOG_ARTIFACT_TYPE,
            [(b'{"version": 1, "servers": [{"id": "x"}]}', CATALOG_LAYER_MEDIA_TYPE)],
            'servers[0] (id "x"): title: is required',
        ),
        (
            DOCKER_CATALOG_ARTIFACT_TYPE,
            [(b'{"title": "t", "servers": {}}', "application/json")],
            "needs a 'servers' list",
        ),
        (
            DOCKER_CATALOG_ARTIFACT_TYPE,
            [(b'{"title": "t", "servers": []}', "application/vnd.oci.image.layer.v1.tar")],
            "not JSON",
        ),
    ],
)
def test_a_malformed_catalog_artifact_is_refused_with_a_clear_error(
    artifact_type: str, blobs: list[tuple[bytes, str]], expected: str
) -> None:
    manifest, data = pulled(artifact_type, blobs)

    with pytest.raises(CatalogFormatError) as info:
        read_catalog_artifact(manifest, data, origin="reg/x:1")

    assert info.value.message.startswith("reg/x:1: ")
    assert expected in info.value.message
    assert info.value.hint


def test_a_layer_larger_than_the_limit_is_refused() -> None:
    big = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    manifest, blobs = pulled(CATALOG_ARTIFACT_TYPE, [(big, CATALOG_LAYER_MEDIA_TYPE)])

    with pytest.raises(CatalogFormatError, match="more than the limit of 10 MiB"):
        read_catalog_artifact(manifest, blobs, origin="o")


def test_layers_that_do_not_match_the_manifest_are_refused() -> None:
    manifest, _ = pulled(CATALOG_ARTIFACT_TYPE, [(b"{}", CATALOG_LAYER_MEDIA_TYPE)])

    with pytest.raises(CatalogFormatError, match="lists 1 layers but 0 were given"):
        read_catalog_artifact(manifest, [], origin="o")


def test_pushing_an_invalid_catalog_is_refused() -> None:
    with pytest.raises(CatalogFormatError, match="has no 'servers' list"):
        catalog_layers({"version": 1, "name": "x"})
