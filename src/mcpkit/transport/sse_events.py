"""What both HTTP client channels share: an SSE parser, headers, URL display, failure wording.

The parser follows the WHATWG event-stream rules (lines end in CR, LF or CRLF; ``:`` starts
a comment; ``data`` lines join with ``\\n``; an ``id`` holding NUL is ignored; ``retry`` must
be all digits). It is written here rather than taken from ``httpx-sse`` because a hosted
server is untrusted: a line or an event without end must be cut off at a bound instead of
growing in memory, and httpx-sse has no such bound. It works on bytes, so a message's data
reaches the gateway as the UTF-8 JSON it already is, without a decode and re-encode.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from mcpkit.errors import McpkitError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.envelope import NAME_BEARING
from mcpkit.protocol.jsonrpc import RequestId

#: The largest event (or line) accepted on a stream; the stdio channel's message limit.
MAX_EVENT = 64 * 1024 * 1024
#: How much of an error response is read to look for a JSON-RPC error in it.
MAX_ERROR_BODY = 64 * 1024
#: Longest wait a server's ``retry:`` may impose before a reconnect.
MAX_RETRY_DELAY = 30.0

_HEADER_SAFE = re.compile(r"[\x20-\x7e]*")
_B64_SENTINEL = re.compile(r"=\?base64\?[A-Za-z0-9+/=]*\?=")
_BOM = b"\xef\xbb\xbf"


class SSEError(ValueError):
    """An event stream broke the rules in a way that cannot be read past (an unbounded event)."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event; ``id``/``retry`` are what the stream had set so far."""

    event: str
    data: bytes
    id: str | None
    retry: int | None


class SSEDecoder:
    """Turns chunks of an event stream into events, keeping the last id and retry."""

    def __init__(self, max_event: int = MAX_EVENT) -> None:
        self._max = max_event
        self._buffer = b""
        self._first = True
        self._after_cr = False
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0
        self._seen = False
        #: The stream's last event id (persists across events, as the spec says).
        self.last_event_id: str | None = None
        #: The server's reconnection time in milliseconds, once it sent one.
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Events completed by ``chunk``; raises :class:`SSEError` past the size bound."""
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the LF of a CRLF cut between two chunks
        if chunk:
            self._after_cr = False
        buffer = self._buffer + chunk
        if self._first and len(buffer) >= len(_BOM):
            self._first = False
            if buffer.startswith(_BOM):
                buffer = buffer[len(_BOM) :]
        events: list[ServerSentEvent] = []
        start = 0
        end = len(buffer)
        while start < end:
            cr = buffer.find(b"\r", start)
            lf = buffer.find(b"\n", start)
            if cr == -1 and lf == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                line = buffer[start:cr]
                if cr + 1 == end:
                    # The line ends here; an LF opening the next chunk belongs to it.
                    self._after_cr = True
                    start = end
                else:
                    start = cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                line = buffer[start:lf]
                start = lf + 1
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        if len(self._buffer) > self._max:
            raise SSEError(f"an event stream line is longer than {self._max} bytes")
        return events

    def _line(self, line: bytes) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            return None
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._size += len(value) + 1
            if self._size > self._max:
                raise SSEError(f"an event is larger than {self._max} bytes")
            self._data.append(value)
            self._seen = True
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
            self._seen = True
        elif name == b"id":
            if b"\0" not in value:
                self.last_event_id = value.decode("utf-8", "replace")
                self._seen = True
        elif name == b"retry" and value.isdigit():
            self.retry = int(value)
            self._seen = True
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._seen:
            return None
        # Unlike a browser, an event with an id and no data is dispatched too: it is how a
        # server primes a resumable stream, and the caller needs its id.
        event = ServerSentEvent(
            event=self._event or "message",
            data=b"\n".join(self._data),
            id=self.last_event_id,
            retry=self.retry,
        )
        self._event = ""
        self._data = []
        self._size = 0
        self._seen = False
        return event


async def iter_events(
    response: httpx.Response, decoder: SSEDecoder | None = None
) -> AsyncIterator[ServerSentEvent]:
    """The events of a streamed response, in order, until the server ends it."""
    decoder = decoder or SSEDecoder()
    async for chunk in response.aiter_bytes():
        for event in decoder.feed(chunk):
            yield event


def content_type(response: httpx.Response) -> str:
    """The response's media type, lowercase, without parameters."""
    header: str = response.headers.get("content-type", "")
    return header.partition(";")[0].strip().lower()


