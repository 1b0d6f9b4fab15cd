"""Catalog documents: parsing, dumping, and a clear error for every malformed case."""

from __future__ import annotations

import pytest

from mcpkit.catalog.document import (
    MAX_DOCUMENT_BYTES,
    CatalogDocument,
    dump_catalog,
    load_catalog_text,
    parse_catalog,
)
from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import CatalogFormatError

GOOD = """\
version: 1
name: my-team
description: Servers my team uses
servers:
  - id: time
    title: Time
    source: {type: package, registry: pypi, name: mcp-server-time}
  - id: github
    title: GitHub
    description: Issues and pull requests
    source: {type: image, image: "ghcr.io/github/github-mcp-server:0.13.0"}
    secrets:
      - {name: github.token, env: GITHUB_PERSONAL_ACCESS_TOKEN}
    network: {mode: hosts, hosts: ["api.github.com:443"]}
  - id: notes
    title: Notes
    source:
      type: remote
      url: https://notes.example.com/mcp
      headers: {Authorization: "Bearer {{secret:notes.token}}"}
    secrets:
      - {name: notes.token, env: NOTES_TOKEN}
"""


def _server(index: int = 0, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": f"s{index}",
        "title": f"S{index}",
        "source": {"type": "package", "registry": "npm", "name": f"s{index}"},
    }
    return base | fields


def _doc(*servers: object, **top: object) -> dict[str, object]:
    return {"version": 1, "name": "t", "servers": list(servers)} | top


def test_a_catalog_is_parsed_field_by_field() -> None:
    doc = load_catalog_text(GOOD, origin="team.yaml")
    assert isinstance(doc, CatalogDocument)
    assert (doc.name, doc.description, doc.warnings) == ("my-team", "Servers my team uses", [])
    time, github, notes = doc.servers
    assert time.source.type == "package"
    assert (time.source.registry, time.source.name, time.source.version) == (
        "pypi", "mcp-server-time", None)  # fmt: skip
    assert github.source.type == "image"
    assert github.source.image == "ghcr.io/github/github-mcp-server:0.13.0"
    assert github.secret_names == ["github.token"]
    assert (github.network.mode, github.network.hosts) == ("hosts", ["api.github.com:443"])
    assert notes.is_remote
    assert notes.source.type == "remote"
    assert notes.source.headers == {"Authorization": "Bearer {{secret:notes.token}}"}


def test_json_text_is_read_like_yaml() -> None:
    doc = load_catalog_text(b'{"version": 1, "servers": []}', origin="c.json")
    assert (doc.name, doc.description, doc.servers) == ("", "", [])


def test_dump_and_parse_are_inverses() -> None:
    doc = load_catalog_text(GOOD, origin="team.yaml")
    data = dump_catalog(doc.name, doc.description, doc.servers)
    assert data["version"] == 1
    assert data["servers"][0] == {
        "id": "time",
        "title": "Time",
        "source": {"type": "package", "registry": "pypi", "name": "mcp-server-time"},
    }
    again = parse_catalog(data, origin="dump")
    assert again.servers == doc.servers
    assert (again.name, again.description) == (doc.name, doc.description)


def _error(data: object, origin: str = "catalog.yaml") -> CatalogFormatError:
    def parse() -> None:
        if isinstance(data, str | bytes):
            load_catalog_text(data, origin=origin)
        else:
            parse_catalog(data, origin=origin)

    with pytest.raises(CatalogFormatError) as info:
        parse()
    err = info.value
    assert err.message.startswith(f"{origin}: ")
    assert err.hint, "every format error carries a hint"
    assert "Traceback" not in err.message
    assert "pydantic" not in err.message
    assert "For further information" not in err.message
    return err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("- id: time\n", "catalog.yaml: the top level is a list, not a mapping"),
        ("just words\n", "catalog.yaml: the top level is a string, not a mapping"),
        ("", "catalog.yaml: the document is empty"),
        ({"version": 1, "servers": {"time": {}}}, "catalog.yaml: 'servers' is a dict, not a list"),
        ({"version": 1}, "catalog.yaml: has no 'servers' list"),
        ({"servers": []}, "catalog.yaml: has no 'version'"),
        ({"version": "1", "servers": []}, "catalog.yaml: version '1' is not a whole number"),
        ({"version": 0, "servers": []}, "catalog.yaml: catalog version 0 is not a known version"),
        (_doc(owner="me"), "catalog.yaml: unknown top-level field 'owner'"),
        (_doc(name=["x"]), "catalog.yaml: 'name' is a list, not text"),
        (_doc("time"), "catalog.yaml: servers[0]: is a string, not a mapping"),
    ],
)
def test_malformed_documents_are_explained(data: object, message: str) -> None:
    assert _error(data).message == message


