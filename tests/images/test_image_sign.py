"""`mcpkit build --sign`: a real image pushed to 127.0.0.1:5000, signed, attested, verified."""

from __future__ import annotations

import base64
import json
import os
import urllib.request
import uuid
from pathlib import Path

import pytest
from image_helpers import TIME_VERSION, EngineTarget, mcpkit, time_spec

from mcpkit.app import App
from mcpkit.oci.client import Layer, RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.trust.dsse import DSSE_MEDIA_TYPE

REGISTRY = "127.0.0.1:5000"
PASSPHRASE = "image signing passphrase"


@pytest.fixture(scope="module")
def registry() -> str:
    """The registry scripts/container-env.sh starts on 127.0.0.1:5000."""
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5):
            return REGISTRY
    except OSError as exc:
        problem = f"no registry at {REGISTRY} ({exc}): run scripts/container-env.sh as root"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def signed_build(
    build_environ: dict[str, str],
    docker_target: EngineTarget,
    registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, str], dict[str, object]]:
    """The time server built into its own home, pushed and signed once for the module."""
    home = tmp_path_factory.mktemp("sign-home")
    environ = build_environ | {
        "MCPKIT_HOME": str(home / "mcpkit"),
        "MCPKIT_SIGNING_PASSPHRASE": PASSPHRASE,
    }
    app = App(environ)
    app.profiles.add_server("default", "time", spec=time_spec())
    app.close()
    mcpkit(environ, "trust", "keygen")
    tag = f"{registry}/mcpkit-test/time:{uuid.uuid4().hex[:8]}"
    docker_target.tags.add(tag)
    out = mcpkit(
        environ, "build", "time", "--base", docker_target.base_image, "--tag", tag, "--sign",
        "--json",
    )  # fmt: skip
    return environ, json.loads(out.stdout)


def test_build_sign_pushes_by_digest_and_attaches_signature_provenance_and_sbom(
    signed_build: tuple[dict[str, str], dict[str, object]],
) -> None:
    _environ, data = signed_build
    pushed = str(data["pushed"])
    assert "@sha256:" in pushed
    attached = [str(a) for a in data["attached"]]  # type: ignore[attr-defined]
    assert [a.rsplit(".", 1)[1] for a in attached] == ["sig", "att", "sbom"]


def test_the_signed_image_verifies_with_its_source_and_both_attestations(
    signed_build: tuple[dict[str, str], dict[str, object]],
) -> None:
    environ, data = signed_build
    out = mcpkit(
        environ, "trust", "verify", str(data["pushed"]), "--require", "provenance",
        "--require", "sbom", "--source", f"pkg:pypi/mcp-server-time@{TIME_VERSION}",
    )  # fmt: skip
    for check in ("pinned", "signature", "provenance", "source", "sbom"):
        assert f"ok   {check}" in out.stdout
    wrong = mcpkit(
        environ, "trust", "verify", str(data["pushed"]), "--source",
        "pkg:pypi/mcp-server-time@0.0.1", code=13,
    )  # fmt: skip
    assert "FAIL source" in wrong.stdout


def test_the_sbom_lists_what_went_into_the_image(
    signed_build: tuple[dict[str, str], dict[str, object]],
) -> None:
    _environ, data = signed_build
    client = RegistryClient(environ={"HOME": "/nonexistent"})
    sbom_ref = Reference.parse(str(data["attached"][2]))  # type: ignore[index]
    _manifest, [blob] = client.pull_artifact(sbom_ref)
    bom = json.loads(blob)
    assert bom["bomFormat"] == "CycloneDX"
    names = {c["name"] for c in bom["components"]}
    assert "mcp-server-time" in names or "mcp_server_time" in names
    assert all(c.get("hashes") for c in bom["components"])


def test_a_tampered_attestation_fails_verification(
    signed_build: tuple[dict[str, str], dict[str, object]], tmp_path: Path
) -> None:
    environ, data = signed_build
    client = RegistryClient(environ={"HOME": "/nonexistent"})
    att_ref = Reference.parse(str(data["attached"][1]))  # type: ignore[index]
    manifest = client.get_manifest(att_ref)
    layers: list[Layer] = []
    for desc in manifest.layers:
        envelope = json.loads(client.get_blob(att_ref, desc))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        if "slsa" in statement["predicateType"]:
            params = statement["predicate"]["buildDefinition"]["externalParameters"]
            params["source"] = "pkg:pypi/evil@6.6.6"
            envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        layers.append(Layer(json.dumps(envelope).encode(), DSSE_MEDIA_TYPE, desc.annotations))
    # Someone with write access to the registry swaps the statement, keeping the signature.
    client.push_artifact(
        att_ref, artifact_type=DSSE_MEDIA_TYPE, layers=layers, subject=manifest.subject
    )
    result = mcpkit(
        environ, "trust", "verify", str(data["pushed"]), "--require", "provenance", code=13
    )
    assert "FAIL provenance" in result.stdout
