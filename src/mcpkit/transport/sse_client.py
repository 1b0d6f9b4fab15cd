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
import functools
from typing import Any, Unpack

import httpx

from mcpkit.errors import McpkitError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import RequestId
from mcpkit.runtime.base import ChannelClosed
from mcpkit.transport.http_channel import ChannelOptions, HttpChannelBase
from mcpkit.transport.sse_events import (
    SSEError,
    content_type,
    display_url,
    error_reason,
    is_id,
    iter_events,
    same_origin,
)

#: How long the server may take to name its message endpoint.
ENDPOINT_TIMEOUT = 10.0


class LegacySseChannel(HttpChannelBase):
    """A :class:`~mcpkit.runtime.base.Channel` to a legacy HTTP+SSE MCP server.

    Same arguments as :class:`~mcpkit.transport.http_client.StreamableHttpChannel`;
    ``url`` is the SSE endpoint. ``request_timeout`` bounds each POST.
    """

    _kind = "SSE"

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        endpoint_timeout: float = ENDPOINT_TIMEOUT,
        **options: Unpack[ChannelOptions],
    ) -> None:
        super().__init__(client, url, **options)
        self._endpoint_timeout = endpoint_timeout
        #: Where messages are posted, once the server named it.
        self.endpoint: str | None = None
        #: The session the endpoint names (its ``session_id``/``sessionId`` query), if any.
        self.session_id: str | None = None
        self._ready = asyncio.Event()
        self._stream: asyncio.Task[None] | None = None

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
        failed = functools.partial(self._post_failed, rid)
        response = await self._open(self._client.send(request, stream=True), failed, rid)
        if response is None:
            return
        status = response.status_code
        if status == 404:
            self._end(f"the server ended the session (HTTP 404 from {self._where})")
        if not 200 <= status < 300 and rid in self._inflight:
            await self._read_error(rid, response)
        else:
            await response.aclose()

    async def receive(self) -> bytes:
        """The next message from the stream; :class:`ChannelClosed` once drained and ended."""
        self._start()
        return await super().receive()

    async def aclose(self) -> None:
        """Close the stream (which ends the server's session); idempotent."""
        await super().aclose()

    # ------------------------------------------------------------------ the stream

    def _start(self) -> None:
        if self._stream is None and self.close_reason is None:
            self._stream = self._spawn(self._read(), name=f"sse-{self.name or self._where}")

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
        response = await self._open(self._client.send(request, stream=True), self._open_failed)
        if response is None:
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

    # ------------------------------------------------------------------ failures

    def _post_failed(self, rid: RequestId | None, exc: httpx.HTTPError) -> None:
        if rid is not None:
            text = f"posting to {self._where} failed ({_name(exc)})"
            self._fail(rid, jsonrpc.INTERNAL_ERROR, text)

    def _open_failed(self, exc: httpx.HTTPError) -> None:
        self._end(f"opening the event stream at {self._where} failed ({_name(exc)})")

    def _ended(self) -> None:
        self._ready.set()  # a send waiting for the endpoint learns there will be none


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
