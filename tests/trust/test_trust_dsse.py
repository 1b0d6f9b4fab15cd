"""in-toto statements in DSSE envelopes: signing, opening, and every way they break."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from trust_helpers import IMAGE_DIGEST, REPOSITORY, new_key

from mcpkit.errors import VerificationError
from mcpkit.trust.dsse import INTOTO_PAYLOAD_TYPE, open_envelope, sign_statement
from mcpkit.trust.keys import SigningKey

STATEMENT: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": REPOSITORY, "digest": {"sha256": IMAGE_DIGEST.split(":")[1]}}],
    "predicateType": "https://example.com/predicate/v1",
    "predicate": {"answer": 42},
}


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, written from the spec."""
    kind = payload_type.encode()
    return b"DSSEv1 " + b" ".join(
        [str(len(kind)).encode(), kind, str(len(payload)).encode(), payload]
    )


def hand_envelope(
    key: SigningKey,
    statement: dict[str, Any],
    *,
    payload_type: str = INTOTO_PAYLOAD_TYPE,
    keyid: str = "",
) -> bytes:
    """An envelope as cosign writes it (empty keyid), signed with `cryptography` directly."""
    payload = json.dumps(statement).encode()
    signature = key.crypto_key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
        }
    ).encode()


def edit(envelope: bytes, **changes: Any) -> bytes:
    doc = json.loads(envelope)
    doc.update(changes)
    return json.dumps(doc).encode()


def test_a_signed_statement_opens_with_the_key_that_signed_it() -> None:
    key, other = new_key(), new_key()
    statement, used = open_envelope(sign_statement(key, STATEMENT), [other.public, key.public])
    assert statement == STATEMENT
    assert used == key.public


def test_the_envelope_is_shaped_as_cosign_and_in_toto_write_it() -> None:
    key = new_key()
    doc = json.loads(sign_statement(key, STATEMENT))
    assert set(doc) == {"payload", "payloadType", "signatures"}
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(doc["payload"], validate=True)
    assert json.loads(payload) == STATEMENT
    [entry] = doc["signatures"]
    assert entry["keyid"] == key.public.keyid
    # The signature is over the PAE as the DSSE spec defines it, checked without our code.
    key.crypto_key.public_key().verify(
        base64.b64decode(entry["sig"]), pae(doc["payloadType"], payload), ec.ECDSA(hashes.SHA256())
    )


def test_an_envelope_written_by_hand_as_cosign_does_opens() -> None:
    key = new_key()
    statement, used = open_envelope(hand_envelope(key, STATEMENT), [key.public])
    assert statement == STATEMENT
    assert used == key.public


def test_the_keyid_claimed_by_the_envelope_is_not_trusted() -> None:
    signer, accepted = new_key(), new_key()
    # Claims the accepted key's id, but was signed by another key: refused.
    forged = hand_envelope(signer, STATEMENT, keyid=accepted.public.keyid)
    with pytest.raises(VerificationError, match="not signed by an accepted key") as caught:
        open_envelope(forged, [accepted.public])
    assert accepted.public.short_id in caught.value.message
    # Claims another key's id, but was signed by the accepted key: accepted.
    misnamed = hand_envelope(accepted, STATEMENT, keyid=signer.public.keyid)
    assert open_envelope(misnamed, [accepted.public])[1] == accepted.public


def test_an_in_toto_v01_statement_is_accepted() -> None:
    key = new_key()
    old = {**STATEMENT, "_type": "https://in-toto.io/Statement/v0.1"}
    assert open_envelope(sign_statement(key, old), [key.public])[0] == old


def test_url_safe_unpadded_base64_is_accepted() -> None:
    key = new_key()
    doc = json.loads(sign_statement(key, STATEMENT))
    doc["payload"] = base64.urlsafe_b64encode(base64.b64decode(doc["payload"])).decode()
    doc["payload"] = doc["payload"].rstrip("=")
    assert open_envelope(json.dumps(doc).encode(), [key.public])[0] == STATEMENT


def test_a_changed_payload_byte_fails_verification() -> None:
    key = new_key()
    envelope = sign_statement(key, STATEMENT)
    payload = base64.b64decode(json.loads(envelope)["payload"])
    tampered = payload.replace(b"42", b"43")
    with pytest.raises(VerificationError, match="not signed by an accepted key"):
        open_envelope(edit(envelope, payload=base64.b64encode(tampered).decode()), [key.public])


def test_a_changed_signature_fails_verification() -> None:
    key = new_key()
    doc = json.loads(sign_statement(key, STATEMENT))
    signature = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
    signature[-1] ^= 1
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    with pytest.raises(VerificationError, match="1 signature"):
        open_envelope(json.dumps(doc).encode(), [key.public])


def test_another_payload_type_is_refused_even_when_signed() -> None:
    key = new_key()
    envelope = hand_envelope(key, STATEMENT, payload_type="application/json")
    with pytest.raises(VerificationError, match="payloadType is 'application/json'"):
        open_envelope(envelope, [key.public])


def test_a_changed_payload_type_is_refused() -> None:
    key = new_key()
    envelope = edit(sign_statement(key, STATEMENT), payloadType="text/plain")
    with pytest.raises(VerificationError, match="payloadType"):
        open_envelope(envelope, [key.public])


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({**STATEMENT, "_type": "https://example.com/Other"}, "not an in-toto Statement"),
        ({**STATEMENT, "subject": []}, "no subject"),
        ({**STATEMENT, "subject": [{"name": "x"}]}, "without a digest"),
        ({k: v for k, v in STATEMENT.items() if k != "predicateType"}, "no predicateType"),
    ],
)
def test_a_signed_payload_that_is_not_an_in_toto_statement_is_refused(
    statement: dict[str, Any], message: str
) -> None:
    key = new_key()
    with pytest.raises(VerificationError, match=message):
        open_envelope(hand_envelope(key, statement), [key.public])


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        (b"{not json", "not a JSON DSSE envelope"),
        (b"[]", "not a JSON object"),
        (b'{"payload": "e30=", "signatures": []}', "no payloadType"),
        (b'{"payloadType": "t", "payload": "e30=", "signatures": []}', "no signatures"),
        (b'{"payloadType": "t", "payload": "%%%", "signatures": [{"sig": "AA=="}]}', "base64"),
        (b'{"payloadType": "t", "payload": 5, "signatures": [{"sig": "AA=="}]}', "base64"),
        (b'{"payloadType": "t", "payload": "e30=", "signatures": [{"sig": "#"}]}', "signature 1"),
        (b'{"payloadType": "t", "payload": "e30=", "signatures": ["x"]}', "not an object"),
    ],
)
def test_a_malformed_envelope_is_a_verification_error(envelope: bytes, message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        open_envelope(envelope, [new_key().public])


def test_no_accepted_key_opens_nothing() -> None:
    key = new_key()
    with pytest.raises(VerificationError, match="accepted keys: none"):
        open_envelope(sign_statement(key, STATEMENT), [])
