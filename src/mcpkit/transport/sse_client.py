"""The client side of MCP's legacy HTTP+SSE transport (2024-11-05), as a channel.

A GET on the SSE URL opens the one stream every server message arrives on. Its first
event, ``endpoint``, names where to POST messages (a URL relative to the stream's, and
it must stay on the stream's origin: a server may not send our headers elsewhere). Each
POST is accepted with 202; its answer comes later on the stream. The transport has no
resumption: when the stream drops, the session is gone and the channel ends.

The stream opens on first use (the first send or receive), so creating a channel costs
nothing until the gateway starts its handshake over it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx

from mcpkit.errors import McpkitError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import RequestId
from mcpkit.runtime.base import ChannelClosed
from mcpkit.transport.sse_events import (
    MAX_ERROR_BODY,
    SSEError,
    content_type,
    display_url,
    error_message,
    error_reason,
    http_error_message,
    is_id,
    is_unreachable,
    iter_events,
    read_limited,
    same_origin,
    unreachable_reason,
)

logger = logging.getLogger(__name__)

#: How long the server may take to name its message endpoint.
ENDPOINT_TIMEOUT = 10.0


class LegacySseChannel:
    """A :class:`~mcpkit.runtime.base.Channel` to a legacy HTTP+SSE MCP server.

    Same arguments as :class:`~mcpkit.transport.http_client.StreamableHttpChannel`;
    ``url`` is the SSE endpoint. ``request_timeout`` bounds each POST.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str = "",
        request_timeout: float | None = None,
        endpoint_timeout: float = ENDPOINT_TIMEOUT,
    ) -> None:
        self._client = client
        self._url = url
        self._where = display_url(url)
        self._extra = dict(headers or {})
        self.name = name
        self._request_timeout = request_timeout
        self._endpoint_timeout = endpoint_timeout
        #: Why the channel ended, for people; None while it is open.
        self.close_reason: str | None = None
        #: Where messages are posted, once the server named it.
        self.endpoint: str | None = None
        #: The session the endpoint names (its ``session_id``/``sessionId`` query), if any.
        self.session_id: str | None = None
        #: Server messages dropped because they were not JSON.
        self.garbage = 0
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._inflight: set[RequestId] = set()
        self._ready = asyncio.Event()
        self._stream: asyncio.Task[None] | None = None
        self._closed = False

    async def send(self, message: bytes) -> None:
        """POST one message to the endpoint; returns once the server accepted it."""
        endpoint = await self._endpoint()
        rid = _request_id(message)
        if rid is not None:
            self._inflight.add(rid)
        headers = httpx.Headers(self._extra)
        headers["Content-Type"] = "application/json"
        timeout = self._client.timeout
        if self._request_timeout is not None:
            timeout = httpx.Timeout(self._request_timeout, connect=timeout.connect)
        request = self._client.build_request(
            "POST", endpoint, content=message, headers=headers, timeout=timeout
        )
        try:
            response = await self._client.send(request, stream=True)
        except McpkitError as exc:
            self._end(error_reason(exc))
            return
        except httpx.HTTPError as exc:
            if is_unreachable(exc):
                self._end(unreachable_reason(self._where, exc))
            elif rid is not None:
                text = f"posting to {self._where} failed ({exc.__class__.__name__})"
                self._fail(rid, text)
            return
        except asyncio.CancelledError:
            if rid is not None:
                self._inflight.discard(rid)
            raise
        try:
            status = response.status_code
            if status == 404:
                self._end(f"the server ended the session (HTTP 404 from {self._where})")
            elif not 200 <= status < 300 and rid is not None and rid in self._inflight:
                try:
                    body = await read_limited(response, MAX_ERROR_BODY)
                except httpx.HTTPError:
                    body = None
                self._inflight.discard(rid)
                self._queue.put_nowait(http_error_message(rid, status, self._where, body))
        finally:
            await response.aclose()

    async def receive(self) -> bytes:
        """The next message from the stream; :class:`ChannelClosed` once drained and ended."""
        self._start()
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)
            raise ChannelClosed(self.close_reason or "the channel was closed")
        return item

    async def aclose(self) -> None:
        """Close the stream (which ends the server's session); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._end("the channel was closed")
        stream = self._stream
        if stream is not None and stream is not asyncio.current_task():
            stream.cancel()
            await asyncio.wait([stream], timeout=2.0)

    # ------------------------------------------------------------------ the stream

    def _start(self) -> None:
        if self._stream is None and self.close_reason is None:
            self._stream = asyncio.get_running_loop().create_task(
                self._read(), name=f"sse-{self.name or self._where}"
            )
            self._stream.add_done_callback(self._reaped)

    async def _endpoint(self) -> str:
        if self.close_reason is not None:
            raise ChannelClosed(self.close_reason)
        self._start()
        if self.endpoint is None:
            try:
                async with asyncio.timeout(self._endpoint_timeout):
                    await self._ready.wait()
            except TimeoutError:
                self._end(
                    f"{self._where} named no message endpoint within {self._endpoint_timeout:g} s"
                )
        if self.endpoint is None:
            raise ChannelClosed(self.close_reason or "the channel was closed")
        return self.endpoint

    async def _read(self) -> None:
        headers = httpx.Headers(self._extra)
        headers["Accept"] = "text/event-stream"
        headers["Cache-Control"] = "no-store"
        base = self._client.timeout
        # An idle stream is normal here; a read timeout would end the session.
        timeout = httpx.Timeout(connect=base.connect, read=None, write=base.write, pool=base.pool)
        request = self._client.build_request("GET", self._url, headers=headers, timeout=timeout)
        try:
            response = await self._client.send(request, stream=True)
        except McpkitError as exc:
            self._end(error_reason(exc))
            return
        except httpx.HTTPError as exc:
            if is_unreachable(exc):
                self._end(unreachable_reason(self._where, exc))
            else:
                self._end(f"opening the event stream at {self._where} failed ({_name(exc)})")
            return
        try:
            await self._pump(response)
        except McpkitError as exc:
            self._end(error_reason(exc))
        except httpx.HTTPError as exc:
            self._end(f"the event stream from {self._where} broke ({_name(exc)})")
        except SSEError as exc:
            self._end(f"the event stream from {self._where} is unreadable: {exc}")
        finally:
            await response.aclose()

    async def _pump(self, response: httpx.Response) -> None:
        status = response.status_code
        if status != 200:
            self._end(f"{self._where} answered the event stream request with HTTP {status}")
            return
        if content_type(response) != "text/event-stream":
            self._end(f"{self._where} did not answer with an event stream")
            return
        base = response.url
        async for event in iter_events(response):
            if event.event == "endpoint":
                if self.endpoint is None and not self._set_endpoint(base, event.data):
                    return
            elif event.event == "message" and event.data:
                self._deliver(event.data)
        self._end(f"the server closed the event stream ({self._where})")

    def _set_endpoint(self, base: httpx.URL, data: bytes) -> bool:
        try:
            target = base.join(data.decode("utf-8").strip())
        except (UnicodeDecodeError, httpx.InvalidURL):
            self._end(f"{self._where} named an unreadable message endpoint")
            return False
        if not same_origin(target, base):
            self._end(
                f"{self._where} named a message endpoint on another origin "
                f"({display_url(target)}); refusing to post there"
            )
            return False
        self.endpoint = str(target)
        params = target.params
        self.session_id = params.get("session_id") or params.get("sessionId")
        self._ready.set()
        return True

    def _deliver(self, data: bytes) -> None:
        try:
            msg = jsonrpc.loads(data)
        except jsonrpc.ParseError:
            self.garbage += 1
            return
        if not isinstance(msg, dict):
            self.garbage += 1
            return
        if self.close_reason is None:
            self._queue.put_nowait(data)
            if "method" not in msg:
                self._inflight.discard(msg.get("id"))

    # ------------------------------------------------------------------ ending

    def _fail(self, rid: RequestId, text: str) -> None:
        if rid in self._inflight:
            self._inflight.discard(rid)
            self._queue.put_nowait(error_message(rid, jsonrpc.INTERNAL_ERROR, text))

    def _end(self, reason: str) -> None:
        if self.close_reason is not None:
            return
        self.close_reason = reason
        for rid in list(self._inflight):
            self._queue.put_nowait(error_message(rid, jsonrpc.SERVER_UNAVAILABLE, reason))
        self._inflight.clear()
        self._queue.put_nowait(None)  # the end marker, after every failure above
        self._ready.set()
        stream = self._stream
        if stream is not None and stream is not asyncio.current_task():
            stream.cancel()

    def _reaped(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("SSE channel to %s failed", self._where, exc_info=exc)
            self._end(f"internal error reading from {self._where}: {exc.__class__.__name__}")


def _request_id(message: bytes) -> RequestId | None:
    try:
        msg: Any = jsonrpc.loads(message)
    except jsonrpc.ParseError:
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
        return None
    rid = msg.get("id")
    return rid if is_id(rid) else None


def _name(exc: BaseException) -> str:
    return exc.__class__.__name__
