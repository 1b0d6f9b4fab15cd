"""The gateway's HTTP front: streamable HTTP at ``/mcp`` (both eras) and legacy SSE at ``/sse``.

A raw ASGI application served by uvicorn (httptools, uvloop where installed): no web
framework sits on the hot path. Every route but ``/health`` needs the bearer token unless
the operator opted out, and every request's Origin and Host are checked against DNS
rebinding.

Handshake era (``2024-11-05`` … ``2025-11-25``): ``initialize`` creates a session whose id
travels in ``Mcp-Session-Id``; a POSTed request is answered with JSON, or with an SSE
stream when the server sends something about it first (progress, a sampling request);
``GET /mcp`` is the session's standalone stream, resumable with ``Last-Event-ID``;
``DELETE /mcp`` ends the session. Stateless era (``2026-07-28``): see
:mod:`mcpkit.transport.stateless`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mcpkit.errors import GatewayError
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.session import ClientSession
from mcpkit.protocol import envelope as env
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message, RequestId
from mcpkit.protocol.versions import HANDSHAKE_VERSIONS

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 32 * 1024 * 1024
#: Events kept per session for ``Last-Event-ID`` replay.
REPLAY = 1000
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
JSON = b"application/json"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class _Stream:
    """Messages for one open SSE response, with a wake-up for the writer.

    Writers check their conditions (items, the handler done, the client gone) before
    each :meth:`wait`, so a wake-up given while nobody waits is never needed later.
    """

    __slots__ = ("items", "waiter")

    def __init__(self) -> None:
        self.items: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def push(self, data: bytes) -> None:
        self.items.append(data)
        self.wake()

    def wake(self, _done: object = None) -> None:
        """Wake the writer (also usable as a task's done callback)."""
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self) -> None:
        if self.items:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None


class HttpSession:
    """A handshake-era (or legacy SSE) client session and its streams."""

    def __init__(self, gateway: Gateway, *, legacy: bool = False) -> None:
        self.id = secrets.token_urlsafe(24)
        self.legacy = legacy
        self.requests: dict[RequestId, _Stream] = {}
        self.standalone: _Stream | None = None
        self.history: deque[tuple[int, bytes]] = deque(maxlen=REPLAY)
        self.next_event = 0
        self.session = ClientSession(gateway, self, session_id=self.id)

    def send(self, msg: Message, related: RequestId | None) -> None:
        data = jsonrpc.dumps(msg)
        if not self.legacy and related is not None:
            stream = self.requests.get(related)
            if stream is not None:
                stream.push(data)
                return
        self.next_event += 1
        event = _event(data, self.next_event)
        self.history.append((self.next_event, event))
        if self.standalone is not None:
            self.standalone.push(event)


