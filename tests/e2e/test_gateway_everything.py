"""``@modelcontextprotocol/server-everything`` (npm) through a real gateway, SDK client.

Every MCP feature the reference server exercises crosses the gateway: tools, prompts,
resources and templates, progress, the server-to-client requests (sampling, elicitation,
roots) in both eras (real requests in the handshake era, ``input_required`` rounds in the
stateless era), logging, resource subscriptions and cancellation.

One HTTP gateway serves the module. The server is one shared stdio process whose state is
global (roots it has fetched, logging and update timers), so the tests that touch that
state restore it, and the roots test runs first, before anything fetched roots.

Cost (2 cores, warm package cache): gateway start ~3 s (+7 s for the first npm install of
a session); the logging and subscription tests up to 5 s each when the first message races
the client's GET stream (the server repeats every 5 s); cancellation ~3 s (own stdio
gateway); the rest well under 1 s each.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

if TYPE_CHECKING:
    from conftest import Home, RunningGateway, ServeHttp

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

PROFILE = "everything"
MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}
TIMEOUT = httpx2.Timeout(30, read=120)
REQUEST_TIMEOUT = -32001
#: The server repeats simulated logs and resource updates every 5 s.
REPEAT_BOUND = 12.0


@pytest.fixture(scope="module")
def profile(home: Home) -> Home:
    home.mcpkit("profile", "create", PROFILE, "-s", "everything")
    return home


@pytest.fixture(scope="module")
def gateway(profile: Home, serve_http: ServeHttp) -> RunningGateway:
    return serve_http(profile, PROFILE)


@pytest.fixture
async def http(gateway: RunningGateway) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(headers=gateway.auth, timeout=TIMEOUT) as client:
        yield client


def _client(gateway: RunningGateway, http: httpx2.AsyncClient, mode: str, **kw: Any) -> Client:
    transport = streamable_http_client(gateway.url, http_client=http)
    return Client(transport, mode=mode, **kw)


def _text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(part, "text", "") for part in result.content)


# -- roots first: the server caches the first roots it gets for its whole life -------


async def test_roots_reach_the_server_through_an_input_required_round_in_the_stateless_era(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    asked: list[str] = []

    async def roots(context: Any) -> types.ListRootsResult:
        asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///stateless-root", name="sl")])

    async with _client(gateway, http, "auto", list_roots_callback=roots) as client:
        assert client.protocol_version == MODES["auto"]
        result = await client.call_tool("get-roots-list", {})
    assert asked == ["roots"]
    assert "file:///stateless-root" in _text(result)


async def test_roots_reach_the_server_as_a_real_request_in_the_handshake_era(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    asked = anyio.Event()

    async def roots(context: Any) -> types.ListRootsResult:
        asked.set()
        return types.ListRootsResult(roots=[types.Root(uri="file:///legacy-root", name="lg")])

    async with _client(gateway, http, "legacy", list_roots_callback=roots) as client:
        # The server fetched roots once already: tell it they changed, so it asks again.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.send_roots_list_changed()
        with anyio.fail_after(10):
            await asked.wait()
        result = await client.call_tool("get-roots-list", {})
    assert "file:///legacy-root" in _text(result)


# -- tools, prompts, resources -------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
async def test_echo_and_get_sum_answer_through_the_gateway(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    async with _client(gateway, http, mode) as client:
        assert client.protocol_version == MODES[mode]
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"echo", "get-sum", "trigger-long-running-operation"} <= names
        echo = await client.call_tool("echo", {"message": "through the gateway"})
        assert _text(echo) == "Echo: through the gateway"
        total = await client.call_tool("get-sum", {"a": 2, "b": 40})
        assert "42" in _text(total)


@pytest.mark.parametrize("mode", list(MODES))
async def test_prompts_are_listed_and_rendered(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    async with _client(gateway, http, mode) as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        assert {"simple-prompt", "args-prompt"} <= names
        prompt = await client.get_prompt("args-prompt", {"city": "Lyon", "state": "Rhône"})
        texts = [getattr(m.content, "text", "") for m in prompt.messages]
        assert any("Lyon" in t for t in texts)


@pytest.mark.parametrize("mode", list(MODES))
async def test_resources_and_templates_are_listed_and_read(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    async with _client(gateway, http, mode) as client:
        resources = (await client.list_resources()).resources
        assert any(str(r.uri).startswith("demo://resource/static/") for r in resources)
        templates = (await client.list_resource_templates()).resource_templates
        assert "demo://resource/dynamic/text/{resourceId}" in {t.uri_template for t in templates}
        read = await client.read_resource("demo://resource/dynamic/text/3")
        assert any("3" in getattr(c, "text", "") for c in read.contents)


# -- progress and the server's requests ----------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
async def test_progress_of_a_long_operation_reaches_the_progress_callback(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with _client(gateway, http, mode) as client:
        result = await client.call_tool(
            "trigger-long-running-operation",
            {"duration": 0.6, "steps": 3},
            progress_callback=on_progress,
        )
    assert "Long running operation completed" in _text(result)
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_sampling_request_is_answered_by_the_clients_sampling_callback(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    prompts: list[str] = []

    async def sample(
        context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        prompts.append(getattr(params.messages[0].content, "text", ""))
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"sampled-{mode}"),
            model="e2e-model",
        )

    async with _client(gateway, http, mode, sampling_callback=sample) as client:
        result = await client.call_tool("trigger-sampling-request", {"prompt": "say hi"})
    assert len(prompts) == 1
    assert "say hi" in prompts[0]
    assert f"sampled-{mode}" in _text(result)
    assert "e2e-model" in _text(result)


@pytest.mark.parametrize("mode", list(MODES))
async def test_an_elicitation_request_is_answered_by_the_clients_elicitation_callback(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    messages: list[str] = []

    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        messages.append(params.message)
        return types.ElicitResult(action="accept", content={"name": f"Ada {mode}", "check": True})

    async with _client(gateway, http, mode, elicitation_callback=elicit) as client:
        result = await client.call_tool("trigger-elicitation-request", {})
    assert messages == ["Please provide inputs for the following fields:"]
    text = _text(result)
    assert "User provided the requested information" in text
    assert f"- Name: Ada {mode}" in text


# -- unsolicited messages: logging and resource updates (handshake era) --------------


async def test_simulated_logging_reaches_the_logging_callback(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    logged: list[types.LoggingMessageNotificationParams] = []
    got = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(params)
        if "-level message" in str(params.data):
            got.set()

    async with _client(gateway, http, "legacy", logging_callback=on_log) as client:
        await client.list_tools()  # a round trip: the client's GET stream is open by now
        started = await client.call_tool("toggle-simulated-logging", {})
        assert "Started simulated" in _text(started)
        try:
            with anyio.fail_after(REPEAT_BOUND):
                await got.wait()
        finally:
            stopped = await client.call_tool("toggle-simulated-logging", {})
            assert "Stopped simulated" in _text(stopped)
    assert any("-level message" in str(p.data) for p in logged)
    assert all(p.logger == "everything" for p in logged if "-level message" in str(p.data))


async def test_a_subscribed_resource_update_reaches_the_client(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    uri = "demo://resource/static/document/features.md"
    updated: list[str] = []
    got = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            got.set()

    async with _client(gateway, http, "legacy", message_handler=on_message) as client:
        with warnings.catch_warnings():
            # resources/subscribe is deprecated at 2026-07-28; this is the handshake era.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.subscribe_resource(uri)
        started = await client.call_tool("toggle-subscriber-updates", {})
        assert "Started simulated" in _text(started)
        try:
            with anyio.fail_after(REPEAT_BOUND):
                await got.wait()
        finally:
            await client.call_tool("toggle-subscriber-updates", {})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.unsubscribe_resource(uri)
    assert updated[0] == uri


# -- cancellation (stdio: the SDK sends notifications/cancelled) ----------------------


async def test_a_cancelled_call_leaves_the_gateway_serving_the_next_one(profile: Home) -> None:
    argv = profile.gateway_argv(PROFILE)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=profile.environ)
    async with Client(params, mode="legacy") as client:
        with anyio.move_on_after(1.0) as scope:
            await client.call_tool("trigger-long-running-operation", {"duration": 30, "steps": 2})
        assert scope.cancelled_caught
        echo = await client.call_tool("echo", {"message": "still here"})
        assert _text(echo) == "Echo: still here"
        # A read timeout: the SDK gives up and sends notifications/cancelled.
        with pytest.raises(MCPError) as timed_out:
            await client.call_tool(
                "trigger-long-running-operation", {"duration": 30, "steps": 2}, 0.5
            )
        assert timed_out.value.error.code == REQUEST_TIMEOUT
        again = await client.call_tool("get-sum", {"a": 1, "b": 2})
        assert "3" in _text(again)


@pytest.mark.parametrize("mode", list(MODES))
async def test_a_call_cancelled_over_http_leaves_the_gateway_serving_the_next_one(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    async with _client(gateway, http, mode) as client:
        with anyio.move_on_after(0.5) as scope:
            await client.call_tool("trigger-long-running-operation", {"duration": 30, "steps": 2})
        assert scope.cancelled_caught
        echo = await client.call_tool("echo", {"message": "after the cancel"})
        assert _text(echo) == "Echo: after the cancel"


# -- the server's requests over the other fronts --------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
async def test_sampling_crosses_the_legacy_sse_front(gateway: RunningGateway, mode: str) -> None:
    async def sample(
        context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="via-sse"), model="m"
        )

    transport = sse_client(gateway.sse_url, headers=gateway.auth)
    async with Client(transport, mode=mode, sampling_callback=sample) as client:
        assert client.protocol_version == MODES[mode]
        result = await client.call_tool("trigger-sampling-request", {"prompt": "sse"})
    assert "via-sse" in _text(result)


@pytest.mark.parametrize("mode", list(MODES))
async def test_elicitation_crosses_the_stdio_front(profile: Home, mode: str) -> None:
    async def elicit(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Stdio"})

    argv = profile.gateway_argv(PROFILE)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=profile.environ)
    async with Client(params, mode=mode, elicitation_callback=elicit) as client:
        assert client.protocol_version == MODES[mode]
        result = await client.call_tool("trigger-elicitation-request", {})
    assert "- Name: Stdio" in _text(result)
