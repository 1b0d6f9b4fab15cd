"""The catalog bundled with mcpkit: a real, offline list of MCP servers that must stay valid.

These tests read the shipped YAML through ``importlib.resources`` (exactly as an installed
package would) and check what the rest of mcpkit relies on: every entry is a valid
``ServerSpec``, ids are unique, templates and secrets resolve, remote endpoints are public
HTTPS, and the mix of sources is what the catalog promises.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator

from mcpkit.catalog.model import ServerSpec

#: ``{{key}}`` or ``{{secret:name}}``; whitespace inside the braces is tolerated.
TEMPLATE_RE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")

#: Package entries the catalog must always carry: id -> (registry, package name).
REQUIRED_PACKAGES = {
    "time": ("pypi", "mcp-server-time"),
    "git": ("pypi", "mcp-server-git"),
    "fetch": ("pypi", "mcp-server-fetch"),
    "sqlite": ("pypi", "mcp-server-sqlite"),
    "everything": ("npm", "@modelcontextprotocol/server-everything"),
    "filesystem": ("npm", "@modelcontextprotocol/server-filesystem"),
    "memory": ("npm", "@modelcontextprotocol/server-memory"),
    "sequential-thinking": ("npm", "@modelcontextprotocol/server-sequential-thinking"),
}

#: Minimum number of entries per kind of source.
MINIMUM_COUNTS = {"pypi": 14, "npm": 14, "image": 7, "remote": 10}


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate mapping keys.

    ``yaml.safe_load`` silently keeps the last of two equal keys, which would hide a
    duplicated env var or config property in the catalog.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise _DuplicateKeyError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _catalog_text() -> str:
    return (files("mcpkit.catalog.data") / "default.yaml").read_text(encoding="utf-8")


def _document() -> dict[str, Any]:
    data = yaml.safe_load(_catalog_text())
    assert isinstance(data, dict)
    return data


def _entries() -> list[dict[str, Any]]:
    servers = _document()["servers"]
    assert isinstance(servers, list)
    return servers


def _specs() -> list[ServerSpec]:
    return [ServerSpec.model_validate(entry) for entry in _entries()]


def _kind(spec: ServerSpec) -> str:
    source = spec.source
    return source.registry if source.type == "package" else source.type


def _template_sites(spec: ServerSpec) -> list[tuple[str, str]]:
    """Every (place, text) of a spec whose text is expanded as a template."""
    sites = [(f"env {name}", value) for name, value in spec.env.items()]
    sites += [(f"args[{i}]", arg) for i, arg in enumerate(spec.args)]
    sites += [(f"volume {v.target}", v.source) for v in spec.volumes]
    if spec.source.type == "image":
        sites += [(f"command[{i}]", arg) for i, arg in enumerate(spec.source.command)]
    if spec.source.type == "remote":
        sites += [(f"header {name}", value) for name, value in spec.source.headers.items()]
    return sites


def _templates(spec: ServerSpec) -> list[tuple[str, str]]:
    """Every (place, template body) used by a spec."""
    return [
        (place, match.group(1))
        for place, text in _template_sites(spec)
        for match in TEMPLATE_RE.finditer(text)
    ]


SPECS = _specs()
SPEC_IDS = [spec.id for spec in SPECS]


def test_the_document_is_catalog_version_1_named_default() -> None:
    document = _document()

    assert document["version"] == 1
    assert document["name"] == "default"
    assert document["description"]


def test_the_yaml_has_no_duplicate_keys_anywhere() -> None:
    data = yaml.load(_catalog_text(), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass

    assert data == _document()


def test_the_strict_loader_rejects_a_duplicated_key() -> None:
    text = "servers:\n  - env:\n      TOKEN: a\n      TOKEN: b\n"

    with pytest.raises(_DuplicateKeyError, match="duplicate key 'TOKEN'"):
        yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


@pytest.mark.parametrize("entry", _entries(), ids=[str(e.get("id")) for e in _entries()])
def test_every_entry_validates_as_a_server_spec(entry: dict[str, Any]) -> None:
    spec = ServerSpec.model_validate(entry)

    assert spec.id == entry["id"]
    assert spec.title
    assert spec.description
    assert spec.publisher.name != "unknown"


def test_server_ids_are_unique() -> None:
    duplicates = [sid for sid, count in Counter(SPEC_IDS).items() if count > 1]

    assert duplicates == []


def test_bundled_ids_contain_no_namespace_separators() -> None:
    # Secret names are "<id>.<key>", so an id with "." or "/" could not prefix them.
    assert [sid for sid in SPEC_IDS if "." in sid or "/" in sid] == []


def test_the_catalog_has_enough_servers_of_every_source_kind() -> None:
    counts = Counter(_kind(spec) for spec in SPECS)

    for kind, minimum in MINIMUM_COUNTS.items():
        assert counts[kind] >= minimum, f"{kind}: {counts[kind]} < {minimum}"
    assert len(SPECS) >= 45


@pytest.mark.parametrize(("server_id", "expected"), sorted(REQUIRED_PACKAGES.items()))
def test_the_reference_servers_are_present_with_their_real_packages(
    server_id: str, expected: tuple[str, str]
) -> None:
    by_id = {spec.id: spec for spec in SPECS}
    spec = by_id[server_id]

    assert spec.source.type == "package"
    assert (spec.source.registry, spec.source.name) == expected
    assert spec.tools, f"{server_id} should list its tools"


def test_packages_are_not_pinned_and_images_carry_no_invented_digest() -> None:
    pinned = [
        spec.id
        for spec in SPECS
        if (spec.source.type == "package" and (spec.source.version or spec.source.hashes))
        or (spec.source.type == "image" and spec.source.digest)
    ]

    assert pinned == []


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s.source.type == "remote"], ids=lambda s: s.id
)
def test_every_remote_url_is_public_https_without_credentials(spec: ServerSpec) -> None:
    assert spec.source.type == "remote"
    parts = urlsplit(spec.source.url)
    host = parts.hostname or ""

    assert parts.scheme == "https"
    assert parts.username is None
    assert parts.password is None
    assert "@" not in parts.netloc
    assert host
    assert host != "localhost"
    assert not host.endswith((".localhost", ".local", ".internal"))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    assert address.is_global, f"{host} is not a public address"


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_secret_name_starts_with_its_server_id(spec: ServerSpec) -> None:
    names = spec.secret_names

    assert [n for n in names if not n.startswith(f"{spec.id}.")] == []
    assert len(names) == len(set(names))


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_template_refers_to_a_config_key_or_declared_secret(spec: ServerSpec) -> None:
    properties = spec.config_schema.get("properties", {})
    secrets = set(spec.secret_names)

    for place, body in _templates(spec):
        if body.startswith("secret:"):
            name = body.removeprefix("secret:")
            assert name in secrets, f"{spec.id} {place}: secret {name!r} is not declared"
        else:
            assert body in properties, f"{spec.id} {place}: {body!r} is not a config key"


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_templated_config_key_is_required_or_has_a_default(spec: ServerSpec) -> None:
    # A template naming an optional key without a default could not be expanded when the
    # profile leaves it out, so the bundled entries avoid that case altogether.
    properties: dict[str, Any] = spec.config_schema.get("properties", {})
    required = set(spec.config_schema.get("required", []))

    for place, body in _templates(spec):
        if body.startswith("secret:"):
            continue
        assert body in required or "default" in properties.get(body, {}), (
            f"{spec.id} {place}: {body!r} is neither required nor defaulted"
        )


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_every_config_schema_is_a_valid_object_schema(spec: ServerSpec) -> None:
    schema = spec.config_schema
    if not schema:
        return
    Draft202012Validator.check_schema(schema)
    properties = schema.get("properties", {})

    assert schema["type"] == "object"
    assert set(schema.get("required", [])) <= set(properties)
    for key, prop in properties.items():
        assert prop.get("description"), f"{spec.id}: config key {key!r} has no description"
        if "default" in prop:
            Draft202012Validator(prop).validate(prop["default"])


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_env_names_are_not_declared_twice_in_an_entry(spec: ServerSpec) -> None:
    names = list(spec.env) + [s.env for s in spec.secrets if s.env is not None]

    assert [n for n, count in Counter(names).items() if count > 1] == []


def test_servers_that_need_no_network_are_confined() -> None:
    confined = {spec.id for spec in SPECS if spec.network.mode == "none"}

    assert {"time", "git", "sqlite", "filesystem", "memory", "sequential-thinking"} <= confined
    assert "fetch" not in confined


def test_the_filesystem_server_gets_one_argument_per_allowed_directory() -> None:
    spec = next(s for s in SPECS if s.id == "filesystem")
    paths = spec.config_schema["properties"]["paths"]

    assert spec.args == ["{{paths}}"]
    assert paths["type"] == "array"
    assert paths["items"] == {"type": "string"}
    assert "paths" in spec.config_schema["required"]


@pytest.mark.parametrize(
    "spec",
    [s for s in SPECS if s.source.type == "remote" and s.source.headers],
    ids=lambda s: s.id,
)
def test_remote_headers_take_credentials_only_from_secrets(spec: ServerSpec) -> None:
    assert spec.source.type == "remote"
    for name, value in spec.source.headers.items():
        bodies = [m.group(1) for m in TEMPLATE_RE.finditer(value)]

        assert bodies, f"{spec.id}: header {name} carries a literal value"
        assert all(b.startswith("secret:") for b in bodies)
