"""Signing, attesting and verifying in a real registry (distribution 2.8, tag-schema layout)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest
from trust_helpers import new_key, pypi_record

from mcpkit.oci.client import Layer, RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.trust.dsse import sign_statement
from mcpkit.trust.registry import (
    SIG_ARTIFACT_TYPE,
    attach_sbom,
    attest,
    attestations,
    sign,
    signatures,
    verify,
)
from mcpkit.trust.simplesign import SIGNATURE_ANNOTATION, parse_payload
from mcpkit.trust.statements import (
    PROVENANCE_PREDICATE,
    SBOM_PREDICATE,
    provenance_statement,
    sbom_statement,
    source_uri,
)


@pytest.fixture
def client(oci_registry: Any) -> RegistryClient:
    return RegistryClient(environ={"HOME": "/nonexistent"})


def _push_subject(client: RegistryClient, registry: Any, content: str = "v1") -> Reference:
    """A small artifact standing for an image (signatures do not care what the subject is)."""
    repo = f"mcp/subject-{secrets.token_hex(4)}"
    ref = Reference.parse(registry.reference(repo, "v1"))
    client.push_artifact(
        ref,
        artifact_type="application/vnd.example.thing.v1+json",
        layers=[Layer(json.dumps({"content": content}).encode(), "application/json")],
    )
    return ref


def test_a_signature_is_stored_in_cosigns_layout_and_verifies(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    key = new_key()
    signed = sign(client, ref, key, optional={"team": "platform"})
    digest = signed.subject.digest
    assert digest is not None
    assert signed.stored_at.tag == digest.replace(":", "-") + ".sig"
    manifest = client.get_manifest(signed.stored_at)
    assert manifest.subject is not None and manifest.subject.digest == digest
    assert manifest.artifact_type == SIG_ARTIFACT_TYPE
    [(payload, signature)] = signatures(client, signed.subject)
    parsed = parse_payload(payload)
    assert parsed.manifest_digest == digest
    assert parsed.docker_reference == ref.name
    assert parsed.optional == {"team": "platform"}
    assert key.public.verify(base64.b64decode(signature), payload)

    verdict = verify(client, signed.subject, [key.public])
    assert verdict.ok, verdict.summary()
    assert [c.name for c in verdict.checks][:2] == ["pinned", "resolved"]


def test_a_second_key_adds_a_signature_and_re_signing_replaces_only_its_own(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    first, second = new_key(), new_key()
    sign(client, ref, first)
    sign(client, ref, second)
    signed = sign(client, ref, first)
    layers = client.get_manifest(signed.stored_at).layers
    assert len(layers) == 2
    assert all(d.annotations.get(SIGNATURE_ANNOTATION) for d in layers)
    assert verify(client, signed.subject, [first.public]).ok
    assert verify(client, signed.subject, [second.public]).ok


def test_verification_fails_for_another_key_an_unpinned_tag_and_an_unsigned_subject(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    key = new_key()
    signed = sign(client, ref, key)

    wrong = verify(client, signed.subject, [new_key().public])
    assert not wrong.ok
    assert "accepted key" in wrong.summary()

    by_tag = verify(client, ref, [key.public])
    assert [c.name for c in by_tag.failures()] == ["pinned"]

    unsigned = _push_subject(client, oci_registry, "other")
    verdict = verify(client, unsigned, [key.public], require_pinned=False)
    assert [c.name for c in verdict.failures()] == ["signature"]


def test_a_tag_moved_to_other_content_is_not_covered_by_the_old_signature(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    key = new_key()
    old = sign(client, ref, key).subject
    client.push_artifact(
        ref,
        artifact_type="application/vnd.example.thing.v1+json",
        layers=[Layer(b'{"content":"swapped"}', "application/json")],
    )
    assert verify(client, old, [key.public]).ok  # the signed digest is still what it was
    moved = verify(client, ref, [key.public], require_pinned=False)
    assert not moved.ok
    assert [c.name for c in moved.failures()] == ["signature"]


def test_a_tampered_signature_blob_is_refused_with_a_reason(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    key = new_key()
    signed = sign(client, ref, key)
    [layer] = client.get_manifest(signed.stored_at).layers
    path = oci_registry.blob_path(layer.digest)
    path.write_bytes(path.read_bytes().replace(b"docker-reference", b"docker-referencf"))
    verdict = verify(client, signed.subject, [key.public])
    assert not verdict.ok
    [failure] = verdict.failures()
    assert failure.name == "signature"
    assert "cannot read the signatures" in failure.detail


def test_provenance_and_sbom_attestations_verify_and_a_wrong_source_fails(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    key = new_key()
    signed = sign(client, ref, key)
    digest = signed.subject.digest
    assert digest is not None
    record = pypi_record()
    provenance = provenance_statement(
        ref.name, digest, record, started=record.built_at, finished=record.built_at
    )
    attest(client, ref, sign_statement(key, provenance), PROVENANCE_PREDICATE, key.public)
    with_prov = verify(client, signed.subject, [key.public], provenance=True)
    assert with_prov.ok, with_prov.summary()
    missing_sbom = verify(client, signed.subject, [key.public], provenance=True, sbom=True)
    assert [c.name for c in missing_sbom.failures()] == ["sbom"]

    sbom = sbom_statement(ref.name, digest, record)
    attest(client, ref, sign_statement(key, sbom), SBOM_PREDICATE, key.public)
    attach_sbom(client, ref, b'{"bomFormat":"CycloneDX"}')
    assert len(attestations(client, signed.subject)) == 2
    full = verify(
        client,
        signed.subject,
        [key.public],
        provenance=True,
        sbom=True,
        expected_source=source_uri(record),
    )
    assert full.ok, full.summary()
    other = verify(
        client,
        signed.subject,
        [key.public],
        provenance=True,
        expected_source="pkg:pypi/mcp-server-time@1.0.0",
    )
    assert [c.name for c in other.failures()] == ["source"]

    # Re-attesting with the same key replaces that key's statement of that type only.
    attest(client, ref, sign_statement(key, provenance), PROVENANCE_PREDICATE, key.public)
    assert len(attestations(client, signed.subject)) == 2


def test_an_attestation_signed_by_another_key_does_not_count(
    client: RegistryClient, oci_registry: Any
) -> None:
    ref = _push_subject(client, oci_registry)
    key, stranger = new_key(), new_key()
    signed = sign(client, ref, key)
    digest = signed.subject.digest
    assert digest is not None
    record = pypi_record()
    statement = provenance_statement(ref.name, digest, record, started="x", finished="x")
    attest(client, ref, sign_statement(stranger, statement), PROVENANCE_PREDICATE, stranger.public)
    verdict = verify(client, signed.subject, [key.public], provenance=True)
    assert [c.name for c in verdict.failures()] == ["provenance"]
