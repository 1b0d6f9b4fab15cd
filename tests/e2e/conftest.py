"""Fixtures for the gateway end-to-end tests: real profiles, real gateway processes.

A gateway here is ``python -m mcpkit gateway run`` as a child process, on an isolated
mcpkit home whose package cache is the session's (so each server package installs once
per test session). HTTP gateways bind port 0 and announce their URL on stderr; the
fixture reads it from the line ``serving profile … at http://HOST:PORT/mcp``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway_procs import RunningGateway, start_http_gateway, stop_process
from mcpkit.cli.main import cli

__all__ = ["Home", "RunningGateway", "ServeHttp"]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Home:
    """An isolated mcpkit home and the environment that points at it."""

    root: Path
    environ: dict[str, str]

    def mcpkit(self, *args: str) -> str:
        """Run the CLI in-process on this home; returns stdout, fails the test on error."""
        result = CliRunner().invoke(cli, list(args), env=self.environ, catch_exceptions=False)
        assert result.exit_code == 0, f"mcpkit {' '.join(args)}: {result.output}"
        return result.stdout

    def gateway_argv(self, profile: str, *extra: str) -> list[str]:
        """The command line of a gateway serving ``profile``."""
        return [sys.executable, "-m", "mcpkit", "gateway", "run", "-p", profile, *extra]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, host_passthrough: dict[str, str]) -> Home:
    """One isolated mcpkit home per module, with what installers and servers need."""
    root = tmp_path_factory.mktemp("e2ehome")
    (root / "home").mkdir()
    environ = {
        **host_passthrough,
        "MCPKIT_HOME": str(root / "mcpkit"),
        "HOME": str(root / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return Home(root, environ)


ServeHttp = Callable[..., RunningGateway]


@pytest.fixture(scope="module")
def serve_http() -> Iterator[ServeHttp]:
    """Start HTTP gateways: ``serve_http(home, profile, *extra_args)``; stopped at module end.

    (A fixture, not an import: conftest modules are not importable in this test tree.)
    """
    started: list[RunningGateway] = []

    def serve(home: Home, profile: str, *extra: str) -> RunningGateway:
        gateway = start_http_gateway(home.environ, home.gateway_argv(profile, *extra))
        started.append(gateway)
        return gateway

    yield serve
    for gateway in started:
        stop_process(gateway.process, gateway.reader)
