"""Revocation (RFC 7009 then local removal) and the loopback redirect listener."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from oauth_support import OAuthServer, add_remote, authorized, running_server, service

from mcpkit.app import App
from mcpkit.oauth.callback import listening
from mcpkit.oauth.credentials import CredentialStore
from mcpkit.oauth.errors import NoCredentialError, OAuthError

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def no_revocation_server() -> Iterator[OAuthServer]:
    """An authorization server without a revocation endpoint."""
    with running_server("--no-revocation") as server:
        yield server


async def test_revoke_revokes_at_the_server_then_removes_tokens_and_client(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    await authorized(app, "acme")
    store = CredentialStore(app.store)
    token = store.token("acme")
    assert token is not None
    before = await oauth_server.stats()

    result = await service(app).revoke("acme")

    assert result.remote is True and result.problem is None
    assert (await oauth_server.stats()).get("revoke", 0) - before.get("revoke", 0) == 2
    assert store.token("acme") is None and store.client("acme") is None
    assert store.stored() == []
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            oauth_server.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={
                "Authorization": f"Bearer {token.access_token}",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert answer.status_code == 401


async def test_without_a_revocation_endpoint_revoke_forgets_locally(
    app: App, no_revocation_server: OAuthServer
) -> None:
    add_remote(app, "acme", no_revocation_server.mcp_url)
    await authorized(app, "acme")

    result = await service(app).revoke("acme")

    assert result.remote is None
    assert CredentialStore(app.store).stored() == []


async def test_an_unreachable_revocation_endpoint_still_removes_local_state(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    await authorized(app, "acme")
    store = CredentialStore(app.store)
    token = store.token("acme")
    assert token is not None
    # Port 9 (discard) has no listener here: the connection is refused.
    dead = token.model_copy(update={"revocation_endpoint": "http://127.0.0.1:9/revoke"})
    store.save_token("acme", "", dead)

    result = await service(app).revoke("acme")

    assert result.remote is False
    assert result.problem and "127.0.0.1:9" in result.problem
    assert token.access_token not in result.problem
    assert store.stored() == []


async def test_revoking_what_was_never_stored_says_so(app: App) -> None:
    with pytest.raises(NoCredentialError) as caught:
        await service(app).revoke("acme", profile="dev")
    assert caught.value.message == "no OAuth credential for server 'acme' in profile 'dev'"
    assert "mcpkit oauth ls" in (caught.value.hint or "")


async def test_the_listener_answers_404_elsewhere_and_returns_the_callback() -> None:
    async with listening() as listener:
        async with httpx.AsyncClient() as browser:
            other = await browser.get(f"http://127.0.0.1:{listener.port}/favicon.ico")
            page = await browser.get(listener.redirect_uri, params={"code": "c", "state": "s"})
        with anyio.fail_after(5):
            params = await listener.wait()
    assert other.status_code == 404
    assert page.status_code == 200 and "Authorization received" in page.text
    assert params == {"code": "c", "state": "s"}
    assert page.headers["cache-control"] == "no-store"


async def test_a_taken_port_is_an_error_unless_it_was_only_a_preference() -> None:
    async with listening() as first:
        with pytest.raises(OAuthError) as caught:
            async with listening(first.port):
                pass
        assert f"127.0.0.1:{first.port}" in caught.value.message
        assert "--port" in (caught.value.hint or "")
        async with listening(first.port, fallback=True) as second:
            assert second.port != first.port


async def test_an_error_in_the_listeners_block_comes_out_unwrapped() -> None:
    with pytest.raises(OAuthError, match="boom"):
        async with listening():
            raise OAuthError("boom")
