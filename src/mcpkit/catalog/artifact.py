"""Catalogs as OCI artifacts: ours, and Docker's MCP catalog artifacts.

Pure encode/decode: bytes and manifests in, layers or a
:class:`~mcpkit.catalog.document.CatalogDocument` out. The registry I/O is
``mcpkit.oci``'s; ``catalog push``/``catalog pull`` join the two.

Our artifact: ``artifactType`` :data:`CATALOG_ARTIFACT_TYPE`, the empty config, one layer
holding the catalog document (``version``/``name``/``description``/``servers``, the
:func:`~mcpkit.catalog.document.dump_catalog` shape) as canonical JSON. The layer's media
type is the artifact type itself: the layer *is* the catalog, and JSON (not YAML) because
sorted, compact JSON gives the same bytes, hence the same digest and signature, for the same
catalog, and is parsed without YAML's aliases and tags. YAML stays the format people edit.

Docker's artifact (docker/mcp-gateway ``catalog push``; see
``/work/notes/docker_oci_formats.md``): ``artifactType``
:data:`DOCKER_CATALOG_ARTIFACT_TYPE`, one ``application/json`` layer
``{"title", "servers": [{"type", "image"|"endpoint"|"source", "snapshot": {"server": …}}]}``.
Each snapshot is a legacy Docker catalog entry and goes through
:func:`~mcpkit.catalog.docker_format.convert_catalog_entry`; entries that cannot be
converted are skipped with a warning, as for any Docker catalog.

Secret values: a catalog describes servers; it never needs a credential. Anything that
looks like one (a known token format anywhere, or a literal value under a credential-like
name such as ``API_KEY`` or ``Authorization``) makes our own catalog fail with
``CatalogFormatError(code="secret-value")`` on push and on pull, and drops that entry of
a Docker catalog with a warning. The message names the field, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from mcpkit.catalog.docker_format import (
    convert_catalog_entry,
    is_docker_catalog,
    parse_docker_catalog,
)
from mcpkit.catalog.document import (
    MAX_DOCUMENT_BYTES,
    CatalogDocument,
    collect_converted,
    dump_catalog,
    parse_catalog,
)
from mcpkit.catalog.model import SECRET_NAME_RE, ImageSource, PackageSource, ServerSpec
from mcpkit.errors import CatalogFormatError, InvalidInputError
from mcpkit.oci.media import Layer, canonical_json

CATALOG_ARTIFACT_TYPE = "application/vnd.mcpkit.catalog.v1+json"
#: The layer holding the catalog document (see the module docstring for why it is the same).
CATALOG_LAYER_MEDIA_TYPE = CATALOG_ARTIFACT_TYPE
DOCKER_CATALOG_ARTIFACT_TYPE = "application/vnd.docker.mcp.catalog.v1+json"
DOCKER_PROFILE_ARTIFACT_TYPE = "application/vnd.docker.mcp.profile.v1+json"
_PROFILE_TYPES = ("application/vnd.mcpkit.profile.v1+json", DOCKER_PROFILE_ARTIFACT_TYPE)
#: What docker/mcp-gateway writes as the media type of its one layer.
DOCKER_LAYER_MEDIA_TYPE = "application/json"

ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_DESCRIPTION = "org.opencontainers.image.description"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_CATALOG_NAME = "dev.mcpkit.catalog.name"
#: ``servers=N,images=I,pinned-images=P,packages=K,hashed-packages=H,remote=R``.
ANNOTATION_CATALOG_LOCK = "dev.mcpkit.catalog.lock"

_PULL_HINT = "check the reference: 'mcpkit catalog pull' takes a catalog pushed by "
_PULL_HINT += "'mcpkit catalog push' or 'docker mcp catalog push'"


class DescriptorLike(Protocol):
    """What is read of a layer descriptor (``mcpkit.oci.client.Descriptor`` fits)."""

    @property
    def media_type(self) -> str:
        """The layer's media type."""
        ...


class ManifestLike(Protocol):
    """What is read of a pulled manifest (``mcpkit.oci.client.Manifest`` fits)."""

    @property
    def artifact_type(self) -> str | None:
        """``artifactType``, else the config's media type."""
        ...

    @property
    def layers(self) -> Sequence[DescriptorLike]:
        """The layer descriptors, in order."""
        ...

    @property
    def annotations(self) -> Mapping[str, str]:
        """The manifest's annotations."""
        ...


