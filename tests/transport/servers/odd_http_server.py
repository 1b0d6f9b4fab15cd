"""An HTTP server that misbehaves on purpose, for the client channels' failure paths.

``python odd_http_server.py [--certfile F --keyfile K]`` prints ``{"port": N}`` once it
listens. No MCP SDK can be made to answer like this, so it is a small Starlette app.

Streamable HTTP side, ``POST /<behaviour>``: a ``ping`` request is always answered
properly (so a test can show the channel still works after one request failed); any
other request gets the behaviour:

- ``status-<code>``: that status, with a text body echoing the Authorization header
  (a server that leaks it back must not get it into our errors);
- ``rpc-error``: 400 with a JSON-RPC error body carrying a wrong id;
- ``garbage-json`` / ``garbage-sse`` / ``html``: 200 with junk JSON, a junk event
  stream, or HTML;
- ``accepted``: 202 for a request;
- ``stall-headers`` / ``stall-body``: no headers ever, or SSE headers and then silence;
- ``batch``: a JSON array holding a notification and the response;
- ``drop-with-id``: an event stream that sets an event id and ends before the response,
  where resuming (``GET``) always answers 405; ``GET /_gets`` counts those GETs.

Legacy SSE side, ``GET /sse-<behaviour>`` with messages posted to ``/post-<behaviour>``:
``cross-origin`` (the endpoint is on another origin), ``silent`` (no endpoint, only
comments), ``drop`` (the stream ends when the first message is posted), ``status-<code>``
(the GET fails) and ``post-500`` (posts answer 500).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

_dropped: dict[str, asyncio.Event] = {}
_gets: list[str] = []


def _sse(chunks: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream")


async def post(request: Request) -> Response:  # noqa: PLR0911, PLR0912 - a branch per behaviour
    behaviour = request.path_params["behaviour"]
    body = await request.body()
    try:
        msg: Any = json.loads(body)
    except ValueError:
        msg = {}
    rid = msg.get("id") if isinstance(msg, dict) else None
    if rid is None:
        return Response(status_code=202)
    if msg.get("method") == "ping":
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": {}})
    if behaviour.startswith("status-"):
        echo = request.headers.get("authorization", "")
        return PlainTextResponse(f"failed; you sent {echo}", status_code=int(behaviour[7:]))
    if behaviour == "rpc-error":
        error = {"code": -32099, "message": "the server's own words"}
        return JSONResponse({"jsonrpc": "2.0", "id": "wrong", "error": error}, status_code=400)
    if behaviour == "garbage-json":
        return Response(b"this is not json {", media_type="application/json")
    if behaviour == "garbage-sse":

        async def junk() -> AsyncIterator[bytes]:
            yield b"data: not json\n\n"
            yield b'event: message\ndata: {"jsonrpc": \n\n'

        return _sse(junk())
    if behaviour == "html":
        return Response(b"<html>hi</html>", media_type="text/html")
    if behaviour == "accepted":
        return Response(status_code=202)
    if behaviour == "stall-headers":
        await asyncio.sleep(3600)
    if behaviour == "stall-body":

        async def silence() -> AsyncIterator[bytes]:
            yield b": nothing yet\n\n"
            await asyncio.sleep(3600)

        return _sse(silence())
    if behaviour == "drop-with-id":

        async def drops() -> AsyncIterator[bytes]:
            yield b"retry: 10\nid: ev-1\ndata:\n\n"

        return _sse(drops())
    if behaviour == "batch":
        note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "x"}}
        return JSONResponse([note, {"jsonrpc": "2.0", "id": rid, "result": {"batched": True}}])
    return PlainTextResponse("unknown behaviour", status_code=400)


async def sse(request: Request) -> Response:
    behaviour = request.path_params["behaviour"]
    if behaviour.startswith("status-"):
        return PlainTextResponse("no", status_code=int(behaviour[7:]))
    if behaviour == "not-sse":
        return JSONResponse({"hello": "world"})
    if behaviour == "cross-origin":
        endpoint = "http://127.0.0.2:9/post-cross-origin"
    else:
        endpoint = f"/post-{behaviour}?session=1"
    dropped = _dropped.setdefault(behaviour, asyncio.Event())

    async def events() -> AsyncIterator[bytes]:
        if behaviour == "silent":
            yield b": waiting\n\n"
            await asyncio.sleep(3600)
        yield f"event: endpoint\ndata: {endpoint}\n\n".encode()
        if behaviour == "drop":
            await dropped.wait()
            return
        await asyncio.sleep(3600)

    return _sse(events())


async def sse_post(request: Request) -> Response:
    behaviour = request.path_params["behaviour"]
    await request.body()
    if behaviour == "post-500":
        return PlainTextResponse("broken", status_code=500)
    if behaviour == "drop":
        _dropped.setdefault(behaviour, asyncio.Event()).set()
    return PlainTextResponse("Accepted", status_code=202)


async def resume(request: Request) -> Response:
    _gets.append(request.headers.get("last-event-id", ""))
    return PlainTextResponse("no resuming here", status_code=405)


async def gets(request: Request) -> Response:
    return JSONResponse(_gets)


app = Starlette(
    routes=[
        Route("/_gets", gets, methods=["GET"]),
        Route("/drop-with-id", resume, methods=["GET"]),
        Route("/sse-{behaviour}", sse, methods=["GET"]),
        Route("/post-{behaviour}", sse_post, methods=["POST"]),
        Route("/{behaviour}", post, methods=["POST"]),
    ]
)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="error",
        timeout_graceful_shutdown=1,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
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
