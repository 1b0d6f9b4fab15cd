"""A real MCP server on the official SDK served over HTTP on 127.0.0.1, guarded by an API key.

Usage: ``python remote_api_server.py NAME [--sse] [--key-env VAR]``. It serves streamable
HTTP at ``/mcp`` (or legacy SSE at ``/sse`` with ``--sse``), binds a free port, and prints
one JSON line ``{"port": N}`` once it accepts connections. With ``--key-env VAR`` every
request must carry ``X-Api-Key`` equal to ``$VAR`` (else 403), the way hosted servers
check API keys; ``/seen`` (no key needed) tells how many requests came with a good key.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

NAME = sys.argv[1] if len(sys.argv) > 1 else "remote"
server = MCPServer(NAME, instructions=f"{NAME}, a remote test server")
SEEN = {"good": 0, "bad": 0}


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def whoami() -> str:
    """The name this server was started with."""
    return NAME


class ApiKeyGate:
    """403 unless ``X-Api-Key`` matches; counts what it saw (never prints keys)."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/seen":
            body = json.dumps(SEEN).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        headers = dict(scope["headers"])
        if self.key is not None and headers.get(b"x-api-key", b"").decode() != self.key:
            SEEN["bad"] += 1
            await send({"type": "http.response.start", "status": 403, "headers": []})
            await send({"type": "http.response.body", "body": b"bad or missing api key"})
            return
        SEEN["good"] += 1
        await self.app(scope, receive, send)


async def main() -> None:
    key_env = sys.argv[sys.argv.index("--key-env") + 1] if "--key-env" in sys.argv else None
    app = server.sse_app() if "--sse" in sys.argv else server.streamable_http_app()
    gated = ApiKeyGate(app, os.environ[key_env] if key_env else None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(gated, log_level="warning", lifespan="on")
    uvi = uvicorn.Server(config)
    serving = asyncio.create_task(uvi.serve(sockets=[sock]))
    while not uvi.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.01)
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