def catalog_layers(
    doc: Mapping[str, Any], *, created: datetime | None = None
) -> tuple[str, list[Layer], dict[str, str]]:
    """The artifact type, layers and manifest annotations for a catalog document.

    ``doc`` is a catalog as our files have it (Docker's ``registry:`` form is converted
    first). It is validated and written canonically, so what is pushed can be pulled.
    Raises :class:`CatalogFormatError` for an invalid document or one holding a secret value.
    """
    parsed = parse_catalog(doc, origin="catalog")
    origin = f"catalog {parsed.name}" if parsed.name else "catalog"
    canonical = dump_catalog(parsed.name, parsed.description, parsed.servers)
    check_no_secret_values(canonical, origin=origin, error=CatalogFormatError)
    data = canonical_json(canonical)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CatalogFormatError(
            f"{origin}: {len(data)} bytes once written, more than the limit of "
            f"{MAX_DOCUMENT_BYTES >> 20} MiB",
            hint="split it into several catalogs",
        )
    annotations = base_annotations(parsed.name or "catalog", parsed.description, created)
    annotations[ANNOTATION_CATALOG_NAME] = parsed.name
    annotations[ANNOTATION_CATALOG_LOCK] = catalog_lock_summary(parsed.servers)
    layer = Layer(
        data=data,
        media_type=CATALOG_LAYER_MEDIA_TYPE,
        annotations={ANNOTATION_TITLE: f"{parsed.name or 'catalog'}.catalog.json"},
    )
    return CATALOG_ARTIFACT_TYPE, [layer], annotations


def read_catalog_artifact(
    manifest: ManifestLike, layers: Sequence[bytes], *, origin: str
) -> CatalogDocument:
    """The catalog in a pulled artifact, ours or Docker's.

    ``layers`` are the layer blobs in manifest order. A Docker catalog has no name of its
    own (Docker names it by its reference): the document's ``name`` is then empty and its
    description is Docker's title. Raises :class:`CatalogFormatError`.
    """
    kind = manifest.artifact_type
    if kind == CATALOG_ARTIFACT_TYPE:
        raw = pick_layer(
            manifest, layers, (CATALOG_LAYER_MEDIA_TYPE,), origin=origin, error=CatalogFormatError
        )
        data = decode_json_layer(
            raw, origin=origin, limit=MAX_DOCUMENT_BYTES, error=CatalogFormatError
        )
        document = parse_catalog(data, origin=origin)
        check_no_secret_values(
            dump_catalog(document.name, document.description, document.servers),
            origin=origin,
            error=CatalogFormatError,
        )
        return document
    if kind == DOCKER_CATALOG_ARTIFACT_TYPE:
        raw = pick_layer(manifest, layers, None, origin=origin, error=CatalogFormatError)
        data = decode_json_layer(
            raw, origin=origin, limit=MAX_DOCUMENT_BYTES, error=CatalogFormatError
        )
        return _read_docker_catalog(data, origin=origin)
    if kind in _PROFILE_TYPES:
        raise CatalogFormatError(
            f"{origin}: is a profile, not a catalog",
            hint="pull it with 'mcpkit profile pull REF'",
        )
    raise CatalogFormatError(
        f"{origin}: artifact type {kind!r} is not a catalog "
        f"(expected {CATALOG_ARTIFACT_TYPE} or {DOCKER_CATALOG_ARTIFACT_TYPE})",
        hint=_PULL_HINT,
    )


def catalog_lock_summary(servers: Sequence[ServerSpec]) -> str:
    """How much of a catalog is locked: images by digest, packages by version and hashes."""
    images = [s.source for s in servers if isinstance(s.source, ImageSource)]
    packages = [s.source for s in servers if isinstance(s.source, PackageSource)]
    pinned = sum(1 for source in images if source.digest)
    hashed = sum(1 for source in packages if source.version and source.hashes)
    remote = sum(1 for s in servers if s.is_remote)
    return (
        f"servers={len(servers)},images={len(images)},pinned-images={pinned},"
        f"packages={len(packages)},hashed-packages={hashed},remote={remote}"
    )


