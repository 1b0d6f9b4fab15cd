"""Profile OCI artifacts: ours round-trips with its lock, Docker's converts, secrets never pass.

Manifests are real ``mcpkit.oci.media.Manifest`` objects built from the manifest JSON
the client would push. The end-to-end byte scan with real secrets set is the lead's
(``profile push`` against a registry); here the document builder is shown to take names only.
"""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mcpkit.catalog.artifact import CATALOG_ARTIFACT_TYPE, DOCKER_PROFILE_ARTIFACT_TYPE
from mcpkit.catalog.model import SECRET_NAME_RE, ServerSpec
from mcpkit.errors import ProfileFormatError
from mcpkit.gateway.leaks import LeakScanner
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
from mcpkit.profiles.artifact import (
    MAX_PROFILE_BYTES,
    PROFILE_ARTIFACT_TYPE,
    PROFILE_LAYER_MEDIA_TYPE,
    PulledProfile,
    profile_layers,
    read_profile_artifact,
)
from mcpkit.profiles.io import to_document
from mcpkit.profiles.model import Pins, Profile, ProfileServer, ServerRun, ToolFilter

DIGEST = "sha256:" + "ab" * 32
HASH = "sha256:" + "cd" * 32
TOOL_HASH = "sha256:" + "ef" * 32
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


TIME = ServerSpec.model_validate(
    {
        "id": "time",
        "title": "Time",
        "source": {"type": "package", "registry": "pypi", "name": "mcp-server-time"},
        "config_schema": {"type": "object", "properties": {"timezone": {"type": "string"}}},
    }
)
MINE = ServerSpec.model_validate(
    {
        "id": "mine",
        "title": "Mine",
        "publisher": {"name": "local", "tier": "local"},
        "source": {"type": "image", "image": f"registry.local/mine@{DIGEST}"},
        "secrets": [{"name": "mine.api_key", "env": "API_KEY"}],
    }
)
NOTION = ServerSpec.model_validate(
    {
        "id": "notion",
        "title": "Notion",
        "source": {
            "type": "remote",
            "url": "https://mcp.notion.com/mcp",
            "headers": {"Authorization": "Bearer {{secret:notion.token}}"},
            "oauth": {"scopes": ["read"]},
        },
        "secrets": [{"name": "notion.token", "required": False}],
    }
)
GITHUB = ServerSpec.model_validate(
    {
        "id": "github",
        "title": "GitHub",
        "source": {"type": "image", "image": "mcp/github"},
        "secrets": [{"name": "github.token", "env": "GITHUB_TOKEN"}],
    }
)


def team_profile() -> Profile:
    return Profile(
        name="team",
        description="What the team runs",
        servers=[
            ProfileServer(
                id="time",
                config={"timezone": "Europe/Paris"},
                tools=ToolFilter(allow=["get_current_time"], deny=["convert_time"]),
                pins=Pins(
                    package_version="2025.9.25",
                    package_hashes=[HASH],
                    tools={"get_current_time": TOOL_HASH},
                ),
            ),
            ProfileServer(
                id="mine",
                spec=MINE,
                pins=Pins(image_digest=DIGEST),
                run=ServerRun(runtime="docker", memory="256m"),
            ),
            ProfileServer(id="notion", spec=NOTION),
        ],
    )


def team_document() -> dict[str, Any]:
    return to_document(team_profile(), {"time": TIME, "mine": MINE, "notion": NOTION})


def round_trip(doc: dict[str, Any], **kwargs: Any) -> PulledProfile:
    kind, layers, annotations = profile_layers(doc, created=WHEN)
    manifest = manifest_for(kind, layers, annotations)
    return read_profile_artifact(
        manifest, [layer.data for layer in layers], origin="reg/team:1", **kwargs
    )


def test_our_profile_round_trips_with_pins_config_tool_filters_and_carried_specs() -> None:
    result = round_trip(team_document())

    assert result.format == "mcpkit"
    assert result.profile == team_profile()
    assert result.specs == {"mine": MINE, "notion": NOTION}
    assert result.secrets == ["mine.api_key", "notion.token"]
    assert result.authorizations == ["notion"]
    assert result.warnings == []


