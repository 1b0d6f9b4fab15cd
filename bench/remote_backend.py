"""The benchmark's remote server: the official SDK's MCPServer over streamable HTTP.

``python remote_backend.py [--json]`` binds a free port on 127.0.0.1 and prints
``{"port": N}`` once it accepts connections. It offers the same tools as ``backend.py``
(``s00_echo_0`` … ``s00_echo_9``, echoing ``text``), so the scenarios make the same call.
Stateful sessions with SSE answers (the SDK's default, what hosted servers mostly run), or
JSON answers with ``--json``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("bench-remote")


def _echo(text: str) -> str:
    return text


for index in range(10):
    server.tool(name=f"s00_echo_{index}", description=f"Echo the text (tool {index}).")(_echo)


async def main() -> None:
    app = server.streamable_http_app(json_response="--json" in sys.argv)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    uvi = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
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
