"""A real gateway proxies an OAuth-protected remote server to the official SDK client.

The whole life of a credential, as a user meets it: sign in once, the gateway calls with
the token, the server expires it and the gateway refreshes it unseen, the refresh token is
revoked server-side and the server shows as *needs authorization* with the command to run,
signing in again brings it back without restarting the gateway, and ``oauth revoke`` ends
it. The authorization server and the MCP server are the real test server (the SDK's auth
pieces, see ``servers/oauth_mcp_server.py``); the gateway is ``mcpkit gateway run`` as a
child process; the client is the official Python SDK over streamable HTTP.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from oauth_support import OAuthServer, add_remote, authorized

from gateway_procs import RunningGateway, start_http_gateway, stop_process
from mcpkit.app import App

if TYPE_CHECKING:
    from tests.conftest import Run

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SERVER = "notes"
TIMEOUT = httpx2.Timeout(30, read=60)


async def whoami(client: Client) -> Any:
    """The remote server's ``whoami`` through the gateway (what the token says)."""
    result = await client.call_tool("whoami", {})
    assert not result.is_error, result.content
    return result.structured_content


async def failure(client: Client) -> str:
    """The error of a ``whoami`` call that must fail (a JSON-RPC error naming the server)."""
    with pytest.raises(MCPError) as caught:
        await client.call_tool("whoami", {})
    return str(caught.value)


def health(gateway: RunningGateway) -> dict[str, Any]:
    response = httpx.get(f"{gateway.base}/health", headers=gateway.auth, timeout=10)
    servers: dict[str, Any] = response.json()["servers"]
    return dict(servers[SERVER])


async def until_health(
    gateway: RunningGateway, check: Callable[[dict[str, Any]], bool], *, within: float = 20.0
) -> dict[str, Any]:
    """The server's health once ``check`` holds (its restart after a crash has a backoff)."""
    deadline = time.monotonic() + within
    while not check(state := health(gateway)):
        if time.monotonic() > deadline:
            raise AssertionError(f"health never matched: {state}\n{gateway.log()}")
        await anyio.sleep(0.1)
    return state


async def until_served(client: Client, *, within: float = 20.0) -> Any:
    """``whoami`` once the gateway's backoff lets the server start again (bounded poll)."""
    deadline = time.monotonic() + within
    while True:
        try:
            result = await client.call_tool("whoami", {})
        except MCPError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"still failing after {within} s") from exc
            await anyio.sleep(0.1)
            continue
        assert not result.is_error, result.content
        return result.structured_content


@pytest.fixture
def authorized_app(app: App, oauth_server: OAuthServer) -> App:
    add_remote(app, SERVER, oauth_server.mcp_url)
    return app


async def test_a_credential_is_used_refreshed_renewed_and_revoked_through_the_gateway(
    authorized_app: App,
    oauth_server: OAuthServer,
    gateway_environ: dict[str, str],
    run: Run,
) -> None:
    app = authorized_app
    await authorized(app, SERVER)
    argv = [sys.executable, "-m", "mcpkit", "gateway", "run", "--allow-insecure-remote"]
    gateway = start_http_gateway(gateway_environ, argv)
    try:
        async with httpx2.AsyncClient(headers=gateway.auth, timeout=TIMEOUT) as http:
            transport = streamable_http_client(gateway.url, http_client=http)
            async with Client(transport, mode="legacy") as client:
                tokens = await _story(app, oauth_server, gateway, client, run)
    finally:
        stop_process(gateway.process, gateway.reader)
    assert tokens and not any(token in gateway.log() for token in tokens)


async def _story(
    app: App, oauth_server: OAuthServer, gateway: RunningGateway, client: Client, run: Run
) -> list[str]:
    """Steps 1-5; returns every access token the gateway held (for the log check)."""
    tokens: list[str] = []

    def remember() -> None:
        record = app.oauth_credentials.token(SERVER)
        assert record is not None
        tokens.append(record.access_token)

    # 1. Signed in: the call carries the token the authorization server issued.
    remember()
    first = await whoami(client)
    assert first["client_id"] and "mcp:read" in first["scopes"]
    assert health(gateway)["state"] == "running"

    # 2. The server expires the access token: one refresh, the call goes through.
    before = await oauth_server.stats()
    await oauth_server.control_post("expire-access-tokens")
    assert (await whoami(client))["client_id"] == first["client_id"]
    after = await oauth_server.stats()
    assert after.get("refresh", 0) == before.get("refresh", 0) + 1
    remember()

    # 3. The refresh token is revoked server-side: the server needs authorization, and
    #    says which command fixes it; nothing else breaks.
    await oauth_server.control_post("invalidate-refresh-tokens")
    await oauth_server.control_post("expire-access-tokens")
    text = await failure(client)
    assert f"mcpkit oauth authorize {SERVER}" in text
    state = await until_health(gateway, lambda h: h.get("needs") == "authorization")
    assert state["fix"].startswith(f"mcpkit oauth authorize {SERVER}")
    # The CLI runs its own event loop: off this one, in a thread.
    listing = await anyio.to_thread.run_sync(lambda: run("oauth", "ls", "--json"))
    assert "needs-authorization" in listing.stdout

    # 4. Signing in again (as from another terminal) brings it back, gateway untouched.
    await authorized(app, SERVER)
    assert (await until_served(client))["client_id"]
    remember()

    # 5. Revoked: the endpoint is called, the gateway's next call asks for authorization.
    revoked_before = (await oauth_server.stats()).get("revoke", 0)
    revoke = ("oauth", "revoke", SERVER, "--allow-insecure-remote")
    await anyio.to_thread.run_sync(lambda: run(*revoke))
    assert (await oauth_server.stats()).get("revoke", 0) > revoked_before
    text = await failure(client)
    assert f"mcpkit oauth authorize {SERVER}" in text
    return tokens


async def test_removing_a_remote_server_keeps_its_tokens_unless_purged(
    authorized_app: App, oauth_server: OAuthServer, run: Run
) -> None:
    app = authorized_app
    await authorized(app, SERVER)
    app.profiles.create("work")
    add_remote(app, SERVER, oauth_server.mcp_url, profile="work")
    app.close()

    def cli(*args: str) -> str:
        return str(run(*args).stdout)

    kept = await anyio.to_thread.run_sync(lambda: cli("server", "rm", SERVER))
    assert "kept OAuth tokens of notes (global) (still used by work)" in kept
    assert f"'mcpkit oauth revoke {SERVER}' does" in kept

    # The last profile with it: --purge-secrets revokes at the server and forgets them.
    await anyio.to_thread.run_sync(lambda: cli("config", "set", "remote.allow_insecure", "true"))
    before = (await oauth_server.stats()).get("revoke", 0)
    purged = await anyio.to_thread.run_sync(
        lambda: cli("server", "rm", SERVER, "--profile", "work", "--purge-secrets")
    )
    assert "revoked the tokens of notes at its authorization server" in purged
    assert (await oauth_server.stats()).get("revoke", 0) > before
    assert App(app.environ).oauth_credentials.token(SERVER) is None
