"""A synchronous OCI distribution client: manifests, blobs, artifacts, referrers, tags.

Everything downloaded is checked against the digest it was asked by (or the one the
registry announced) and bounded in size, so a registry cannot hand over something else.
Manifests mcpkit writes are built here, not by oras-py, whose push writes no
``artifactType``, serialises non-deterministically, and whose ``Subject.from_manifest``
re-hashes re-serialised JSON instead of the registry's bytes. Async callers use
``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from mcpkit.errors import InvalidInputError, RegistryError, UnknownReferenceError
from mcpkit.oci._answers import descriptors, json_object, malformed, mismatch, read_body
from mcpkit.oci.auth import DockerCredentials
from mcpkit.oci.media import (
    EMPTY_CONFIG_DATA,
    EMPTY_CONFIG_MEDIA_TYPE,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Layer,
    Manifest,
    canonical_json,
    image_manifest,
    sha256_digest,
)
from mcpkit.oci.reference import Reference, check_digest, fallback_tag
from mcpkit.oci.transport import Endpoint, header, make_session, raise_for_status

__all__ = [
    "EMPTY_CONFIG_MEDIA_TYPE",
    "MAX_MANIFEST_SIZE",
    "Descriptor",
    "Layer",
    "Manifest",
    "RegistryClient",
    "fallback_tag",
]

#: Manifests larger than this are refused (the limit distribution and containerd use).
MAX_MANIFEST_SIZE = 4 << 20
_PULL = ("pull",)
_PUSH = ("pull", "push")
_MAX_TAG_PAGES = 100


def _target(ref: Reference) -> str:
    return ref.digest or ref.tag or "latest"


class RegistryClient:
    """Talks to OCI registries with the user's docker credentials.

    Loopback registries (127.0.0.0/8, ::1, localhost) and hosts in ``insecure`` are spoken
    to over plain HTTP, everything else over verified HTTPS. ``timeout`` bounds each request.
    Credentials come from the docker config of ``environ`` (never ``os.environ``). One client
    may serve several threads (its connection pool is shared; tokens are cached per scope).
    """

    def __init__(
        self, *, environ: Mapping[str, str], insecure: Sequence[str] = (), timeout: float = 30.0
    ) -> None:
        self._insecure = frozenset(insecure)
        self._timeout = timeout
        self._credentials = DockerCredentials(environ, timeout=timeout)
        self._session = make_session(timeout, environ)
        self._endpoints: dict[str, Endpoint] = {}

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _endpoint(self, ref: Reference) -> Endpoint:
        endpoint = self._endpoints.get(ref.registry)
        if endpoint is None:
            endpoint = Endpoint(
                ref.registry,
                self._session,
                self._credentials,
                insecure=self._insecure,
                timeout=self._timeout,
            )
            self._endpoints[ref.registry] = endpoint
        return endpoint

    def _call(
        self,
        ref: Reference,
        method: str,
        path: str,
        *,
        what: str,
        actions: Sequence[str] = _PULL,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        not_found_hint: str | None = None,
    ) -> requests.Response:
        endpoint = self._endpoint(ref)
        response = endpoint.request(
            method,
            path if path.startswith("http") else f"/v2/{ref.repository}/{path}",
            repository=ref.repository,
            actions=actions,
            what=what,
            headers=headers,
            data=data,
            stream=stream,
        )
        hint = not_found_hint or f"check the repository name and the tag or digest in {ref}"
        raise_for_status(response, registry=ref.registry, what=what, not_found_hint=hint)
        return response

    # ------------------------------------------------------------------------ manifests

    def resolve(self, ref: Reference) -> Descriptor:
        """The descriptor of the manifest ``ref`` names (an index stays an index)."""
        what = f"resolve {ref}"
        response = self._call(
            ref, "HEAD", f"manifests/{_target(ref)}", what=what, headers={"Accept": MANIFEST_ACCEPT}
        )
        response.close()
        digest = header(response, "Docker-Content-Digest")
        media_type = (header(response, "Content-Type") or "").split(";", 1)[0].strip()
        length = header(response, "Content-Length")
        if not digest or not media_type or not (length or "").isdigit():
            # Not every registry answers HEAD fully; the body tells all, and is verified.
            return self.get_manifest(ref).descriptor
        if ref.digest is not None and digest != ref.digest:
            raise mismatch(ref, what, ref.digest, f"a manifest with digest {digest}")
        return Descriptor(media_type, digest, int(length or 0))

    def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest (or index) ``ref`` names, checked against its digest."""
        what = f"get the manifest of {ref}"
        response = self._call(
            ref,
            "GET",
            f"manifests/{_target(ref)}",
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
            stream=True,
        )
        announced = header(response, "Docker-Content-Digest")
        content_type = (header(response, "Content-Type") or "").split(";", 1)[0].strip()
        raw = read_body(response, MAX_MANIFEST_SIZE, ref, what)
        digest = sha256_digest(raw)
        expected = ref.digest or announced
        if expected is not None and expected != digest:
            raise mismatch(ref, what, expected, f"content with digest {digest}")
        data = json_object(raw, ref, what)
        if data.get("schemaVersion") != 2:
            raise RegistryError(
                f"registry {ref.registry} sent a manifest for {ref} that is not schema version 2",
                hint="re-push the image with a current docker, buildx or oras",
            )
        media_type = data.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = content_type or (OCI_INDEX if "manifests" in data else OCI_MANIFEST)
        artifact_type = data.get("artifactType")
        descriptor = Descriptor(
            media_type,
            digest,
            len(raw),
            artifact_type if isinstance(artifact_type, str) else None,
        )
        return Manifest(descriptor, raw, data)

    def put_manifest(
        self, ref: Reference, manifest: Mapping[str, Any] | bytes, media_type: str
    ) -> Descriptor:
        """Store a manifest at ``ref.tag``, or by its own digest when ``ref`` has no tag.

        A mapping is serialised compactly with sorted keys; bytes are sent as they are.
        """
        raw = manifest if isinstance(manifest, bytes) else canonical_json(manifest)
        digest = sha256_digest(raw)
        what = f"push a manifest to {ref}"
        data = json_object(raw, ref, what, ours=True)
        if len(raw) > MAX_MANIFEST_SIZE:
            raise InvalidInputError(
                f"the manifest for {ref} is {len(raw)} bytes, over the {MAX_MANIFEST_SIZE} limit",
                hint="put large content in layers, not in manifest annotations",
            )
        if ref.tag is None and ref.digest is not None and ref.digest != digest:
            raise InvalidInputError(
                f"cannot push a manifest whose digest is {digest} to {ref}",
                hint="push to a tag, or to the repository without a digest",
            )
        response = self._call(
            ref,
            "PUT",
            f"manifests/{ref.tag or digest}",
            what=what,
            actions=_PUSH,
            headers={"Content-Type": media_type},
            data=raw,
        )
        response.close()
        stored = header(response, "Docker-Content-Digest")
        if stored is not None and stored != digest:
            raise mismatch(ref, what, digest, f"a manifest stored as {stored}")
        artifact_type = data.get("artifactType")
        return Descriptor(
            media_type,
            digest,
            len(raw),
            artifact_type if isinstance(artifact_type, str) else None,
        )

    def delete_manifest(self, ref: Reference) -> None:
        """Delete the manifest ``ref`` names (by digest: every tag on it goes too)."""
        digest = ref.digest or self.resolve(ref).digest
        response = self._call(
            ref, "DELETE", f"manifests/{digest}", what=f"delete {ref}", actions=("delete",)
        )
        response.close()

    def tags(self, ref: Reference) -> list[str]:
        """Every tag of ``ref``'s repository (following the registry's pagination)."""
        what = f"list the tags of {ref.name}"
        tags: list[str] = []
        path = "tags/list?n=1000"
        for _ in range(_MAX_TAG_PAGES):
            response = self._call(
                ref, "GET", path, what=what, not_found_hint=f"is {ref.name} the right repository?"
            )
            body = json_object(response.content, ref, what)
            page = body.get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise malformed(ref, what, "'tags' is not a list of strings")
            tags.extend(page)
            link = response.links.get("next", {}).get("url")
            if not link or not page:
                return tags
            path = link if link.startswith("http") else self._endpoint(ref).base + link
        raise RegistryError(
            f"registry {ref.registry} kept paginating the tags of {ref.name} "
            f"past {_MAX_TAG_PAGES} pages",
            hint="the registry's tag listing is broken; ask its operator",
        )

    # ------------------------------------------------------------------------ blobs

    def get_blob(self, ref: Reference, desc: Descriptor, *, max_size: int = 64 << 20) -> bytes:
        """The blob ``desc`` names in ``ref``'s repository, checked against digest and size."""
        what = f"get blob {desc.digest} of {ref.name}"
        try:
            check_digest(desc.digest)
        except InvalidInputError as exc:
            raise malformed(ref, what, exc.message) from exc
        if desc.size > max_size:
            raise RegistryError(
                f"blob {desc.digest} of {ref} is {desc.size} bytes, over the limit of {max_size}",
                hint="this artifact is larger than mcpkit expects of its kind",
            )
        response = self._call(ref, "GET", f"blobs/{desc.digest}", what=what, stream=True)
        data = read_body(response, desc.size, ref, what, expected=desc.digest)
        digest = sha256_digest(data)
        if digest != desc.digest:
            raise mismatch(ref, what, desc.digest, f"content with digest {digest}")
        return data

    def push_blob(self, ref: Reference, data: bytes) -> Descriptor:
        """Upload ``data`` as a blob (skipped when the registry has it already).

        The descriptor's media type is ``application/octet-stream``: a blob has none of its
        own; the manifest that lists it says what it is.
        """
        desc = Descriptor("application/octet-stream", sha256_digest(data), len(data))
        what = f"push blob {desc.digest} to {ref.name}"
        endpoint = self._endpoint(ref)
        head = endpoint.request(
            "HEAD",
            f"/v2/{ref.repository}/blobs/{desc.digest}",
            repository=ref.repository,
            actions=_PUSH,
            what=what,
        )
        head.close()
        if head.status_code == 200:
            return desc
        started = self._call(
            ref,
            "POST",
            "blobs/uploads/",
            what=what,
            actions=_PUSH,
            headers={"Content-Length": "0"},
        )
        started.close()
        location = header(started, "Location")
        if location is None:
            raise malformed(ref, what, "the upload answer has no Location")
        if not location.startswith("http"):
            location = endpoint.base + location
        separator = "&" if "?" in location else "?"
        done = self._call(
            ref,
            "PUT",
            f"{location}{separator}digest={desc.digest}",
            what=what,
            actions=_PUSH,
            headers={"Content-Type": "application/octet-stream"},
            data=data,
        )
        done.close()
        return desc

    # ------------------------------------------------------------------------ artifacts

    def push_artifact(
        self,
        ref: Reference,
        *,
        artifact_type: str,
        layers: Sequence[Layer],
        annotations: Mapping[str, str] | None = None,
        subject: Descriptor | None = None,
        config: Layer | None = None,
    ) -> Descriptor:
        """Push an OCI image manifest with ``artifactType``, its config and layers.

        The config is the empty ``{}`` unless given; the manifest goes to ``ref.tag`` (or by
        digest). The same input always yields the same manifest digest.
        """
        if "/" not in artifact_type or any(c.isspace() for c in artifact_type):
            raise InvalidInputError(
                f"{artifact_type!r} is not a media type for an artifact",
                hint="an artifact type looks like application/vnd.example.thing.v1+json",
            )
        if subject is not None:
            check_digest(subject.digest, what="subject digest")
        config = config or Layer(EMPTY_CONFIG_DATA, EMPTY_CONFIG_MEDIA_TYPE)
        pushed: set[str] = set()
        for blob in (config, *layers):
            digest = sha256_digest(blob.data)
            if digest not in pushed:
                self.push_blob(ref, blob.data)
                pushed.add(digest)
        manifest = image_manifest(
            artifact_type=artifact_type,
            config=Descriptor(config.media_type, sha256_digest(config.data), len(config.data)),
            layers=[layer.descriptor() for layer in layers],
            annotations=annotations,
            subject=subject,
        )
        return self.put_manifest(ref, manifest, OCI_MANIFEST)

    def pull_artifact(
        self, ref: Reference, *, max_size: int = 16 << 20
    ) -> tuple[Manifest, list[bytes]]:
        """The manifest ``ref`` names and its layers' bytes (each verified, each ≤ max_size)."""
        manifest = self.get_manifest(ref)
        if manifest.is_index:
            raise InvalidInputError(
                f"{ref} is an image index (a multi-platform image), not an artifact",
                hint="pull an artifact reference (a profile or catalog push), not an image",
            )
        layers = descriptors(manifest, ref, "layers")
        return manifest, [self.get_blob(ref, layer, max_size=max_size) for layer in layers]

    def referrers(
        self, ref: Reference, subject_digest: str, *, artifact_type: str | None = None
    ) -> list[Descriptor]:
        """The artifacts attached to ``subject_digest`` in ``ref``'s repository.

        The OCI 1.1 referrers API when the registry has it; else the tag schema: an index at
        tag ``sha256-<hex>``, and the manifests at ``sha256-<hex>.sig`` / ``.att`` /
        ``.sbom`` / ``.*`` whose ``subject`` is ``subject_digest``.
        """
        check_digest(subject_digest, what="subject digest")
        what = f"list the referrers of {ref.name}@{subject_digest}"
        query = (
            f"?artifactType={urllib.parse.quote(artifact_type, safe='')}" if artifact_type else ""
        )
        response = self._endpoint(ref).request(
            "GET",
            f"/v2/{ref.repository}/referrers/{subject_digest}{query}",
            repository=ref.repository,
            actions=_PULL,
            what=what,
            headers={"Accept": OCI_INDEX},
        )
        if response.status_code in (404, 405):
            response.close()
            found = self._referrers_by_tag(ref, subject_digest)
        else:
            raise_for_status(response, registry=ref.registry, what=what)
            raw = read_body(response, MAX_MANIFEST_SIZE, ref, what)
            index = Manifest(
                Descriptor(OCI_INDEX, sha256_digest(raw), len(raw)),
                raw,
                json_object(raw, ref, what),
            )
            found = descriptors(index, ref, "manifests")
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    def _referrers_by_tag(self, ref: Reference, subject_digest: str) -> list[Descriptor]:
        try:
            tags = self.tags(ref)
        except UnknownReferenceError:
            return []
        prefix = fallback_tag(subject_digest, "")
        found: dict[str, Descriptor] = {}
        for tag in sorted(tags):
            if tag != prefix and not tag.startswith(f"{prefix}."):
                continue
            manifest = self.get_manifest(ref.with_tag(tag))
            if tag == prefix:
                if manifest.is_index:
                    for desc in descriptors(manifest, ref, "manifests"):
                        found.setdefault(desc.digest, desc)
                continue
            if manifest.is_index:
                continue
            try:
                subject = manifest.subject
            except ValueError:
                continue  # a malformed subject names nothing; other tags may still count
            # cosign's own .sig/.att manifests carry no subject: the tag itself names the
            # digest they belong to, so a tag-schema manifest without subject is accepted.
            # What the artifact says it signs is checked by whoever verifies it.
            if subject is not None and subject.digest != subject_digest:
                continue
            found.setdefault(
                manifest.descriptor.digest,
                Descriptor(
                    manifest.media_type,
                    manifest.descriptor.digest,
                    manifest.descriptor.size,
                    manifest.artifact_type,
                    manifest.annotations,
                ),
            )
        return list(found.values())
