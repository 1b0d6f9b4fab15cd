"""Catalog documents: the YAML/JSON files that list server specs.

Our own format is a mapping::

    version: 1
    name: my-team
    description: Servers my team uses
    servers:
      - id: time
        title: Time
        source: {type: package, registry: pypi, name: mcp-server-time}

A Docker MCP Toolkit catalog file (top-level ``registry:`` mapping of name to
entry, as written by docker/mcp-gateway) is recognised too and converted entry by
entry; entries that cannot be converted safely are skipped and reported in
:attr:`CatalogDocument.warnings`.

Everything here is pure: bytes or plain data in, a :class:`CatalogDocument` or a
:class:`~mcpkit.errors.CatalogFormatError` out. Error messages name the origin,
the server (index and id) and the field, in plain words; never a pydantic dump.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import CatalogFormatError

#: The only catalog format version this mcpkit reads and writes.
CATALOG_VERSION = 1
#: Largest catalog document accepted, in bytes (files, URL bodies, registry pages).
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

_TOP_LEVEL_KEYS = frozenset({"version", "name", "description", "servers"})
_SOURCE_TAGS = frozenset({"image", "package", "remote", "command"})
_FORMAT_HINT = "see the catalog format in the mcpkit docs (version, name, description, servers)"


@dataclass(frozen=True)
class CatalogDocument:
    """A parsed catalog: its name, description and server specs.

    ``warnings`` lists entries that were skipped or changed while converting a
    foreign format (Docker catalog, registry answer); our own format never warns,
    it fails instead.
    """

    name: str
    description: str
    servers: list[ServerSpec]
    warnings: list[str] = field(default_factory=list)


class _CatalogLoader(yaml.SafeLoader):
    """``SafeLoader`` without aliases.

    Aliases let a few kilobytes of YAML expand into billions of nodes once walked
    ("billion laughs"); a catalog has no need for them.
    """

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in a catalog", event.start_mark
            )
        return super().compose_node(parent, index)  # type: ignore[arg-type]


def decode_document(data: str | bytes, *, origin: str) -> dict[str, Any]:
    """Decode YAML or JSON text into its top-level mapping.

    Raises :class:`CatalogFormatError` when the text is too large, not UTF-8, not
    YAML/JSON, empty, or not a mapping. Callers that fetch over the network turn
    this into a :class:`~mcpkit.errors.SourceError` (the URL did not give a catalog).
    """
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise CatalogFormatError(
            f"{origin}: catalog is {len(raw)} bytes, more than the limit of "
            f"{MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB",
            hint="split it into several catalogs, or remove servers it does not need",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFormatError(
            f"{origin}: not YAML/JSON: not UTF-8 text (bad byte at offset {exc.start})",
            hint="a catalog is a UTF-8 YAML or JSON file",
        ) from exc
    loaded = _load_text(text, origin=origin)
    if loaded is None:
        raise CatalogFormatError(
            f"{origin}: the document is empty",
            hint="a catalog needs at least 'version: 1' and a 'servers' list",
        )
    if not isinstance(loaded, dict):
        raise CatalogFormatError(
            f"{origin}: the top level is {kind_of(loaded)}, not a mapping",
            hint="a catalog is a mapping with 'version' and 'servers' keys",
        )
    return loaded


def _load_text(text: str, *, origin: str) -> object:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        # JSON is by far the most common large input (registry pages): orjson is
        # much faster than the pure-Python YAML parser. On failure YAML gets a go,
        # since flow-style YAML also starts with a brace.
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        return yaml.load(text, Loader=_CatalogLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CatalogFormatError(
            f"{origin}: not YAML/JSON: {_yaml_reason(exc)}",
            hint="fix the syntax at the line shown, or check that this is a catalog file",
        ) from exc


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        reason = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return f"{reason} at line {mark.line + 1}, column {mark.column + 1}"
        return reason
    return str(exc)


def load_catalog_text(text: str | bytes, *, origin: str) -> CatalogDocument:
    """Parse a catalog from YAML or JSON text; see :func:`parse_catalog`."""
    return parse_catalog(decode_document(text, origin=origin), origin=origin)


def parse_catalog(data: object, *, origin: str) -> CatalogDocument:
    """Validate plain data as a catalog: ours (``servers:``) or Docker's (``registry:``).

    ``origin`` names where the data came from (a path or URL) and starts every
    error message. Raises :class:`CatalogFormatError` on the first invalid part.
    """
    if not isinstance(data, Mapping):
        raise CatalogFormatError(
            f"{origin}: the top level is {kind_of(data)}, not a mapping",
            hint="a catalog is a mapping with 'version' and 'servers' keys",
        )
    if "registry" in data and "servers" not in data:
        # Imported here: docker_format builds on this module's types.
        from mcpkit.catalog.docker_format import parse_docker_catalog

        return parse_docker_catalog(data, origin=origin)
    return _parse_ours(data, origin=origin)


def _parse_ours(data: Mapping[Any, Any], *, origin: str) -> CatalogDocument:
    unknown = sorted(str(k) for k in data if k not in _TOP_LEVEL_KEYS)
    if unknown:
        raise CatalogFormatError(
            f"{origin}: unknown top-level field {unknown[0]!r}",
            hint=f"the known fields are {', '.join(sorted(_TOP_LEVEL_KEYS))}; "
            "check the spelling or remove it",
        )
    _check_version(data.get("version"), origin=origin)
    name = _optional_text(data, "name", origin=origin)
    description = _optional_text(data, "description", origin=origin)
    servers = data.get("servers")
    if servers is None:
        raise CatalogFormatError(
            f"{origin}: has no 'servers' list",
            hint="add 'servers:' with a list of server specs (an empty list is fine)",
        )
    if not isinstance(servers, list):
        raise CatalogFormatError(
            f"{origin}: 'servers' is {kind_of(servers)}, not a list",
            hint="write servers as a YAML list: each item starts with '- id: ...'",
        )
    specs = [_parse_server(item, index, origin=origin) for index, item in enumerate(servers)]
    check_unique_ids(specs, origin=origin)
    return CatalogDocument(name=name, description=description, servers=specs)


def _check_version(version: object, *, origin: str) -> None:
    if version is None:
        raise CatalogFormatError(
            f"{origin}: has no 'version'",
            hint=f"add 'version: {CATALOG_VERSION}' at the top of the catalog",
        )
    if isinstance(version, bool) or not isinstance(version, int):
        raise CatalogFormatError(
            f"{origin}: version {version!r} is not a whole number",
            hint=f"write 'version: {CATALOG_VERSION}'",
        )
    if version > CATALOG_VERSION:
        raise CatalogFormatError(
            f"{origin}: catalog version {version} was written by a newer mcpkit "
            f"(this one reads version {CATALOG_VERSION})",
            hint="upgrade mcpkit: pip install --upgrade mcpkit",
        )
    if version < CATALOG_VERSION:
        raise CatalogFormatError(
            f"{origin}: catalog version {version} is not a known version",
            hint=f"write 'version: {CATALOG_VERSION}'",
        )


def _optional_text(data: Mapping[Any, Any], key: str, *, origin: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CatalogFormatError(
            f"{origin}: '{key}' is {kind_of(value)}, not text",
            hint=f"write '{key}' as a plain string",
        )
    return value


def _parse_server(item: object, index: int, *, origin: str) -> ServerSpec:
    where = f"{origin}: servers[{index}]"
    if not isinstance(item, Mapping):
        raise CatalogFormatError(
            f"{where}: is {kind_of(item)}, not a mapping",
            hint="each server is a mapping with at least id, title and source",
        )
    server_id = item.get("id")
    if isinstance(server_id, str):
        where += f' (id "{server_id}")'
    try:
        return ServerSpec.model_validate(item)
    except ValidationError as exc:
        raise CatalogFormatError(
            f"{where}: {explain_validation_error(exc)}",
            hint=f"fix servers[{index}] in {origin}; {_FORMAT_HINT}",
        ) from exc


def check_unique_ids(specs: Iterable[ServerSpec], *, origin: str) -> None:
    """Raise :class:`CatalogFormatError` when two specs share an id."""
    seen: dict[str, int] = {}
    for index, spec in enumerate(specs):
        if spec.id in seen:
            raise CatalogFormatError(
                f'{origin}: servers[{index}] (id "{spec.id}"): duplicate id, '
                f"servers[{seen[spec.id]}] has it already",
                hint="give each server a unique id, or remove one of them",
            )
        seen[spec.id] = index


class SkipEntry(Exception):  # noqa: N818 - a signal to skip, not an error for the user
    """A foreign entry cannot be converted safely; the message says why."""


def convert_entry(
    where: str, fields: Callable[[list[str]], dict[str, Any]]
) -> tuple[ServerSpec | None, list[str]]:
    """Build and validate one spec converted from a foreign format.

    ``fields`` gathers the spec's fields, appending warnings to the list it gets, and
    raises :class:`SkipEntry` when the entry cannot be converted. Every warning comes
    back prefixed with ``where``; a skipped or invalid entry gives ``None`` and a
    last warning saying why.
    """
    warnings: list[str] = []
    try:
        spec: ServerSpec | None = ServerSpec.model_validate(fields(warnings))
        reason = None
    except SkipEntry as exc:
        spec, reason = None, str(exc)
    except ValidationError as exc:
        spec, reason = None, explain_validation_error(exc)
    out = [f"{where}: {w}" for w in warnings]
    if reason is not None:
        out.append(f"{where}: skipped: {reason}")
    return spec, out


def collect_converted(
    results: Iterable[tuple[str, ServerSpec | None, list[str]]],
) -> tuple[list[ServerSpec], list[str]]:
    """Keep converted specs in order, dropping failed ones and later entries of a taken id.

    ``results`` are ``(where, spec or None, warnings)`` per converted entry; the
    warnings of all entries are gathered, plus one per dropped duplicate.
    """
    specs: list[ServerSpec] = []
    warnings: list[str] = []
    first: dict[str, str] = {}
    for where, spec, spec_warnings in results:
        warnings.extend(spec_warnings)
        if spec is None:
            continue
        if spec.id in first:
            warnings.append(f"{where}: skipped: {first[spec.id]} has the id {spec.id!r} already")
            continue
        first[spec.id] = where
        specs.append(spec)
    return specs, warnings


def dump_catalog(name: str, description: str, servers: Iterable[ServerSpec]) -> dict[str, Any]:
    """The inverse of :func:`parse_catalog`: plain data ready for YAML or JSON."""
    data: dict[str, Any] = {"version": CATALOG_VERSION, "name": name}
    if description:
        data["description"] = description
    data["servers"] = [spec.to_data() for spec in servers]
    return data


def explain_validation_error(exc: ValidationError) -> str:
    """One plain sentence for a pydantic error: ``field.path: reason``.

    The first problem is described; the count of others is added so the user
    knows more fixes may follow.
    """
    errors = exc.errors(include_url=False, include_input=False)
    text = _explain_one(errors[0])
    if len(errors) > 1:
        more = len(errors) - 1
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return text


def _explain_one(err: ErrorDetails) -> str:
    loc = list(err["loc"])
    # Discriminated unions add the tag ("package") to the path; users never wrote it.
    if len(loc) > 1 and loc[0] == "source" and loc[1] in _SOURCE_TAGS:
        del loc[1]
    path = format_loc(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        reason = "unknown field (check the spelling, or remove it)"
    elif kind == "missing":
        reason = "is required"
    elif kind == "union_tag_not_found":
        reason = "needs a 'type': one of image, package, remote, command"
    elif kind == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "?")
        reason = f"unknown type {tag!r} (expected image, package, remote or command)"
    else:
        reason = str(err["msg"]).removeprefix("Value error, ")
    return f"{path}: {reason}" if path else reason


def format_loc(loc: list[int | str]) -> str:
    """A pydantic error location as a key path: ``servers[2].source.url``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def kind_of(value: object) -> str:
    """How a message names the kind of a parsed value (``a string``, ``a list``…)."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return f"a {type(value).__name__}"