class HttpFront:
    """The ASGI application."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        token: str | None,
        allowed_origins: list[str] | None = None,
        allowed_hosts: list[str] | None = None,
    ) -> None:
        self.gateway = gateway
        self.token = token.encode() if token else None
        self.allowed_origins = set(allowed_origins or ())
        self.allowed_hosts = set(allowed_hosts or ())
        self.sessions: dict[str, HttpSession] = {}
        # The loop keeps only weak references to tasks: hold the legacy answers until done.
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        method = scope["method"]
        headers = dict(scope["headers"])
        refusal = self._check_origin(headers)
        if refusal is not None:
            await _plain(send, 403, refusal)
            return
        if path == "/health":
            await _json(
                send,
                200,
                self.gateway.health() if self._authorized(headers) else self._public_health(),
            )
            return
        if not self._authorized(headers):
            await _plain(
                send,
                401,
                "missing or wrong bearer token",
                [(b"www-authenticate", b'Bearer realm="mcpkit"')],
            )
            return
        if path in ("/mcp", "/mcp/"):
            if method == "POST":
                await self._post(scope, receive, send, headers)
            elif method == "GET":
                await self._get(receive, send, headers)
            elif method == "DELETE":
                await self._delete(send, headers)
            else:
                await _plain(
                    send, 405, "use POST, GET or DELETE", [(b"allow", b"GET, POST, DELETE")]
                )
        elif path == "/sse" and method == "GET":
            await self._legacy_stream(receive, send)
        elif path in ("/messages", "/messages/", "/message") and method == "POST":
            await self._legacy_post(scope, receive, send)
        else:
            await _plain(send, 404, "not found: the MCP endpoint is /mcp (or /sse for legacy SSE)")

    # -- checks --------------------------------------------------------------------

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        if self.token is None:
            return True
        value = headers.get(b"authorization", b"")
        scheme, _, credentials = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)

    def _check_origin(self, headers: dict[bytes, bytes]) -> str | None:
        host = headers.get(b"host", b"").decode("latin-1")
        hostname = _hostname(host)
        if (
            hostname not in LOOPBACK_HOSTS
            and host not in self.allowed_hosts
            and hostname not in self.allowed_hosts
        ):
            return f"Host {host!r} is not allowed (DNS rebinding protection)"
        origin = headers.get(b"origin")
        if origin is None:
            return None
        text = origin.decode("latin-1")
        if text in self.allowed_origins:
            return None
        if _hostname(urlsplit(text).netloc) in LOOPBACK_HOSTS:
            return None
        return f"Origin {text!r} is not allowed (use --allowed-origin to allow it)"

    def _public_health(self) -> dict[str, Any]:
        health = self.gateway.health()
        return {
            "status": health["status"],
            "servers": {sid: {"state": s["state"]} for sid, s in health["servers"].items()},
        }

    # -- streamable HTTP -----------------------------------------------------------

    async def _post(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        msg = await _read_message(receive)
        if isinstance(msg, _Refusal):
            if msg.status == 413:
                await _plain(send, msg.status, msg.text)
            else:
                await _json(send, msg.status, jsonrpc.error(None, msg.code, msg.text))
            return
        sid = headers.get(b"mcp-session-id")
        version = headers.get(b"mcp-protocol-version", b"").decode("latin-1")
        if (version and version not in HANDSHAKE_VERSIONS) or (
            sid is None and env.is_stateless_http(msg, version)
        ):
            await self._stateless(msg, receive, send, headers)
            return
        if msg.get("method") == "initialize":
            http_session = HttpSession(self.gateway)
            self.sessions[http_session.id] = http_session
            response = await http_session.session.handle(msg)
            await _json(send, 200, response, [(b"mcp-session-id", http_session.id.encode())])
            return
        if sid is None:
            await _json(
                send,
                400,
                jsonrpc.error(
                    msg.get("id"),
                    jsonrpc.INVALID_REQUEST,
                    "Bad Request: no Mcp-Session-Id header; send initialize first",
                ),
            )
            return
        found = self.sessions.get(sid.decode("latin-1"))
        if found is None:
            await _json(
                send,
                404,
                jsonrpc.error(
                    msg.get("id"), jsonrpc.INVALID_REQUEST, "Session not found; initialize again"
                ),
            )
            return
        if not jsonrpc.is_request(msg):
            await found.session.handle(msg)
            await _empty(send, 202)
            return
        accepts_sse = b"text/event-stream" in headers.get(b"accept", b"")
        await self._answer(found, msg, receive, send, accepts_sse)

    async def _stateless(
        self, msg: Message, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        """One self-contained stateless-era exchange: no session survives it."""
        accept = headers.get(b"accept", b"*/*")
        accepts_sse = b"text/event-stream" in accept
        if not jsonrpc.is_request(msg):
            if jsonrpc.is_notification(msg):
                await _empty(send, 202)
            else:
                await _json(
                    send,
                    400,
                    jsonrpc.error(
                        None, jsonrpc.INVALID_REQUEST, "a stateless exchange carries one request"
                    ),
                )
            return
        if msg.get("method") == "subscriptions/listen" and not accepts_sse:
            await _plain(send, 406, "subscriptions/listen needs Accept: text/event-stream")
            return
        problem = env.check_headers(msg, headers)
        if problem is not None:
            await _json(send, env.http_status(problem), problem)
            return
        found = HttpSession(self.gateway)
        try:
            await self._answer(found, msg, receive, send, accepts_sse, status_of=env.http_status)
        finally:
            await found.session.close_when_idle()

    async def _answer(
        self,
        found: HttpSession,
        msg: Message,
        receive: Receive,
        send: Send,
        accepts_sse: bool,
        status_of: Callable[[Message], int] | None = None,
    ) -> None:
        rid = msg["id"]
        stream = _Stream()
        if accepts_sse:
            found.requests[rid] = stream
        loop = asyncio.get_running_loop()
        # Two tasks per request and no more: the handler, and a watch for the client going
        # away. Both wake the one stream this loop waits on.
        task = loop.create_task(found.session.handle(msg))
        task.add_done_callback(stream.wake)
        disconnect = loop.create_task(_disconnected(receive))
        disconnect.add_done_callback(stream.wake)
        streaming = False
        try:
            while True:
                if disconnect.done() and not task.done():
                    task.cancel()
                    return
                while stream.items:
                    data = stream.items.popleft()
                    if not streaming:
                        await send(
                            {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}
                        )
                        streaming = True
                    await send(
                        {"type": "http.response.body", "body": _event(data), "more_body": True}
                    )
                if task.done():
                    break
                await stream.wait()
            response = task.result()
            if response is None:
                response = jsonrpc.error(rid, jsonrpc.INTERNAL_ERROR, "the request was cancelled")
            if streaming:
                await send(
                    {
                        "type": "http.response.body",
                        "body": _event(jsonrpc.dumps(response)),
                        "more_body": False,
                    }
                )
            else:
                await _json(send, status_of(response) if status_of else 200, response)
        finally:
            found.requests.pop(rid, None)
            disconnect.cancel()

    async def _get(self, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> None:
        if b"text/event-stream" not in headers.get(b"accept", b"text/event-stream"):
            await _plain(send, 406, "GET /mcp needs Accept: text/event-stream")
            return
        sid = headers.get(b"mcp-session-id")
        found = self.sessions.get(sid.decode("latin-1")) if sid else None
        if found is None:
            code = 400 if sid is None else 404
            await _plain(send, code, "GET /mcp needs the Mcp-Session-Id of a live session")
            return
        stream = _Stream()
        last = headers.get(b"last-event-id")
        if last is not None and last.isdigit():
            after = int(last)
            for event_id, event in found.history:
                if event_id > after:
                    stream.push(event)
        if found.standalone is not None:
            found.standalone.push(b"")
        found.standalone = stream
        try:
            await _pump(stream, receive, send)
        finally:
            if found.standalone is stream:
                found.standalone = None

    async def _delete(self, send: Send, headers: dict[bytes, bytes]) -> None:
        sid = headers.get(b"mcp-session-id")
        found = self.sessions.pop(sid.decode("latin-1"), None) if sid else None
        if found is None:
            await _plain(send, 404, "Session not found")
            return
        if found.standalone is not None:
            found.standalone.push(b"")
        await found.session.close()
        await _empty(send, 200)

    # -- legacy HTTP+SSE -----------------------------------------------------------

    async def _legacy_stream(self, receive: Receive, send: Send) -> None:
        found = HttpSession(self.gateway, legacy=True)
        self.sessions[found.id] = found
        stream = _Stream()
        found.standalone = stream
        stream.push(f"event: endpoint\ndata: /messages?session_id={found.id}\n\n".encode())
        try:
            await _pump(stream, receive, send)
        finally:
            self.sessions.pop(found.id, None)
            await found.session.close()

    async def _legacy_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sid = (query.get("session_id") or query.get("sessionId") or [""])[0]
        found = self.sessions.get(sid)
        if found is None or not found.legacy:
            await _plain(send, 404, "unknown session_id; open GET /sse first")
            return
        msg = await _read_message(receive)
        if isinstance(msg, _Refusal):
            await _plain(send, msg.status, msg.text)
            return
        await _plain(send, 202, "Accepted")
        if jsonrpc.is_request(msg):
            task = asyncio.get_running_loop().create_task(self._legacy_answer(found, msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await found.session.handle(msg)

    async def _legacy_answer(self, found: HttpSession, msg: Message) -> None:
        response = await found.session.handle(msg)
        if response is not None:
            found.send(response, None)

    async def close(self) -> None:
        """End every session (shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        for found in list(self.sessions.values()):
            if found.standalone is not None:
                found.standalone.push(b"")
            await found.session.close()
        self.sessions.clear()


async def _pump(stream: _Stream, receive: Receive, send: Send) -> None:
    """Write a stream's events until the client goes or an empty item ends it."""
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    await send({"type": "http.response.body", "body": b": stream open\n\n", "more_body": True})
    disconnect = asyncio.get_running_loop().create_task(_disconnected(receive))
    disconnect.add_done_callback(stream.wake)
    try:
        while not disconnect.done():
            while stream.items:
                event = stream.items.popleft()
                if not event:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await stream.wait()
    finally:
        disconnect.cancel()


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone (any request body left is read and dropped)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _event(data: bytes, event_id: int | None = None) -> bytes:
    if data.startswith(b"event:"):
        return data
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    return head + b"event: message\ndata: " + data + b"\n\n"


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why a POSTed body is not one JSON-RPC message; each transport words the answer."""

    status: int
    code: int
    text: str


async def _read_message(receive: Receive) -> Message | _Refusal:
    """The one JSON-RPC message a POST carries, or why there is none."""
    body = await _body(receive)
    if body is None:
        return _Refusal(413, jsonrpc.INVALID_REQUEST, "request body too large")
    try:
        msg = jsonrpc.loads(body)
    except jsonrpc.ParseError as exc:
        return _Refusal(400, jsonrpc.PARSE_ERROR, f"Parse error: {exc}")
    if isinstance(msg, list):
        return _Refusal(400, jsonrpc.INVALID_REQUEST, "batches are not supported")
    problem = jsonrpc.check(msg)
    if problem is not None:
        return _Refusal(400, jsonrpc.INVALID_REQUEST, problem)
    result: Message = msg
    return result


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def _json(
    send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = jsonrpc.dumps(data)
    headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _plain(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _empty(send: Send, status: int) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; a taken port is a GatewayError with a hint."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GatewayError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="pick another --port (0 takes any free port) or stop what uses it",
        ) from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve_http(
    gateway: Gateway,
    *,
    host: str = "127.0.0.1",
    port: int = 8811,
    token: str | None,
    allowed_origins: list[str] | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Start the gateway's servers and serve it over HTTP until cancelled or signalled."""
    import uvicorn

    sock = bind(host, port)
    bound = sock.getsockname()[1]
    # Listening first, then starting servers: clients with cached lists get answers at once.
    await gateway.start()
    hosts = [host, f"{host}:{bound}"] if host not in LOOPBACK_HOSTS else []
    front = HttpFront(gateway, token=token, allowed_origins=allowed_origins, allowed_hosts=hosts)
    config = uvicorn.Config(
        front,
        http="httptools" if _has("httptools") else "h11",
        loop="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    # uvicorn offers no startup event to await; poll its flag, bounded by the task itself.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    if ready is not None and server.started:
        ready(bound)
    try:
        await task
    finally:
        await front.close()
        sock.close()


def _has(module: str) -> bool:
    with contextlib.suppress(ImportError):
        __import__(module)
        return True
    return False
