"""An in-process client of a gateway: what ``mcpkit tools …`` talks through.

It is a real client session of the gateway (the same code stdio and HTTP clients reach),
with messages delivered in memory instead of over a transport.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

from mcpkit.errors import ServerError
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.session import ClientSession
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message, RequestId
from mcpkit.protocol.versions import LATEST_HANDSHAKE


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, msg: Message, related: RequestId | None) -> None:
        self.messages.append(msg)


class LocalClient:
    """Requests to a gateway from inside the same process."""

    def __init__(self, gateway: Gateway) -> None:
        self.inbox = _Inbox()
        self.session = ClientSession(gateway, self.inbox)
        self._ids = itertools.count(1)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The result of a request; raises ServerError with the JSON-RPC error's message."""
        response = await self.session.handle(jsonrpc.request(next(self._ids), method, params or {}))
        if response is None:
            raise ServerError(f"{method} was cancelled")
        if "error" in response:
            err = response["error"]
            raise ServerError(f"{method} failed: {err.get('message')}", code="server-failed")
        return response.get("result")

    async def initialize(self) -> dict[str, Any]:
        """The handshake a client starts with."""
        result: dict[str, Any] = await self.request(
            "initialize",
            {
                "protocolVersion": LATEST_HANDSHAKE,
                "capabilities": {},
                "clientInfo": {"name": "mcpkit-cli", "version": "1"},
            },
        )
        await self.session.handle(jsonrpc.notification("notifications/initialized"))
        return result


@contextlib.asynccontextmanager
async def local_client(gateway: Gateway) -> AsyncIterator[LocalClient]:
    """Start ``gateway``, yield an initialized client, stop everything on exit."""
    await gateway.start()
    client = LocalClient(gateway)
    try:
        await client.initialize()
        yield client
    finally:
        await client.session.close()
        await gateway.aclose()
