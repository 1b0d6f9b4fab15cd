"""An MCP server on the official Python SDK, served over HTTP by uvicorn on 127.0.0.1.

``python sdk_http_server.py MODE [--port N]`` prints ``{"port": N}`` once it listens.
Modes: ``stateful`` (SSE answers), ``json`` (JSON answers), ``stateless`` (no sessions),
``resumable`` (an event store: every event has an id, 50 ms ``retry``), ``modern-only``
(refuses ``initialize`` with -32022, like a server of the 2026-07-28 era alone) and ``sse``
(the legacy HTTP+SSE transport at ``/sse``).

A wire log records every HTTP request the server sees (method, path, the MCP headers,
status); ``GET /_test/wire`` returns it and ``GET /_test/wait?method=GET&status=200``
waits (bounded) until a matching request was answered, so tests wait on facts, not time
(``h_<header>=value`` filters on a request header, ``count=N`` waits for N matches).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import warnings
from typing import Annotated, Any

import anyio
import uvicorn
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

warnings.simplefilter("ignore")  # the SDK's deprecation notices for logging are noise here

mcp = MCPServer("transport-test", version="1.2.3")
_cancelled: list[anyio.Event] = []


def _cancel_event() -> anyio.Event:
    if not _cancelled:
        _cancelled.append(anyio.Event())
    return _cancelled[0]


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two ints."""
    return a + b


@mcp.tool()
async def work(steps: int, ctx: Context) -> str:
    """Report progress and log each step."""
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
        await ctx.info(f"did step {i + 1}")
    return "done"


class Name(BaseModel):
    name: str


def ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@mcp.tool()
def greet(who: Annotated[Name, Resolve(ask_name)]) -> str:
    """Greet someone whose name is asked of the client (elicitation)."""
    return f"hello {who.name}"


@mcp.tool()
async def slow() -> str:
    """Wait until cancelled; the cancellation is recorded for ``was_cancelled``."""
    try:
        await anyio.sleep(60)
    except anyio.get_cancelled_exc_class():
        _cancel_event().set()
        raise
    return "finished"


@mcp.tool()
async def was_cancelled() -> str:
    """Wait (at most 10 s) until a ``slow`` call was cancelled."""
    with anyio.fail_after(10):
        await _cancel_event().wait()
    return "cancelled"


@mcp.tool()
async def announce(ctx: Context) -> str:
    """Send tools/list_changed on the session's own stream (the GET stream)."""
    await ctx.session.send_tool_list_changed()
    return "announced"


@mcp.tool()
async def drop(ctx: Context) -> str:
    """Report progress, drop the response stream, report more and answer (resumability)."""
    await ctx.report_progress(1, 2, "before the drop")
    await ctx.close_sse_stream()
    await ctx.report_progress(2, 2, "after the drop")
    return "answered after the drop"


@mcp.tool()
async def drop_listen(ctx: Context) -> str:
    """Drop the GET stream, then send prompts/list_changed (a resuming client gets it)."""
    await ctx.close_standalone_sse_stream()
    await ctx.session.send_prompt_list_changed()
    return "dropped"


class MemoryEventStore(EventStore):
    """Every event kept in memory, in order (enough for one test run)."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, Any]] = []
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: str, message: Any) -> str:
        event_id = f"e{next(self._ids)}"
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: str, send_callback: EventCallback
    ) -> str | None:
        ids = [event[0] for event in self._events]
        if last_event_id not in ids:
            return None
        start = ids.index(last_event_id)
        stream_id = self._events[start][1]
        for event_id, stream, message in self._events[start + 1 :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


class WireLog:
    """ASGI middleware recording each HTTP request, with the test routes to read it."""

    HEADERS = (
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
        "x-test",
        "accept",
        "content-type",
    )

    def __init__(self, app: Any, modern_only: bool) -> None:
        self.app = app
        self.modern_only = modern_only
        self.entries: list[dict[str, Any]] = []
        self.changed = asyncio.Condition()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/_test/"):
            await self._test_route(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "headers": {k: headers[k] for k in self.HEADERS if k in headers},
            "status": None,
            "body_method": None,
        }
        body = b""
        if scope["method"] == "POST":
            body = await _read_body(receive)
            with contextlib.suppress(ValueError, AttributeError):
                entry["body_method"] = json.loads(body).get("method")
            receive = _replay(body, receive)
        await self._add(entry)
        if self.modern_only and entry["body_method"] == "initialize":
            await self._refuse_initialize(body, send, entry)
            return

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                async with self.changed:
                    entry["status"] = message["status"]
                    self.changed.notify_all()
            await send(message)

        await self.app(scope, receive, recording_send)

    async def _add(self, entry: dict[str, Any]) -> None:
        async with self.changed:
            self.entries.append(entry)
            self.changed.notify_all()

    async def _refuse_initialize(self, body: bytes, send: Any, entry: dict[str, Any]) -> None:
        request = json.loads(body)
        requested = request.get("params", {}).get("protocolVersion")
        payload = {
            "jsonrpc": "2.0",
            "id": request.get("id"),
            "error": {
                "code": -32022,
                "message": "Unsupported protocol version",
                "data": {"supported": ["2026-07-28"], "requested": requested},
            },
        }
        entry["status"] = 400
        await _send_json(send, 400, payload)

    async def _test_route(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        if scope["path"] == "/_test/wire":
            response = JSONResponse(self.entries)
        else:
            want = dict(request.query_params)
            timeout = float(want.pop("timeout", "10"))
            count = int(want.pop("count", "1"))

            def matches(entry: dict[str, Any]) -> bool:
                for key, value in want.items():
                    # ``h_<name>`` filters on a request header, other keys on the entry.
                    header = key.startswith("h_")
                    seen = entry["headers"].get(key[2:]) if header else entry.get(key)
                    if str(seen) != value:
                        return False
                return True

            def matching() -> list[dict[str, Any]]:
                return [entry for entry in self.entries if matches(entry)]

            try:
                async with asyncio.timeout(timeout), self.changed:
                    await self.changed.wait_for(lambda: len(matching()) >= count)
                response = JSONResponse(matching())
            except TimeoutError:
                response = JSONResponse({"timeout": True, "seen": self.entries}, status_code=408)
        await response(scope, receive, send)


async def _read_body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


def _replay(body: bytes, inner: Any) -> Any:
    """A receive that yields the body read already, then passes on (disconnects matter)."""
    sent = False

    async def receive() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await inner()

    return receive


async def _send_json(send: Any, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build(mode: str) -> WireLog:
    if mode == "sse":
        app = mcp.sse_app()
    else:
        app = mcp.streamable_http_app(
            json_response=mode == "json",
            stateless_http=mode == "stateless",
            event_store=MemoryEventStore() if mode == "resumable" else None,
            retry_interval=50 if mode == "resumable" else None,
        )
    return WireLog(app, modern_only=mode == "modern-only")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "mode", choices=["stateful", "json", "stateless", "resumable", "modern-only", "sse"]
    )
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    config = uvicorn.Config(
        build(args.mode),
        host="127.0.0.1",
        port=args.port,
        log_level="error",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            sys.exit(1)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    sys.stdout.write(json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    await serving


if __name__ == "__main__":
    asyncio.run(main())
