"""Signatures and attestations in an OCI registry, in cosign's layout.

A signature is a cosign *simple-signing* payload naming the repository and the
manifest digest, signed with ECDSA-SHA256; the base64 signature is the annotation
``dev.cosignproject.cosign/signature`` of the payload's layer. Attestations are
in-toto statements in DSSE envelopes, one layer each, annotated with their
``predicateType``. Both live in manifests whose ``subject`` is the signed manifest,
stored under cosign's tags ``sha256-<hex>.sig`` and ``.att`` (registries without
the OCI 1.1 referrers API, like distribution 2.8, only offer tags). A plain
CycloneDX SBOM is also attached under ``.sbom`` for tools that read it there.

Signing appends: a second key's signature is added to the same ``.sig`` manifest
next to the first, as cosign does, and re-signing with the same key replaces only
that key's layer. Every call here is synchronous (the OCI client is); async
callers run them in a thread.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcpkit.errors import McpkitError, UnknownReferenceError, VerificationError
from mcpkit.oci.client import Descriptor, Layer, Manifest, RegistryClient, fallback_tag
from mcpkit.oci.reference import Reference
from mcpkit.trust.checks import Check, Verdict, check_attestations, check_signatures
from mcpkit.trust.dsse import DSSE_MEDIA_TYPE, open_envelope
from mcpkit.trust.keys import PublicKey, SigningKey
from mcpkit.trust.simplesign import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING_MEDIA_TYPE,
    make_payload,
)

SIG_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
PREDICATE_ANNOTATION = "predicateType"
#: Bounds on what a verifier downloads for one subject (signatures are ~1 KiB each).
_MAX_SIG_PAYLOAD = 256 << 10
_MAX_ENVELOPE = 32 << 20


@dataclass(frozen=True)
class Signed:
    """Where a signature or attestation went."""

    subject: Reference
    #: The reference of the ``.sig``/``.att`` manifest.
    stored_at: Reference
    descriptor: Descriptor


def subject_of(client: RegistryClient, ref: Reference) -> tuple[Reference, Descriptor]:
    """The digest reference of ``ref`` and its descriptor.

    A reference that names a digest must still be in the registry with that digest.
    """
    desc = client.resolve(ref)
    if ref.digest is not None and desc.digest != ref.digest:
        raise VerificationError(
            f"{ref.name} answered {desc.digest} for {ref.digest}",
            hint="the registry served another manifest than the digest asked for",
        )
    return ref.with_digest(desc.digest), desc


def sign(
    client: RegistryClient,
    ref: Reference,
    key: SigningKey,
    *,
    optional: Mapping[str, Any] | None = None,
) -> Signed:
    """Sign the manifest ``ref`` names (tag or digest) with ``key``."""
    subject, desc = subject_of(client, ref)
    payload = make_payload(ref.name, desc.digest, optional)
    signature = base64.b64encode(key.sign(payload)).decode()
    layer = Layer(payload, SIMPLESIGNING_MEDIA_TYPE, {SIGNATURE_ANNOTATION: signature})
    kept = [
        old for old in _existing_layers(client, subject, "sig") if not _same_signer(old, key.public)
    ]
    layers = [*kept, layer]
    config = Layer(_cosign_config(layers), "application/vnd.oci.image.config.v1+json")
    stored_at = subject.with_tag(fallback_tag(desc.digest, "sig"))
    pushed = client.push_artifact(
        stored_at,
        artifact_type=SIG_ARTIFACT_TYPE,
        layers=layers,
        subject=desc,
        config=config,
    )
    return Signed(subject, stored_at, pushed)


def attest(
    client: RegistryClient,
    ref: Reference,
    envelope: bytes,
    predicate_type: str,
    signer: PublicKey,
) -> Signed:
    """Attach a signed DSSE envelope to ``ref``, replacing the same signer's older one."""
    subject, desc = subject_of(client, ref)
    layer = Layer(envelope, DSSE_MEDIA_TYPE, {PREDICATE_ANNOTATION: predicate_type})
    kept = [
        old
        for old in _existing_layers(client, subject, "att")
        if not (
            old.annotations.get(PREDICATE_ANNOTATION) == predicate_type
            and _signed_by(old.data, signer)
        )
    ]
    layers = [*kept, layer]
    config = Layer(_cosign_config(layers), "application/vnd.oci.image.config.v1+json")
    stored_at = subject.with_tag(fallback_tag(desc.digest, "att"))
    pushed = client.push_artifact(
        stored_at, artifact_type=DSSE_MEDIA_TYPE, layers=layers, subject=desc, config=config
    )
    return Signed(subject, stored_at, pushed)


def attach_sbom(client: RegistryClient, ref: Reference, sbom: bytes) -> Signed:
    """Attach a plain CycloneDX SBOM under ``.sbom`` (unsigned; the attestation is signed)."""
    subject, desc = subject_of(client, ref)
    stored_at = subject.with_tag(fallback_tag(desc.digest, "sbom"))
    pushed = client.push_artifact(
        stored_at,
        artifact_type=CYCLONEDX_MEDIA_TYPE,
        layers=[Layer(sbom, CYCLONEDX_MEDIA_TYPE)],
        subject=desc,
    )
    return Signed(subject, stored_at, pushed)


