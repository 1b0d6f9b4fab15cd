"""What went into a locally built server image, kept beside the state.

``mcpkit build`` writes one :class:`BuildRecord` per server id under
``<data dir>/images/<id>.json`` (a ``/`` in the id is written ``%2F``). The docker
runtime reads it to find the image a package server runs as, and the supply-chain
work attests from it: the package, the resolved version, and the hash of every
artifact that was installed. Image labels repeat some of this for people reading
``docker inspect``; nothing reads labels back, so a record is the only truth.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import StateError
from mcpkit.settings import atomic_write

BuildKind = Literal["pypi", "npm", "dockerfile"]


def utc_now() -> str:
    """The current time as ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Artifact(BaseModel):
    """One thing installed into an image: a wheel, an npm tarball, a context file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A wheel's file name, ``name@version`` for an npm package, or a context path.
    name: str
    #: ``sha256:<hex>`` of the file (wheels, context files, pinned npm tarballs).
    sha256: str | None = None
    #: The Subresource Integrity string npm recorded in package-lock.json.
    integrity: str | None = None


class BuildRecord(BaseModel):
    """A successful build: the tag, the image id and everything that went in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: str
    image: str
    image_id: str
    kind: BuildKind
    package: str | None = None
    #: The version that was resolved and installed (not the requested one).
    version: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    base: str
    base_id: str
    #: The image's ENTRYPOINT, as baked in.
    entrypoint: list[str] = Field(default_factory=list)
    #: A hash of every input of the build; equal inputs make a rebuild unnecessary.
    inputs: str
    #: The engine endpoint (url) the image was built on.
    engine: str
    built_at: str = Field(default_factory=utc_now)


def record_path(data_dir: Path, server_id: str) -> Path:
    """Where the record of ``server_id`` lives."""
    # Ids never contain '%' (SERVER_ID_RE), so encoding '/' alone is reversible.
    return data_dir / "images" / f"{server_id.replace('/', '%2F')}.json"


def save_record(data_dir: Path, record: BuildRecord) -> Path:
    """Write ``record`` atomically, replacing the server's previous record."""
    path = record_path(data_dir, record.server)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, (record.model_dump_json(indent=2) + "\n").encode(), mode=0o644)
    except OSError as exc:
        raise StateError(
            f"could not write the build record {path}: {exc.strerror or exc}",
            hint=f"check that {path.parent} is writable",
        ) from exc
    return path


def load_record(data_dir: Path, server_id: str) -> BuildRecord | None:
    """The record of ``server_id``, or None when it was never built.

    A record that cannot be read or parsed raises :class:`StateError` naming the file.
    """
    path = record_path(data_dir, server_id)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(
            f"could not read the build record {path}: {exc.strerror or exc}",
            hint=f"check the permissions of {path}",
        ) from exc
    fix = f"remove {path} and run 'mcpkit build {server_id}' again"
    try:
        record = BuildRecord.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        detail = str(exc).splitlines()[0]
        raise StateError(f"the build record {path} is corrupt: {detail}", hint=fix) from exc
    if record.server != server_id:
        raise StateError(
            f"the build record {path} is for server {record.server!r}, not {server_id!r}",
            hint=fix,
        )
    return record


def record_for(data_dir: Path, spec: ServerSpec) -> BuildRecord | None:
    """The record that can stand for ``spec``'s package, or None.

    It must be for the same id and package, for the version the spec pins when it
    pins one, and hold an artifact with one of the hashes the spec pins, if any.
    Only package-sourced specs have such a record.
    """
    source = spec.source
    if source.type != "package":
        return None
    record = load_record(data_dir, spec.id)
    if record is None or record.kind != source.registry or record.package != source.name:
        return None
    if source.version is not None and record.version != source.version:
        return None
    if source.hashes and not {a.sha256 for a in record.artifacts} & set(source.hashes):
        return None  # built before the catalog pinned this artifact
    return record
