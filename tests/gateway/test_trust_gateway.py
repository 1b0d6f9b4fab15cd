"""The gateway's trust gate on real images in a real registry, under enforce and warn.

One small stdlib MCP server image is built (--network none) and pushed to the session's
registry under several repositories: signed by a trusted key, unsigned, signed by a key
nobody trusts, and a modified copy pushed after signing. The profile pins each by digest
(one only by tag). ``enforce`` starts only the signed one and fails the others alone with
the reason; ``warn`` starts them all.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.catalog.model import ImageSource, Publisher, ServerSpec
from mcpkit.gateway.build import build_gateway, run_options
from mcpkit.oci.client import RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.trust.keys import load_signing_key, write_key_pair
from mcpkit.trust.registry import sign

SERVER = Path(__file__).parent / "servers" / "line_server.py"
PASSPHRASE = b"gateway trust tests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _docker(*args: str, environ: dict[str, str]) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=300,
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": environ["DOCKER_HOST"]},
    )  # fmt: skip
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def images(
    docker_target: Any, oci_registry: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Digest references of the server image in each repository, and the keys used."""
    context = tmp_path_factory.mktemp("trust-image")
    shutil.copy(SERVER, context / "line_server.py")
    (context / "Dockerfile").write_text(
        f"FROM {docker_target.base_image}\nCOPY line_server.py /srv/line_server.py\n"
        'ENTRYPOINT ["python3", "/srv/line_server.py", "trusted"]\n'
    )
    (context / "Dockerfile.modified").write_text(
        f"FROM {docker_target.base_image}\nCOPY line_server.py /srv/line_server.py\n"
        "RUN echo modified > /srv/note\n"
        'ENTRYPOINT ["python3", "/srv/line_server.py", "trusted"]\n'
    )
    env = docker_target.environ
    local = f"mcpkit-test/trust-line:{uuid.uuid4().hex[:8]}"
    modified = f"{local}-modified"
    _docker("build", "-q", "--network", "none", "-t", local, str(context), environ=env)
    _docker(
        "build", "-q", "--network", "none", "-f", str(context / "Dockerfile.modified"),
        "-t", modified, str(context), environ=env,
    )  # fmt: skip
    client = RegistryClient(environ={"HOME": "/nonexistent"})
    trusted = load_signing_key(_key(context, "trusted"), PASSPHRASE)
    stranger = load_signing_key(_key(context, "stranger"), PASSPHRASE)
    refs: dict[str, Any] = {"trusted_key": context / "trusted.pub"}
    pushed: list[str] = [local, modified]
    suffix = uuid.uuid4().hex[:6]
    for name, source in (
        ("signed", local),
        ("unsigned", local),
        ("wrongkey", local),
        ("tampered", local),
        ("bytag", local),
    ):
        tag = oci_registry.reference(f"trust/{name}-{suffix}", "1")
        _docker("tag", source, tag, environ=env)
        _docker("push", tag, environ=env)
        pushed.append(tag)
        ref = Reference.parse(tag)
        digest = client.resolve(ref).digest
        refs[name] = ref.with_digest(digest)
        refs[name + "_tag"] = tag
    sign(client, refs["signed"], trusted)
    sign(client, refs["bytag"], trusted)
    sign(client, refs["wrongkey"], stranger)
    # Signed, then the tag is moved to a modified image, which a later lock pins.
    sign(client, refs["tampered"], trusted)
    _docker("tag", modified, refs["tampered_tag"], environ=env)
    _docker("push", refs["tampered_tag"], environ=env)
    refs["tampered"] = Reference.parse(refs["tampered_tag"]).with_digest(
        client.resolve(Reference.parse(refs["tampered_tag"])).digest
    )
    yield refs
    subprocess.run(
        ["docker", "rmi", "--force", *pushed], capture_output=True, check=False, timeout=120,
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": env["DOCKER_HOST"]},
    )  # fmt: skip


def _key(folder: Path, name: str) -> Path:
    private, _public = write_key_pair(folder, name, PASSPHRASE)
    return private


@pytest.fixture
def trust_app(environ: dict[str, str], docker_target: Any, images: dict[str, Any]) -> Iterator[App]:
    app = App({**environ, **docker_target.environ})
    app.profiles.create("p")
    for name in ("signed", "unsigned", "wrongkey", "tampered"):
        _add(app, name, str(images[name]))
    _add(app, "bytag", images["bytag_tag"])
    keys = app.locations.config_dir / "trust" / "keys"
    keys.mkdir(parents=True)
    shutil.copy(images["trusted_key"], keys / "team.pub")
    yield app
    app.close()


def _add(app: App, name: str, image: str) -> None:
    spec = ServerSpec(
        id=name, title=name, publisher=Publisher(name="tests"), source=ImageSource(image=image)
    )
    app.profiles.add_server("p", name, spec=spec)


async def _health(app: App, **flags: Any) -> tuple[dict[str, Any], list[str]]:
    gateway = build_gateway(app, run_options(app, profile="p", **flags))
    try:
        await gateway.start()
        await gateway.wait_lists(timeout=90)
        return gateway.health()["servers"], [t["name"] for t in gateway.tool_list]
    finally:
        await gateway.aclose()


@pytest.mark.anyio
async def test_enforce_starts_only_the_signed_pinned_image_and_fails_the_rest_alone(
    trust_app: App, images: dict[str, Any]
) -> None:
    servers, tools = await _health(trust_app, verify_signatures=True)
    assert servers["signed"]["state"] == "running", servers["signed"]
    assert "signed__echo" in tools or "echo" in tools
    expected = {
        "unsigned": "no signature",
        "wrongkey": "accepted key",
        "tampered": "no signature",
        "bytag": "not pinned by digest",
    }
    for name, reason in expected.items():
        health = servers[name]
        assert health["state"] == "failed", (name, health)
        error = health["error"]
        assert f"server {name}:" in error
        reference = images["bytag_tag"] if name == "bytag" else str(images[name])
        assert reference in error
        assert reason in error, (name, error)
        assert "mcpkit trust verify" in error


@pytest.mark.anyio
async def test_warn_starts_everything_and_logs_each_failure_once(
    trust_app: App, images: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    policy = trust_app.locations.config_dir / "trust.toml"
    policy.write_text('mode = "warn"\n')
    with caplog.at_level(logging.WARNING, logger="mcpkit.trust.gate"):
        servers, _tools = await _health(trust_app)
    assert {s["state"] for s in servers.values()} == {"running"}, servers
    warned = [r.getMessage() for r in caplog.records if "warn mode" in r.getMessage()]
    assert len(warned) == 4
    assert not any("server signed:" in w for w in warned)


@pytest.mark.anyio
async def test_a_policy_rule_can_require_attestations_the_image_lacks(
    trust_app: App, images: dict[str, Any]
) -> None:
    policy = trust_app.locations.config_dir / "trust.toml"
    policy.write_text(
        'mode = "off"\n[[rule]]\nname = "needs provenance"\nserver = "signed"\n'
        'mode = "enforce"\nrequire = ["signature", "provenance"]\n'
    )
    servers, _tools = await _health(trust_app)
    assert servers["signed"]["state"] == "failed"
    assert "provenance" in servers["signed"]["error"]
    assert "needs provenance" in servers["signed"]["error"]
    assert servers["unsigned"]["state"] == "running"  # mode off for everything else
