"""Build records: where they live, how they survive damage, which spec they stand for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcpkit.catalog.model import CommandSource, ImageSource, PackageSource, ServerSpec
from mcpkit.errors import StateError
from mcpkit.images.records import (
    Artifact,
    BuildRecord,
    load_record,
    record_for,
    record_path,
    save_record,
)

HASH_A = "sha256:" + "a" * 64
HASH_B = "sha256:" + "b" * 64


def make_record(server: str = "time", **fields: object) -> BuildRecord:
    data: dict[str, object] = {
        "server": server,
        "image": f"mcpkit/{server.replace('/', '-')}:1.0",
        "image_id": "sha256:" + "1" * 64,
        "kind": "pypi",
        "package": "mcp-server-time",
        "version": "1.0",
        "artifacts": [Artifact(name="mcp_server_time-1.0-py3-none-any.whl", sha256=HASH_A)],
        "base": "python:3.12-slim",
        "base_id": "sha256:" + "2" * 64,
        "entrypoint": ["/opt/venv/bin/mcp-server-time"],
        "inputs": "sha256:" + "3" * 64,
        "engine": "unix:///var/run/docker.sock",
    } | fields
    return BuildRecord.model_validate(data)


def spec(source: object, server: str = "time") -> ServerSpec:
    return ServerSpec.model_validate({"id": server, "title": "T", "source": source})


def test_a_saved_record_loads_back_equal_with_a_utc_build_time(tmp_path: Path) -> None:
    record = make_record()
    path = save_record(tmp_path, record)
    assert path == tmp_path / "images" / "time.json"
    assert load_record(tmp_path, "time") == record
    assert record.built_at.endswith("Z")
    assert [p.name for p in path.parent.iterdir()] == ["time.json"]  # no temp file left


def test_a_namespaced_id_is_stored_with_its_slash_percent_encoded(tmp_path: Path) -> None:
    record = make_record("io.github.acme/weather")
    path = save_record(tmp_path, record)
    assert path.name == "io.github.acme%2Fweather.json"
    assert path.parent == tmp_path / "images"
    assert record_path(tmp_path, "io.github.acme/weather") == path
    assert load_record(tmp_path, "io.github.acme/weather") == record


def test_saving_again_replaces_the_previous_record(tmp_path: Path) -> None:
    save_record(tmp_path, make_record(version="1.0"))
    save_record(tmp_path, make_record(version="2.0"))
    loaded = load_record(tmp_path, "time")
    assert loaded is not None
    assert loaded.version == "2.0"


def test_a_server_never_built_has_no_record(tmp_path: Path) -> None:
    assert load_record(tmp_path, "time") is None
    assert record_for(tmp_path, spec({"type": "package", "registry": "pypi", "name": "x"})) is None


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"server": "time"}', b"[]", json.dumps({"server": 3}).encode()],
    ids=["broken-json", "missing-fields", "not-an-object", "wrong-type"],
)
def test_a_corrupt_record_is_a_state_error_naming_the_file_and_the_fix(
    tmp_path: Path, content: bytes
) -> None:
    path = record_path(tmp_path, "time")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        load_record(tmp_path, "time")
    assert str(path) in caught.value.message
    assert "corrupt" in caught.value.message
    assert caught.value.hint is not None
    assert "mcpkit build time" in caught.value.hint
    assert path.read_bytes() == content  # left for the user to look at


def test_a_record_filed_under_another_id_is_refused(tmp_path: Path) -> None:
    path = record_path(tmp_path, "time")
    path.parent.mkdir(parents=True)
    path.write_text(make_record("fetch").model_dump_json())
    with pytest.raises(StateError, match="'fetch', not 'time'"):
        load_record(tmp_path, "time")


def test_record_for_matches_the_package_and_an_unpinned_version(tmp_path: Path) -> None:
    save_record(tmp_path, make_record())
    found = record_for(
        tmp_path, spec({"type": "package", "registry": "pypi", "name": "mcp-server-time"})
    )
    assert found is not None
    assert found.image == "mcpkit/time:1.0"


def test_record_for_matches_a_pinned_version_and_a_pinned_hash(tmp_path: Path) -> None:
    save_record(tmp_path, make_record())
    source = PackageSource(registry="pypi", name="mcp-server-time", version="1.0", hashes=[HASH_A])
    assert record_for(tmp_path, spec(source.model_dump())) is not None


@pytest.mark.parametrize(
    "source",
    [
        PackageSource(registry="pypi", name="mcp-server-time", version="2.0"),
        PackageSource(registry="pypi", name="mcp-server-fetch"),
        PackageSource(registry="npm", name="mcp-server-time"),
        PackageSource(registry="pypi", name="mcp-server-time", version="1.0", hashes=[HASH_B]),
        ImageSource(image="mcp/time:1.0"),
        CommandSource(command="mcp-server-time"),
    ],
    ids=["other-version", "other-package", "other-registry", "other-hash", "image", "command"],
)
def test_record_for_refuses_a_record_that_does_not_stand_for_the_spec(
    tmp_path: Path, source: object
) -> None:
    save_record(tmp_path, make_record())
    dumped = source.model_dump() if hasattr(source, "model_dump") else source
    assert record_for(tmp_path, spec(dumped)) is None


def test_record_for_ignores_a_dockerfile_build_of_the_same_id(tmp_path: Path) -> None:
    save_record(tmp_path, make_record(kind="dockerfile", package=None, version=None))
    source = {"type": "package", "registry": "pypi", "name": "mcp-server-time"}
    assert record_for(tmp_path, spec(source)) is None
