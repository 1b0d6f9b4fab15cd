"""Checks over fetched signatures and attestations: every tampered part fails with its reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from trust_helpers import (
    IMAGE_DIGEST,
    OTHER_DIGEST,
    REPOSITORY,
    WHEEL_SHA,
    new_key,
    pypi_record,
)

from mcpkit.trust.checks import (
    Check,
    Verdict,
    check_attestations,
    check_signatures,
    repository_name,
)
from mcpkit.trust.dsse import sign_statement
from mcpkit.trust.keys import PublicKey, SigningKey
from mcpkit.trust.simplesign import make_payload
from mcpkit.trust.statements import provenance_statement, sbom_statement

SOURCE = "pkg:pypi/mcp-server-time@2026.1.0"


def signed(key: SigningKey, payload: bytes) -> tuple[bytes, str]:
    return payload, base64.b64encode(key.sign(payload)).decode()


def check(pairs: list[tuple[bytes, str]], keys: list[PublicKey], **kw: str) -> Check:
    options = {"digest": IMAGE_DIGEST, "reference": REPOSITORY} | kw
    return check_signatures(pairs, keys, **options)


# --- signatures ------------------------------------------------------------------------


def test_a_signature_by_an_accepted_key_for_this_image_passes() -> None:
    key = new_key()
    result = check([signed(key, make_payload(REPOSITORY, IMAGE_DIGEST))], [key.public])
    assert result.ok and result.name == "signature"
    assert key.public.short_id in result.detail


def test_a_signature_made_directly_over_a_hand_written_cosign_payload_verifies() -> None:
    # cosign's format written out by hand and signed with `cryptography` itself, so
    # neither our payload builder nor our signer takes part.
    private = ec.generate_private_key(ec.SECP256R1())
    payload = (
        '{"critical":{"identity":{"docker-reference":"' + REPOSITORY + '"},"image":'
        '{"docker-manifest-digest":"' + IMAGE_DIGEST + '"},"type":"cosign container image '
        'signature"},"optional":{"creator":"cosign"}}'
    ).encode()
    signature = base64.b64encode(private.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    public = PublicKey.from_crypto(private.public_key(), origin="cosign.pub")
    assert check([(payload, signature)], [public]).ok


def test_the_tag_or_digest_of_the_reference_does_not_matter() -> None:
    key = new_key()
    pair = signed(key, make_payload(REPOSITORY, IMAGE_DIGEST))
    assert check([pair], [key.public], reference=f"{REPOSITORY}:latest").ok
    assert check([pair], [key.public], reference=f"{REPOSITORY}@{IMAGE_DIGEST}").ok


@pytest.mark.parametrize(
    ("signed_for", "checked_as"),
    [
        ("index.docker.io/library/busybox", "busybox"),
        ("docker.io/library/busybox", "registry-1.docker.io/library/busybox:1"),
        ("index.docker.io/org/app", "org/app"),
    ],
)
def test_docker_hub_spellings_of_one_repository_are_the_same_identity(
    signed_for: str, checked_as: str
) -> None:
    key = new_key()
    pair = signed(key, make_payload(signed_for, IMAGE_DIGEST))
    assert check([pair], [key.public], reference=checked_as).ok


def test_repository_names_are_made_canonical() -> None:
    assert repository_name("localhost:5000/a/b:1") == "localhost:5000/a/b"
    assert repository_name("Ghcr.IO/o/r@" + IMAGE_DIGEST) == "ghcr.io/o/r"
    assert repository_name("python") == "docker.io/library/python"


def test_a_changed_payload_byte_fails() -> None:
    key = new_key()
    payload, signature = signed(key, make_payload(REPOSITORY, IMAGE_DIGEST))
    result = check([(payload.replace(b"mcp/time", b"mcp/tima"), signature)], [key.public])
    assert not result.ok
    assert result.detail.startswith("no signature by an accepted key (1 signature, accepted")


def test_a_changed_signature_fails() -> None:
    key = new_key()
    payload, signature = signed(key, make_payload(REPOSITORY, IMAGE_DIGEST))
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 0xFF
    result = check([(payload, base64.b64encode(bytes(raw)).decode())], [key.public])
    assert not result.ok and "no signature by an accepted key" in result.detail


def test_a_valid_signature_of_another_digest_fails_naming_both_digests() -> None:
    key = new_key()
    result = check([signed(key, make_payload(REPOSITORY, OTHER_DIGEST))], [key.public])
    assert not result.ok
    assert result.detail == (f"signature is for {OTHER_DIGEST[:19]}… not {IMAGE_DIGEST[:19]}…")


def test_a_valid_signature_of_another_repository_fails() -> None:
    key = new_key()
    pair = signed(key, make_payload("127.0.0.1:5000/mcp/evil", IMAGE_DIGEST))
    result = check([pair], [key.public])
    assert not result.ok
    assert "127.0.0.1:5000/mcp/evil, not 127.0.0.1:5000/mcp/time" in result.detail


def test_a_signature_by_a_key_that_is_not_accepted_fails_listing_the_accepted_keys() -> None:
    signer, team, vendor = new_key(), new_key(), new_key()
    pairs = [signed(signer, make_payload(REPOSITORY, IMAGE_DIGEST))] * 2
    result = check(pairs, [team.public, vendor.public])
    assert not result.ok
    assert result.detail == (
        "no signature by an accepted key (2 signatures, accepted keys: "
        f"{team.public.short_id}, {vendor.public.short_id})"
    )


def test_one_good_signature_among_bad_ones_passes() -> None:
    key, stranger = new_key(), new_key()
    pairs = [
        (b"junk", "!!!"),
        signed(stranger, make_payload(REPOSITORY, IMAGE_DIGEST)),
        signed(key, make_payload(REPOSITORY, OTHER_DIGEST)),
        signed(key, make_payload(REPOSITORY, IMAGE_DIGEST)),
    ]
    assert check(pairs, [key.public]).ok


def test_a_malformed_signature_is_a_failed_check_with_its_reason() -> None:
    key = new_key()
    result = check([(make_payload(REPOSITORY, IMAGE_DIGEST), "not base64!")], [key.public])
    assert not result.ok and "signature 1 is not base64" in result.detail


def test_a_signed_payload_of_the_wrong_type_fails_with_the_reason() -> None:
    key = new_key()
    payload = json.loads(make_payload(REPOSITORY, IMAGE_DIGEST))
    payload["critical"]["type"] = "something else"
    result = check([signed(key, json.dumps(payload).encode())], [key.public])
    assert not result.ok and "type is 'something else'" in result.detail


def test_no_signatures_and_no_keys_fail_saying_so() -> None:
    key = new_key()
    assert check([], [key.public]).detail.startswith("not signed: no signature found for sha256:")
    pair = signed(key, make_payload(REPOSITORY, IMAGE_DIGEST))
    assert "no key is accepted" in check([pair], []).detail


# --- attestations ----------------------------------------------------------------------


def provenance(key: SigningKey, digest: str = IMAGE_DIGEST, **changes: Any) -> bytes:
    statement = provenance_statement(
        REPOSITORY, digest, pypi_record(), started="2026-01-02T03:04:00Z", finished="now"
    )
    statement["predicate"]["buildDefinition"]["externalParameters"].update(changes)
    return sign_statement(key, statement)


def sbom(key: SigningKey, digest: str = IMAGE_DIGEST) -> bytes:
    return sign_statement(key, sbom_statement(REPOSITORY, digest, pypi_record()))


def attest(envelopes: list[bytes], keys: list[PublicKey], **kw: Any) -> dict[str, Check]:
    options: dict[str, Any] = {
        "digest": IMAGE_DIGEST,
        "provenance": True,
        "sbom": True,
        "expected_source": SOURCE,
    } | kw
    return {c.name: c for c in check_attestations(envelopes, keys, **options)}


def test_signed_provenance_and_sbom_for_this_image_pass() -> None:
    key = new_key()
    checks = attest([provenance(key), sbom(key)], [key.public], expected_hashes=[WHEEL_SHA])
    assert list(checks) == ["provenance", "source", "hashes", "sbom"]
    assert all(c.ok for c in checks.values())
    assert "https://mcpkit.dev/builder/local" in checks["provenance"].detail
    assert checks["sbom"].detail.startswith("CycloneDX 1.6 SBOM of 3 components")


def test_only_what_is_required_is_checked() -> None:
    key = new_key()
    checks = attest([sbom(key)], [key.public], provenance=False, expected_source=None)
    assert list(checks) == ["sbom"]
    assert attest([], [key.public], provenance=False, sbom=False, expected_source=None) == {}


def test_a_missing_sbom_fails_saying_so() -> None:
    key = new_key()
    checks = attest([provenance(key)], [key.public])
    assert checks["provenance"].ok
    assert not checks["sbom"].ok
    assert checks["sbom"].detail == "no SBOM attestation (1 attestation)"


def test_no_attestations_at_all_fail_every_requirement() -> None:
    checks = attest([], [new_key().public])
    assert checks["provenance"].detail == "no provenance attestation (no attestations found)"
    assert checks["source"].detail == f"no provenance to compare with {SOURCE}"
    assert not checks["sbom"].ok


def test_an_attestation_about_another_image_does_not_count() -> None:
    key = new_key()
    checks = attest([provenance(key, OTHER_DIGEST), sbom(key)], [key.public])
    assert not checks["provenance"].ok
    assert "attestation subject is another image (sha256:" in checks["provenance"].detail
    assert OTHER_DIGEST[7:19] in checks["provenance"].detail
    assert checks["sbom"].ok


def test_a_source_that_differs_from_the_catalog_fails_naming_both() -> None:
    key = new_key()
    checks = attest(
        [provenance(key), sbom(key)],
        [key.public],
        expected_source="pkg:pypi/mcp-server-time@2027.1.0",
    )
    assert checks["provenance"].ok
    assert not checks["source"].ok
    assert checks["source"].detail == (
        "provenance source pkg:pypi/mcp-server-time@2026.1.0 does not match the catalog's "
        "pkg:pypi/mcp-server-time@2027.1.0"
    )


def test_a_catalog_source_without_a_version_matches_any_version() -> None:
    key = new_key()
    checks = attest(
        [provenance(key)], [key.public], sbom=False, expected_source="pkg:pypi/mcp-server-time"
    )
    assert checks["source"].ok


def test_a_tampered_provenance_source_is_caught() -> None:
    key = new_key()
    doc = json.loads(provenance(key))
    statement = json.loads(base64.b64decode(doc["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["source"] = "pkg:pypi/evil@1"
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    checks = attest([json.dumps(doc).encode()], [key.public], sbom=False)
    assert not checks["provenance"].ok
    assert "not signed by an accepted key" in checks["provenance"].detail
    assert not checks["source"].ok


def test_a_changed_payload_type_is_a_failed_check_with_the_reason() -> None:
    key = new_key()
    doc = json.loads(sbom(key))
    doc["payloadType"] = "application/json"
    checks = attest(
        [json.dumps(doc).encode()], [key.public], provenance=False, expected_source=None
    )
    assert not checks["sbom"].ok
    assert "payloadType is 'application/json'" in checks["sbom"].detail


def test_a_changed_statement_subject_is_caught() -> None:
    key = new_key()
    doc = json.loads(sbom(key))
    statement = json.loads(base64.b64decode(doc["payload"]))
    statement["subject"][0]["digest"]["sha256"] = OTHER_DIGEST[7:]
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    checks = attest(
        [json.dumps(doc).encode()], [key.public], provenance=False, expected_source=None
    )
    assert not checks["sbom"].ok and "not signed by an accepted key" in checks["sbom"].detail


def test_attestations_by_an_unaccepted_key_fail() -> None:
    signer, accepted = new_key(), new_key()
    checks = attest([provenance(signer), sbom(signer)], [accepted.public])
    assert not checks["provenance"].ok and not checks["sbom"].ok
    assert "not signed by an accepted key" in checks["sbom"].detail
    assert accepted.public.short_id in checks["sbom"].detail


@pytest.mark.parametrize("junk", [b"", b"{", b"[]", b'{"payloadType": 1}', b"\xff\xfe"])
def test_malformed_envelopes_fail_the_check_and_never_raise(junk: bytes) -> None:
    key = new_key()
    checks = attest([junk, provenance(key)], [key.public])
    assert checks["provenance"].ok
    assert not checks["sbom"].ok and "2 attestations: the attestation" in checks["sbom"].detail


def test_an_sbom_statement_without_a_bom_fails() -> None:
    key = new_key()
    statement = sbom_statement(REPOSITORY, IMAGE_DIGEST, pypi_record())
    statement["predicate"] = {"not": "a bom"}
    checks = attest(
        [sign_statement(key, statement)], [key.public], provenance=False, expected_source=None
    )
    assert checks["sbom"].detail == "the SBOM attestation holds no SBOM document"


def test_hashes_the_catalog_pins_must_be_in_the_provenance() -> None:
    key = new_key()
    pinned = ["sha256:" + "9" * 64]
    checks = attest([provenance(key)], [key.public], sbom=False, expected_hashes=pinned)
    assert not checks["hashes"].ok
    assert "none of the pinned hashes (sha256:999999999999…)" in checks["hashes"].detail


# --- verdicts --------------------------------------------------------------------------


def test_a_verdict_is_ok_only_when_every_check_is() -> None:
    good = Verdict("img", (Check("signature", True, "signed by k"),))
    assert good.ok and good.failures() == []
    assert good.summary() == "img: verified (signature)"
    bad = Verdict(
        "img",
        (
            Check("signature", True, "signed"),
            Check("sbom", False, "no SBOM attestation"),
            Check("source", False, "provenance source a does not match the catalog's b"),
        ),
    )
    assert not bad.ok
    assert [c.name for c in bad.failures()] == ["sbom", "source"]
    summary = bad.summary()
    assert "\n" not in summary
    assert summary == (
        "img: 2 of 3 checks failed: sbom: no SBOM attestation; "
        "source: provenance source a does not match the catalog's b"
    )
    assert Verdict("img", ()).ok
    assert Verdict("img", ()).summary() == "img: nothing to verify"
