"""in-toto statements signed in DSSE envelopes, as cosign and in-toto write them.

An envelope is ``{"payload": base64, "payloadType": ..., "signatures": [{"keyid", "sig"}]}``;
each signature is over the DSSE pre-authentication encoding (PAE) of the type and the
payload. ``securesystemslib`` builds the envelope, the PAE and the signature.

Verification tries every accepted key against every signature and does not trust the
envelope's ``keyid``: cosign leaves it empty, and a keyid is a claim, not a proof. Any
malformed part (JSON, base64, statement) raises :class:`VerificationError` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from securesystemslib.dsse import Envelope

# The package re-exports these without an __all__, which mypy --strict does not count.
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

from mcpkit.errors import VerificationError
from mcpkit.trust.keys import PublicKey, SigningKey

DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_TYPES = frozenset({STATEMENT_V1, STATEMENT_V01})


def sign_statement(key: SigningKey, statement: Mapping[str, Any]) -> bytes:
    """The DSSE envelope (JSON bytes) of ``statement`` signed by ``key``."""
    payload = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()
    envelope = Envelope(payload=payload, payload_type=INTOTO_PAYLOAD_TYPE, signatures={})
    public = SSlibKey.from_crypto(key.crypto_key.public_key(), keyid=key.public.keyid)
    envelope.sign(CryptoSigner(key.crypto_key, public))
    return json.dumps(envelope.to_dict(), separators=(",", ":")).encode()


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise VerificationError(f"the attestation's {what} is not a base64 string")
    # DSSE allows either alphabet; padding may be left out by some writers.
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.b64decode(padded.encode(), altchars=b"-_", validate=True)
        return base64.b64decode(padded.encode(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"the attestation's {what} is not valid base64") from exc


def _parse(envelope: bytes) -> tuple[str, bytes, list[bytes]]:
    try:
        doc = json.loads(envelope)
    except ValueError as exc:
        raise VerificationError(f"the attestation is not a JSON DSSE envelope: {exc}") from exc
    if not isinstance(doc, dict):
        raise VerificationError("the attestation is not a DSSE envelope (not a JSON object)")
    payload_type = doc.get("payloadType")
    if not isinstance(payload_type, str):
        raise VerificationError("the attestation envelope has no payloadType")
    payload = _b64(doc.get("payload"), "payload")
    entries = doc.get("signatures")
    if not isinstance(entries, list) or not entries:
        raise VerificationError("the attestation envelope has no signatures")
    signatures = []
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise VerificationError(f"the attestation's signature {index} is not an object")
        signatures.append(_b64(entry.get("sig"), f"signature {index}"))
    return payload_type, payload, signatures


def _statement(payload: bytes) -> dict[str, Any]:
    try:
        statement = json.loads(payload)
    except ValueError as exc:
        raise VerificationError(f"the attested statement is not JSON: {exc}") from exc
    if not isinstance(statement, dict):
        raise VerificationError("the attested statement is not a JSON object")
    kind = statement.get("_type")
    if kind not in STATEMENT_TYPES:
        raise VerificationError(
            f"the attested statement's _type is {kind!r}, not an in-toto Statement ({STATEMENT_V1})"
        )
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise VerificationError("the attested statement has no subject")
    for subject in subjects:
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), dict):
            raise VerificationError("the attested statement has a subject without a digest")
    if not isinstance(statement.get("predicateType"), str):
        raise VerificationError("the attested statement has no predicateType")
    return statement


def open_envelope(envelope: bytes, keys: Sequence[PublicKey]) -> tuple[dict[str, Any], PublicKey]:
    """The statement in ``envelope`` and the accepted key that signed it.

    Raises :class:`VerificationError` when the envelope or statement is malformed, the
    payload is not an in-toto statement, or none of ``keys`` signed it.
    """
    payload_type, payload, signatures = _parse(envelope)
    if payload_type != INTOTO_PAYLOAD_TYPE:
        raise VerificationError(
            f"the attestation's payloadType is {payload_type!r}, not {INTOTO_PAYLOAD_TYPE!r}"
        )
    pae = Envelope(payload=payload, payload_type=payload_type, signatures={}).pae()
    for key in keys:
        if any(key.verify(signature, pae) for signature in signatures):
            return _statement(payload), key
    accepted = ", ".join(k.short_id for k in keys) or "none"
    raise VerificationError(
        f"the attestation is not signed by an accepted key "
        f"({len(signatures)} signature(s); accepted keys: {accepted})",
        hint="add the signer's public key to the trust policy, if you trust it",
    )
