"""OCI data: media types, descriptors, manifests, layers, and how manifests are serialised.

Pure data and hashing, no I/O. Manifests mcpkit writes are serialised compactly with sorted
keys (:func:`canonical_json`), so the same input always gives the same bytes and digest;
manifests it reads keep the registry's bytes (:attr:`Manifest.raw`), which are what the
digest covers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
#: The config of an artifact that has none; its bytes are ``{}``.
EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG_DATA = b"{}"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
#: The ``Accept`` header for manifests: both image manifests and both index forms.
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys: one input, one byte string, one digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest, blob or referrer is, and its digest."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The descriptor as OCI JSON (``artifactType``/``annotations`` only when set)."""
        data: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            data["artifactType"] = self.artifact_type
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Descriptor:
        """Read OCI descriptor JSON; :class:`ValueError` when a field is missing or mistyped."""
        media_type = data.get("mediaType")
        digest = data.get("digest")
        size = data.get("size")
        artifact_type = data.get("artifactType")
        annotations = data.get("annotations") or {}
        if not isinstance(media_type, str) or not isinstance(digest, str):
            # ValueError throughout: callers treat any malformed descriptor as bad data.
            raise ValueError("a descriptor needs string 'mediaType' and 'digest'")  # noqa: TRY004
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"descriptor {digest} has no valid 'size'")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise ValueError(f"descriptor {digest} has a non-string 'artifactType'")
        if not isinstance(annotations, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ValueError(f"descriptor {digest} has annotations that are not strings")
        return cls(media_type, digest, size, artifact_type, dict(annotations))


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it: its descriptor, exact bytes and parsed JSON.

    The client checks ``raw`` against ``descriptor.digest`` before building one.
    """

    descriptor: Descriptor
    raw: bytes
    data: dict[str, Any]

    @property
    def media_type(self) -> str:
        """The manifest's media type (image manifest or index)."""
        return self.descriptor.media_type

    @property
    def is_index(self) -> bool:
        """Whether this is an image index / manifest list rather than an image manifest."""
        return self.descriptor.media_type in INDEXES

    @property
    def config(self) -> Descriptor | None:
        """The config descriptor of an image manifest (None for an index)."""
        config = self.data.get("config")
        return Descriptor.from_dict(config) if isinstance(config, Mapping) else None

    @property
    def layers(self) -> list[Descriptor]:
        """The layer descriptors, in order (empty for an index)."""
        return [Descriptor.from_dict(item) for item in self.data.get("layers") or []]

    @property
    def manifests(self) -> list[Descriptor]:
        """The manifests an index lists (empty for an image manifest)."""
        return [Descriptor.from_dict(item) for item in self.data.get("manifests") or []]

    @property
    def subject(self) -> Descriptor | None:
        """The ``subject`` this manifest refers to, if any."""
        subject = self.data.get("subject")
        return Descriptor.from_dict(subject) if isinstance(subject, Mapping) else None

    @property
    def artifact_type(self) -> str | None:
        """``artifactType``, else the config's media type (the OCI referrers rule)."""
        artifact_type = self.data.get("artifactType")
        if isinstance(artifact_type, str) and artifact_type:
            return artifact_type
        config = self.data.get("config")
        if isinstance(config, Mapping) and isinstance(config.get("mediaType"), str):
            return str(config["mediaType"])
        return None

    @property
    def annotations(self) -> dict[str, str]:
        """The manifest's annotations (non-string values dropped)."""
        annotations = self.data.get("annotations")
        if not isinstance(annotations, Mapping):
            return {}
        return {k: v for k, v in annotations.items() if isinstance(k, str) and isinstance(v, str)}


@dataclass(frozen=True)
class Layer:
    """Content to push as one blob of an artifact, with its media type and annotations."""

    data: bytes
    media_type: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    def descriptor(self) -> Descriptor:
        """The descriptor this content gets in a manifest."""
        return Descriptor(
            self.media_type,
            sha256_digest(self.data),
            len(self.data),
            annotations=dict(self.annotations),
        )


def image_manifest(
    *,
    artifact_type: str,
    config: Descriptor,
    layers: list[Descriptor],
    annotations: Mapping[str, str] | None,
    subject: Descriptor | None,
) -> dict[str, Any]:
    """An OCI image manifest for an artifact (the subject as mediaType/digest/size only)."""
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config.to_dict(),
        "layers": [layer.to_dict() for layer in layers],
    }
    if subject is not None:
        # A subject names the manifest it points at; its artifactType/annotations are that
        # manifest's business and would only make the referrer's digest depend on them.
        manifest["subject"] = Descriptor(subject.media_type, subject.digest, subject.size).to_dict()
    if annotations:
        manifest["annotations"] = dict(annotations)
    return manifest
