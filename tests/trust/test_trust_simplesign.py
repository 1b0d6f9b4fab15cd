"""cosign's simple-signing payload, written and parsed byte for byte."""

from __future__ import annotations

import json

import pytest
from trust_helpers import IMAGE_DIGEST, REPOSITORY

from mcpkit.errors import InvalidInputError, VerificationError
from mcpkit.trust.simplesign import SimpleSigning, make_payload, parse_payload

# Written out by hand from cosign's documented format (sigstore's payload.SimpleContainerImage).
COSIGN_PAYLOAD = (
    '{"critical":{"identity":{"docker-reference":"' + REPOSITORY + '"},'
    '"image":{"docker-manifest-digest":"' + IMAGE_DIGEST + '"},'
    '"type":"cosign container image signature"},"optional":null}'
).encode()


def test_the_payload_is_byte_for_byte_what_cosign_writes() -> None:
    assert make_payload(REPOSITORY, IMAGE_DIGEST) == COSIGN_PAYLOAD


def test_optional_annotations_follow_the_critical_part() -> None:
    payload = make_payload(REPOSITORY, IMAGE_DIGEST, {"creator": "mcpkit", "n": 1})
    assert payload.endswith(b',"optional":{"creator":"mcpkit","n":1}}')
    assert parse_payload(payload).optional == {"creator": "mcpkit", "n": 1}


@pytest.mark.parametrize(
    "payload",
    [
        COSIGN_PAYLOAD,
        COSIGN_PAYLOAD.replace(b',"optional":null', b""),
        json.dumps(json.loads(COSIGN_PAYLOAD), indent=2).encode(),
    ],
    ids=["optional-null", "optional-absent", "indented"],
)
def test_payloads_as_cosign_writes_them_parse(payload: bytes) -> None:
    assert parse_payload(payload) == SimpleSigning(
        docker_reference=REPOSITORY, manifest_digest=IMAGE_DIGEST, optional={}
    )


def _mutated(change: str) -> bytes:
    doc = json.loads(COSIGN_PAYLOAD)
    critical = doc["critical"]
    if change == "type":
        critical["type"] = "atomic container signature"
    elif change == "extra-critical":
        critical["expires"] = 1
    elif change == "extra-top":
        doc["more"] = {}
    elif change == "no-identity":
        del critical["identity"]
    elif change == "digest":
        critical["image"]["docker-manifest-digest"] = "sha256:short"
    elif change == "reference-type":
        critical["identity"]["docker-reference"] = 5
    elif change == "optional":
        doc["optional"] = ["a"]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("type", "type is 'atomic container signature'"),
        ("extra-critical", "unknown fields: expires"),
        ("extra-top", "unknown fields: more"),
        ("no-identity", "critical.identity is not an object"),
        ("digest", "is not sha256"),
        ("reference-type", "docker-reference is not a string"),
        ("optional", "optional part is not an object"),
    ],
)
def test_a_payload_that_is_not_exactly_cosigns_is_refused(change: str, message: str) -> None:
    with pytest.raises(VerificationError, match=message) as caught:
        parse_payload(_mutated(change))
    assert caught.value.code == "verification-failed"


@pytest.mark.parametrize("data", [b"", b"not json", b"[1]", b'"text"'])
def test_a_payload_that_is_not_a_json_object_is_refused(data: bytes) -> None:
    with pytest.raises(VerificationError, match="signed payload"):
        parse_payload(data)


@pytest.mark.parametrize(
    ("reference", "digest"),
    [
        (REPOSITORY, "latest"),
        (REPOSITORY, "sha256:abc"),
        (f"{REPOSITORY}@{IMAGE_DIGEST}", IMAGE_DIGEST),
    ],
)
def test_making_a_payload_needs_a_repository_and_a_digest(reference: str, digest: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        make_payload(reference, digest)
    assert caught.value.hint
