"""The client side of MCP's streamable HTTP transport, both protocol eras, as a channel.

Each message is one POST. :meth:`StreamableHttpChannel.send` returns once the server
has answered with headers, so sends reach the server in order; the body (one JSON
message, or an event stream of messages that ends with the response) is read by a task
of its own, and every message lands in one queue that :meth:`receive` drains.

Handshake era: the ``initialize`` POST goes out bare; its answer gives the session id
(header) and the protocol version (result), and later requests repeat both. Once
``notifications/initialized`` is accepted, a GET stream carries the server's own
messages; it is reopened when it drops (``Last-Event-ID``, the server's ``retry``).
Stateless era (a request whose ``_meta`` carries the protocol version): no session and
no GET; the version, method and name travel in routing headers too.

Failures are data, never crashes: an HTTP error answering a request becomes a JSON-RPC
error for that request's id; a lost session (404), an unreachable server or an error of
the auth/guard layer ends the channel, with :attr:`~StreamableHttpChannel.close_reason`
saying why (never a header value: they may carry credentials).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Unpack

import httpx

from mcpkit.errors import McpkitError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.envelope import VERSION_KEY
from mcpkit.protocol.jsonrpc import RequestId
from mcpkit.runtime.base import ChannelClosed
from mcpkit.transport.http_channel import ChannelOptions, HttpChannelBase
from mcpkit.transport.sse_events import (
    MAX_EVENT,
    SSEDecoder,
    SSEError,
    content_type,
    error_reason,
    is_id,
    iter_events,
    read_limited,
    retry_delay,
    routing_headers,
    visible_ascii,
)

logger = logging.getLogger(__name__)

ACCEPT_BOTH = "application/json, text/event-stream"
#: How often a request's dropped event stream is resumed before the request fails.
MAX_RESUMES = 3
#: Consecutive failures after which the GET stream is given up (requests still work).
MAX_LISTEN_FAILURES = 5
#: A GET stream silent this long is reopened (a dead connection looks exactly like this).
LISTEN_IDLE = 300.0
#: The bound on the DELETE that ends a session.
DELETE_TIMEOUT = 2.0


@dataclass(slots=True)
class _Sent:
    """What :meth:`StreamableHttpChannel.send` learned about one outgoing message."""

    method: str | None
    rid: RequestId | None
    stateless: bool
    with_session: bool
    #: The request a ``notifications/cancelled`` names.
    cancels: RequestId | None = None


class StreamableHttpChannel(HttpChannelBase):
    """A :class:`~mcpkit.runtime.base.Channel` to an MCP server's streamable HTTP endpoint.

    ``client`` is used for every request and is not closed here (the caller owns it).
    ``headers`` are sent on every request. ``request_timeout`` bounds how long a request's
    answer may stay silent (no byte) before that request, and only it, fails.
    """

    def __init__(
        self, client: httpx.AsyncClient, url: str, **options: Unpack[ChannelOptions]
    ) -> None:
        super().__init__(client, url, **options)
        #: The handshake-era session, once ``initialize`` was answered with one.
        self.session_id: str | None = None
        #: The handshake-era protocol version the server answered ``initialize`` with.
        self.protocol_version: str | None = None
        self._streams: dict[RequestId, asyncio.Task[Any]] = {}
        self._init_id: RequestId | None = None
        self._stateless_version: str | None = None
        self._listening = False

    # ------------------------------------------------------------------ Channel

    async def send(self, message: bytes) -> None:
        """POST one message; returns once the server accepted it (its headers arrived).

        Raises :class:`ChannelClosed` only when the channel had already ended; a failure
        of this very send ends the channel or fails the request instead.
        """
        if self.close_reason is not None:
            raise ChannelClosed(self.close_reason)
        sent, headers = self._prepare(message)
        if sent.cancels is not None and sent.stateless:
            # At 2026 over HTTP a request is cancelled by dropping its connection; the
            # notification still goes out, for servers that read it.
            self._cancel_stream(sent.cancels)
        if sent.rid is not None:
            self._inflight.add(sent.rid)
        request = self._client.build_request(
            "POST", self._url, content=message, headers=headers, timeout=self._timeout()
        )
        posting = self._client.send(request, stream=True)
        if sent.stateless and sent.rid is not None:
            # None also when the gateway cancelled it before the server answered.
            sending = self._cancellable(sent.rid, posting)
        else:
            sending = posting
        failed = functools.partial(self._post_failed, sent.rid)
        response = await self._open(sending, failed, sent.rid)
        if response is not None:
            await self._accepted(sent, response)

    async def _cancellable(
        self, rid: RequestId, posting: Coroutine[Any, Any, httpx.Response]
    ) -> httpx.Response | None:
        """Run a stateless POST as a task that a ``notifications/cancelled`` can drop.

        A 2026 server may hold its headers until the handler is done, so the request
        can be cancelled while :meth:`send` still waits; None when that happened.
        """
        task = asyncio.get_running_loop().create_task(posting)
        self._streams[rid] = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            if self._streams.get(rid) is task:
                del self._streams[rid]
        if task.cancelled():
            return None
        return task.result()

    async def aclose(self) -> None:
        """End the session (DELETE, bounded), stop every stream; idempotent.

        The HTTP client is left open: whoever passed it closes it.
        """
        # A channel that ended by itself (session lost, server unreachable, refused by the
        # auth layer) has no session left that a DELETE could end.
        delete = not self._closed and self.session_id is not None and self.close_reason is None
        await super().aclose()
        if delete:
            await self._delete_session()

    # ------------------------------------------------------------------ sending

    def _prepare(self, message: bytes) -> tuple[_Sent, httpx.Headers]:
        try:
            msg = jsonrpc.loads(message)
        except jsonrpc.ParseError:
            msg = None
        body: dict[str, Any] = msg if isinstance(msg, dict) else {}
        method = body.get("method") if isinstance(body.get("method"), str) else None
        rid = body.get("id") if method is not None and is_id(body.get("id")) else None
        headers = httpx.Headers(self._extra)
        headers["Accept"] = ACCEPT_BOTH
        headers["Content-Type"] = "application/json"
        params = body.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(VERSION_KEY) if isinstance(meta, dict) else None
        if rid is not None and isinstance(version, str) and version:
            self._stateless_version = version
            routing_headers(headers, version, method, params)
            return _Sent(method, rid, stateless=True, with_session=False), headers
        if method == "initialize" and rid is not None:
            self._init_id = rid
            return _Sent(method, rid, stateless=False, with_session=False), headers
        if self.session_id is None and self._stateless_version is not None:
            # A notification or response of the stateless era: the version header routes it.
            routing_headers(headers, self._stateless_version, method, None)
            cancels = params.get("requestId") if isinstance(params, dict) else None
            sent = _Sent(method, rid, stateless=True, with_session=False)
            if method == "notifications/cancelled" and is_id(cancels):
                sent.cancels = cancels
            return sent, headers
        self._session_headers(headers)
        return _Sent(method, rid, False, with_session=self.session_id is not None), headers

    def _session_headers(self, headers: httpx.Headers) -> None:
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version

    def _timeout(self, read: float | None = None) -> httpx.Timeout:
        base = self._client.timeout
        read_timeout = read if read is not None else self._request_timeout
        if read_timeout is None:
            read_timeout = base.read
        return httpx.Timeout(
            connect=base.connect, read=read_timeout, write=base.write, pool=base.pool
        )

    def _post_failed(self, rid: RequestId | None, exc: httpx.HTTPError) -> None:
        if rid is None:
            return
        if isinstance(exc, httpx.TimeoutException):
            self._fail(rid, jsonrpc.REQUEST_TIMEOUT, self._timeout_text())
        else:
            text = f"the request to {self._where} failed: {exc.__class__.__name__}"
            self._fail(rid, jsonrpc.INTERNAL_ERROR, text)

    async def _accepted(self, sent: _Sent, response: httpx.Response) -> None:
        """Act on a POST's status and headers; the body goes to a reader task."""
        status = response.status_code
        if self.close_reason is not None or not self._take_session(sent, response):
            await response.aclose()  # the channel ended while this POST was under way
        elif status == 404 and sent.with_session:
            await response.aclose()
            self._session_lost()
        elif not 200 <= status < 300:
            self._spawn(self._read_error(sent.rid, response))
        elif sent.rid is None:
            await response.aclose()
            if sent.method == "notifications/initialized":
                self._start_listening()
        else:
            await self._answer_with(sent.rid, sent.stateless, response)

    def _take_session(self, sent: _Sent, response: httpx.Response) -> bool:
        """Keep the session id an ``initialize`` answer carries; False when it is unusable."""
        if sent.method != "initialize" or not 200 <= response.status_code < 300:
            return True
        session = response.headers.get("mcp-session-id")
        if session is not None and not visible_ascii(session):
            self._end(f"{self._where} sent an invalid session id")
            return False
        self.session_id = session
        return True

    async def _answer_with(self, rid: RequestId, stateless: bool, response: httpx.Response) -> None:
        """Hand a request's successful answer to the reader its content type needs."""
        kind = content_type(response)
        if response.status_code in (202, 204):
            await response.aclose()
            self._fail(rid, jsonrpc.INTERNAL_ERROR, f"{self._where} sent no response")
            return
        if kind == "application/json":
            task = self._spawn(self._read_json(rid, response))
        elif kind == "text/event-stream":
            task = self._spawn(self._read_stream(rid, stateless, response))
        else:
            await response.aclose()
            self._fail(
                rid,
                jsonrpc.INTERNAL_ERROR,
                f"{self._where} answered with an unexpected content type ({kind or 'none'})",
            )
            return
        if stateless:
            self._streams[rid] = task
            task.add_done_callback(lambda done: self._forget_stream(rid, done))

    def _forget_stream(self, rid: RequestId, task: asyncio.Task[Any]) -> None:
        if self._streams.get(rid) is task:
            del self._streams[rid]

    def _cancel_stream(self, rid: RequestId) -> None:
        task = self._streams.pop(rid, None)
        self._inflight.discard(rid)
        if task is not None:
            task.cancel()

    # ------------------------------------------------------------------ reading

    async def _read_json(self, rid: RequestId, response: httpx.Response) -> None:
        try:
            body = await read_limited(response, MAX_EVENT)
        except httpx.TimeoutException:
            self._fail(rid, jsonrpc.REQUEST_TIMEOUT, self._timeout_text())
            return
        except httpx.HTTPError as exc:
            self._fail(rid, jsonrpc.INTERNAL_ERROR, self._broke_text(exc))
            return
        except McpkitError as exc:
            self._end(error_reason(exc))
            return
        finally:
            await response.aclose()
        if body is None:
            text = f"{self._where} sent a response larger than {MAX_EVENT} bytes"
            self._fail(rid, jsonrpc.INTERNAL_ERROR, text)
        elif not self._deliver(body.strip(), rid):
            text = f"{self._where} answered with something that is not a JSON-RPC response"
            self._fail(rid, jsonrpc.INTERNAL_ERROR, text)

    async def _read_stream(self, rid: RequestId, stateless: bool, response: httpx.Response) -> None:
        """Read a request's event stream to its response, resuming it when it drops."""
        decoder = SSEDecoder()
        resumes = 0
        current: httpx.Response | None = response
        while True:
            problem = "the response stream ended before the response"
            if current is not None:
                outcome = await self._pump(current, decoder, rid)
                if outcome is None:
                    return
                problem = outcome or problem
            if rid not in self._inflight or self.close_reason is not None:
                return
            if stateless or decoder.last_event_id is None or resumes >= MAX_RESUMES:
                self._fail(rid, jsonrpc.INTERNAL_ERROR, f"{problem} ({self._where})")
                return
            resumes += 1
            await asyncio.sleep(retry_delay(decoder.retry, 0))
            current = await self._resume(decoder.last_event_id)

    async def _pump(
        self, response: httpx.Response, decoder: SSEDecoder, rid: RequestId
    ) -> str | None:
        """Deliver one stream's messages and close it.

        None when the request is settled (answered, failed or the channel ended); else
        why the stream ended early ("" when it simply ended), for a resume to follow.
        """
        try:
            async for event in iter_events(response, decoder):
                if event.event == "message" and event.data and self._deliver(event.data, rid):
                    return None
        except httpx.TimeoutException:
            self._fail(rid, jsonrpc.REQUEST_TIMEOUT, self._timeout_text())
            return None
        except httpx.HTTPError as exc:
            return self._broke_text(exc)
        except SSEError as exc:
            self._fail(rid, jsonrpc.INTERNAL_ERROR, f"{self._where}: {exc}")
            return None
        except McpkitError as exc:
            self._end(error_reason(exc))
            return None
        finally:
            await response.aclose()
        return ""

    async def _resume(self, last_event_id: str) -> httpx.Response | None:
        """GET the rest of a dropped stream; None when the server cannot resume it."""
        headers = httpx.Headers(self._extra)
        headers["Accept"] = "text/event-stream"
        headers["Last-Event-ID"] = last_event_id
        self._session_headers(headers)
        request = self._client.build_request(
            "GET", self._url, headers=headers, timeout=self._timeout()
        )
        response = await self._open(self._client.send(request, stream=True), _ignore)
        if response is None:
            return None
        if response.status_code == 404 and self.session_id is not None:
            await response.aclose()
            self._session_lost()
            return None
        if response.status_code != 200 or content_type(response) != "text/event-stream":
            await response.aclose()
            return None
        return response

    def _deliver(self, data: bytes, rid: RequestId | None) -> bool:
        """Queue one message (or a batch); True when it answers ``rid``."""
        try:
            msg = jsonrpc.loads(data)
        except jsonrpc.ParseError:
            self.garbage += 1
            return False
        if isinstance(msg, list):
            answered = False
            for item in msg:
                if isinstance(item, dict):
                    answered = self._deliver_one(jsonrpc.dumps(item), item, rid) or answered
            return answered
        if not isinstance(msg, dict):
            self.garbage += 1
            return False
        return self._deliver_one(data, msg, rid)

    def _deliver_one(self, data: bytes, msg: dict[str, Any], rid: RequestId | None) -> bool:
        if self.close_reason is not None:
            return False
        is_response = "method" not in msg
        mid = msg.get("id")
        if is_response and mid is not None and mid == self._init_id:
            result = msg.get("result")
            version = result.get("protocolVersion") if isinstance(result, dict) else None
            if isinstance(version, str) and visible_ascii(version):
                self.protocol_version = version
        self._queue.put_nowait(data)
        if is_response and is_id(mid):
            self._inflight.discard(mid)
            return rid is not None and mid == rid
        return False

    # ------------------------------------------------------------------ GET stream

    def _start_listening(self) -> None:
        if self.session_id is None or self._listening or self.close_reason is not None:
            return
        self._listening = True
        self._spawn(self._listen())

    async def _listen(self) -> None:
        """Keep the GET stream open for the server's own messages, reopening it on drops.

        A server may close the stream whenever it likes (and ask for a reconnect with
        ``retry``); only a stream that cannot be opened counts as a failure. A 404 on the
        first GET means "no GET stream here" (a plain web server's answer to an unknown
        route); a 404 on a reopen after a stream existed means the session is gone.
        """
        decoder = SSEDecoder()
        failures = 0
        opened_once = False
        while self.close_reason is None:
            headers = httpx.Headers(self._extra)
            headers["Accept"] = "text/event-stream"
            if decoder.last_event_id is not None:
                headers["Last-Event-ID"] = decoder.last_event_id
            self._session_headers(headers)
            request = self._client.build_request(
                "GET", self._url, headers=headers, timeout=self._timeout(LISTEN_IDLE)
            )
            opened: bool | None = False
            try:
                response = await self._client.send(request, stream=True)
            except McpkitError as exc:
                self._end(error_reason(exc))
                return
            except httpx.HTTPError:
                response = None
            if response is not None:
                status = response.status_code
                if status == 405 or (status == 404 and not opened_once):
                    await response.aclose()
                    return  # the server has no GET stream: nothing to listen to
                if status == 404:
                    await response.aclose()
                    self._session_lost()
                    return
                opened = await self._drain_listen(response, decoder)
                if opened is None:
                    return
            if opened:
                opened_once = True
            failures = 0 if opened else failures + 1
            if failures >= MAX_LISTEN_FAILURES:
                logger.debug("giving up the GET stream of %s", self._where)
                return
            await asyncio.sleep(retry_delay(decoder.retry, failures))

    async def _drain_listen(self, response: httpx.Response, decoder: SSEDecoder) -> bool | None:
        """Deliver a GET stream's messages: whether it opened, None when the channel ended."""
        try:
            if response.status_code != 200 or content_type(response) != "text/event-stream":
                return False
            async for event in iter_events(response, decoder):
                if event.event == "message" and event.data:
                    self._deliver(event.data, None)
        except (httpx.HTTPError, SSEError):
            pass  # a dropped or idle stream (read timeout): reopen it
        except McpkitError as exc:
            self._end(error_reason(exc))
            return None
        finally:
            await response.aclose()
        return True

    # ------------------------------------------------------------------ ending

    def _session_lost(self) -> None:
        self._end(f"the server ended the session (HTTP 404 from {self._where})")

    async def _delete_session(self) -> None:
        headers = httpx.Headers(self._extra)
        self._session_headers(headers)
        request = self._client.build_request(
            "DELETE", self._url, headers=headers, timeout=DELETE_TIMEOUT
        )
        # A server may refuse (405) or be gone already: the session ends with us either way.
        with contextlib.suppress(httpx.HTTPError, McpkitError, TimeoutError):
            async with asyncio.timeout(DELETE_TIMEOUT):
                response = await self._client.send(request)
                await response.aclose()

    def _timeout_text(self) -> str:
        return f"no answer from {self._where} within {self._request_timeout or 0:g} s"

    def _broke_text(self, exc: httpx.HTTPError) -> str:
        return f"the connection to {self._where} broke ({exc.__class__.__name__})"


def _ignore(exc: httpx.HTTPError) -> None:
    """A resume that fails is given up quietly: its request fails as the stream ended."""
