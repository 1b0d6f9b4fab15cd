"""Fixtures for the gateway tests: real test servers, specs for them, apps and waits.

Two kinds of real servers live in ``servers/``:

- ``sdk_server.py``, an MCP server on the official SDK, run by this venv's Python inside
  the bubblewrap sandbox: the spec declares read-only volumes for the venv and its base
  Python, since the sandbox binds only the executable's folder and the working folder;
- ``line_server.py``, a stdlib-only server speaking raw JSON-RPC lines, run by
  ``/usr/bin/python3`` (inside ``/usr``, so the sandbox has it), with deliberate faults.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, SecretRef, ServerSpec, Volume
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.local import LocalClient
from mcpkit.gateway.session import ClientSession
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message, RequestId

SERVERS = Path(__file__).parent / "servers"
SDK_SERVER = SERVERS / "sdk_server.py"
LINE_SERVER = SERVERS / "line_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """asyncio, for the whole module: module-scoped gateways live on one event loop."""
    return "asyncio"


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Iterator[App]:
    """An App on an isolated home shared by one module's tests (for shared gateways)."""
    root = tmp_path_factory.mktemp("gwapp")
    (root / "home").mkdir()
    environ = {
        "MCPKIT_HOME": str(root / "mcpkit"),
        "HOME": str(root / "home"),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "MCPKIT_CACHE_DIR": str(package_cache),
    }
    instance = App(environ)
    yield instance
    instance.close()


def sdk_spec(
    server_id: str,
    *extra: str,
    per_session: bool = False,
    secrets: list[SecretRef] | None = None,
    env: dict[str, str] | None = None,
) -> ServerSpec:
    """A command spec for ``sdk_server.py`` named ``server_id``, runnable in the sandbox."""
    command = shlex.join([sys.executable, str(SDK_SERVER), server_id, *extra])
    prefixes = dict.fromkeys([sys.prefix, sys.base_prefix])
    return ServerSpec(
        id=server_id,
        title=server_id,
        source=CommandSource(command=command, cwd=str(SERVERS)),
        volumes=[Volume(source=p, target=p) for p in prefixes],
        per_session=per_session,
        secrets=secrets or [],
        env=env or {},
    )


def line_spec(server_id: str, mode: str = "ok", *, per_session: bool = False) -> ServerSpec:
    """A command spec for ``line_server.py`` in ``mode`` (ok, noinit, garbage, crashstart)."""
    command = shlex.join([SYSTEM_PYTHON, str(LINE_SERVER), server_id, mode])
    return ServerSpec(
        id=server_id,
        title=server_id,
        source=CommandSource(command=command, cwd=str(SERVERS)),
        per_session=per_session,
    )


@dataclass
class Inbox:
    """An Outbound that keeps what a session sends, and answers server requests never."""

    messages: list[Message] = field(default_factory=list)

    def send(self, msg: Message, related: RequestId | None) -> None:
        self.messages.append(msg)


class Client:
    """One client session of a gateway, in-process, with its own id counter."""

    def __init__(self, gateway: Gateway) -> None:
        self.inbox = Inbox()
        self.session = ClientSession(gateway, self.inbox)
        self._next = 0

    async def initialize(self) -> dict[str, Any]:
        result = await self.result(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
        )
        await self.session.handle(jsonrpc.notification("notifications/initialized"))
        return dict(result)

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Message | None:
        """The whole response message (or None for a cancelled request)."""
        self._next += 1
        return await self.session.handle(jsonrpc.request(self._next, method, params or {}))

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.send(method, params)
        assert response is not None, f"{method} was cancelled"
        assert "error" not in response, f"{method} failed: {response['error']}"
        return response["result"]

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """A tools/call result (which may have isError set)."""
        result: dict[str, Any] = await self.result(
            "tools/call", {"name": tool, "arguments": arguments}
        )
        return result

    async def call_text(self, tool: str, **arguments: Any) -> str:
        result = await self.call(tool, **arguments)
        assert not result.get("isError"), result
        return str(result["content"][0]["text"])

    async def close(self) -> None:
        await self.session.close()


def text_of(result: dict[str, Any]) -> str:
    """The text of a tools/call result's content."""
    return "".join(c.get("text", "") for c in result.get("content", []))


async def eventually(
    condition: Callable[[], bool], *, within: float = 10.0, what: str = "condition"
) -> None:
    """Wait until ``condition()`` holds, at most ``within`` seconds.

    Slot state changes (a crash noticed, a restart after backoff, an idle reap) are not
    published as events a test can await, so this polls a cheap in-memory predicate.
    """
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def serving(app: App, **run: Any) -> AsyncIterator[tuple[Gateway, Client]]:
    """A started gateway of ``app``'s profile (``RunOptions(**run)``) and one initialized client."""
    gateway = build_gateway(app, RunOptions(**run))
    await gateway.start()
    client = Client(gateway)
    try:
        await client.initialize()
        yield gateway, client
    finally:
        await client.close()
        await gateway.aclose()


def health_of(gateway: Gateway, server: str) -> dict[str, Any]:
    """One server's entry in the gateway's health."""
    servers: dict[str, dict[str, Any]] = gateway.health()["servers"]
    return servers[server]


class Kit:
    """The helpers above, handed to tests as the ``kit`` fixture (conftest is not importable)."""

    servers = SERVERS
    sdk_server = SDK_SERVER
    line_server = LINE_SERVER
    system_python = SYSTEM_PYTHON
    sdk_spec = staticmethod(sdk_spec)
    line_spec = staticmethod(line_spec)
    text_of = staticmethod(text_of)
    eventually = staticmethod(eventually)
    serving = staticmethod(serving)
    health_of = staticmethod(health_of)
    Client = Client
    LocalClient = LocalClient


@pytest.fixture(scope="session")
def kit() -> Kit:
    """Specs for the test servers, an in-process client, and bounded waits."""
    return Kit()
