"""`mcpkit trust`: keygen, trusted keys, sign and verify against a real registry."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.oci.client import Layer, RegistryClient
from mcpkit.oci.reference import Reference

PASSPHRASE = "a long passphrase for tests"


@pytest.fixture
def keyed(run: Any, environ: dict[str, str]) -> Any:
    environ["MCPKIT_SIGNING_PASSPHRASE"] = PASSPHRASE
    run("trust", "keygen")
    return run


def _subject(registry: Any) -> str:
    ref = registry.reference(f"mcp/cli-{secrets.token_hex(4)}", "v1")
    RegistryClient(environ={"HOME": "/nonexistent"}).push_artifact(
        Reference.parse(ref),
        artifact_type="application/vnd.example.thing.v1+json",
        layers=[Layer(secrets.token_bytes(16), "application/octet-stream")],
    )
    return ref


def _trust_dir(environ: dict[str, str]) -> Any:
    app = App(environ)
    try:
        return app.locations.config_dir / "trust"
    finally:
        app.close()


def test_keygen_writes_an_encrypted_key_and_trusts_its_public_half(
    keyed: Any, environ: dict[str, str]
) -> None:
    folder = _trust_dir(environ)
    key = (folder / "signing.key").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in key
    assert (folder / "signing.key").stat().st_mode & 0o077 == 0
    assert PASSPHRASE.encode() not in key
    keys = json.loads(keyed("trust", "key", "ls", "--json").stdout)
    assert [k["name"] for k in keys] == ["self"]
    again = keyed("trust", "keygen", code=5)
    assert "--force" in again.stderr
    assert (folder / "signing.key").read_bytes() == key  # untouched


def test_keygen_without_a_passphrase_or_terminal_fails_clearly(run: Any) -> None:
    result = run("trust", "keygen", code=13)
    assert "MCPKIT_SIGNING_PASSPHRASE" in result.stderr


def test_trusted_keys_are_added_listed_and_removed(
    keyed: Any, environ: dict[str, str], tmp_path: Any
) -> None:
    folder = _trust_dir(environ)
    pub = tmp_path / "team.pub"
    pub.write_bytes((folder / "signing.pub").read_bytes())
    keyed("trust", "key", "add", "team", str(pub))
    assert {k["name"] for k in json.loads(keyed("trust", "key", "ls", "--json").stdout)} == {
        "self",
        "team",
    }
    private = keyed("trust", "key", "add", "oops", str(folder / "signing.key"), code=4)
    assert "private key" in private.stderr
    garbage = tmp_path / "garbage.pub"
    garbage.write_text("not a key")
    keyed("trust", "key", "add", "junk", str(garbage), code=13)
    keyed("trust", "key", "rm", "team")
    missing = keyed("trust", "key", "rm", "team", code=3)
    assert "trust key ls" in missing.stderr


def test_sign_then_verify_explains_each_check(keyed: Any, oci_registry: Any) -> None:
    ref = _subject(oci_registry)
    signed = json.loads(keyed("trust", "sign", ref, "--json").stdout)
    assert signed["signature"].endswith(".sig")
    pinned = signed["subject"]
    out = keyed("trust", "verify", pinned)
    assert "ok   pinned" in out.stdout
    assert "ok   signature" in out.stdout
    by_tag = keyed("trust", "verify", ref, code=13)
    assert "FAIL pinned" in by_tag.stdout
    assert "not pinned by digest" in by_tag.stderr


def test_verify_fails_for_an_unsigned_artifact_and_for_a_required_attestation(
    keyed: Any, oci_registry: Any
) -> None:
    ref = _subject(oci_registry)
    unsigned = keyed("trust", "verify", ref, "--json", code=13)
    report = json.loads(unsigned.stdout)
    assert report["ok"] is False
    assert {c["name"] for c in report["checks"] if not c["ok"]} == {"pinned", "signature"}

    pinned = json.loads(keyed("trust", "sign", ref, "--json").stdout)["subject"]
    no_sbom = keyed("trust", "verify", pinned, "--require", "sbom", code=13)
    assert "FAIL sbom" in no_sbom.stdout


def test_a_wrong_passphrase_signs_nothing(
    keyed: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    ref = _subject(oci_registry)
    environ["MCPKIT_SIGNING_PASSPHRASE"] = "Xq7-not-it"
    result = keyed("trust", "sign", ref, code=13)
    assert "passphrase" in result.stderr
    assert "Xq7-not-it" not in result.stderr
    tags = RegistryClient(environ={"HOME": "/nonexistent"}).tags(Reference.parse(ref))
    assert tags == ["v1"]


def test_an_unreachable_registry_is_a_registry_error(keyed: Any) -> None:
    result = keyed("trust", "sign", "127.0.0.1:9/mcp/none:v1", code=12)
    assert "127.0.0.1:9" in result.stderr
