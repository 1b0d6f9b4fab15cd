"""Reading registry answers safely: bounded bodies, JSON objects, and the errors for bad ones."""

from __future__ import annotations

import json
from typing import Any

import requests

from mcpkit.errors import InvalidInputError, RegistryError
from mcpkit.oci.media import Descriptor, Manifest
from mcpkit.oci.reference import Reference
from mcpkit.oci.transport import header


def read_body(
    response: requests.Response,
    limit: int,
    ref: Reference,
    what: str,
    *,
    expected: str | None = None,
) -> bytes:
    """The body, refusing more than ``limit`` bytes (announced or sent).

    With ``expected`` (a digest whose size is ``limit``), more is a digest mismatch.
    """

    def too_large() -> RegistryError:
        if expected is not None:
            return mismatch(ref, what, expected, f"more than {limit} bytes")
        return too_large_error(ref, what, limit)

    try:
        length = header(response, "Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large()
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_content(64 << 10):
            total += len(chunk)
            if total > limit:
                raise too_large()
            chunks.append(chunk)
        return b"".join(chunks)
    except requests.RequestException as exc:
        raise RegistryError(
            f"registry {ref.registry} broke off while trying to {what}",
            hint="try again; the connection was interrupted",
        ) from exc
    finally:
        response.close()


def json_object(raw: bytes, ref: Reference, what: str, *, ours: bool = False) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    if ours:
        raise InvalidInputError(
            f"the manifest to {what} is not a JSON object",
            hint="pass a mapping, or the JSON bytes of one",
        )
    raise malformed(ref, what, "the answer is not a JSON object")


def descriptors(manifest: Manifest, ref: Reference, key: str) -> list[Descriptor]:
    try:
        return manifest.layers if key == "layers" else manifest.manifests
    except ValueError as exc:
        raise malformed(ref, f"read the {key} of {ref}", str(exc)) from exc


def mismatch(ref: Reference, what: str, expected: str, got: str) -> RegistryError:
    return RegistryError(
        f"registry {ref.registry} sent something other than what was asked "
        f"(to {what}: expected {expected}, got {got})",
        hint="the registry's storage is corrupt or was tampered with; do not use this artifact",
        code="digest-mismatch",
    )


def malformed(ref: Reference, what: str, why: str) -> RegistryError:
    return RegistryError(
        f"registry {ref.registry} sent a malformed answer to {what}: {why}",
        hint="is this an OCI distribution registry? check the reference's host",
    )


def too_large_error(ref: Reference, what: str, limit: int) -> RegistryError:
    return RegistryError(
        f"registry {ref.registry} sent more than {limit} bytes to {what}",
        hint="the registry sent something larger than what was asked for; do not use it",
    )
