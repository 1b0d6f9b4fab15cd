"""Many clients at once through one upstream connection: nothing lost, nothing crossed.

One shared SDK server behind one gateway serves every test here, in-process and over a
real streamable-HTTP front on 127.0.0.1 (port 0) driven by plain httpx with JSON-RPC.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from mcpkit.app import App
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.slot import SlotOptions
from mcpkit.transport.http_server import serve_http

pytestmark = pytest.mark.anyio

CLIENTS = 50
CALLS = 5
TOKEN = "concurrency-test-token"


@pytest.fixture(scope="module")
async def gateway(module_app: App, kit: Any) -> AsyncIterator[Gateway]:
    module_app.profiles.add_server("default", "echo", spec=kit.sdk_spec("echo"))
    gw = build_gateway(module_app, RunOptions(slot=SlotOptions(init_timeout=20.0)))
    await gw.start()
    await gw.wait_lists(20.0)
    assert gw.slots["echo"].state == "running"
    yield gw
    await gw.aclose()


@pytest.fixture(scope="module")
async def base_url(gateway: Gateway) -> AsyncIterator[str]:
    """The gateway's streamable-HTTP front on a free port of 127.0.0.1."""
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.get_running_loop().create_task(
        serve_http(gateway, host="127.0.0.1", port=0, token=TOKEN, ready=bound.set_result)
    )
    async with asyncio.timeout(10):
        port = await asyncio.shield(bound)
    yield f"http://127.0.0.1:{port}"
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def inflight(gateway: Gateway) -> int:
    # The upstream's pending table is the ground truth for "nothing left hanging".
    conn = gateway.slots["echo"]._shared
    assert conn is not None
    return conn.upstream.inflight


# -- in-process sessions -------------------------------------------------------------


async def test_fifty_sessions_calling_at_once_each_get_their_own_answers(
    gateway: Gateway, kit: Any
) -> None:
    async def one_client(n: int) -> list[tuple[str, str]]:
        client = kit.Client(gateway)
        await client.initialize()
        try:
            payloads = [f"client {n} call {i} {'x' * (n % 7)}" for i in range(CALLS)]
            answers = await asyncio.gather(*(client.call_text("echo", text=p) for p in payloads))
            return list(zip(payloads, answers, strict=True))
        finally:
            await client.close()

    async with asyncio.timeout(60):
        results = await asyncio.gather(*(one_client(n) for n in range(CLIENTS)))

    pairs = [pair for client in results for pair in client]
    assert len(pairs) == CLIENTS * CALLS
    assert all(sent == got for sent, got in pairs)
    assert inflight(gateway) == 0
    assert len(gateway.sessions) == 0


async def test_a_session_cancelled_mid_call_leaves_the_gateway_healthy(
    gateway: Gateway, kit: Any
) -> None:
    client = kit.Client(gateway)
    await client.initialize()
    stuck = asyncio.get_running_loop().create_task(client.call("block"))
    await kit.eventually(lambda: inflight(gateway) == 1, what="the blocking call upstream")

    stuck.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stuck
    await client.close()

    assert inflight(gateway) == 0
    other = kit.Client(gateway)
    await other.initialize()
    assert await other.call_text("echo", text="after") == "after"
    await other.close()
    assert (
        gateway.health()["servers"]["echo"] | {"state": "running", "restarts": 0}
        == (gateway.health()["servers"]["echo"])
    )


# -- streamable HTTP ------------------------------------------------------------------


class HttpClient:
    """A handshake-era streamable-HTTP client in a few lines of httpx."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "authorization": f"Bearer {TOKEN}",
                "accept": "application/json, text/event-stream",
            },
            timeout=httpx.Timeout(30.0),
        )
        self.sid = ""
        self._next = 0

    async def initialize(self) -> None:
        response = await self.http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "httpx", "version": "1"},
                },
            },
        )
        assert response.status_code == 200, response.text
        self.sid = response.headers["mcp-session-id"]
        note = await self.http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=self._session_headers(),
        )
        assert note.status_code == 202

    def _session_headers(self) -> dict[str, str]:
        return {"mcp-session-id": self.sid, "mcp-protocol-version": "2025-11-25"}

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        self._next += 1
        rid = self._next
        response = await self.http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": rid,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            },
            headers=self._session_headers(),
        )
        assert response.status_code == 200, response.text
        message = _response_for(response, rid)
        assert "result" in message, message
        result: dict[str, Any] = message["result"]
        return result

    async def aclose(self) -> None:
        await self.http.aclose()


def _response_for(response: httpx.Response, rid: int) -> dict[str, Any]:
    """The JSON-RPC response with ``rid`` from a JSON body or an SSE stream."""
    if response.headers["content-type"].startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                msg = orjson.loads(line[5:])
                if msg.get("id") == rid and "method" not in msg:
                    return dict(msg)
        raise AssertionError(f"no response to {rid} in {response.text!r}")
    msg = orjson.loads(response.content)
    assert msg["id"] == rid
    return dict(msg)


async def test_fifty_http_clients_calling_at_once_each_get_their_own_answers(
    gateway: Gateway, base_url: str, kit: Any
) -> None:
    async def one_client(n: int) -> list[tuple[str, str]]:
        client = HttpClient(base_url)
        try:
            await client.initialize()
            pairs = []
            for i in range(CALLS):
                sent = f"http client {n} call {i}"
                result = await client.call("echo", text=sent)
                pairs.append((sent, kit.text_of(result)))
            return pairs
        finally:
            await client.aclose()

    async with asyncio.timeout(60):
        results = await asyncio.gather(*(one_client(n) for n in range(CLIENTS)))

    pairs = [pair for client in results for pair in client]
    assert len(pairs) == CLIENTS * CALLS
    assert all(sent == got for sent, got in pairs)
    assert inflight(gateway) == 0


async def test_an_http_client_that_hangs_up_mid_call_leaves_the_gateway_healthy(
    gateway: Gateway, base_url: str, kit: Any
) -> None:
    client = HttpClient(base_url)
    await client.initialize()
    stuck = asyncio.get_running_loop().create_task(client.call("block"))
    await kit.eventually(lambda: inflight(gateway) == 1, what="the blocking call upstream")

    stuck.cancel()  # closes the HTTP connection under the request
    with contextlib.suppress(asyncio.CancelledError):
        await stuck
    await client.aclose()

    await kit.eventually(lambda: inflight(gateway) == 0, what="the call to be dropped")
    other = HttpClient(base_url)
    try:
        await other.initialize()
        assert kit.text_of(await other.call("echo", text="still fine")) == "still fine"
    finally:
        await other.aclose()
    async with httpx.AsyncClient(base_url=base_url) as plain:
        health = (await plain.get("/health")).json()
    assert health["status"] == "ok"
    assert health["servers"]["echo"]["state"] == "running"