def _read_docker_catalog(data: Mapping[str, Any], *, origin: str) -> CatalogDocument:
    if is_docker_catalog(data):
        # A legacy ``registry:`` catalog file pushed as-is: the file converter applies.
        document = parse_docker_catalog(data, origin=origin)
    else:
        servers = data.get("servers")
        if not isinstance(servers, list):
            raise CatalogFormatError(
                f"{origin}: a Docker catalog artifact needs a 'servers' list",
                hint=_PULL_HINT,
            )
        title = data.get("title")
        specs, warnings = collect_converted(
            (
                f"{origin}: servers[{index}]",
                *convert_docker_server(item, where=f"{origin}: servers[{index}]"),
            )
            for index, item in enumerate(servers)
        )
        document = CatalogDocument(
            name="",
            description=title if isinstance(title, str) else "",
            servers=specs,
            warnings=warnings,
        )
    kept: list[ServerSpec] = []
    warnings = list(document.warnings)
    for spec in document.servers:
        found = find_secret_value(spec.to_data())
        if found is None:
            kept.append(spec)
        else:
            warnings.append(
                f"{origin}: {spec.id}: skipped: {found}; a catalog may not carry secret values"
            )
    return CatalogDocument(
        name=document.name, description=document.description, servers=kept, warnings=warnings
    )


def convert_docker_server(
    item: object, *, where: str, bare: bool = False
) -> tuple[ServerSpec | None, list[str]]:
    """A spec for one server of a Docker catalog or profile artifact.

    The server's ``snapshot.server`` (a legacy catalog entry) is converted; the server's own
    ``image`` (pinned by digest when Docker resolved it) wins over the snapshot's. Without
    a snapshot nothing describes the server offline: with ``bare`` an image or remote
    server becomes a bare spec of its image or URL (with a warning), otherwise it is skipped.
    """
    if not isinstance(item, Mapping):
        return None, [f"{where}: skipped: not a mapping"]
    kind = item.get("type")
    if kind not in ("image", "remote", "registry"):
        return None, [f"{where}: skipped: unknown server type {kind!r} (image, remote, registry)"]
    snapshot = item.get("snapshot")
    entry = snapshot.get("server") if isinstance(snapshot, Mapping) else None
    image = item.get("image") if kind == "image" else None
    if isinstance(entry, Mapping):
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            return None, [f"{where}: skipped: its snapshot has no server name"]
        if isinstance(image, str) and image:
            entry = {**entry, "image": image}
        return convert_catalog_entry(name, entry, origin=where)
    reference = image if kind == "image" else item.get("endpoint")
    if not bare or kind == "registry" or not isinstance(reference, str) or not reference:
        reason = "no snapshot describes the server, and mcpkit cannot look it up offline"
        return None, [f"{where}: skipped: {reason}"]
    return _bare_spec(kind, reference, where=where)


