"""What the HTTP and SSE channel tests share: real servers on 127.0.0.1 and a gateway side.

``Server`` runs one of ``servers/*.py`` as a subprocess; ``everything`` runs the npm
package ``@modelcontextprotocol/server-everything``; ``Recorder`` is the Router an
``Upstream`` reports to. Fixtures are made by factories and bound to a name in each test
module (``odd = server_fixture("odd_http_server.py")``), so each module gets its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mcpkit.gateway.upstream import Route, Upstream
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message
from mcpkit.runtime.base import Channel

SERVERS = Path(__file__).parent / "servers"
EVERYTHING = "@modelcontextprotocol/server-everything@2026.8.31"
TOKEN = "s3cret-token-" + "7" * 20


# ------------------------------------------------------------------ servers


class Server:
    """A server subprocess on 127.0.0.1; stopped by its PID."""

    def __init__(self, script: str, *args: str, port: int = 0) -> None:
        argv = [sys.executable, str(SERVERS / script), *args]
        if port:
            argv += ["--port", str(port)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"{script} {args} did not start (exit {self.proc.poll()})"
        self.port = int(json.loads(line)["port"])

    def url(self, path: str = "/mcp", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def wire(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = httpx.get(self.url("/_test/wire"), timeout=5).json()
        return entries

    def wire_of(self, session: str | None, method: str) -> list[dict[str, Any]]:
        """The wire entries of ``method`` requests (GET, POST…) that carried ``session``."""
        return [
            e
            for e in self.wire()
            if e["method"] == method and e["headers"].get("mcp-session-id") == session
        ]

    async def wait(self, **filters: str) -> list[dict[str, Any]]:
        """The wire entries matching ``filters``, once there are any (bounded)."""
        async with httpx.AsyncClient(timeout=15) as client:
            response = await client.get(self.url("/_test/wait"), params=filters)
        assert response.status_code == 200, f"never saw {filters}: {response.text}"
        entries: list[dict[str, Any]] = response.json()
        return entries

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def running(script: str, *args: str) -> Iterator[Server]:
    server = Server(script, *args)
    try:
        yield server
    finally:
        server.stop()


def server_fixture(script: str, *args: str) -> Any:
    """A module-scoped fixture running ``script`` with ``args`` for the module's tests."""

    @pytest.fixture(scope="module")
    def server() -> Iterator[Server]:
        with running(script, *args) as started:
            yield started

    return server


def channel_fixtures() -> tuple[Any, Any, Any]:
    """The fixtures every channel test module binds: ``anyio_backend, client, odd``.

    ``client`` sends the test bearer token on every request; ``odd`` is the misbehaving
    server, one per module.
    """

    @pytest.fixture
    def anyio_backend() -> str:
        return "asyncio"

    @pytest.fixture
    async def client() -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(10, read=None), headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            yield http

    return anyio_backend, client, server_fixture("odd_http_server.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Recorder:
    """A Router that keeps what the server sent and answers elicitations with a name."""

    def __init__(self) -> None:
        self.notes: list[Message] = []
        self.requests: list[Message] = []
        self.reason: str | None = None
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()

    def on_notification(self, upstream: Upstream, msg: Message) -> None:
        self.notes.append(msg)
        self._changed.set()

    async def on_request(self, upstream: Upstream, msg: Message, route: Route | None) -> Message:
        self.requests.append(msg)
        return jsonrpc.result(msg["id"], {"action": "accept", "content": {"name": "Ada"}})

    def on_close(self, upstream: Upstream, reason: str) -> None:
        self.reason = reason
        self.closed.set()

    async def wait_for(self, method: str, count: int = 1) -> list[Message]:
        async with asyncio.timeout(10):
            while True:
                found = [n for n in self.notes if n.get("method") == method]
                if len(found) >= count:
                    return found
                self._changed.clear()
                await self._changed.wait()


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def structured(response: Message) -> Any:
    assert "result" in response, response
    return response["result"]["structuredContent"]["result"]


async def exchange(channel: Channel, rid: int, method: str = "tools/call") -> Message:
    """Send one request straight over the channel and read until its answer."""
    await channel.send(orjson.dumps(jsonrpc.request(rid, method, call("x"))))
    async with asyncio.timeout(10):
        while True:
            msg = jsonrpc.loads(await channel.receive())
            if msg.get("id") == rid and "method" not in msg:
                return dict(msg)


# ------------------------------------------------------------------ a real npm server


def _npm_package(root: Path, spec: str) -> Path:
    """Install ``spec`` under ``root`` once (shared by the test session); its package dir."""
    name = spec.rsplit("@", 1)[0]
    target = root / "node_modules" / name
    if not (target / "package.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(root), "--no-audit", "--no-fund", spec],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return target


@contextlib.contextmanager
def everything(package_cache: Path, mode: str) -> Iterator[int]:
    """Run server-everything in ``mode`` on a free port; yields the port."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have npm and node for the server-everything tests")
        pytest.skip("npm/node are not installed")
    package = _npm_package(package_cache / "npm-server-everything", EVERYTHING)
    port = free_port()
    proc = subprocess.Popen(
        ["node", str(package / "dist" / "index.js"), mode],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "port" in line.lower() and str(port) in line:
                ready.set()
        ready.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        assert ready.wait(30), "server-everything did not start"
        assert proc.poll() is None, "server-everything exited"
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drainer.join(5)
        assert proc.stderr is not None
        proc.stderr.close()