def test_the_artifact_has_our_types_and_annotations_with_a_lock_summary() -> None:
    kind, layers, annotations = profile_layers(team_document(), created=WHEN)

    assert kind == PROFILE_ARTIFACT_TYPE
    assert [layer.media_type for layer in layers] == [PROFILE_LAYER_MEDIA_TYPE]
    assert layers[0].annotations == {"org.opencontainers.image.title": "team.profile.json"}
    assert annotations == {
        "org.opencontainers.image.title": "team",
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.description": "What the team runs",
        "dev.mcpkit.profile.name": "team",
        "dev.mcpkit.profile.lock": (
            "servers=3,image-digests=1,package-hashes=1,tool-pins=1,unpinned=1"
        ),
    }


def test_the_same_profile_always_gives_the_same_layer_bytes() -> None:
    first = profile_layers(team_document(), created=WHEN)[1][0].data
    second = profile_layers(team_document(), created=WHEN)[1][0].data

    assert first == second
    assert json.loads(first)["kind"] == "mcpkit/profile"


def test_pulling_under_another_name_renames_the_profile() -> None:
    result = round_trip(team_document(), name="copy")

    assert result.profile.name == "copy"
    assert result.instructions()[-1] == "mcpkit oauth authorize notion --profile copy"


def test_the_instructions_are_the_exact_commands_that_provide_what_is_needed() -> None:
    result = round_trip(team_document())

    assert result.instructions() == [
        "mcpkit secret set mine.api_key",
        "mcpkit secret set notion.token",
        "mcpkit oauth authorize notion --profile team",
    ]


def test_known_catalog_servers_add_their_secrets_and_authorizations() -> None:
    profile = Profile(name="p", servers=[ProfileServer(id="github"), ProfileServer(id="notion")])
    doc = to_document(profile, {"github": GITHUB, "notion": NOTION})
    known = {"github": GITHUB, "notion": NOTION}

    result = round_trip(doc, known=known.get)

    assert result.specs == {}
    assert result.secrets == ["github.token", "notion.token"]
    assert result.authorizations == ["notion"]


def test_the_document_builder_takes_only_a_profile_and_specs_and_writes_only_names() -> None:
    # Secret values cannot reach the document: nothing that holds one is a parameter.
    assert list(inspect.signature(to_document).parameters) == ["profile", "specs"]
    _, layers, annotations = profile_layers(team_document(), created=WHEN)
    layer = json.loads(layers[0].data)

    assert layer["secrets"] == ["mine.api_key", "notion.token"]
    assert all(SECRET_NAME_RE.fullmatch(name) for name in layer["secrets"])
    assert LeakScanner().scan(layer) is None
    assert LeakScanner().scan(annotations) is None
    headers = layer["servers"][2]["spec"]["source"]["headers"]
    assert headers == {"Authorization": "Bearer {{secret:notion.token}}"}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["servers"][0].update(config={"api_key": "hunter2-value"}), "config.api_key"),
        (
            lambda d: d["servers"][0].update(config={"notes": "ghp_" + "A1b2C3d4E5" * 4}),
            "GitHub token",
        ),
        (
            lambda d: d["servers"][2]["spec"]["source"].update(
                headers={"Authorization": "Bearer hunter2-value"}
            ),
            "headers.Authorization",
        ),
        (lambda d: d.update(secrets={"mine.api_key": "hunter2-value"}), "maps names to values"),
        (lambda d: d.update(secrets=["mine.api_key=hunter2-value"]), "secrets[0]"),
    ],
)
def test_a_profile_holding_a_secret_value_is_refused_on_push_and_on_pull(
    change: Any, where: str
) -> None:
    doc = team_document()
    change(doc)

    with pytest.raises(ProfileFormatError) as pushed:
        profile_layers(doc)
    manifest, blobs = pulled(
        PROFILE_ARTIFACT_TYPE, [(canonical_json(doc), PROFILE_LAYER_MEDIA_TYPE)]
    )
    with pytest.raises(ProfileFormatError) as pull:
        read_profile_artifact(manifest, blobs, origin="reg/team:1")

    for info in (pushed, pull):
        assert info.value.code == "secret-value"
        assert where in info.value.message
        assert "hunter2" not in info.value.message
        assert "ghp_" not in info.value.message
        assert info.value.hint is not None and "rotate" in info.value.hint


