"""One JSON-RPC connection from the gateway to a server: multiplexed by request id.

Requests from many client sessions share one connection. Each forwarded request gets a
fresh id on this connection; the response is matched back by that id. Progress tokens are
rewritten the same way, so two clients using the same token never see each other's
progress. The reader runs as one task and never blocks on a client: notifications are
handed to the router synchronously, server-to-client requests get a task of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, Protocol

from mcpkit import __version__
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.envelope import (
    CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    SERVER_INFO_KEY,
    UNSUPPORTED_VERSION,
    VERSION_KEY,
)
from mcpkit.protocol.jsonrpc import Message, RequestId
from mcpkit.protocol.versions import LATEST_HANDSHAKE, LATEST_STATELESS
from mcpkit.runtime.base import Channel, ChannelClosed

#: What the gateway tells servers it can do: everything a client may offer, because the
#: gateway forwards these requests to whichever client can answer them.
CLIENT_CAPABILITIES: dict[str, Any] = {
    "roots": {"listChanged": True},
    "sampling": {},
    "elicitation": {"form": {}, "url": {}},
}


#: Error codes a transport (not the server) puts on a request it could not deliver.
_TRANSPORT_CODES = (jsonrpc.SERVER_UNAVAILABLE, jsonrpc.SERVER_CRASHED)

#: What a cancelled request resolves to (compare with ``is``).
CANCELLED: Message = {"jsonrpc": "2.0", "id": None, "result": None}


class UpstreamError(Exception):
    """A forwarded request could not complete; carries the JSON-RPC error to return."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Route:
    """Where the answer to (and the progress of) a forwarded request goes."""

    session: Any
    client_id: RequestId | None
    progress_token: Any = None
    #: This connection's id for the request, set when it is sent.
    rid: int = 0


class Router(Protocol):
    """What an upstream hands its server's own messages to."""

    def on_notification(self, upstream: Upstream, msg: Message) -> None:
        """A notification from the server (progress, logging, list_changed…)."""
        ...

    async def on_request(self, upstream: Upstream, msg: Message, route: Route | None) -> Message:
        """A server-to-client request; returns the response message to send back."""
        ...

    def on_close(self, upstream: Upstream, reason: str) -> None:
        """The connection ended (the server exited or broke the protocol)."""
        ...