async def read_limited(response: httpx.Response, limit: int) -> bytes | None:
    """The streamed response's body, or None when it is longer than ``limit``."""
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def display_url(url: str | httpx.URL) -> str:
    """``url`` as it may appear in messages: no userinfo, query or fragment."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    host = parsed.host
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Whether two URLs share scheme, host and (normalized) port."""
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def error_reason(exc: McpkitError) -> str:
    """The close reason for an error raised by the auth or transport layer."""
    if exc.hint:
        return f"{exc.message} (hint: {exc.hint})"
    return exc.message


def unreachable_reason(where: str, exc: httpx.HTTPError) -> str:
    """Why ``where`` could not be reached, from a connect-time failure, for people."""
    return f"cannot reach {where}: {_cause(exc)}"


def is_unreachable(exc: httpx.HTTPError) -> bool:
    """Whether the failure happened before any request reached the server."""
    return isinstance(
        exc,
        httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol | httpx.ProxyError,
    )


#: Words in a connect failure's text (lowercased, causes included) → what it means.
_CAUSES = (
    (("timed out",), "timed out connecting"),
    (("certificate", "ssl", "tls"), "TLS error"),
    (("refused", "all connection attempts failed"), "connection refused"),
    (
        ("name or service not known", "nodename nor servname", "name resolution"),
        "the host name does not resolve",
    ),
    (("unreachable",), "the network is unreachable"),
    (("request url is missing", "unsupported protocol"), "the URL's scheme is not http or https"),
)


def _cause(exc: BaseException) -> str:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return f"TLS error: {getattr(item, 'reason', None) or item.__class__.__name__}"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    text = " ".join(str(item) for item in chain).lower()
    for words, meaning in _CAUSES:
        if any(word in text for word in words):
            return meaning
    return exc.__class__.__name__


def encode_header_value(value: str) -> str:
    """``value`` as an HTTP field: verbatim when printable ASCII, else ``=?base64?…?=``."""
    if (
        _HEADER_SAFE.fullmatch(value)
        and value == value.strip()
        and not _B64_SENTINEL.fullmatch(value)
    ):
        return value
    return f"=?base64?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="


def routing_headers(headers: httpx.Headers, version: str, method: str | None, params: Any) -> None:
    """Set the stateless era's routing headers: version, method, and the name if any."""
    headers["MCP-Protocol-Version"] = version
    if method is not None:
        headers["Mcp-Method"] = encode_header_value(method)
        key = NAME_BEARING.get(method)
        value = params.get(key) if key is not None and isinstance(params, dict) else None
        if isinstance(value, str):
            headers["Mcp-Name"] = encode_header_value(value)


def is_id(value: object) -> bool:
    """Whether ``value`` can be a JSON-RPC id (a string or an integer, not a boolean)."""
    return isinstance(value, int | str) and not isinstance(value, bool)


def visible_ascii(value: str) -> bool:
    """Whether ``value`` is non-empty visible ASCII (what a session id must be)."""
    return bool(value) and all(0x21 <= ord(ch) <= 0x7E for ch in value)


def error_message(rid: RequestId, code: int, message: str) -> bytes:
    """A serialized JSON-RPC error answering ``rid``."""
    return jsonrpc.dumps(jsonrpc.error(rid, code, message))


def http_error_message(rid: RequestId, status: int, where: str, body: bytes | None) -> bytes:
    """The error answering ``rid`` when the server said ``status``: its own error, if it sent one.

    Nothing but a JSON-RPC error object is taken from the body: some servers echo the
    request, headers included, and those may carry credentials.
    """
    if body:
        try:
            parsed = jsonrpc.loads(body)
        except jsonrpc.ParseError:
            parsed = None
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if (
            isinstance(err, dict)
            and isinstance(err.get("code"), int)
            and isinstance(err.get("message"), str)
        ):
            return jsonrpc.dumps({"jsonrpc": "2.0", "id": rid, "error": err})
    return error_message(rid, jsonrpc.INTERNAL_ERROR, f"HTTP {status} from {where}")


def retry_delay(retry_ms: int | None, failures: int, default: float = 1.0) -> float:
    """Seconds before a reconnect: the server's ``retry`` (else ``default``), doubled for
    each of ``failures`` failed attempts in a row past the first, bounded."""
    base = retry_ms / 1000 if retry_ms is not None else default
    return float(min(base * (2 ** max(failures - 1, 0)), MAX_RETRY_DELAY))
