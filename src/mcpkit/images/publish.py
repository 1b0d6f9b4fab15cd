"""Pushing a built image to its registry, then signing and attesting it there.

``mcpkit build --push`` pushes the image the build record names (its tag must name a
registry, e.g. ``127.0.0.1:5000/mcp/time:1``) through the container engine, which
uses the user's docker credentials. ``--sign`` then signs the pushed manifest digest
(cosign's format) and attaches two signed in-toto statements in DSSE envelopes: a
SLSA provenance v1 of the build and a CycloneDX SBOM of what went into the image,
plus the plain SBOM under ``.sbom``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from mcpkit.errors import InvalidInputError, RegistryError
from mcpkit.images.engine_build import split_tag
from mcpkit.images.records import BuildRecord, utc_now
from mcpkit.oci.client import RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.runtime.base import Progress
from mcpkit.runtime.engine import Engine
from mcpkit.trust.dsse import sign_statement
from mcpkit.trust.keys import SigningKey
from mcpkit.trust.registry import attach_sbom, attest, sign
from mcpkit.trust.statements import (
    PROVENANCE_PREDICATE,
    SBOM_PREDICATE,
    provenance_statement,
    sbom_document,
    sbom_statement,
)


@dataclass
class Published:
    """A pushed image, by digest, and what was attached to it."""

    reference: Reference
    attached: list[str] = field(default_factory=list)


def names_registry(image: str) -> bool:
    """Whether an image tag starts with a registry host (``host.tld/``, ``host:port/``)."""
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def target_of(record: BuildRecord) -> Reference:
    """The registry reference of a record's tag; a tag with no registry host is refused."""
    if not names_registry(record.image):
        raise InvalidInputError(
            f"{record.image} names no registry to push to",
            hint=f"build with a registry tag: mcpkit build {record.server} "
            f"--tag 127.0.0.1:5000/{record.server.replace('/', '-')}:latest --push",
        )
    return Reference.parse(record.image)


async def push_image(engine: Engine, record: BuildRecord, progress: Progress | None) -> str:
    """Push the record's tag through the engine; the pushed manifest's digest."""
    repository, tag = split_tag(record.image)
    if progress:
        progress(f"pushing {record.image}…")

    def run() -> list[dict[str, Any]]:
        stream: Iterable[dict[str, Any]] = engine.api.push(
            repository, tag=tag, stream=True, decode=True
        )
        return list(stream)

    events = await engine.call(run, what=f"pushing {record.image}")
    digest = None
    for event in events:
        if "error" in event:
            detail = event.get("errorDetail", {}).get("message") or event["error"]
            raise RegistryError(
                f"pushing {record.image} failed: {detail}",
                hint="check that the registry is running and that 'docker login' "
                "has credentials for it",
            )
        aux = event.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
            digest = aux["Digest"]
    if digest is None:
        raise RegistryError(
            f"pushing {record.image}: the engine reported no digest",
            hint="push it with 'docker push' to see the engine's messages",
        )
    return str(digest)


async def publish(
    record: BuildRecord,
    *,
    engine: Engine,
    client: RegistryClient,
    key: SigningKey | None,
    started: str | None = None,
    progress: Progress | None = None,
) -> Published:
    """Push the record's image; with ``key``, sign it and attach provenance and SBOM."""
    target = target_of(record)
    digest = await push_image(engine, record, progress)
    pinned = target.with_digest(digest)
    published = Published(pinned)
    if key is None:
        return published
    if progress:
        progress(f"signing {pinned}…")
    finished = utc_now()

    def attach() -> None:
        name = target.name
        published.attached.append(str(sign(client, pinned, key).stored_at))
        provenance = provenance_statement(
            name, digest, record, started=started or record.built_at, finished=finished
        )
        attest(client, pinned, sign_statement(key, provenance), PROVENANCE_PREDICATE, key.public)
        sbom = sbom_statement(name, digest, record)
        stored = attest(client, pinned, sign_statement(key, sbom), SBOM_PREDICATE, key.public)
        published.attached.append(str(stored.stored_at))
        document = json.dumps(sbom_document(record), separators=(",", ":")).encode()
        published.attached.append(str(attach_sbom(client, pinned, document).stored_at))

    await anyio.to_thread.run_sync(attach)
    return published