# Shape from docker/mcp-gateway pkg/workingset/workingset.go (WorkingSet and Server JSON
# tags: version, id, name, servers[type, image|endpoint|source, config, secrets, tools,
# catalogRef, snapshot{server}], secrets{name: {provider}}) and pkg/catalog/types.go for
# the snapshot server; see /work/notes/docker_oci_formats.md.
GITHUB_SNAPSHOT: dict[str, Any] = {
    "name": "github",
    "type": "server",
    "image": "mcp/github:latest",
    "title": "GitHub",
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
}
NOTION_SNAPSHOT: dict[str, Any] = {
    "name": "notion-remote",
    "type": "remote",
    "image": "",
    "title": "Notion",
    "remote": {"url": "https://mcp.notion.com/mcp", "transport_type": "streamable-http"},
    "oauth": {"providers": [{"provider": "notion"}], "scopes": ["read"]},
}


def docker_profile() -> dict[str, Any]:
    return {
        "version": 1,
        "id": "my_team",
        "name": "My Team",
        "servers": [
            {
                "type": "image",
                "image": f"mcp/github@{DIGEST}",
                "config": {"host": "github.example.com"},
                "secrets": "default",
                "tools": ["create_issue"],
                "catalogRef": "mcp/docker-mcp-catalog:latest",
                "snapshot": {"server": GITHUB_SNAPSHOT},
            },
            {
                "type": "remote",
                "endpoint": "https://mcp.notion.com/mcp",
                "secrets": "default",
                "tools": None,
                "snapshot": {"server": NOTION_SNAPSHOT},
            },
            {"type": "image", "image": "registry.example.com/tools/clock:1.0", "tools": []},
            {
                "type": "registry",
                "source": "https://registry.modelcontextprotocol.io/v0/servers/x/versions/1",
                "tools": None,
            },
        ],
        "secrets": {"default": {"provider": "docker-desktop-store"}},
    }


def read_docker(doc: dict[str, Any], **kwargs: Any) -> PulledProfile:
    manifest, blobs = pulled(
        DOCKER_PROFILE_ARTIFACT_TYPE, [(json.dumps(doc).encode(), "application/json")]
    )
    return read_profile_artifact(manifest, blobs, origin="docker.io/acme/team:1", **kwargs)


def test_a_docker_profile_becomes_our_profile_with_specs_config_tools_and_pins() -> None:
    result = read_docker(docker_profile())

    assert result.format == "docker"
    assert result.profile.name == "my_team"
    assert result.profile.description == "My Team"
    github, notion, clock = result.profile.servers
    assert github.id == "github"
    assert github.config == {"host": "github.example.com"}
    assert github.tools == ToolFilter(allow=["create_issue"])
    assert github.pins.image_digest == DIGEST
    assert github.spec is not None and github.spec.source.type == "image"
    assert github.spec.source.image == f"mcp/github@{DIGEST}"
    assert notion.id == "notion-remote" and notion.tools.is_default
    assert notion.spec is not None and notion.spec.is_remote
    assert clock.id == "clock" and clock.tools == ToolFilter(allow=[])
    assert clock.pins.image_digest is None
    assert set(result.specs) == {"github", "notion-remote", "clock"}
    assert result.secrets == ["github.personal_access_token"]
    assert result.authorizations == ["notion-remote"]
    assert result.instructions() == [
        "mcpkit secret set github.personal_access_token",
        "mcpkit oauth authorize notion-remote --profile my_team",
    ]
    assert any("servers[2]" in w and "bare image" in w for w in result.warnings)
    assert any("servers[3]" in w and "skipped" in w for w in result.warnings)


def test_a_docker_profile_can_be_pulled_under_our_name() -> None:
    assert read_docker(docker_profile(), name="team").profile.name == "team"


def test_a_docker_profile_whose_secrets_entry_holds_more_than_a_provider_is_refused() -> None:
    doc = docker_profile()
    doc["secrets"] = {"default": {"provider": "docker-desktop-store", "value": "hunter2-value"}}

    with pytest.raises(ProfileFormatError) as info:
        read_docker(doc)

    assert info.value.code == "secret-value"
    assert "secrets.default holds 'value'" in info.value.message
    assert "hunter2" not in info.value.message


