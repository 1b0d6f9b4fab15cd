"""The official Python SDK client against a real gateway, over every front and both eras.

One HTTP gateway per module serves ``time`` and ``git`` (both from PyPI, sandboxed); the
stdio tests start their own gateway the way an AI client does, through
``StdioServerParameters``. Plain httpx checks the HTTP front's refusals.

Cost (2 cores, warm package cache): the module gateway starts in ~2 s, plus ~5 s the first
time a session installs the two packages; each stdio test ~2 s; the rest well under 1 s.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

if TYPE_CHECKING:
    from conftest import Home, RunningGateway, ServeHttp

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

PROFILE = "clients"
TIME_ONLY = "timeonly"
MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}
STATELESS = "2026-07-28"
TIMEOUT = httpx2.Timeout(30, read=120)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real git repository with one commit."""
    path = tmp_path_factory.mktemp("repo")
    (path / "README.md").write_text("hello from the e2e repository\n")
    ident = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid"]
    for argv in (["init", "-q"], ["add", "README.md"], [*ident, "commit", "-q", "-m", "first"]):
        subprocess.run(["git", *argv], cwd=path, check=True, capture_output=True)
    (path / "untracked.txt").write_text("not committed\n")
    return path


@pytest.fixture(scope="module")
def profiles(home: Home, repo: Path) -> Home:
    """``clients`` (time + git on ``repo``) and ``timeonly`` (time)."""
    home.mcpkit("profile", "create", PROFILE, "-s", "time")
    home.mcpkit("server", "add", "git", "-p", PROFILE, "-c", f"repository={repo}")
    home.mcpkit("profile", "create", TIME_ONLY, "-s", "time")
    return home


@pytest.fixture(scope="module")
def gateway(profiles: Home, serve_http: ServeHttp) -> RunningGateway:
    """One HTTP gateway for the module's tests."""
    return serve_http(profiles, PROFILE)


@pytest.fixture
async def http(gateway: RunningGateway) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 client carrying the gateway's bearer token (what the SDK transports use)."""
    async with httpx2.AsyncClient(headers=gateway.auth, timeout=TIMEOUT) as client:
        yield client


async def _time_in_paris(client: Client) -> dict[str, Any]:
    tools = await client.list_tools()
    assert "get_current_time" in {t.name for t in tools.tools}
    result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
    assert not result.is_error, result.content
    data = result.structured_content
    assert isinstance(data, dict)
    assert data["timezone"] == "Europe/Paris"
    return data


# -- stdio -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_sdk_client_runs_the_gateway_over_stdio_and_calls_a_tool(
    profiles: Home, mode: str
) -> None:
    argv = profiles.gateway_argv(TIME_ONLY)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=profiles.environ)
    async with Client(params, mode=mode) as client:
        assert client.protocol_version == MODES[mode]
        assert client.server_info is not None
        assert client.server_info.name == "mcpkit-gateway"
        await _time_in_paris(client)


# -- streamable HTTP and legacy SSE ------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_sdk_client_calls_a_tool_over_streamable_http(
    gateway: RunningGateway, http: httpx2.AsyncClient, mode: str
) -> None:
    transport = streamable_http_client(gateway.url, http_client=http)
    async with Client(transport, mode=mode) as client:
        assert client.protocol_version == MODES[mode]
        data = await _time_in_paris(client)
        assert data["datetime"]


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_sdk_client_calls_a_tool_over_legacy_sse(
    gateway: RunningGateway, mode: str
) -> None:
    transport = sse_client(gateway.sse_url, headers=gateway.auth)
    async with Client(transport, mode=mode) as client:
        assert client.protocol_version == MODES[mode]
        await _time_in_paris(client)


async def test_git_status_and_log_see_the_repository_mounted_into_the_sandbox(
    gateway: RunningGateway, http: httpx2.AsyncClient, repo: Path
) -> None:
    transport = streamable_http_client(gateway.url, http_client=http)
    async with Client(transport, mode="legacy") as client:
        status = await client.call_tool("git_status", {"repo_path": str(repo)})
        assert not status.is_error, status.content
        status_text = _text(status.content)
        assert "untracked.txt" in status_text
        log = await client.call_tool("git_log", {"repo_path": str(repo), "max_count": 5})
        assert not log.is_error, log.content
        assert "first" in _text(log.content)


def _text(content: list[Any]) -> str:
    return "\n".join(getattr(part, "text", "") for part in content)


# -- the HTTP front's refusals (plain httpx) ---------------------------------------


@pytest.fixture(scope="module")
def raw(gateway: RunningGateway) -> Iterator[httpx.Client]:
    """A plain HTTP client with no token."""
    with httpx.Client(base_url=gateway.base, timeout=30) as client:
        yield client


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _stateless(method: str, params: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    envelope = {
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientCapabilities": {},
        **meta,
    }
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": method,
        "params": {**(params or {}), "_meta": envelope},
    }


