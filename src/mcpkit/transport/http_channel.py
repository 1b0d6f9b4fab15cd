"""What both HTTP client channels share: the message queue, in-flight requests, tasks, ending.

A channel's messages land in one queue that :meth:`HttpChannelBase.receive` drains; the
end marker (None) goes in once, after an error for every request still in flight, so the
gateway never waits on an answer that cannot come. Requests that fail on their own become
JSON-RPC errors for their id; failures of the connection or of the auth/guard layer end
the channel, with :attr:`~HttpChannelBase.close_reason` saying why (never a header value:
they may carry credentials).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ClassVar, TypedDict

import httpx

from mcpkit.errors import McpkitError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import RequestId
from mcpkit.runtime.base import ChannelClosed
from mcpkit.transport.sse_events import (
    MAX_ERROR_BODY,
    display_url,
    error_message,
    error_reason,
    http_error_message,
    is_unreachable,
    read_limited,
    unreachable_reason,
)

#: How long closing waits for the channel's tasks to stop.
STOP_TIMEOUT = 2.0


class ChannelOptions(TypedDict, total=False):
    """The keyword arguments every HTTP channel takes, as :class:`HttpChannelBase` does."""

    headers: Mapping[str, str] | None
    name: str
    request_timeout: float | None


class HttpChannelBase:
    """The machinery of a :class:`~mcpkit.runtime.base.Channel` over HTTP.

    ``client`` is used for every request and is not closed here (the caller owns it).
    ``headers`` are sent on every request; ``request_timeout`` bounds a request's answer.
    """

    #: What the log calls the channel when one of its tasks fails.
    _kind: ClassVar[str] = "HTTP"

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str = "",
        request_timeout: float | None = None,
    ) -> None:
        self._client = client
        self._url = url
        self._where = display_url(url)
        self._extra = dict(headers or {})
        self.name = name
        self._request_timeout = request_timeout
        #: Why the channel ended, for people; None while it is open.
        self.close_reason: str | None = None
        #: The server's session, once it named one.
        self.session_id: str | None = None
        #: Server messages dropped because they were not JSON.
        self.garbage = 0
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._inflight: set[RequestId] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def receive(self) -> bytes:
        """The next message from the server; :class:`ChannelClosed` once drained and ended."""
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)
            raise ChannelClosed(self.close_reason or "the channel was closed")
        return item

    async def aclose(self) -> None:
        """End the channel and stop its tasks (bounded); idempotent.

        The HTTP client is left open: whoever passed it closes it.
        """
        if self._closed:
            return
        self._closed = True
        self._end("the channel was closed")
        # _end cancelled them; wait (bounded) so no stream outlives the channel.
        tasks = [task for task in self._tasks if task is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)

    # ------------------------------------------------------------------ requests

    async def _open(
        self,
        sending: Awaitable[httpx.Response | None],
        failed: Callable[[httpx.HTTPError], None],
        rid: RequestId | None = None,
    ) -> httpx.Response | None:
        """The response ``sending`` gets; None when it failed, and the failure was dealt with.

        An error of the auth/guard layer or an unreachable server ends the channel; any
        other HTTP failure goes to ``failed``. Cancelled, request ``rid`` is no longer
        waited for.
        """
        try:
            return await sending
        except McpkitError as exc:
            self._end(error_reason(exc))
        except httpx.HTTPError as exc:
            if is_unreachable(exc):
                self._end(unreachable_reason(self._where, exc))
            else:
                failed(exc)
        except asyncio.CancelledError:
            if rid is not None:
                self._inflight.discard(rid)
            raise
        return None

    async def _read_error(self, rid: RequestId | None, response: httpx.Response) -> None:
        """Answer ``rid`` with the error an unsuccessful response means, then close it."""
        try:
            body = await read_limited(response, MAX_ERROR_BODY)
        except httpx.HTTPError:
            body = None
        except McpkitError as exc:
            self._end(error_reason(exc))
            return
        finally:
            await response.aclose()
        if rid is not None and rid in self._inflight:
            self._inflight.discard(rid)
            self._queue.put_nowait(http_error_message(rid, response.status_code, self._where, body))

    # ------------------------------------------------------------------ ending

    def _fail(self, rid: RequestId, code: int, text: str) -> None:
        if rid in self._inflight:
            self._inflight.discard(rid)
            self._queue.put_nowait(error_message(rid, code, text))

    def _end(self, reason: str) -> None:
        """End the channel: fail what is in flight, then mark the queue's end."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        for rid in list(self._inflight):
            self._queue.put_nowait(error_message(rid, jsonrpc.SERVER_UNAVAILABLE, reason))
        self._inflight.clear()
        self._queue.put_nowait(None)  # the end marker, after every failure above
        self._ended()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _ended(self) -> None:
        """Wake whatever waits on the channel's state; called once, as it ends."""

    def _spawn(
        self, coro: Coroutine[Any, Any, None], name: str | None = None
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._reaped)
        return task

    def _reaped(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A bug must not leave the gateway waiting on an answer that cannot come.
            logger = logging.getLogger(type(self).__module__)
            logger.error("%s channel to %s failed", self._kind, self._where, exc_info=exc)
            self._end(f"internal error reading from {self._where}: {exc.__class__.__name__}")
