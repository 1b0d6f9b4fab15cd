"""StreamableHttpChannel against real servers on 127.0.0.1, driven by the gateway's Upstream.

Servers: ``servers/sdk_http_server.py`` (the official Python SDK's MCPServer under uvicorn,
in its stateful, JSON, resumable and 2026-only shapes, with a wire log to read back what
the server saw), ``servers/odd_http_server.py`` (a Starlette app that misbehaves on
purpose: no SDK can be made to answer garbage) and the npm package
``@modelcontextprotocol/server-everything`` in its ``streamableHttp`` mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from channel_helpers import (
    TOKEN,
    Recorder,
    Server,
    call,
    channel_fixtures,
    everything,
    exchange,
    free_port,
    running,
    server_fixture,
    structured,
)

from mcpkit.gateway.upstream import CANCELLED, Route, Upstream, UpstreamError
from mcpkit.oauth.errors import needs_authorization
from mcpkit.protocol import jsonrpc
from mcpkit.runtime.base import ChannelClosed
from mcpkit.transport.http_channel import HttpChannelBase
from mcpkit.transport.http_client import MAX_RESUMES, StreamableHttpChannel
from mcpkit.transport.netguard import RemotePolicy, guarded_client
from mcpkit.transport.sse_client import LegacySseChannel
from tls_helpers import make_pki

pytestmark = pytest.mark.anyio
anyio_backend, client, odd = channel_fixtures()


stateful = server_fixture("sdk_http_server.py", "stateful")
json_server = server_fixture("sdk_http_server.py", "json")
resumable = server_fixture("sdk_http_server.py", "resumable")
modern = server_fixture("sdk_http_server.py", "modern-only")


# ------------------------------------------------------------------ the gateway side


@contextlib.asynccontextmanager
async def upstream(
    client: httpx.AsyncClient, url: str, **kwargs: Any
) -> AsyncIterator[tuple[Upstream, Recorder, StreamableHttpChannel]]:
    """A channel to ``url`` and an initialized Upstream over it."""
    channel = StreamableHttpChannel(client, url, name="test", **kwargs)
    recorder = Recorder()
    up = Upstream(channel, recorder, name="test")
    try:
        await up.initialize(10)
        yield up, recorder, channel
    finally:
        await up.aclose()


# ------------------------------------------------------------------ handshake era


async def test_a_session_is_initialized_and_later_requests_carry_its_headers(
    stateful: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, stateful.url(), headers={"X-Test": "on-every-request"}) as (
        up,
        _,
        channel,
    ):
        assert up.init_result["serverInfo"]["name"] == "transport-test"
        assert channel.protocol_version == "2025-11-25"
        assert channel.session_id
        tools = await up.request("tools/list", {})
        assert {"add", "work", "greet"} <= {t["name"] for t in tools["result"]["tools"]}
        assert structured(await up.request("tools/call", call("add", a=2, b=3))) == 5
        sid = channel.session_id
    wire = [e for e in stateful.wire() if e["headers"].get("x-test") == "on-every-request"]
    init = next(e for e in wire if e["body_method"] == "initialize")
    assert "mcp-session-id" not in init["headers"]
    assert "mcp-protocol-version" not in init["headers"]
    assert init["headers"]["accept"] == "application/json, text/event-stream"
    later = [e for e in wire if e["body_method"] == "tools/call"]
    assert later
    assert all(e["headers"]["mcp-session-id"] == sid for e in later)
    assert all(e["headers"]["mcp-protocol-version"] == "2025-11-25" for e in later)
    initialized = next(e for e in wire if e["body_method"] == "notifications/initialized")
    assert initialized["status"] == 202


async def test_progress_and_log_notifications_of_a_call_reach_the_router(
    stateful: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, stateful.url()) as (up, recorder, _):
        route = Route(session=None, client_id=7, progress_token="tok")
        response = await up.request("tools/call", call("work", steps=2), route)
        assert structured(response) == "done"
        progress = await recorder.wait_for("notifications/progress", 2)
        assert [p["params"]["progress"] for p in progress] == [1, 2]
        assert all(p["params"]["progressToken"] == route.rid for p in progress)
        logs = await recorder.wait_for("notifications/message", 2)
        assert logs[0]["params"]["data"] == "did step 1"


async def test_a_server_request_is_answered_back_through_the_channel(
    stateful: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, stateful.url()) as (up, recorder, channel):
        response = await up.request("tools/call", call("greet"))
        assert structured(response) == "hello Ada"
        assert recorder.requests[0]["method"] == "elicitation/create"
        sid = channel.session_id
    answers = [e for e in stateful.wire_of(sid, "POST") if e["body_method"] is None]
    assert answers
    assert answers[0]["status"] == 202


async def test_cancelling_a_call_sends_notifications_cancelled_to_the_server(
    stateful: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, stateful.url()) as (up, _, channel):
        route = Route(session=None, client_id=1)
        task = asyncio.create_task(up.request("tools/call", call("slow"), route))
        sid = channel.session_id or ""
        await stateful.wait(body_method="tools/call", status="200", **{"h_mcp-session-id": sid})
        up.cancel(route.rid)  # what the gateway does when its client cancels
        assert await task is CANCELLED
        await stateful.wait(body_method="notifications/cancelled", **{"h_mcp-session-id": sid})
        assert structured(await up.request("tools/call", call("was_cancelled"))) == "cancelled"
        assert not channel.close_reason


async def test_the_get_stream_carries_the_servers_own_messages_and_close_deletes_the_session(
    stateful: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, stateful.url()) as (up, recorder, channel):
        sid = channel.session_id or ""
        listen = await stateful.wait(method="GET", status="200", **{"h_mcp-session-id": sid})
        assert listen[0]["headers"]["accept"] == "text/event-stream"
        assert listen[0]["headers"]["mcp-protocol-version"] == "2025-11-25"
        await up.request("tools/call", call("announce"))
        await recorder.wait_for("notifications/tools/list_changed")
    deleted = await stateful.wait(method="DELETE", **{"h_mcp-session-id": sid})
    assert deleted[0]["status"] == 200
    assert channel.close_reason == "the channel was closed"
    with pytest.raises(ChannelClosed):
        await channel.send(b'{"jsonrpc":"2.0","method":"notifications/x"}')
    with pytest.raises(ChannelClosed):
        await channel.receive()


async def test_a_json_mode_server_answers_in_json_and_its_refusals_pass_through(
    json_server: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, json_server.url()) as (up, _, channel):
        assert channel.session_id
        assert structured(await up.request("tools/call", call("add", a=20, b=22))) == 42
        # JSON mode has no back channel: the SDK refuses to elicit, as a JSON-RPC error.
        response = await up.request("tools/call", call("greet"))
        assert response["error"]["code"] == jsonrpc.INVALID_REQUEST
        assert channel.close_reason is None


async def test_a_response_stream_dropped_mid_call_is_resumed_with_last_event_id(
    resumable: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, resumable.url()) as (up, recorder, channel):
        route = Route(session=None, client_id=1, progress_token="p")
        response = await up.request("tools/call", call("drop"), route)
        assert structured(response) == "answered after the drop"
        progress = await recorder.wait_for("notifications/progress", 2)
        assert [p["params"]["message"] for p in progress] == ["before the drop", "after the drop"]
        sid = channel.session_id or ""
    resumed = [e for e in resumable.wire_of(sid, "GET") if "last-event-id" in e["headers"]]
    assert resumed
    assert resumed[0]["status"] == 200


async def test_a_dropped_get_stream_is_reopened_with_last_event_id_and_replayed(
    resumable: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, resumable.url()) as (up, recorder, channel):
        sid = channel.session_id or ""
        await resumable.wait(method="GET", status="200", **{"h_mcp-session-id": sid})
        await up.request("tools/call", call("announce"))
        await recorder.wait_for("notifications/tools/list_changed")
        await up.request("tools/call", call("drop_listen"))
        await recorder.wait_for("notifications/prompts/list_changed")
        reopened = await resumable.wait(
            method="GET", status="200", count="2", **{"h_mcp-session-id": sid}
        )
    assert "last-event-id" in reopened[1]["headers"]


async def test_a_stream_that_cannot_be_resumed_fails_its_request_after_a_few_tries(
    odd: Server, client: httpx.AsyncClient
) -> None:
    async with contextlib.aclosing(
        StreamableHttpChannel(client, odd.url("/drop-with-id"))
    ) as channel:
        answer = await exchange(channel, 1)
        assert "ended before the response" in answer["error"]["message"]
        assert channel.close_reason is None
    gets = await client.get(odd.url("/_gets"))
    assert gets.json() == ["ev-1"] * MAX_RESUMES


async def test_a_restarted_server_ends_the_session_and_the_channel_says_so(
    client: httpx.AsyncClient,
) -> None:
    server = Server("sdk_http_server.py", "stateful")
    try:
        async with upstream(client, server.url()) as (up, recorder, channel):
            assert structured(await up.request("tools/call", call("add", a=1, b=1))) == 2
            server.stop(signal.SIGKILL)
            server = Server("sdk_http_server.py", "stateful", port=server.port)
            with contextlib.suppress(UpstreamError):
                response = await up.request("tools/call", call("add", a=1, b=1))
                assert "error" in response
            async with asyncio.timeout(10):
                await recorder.closed.wait()
            assert channel.close_reason is not None
            assert "ended the session (HTTP 404" in channel.close_reason
            assert server.url() in channel.close_reason
            with pytest.raises(ChannelClosed):
                await channel.send(orjson.dumps(jsonrpc.request(99, "ping")))
        # A lost session is not deleted: there is nothing left to end.
        assert not [e for e in server.wire() if e["method"] == "DELETE"]
    finally:
        server.stop()


# ------------------------------------------------------------------ stateless era


async def test_a_server_refusing_initialize_is_spoken_to_in_the_stateless_era(
    modern: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, modern.url()) as (up, recorder, channel):
        assert up.stateless
        assert channel.session_id is None
        assert up.init_result["serverInfo"]["name"] == "transport-test"
        route = Route(session=None, client_id=1, progress_token="p")
        response = await up.request("tools/call", call("work", steps=2), route)
        assert structured(response) == "done"
        assert response["result"]["resultType"] == "complete"
        await recorder.wait_for("notifications/progress", 2)
        # Elicitation at 2026 is an input_required result, passed through untouched.
        greet = await up.request("tools/call", call("greet"))
        assert greet["result"]["resultType"] == "input_required"
    wire = modern.wire()
    calls = [e for e in wire if e["body_method"] == "tools/call"]
    assert calls
    for entry in calls:
        assert entry["headers"]["mcp-protocol-version"] == "2026-07-28"
        assert entry["headers"]["mcp-method"] == "tools/call"
        assert "mcp-session-id" not in entry["headers"]
    assert {e["headers"]["mcp-name"] for e in calls} >= {"work", "greet"}
    discover = next(e for e in wire if e["body_method"] == "server/discover")
    assert discover["headers"]["mcp-method"] == "server/discover"
    assert "mcp-name" not in discover["headers"]
    assert not [e for e in wire if e["method"] in ("GET", "DELETE")]


async def test_a_name_that_is_not_printable_ascii_travels_base64_encoded(
    modern: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, modern.url()) as (up, _, _channel):
        response = await up.request("tools/call", call("grüße"))
    # The server's header check passed (no -32020): it looked the tool up and missed.
    assert response.get("error", {}).get("code") != -32020
    named = [e for e in modern.wire() if e["headers"].get("mcp-name", "").startswith("=?base64?")]
    assert named == [e for e in named if e["headers"]["mcp-name"] == "=?base64?Z3LDvMOfZQ==?="]
    assert named


async def test_cancelling_a_stateless_call_drops_its_connection(
    modern: Server, client: httpx.AsyncClient
) -> None:
    async with upstream(client, modern.url()) as (up, _, channel):
        route = Route(session=None, client_id=1)
        task = asyncio.create_task(up.request("tools/call", call("slow"), route))
        await modern.wait(body_method="tools/call", **{"h_mcp-name": "slow"})
        up.cancel(route.rid)
        assert await task is CANCELLED
        assert structured(await up.request("tools/call", call("was_cancelled"))) == "cancelled"
        assert channel.close_reason is None


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        ("status-502", "HTTP 502 from "),
        ("garbage-json", "not a JSON-RPC response"),
        ("garbage-sse", "ended before the response"),
        ("html", "unexpected content type (text/html)"),
        ("accepted", "sent no response"),
    ],
)
async def test_a_bad_answer_fails_only_its_request(
    odd: Server, client: httpx.AsyncClient, behaviour: str, words: str
) -> None:
    url = odd.url(f"/{behaviour}") + "?key=query-secret"
    async with contextlib.aclosing(StreamableHttpChannel(client, url)) as channel:
        answer = await exchange(channel, 1)
        error = answer["error"]
        assert error["code"] == jsonrpc.INTERNAL_ERROR
        assert words in error["message"]
        assert odd.url(f"/{behaviour}") in error["message"]
        assert TOKEN not in error["message"]
        assert "query-secret" not in error["message"]
        assert channel.close_reason is None
        assert (await exchange(channel, 2, "ping"))["result"] == {}


async def test_a_json_rpc_error_body_is_passed_through_with_the_request_id(
    odd: Server, client: httpx.AsyncClient
) -> None:
    async with contextlib.aclosing(StreamableHttpChannel(client, odd.url("/rpc-error"))) as channel:
        answer = await exchange(channel, 5)
        assert answer["id"] == 5
        assert answer["error"] == {"code": -32099, "message": "the server's own words"}


async def test_a_json_batch_answer_delivers_every_message(
    odd: Server, client: httpx.AsyncClient
) -> None:
    async with contextlib.aclosing(StreamableHttpChannel(client, odd.url("/batch"))) as channel:
        await channel.send(orjson.dumps(jsonrpc.request(3, "tools/call", call("x"))))
        first = jsonrpc.loads(await channel.receive())
        second = jsonrpc.loads(await channel.receive())
        assert first["method"] == "notifications/message"
        assert second == {"jsonrpc": "2.0", "id": 3, "result": {"batched": True}}


@pytest.mark.parametrize("behaviour", ["stall-headers", "stall-body"])
async def test_a_silent_server_times_out_only_that_request(
    odd: Server, client: httpx.AsyncClient, behaviour: str
) -> None:
    async with contextlib.aclosing(
        StreamableHttpChannel(client, odd.url(f"/{behaviour}"), request_timeout=0.3)
    ) as channel:
        answer = await exchange(channel, 1)
        assert answer["error"]["code"] == jsonrpc.REQUEST_TIMEOUT
        assert "within 0.3 s" in answer["error"]["message"]
        assert channel.close_reason is None
        assert (await exchange(channel, 2, "ping"))["result"] == {}


@pytest.mark.parametrize(
    ("channel_class", "path"), [(StreamableHttpChannel, "/mcp"), (LegacySseChannel, "/sse")]
)
async def test_a_server_that_is_down_closes_the_channel_with_a_clear_reason(
    client: httpx.AsyncClient, channel_class: type[HttpChannelBase], path: str
) -> None:
    port = free_port()
    channel = channel_class(client, f"http://user:pw@127.0.0.1:{port}{path}?token=abc")
    recorder = Recorder()
    up = Upstream(channel, recorder, name="down")
    with pytest.raises(UpstreamError) as caught:
        await up.initialize(5)
    expected = f"cannot reach http://127.0.0.1:{port}{path}: connection refused"
    assert channel.close_reason == expected
    assert expected in caught.value.message
    assert "pw" not in caught.value.message.replace(f"{port}", "")
    assert "abc" not in caught.value.message
    with pytest.raises(ChannelClosed):
        await channel.send(b'{"jsonrpc":"2.0","id":2,"method":"ping"}')
    await up.aclose()


class SwitchableAuth(httpx.Auth):
    """Adds the bearer token until told that the credential is gone, as the broker does."""

    def __init__(self) -> None:
        self.revoked = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.revoked:
            raise needs_authorization("remote", "", "the refresh token was revoked")
        request.headers["Authorization"] = f"Bearer {TOKEN}"
        yield request


async def test_an_auth_layer_error_closes_the_channel_and_fails_in_flight_requests(
    stateful: Server,
) -> None:
    auth = SwitchableAuth()
    http = httpx.AsyncClient(auth=auth, timeout=httpx.Timeout(10, read=None))
    async with http, upstream(http, stateful.url()) as (up, recorder, channel):
        assert structured(await up.request("tools/call", call("add", a=1, b=2))) == 3
        auth.revoked = True
        response = await up.request("tools/call", call("add", a=1, b=2))
        reason = (
            "server 'remote' needs authorization: the refresh token was revoked "
            "(hint: mcpkit oauth authorize remote)"
        )
        assert channel.close_reason == reason
        assert response["error"]["code"] == jsonrpc.SERVER_UNAVAILABLE
        assert reason in response["error"]["message"]
        async with asyncio.timeout(10):
            await recorder.closed.wait()
        with pytest.raises(ChannelClosed):
            await channel.receive()


async def test_the_ssrf_guard_refusing_the_url_closes_the_channel_with_its_hint(
    stateful: Server,
) -> None:
    async with guarded_client(RemotePolicy()) as http:
        channel = StreamableHttpChannel(http, stateful.url())
        await channel.send(orjson.dumps(jsonrpc.request(1, "initialize", {})))
        answer = jsonrpc.loads(await channel.receive())
        assert channel.close_reason is not None
        assert "(hint: " in channel.close_reason
        assert answer["error"]["message"] == channel.close_reason
        with pytest.raises(ChannelClosed):
            await channel.receive()
        await channel.aclose()


async def test_a_certificate_the_client_does_not_trust_closes_the_channel_as_a_tls_error(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki")
    args = ("--certfile", str(pki.cert), "--keyfile", str(pki.key))
    with running("odd_http_server.py", *args) as server:
        url = server.url("/batch", scheme="https")
        async with httpx.AsyncClient(verify=pki.client_context()) as trusting:
            channel = StreamableHttpChannel(trusting, url)
            assert (await exchange(channel, 1, "ping"))["result"] == {}
            await channel.aclose()
        async with httpx.AsyncClient() as default:
            channel = StreamableHttpChannel(default, url)
            await channel.send(orjson.dumps(jsonrpc.request(1, "ping")))
            await channel.aclose()
    assert channel.close_reason is not None
    assert channel.close_reason.startswith(f"cannot reach {url}: TLS error")


@pytest.mark.e2e
async def test_server_everything_over_streamable_http(
    package_cache: Path, client: httpx.AsyncClient
) -> None:
    with everything(package_cache, "streamableHttp") as port:
        async with upstream(client, f"http://127.0.0.1:{port}/mcp") as (up, recorder, channel):
            assert channel.session_id
            assert channel.protocol_version == "2025-11-25"
            tools = await up.request("tools/list", {})
            assert "echo" in {t["name"] for t in tools["result"]["tools"]}
            echo = await up.request("tools/call", call("echo", message="hi"))
            assert echo["result"]["content"][0]["text"] == "Echo: hi"
            route = Route(session=None, client_id=1, progress_token="p")
            long = call("trigger-long-running-operation", duration=0.2, steps=2)
            done = await up.request("tools/call", long, route)
            assert "completed" in done["result"]["content"][0]["text"]
            await recorder.wait_for("notifications/progress", 2)
        assert channel.close_reason == "the channel was closed"
