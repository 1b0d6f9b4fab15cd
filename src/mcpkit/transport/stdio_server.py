"""The gateway's stdio front: newline-delimited JSON-RPC on our own stdin and stdout.

One client, one session. Each request is handled in its own task so a slow tool never
holds up the next message; responses are written in the order they complete. Nothing but
JSON-RPC is ever written to stdout (logs go to stderr).
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Any

from mcpkit.gateway.core import Gateway
from mcpkit.gateway.session import ClientSession
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message, RequestId

#: Largest line accepted from the client.
LINE_LIMIT = 64 * 1024 * 1024


class _Stdout:
    """Writes whole messages to the client, one line each; the session's outbound too."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self._transport = transport

    def write(self, msg: Any) -> None:
        if not self._transport.is_closing():
            self._transport.write(jsonrpc.dumps(msg) + b"\n")

    def send(self, msg: Message, related: RequestId | None) -> None:
        self.write(msg)


async def serve_stdio(
    gateway: Gateway, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
) -> None:
    """Serve one client over stdio until it closes stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), stdin or sys.stdin.buffer
    )
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, stdout or sys.stdout.buffer)
    out = _Stdout(transport)
    session = ClientSession(gateway, out, session_id="stdio")
    tasks: set[asyncio.Task[None]] = set()

    async def answer(msg: Message) -> None:
        response = await session.handle(msg)
        if response is not None:
            out.write(response)

    async def answer_batch(batch: list[Any]) -> None:
        responses = [r for r in [await _one(session, item) for item in batch] if r is not None]
        if responses:
            out.write(responses)

    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:
                out.write(jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "message too large"))
                continue
            if not line:
                break
            if not line.strip():
                continue
            try:
                msg = jsonrpc.loads(line)
            except jsonrpc.ParseError as exc:
                out.write(jsonrpc.error(None, jsonrpc.PARSE_ERROR, f"Parse error: {exc}"))
                continue
            if isinstance(msg, list):
                task = loop.create_task(answer_batch(msg))
            elif jsonrpc.check(msg) is not None:
                out.write(_invalid(msg))
                continue
            elif jsonrpc.is_request(msg):
                task = loop.create_task(answer(msg))
            else:
                # Notifications and responses in order, before the next line is read.
                await session.handle(msg)
                continue
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await session.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        transport.close()


async def _one(session: ClientSession, item: Any) -> Message | None:
    if jsonrpc.check(item) is not None:
        return _invalid(item)
    return await session.handle(item)


def _invalid(item: Any) -> Message:
    """The error answer to something that is not a JSON-RPC message."""
    rid = item.get("id") if isinstance(item, dict) else None
    return jsonrpc.error(rid, jsonrpc.INVALID_REQUEST, str(jsonrpc.check(item)))
