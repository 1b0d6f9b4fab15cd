"""Key pairs: generation, encryption at rest, loading, and verification with foreign keys."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519

from mcpkit.errors import ConflictError, InvalidInputError, SigningKeyError
from mcpkit.trust.keys import (
    PublicKey,
    generate_key,
    load_public_key,
    load_signing_key,
    passphrase_from_env,
    write_key_pair,
)

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    private, public = generate_key(PASSPHRASE)
    (tmp_path / "k.key").write_bytes(private)
    (tmp_path / "k.pub").write_bytes(public)
    return tmp_path / "k.key", tmp_path / "k.pub"


def test_a_generated_key_is_encrypted_pkcs8_and_its_public_half_is_spki() -> None:
    private, public = generate_key(PASSPHRASE)
    assert private.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert public.startswith(b"-----BEGIN PUBLIC KEY-----")
    with pytest.raises(TypeError):  # it really needs the passphrase
        serialization.load_pem_private_key(private, password=None)
    key = serialization.load_pem_private_key(private, password=PASSPHRASE)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_a_loaded_key_signs_what_its_public_key_file_verifies(
    key_files: tuple[Path, Path],
) -> None:
    signing = load_signing_key(key_files[0], PASSPHRASE)
    public = load_public_key(key_files[1])
    signature = signing.sign(b"payload")
    assert public == signing.public
    assert public.verify(signature, b"payload")
    assert not public.verify(signature, b"payload!")
    assert not public.verify(b"not a DER signature", b"payload")
    assert public.algorithm == "ecdsa-secp256r1-sha256"


def test_the_keyid_is_the_sha256_of_the_spki_der(key_files: tuple[Path, Path]) -> None:
    raw = serialization.load_pem_public_key(key_files[1].read_bytes())
    der = raw.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = load_public_key(key_files[1])
    assert public.keyid == "sha256:" + hashlib.sha256(der).hexdigest()
    assert public.short_id == public.keyid[:19] + "…"
    assert b"PUBLIC KEY" not in repr(public).encode()


def test_an_empty_passphrase_is_refused_with_a_hint(key_files: tuple[Path, Path]) -> None:
    with pytest.raises(SigningKeyError) as caught:
        generate_key(b"")
    assert "passphrase" in caught.value.message
    assert caught.value.hint and "MCPKIT_SIGNING_PASSPHRASE" in caught.value.hint
    with pytest.raises(SigningKeyError, match="empty"):
        load_signing_key(key_files[0], b"")


def test_a_wrong_passphrase_names_the_file_but_never_the_passphrase(
    key_files: tuple[Path, Path],
) -> None:
    before = key_files[0].read_bytes()
    with pytest.raises(SigningKeyError) as caught:
        load_signing_key(key_files[0], b"hunter2-wrong")
    err = caught.value
    assert str(key_files[0]) in err.message
    assert "wrong passphrase" in err.message
    assert "hunter2" not in err.message and "hunter2" not in (err.hint or "")
    assert err.code == "signing-key"
    assert key_files[0].read_bytes() == before


def test_a_damaged_key_file_is_refused(key_files: tuple[Path, Path]) -> None:
    lines = key_files[0].read_bytes().splitlines()
    lines[2] = b"A" * len(lines[2])
    key_files[0].write_bytes(b"\n".join(lines))
    with pytest.raises(SigningKeyError, match="damaged") as caught:
        load_signing_key(key_files[0], PASSPHRASE)
    assert str(key_files[0]) in caught.value.message


def test_a_missing_key_file_points_at_keygen(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError) as caught:
        load_signing_key(tmp_path / "none.key", PASSPHRASE)
    assert str(tmp_path / "none.key") in caught.value.message
    assert caught.value.hint and "mcpkit trust keygen" in caught.value.hint
    with pytest.raises(SigningKeyError, match="no public key"):
        load_public_key(tmp_path / "none.pub")


def test_an_unencrypted_private_key_is_refused_with_the_command_to_encrypt_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plain.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="unencrypted") as caught:
        load_signing_key(path, PASSPHRASE)
    assert caught.value.hint and "openssl pkcs8 -topk8" in caught.value.hint


def test_a_public_key_given_as_the_signing_key_is_refused(key_files: tuple[Path, Path]) -> None:
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        load_signing_key(key_files[1], PASSPHRASE)


def test_a_cosign_sealed_private_key_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "cosign.key"
    path.write_bytes(
        b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJr\n"
        b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    )
    with pytest.raises(SigningKeyError, match="cosign private key"):
        load_signing_key(path, PASSPHRASE)


def test_a_signing_key_on_another_curve_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p384.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE),
        )
    )
    with pytest.raises(SigningKeyError, match="not P-256"):
        load_signing_key(path, PASSPHRASE)


def test_rsa_public_keys_verify_pkcs1v15_sha256_signatures() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = PublicKey.from_pem(pem, origin="rsa.pub")
    signature = private.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    assert public.verify(signature, b"data")
    assert not public.verify(signature, b"other")
    assert not public.verify(b"short", b"data")
    assert public.algorithm == "rsa-pkcs1v15-sha256"


def test_ed25519_public_keys_verify_their_signatures() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = PublicKey.from_pem(pem, origin="ed.pub")
    assert public.verify(private.sign(b"data"), b"data")
    assert not public.verify(private.sign(b"data"), b"datum")
    assert public.algorithm == "ed25519"


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (b"not a key at all", "is not a PEM public key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "private key"),
    ],
)
def test_things_that_are_not_public_keys_are_refused(pem: bytes, message: str) -> None:
    with pytest.raises(SigningKeyError, match=message) as caught:
        PublicKey.from_pem(pem, origin="policy keys.team")
    assert "policy keys.team" in caught.value.message
    assert caught.value.hint


def test_a_public_key_of_a_kind_that_cannot_verify_is_refused() -> None:
    pem = (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(SigningKeyError, match="cannot verify"):
        PublicKey.from_pem(pem, origin="x25519.pub")


def test_write_key_pair_writes_a_private_file_only_the_owner_reads(tmp_path: Path) -> None:
    private_path, public_path = write_key_pair(tmp_path / "keys", "team", PASSPHRASE)
    assert (private_path.name, public_path.name) == ("team.key", "team.pub")
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    signing = load_signing_key(private_path, PASSPHRASE)
    assert load_public_key(public_path) == signing.public
    assert not list((tmp_path / "keys").glob(".*tmp"))


def test_write_key_pair_keeps_an_existing_pair_unless_forced(tmp_path: Path) -> None:
    private_path, public_path = write_key_pair(tmp_path, "team", PASSPHRASE)
    before = (private_path.read_bytes(), public_path.read_bytes())
    with pytest.raises(ConflictError) as caught:
        write_key_pair(tmp_path, "team", PASSPHRASE)
    assert str(private_path) in caught.value.message
    assert caught.value.hint and "--force" in caught.value.hint
    assert (private_path.read_bytes(), public_path.read_bytes()) == before
    write_key_pair(tmp_path, "team", PASSPHRASE, force=True)
    assert private_path.read_bytes() != before[0]
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden"])
def test_write_key_pair_refuses_a_name_that_is_not_a_plain_file_name(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidInputError, match="not a valid key name"):
        write_key_pair(tmp_path, name, PASSPHRASE)
    assert list(tmp_path.iterdir()) == []


def test_write_key_pair_refuses_an_empty_passphrase_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError):
        write_key_pair(tmp_path, "team", b"")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"MCPKIT_SIGNING_PASSPHRASE": "ours"}, b"ours"),
        ({"COSIGN_PASSWORD": "theirs"}, b"theirs"),
        ({"MCPKIT_SIGNING_PASSPHRASE": "ours", "COSIGN_PASSWORD": "theirs"}, b"ours"),
        ({"MCPKIT_SIGNING_PASSPHRASE": ""}, b""),
    ],
)
def test_the_passphrase_comes_from_mcpkit_then_cosign_variables(
    environ: dict[str, str], expected: bytes | None
) -> None:
    assert passphrase_from_env(environ) == expected