def test_a_request_without_a_token_is_refused_with_401(raw: httpx.Client) -> None:
    response = raw.post("/mcp", json=INIT, headers=ACCEPT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_request_with_a_wrong_token_is_refused_with_401(raw: httpx.Client) -> None:
    headers = {**ACCEPT, "Authorization": "Bearer not-the-token"}
    assert raw.post("/mcp", json=INIT, headers=headers).status_code == 401
    assert raw.get("/sse", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_foreign_origin_is_refused_with_403(raw: httpx.Client, gateway: RunningGateway) -> None:
    headers = {**ACCEPT, **gateway.auth, "Origin": "http://evil.example"}
    response = raw.post("/mcp", json=INIT, headers=headers)
    assert response.status_code == 403
    assert "evil.example" in response.text


def test_a_foreign_host_is_refused_with_403(raw: httpx.Client, gateway: RunningGateway) -> None:
    headers = {**ACCEPT, **gateway.auth, "Host": "evil.example"}
    response = raw.post("/mcp", json=INIT, headers=headers)
    assert response.status_code == 403
    assert "DNS rebinding" in response.text


def test_health_shows_only_states_without_a_token_and_details_with_it(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    public = raw.get("/health")
    assert public.status_code == 200
    body = public.json()
    assert set(body) == {"status", "servers"}
    assert set(body["servers"]) == {"time", "git"}
    assert all(set(s) == {"state"} for s in body["servers"].values())
    private = raw.get("/health", headers=gateway.auth).json()
    assert private["profile"] == PROFILE
    assert {"uptime_s", "sessions", "tools"} <= set(private)
    assert "restarts" in private["servers"]["time"]


def test_a_post_without_a_session_that_is_not_initialize_gets_400(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    response = raw.post("/mcp", json=body, headers={**ACCEPT, **gateway.auth})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


def test_a_request_for_an_unknown_session_gets_404(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    headers = {**ACCEPT, **gateway.auth, "mcp-session-id": "no-such-session"}
    response = raw.post("/mcp", json=body, headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32600
    assert raw.get("/mcp", headers={**headers, "Accept": "text/event-stream"}).status_code == 404
    assert raw.delete("/mcp", headers=headers).status_code == 404


def test_a_session_lives_until_delete_and_get_opens_its_stream(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    headers = {**ACCEPT, **gateway.auth}
    init = raw.post("/mcp", json=INIT, headers=headers)
    assert init.status_code == 200
    assert init.json()["result"]["protocolVersion"] == "2025-11-25"
    sid = init.headers["mcp-session-id"]
    session = {**headers, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert raw.post("/mcp", json=note, headers=session).status_code == 202
    ping = raw.post("/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "ping"}, headers=session)
    assert ping.json() == {"jsonrpc": "2.0", "id": 3, "result": {}}
    no_sse = {**session, "Accept": "application/json"}
    assert raw.get("/mcp", headers=no_sse).status_code == 406
    with raw.stream("GET", "/mcp", headers={**session, "Accept": "text/event-stream"}) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
    assert raw.delete("/mcp", headers=session).status_code == 200
    after = raw.post("/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "ping"}, headers=session)
    assert after.status_code == 404
    assert raw.request("PUT", "/mcp", headers=session).status_code == 405


def test_a_stateless_request_whose_method_header_disagrees_gets_400_32020(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    headers = {
        **ACCEPT,
        **gateway.auth,
        "mcp-protocol-version": STATELESS,
        "mcp-method": "prompts/list",
    }
    response = raw.post("/mcp", json=_stateless("tools/list"), headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020


def test_an_unsupported_stateless_version_gets_400_32022(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    body = _stateless("tools/list")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    headers = {**ACCEPT, **gateway.auth, "mcp-protocol-version": "2099-01-01"}
    response = raw.post("/mcp", json=body, headers=headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022
    assert error["data"] == {"supported": [STATELESS], "requested": "2099-01-01"}


def test_ping_in_the_stateless_era_is_method_not_found_with_404(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    headers = {**ACCEPT, **gateway.auth, "mcp-protocol-version": STATELESS, "mcp-method": "ping"}
    response = raw.post("/mcp", json=_stateless("ping"), headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32601


def test_a_stateless_tools_list_answers_without_a_session(
    raw: httpx.Client, gateway: RunningGateway
) -> None:
    headers = {
        **ACCEPT,
        **gateway.auth,
        "mcp-protocol-version": STATELESS,
        "mcp-method": "tools/list",
    }
    response = raw.post("/mcp", json=_stateless("tools/list"), headers=headers)
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert result["resultType"] == "complete"
    assert {"get_current_time", "git_status"} <= {t["name"] for t in result["tools"]}
