"""Fixtures for the gateway end-to-end tests: real profiles, real gateway processes.

A gateway here is ``python -m mcpkit gateway run`` as a child process, on an isolated
mcpkit home whose package cache is the session's (so each server package installs once
per test session). HTTP gateways bind port 0 and announce their URL on stderr; the
fixture reads it from the line ``serving profile … at http://HOST:PORT/mcp``.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcpkit.cli.main import cli

#: How long a gateway may take to bind and announce its URL.
START_TIMEOUT = 60.0
SERVING = re.compile(r"serving profile .* at (http://[^\s/]+)/mcp")
TOKEN = "e2e-token-0123456789"


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


@dataclass
class RunningGateway:
    """A gateway child process serving HTTP."""

    process: subprocess.Popen[str]
    base: str
    token: str
    stderr: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The streamable HTTP endpoint."""
        return f"{self.base}/mcp"

    @property
    def sse_url(self) -> str:
        """The legacy SSE endpoint."""
        return f"{self.base}/sse"

    @property
    def auth(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.token}"}

    def log(self) -> str:
        """What the gateway printed on stderr so far (for assertion messages)."""
        return "".join(self.stderr)


def start_http_gateway(home: Home, profile: str, *extra: str) -> RunningGateway:
    """Start ``gateway run --transport http --port 0`` and wait for its URL."""
    environ = {**home.environ, "MCPKIT_GATEWAY_TOKEN": TOKEN}
    argv = home.gateway_argv(profile, "--transport", "http", "--port", "0", "-v", *extra)
    process = subprocess.Popen(
        argv,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Read stderr to the end: a full pipe would block the gateway's logging.
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            match = SERVING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    ready.wait(START_TIMEOUT)
    if not found:
        stop_process(process, reader)
        pytest.fail(f"the gateway did not announce its URL:\n{''.join(lines)}")
    return RunningGateway(process, found[0], TOKEN, lines, reader)


def stop_process(process: subprocess.Popen[str], reader: threading.Thread | None = None) -> None:
    """SIGTERM (the gateway stops its servers), then SIGKILL if it lingers; bounded."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if reader is not None:
        reader.join(5)
    if process.stderr is not None:
        process.stderr.close()


ServeHttp = Callable[..., RunningGateway]


@pytest.fixture(scope="module")
def serve_http() -> Iterator[ServeHttp]:
    """Start HTTP gateways: ``serve_http(home, profile, *extra_args)``; stopped at module end.

    (A fixture, not an import: conftest modules are not importable in this test tree.)
    """
    started: list[RunningGateway] = []

    def serve(home: Home, profile: str, *extra: str) -> RunningGateway:
        gateway = start_http_gateway(home, profile, *extra)
        started.append(gateway)
        return gateway

    yield serve
    for gateway in started:
        stop_process(gateway.process, gateway.reader)
