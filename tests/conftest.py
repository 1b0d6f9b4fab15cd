"""Shared fixtures: an isolated mcpkit home, an in-process CLI runner, container engines."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mcpkit.app import App
from mcpkit.cli.main import cli
from mcpkit.errors import McpkitError
from mcpkit.runtime.engine import Engine


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """An environment whose state, config and HOME all live under tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        "MCPKIT_HOME": str(tmp_path / "mcpkit"),
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        # The encrypted file store must never reach for the developer's real keyring.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


@pytest.fixture(scope="session")
def package_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir shared by every test of the session, so each server package installs once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def host_passthrough(package_cache: Path) -> dict[str, str]:
    """What installers and servers need from the real machine.

    The real PATH with this venv's bin first (uv, npm, node), the TLS settings of this
    machine's proxy, installer settings, and the session's shared package cache
    (``MCPKIT_CACHE_DIR``).
    """
    passed = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS")
        or k.startswith(("PIP_", "UV_", "NPM_CONFIG_", "npm_config_"))
    }
    venv_bin = str(Path(sys.executable).parent)
    passed["PATH"] = venv_bin + os.pathsep + passed.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    passed["MCPKIT_CACHE_DIR"] = str(package_cache)
    return passed


@pytest.fixture
def gateway_environ(environ: dict[str, str], host_passthrough: dict[str, str]) -> dict[str, str]:
    """``environ`` plus what installers and servers need from the real machine."""
    return {**environ, **host_passthrough}


@pytest.fixture
def app(environ: dict[str, str]) -> Iterator[App]:
    """An App on the isolated environment."""
    instance = App(environ)
    yield instance
    instance.close()


@dataclass
class Run:
    """Runs the mcpkit CLI in-process with the isolated environment."""

    environ: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> Result:
        runner = CliRunner()
        result = runner.invoke(
            cli, list(args), input=input, env=self.environ, catch_exceptions=False
        )
        assert result.exit_code == code, (
            f"mcpkit {' '.join(args)} exited {result.exit_code}, wanted {code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return result


@pytest.fixture
def run(environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI, in-process."""
    # CliRunner only overlays env; clear variables that would leak the real machine's state.
    for var in (
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
        "MCPKIT_SECRETS_PASSPHRASE",
    ):
        monkeypatch.delenv(var, raising=False)
    return Run(environ)


# ------------------------------------------------------------------------------ container engines
# scripts/container-env.sh (run by `make test` as root) starts both engines and builds these images.

BASE_IMAGE = "mcpkit-test/base:bookworm"
NODE_BASE_IMAGE = "mcpkit-test/node-base:bookworm"
ENGINE_SOCKETS = {
    "docker": "unix:///var/run/docker.sock",
    "podman": "unix:///run/podman/podman.sock",
}
_START_COMMANDS = {"docker": "dockerd", "podman": "podman system service --time=0 {url}"}
ENGINE_FIXTURES = frozenset({"engine_target", "docker_target"})


@dataclass(frozen=True)
class EngineTarget:
    """A real container engine the tests may use, and the test images it holds.

    ``environ`` selects the engine (``DOCKER_HOST``); merge it into a test's environment.
    Both engines resolve the images by these bare names (podman stores them as
    ``localhost/...``, but its Docker-compatible API finds them by the bare name).
    """

    name: str
    environ: dict[str, str]
    base_image: str
    node_base_image: str


@functools.cache
def _engine_problem(name: str) -> str | None:
    """Why the engine ``name`` cannot serve the tests, or None when it can (probed once)."""
    url = ENGINE_SOCKETS[name]
    engine = Engine.from_environ({"DOCKER_HOST": url})
    try:
        if not engine.ping_quick():
            start = _START_COMMANDS[name].format(url=url)
            return f"no {name} engine answers at {url}: start `{start}` (make test does, as root)"
        for image in (BASE_IMAGE, NODE_BASE_IMAGE):
            try:
                engine.call_sync(engine.api.inspect_image, image, what=f"inspect {image}")
            except McpkitError as exc:
                return (
                    f"the {name} engine at {url} has no {image} ({exc.message}): "
                    "run scripts/container-env.sh as root (make test does)"
                )
    finally:
        engine.close()
    return None


def _engine_target(name: str) -> EngineTarget:
    problem = _engine_problem(name)
    if problem is not None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI must provide both container engines: {problem}", pytrace=False)
        pytest.skip(problem)
    return EngineTarget(
        name=name,
        environ={"DOCKER_HOST": ENGINE_SOCKETS[name]},
        base_image=BASE_IMAGE,
        node_base_image=NODE_BASE_IMAGE,
    )


@pytest.fixture(scope="session", params=["docker", "podman"], ids=["docker", "podman"])
def engine_target(request: pytest.FixtureRequest) -> EngineTarget:
    """Each real engine in turn (docker, then podman); skipped when absent, failed under CI."""
    name: str = request.param
    return _engine_target(name)


@pytest.fixture(scope="session")
def docker_target() -> EngineTarget:
    """The real docker engine; skipped when absent, failed under CI."""
    return _engine_target("docker")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses an engine fixture as ``container`` (``-m 'not container'``)."""
    for item in items:
        if ENGINE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.container)


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real registry (Debian's docker-registry) of this test session, on a free port.

    Skipped when the binary is missing, failed under CI. Tests use their own repository
    names, so they share it.
    """
    from registry_helpers import start_registry

    with start_registry(tmp_path_factory.mktemp("oci")) as registry:
        yield registry
