"""Profiles as OCI artifacts: ours, and Docker's MCP Toolkit profile artifacts.

Pure encode/decode; ``profile push``/``profile pull`` do the registry I/O with ``mcpkit.oci``.

Our artifact: ``artifactType`` :data:`PROFILE_ARTIFACT_TYPE`, the empty config, and one
layer holding the export document of :func:`mcpkit.profiles.io.to_document` (server ids,
config, tool filters, carried specs, the names of the secrets needed, and the pins, which
are the profile's lock: image digests, package versions and hashes, tool hashes). The
layer's media type is the artifact type itself, and the layer is canonical JSON rather
than YAML: the same profile always gives the same bytes, so its digest and signature are
stable, and JSON is parsed without YAML's aliases and tags. The YAML export remains the
form people read and keep in git; the artifact is what machines exchange. Manifest
annotations carry the title, creation time, description, ``dev.mcpkit.profile.name`` and
a lock summary (:data:`ANNOTATION_PROFILE_LOCK`) that can be read without the layer.

Docker's artifact (``docker mcp profile push``; facts in ``/work/notes/docker_oci_formats.md``):
``artifactType`` :data:`DOCKER_PROFILE_ARTIFACT_TYPE`, one ``application/json`` layer, a
"working set" ``{version: 1, id, name, servers: [...], secrets: {name: {provider}}}``. Each
server becomes a :class:`~mcpkit.profiles.model.ProfileServer` carrying the spec converted
from its ``snapshot`` (its own digest-pinned ``image`` wins, and that digest becomes the
pin), its ``config``, and its ``tools`` (``null`` = all, a list = the allowlist).

Secret values are **refused, not stripped**, on push and on pull: a document holding
anything that looks like a credential (see :func:`mcpkit.catalog.artifact.find_secret_value`;
for Docker profiles also a ``secrets`` entry with anything beside ``provider``) raises
``ProfileFormatError(code="secret-value")`` naming the field, never the value. Stripping
would silently hand the user a different profile, and a value that was published is
compromised anyway: the author has to remove and rotate it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from mcpkit.catalog.artifact import (
    ANNOTATION_TITLE,
    DOCKER_CATALOG_ARTIFACT_TYPE,
    DOCKER_PROFILE_ARTIFACT_TYPE,
    ManifestLike,
    base_annotations,
    check_no_secret_values,
    convert_docker_server,
    decode_json_layer,
    pick_layer,
)
from mcpkit.catalog.model import SECRET_NAME_RE, ImageSource, ServerSpec
from mcpkit.errors import ProfileFormatError
from mcpkit.oci.media import Layer, canonical_json
from mcpkit.profiles.io import KIND, from_text
from mcpkit.profiles.model import Pins, Profile, ProfileServer, ToolFilter, check_profile_name

PROFILE_ARTIFACT_TYPE = "application/vnd.mcpkit.profile.v1+json"
#: The layer holding the profile document (see the module docstring for why it is the same).
PROFILE_LAYER_MEDIA_TYPE = PROFILE_ARTIFACT_TYPE
ANNOTATION_PROFILE_NAME = "dev.mcpkit.profile.name"
#: ``servers=N,image-digests=I,package-hashes=P,tool-pins=T,unpinned=U``.
ANNOTATION_PROFILE_LOCK = "dev.mcpkit.profile.lock"
#: Largest profile layer accepted, as for exported files.
MAX_PROFILE_BYTES = 5 * 1024 * 1024

Format = Literal["mcpkit", "docker"]
_PULL_HINT = (
    "check the reference: 'mcpkit profile pull' takes a profile pushed by "
    "'mcpkit profile push' or 'docker mcp profile push'"
)


@dataclass
class PulledProfile:
    """A profile read from an artifact, and what it needs before it can run."""

    profile: Profile
    #: The specs the artifact carries, by server id (every server of a Docker profile).
    specs: dict[str, ServerSpec]
    format: Format
    #: Names of the secrets its servers need (never values).
    secrets: list[str]
    #: Remote servers that need an OAuth authorization.
    authorizations: list[str]
    #: Servers skipped or changed while converting (Docker profiles).
    warnings: list[str] = field(default_factory=list)

    def instructions(self) -> list[str]:
        """The commands that provide what the profile needs, one per line."""
        lines = [f"mcpkit secret set {shlex.quote(name)}" for name in self.secrets]
        profile = shlex.quote(self.profile.name)
        lines += [
            f"mcpkit oauth authorize {shlex.quote(server)} --profile {profile}"
            for server in self.authorizations
        ]
        return lines


def profile_layers(
    doc: Mapping[str, Any], *, created: datetime | None = None
) -> tuple[str, list[Layer], dict[str, str]]:
    """The artifact type, layers and manifest annotations for an exported profile document.

    ``doc`` comes from :func:`mcpkit.profiles.io.to_document`. It is checked the way a pull
    reads it (so what is pushed can be pulled) and for secret values, which are refused
    with :class:`ProfileFormatError` code ``secret-value``.
    """
    name = doc.get("name")
    origin = f"profile {name}" if isinstance(name, str) and name else "profile document"
    if doc.get("kind") != KIND:
        raise ProfileFormatError(
            f"{origin}: kind {doc.get('kind')!r} is not {KIND!r}",
            hint="build the document with mcpkit.profiles.io.to_document",
        )
    _check_secret_names(doc.get("secrets"), origin=origin)
    check_no_secret_values(doc, origin=origin, error=ProfileFormatError)
    data = canonical_json(doc)
    if len(data) > MAX_PROFILE_BYTES:
        raise ProfileFormatError(
            f"{origin}: {len(data)} bytes once written, more than the limit of 5 MiB",
            hint="carry fewer specs in the profile; put them in a catalog instead",
        )
    profile = from_text(data, origin=origin)
    description = doc.get("description")
    annotations = base_annotations(
        profile.name, description if isinstance(description, str) else "", created
    )
    annotations[ANNOTATION_PROFILE_NAME] = profile.name
    annotations[ANNOTATION_PROFILE_LOCK] = profile_lock_summary(profile)
    layer = Layer(
        data=data,
        media_type=PROFILE_LAYER_MEDIA_TYPE,
        annotations={ANNOTATION_TITLE: f"{profile.name}.profile.json"},
    )
    return PROFILE_ARTIFACT_TYPE, [layer], annotations


def read_profile_artifact(
    manifest: ManifestLike,
    layers: Sequence[bytes],
    *,
    origin: str,
    name: str | None = None,
    known: Callable[[str], ServerSpec | None] | None = None,
) -> PulledProfile:
    """The profile in a pulled artifact, ours or Docker's; ``name`` renames it.

    ``known`` looks a server id up in the local catalogs, so that the secrets and OAuth
    needs of servers the profile names without carrying a spec are listed too.
    Raises :class:`ProfileFormatError`.
    """
    kind = manifest.artifact_type
    if kind == PROFILE_ARTIFACT_TYPE:
        raw = pick_layer(
            manifest, layers, (PROFILE_LAYER_MEDIA_TYPE,), origin=origin, error=ProfileFormatError
        )
        data = decode_json_layer(
            raw, origin=origin, limit=MAX_PROFILE_BYTES, error=ProfileFormatError
        )
        return _read_ours(raw, data, origin=origin, name=name, known=known)
    if kind == DOCKER_PROFILE_ARTIFACT_TYPE:
        raw = pick_layer(manifest, layers, None, origin=origin, error=ProfileFormatError)
        data = decode_json_layer(
            raw, origin=origin, limit=MAX_PROFILE_BYTES, error=ProfileFormatError
        )
        return _read_docker(data, origin=origin, name=name)
    if kind in ("application/vnd.mcpkit.catalog.v1+json", DOCKER_CATALOG_ARTIFACT_TYPE):
        raise ProfileFormatError(
            f"{origin}: is a catalog, not a profile",
            hint="pull it with 'mcpkit catalog pull REF'",
        )
    raise ProfileFormatError(
        f"{origin}: artifact type {kind!r} is not a profile "
        f"(expected {PROFILE_ARTIFACT_TYPE} or {DOCKER_PROFILE_ARTIFACT_TYPE})",
        hint=_PULL_HINT,
    )


def profile_lock_summary(profile: Profile) -> str:
    """How much of a profile is locked: servers pinned by image digest, package hashes, tools."""
    images = packages = tools = unpinned = 0
    for server in profile.servers:
        source = server.spec.source if server.spec is not None else None
        image = bool(server.pins.image_digest) or (
            isinstance(source, ImageSource) and source.digest is not None
        )
        package = bool(server.pins.package_version and server.pins.package_hashes) or bool(
            source is not None and source.type == "package" and source.version and source.hashes
        )
        images += image
        packages += package
        tools += bool(server.pins.tools)
        unpinned += not (image or package)
    return (
        f"servers={len(profile.servers)},image-digests={images},package-hashes={packages},"
        f"tool-pins={tools},unpinned={unpinned}"
    )


def _read_ours(
    raw: bytes,
    data: dict[str, Any],
    *,
    origin: str,
    name: str | None,
    known: Callable[[str], ServerSpec | None] | None,
) -> PulledProfile:
    if data.get("kind") != KIND:
        raise ProfileFormatError(
            f"{origin}: kind {data.get('kind')!r} is not {KIND!r}", hint=_PULL_HINT
        )
    declared = _check_secret_names(data.get("secrets"), origin=origin)
    check_no_secret_values(data, origin=origin, error=ProfileFormatError)
    profile = from_text(raw, origin=origin, name=name)
    carried = {s.id: s.spec for s in profile.servers if s.spec is not None}
    resolved = dict(carried)
    if known is not None:
        for server in profile.servers:
            if server.id not in resolved:
                spec = known(server.id)
                if spec is not None:
                    resolved[server.id] = spec
    return PulledProfile(
        profile=profile,
        specs=carried,
        format="mcpkit",
        secrets=sorted(set(declared) | _secret_names(resolved.values())),
        authorizations=_needs_oauth(profile, resolved),
    )


def _read_docker(data: dict[str, Any], *, origin: str, name: str | None) -> PulledProfile:
    version = data.get("version")
    if isinstance(version, bool) or version != 1:
        raise ProfileFormatError(
            f"{origin}: Docker profile version {version!r} is not supported (this mcpkit reads 1)",
            hint="upgrade mcpkit, or export the profile from a Docker MCP Toolkit that writes 1",
        )
    servers = data.get("servers")
    if servers is None:
        servers = []  # Go writes an empty slice as null
    if not isinstance(servers, list):
        raise ProfileFormatError(f"{origin}: 'servers' is not a list", hint=_PULL_HINT)
    _check_docker_secrets(data.get("secrets"), origin=origin)
    check_no_secret_values(data, origin=origin, error=ProfileFormatError)
    warnings: list[str] = []
    entries: list[ProfileServer] = []
    specs: dict[str, ServerSpec] = {}
    for index, item in enumerate(servers):
        where = f"{origin}: servers[{index}]"
        spec, converted = convert_docker_server(item, where=where, bare=True)
        warnings.extend(converted)
        if spec is None or not isinstance(item, Mapping):
            continue
        if spec.id in specs:
            warnings.append(f"{where}: skipped: another server has the id {spec.id!r} already")
            continue
        specs[spec.id] = spec
        entries.append(_docker_server(spec, item, where=where))
    profile_name = name if name is not None else _docker_name(data, origin=origin)
    title = data.get("name")
    description = title if isinstance(title, str) and title != profile_name else ""
    try:
        profile = Profile(name=profile_name, description=description, servers=entries)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ProfileFormatError(
            f"{origin}: {err['msg'].removeprefix('Value error, ')}",
            hint="give the pulled profile a valid name with --name NAME",
        ) from exc
    return PulledProfile(
        profile=profile,
        specs=specs,
        format="docker",
        secrets=sorted(_secret_names(specs.values())),
        authorizations=_needs_oauth(profile, specs),
        warnings=warnings,
    )


def _docker_server(spec: ServerSpec, item: Mapping[str, Any], *, where: str) -> ProfileServer:
    config = item.get("config") or {}
    if not isinstance(config, Mapping):
        raise ProfileFormatError(f"{where}: 'config' is not a mapping", hint=_PULL_HINT)
    tools = item.get("tools")
    if tools is not None and (
        not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)
    ):
        raise ProfileFormatError(f"{where}: 'tools' is not a list of tool names", hint=_PULL_HINT)
    digest = spec.source.digest if isinstance(spec.source, ImageSource) else None
    return ProfileServer(
        id=spec.id,
        spec=spec,
        config=dict(config),
        # Docker: null exposes every tool, a list (even empty) is the allowlist.
        tools=ToolFilter(allow=list(tools) if tools is not None else None),
        pins=Pins(image_digest=digest),
    )


def _docker_name(data: Mapping[str, Any], *, origin: str) -> str:
    for key in ("id", "name"):
        value = data.get(key)
        if isinstance(value, str):
            slug = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:64]
            try:
                check_profile_name(slug)
            except ValueError:
                continue
            return slug
    raise ProfileFormatError(
        f"{origin}: the Docker profile has no usable id or name", hint="pass --name NAME"
    )


def _check_secret_names(value: object, *, origin: str) -> list[str]:
    """The ``secrets`` list of our document: names only, or a clear refusal."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        raise ProfileFormatError(
            f"{origin}: refused: 'secrets' maps names to values; secret values are never "
            "shared, only secret names",
            hint="list only the names; set values with 'mcpkit secret set NAME', and rotate "
            "any value that was shared",
            code="secret-value",
        )
    if not isinstance(value, list):
        raise ProfileFormatError(f"{origin}: 'secrets' is not a list of names", hint=_PULL_HINT)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not SECRET_NAME_RE.fullmatch(item):
            raise ProfileFormatError(
                f"{origin}: refused: secrets[{index}] is not a secret name (<server>.<key>); "
                "a profile lists names, never values",
                hint="list only names such as github.token; rotate any value that was shared",
                code="secret-value",
            )
    return list(value)


def _check_docker_secrets(value: object, *, origin: str) -> None:
    """Docker's ``secrets`` map names a provider; anything else could be a value."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ProfileFormatError(f"{origin}: 'secrets' is not a mapping", hint=_PULL_HINT)
    for key, entry in value.items():
        extra = sorted(k for k in entry if k != "provider") if isinstance(entry, Mapping) else []
        if not isinstance(entry, Mapping) or extra:
            raise ProfileFormatError(
                f"{origin}: refused: secrets.{key} holds "
                + (f"{extra[0]!r}" if extra else "a value")
                + " where only a provider is expected; it may be a secret value",
                hint="the publisher must remove it (and rotate the value); profiles carry "
                "secret names, never values",
                code="secret-value",
            )


def _secret_names(specs: Any) -> set[str]:
    return {name for spec in specs for name in spec.secret_names}


def _needs_oauth(profile: Profile, specs: Mapping[str, ServerSpec]) -> list[str]:
    needs: list[str] = []
    for server in profile.servers:
        spec = specs.get(server.id)
        if spec is not None and spec.source.type == "remote" and spec.source.oauth is not None:
            needs.append(server.id)
    return needs
