"""Shared pieces of the ``mcpkit build`` tests: constants, the engine target, specs."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field

from click.testing import CliRunner, Result

from mcpkit.app import App
from mcpkit.catalog.model import PackageSource, Publisher, ServerSpec
from mcpkit.cli.main import cli
from mcpkit.images.records import BuildRecord

BASE_IMAGE = "mcpkit-test/base:bookworm"
NODE_BASE_IMAGE = "mcpkit-test/node-base:bookworm"
#: Every image these tests tag lives under this repository prefix, removed at the end.
TEST_REPO = "mcpkit-test-build"
TIME_VERSION = "2026.10.19"
EVERYTHING_VERSION = "2026.8.31"
#: sha256 of mcp_server_time-2026.10.19-py3-none-any.whl on PyPI.
TIME_WHEEL_SHA256 = "sha256:5c099a001c6ca78260bda419f2e9b2aabee1adc4fe6ca56d8959871ad8da58a1"

INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "mcpkit-tests", "version": "1"},
        },
    }
)


@dataclass
class EngineTarget:
    """An engine to build on, and the base images it holds."""

    name: str
    environ: dict[str, str]
    base_image: str
    node_base_image: str
    #: Tags created by tests, removed at the end of the session.
    tags: set[str] = field(default_factory=set)

    def tag(self, name: str) -> str:
        """A throwaway tag, removed when the session ends."""
        tag = f"{TEST_REPO}/{name}:{uuid.uuid4().hex[:8]}"
        self.tags.add(tag)
        return tag

    def docker(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The docker CLI against this engine."""
        env = {**os.environ, "DOCKER_HOST": self.environ["DOCKER_HOST"]}
        return subprocess.run(
            ["docker", *args],
            check=False,
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    def initialize(self, image: str) -> dict[str, object]:
        """Run ``image`` with no network, send ``initialize``, return the result."""
        done = self.docker(
            "run", "-i", "--rm", "--pull", "never", "--network", "none", image,
            input=INITIALIZE + "\n",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        for line in done.stdout.splitlines():
            message = json.loads(line)
            if message.get("id") == 1:
                result: dict[str, object] = message["result"]
                return result
        raise AssertionError(f"no initialize answer in {done.stdout!r}")


def time_spec(**source: object) -> ServerSpec:
    """The catalog's ``time`` server, pinned to the tested version and wheel."""
    fields: dict[str, object] = {
        "registry": "pypi",
        "name": "mcp-server-time",
        "version": TIME_VERSION,
        "hashes": [TIME_WHEEL_SHA256],
        "entrypoint": "mcp-server-time",
    } | source
    return ServerSpec(
        id="time",
        title="Time",
        homepage="https://github.com/modelcontextprotocol/servers",
        publisher=Publisher(name="tests"),
        source=PackageSource.model_validate(fields),
    )


def everything_spec(**source: object) -> ServerSpec:
    """The catalog's ``everything`` server, pinned to the tested version."""
    fields: dict[str, object] = {
        "registry": "npm",
        "name": "@modelcontextprotocol/server-everything",
        "version": EVERYTHING_VERSION,
        "entrypoint": "mcp-server-everything",
    } | source
    return ServerSpec(
        id="everything",
        title="Everything",
        publisher=Publisher(name="tests"),
        source=PackageSource.model_validate(fields),
    )


@dataclass
class SharedBuilds:
    """The session's app (home), and the builds of ``time`` and ``everything`` in it."""

    app: App
    time: BuildRecord
    everything: BuildRecord
    time_seconds: float
    everything_seconds: float
    time_progress: list[str]


def mcpkit(environ: dict[str, str], *args: str, code: int = 0) -> Result:
    """The mcpkit CLI in-process with ``environ``; asserts the exit status."""
    result = CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)
    assert result.exit_code == code, (
        f"mcpkit {' '.join(args)} exited {result.exit_code}, wanted {code}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result