class Upstream:
    """A live, initialized connection to one server instance."""

    def __init__(self, channel: Channel, router: Router, *, name: str) -> None:
        self.channel = channel
        self.router = router
        self.name = name
        self.init_result: dict[str, Any] = {}
        self.garbage = 0
        #: The server speaks only the stateless era: every request carries the envelope.
        self.stateless = False
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._routes: dict[int, Route] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self._closed: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._closed is not None

    @property
    def capabilities(self) -> dict[str, Any]:
        """The server's declared capabilities."""
        caps = self.init_result.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    @property
    def inflight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    async def initialize(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - the server's own limit
        """Start reading and run the ``initialize`` handshake; raises UpstreamError."""
        self._reader = asyncio.create_task(self._read(), name=f"upstream-{self.name}")
        params = {
            "protocolVersion": LATEST_HANDSHAKE,
            "capabilities": CLIENT_CAPABILITIES,
            "clientInfo": {"name": "mcpkit", "version": __version__},
        }
        try:
            async with asyncio.timeout(timeout):
                response = await self.request("initialize", params)
        except TimeoutError:
            raise UpstreamError(
                jsonrpc.REQUEST_TIMEOUT, f"did not answer initialize within {timeout:g} s"
            ) from None
        if "error" in response:
            err = response["error"]
            if _stateless_only(err):
                return await self._discover(timeout)
            if isinstance(err, dict) and err.get("code") in _TRANSPORT_CODES:
                # The request never reached the server (cannot connect, refused by a guard):
                # the transport's message says it all.
                raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, str(err.get("message")))
            raise UpstreamError(
                jsonrpc.SERVER_UNAVAILABLE, f"refused initialize: {_error_text(err)}"
            )
        init = response.get("result")
        if not isinstance(init, dict):
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, "answered initialize with no result")
        self.init_result = init
        await self.notify("notifications/initialized")
        return init

    async def _discover(self, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - as initialize
        """Speak the stateless era to a server that only speaks it: ``server/discover``."""
        self.stateless = True
        try:
            async with asyncio.timeout(timeout):
                response = await self.request("server/discover", {})
        except TimeoutError:
            raise UpstreamError(
                jsonrpc.REQUEST_TIMEOUT, f"did not answer server/discover within {timeout:g} s"
            ) from None
        result = response.get("result")
        if not isinstance(result, dict):
            err = response.get("error")
            raise UpstreamError(
                jsonrpc.SERVER_UNAVAILABLE, f"refused server/discover: {_error_text(err)}"
            )
        meta = result.get("_meta")
        info = meta.get(SERVER_INFO_KEY) if isinstance(meta, dict) else None
        self.init_result = {
            "protocolVersion": LATEST_STATELESS,
            "capabilities": result.get("capabilities") or {},
            "serverInfo": info or result.get("serverInfo") or {},
        }
        if isinstance(result.get("instructions"), str):
            self.init_result["instructions"] = result["instructions"]
        return self.init_result

    async def request(self, method: str, params: Any = None, route: Route | None = None) -> Message:
        """Send a request and wait for its response message (result or error).

        With a ``route`` whose ``progress_token`` is set, the request's progress token is
        replaced by this connection's request id, and progress is routed back by it.
        Cancelling the caller sends ``notifications/cancelled`` to the server.
        """
        if self._closed is not None:
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, self._about(self._closed))
        self._next_id += 1
        rid = self._next_id
        if route is not None:
            route.rid = rid
            self._routes[rid] = route
            if route.progress_token is not None and isinstance(params, dict):
                meta = dict(params.get("_meta") or {})
                meta["progressToken"] = rid
                params = {**params, "_meta": meta}
        if self.stateless:
            params = _with_envelope(params)
        msg: Message = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            await self.channel.send(jsonrpc.dumps(msg))
            return await future
        except ChannelClosed:
            raise UpstreamError(
                jsonrpc.SERVER_CRASHED, self._about(self._closed or "the server went away")
            ) from None
        except asyncio.CancelledError:
            # Cancelling the caller cancels the future it waits on: that one is done too.
            if self._closed is None and (future.cancelled() or not future.done()):
                self._spawn(self._cancel(rid))
            raise
        finally:
            self._pending.pop(rid, None)
            self._routes.pop(rid, None)

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification to the server."""
        try:
            await self.channel.send(jsonrpc.dumps(jsonrpc.notification(method, params)))
        except ChannelClosed:
            raise UpstreamError(
                jsonrpc.SERVER_CRASHED, self._about(self._closed or "the server went away")
            ) from None

    def cancel(self, rid: int, reason: str = "the client cancelled the request") -> None:
        """Give up on an in-flight request: it resolves to :data:`CANCELLED`, the server is told."""
        future = self._pending.get(rid)
        if future is not None and not future.done():
            future.set_result(CANCELLED)
            if self._closed is None:
                self._spawn(self._cancel(rid, reason))

    def route_of(self, rid: object) -> Route | None:
        """The route of an in-flight request, by this connection's id (or progress token)."""
        return self._routes.get(rid) if isinstance(rid, int) else None

    def latest_route(self) -> Route | None:
        """The most recent in-flight request's route (for server requests with no link)."""
        return self._routes[max(self._routes)] if self._routes else None

    def fail_all(self, reason: str, code: int = jsonrpc.SERVER_CRASHED) -> None:
        """Fail every in-flight request with ``reason`` (the error names the server)."""
        for rid, future in list(self._pending.items()):
            if not future.done():
                future.set_result(jsonrpc.error(rid, code, self._about(reason)))

    def _about(self, reason: str) -> str:
        # A client talks to many servers through one gateway: say which one failed.
        return f"server {self.name!r}: {reason}"

    async def aclose(self, reason: str = "the connection was closed") -> None:
        """Stop reading and fail what is in flight."""
        if self._closed is None:
            self._closed = reason
        self.fail_all(self._closed)
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        await self.channel.aclose()

    async def _cancel(self, rid: int, reason: str = "the client cancelled the request") -> None:
        with contextlib.suppress(ChannelClosed):
            params = {"requestId": rid, "reason": reason}
            await self.channel.send(
                jsonrpc.dumps(jsonrpc.notification("notifications/cancelled", params))
            )

    async def _read(self) -> None:
        reason = "the server closed its output"
        try:
            while True:
                raw = await self.channel.receive()
                try:
                    msg = jsonrpc.loads(raw)
                except jsonrpc.ParseError:
                    self.garbage += 1
                    continue
                if not isinstance(msg, dict):
                    self.garbage += 1
                    continue
                method = msg.get("method")
                if method is None:
                    future = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
                    if future is not None and not future.done():
                        future.set_result(msg)
                elif "id" in msg:
                    self._spawn(self._answer(msg))
                else:
                    self.router.on_notification(self, msg)
        except ChannelClosed as exc:
            # A channel that knows why it ended (an HTTP session lost, a credential that
            # needs renewing) says so; a pipe's end of file carries no reason.
            if exc.args and exc.args[0]:
                reason = str(exc.args[0])
        except asyncio.CancelledError:
            reason = self._closed or "the connection was closed"
            raise
        finally:
            if self._closed is None:
                self._closed = reason
                self.fail_all(reason)
                self.router.on_close(self, reason)

    async def _answer(self, msg: Message) -> None:
        rid = msg["id"]
        if msg.get("method") == "ping":
            response = jsonrpc.result(rid, {})
        else:
            route = self.latest_route()
            try:
                response = await self.router.on_request(self, msg, route)
            except UpstreamError as exc:
                response = jsonrpc.error(rid, exc.code, exc.message)
            response["id"] = rid
        with contextlib.suppress(ChannelClosed):
            await self.channel.send(jsonrpc.dumps(response))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _stateless_only(err: Any) -> bool:
    """Whether an initialize error says the server speaks only stateless versions we know."""
    if not isinstance(err, dict) or err.get("code") != UNSUPPORTED_VERSION:
        return False
    data = err.get("data")
    supported = data.get("supported") if isinstance(data, dict) else None
    return isinstance(supported, list) and LATEST_STATELESS in supported


def _with_envelope(params: Any) -> dict[str, Any]:
    base: dict[str, Any] = params if isinstance(params, dict) else {}
    meta = dict(base.get("_meta") or {})
    meta[VERSION_KEY] = LATEST_STATELESS
    meta[CAPABILITIES_KEY] = CLIENT_CAPABILITIES
    meta[CLIENT_INFO_KEY] = {"name": "mcpkit", "version": __version__}
    return {**base, "_meta": meta}


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        return f"{err.get('message', 'error')} (code {err.get('code')})"
    return str(err)
