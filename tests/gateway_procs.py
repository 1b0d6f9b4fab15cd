"""Gateway child processes for tests in any folder: start one on HTTP, read its URL, stop it.

A top-level test module (``tests/`` is on the import path), since conftest modules are not
importable in this test tree.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

#: How long a gateway may take to bind and announce its URL.
START_TIMEOUT = 60.0
SERVING = re.compile(r"serving profile .* at (http://[^\s/]+)/mcp")
TOKEN = "e2e-token-0123456789"


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


def start_http_gateway(environ: Mapping[str, str], argv: Sequence[str]) -> RunningGateway:
    """Start ``argv`` (a ``gateway run`` of one profile) on HTTP port 0 and wait for its URL."""
    environ = {**environ, "MCPKIT_GATEWAY_TOKEN": TOKEN}
    argv = [*argv, "--transport", "http", "--port", "0", "-v"]
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
