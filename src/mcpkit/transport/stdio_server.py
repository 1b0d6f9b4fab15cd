"""The gateway's stdio front: newline-delimited JSON-RPC on our own stdin and stdout.

One client, one session. Each request is handled in its own task so a slow tool never
holds up the next message; responses are written in the order they complete. Nothing but
JSON-RPC is ever written to stdout (logs go to stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import IO, Any

from mcpkit.gateway.core import Gateway
from mcpkit.gateway.session import ClientSession
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message, RequestId

#: Largest line accepted from the client.
LINE_LIMIT = 64 * 1024 * 1024


class _StdoutOutbound:
    def __init__(self, write: Any) -> None:
        self._write = write

    def send(self, msg: Message, related: RequestId | None) -> None:
        self._write(jsonrpc.dumps(msg) + b"\n")


async def serve_stdio(  # noqa: PLR0915 - one read loop, kept whole to stay readable
    gateway: Gateway, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
) -> None:
    """Serve one client over stdio until it closes stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), stdin or sys.stdin.buffer
    )
    out = stdout or sys.stdout.buffer
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, out)

    def write(data: bytes) -> None:
        if not transport.is_closing():
            transport.write(data)

    session = ClientSession(gateway, _StdoutOutbound(write), session_id="stdio")
    tasks: set[asyncio.Task[None]] = set()

    async def run(msg: Message) -> None:
        response = await session.handle(msg)
        if response is not None:
            write(jsonrpc.dumps(response) + b"\n")

    async def run_batch(batch: list[Any]) -> None:
        responses = []
        for item in batch:
            response = await _one(session, item)
            if response is not None:
                responses.append(response)
        if responses:
            write(jsonrpc.dumps(responses) + b"\n")

    try:
        while True:
            try:
                line = await reader.readline()
            except ValueError:
                write(
                    jsonrpc.dumps(jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "message too large"))
                    + b"\n"
                )
                continue
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            try:
                msg = jsonrpc.loads(line)
            except jsonrpc.ParseError as exc:
                write(
                    jsonrpc.dumps(jsonrpc.error(None, jsonrpc.PARSE_ERROR, f"Parse error: {exc}"))
                    + b"\n"
                )
                continue
            if isinstance(msg, list):
                task = loop.create_task(run_batch(msg))
            else:
                problem = jsonrpc.check(msg)
                if problem is not None:
                    rid = msg.get("id") if isinstance(msg, dict) else None
                    write(
                        jsonrpc.dumps(jsonrpc.error(rid, jsonrpc.INVALID_REQUEST, problem)) + b"\n"
                    )
                    continue
                if "id" not in msg or "method" not in msg:
                    await session.handle(msg)
                    continue
                task = loop.create_task(run(msg))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await session.close()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        transport.close()


async def _one(session: ClientSession, item: Any) -> Message | None:
    problem = jsonrpc.check(item)
    if problem is not None:
        rid = item.get("id") if isinstance(item, dict) else None
        return jsonrpc.error(rid, jsonrpc.INVALID_REQUEST, problem)
    return await session.handle(item)
