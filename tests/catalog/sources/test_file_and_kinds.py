"""The file source, guessing a location's kind, and what every source promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CATALOG_YAML, CatalogServer
from mcpkit.catalog.sources import (
    CatalogSource,
    FileSource,
    FolderSource,
    RegistrySource,
    UrlSource,
    Validators,
    guess_kind,
    make_source,
)
from mcpkit.errors import CatalogFormatError, SourceError, UsageError


def test_a_catalog_file_is_read_and_unchanged_bytes_are_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_bytes(CATALOG_YAML)
    source = make_source("file", str(path))
    first = source.fetch(Validators())
    assert first.document is not None
    assert [s.id for s in first.document.servers] == ["time"]
    assert first.validators.etag is None
    second = source.fetch(first.validators)
    assert second.document is None
    path.write_bytes(CATALOG_YAML.replace(b"Time", b"Clock"))
    third = source.fetch(first.validators)
    assert third.document is not None
    assert third.document.servers[0].title == "Clock"


def test_a_json_catalog_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "team.json"
    path.write_text(
        '{"version": 1, "servers": [{"id": "git", "title": "Git", "source": '
        '{"type": "package", "registry": "pypi", "name": "mcp-server-git"}}]}'
    )
    result = FileSource(str(path)).fetch(Validators())
    assert result.document is not None
    assert result.document.servers[0].id == "git"


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "gone.yaml"
    with pytest.raises(SourceError) as info:
        FileSource(str(path)).fetch(Validators())
    assert info.value.message == f"catalog file {path} does not exist"
    assert info.value.hint


def test_an_unreadable_path_is_a_source_error_with_the_reason(tmp_path: Path) -> None:
    parent = tmp_path / "not-a-dir"
    parent.write_text("plain file")
    path = parent / "team.yaml"
    with pytest.raises(SourceError) as info:
        FileSource(str(path)).fetch(Validators())
    assert info.value.message == f"cannot read catalog file {path}: Not a directory"
    assert info.value.hint


def test_a_malformed_file_is_a_format_error_and_the_file_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    text = CATALOG_YAML.replace(b"version: 1", b"version: 7")
    path.write_bytes(text)
    with pytest.raises(CatalogFormatError) as info:
        FileSource(str(path)).fetch(Validators())
    assert info.value.message.startswith(f"{path}: catalog version 7 was written by a newer mcpkit")
    assert path.read_bytes() == text


def test_a_directory_given_as_a_file_says_to_use_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        FileSource(str(tmp_path)).fetch(Validators())
    assert "is a directory" in info.value.message
    assert info.value.hint is not None
    assert "folder" in info.value.hint


def test_kinds_are_guessed_from_the_location(tmp_path: Path) -> None:
    (tmp_path / "servers" / "time").mkdir(parents=True)
    (tmp_path / "servers" / "time" / "server.yaml").write_text("name: time\n")
    catalog = tmp_path / "c.yaml"
    catalog.write_bytes(CATALOG_YAML)
    assert guess_kind("https://registry.modelcontextprotocol.io/v0/servers") == "registry"
    assert guess_kind("https://registry.example.com/api/v0.1/servers?search=git") == "registry"
    assert guess_kind("https://example.com/catalog.yaml") == "url"
    assert guess_kind("http://127.0.0.1:8080/") == "url"
    assert guess_kind(str(tmp_path)) == "folder"
    assert guess_kind(str(catalog)) == "file"


@pytest.mark.parametrize("location", ["ftp://example.com/c.yaml", "/no/such/catalog.yaml"])
def test_unknown_locations_are_usage_errors_with_a_hint(location: str) -> None:
    with pytest.raises(UsageError) as info:
        guess_kind(location)
    assert location in info.value.message
    assert info.value.hint


def test_a_folder_without_servers_is_not_guessed(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"without servers/<name>/server\.yaml"):
        guess_kind(str(tmp_path))


def test_an_unknown_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        make_source("ftp", "ftp.example.com/catalog.yaml")
    assert info.value.message == "unknown catalog source kind 'ftp'"
    assert info.value.hint == "use one of: file, url, registry, folder, oci"


def test_every_source_kind_implements_the_protocol(
    tmp_path: Path, catalog_server: CatalogServer
) -> None:
    (tmp_path / "servers" / "time").mkdir(parents=True)
    (tmp_path / "servers" / "time" / "server.yaml").write_text(
        "name: time\nimage: mcp/time\ntype: server\nabout: {title: Time}\n"
    )
    catalog = tmp_path / "c.yaml"
    catalog.write_bytes(CATALOG_YAML)
    sources = [
        make_source("file", str(catalog)),
        make_source("folder", str(tmp_path)),
        make_source("url", catalog_server.url("/catalog.yaml")),
        make_source("registry", catalog_server.url("/v0/servers")),
    ]
    expected = [FileSource, FolderSource, UrlSource, RegistrySource]
    for source, cls in zip(sources, expected, strict=True):
        assert isinstance(source, CatalogSource)
        assert isinstance(source, cls)
        first = source.fetch(Validators())
        assert first.document is not None
        assert first.document.servers
        assert source.fetch(first.validators).document is None, source.kind
    assert [s.kind for s in sources] == ["file", "folder", "url", "registry"]