def signatures(client: RegistryClient, subject: Reference) -> list[tuple[bytes, str]]:
    """Every (payload, base64 signature) attached to the digest ``subject`` names."""
    found: list[tuple[bytes, str]] = []
    for manifest in _attached(client, subject, "sig"):
        for desc in manifest.layers:
            signature = desc.annotations.get(SIGNATURE_ANNOTATION)
            if desc.media_type != SIMPLESIGNING_MEDIA_TYPE or not signature:
                continue
            found.append((client.get_blob(subject, desc, max_size=_MAX_SIG_PAYLOAD), signature))
    return found


def attestations(client: RegistryClient, subject: Reference) -> list[bytes]:
    """Every DSSE envelope attached to the digest ``subject`` names."""
    found: list[bytes] = []
    for manifest in _attached(client, subject, "att"):
        for desc in manifest.layers:
            if desc.media_type == DSSE_MEDIA_TYPE:
                found.append(client.get_blob(subject, desc, max_size=_MAX_ENVELOPE))
    return found


def verify(
    client: RegistryClient,
    ref: Reference,
    keys: Sequence[PublicKey],
    *,
    require_pinned: bool = True,
    signature: bool = True,
    provenance: bool = False,
    sbom: bool = False,
    expected_source: str | None = None,
    expected_hashes: Sequence[str] = (),
) -> Verdict:
    """Every check of ``ref``: pinned, signed by one of ``keys``, attested as asked.

    Network and registry failures become failed checks too, so a caller always gets
    a verdict that says what could not be verified and why.
    """
    checks: list[Check] = []
    name = str(ref)
    if require_pinned:
        checks.append(
            Check(
                "pinned",
                ref.digest is not None,
                f"pinned to {ref.digest}"
                if ref.digest
                else "not pinned by digest (a tag can be moved to other content)",
            )
        )
    try:
        subject, desc = subject_of(client, ref)
    except (VerificationError, UnknownReferenceError) as exc:
        checks.append(Check("resolved", False, exc.message))
        return Verdict(name, tuple(checks))
    checks.append(Check("resolved", True, f"{ref.name}@{desc.digest}"))
    if signature:
        try:
            found = signatures(client, subject)
        except McpkitError as exc:  # a tampered blob, a registry failing half-way
            checks.append(Check("signature", False, f"cannot read the signatures: {exc.message}"))
            return Verdict(name, tuple(checks))
        checks.append(check_signatures(found, keys, digest=desc.digest, reference=ref.name))
    if provenance or sbom or expected_source:
        try:
            envelopes = attestations(client, subject)
        except McpkitError as exc:
            checks.append(
                Check("attestations", False, f"cannot read the attestations: {exc.message}")
            )
            return Verdict(name, tuple(checks))
        checks.extend(
            check_attestations(
                envelopes,
                keys,
                digest=desc.digest,
                provenance=provenance or expected_source is not None,
                sbom=sbom,
                expected_source=expected_source,
                expected_hashes=expected_hashes,
            )
        )
    return Verdict(name, tuple(checks))


# -- helpers -----------------------------------------------------------------------


def _attached(client: RegistryClient, subject: Reference, suffix: str) -> list[Manifest]:
    """The ``.sig``/``.att`` manifests of ``subject`` (referrers API or cosign's tag)."""
    digest = _digest_of(subject)
    wanted = SIG_ARTIFACT_TYPE if suffix == "sig" else DSSE_MEDIA_TYPE
    manifests: list[Manifest] = []
    seen: set[str] = set()
    for desc in client.referrers(subject, digest, artifact_type=wanted):
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        manifests.append(client.get_manifest(subject.with_digest(desc.digest)))
    if not manifests:
        # A registry with a referrers API may still hold cosign's tag (cosign writes it).
        with contextlib.suppress(UnknownReferenceError):
            manifests.append(client.get_manifest(subject.with_tag(fallback_tag(digest, suffix))))
    return manifests


def _digest_of(subject: Reference) -> str:
    if subject.digest is None:
        raise ValueError(f"{subject} is not a digest reference")
    return subject.digest


def _existing_layers(client: RegistryClient, subject: Reference, suffix: str) -> list[Layer]:
    try:
        manifest = client.get_manifest(subject.with_tag(fallback_tag(_digest_of(subject), suffix)))
    except UnknownReferenceError:
        return []
    return [
        Layer(client.get_blob(subject, d, max_size=_MAX_ENVELOPE), d.media_type, d.annotations)
        for d in manifest.layers
    ]


def _same_signer(layer: Layer, key: PublicKey) -> bool:
    signature = layer.annotations.get(SIGNATURE_ANNOTATION, "")
    try:
        return key.verify(base64.b64decode(signature, validate=True), layer.data)
    except ValueError:
        return False


def _signed_by(envelope: bytes, key: PublicKey) -> bool:
    try:
        open_envelope(envelope, [key])
    except VerificationError:
        return False
    return True


def _cosign_config(layers: Sequence[Layer]) -> bytes:
    """The image config cosign writes for its signature images: one diff_id per layer."""
    diff_ids = ["sha256:" + hashlib.sha256(layer.data).hexdigest() for layer in layers]
    config = {
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }
    return json.dumps(config, separators=(",", ":")).encode()
