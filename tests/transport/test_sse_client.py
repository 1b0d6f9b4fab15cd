"""LegacySseChannel (HTTP+SSE, 2024-11-05) against real servers on 127.0.0.1.

Servers: the official Python SDK's ``MCPServer.sse_app()`` (``servers/sdk_http_server.py
sse``), ``servers/odd_http_server.py`` for the ways a server can get the transport wrong,
and ``@modelcontextprotocol/server-everything`` in its ``sse`` mode. The server helpers
are shared with ``test_http_client.py`` (``channel_helpers.py``).
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import httpx
import orjson
import pytest
from channel_helpers import (
    Recorder,
    Server,
    call,
    channel_fixtures,
    everything,
    exchange,
    server_fixture,
    structured,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpkit.gateway.upstream import Route, Upstream, UpstreamError
from mcpkit.protocol import jsonrpc
from mcpkit.runtime.base import ChannelClosed
from mcpkit.transport.sse_client import LegacySseChannel
from mcpkit.transport.sse_events import (
    ServerSentEvent,
    SSEDecoder,
    SSEError,
    display_url,
    encode_header_value,
)

pytestmark = pytest.mark.anyio
anyio_backend, client, odd = channel_fixtures()


sdk_sse = server_fixture("sdk_http_server.py", "sse")


async def test_a_legacy_server_is_initialized_and_called_over_one_event_stream(
    sdk_sse: Server, client: httpx.AsyncClient
) -> None:
    channel = LegacySseChannel(client, sdk_sse.url("/sse"), headers={"X-Test": "1"})
    recorder = Recorder()
    up = Upstream(channel, recorder, name="legacy")
    try:
        init = await up.initialize(10)
        assert init["protocolVersion"] == "2025-11-25"
        assert channel.endpoint is not None
        assert channel.endpoint == sdk_sse.url(f"/messages/?session_id={channel.session_id}")
        assert structured(await up.request("tools/call", call("add", a=4, b=5))) == 9
        route = Route(session=None, client_id=1, progress_token="p")
        assert structured(await up.request("tools/call", call("work", steps=2), route)) == "done"
        progress = await recorder.wait_for("notifications/progress", 2)
        assert all(p["params"]["progressToken"] == route.rid for p in progress)
        await recorder.wait_for("notifications/message", 2)
        assert structured(await up.request("tools/call", call("greet"))) == "hello Ada"
        assert recorder.requests[0]["method"] == "elicitation/create"
    finally:
        await up.aclose()
    assert channel.close_reason == "the channel was closed"
    with pytest.raises(ChannelClosed):
        await channel.send(orjson.dumps(jsonrpc.request(9, "ping")))


async def test_an_endpoint_on_another_origin_is_refused(
    odd: Server, client: httpx.AsyncClient
) -> None:
    channel = LegacySseChannel(client, odd.url("/sse-cross-origin"))
    up = Upstream(channel, Recorder(), name="evil")
    with pytest.raises(UpstreamError):
        await up.initialize(10)
    assert channel.close_reason is not None
    assert "another origin (http://127.0.0.2:9/post-cross-origin)" in channel.close_reason
    assert channel.endpoint is None
    await up.aclose()


async def test_a_server_that_names_no_endpoint_in_time_closes_the_channel(
    odd: Server, client: httpx.AsyncClient
) -> None:
    channel = LegacySseChannel(client, odd.url("/sse-silent"), endpoint_timeout=0.3)
    with pytest.raises(ChannelClosed):
        await channel.send(orjson.dumps(jsonrpc.request(1, "ping")))
    assert (
        channel.close_reason == f"{odd.url('/sse-silent')} named no message endpoint within 0.3 s"
    )
    with pytest.raises(ChannelClosed):
        await channel.receive()
    await channel.aclose()


async def test_a_dropped_stream_closes_the_channel_and_fails_what_is_in_flight(
    odd: Server, client: httpx.AsyncClient
) -> None:
    channel = LegacySseChannel(client, odd.url("/sse-drop"))
    await channel.send(orjson.dumps(jsonrpc.request(1, "tools/call", call("x"))))
    answer = jsonrpc.loads(await channel.receive())
    assert answer["id"] == 1
    assert answer["error"]["code"] == jsonrpc.SERVER_UNAVAILABLE
    assert "the server closed the event stream" in answer["error"]["message"]
    with pytest.raises(ChannelClosed):
        await channel.receive()
    assert channel.close_reason == f"the server closed the event stream ({odd.url('/sse-drop')})"
    await channel.aclose()


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        ("status-404", "answered the event stream request with HTTP 404"),
        ("not-sse", "did not answer with an event stream"),
    ],
)
async def test_a_stream_that_cannot_open_closes_the_channel_with_the_reason(
    odd: Server, client: httpx.AsyncClient, behaviour: str, words: str
) -> None:
    channel = LegacySseChannel(client, odd.url(f"/sse-{behaviour}") + "?secret=q")
    with pytest.raises(ChannelClosed):
        await channel.receive()
    assert channel.close_reason is not None
    assert words in channel.close_reason
    assert "secret" not in channel.close_reason
    await channel.aclose()


async def test_a_failed_post_answers_its_request_with_the_http_status(
    odd: Server, client: httpx.AsyncClient
) -> None:
    async with contextlib.aclosing(LegacySseChannel(client, odd.url("/sse-post-500"))) as channel:
        answer = await exchange(channel, 3)
        assert answer["error"]["code"] == jsonrpc.INTERNAL_ERROR
        assert answer["error"]["message"] == f"HTTP 500 from {odd.url('/sse-post-500')}"
        assert channel.close_reason is None


@pytest.mark.e2e
async def test_server_everything_over_legacy_sse(
    package_cache: Path, client: httpx.AsyncClient
) -> None:
    with everything(package_cache, "sse") as port:
        channel = LegacySseChannel(client, f"http://127.0.0.1:{port}/sse")
        recorder = Recorder()
        up = Upstream(channel, recorder, name="everything")
        try:
            await up.initialize(10)
            assert channel.endpoint is not None
            session = channel.session_id
            assert channel.endpoint == f"http://127.0.0.1:{port}/message?sessionId={session}"
            tools = await up.request("tools/list", {})
            assert "echo" in {t["name"] for t in tools["result"]["tools"]}
            echo = await up.request("tools/call", call("echo", message="over sse"))
            assert echo["result"]["content"][0]["text"] == "Echo: over sse"
        finally:
            await up.aclose()
        assert channel.close_reason == "the channel was closed"


# ------------------------------------------------------------------ the event-stream parser

STREAM = (
    b"\xef\xbb\xbf: a comment\r\n"
    b"retry: 250\r\n"
    b"id: e1\r\n"
    b"data:\r\n"
    b"\r\n"
    b"event: endpoint\n"
    b"data: /messages?x=1\n"
    b"\n"
    b"id: bad\x00id\r"
    b"retry: soon\r"
    b'data: {"a":\r'
    b"data:  1}\r"
    b"\r"
)


def _events(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_the_parser_reads_every_line_ending_comments_ids_and_retry() -> None:
    events = _events([STREAM])
    assert events == [
        ServerSentEvent(event="message", data=b"", id="e1", retry=250),
        ServerSentEvent(event="endpoint", data=b"/messages?x=1", id="e1", retry=250),
        ServerSentEvent(event="message", data=b'{"a":\n 1}', id="e1", retry=250),
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_the_parser_gives_the_same_events_however_the_stream_is_cut(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert _events(chunks) == _events([STREAM])


def test_the_parser_refuses_a_line_or_an_event_past_its_bound() -> None:
    with pytest.raises(SSEError, match="longer than 64 bytes"):
        SSEDecoder(max_event=64).feed(b"data: " + b"x" * 100)
    many_lines = b"".join(b"data: " + b"x" * 10 + b"\n" for _ in range(10))
    with pytest.raises(SSEError, match="larger than 64 bytes"):
        SSEDecoder(max_event=64).feed(many_lines)


def test_header_values_that_are_not_plain_ascii_are_base64_wrapped() -> None:
    assert encode_header_value("get_weather") == "get_weather"
    assert encode_header_value("grüße") == "=?base64?Z3LDvMOfZQ==?="
    assert encode_header_value(" padded") == "=?base64?IHBhZGRlZA==?="
    assert encode_header_value("=?base64?YQ==?=").startswith("=?base64?PT9")


def test_urls_in_messages_lose_credentials_query_and_fragment() -> None:
    url = "https://user:pw@example.com:8443/mcp/v1?token=abc#frag"
    assert display_url(url) == "https://example.com:8443/mcp/v1"
    assert display_url("http://[::1]:80/sse") == "http://[::1]/sse"