def test_a_future_version_asks_for_a_newer_mcpkit() -> None:
    err = _error({"version": 2, "servers": []})
    assert err.message == (
        "catalog.yaml: catalog version 2 was written by a newer mcpkit (this one reads version 1)"
    )
    assert err.hint == "upgrade mcpkit: pip install --upgrade mcpkit"


def test_an_unknown_server_field_is_named_with_the_server() -> None:
    err = _error(_doc(_server(0), _server(1, imagee="x")))
    assert err.message == (
        'catalog.yaml: servers[1] (id "s1"): imagee: '
        "unknown field (check the spelling, or remove it)"
    )
    assert err.hint is not None
    assert "servers[1]" in err.hint


def test_a_bad_id_says_what_ids_look_like() -> None:
    err = _error(_doc(_server(0, id="My Server")))
    assert err.message == (
        "catalog.yaml: servers[0] (id \"My Server\"): id: server id 'My Server' must be lower "
        "case letters, digits, '.', '_', '-' or '/'"
    )


def test_a_bad_source_names_the_field_without_the_union_tag() -> None:
    servers = [_server(i) for i in range(3)]
    servers.append(
        _server(3, id="git", source={"type": "package", "registry": "maven", "name": "g"})
    )
    err = _error(_doc(*servers))
    assert err.message == (
        "catalog.yaml: servers[3] (id \"git\"): source.registry: Input should be 'pypi' or 'npm'"
    )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"image": "x"}, "source: needs a 'type': one of image, package, remote, command"),
        ({"type": "oci", "image": "x"},
         "source: unknown type 'oci' (expected image, package, remote or command)"),
        ({"type": "image"}, "source.image: is required"),
        ({"type": "remote", "url": "ftp://x"}, "source.url: String should match pattern"),
    ],
)  # fmt: skip
def test_bad_sources_are_explained(source: dict[str, object], reason: str) -> None:
    err = _error(_doc(_server(0, source=source)))
    assert err.message.startswith(f'catalog.yaml: servers[0] (id "s0"): {reason}')


def test_several_problems_in_one_server_are_counted() -> None:
    err = _error(_doc(_server(0, title="", secrets=[{"name": "BAD"}])))
    assert err.message.endswith("(and 1 more problem)")


def test_a_duplicate_id_names_both_places() -> None:
    err = _error(_doc(_server(0), _server(1), _server(2, id="s0")))
    assert err.message == (
        'catalog.yaml: servers[2] (id "s0"): duplicate id, servers[0] has it already'
    )


def test_a_huge_document_is_refused_before_parsing() -> None:
    text = b"version: 1\nservers: []\n" + b"#" * MAX_DOCUMENT_BYTES
    err = _error(text)
    assert err.message.startswith("catalog.yaml: catalog is ")
    assert err.message.endswith("more than the limit of 10 MiB")


def test_yaml_syntax_errors_give_the_line() -> None:
    err = _error("version: 1\nservers:\n  - id: [time\n")
    assert err.message.startswith("catalog.yaml: not YAML/JSON: ")
    assert "line 4" in err.message


def test_yaml_aliases_are_refused() -> None:
    text = "version: 1\na: &a [x, x]\nb: &b [*a, *a]\nservers: []\n"
    err = _error(text)
    assert "aliases" in err.message


def test_bytes_that_are_not_utf8_are_refused() -> None:
    err = _error(b"version: 1\nname: \xff\xfe\n")
    assert err.message == "catalog.yaml: not YAML/JSON: not UTF-8 text (bad byte at offset 17)"


def test_a_docker_catalog_file_is_recognised() -> None:
    doc = load_catalog_text(
        "registry:\n  time:\n    title: Time\n    type: server\n    image: mcp/time\n",
        origin="docker-mcp.yaml",
    )
    assert [s.id for s in doc.servers] == ["time"]
    assert isinstance(doc.servers[0], ServerSpec)
    assert doc.servers[0].source.type == "image"


def test_a_docker_catalog_whose_registry_is_not_a_mapping_is_refused() -> None:
    err = _error({"registry": ["time", "git"]}, origin="docker-mcp.yaml")
    assert err.message == (
        "docker-mcp.yaml: 'registry' is not a mapping of server names to entries"
    )
