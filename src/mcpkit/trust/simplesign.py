"""cosign's simple-signing payload: what a key-based image signature signs.

cosign signs, for an image, this JSON document (compact, keys in this order)::

    {"critical":{"identity":{"docker-reference":"registry/repo"},
                 "image":{"docker-manifest-digest":"sha256:<hex>"},
                 "type":"cosign container image signature"},
     "optional":{...} | null}

and stores it as a layer of type :data:`SIMPLESIGNING_MEDIA_TYPE` whose annotation
:data:`SIGNATURE_ANNOTATION` holds the base64 DER signature. A verifier must check not
only the signature but that the payload names the image's digest *and* repository, or a
signature of one image could be replayed for another.

Parsing is strict: ``critical`` (which the signer marks as must-understand) may hold
nothing but those three fields, and ``type`` must be cosign's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcpkit.errors import InvalidInputError, VerificationError

SIMPLESIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class SimpleSigning:
    """A parsed simple-signing payload."""

    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any]


def make_payload(
    docker_reference: str, manifest_digest: str, optional: Mapping[str, Any] | None = None
) -> bytes:
    """The payload cosign would sign for ``docker_reference`` (registry/repository) at a digest.

    ``optional`` None is written ``null``, as cosign does when there are no annotations.
    """
    if not DIGEST_RE.match(manifest_digest):
        raise InvalidInputError(
            f"{manifest_digest!r} is not a manifest digest",
            hint="sign an image by its digest: sha256:<64 hex digits>",
        )
    if not docker_reference or "@" in docker_reference:
        raise InvalidInputError(
            f"{docker_reference!r} is not a repository name",
            hint="give the repository without a digest, e.g. 127.0.0.1:5000/mcp/time",
        )
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": dict(optional) if optional is not None else None,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _object(value: object, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError(f"the signed payload's {where} is not an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise VerificationError(
            f"the signed payload's {where} has unknown fields: {', '.join(unknown)}"
        )
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise VerificationError(f"the signed payload's {where} is not a string")
    return value


def parse_payload(data: bytes) -> SimpleSigning:
    """Parse a simple-signing payload; :class:`VerificationError` when malformed."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise VerificationError(f"the signed payload is not JSON: {exc}") from exc
    top = _object(doc, "document", {"critical", "optional"})
    critical = _object(top.get("critical"), "critical", {"identity", "image", "type"})
    kind = critical.get("type")
    if kind != SIGNATURE_TYPE:
        raise VerificationError(
            f"the signed payload's type is {kind!r}, not {SIGNATURE_TYPE!r}",
            hint="this is not a cosign image signature",
        )
    identity = _object(critical.get("identity"), "critical.identity", {"docker-reference"})
    image = _object(critical.get("image"), "critical.image", {"docker-manifest-digest"})
    reference = _string(identity.get("docker-reference"), "docker-reference")
    digest = _string(image.get("docker-manifest-digest"), "docker-manifest-digest")
    if not DIGEST_RE.match(digest):
        raise VerificationError(f"the signed payload's digest {digest!r} is not sha256:<hex>")
    optional = top.get("optional")
    if optional is None:
        optional = {}
    elif not isinstance(optional, dict):
        raise VerificationError("the signed payload's optional part is not an object")
    return SimpleSigning(docker_reference=reference, manifest_digest=digest, optional=optional)
