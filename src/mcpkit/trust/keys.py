"""Signing keys and the public keys that verify them.

mcpkit signs with ECDSA P-256 and SHA-256, the default of cosign's key-based mode, so a
``.pub`` file written here is what ``cosign verify --key`` takes, and a cosign user's public
key verifies here. The private key is kept as an encrypted PKCS#8 PEM (the best encryption
``cryptography`` offers); an unencrypted private key file is refused rather than used, so a
key never sits in the clear by accident.

Public keys may also be RSA (PKCS#1 v1.5 with SHA-256) or Ed25519, the other kinds cosign
users hold; they are only ever used to verify. A key is known by its *keyid*,
``sha256:<hex>`` of its SubjectPublicKeyInfo DER encoding.

The passphrase comes from ``MCPKIT_SIGNING_PASSPHRASE`` (the counterpart of cosign's
``COSIGN_PASSWORD``, which is read as a fallback) or from a prompt; it never appears in a
message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from mcpkit.errors import ConflictError, InvalidInputError, SigningKeyError
from mcpkit.settings import atomic_write

# Names of environment variables, not secrets.
PASSPHRASE_ENV = "MCPKIT_SIGNING_PASSPHRASE"  # noqa: S105
COSIGN_PASSPHRASE_ENV = "COSIGN_PASSWORD"  # noqa: S105

_VerifyingKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_KEYGEN_HINT = "create a key pair with 'mcpkit trust keygen'"
_PASSPHRASE_HINT = (
    f"set {PASSPHRASE_ENV} (or {COSIGN_PASSPHRASE_ENV}) to the passphrase the key was made with"
)


@dataclass(frozen=True)
class PublicKey:
    """A key that verifies signatures: ECDSA (SHA-256), RSA (PKCS#1 v1.5, SHA-256) or Ed25519.

    Two keys are equal when their keyids are; ``pem`` is the normalised SPKI PEM.
    """

    keyid: str
    pem: bytes = field(repr=False)
    _key: _VerifyingKey = field(repr=False, compare=False)

    @classmethod
    def from_crypto(cls, key: PublicKeyTypes, *, origin: str) -> PublicKey:
        """Wrap a ``cryptography`` public key; kinds that cannot verify here are refused."""
        if not isinstance(
            key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
        ):
            raise SigningKeyError(
                f"{origin} holds a {type(key).__name__}, which cannot verify signatures here",
                hint="use an ECDSA (P-256), RSA or Ed25519 public key",
            )
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(keyid="sha256:" + hashlib.sha256(der).hexdigest(), pem=pem, _key=key)

    @classmethod
    def from_pem(cls, pem: bytes, *, origin: str) -> PublicKey:
        """Read an SPKI PEM public key; ``origin`` (a path, a field) names it in errors."""
        if b"PRIVATE KEY" in pem:
            raise SigningKeyError(
                f"{origin} holds a private key, not a public key",
                hint="give the public key (the .pub file written beside it)",
            )
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise SigningKeyError(
                f"{origin} is not a PEM public key",
                hint="give a file that starts with '-----BEGIN PUBLIC KEY-----' "
                "(cosign.pub, or the .pub written by 'mcpkit trust keygen')",
            ) from exc
        return cls.from_crypto(key, origin=origin)

    @property
    def short_id(self) -> str:
        """The keyid cut to 12 hex digits, for messages."""
        return self.keyid[: len("sha256:") + 12] + "…"

    @property
    def algorithm(self) -> str:
        """``ecdsa-p256-sha256``, ``rsa-pkcs1v15-sha256`` or ``ed25519``."""
        if isinstance(self._key, ec.EllipticCurvePublicKey):
            return f"ecdsa-{self._key.curve.name}-sha256"
        if isinstance(self._key, rsa.RSAPublicKey):
            return "rsa-pkcs1v15-sha256"
        return "ed25519"

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``data``; never raises."""
        key = self._key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                # cosign verifies every ECDSA key with SHA-256, whatever the curve.
                key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            else:
                key.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


class SigningKey:
    """An ECDSA P-256 private key, decrypted, with its public half."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, *, origin: str) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise SigningKeyError(
                f"{origin} is an ECDSA key on {private_key.curve.name}, not P-256",
                hint=_KEYGEN_HINT,
            )
        self._private = private_key
        self.public = PublicKey.from_crypto(private_key.public_key(), origin=origin)

    @property
    def crypto_key(self) -> ec.EllipticCurvePrivateKey:
        """The ``cryptography`` key, for libraries that sign themselves (DSSE)."""
        return self._private

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 signature over ``data``, DER encoded (what cosign writes)."""
        return self._private.sign(data, ec.ECDSA(hashes.SHA256()))

    def __repr__(self) -> str:
        return f"SigningKey({self.public.keyid})"


def _require_passphrase(passphrase: bytes) -> None:
    if not passphrase:
        raise SigningKeyError(
            "the signing key needs a passphrase, and an empty one was given",
            hint=f"set {PASSPHRASE_ENV} to a passphrase, or type one when asked",
        )


def generate_key(passphrase: bytes) -> tuple[bytes, bytes]:
    """A new P-256 key pair: (encrypted PKCS#8 PEM private key, SPKI PEM public key)."""
    _require_passphrase(passphrase)
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise SigningKeyError(f"there is no {what} at {path}", hint=_KEYGEN_HINT) from exc
    except OSError as exc:
        raise SigningKeyError(
            f"cannot read the {what} {path}: {exc.strerror or exc}",
            hint=f"check the permissions of {path}",
        ) from exc


def load_signing_key(path: Path, passphrase: bytes) -> SigningKey:
    """Decrypt the private key at ``path``.

    A missing or unreadable file, an unencrypted or foreign key, and a wrong passphrase
    each raise :class:`SigningKeyError` naming the file.
    """
    data = _read(path, "signing key")
    if b"ENCRYPTED SIGSTORE PRIVATE KEY" in data or b"ENCRYPTED COSIGN PRIVATE KEY" in data:
        raise SigningKeyError(
            f"{path} is a cosign private key, sealed with cosign's own scheme, "
            "which mcpkit cannot open",
            hint="sign with cosign itself, or create an mcpkit key with 'mcpkit trust keygen' "
            "and add its .pub to the trust policy",
        )
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in data:
        if b"PRIVATE KEY-----" in data:
            raise SigningKeyError(
                f"{path} holds an unencrypted private key; mcpkit only signs with encrypted keys",
                hint=f"encrypt it: openssl pkcs8 -topk8 -v2 aes-256-cbc -in {path} -out "
                f"{path}.enc (then use {path}.enc and delete {path})",
            )
        raise SigningKeyError(
            f"{path} is not a PEM private key",
            hint=f"give the private key file (not the .pub), or {_KEYGEN_HINT}",
        )
    _require_passphrase(passphrase)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # cryptography says "Bad decrypt" for a wrong passphrase and for a damaged file alike.
        raise SigningKeyError(
            f"cannot decrypt the signing key {path}: wrong passphrase, or the file is damaged",
            hint=_PASSPHRASE_HINT,
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(
            f"{path} holds a {type(key).__name__}; mcpkit signs with ECDSA P-256 keys",
            hint=_KEYGEN_HINT,
        )
    return SigningKey(key, origin=str(path))


def load_public_key(path: Path) -> PublicKey:
    """The public key in the PEM file at ``path``."""
    return PublicKey.from_pem(_read(path, "public key"), origin=str(path))


def write_key_pair(
    directory: Path, name: str, passphrase: bytes, *, force: bool = False
) -> tuple[Path, Path]:
    """Generate a key pair into ``directory`` as ``NAME.key`` (0600) and ``NAME.pub``.

    Existing files are kept (:class:`ConflictError`) unless ``force``. Returns the paths
    (private, public).
    """
    if not _KEY_NAME_RE.match(name):
        raise InvalidInputError(
            f"{name!r} is not a valid key name",
            hint="use letters, digits, '.', '_' and '-' (e.g. 'mcpkit' or 'team-2026')",
        )
    private_path = directory / f"{name}.key"
    public_path = directory / f"{name}.pub"
    if not force:
        for path in (private_path, public_path):
            if path.exists():
                raise ConflictError(
                    f"{path} exists already; it is kept",
                    hint="pick another name, or pass --force to replace the key pair "
                    "(signatures made with the old key will no longer verify with the new one)",
                )
    private, public = generate_key(passphrase)
    try:
        atomic_write(private_path, private, mode=0o600)
        atomic_write(public_path, public, mode=0o644)
    except OSError as exc:
        raise SigningKeyError(
            f"cannot write the key pair into {directory}: {exc.strerror or exc}",
            hint=f"check that {directory} is writable",
        ) from exc
    return private_path, public_path


def passphrase_from_env(environ: Mapping[str, str]) -> bytes | None:
    """The signing passphrase from ``MCPKIT_SIGNING_PASSPHRASE``, else ``COSIGN_PASSWORD``.

    None when neither is set (the CLI then asks). An empty value is returned as ``b""``,
    which signing refuses with a hint.
    """
    for name in (PASSPHRASE_ENV, COSIGN_PASSPHRASE_ENV):
        value = environ.get(name)
        if value is not None:
            return value.encode()
    return None
