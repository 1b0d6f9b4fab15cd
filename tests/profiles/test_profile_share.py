"""`profile push|pull` through a real registry: locks, secrets, signatures, trust modes."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.oci.client import Layer, RegistryClient
from mcpkit.oci.reference import Reference

PASSPHRASE = "correct horse battery staple"
SECRET_VALUE = "sk-live-" + "Zq8" * 12  # a value of the shape leak rules know
WHEEL = "sha256:" + hashlib.sha256(b"mcp-server-time wheel").hexdigest()


@pytest.fixture
def signer(run: Any, environ: dict[str, str]) -> Any:
    environ["MCPKIT_SIGNING_PASSPHRASE"] = PASSPHRASE
    run("trust", "keygen")
    return run


def _make_profile(run: Any, environ: dict[str, str], name: str = "team") -> None:
    """A profile with a locked package server and a command server holding a real secret."""
    # A unique description gives each test its own blobs (the registry is shared and
    # content-addressed: a blob tampered by one test must not be another test's).
    run("profile", "create", name, "--description", f"shared {secrets.token_hex(4)}")
    run("profile", "server", "add", "time", "--profile", name)
    run(
        "profile",
        "server",
        "add",
        "notes",
        "--profile",
        name,
        "--command",
        "python -m notes_server",
        "--secret",
        "notes.token=NOTES_TOKEN",
    )
    run("secret", "set", "notes.token", input=SECRET_VALUE)
    app = App(environ)
    try:
        profile = app.profiles.get(name)
        for server in profile.servers:
            if server.id == "time":
                server.pins.package_version = "2026.1.0"
                server.pins.package_hashes = [WHEEL]
        app.profiles.save(profile, replace=True)
    finally:
        app.close()


def _ref(registry: Any, tag: str = "v1") -> str:
    return registry.reference(f"team/profile-{secrets.token_hex(4)}", tag)


def _all_blobs(registry: Any) -> list[bytes]:
    root = registry.storage / "docker/registry/v2/blobs"
    return [p.read_bytes() for p in root.rglob("data")]


def test_a_pushed_profile_holds_no_secret_value_and_pulls_back_verified(
    signer: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = signer
    _make_profile(run, environ)
    ref = _ref(oci_registry)
    out = run("profile", "push", "team", ref, "--sign", "--json").stdout
    pushed = json.loads(out)
    assert pushed["reference"].startswith(ref + "@sha256:")
    assert pushed["signature"].endswith(".sig")
    # Byte scan of everything the registry holds: the secret never left.
    blobs = _all_blobs(oci_registry)
    assert blobs
    assert not any(SECRET_VALUE.encode() in blob for blob in blobs)
    layer = next(b for b in blobs if b'"notes.token"' in b)
    assert b"2026.1.0" in layer and WHEEL.encode() in layer  # the lock travels

    out = run("profile", "pull", ref, "--name", "copy", "--verify", "enforce", "--json").stdout
    pulled = json.loads(out)
    assert pulled["verified"] is True
    assert {c["name"] for c in pulled["checks"]} == {"signature", "lock"}
    assert pulled["secrets"] == ["notes.token"]
    assert "mcpkit secret set notes.token" in pulled["instructions"]
    shown = json.loads(run("profile", "show", "copy", "--json").stdout)
    assert [s["id"] for s in shown["servers"]] == ["time", "notes"]


def test_a_config_value_equal_to_a_secret_refuses_the_push_and_nothing_is_pushed(
    signer: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = signer
    _make_profile(run, environ)
    app = App(environ)
    try:
        profile = app.profiles.get("team")
        profile.description = f"token is {SECRET_VALUE}"
        app.profiles.save(profile, replace=True)
    finally:
        app.close()
    ref = _ref(oci_registry)
    result = run("profile", "push", "team", ref, code=13)
    assert "secret" in result.stderr
    assert SECRET_VALUE not in result.stderr + result.stdout
    client = RegistryClient(environ={"HOME": environ["HOME"]})
    with pytest.raises(Exception, match="not"):
        client.resolve(Reference.parse(ref))


def test_an_unlocked_profile_is_not_pushed(
    run: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run("profile", "create", "loose")
    run("profile", "server", "add", "time", "--profile", "loose")
    result = run("profile", "push", "loose", _ref(oci_registry), code=13)
    assert "not locked: time" in result.stderr
    assert "mcpkit profile lock loose" in result.stderr


def test_an_unsigned_profile_is_refused_in_enforce_and_stored_with_a_warning_in_warn(
    run: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    _make_profile(run, environ)
    ref = _ref(oci_registry)
    run("profile", "push", "team", ref)
    refused = run("profile", "pull", ref, "--name", "strict", "--verify", "enforce", code=13)
    assert "no signature" in refused.stderr or "signature" in refused.stderr
    assert "nothing was stored" in refused.stderr
    run("profile", "show", "strict", code=3)

    warned = run("profile", "pull", ref, "--name", "lenient", "--verify", "warn")
    assert "FAIL signature" in warned.stdout
    assert "verification failed" in warned.stderr
    run("profile", "show", "lenient")


def test_the_trust_policy_decides_when_no_mode_is_given(
    signer: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = signer
    _make_profile(run, environ)
    ref = _ref(oci_registry)
    run("profile", "push", "team", ref)  # not signed
    app = App(environ)
    policy = app.locations.config_dir / "trust.toml"
    app.close()
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(
        f'mode = "off"\n[[rule]]\nname = "team registry"\nimage = "{oci_registry.host}/team/*"\n'
        'mode = "enforce"\nrequire = ["signature"]\n'
    )
    refused = run("profile", "pull", ref, "--name", "x", code=13)
    assert "team registry" in refused.stderr or "signature" in refused.stderr


def test_a_tampered_profile_blob_is_refused_and_nothing_is_stored(
    signer: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = signer
    _make_profile(run, environ)
    ref = _ref(oci_registry)
    run("profile", "push", "team", ref, "--sign")
    client = RegistryClient(environ={"HOME": environ["HOME"]})
    manifest = client.get_manifest(Reference.parse(ref))
    path = oci_registry.blob_path(manifest.layers[0].digest)
    path.write_bytes(path.read_bytes().replace(b"notes_server", b"evil_server!"))
    result = run("profile", "pull", ref, "--name", "tampered", "--verify", "warn", code=12)
    assert "digest" in result.stderr
    run("profile", "show", "tampered", code=3)


def test_pulling_over_an_existing_profile_needs_replace(
    signer: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = signer
    _make_profile(run, environ)
    ref = _ref(oci_registry)
    run("profile", "push", "team", ref, "--sign")
    result = run("profile", "pull", ref, code=5)
    assert "--replace" in result.stderr
    run("profile", "pull", ref, "--replace")


def test_a_docker_toolkit_profile_artifact_is_pulled_with_what_it_needs(
    run: Any, oci_registry: Any
) -> None:
    digest = "sha256:" + "ab" * 32
    profile = {
        "version": 1,
        "id": "docker_team",
        "name": "Docker Team",
        "servers": [
            {
                "type": "image",
                "image": f"mcp/github@{digest}",
                "config": {"host": "github.example.com"},
                "secrets": "default",
                "tools": ["create_issue"],
                # The shape of docker/mcp-gateway's working-set snapshot (legacy catalog entry).
                "snapshot": {
                    "server": {
                        "name": "github",
                        "type": "server",
                        "image": "mcp/github:latest",
                        "title": "GitHub",
                        "secrets": [
                            {
                                "name": "github.personal_access_token",
                                "env": "GITHUB_PERSONAL_ACCESS_TOKEN",
                            }
                        ],
                        "env": [{"name": "GITHUB_HOST", "value": "{{github.host}}"}],
                        "config": [
                            {
                                "name": "github",
                                "type": "object",
                                "properties": {"host": {"type": "string"}},
                            }
                        ],
                        "tools": [{"name": "create_issue", "description": "Create an issue"}],
                    }
                },
            }
        ],
        "secrets": {"default": {"provider": "docker-desktop-store"}},
    }
    ref = _ref(oci_registry)
    RegistryClient(environ={"HOME": "/nonexistent"}).push_artifact(
        Reference.parse(ref),
        artifact_type="application/vnd.docker.mcp.profile.v1+json",
        layers=[Layer(json.dumps(profile).encode(), "application/json")],
    )
    out = json.loads(run("profile", "pull", ref, "--json").stdout)
    assert out["format"] == "docker"
    assert out["profile"] == "docker_team"
    assert out["verified"] is False  # Docker does not sign its profiles; warn stores it
    assert out["secrets"] == ["github.personal_access_token"]
    assert "mcpkit secret set github.personal_access_token" in out["instructions"]
    shown = json.loads(run("profile", "show", "docker_team", "--json").stdout)
    [server] = shown["servers"]
    assert server["id"] == "github"