def _bare_spec(kind: str, reference: str, *, where: str) -> tuple[ServerSpec | None, list[str]]:
    if kind == "image":
        repository = reference.split("@", 1)[0]
        last = repository.rsplit("/", 1)[-1]
        server_id = _slug(last.split(":", 1)[0])
        source: dict[str, Any] = {"type": "image", "image": reference}
    else:
        host = re.sub(r"^https?://", "", reference).split("/", 1)[0].split(":", 1)[0]
        server_id = _slug(host)
        source = {"type": "remote", "url": reference}
    entry = {"id": server_id or "server", "title": server_id or reference, "source": source}
    try:
        spec = ServerSpec.model_validate(entry)
    except ValueError as exc:
        return None, [f"{where}: skipped: {reference!r} is not usable: {exc}".splitlines()[0]]
    note = f"carried as a bare {kind} server (its secrets and config, if any, are unknown)"
    return spec, [f"{where}: no snapshot describes {reference!r}: {note}"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")


# --- shared by catalog and profile artifacts -------------------------------------------


def base_annotations(title: str, description: str, created: datetime | None) -> dict[str, str]:
    """The standard OCI annotations every artifact of ours carries."""
    when = (created or datetime.now(UTC)).astimezone(UTC)
    annotations = {
        ANNOTATION_TITLE: title,
        ANNOTATION_CREATED: when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if description:
        annotations[ANNOTATION_DESCRIPTION] = description
    return annotations


def pick_layer(
    manifest: ManifestLike,
    layers: Sequence[bytes],
    media_types: Sequence[str] | None,
    *,
    origin: str,
    error: type[InvalidInputError],
) -> bytes:
    """The one content layer: of one of ``media_types``, or (None) the first, as Docker reads."""
    descriptors = list(manifest.layers)
    if len(descriptors) != len(layers):
        raise error(
            f"{origin}: the manifest lists {len(descriptors)} layers but {len(layers)} were given",
            hint="pull the artifact again",
        )
    if not descriptors:
        raise error(f"{origin}: the artifact has no layer", hint=_PULL_HINT)
    if media_types is None:
        if not descriptors[0].media_type.endswith("json"):
            raise error(
                f"{origin}: its first layer is {descriptors[0].media_type!r}, not JSON",
                hint=_PULL_HINT,
            )
        return layers[0]
    matching = [i for i, d in enumerate(descriptors) if d.media_type in media_types]
    if len(matching) != 1:
        found = ", ".join(d.media_type for d in descriptors)
        raise error(
            f"{origin}: expected exactly one layer of type {media_types[0]}, found: {found}",
            hint=_PULL_HINT,
        )
    return layers[matching[0]]


def decode_json_layer(
    raw: bytes, *, origin: str, limit: int, error: type[InvalidInputError]
) -> dict[str, Any]:
    """A layer's JSON object; ``error`` when too large, not JSON, or not an object."""
    if len(raw) > limit:
        raise error(
            f"{origin}: the layer is {len(raw)} bytes, more than the limit of {limit >> 20} MiB",
            hint=_PULL_HINT,
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error(
            f"{origin}: the layer is not JSON ({exc.msg} at byte {exc.pos})", hint=_PULL_HINT
        ) from exc
    if not isinstance(data, dict):
        raise error(
            f"{origin}: the layer is a JSON {type(data).__name__}, not an object", hint=_PULL_HINT
        )
    return data


# --- secret values ---------------------------------------------------------------------

#: Keys (lower-cased, without ``-_. ``) that name a credential when they end like this.
_CREDENTIAL_KEY_RE = re.compile(
    r"(token|secret|password|passwd|passphrase|apikey|accesskey|privatekey|authorization"
    r"|credential|credentials|cookie)$"
)
_HARMLESS_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null"})


@dataclass(frozen=True)
class _Leaf:
    path: str
    key: str
    value: str


def find_secret_value(data: object) -> str | None:
    """Where ``data`` holds what looks like a secret value, in words; None if nowhere.

    Two tests: the gateway's leak rules (known token formats, anywhere), and a literal
    value under a credential-like key (``api_key``, ``GITHUB_TOKEN``, ``Authorization``,
    an env item ``{name: X_TOKEN, value: …}``). Templates (``{{…}}``, ``${…}``) and
    values that are secret *names* (``github.token``) are references, not values, and a
    path (``/app/credentials.json``) names where a secret is, not what it is.
    The value itself never appears in the answer.
    """
    # The rule set is the gateway's; imported here so that catalog code pays for it only
    # when it scans.
    from mcpkit.gateway.leaks import LeakScanner

    found = LeakScanner().scan(data)
    if found is not None:
        return f"{found.path} looks like {found.description} (rule {found.rule})"
    for leaf in _leaves(data, ""):
        if _looks_like_credential(leaf.key, leaf.value):
            return f"{leaf.path} is a literal value under the credential-like name {leaf.key!r}"
    return None


def check_no_secret_values(data: object, *, origin: str, error: type[InvalidInputError]) -> None:
    """Raise ``error`` (code ``secret-value``) if :func:`find_secret_value` finds one."""
    found = find_secret_value(data)
    if found is not None:
        raise error(
            f"{origin}: refused: {found}; secret values are never shared, only secret names",
            hint="remove the value and store it with 'mcpkit secret set NAME'; if it was ever "
            "pushed or shared, rotate it",
            code="secret-value",
        )


def _looks_like_credential(key: str, value: str) -> bool:
    normal = re.sub(r"[-_. ]", "", key.lower())
    if not _CREDENTIAL_KEY_RE.search(normal):
        return False
    text = value.strip()
    if not text or text.lower() in _HARMLESS_VALUES:
        return False
    if "{{" in text or "${" in text:
        return False
    if text.startswith(("/", "~/", "./", "../")):
        # A path to a credentials file (GOOGLE_APPLICATION_CREDENTIALS) is not the secret.
        return False
    return not SECRET_NAME_RE.fullmatch(text)


def _leaves(data: object, path: str) -> Iterator[_Leaf]:
    stack: list[tuple[str, object]] = [(path, data)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            name, value = node.get("name"), node.get("value")
            if isinstance(name, str) and isinstance(value, str):
                # An env item {name, value}: the name says what the value is.
                yield _Leaf(f"{where}.value" if where else "value", name, value)
            for key, child in node.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(child, str):
                    yield _Leaf(child_path, str(key), child)
                else:
                    stack.append((child_path, child))
        elif isinstance(node, list | tuple):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(node))
