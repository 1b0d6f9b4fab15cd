"""Shared fixtures: an isolated mcpkit home and an in-process CLI runner."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mcpkit.app import App
from mcpkit.cli.main import cli


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
