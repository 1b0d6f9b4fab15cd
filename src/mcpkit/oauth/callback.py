"""The loopback redirect listener: where the browser lands after the user approves.

A tiny HTTP/1.1 server on 127.0.0.1 (a fixed port, or a free one) that answers
``GET /callback?…`` with a small page and hands the query to the flow. Anything else
gets a 404 and the listener keeps waiting. Only the request line is read (at most
8 KiB, within 10 s per connection); the page never echoes what came in.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qsl, urlsplit

import anyio
from anyio.abc import SocketAttribute, SocketStream

from mcpkit.oauth.errors import OAuthError

CALLBACK_PATH = "/callback"
_MAX_HEAD = 8192
_CONNECTION_TIMEOUT = 10.0

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>mcpkit</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>{title}</h1><p>{text}</p></body></html>
"""


@dataclass
class CallbackListener:
    """A bound loopback listener; :meth:`wait` returns the callback's query parameters."""

    port: int
    _received: anyio.Event = field(default_factory=anyio.Event)
    _params: dict[str, str] = field(default_factory=dict)
    _page: tuple[str, str] = ("Authorization received", "You can close this window.")

    @property
    def redirect_uri(self) -> str:
        """The redirect URI to register and send: ``http://127.0.0.1:<port>/callback``."""
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def wait(self) -> dict[str, str]:
        """The query parameters of the first ``/callback`` request (the caller bounds it)."""
        await self._received.wait()
        return dict(self._params)

    async def handle(self, stream: SocketStream) -> None:
        """Answer one connection to the listener."""
        async with stream:
            try:
                with anyio.fail_after(_CONNECTION_TIMEOUT):
                    target = await _read_target(stream)
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return
            if target is None:
                await _respond(stream, 400, "Bad request", "This is mcpkit's OAuth listener.")
                return
            parts = urlsplit(target)
            if parts.path != CALLBACK_PATH or self._received.is_set():
                await _respond(stream, 404, "Not found", "This is mcpkit's OAuth listener.")
                return
            self._params = dict(parse_qsl(parts.query, keep_blank_values=True))
            if "error" in self._params:
                page = ("Authorization failed", "See the terminal. You can close this window.")
            else:
                page = self._page
            await _respond(stream, 200, *page)
            self._received.set()


async def _read_target(stream: SocketStream) -> str | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer and b"\n\n" not in buffer:
        chunk = await stream.receive(4096)
        buffer += chunk
        if len(buffer) > _MAX_HEAD:
            return None
    line = buffer.split(b"\n", 1)[0].decode("latin-1").strip()
    pieces = line.split(" ")
    if len(pieces) != 3 or pieces[0] != "GET" or not pieces[2].startswith("HTTP/1."):
        return None
    return pieces[1]


async def _respond(stream: SocketStream, status: int, title: str, text: str) -> None:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Connection: close\r\n\r\n"
    )
    try:
        await stream.send(head.encode() + body)
    except (anyio.BrokenResourceError, OSError):
        return


@asynccontextmanager
async def listening(port: int = 0, *, fallback: bool = False) -> AsyncIterator[CallbackListener]:
    """Bind 127.0.0.1:``port`` (0: any free port) and serve until the block ends.

    With ``fallback``, a taken ``port`` is only a preference: any free port is used instead.
    """
    try:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    except OSError as exc:
        if not (fallback and port):
            raise OAuthError(
                f"cannot listen on 127.0.0.1:{port} for the OAuth redirect: {exc.strerror or exc}",
                hint="pass another --port, or --port 0 for any free port",
            ) from exc
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    callback = CallbackListener(listener.extra(SocketAttribute.local_port))  # noqa: S610 - anyio, not Django
    failure: BaseException | None = None
    async with listener, anyio.create_task_group() as group:
        group.start_soon(partial(listener.serve, callback.handle, task_group=group))
        try:
            yield callback
        except BaseException as exc:  # noqa: BLE001 - re-raised below, outside the task group
            # Raised inside the group it would come out wrapped in an ExceptionGroup.
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