def test_a_docker_profile_with_a_literal_token_in_a_snapshot_is_refused() -> None:
    doc = docker_profile()
    snapshot = dict(GITHUB_SNAPSHOT, env=[{"name": "GITHUB_TOKEN", "value": "hunter2-value"}])
    doc["servers"][0]["snapshot"] = {"server": snapshot}

    with pytest.raises(ProfileFormatError) as info:
        read_docker(doc)

    assert info.value.code == "secret-value"
    assert "GITHUB_TOKEN" in info.value.message
    assert "hunter2" not in info.value.message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(version=2), "Docker profile version 2 is not supported"),
        (lambda d: d.update(servers={}), "'servers' is not a list"),
        (lambda d: d["servers"][0].update(tools="create_issue"), "servers[0]: 'tools' is not"),
        (lambda d: d["servers"][0].update(config=["x"]), "servers[0]: 'config' is not a mapping"),
        (lambda d: d.update(secrets=["default"]), "'secrets' is not a mapping"),
        (lambda d: d.update(id="!!!", name="???"), "no usable id or name"),
    ],
)
def test_a_malformed_docker_profile_is_refused_with_a_clear_error(
    change: Any, expected: str
) -> None:
    doc = docker_profile()
    change(doc)

    with pytest.raises(ProfileFormatError) as info:
        read_docker(doc)

    assert expected in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    ("artifact_type", "blobs", "expected"),
    [
        (
            "application/vnd.oci.image.config.v1+json",
            [(b"{}", "application/vnd.oci.image.layer.v1.tar+gzip")],
            "artifact type 'application/vnd.oci.image.config.v1+json' is not a profile",
        ),
        (CATALOG_ARTIFACT_TYPE, [(b"{}", CATALOG_ARTIFACT_TYPE)], "is a catalog, not a profile"),
        (PROFILE_ARTIFACT_TYPE, [], "has no layer"),
        (
            PROFILE_ARTIFACT_TYPE,
            [(b"{}", "application/json")],
            "expected exactly one layer of type application/vnd.mcpkit.profile.v1+json",
        ),
        (PROFILE_ARTIFACT_TYPE, [(b"name: team\n", PROFILE_LAYER_MEDIA_TYPE)], "not JSON"),
        (PROFILE_ARTIFACT_TYPE, [(b'"team"', PROFILE_LAYER_MEDIA_TYPE)], "not an object"),
        (
            PROFILE_ARTIFACT_TYPE,
            [(b'{"kind": "mcpkit/catalog", "name": "x"}', PROFILE_LAYER_MEDIA_TYPE)],
            "kind 'mcpkit/catalog' is not 'mcpkit/profile'",
        ),
        (
            PROFILE_ARTIFACT_TYPE,
            [(b'{"kind": "mcpkit/profile", "version": 2, "name": "x"}', PROFILE_LAYER_MEDIA_TYPE)],
            "document version 2 is not supported",
        ),
        (
            PROFILE_ARTIFACT_TYPE,
            [(b'{"kind": "mcpkit/profile", "name": "Bad Name"}', PROFILE_LAYER_MEDIA_TYPE)],
            "name: Value error, profile name 'Bad Name'",
        ),
        (
            PROFILE_ARTIFACT_TYPE,
            [(b'{"kind": "mcpkit/profile", "name": "x", "secrets": 3}', PROFILE_LAYER_MEDIA_TYPE)],
            "'secrets' is not a list of names",
        ),
        (
            DOCKER_PROFILE_ARTIFACT_TYPE,
            [(b"{}", "application/vnd.oci.image.layer.v1.tar")],
            "its first layer is 'application/vnd.oci.image.layer.v1.tar', not JSON",
        ),
    ],
)
def test_a_malformed_profile_artifact_is_refused_with_a_clear_error(
    artifact_type: str, blobs: list[tuple[bytes, str]], expected: str
) -> None:
    manifest, data = pulled(artifact_type, blobs)

    with pytest.raises(ProfileFormatError) as info:
        read_profile_artifact(manifest, data, origin="reg/x:1")

    assert info.value.code == "profile-format"
    assert info.value.message.startswith("reg/x:1: ")
    assert expected in info.value.message


def test_a_profile_layer_larger_than_the_limit_is_refused() -> None:
    big = b'{"pad": "' + b"x" * MAX_PROFILE_BYTES + b'"}'
    manifest, blobs = pulled(PROFILE_ARTIFACT_TYPE, [(big, PROFILE_LAYER_MEDIA_TYPE)])

    with pytest.raises(ProfileFormatError, match="more than the limit of 5 MiB"):
        read_profile_artifact(manifest, blobs, origin="o")


def test_pushing_something_that_is_not_a_profile_document_is_refused() -> None:
    with pytest.raises(ProfileFormatError, match="kind None is not 'mcpkit/profile'"):
        profile_layers({"name": "team", "servers": []})
