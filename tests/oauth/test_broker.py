"""The token broker keeps tokens valid against a real authorization server."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
import pytest
from oauth_support import (
    OAuthServer,
    add_remote,
    authorized,
    call_tool,
    client_factory,
)

from mcpkit.app import App
from mcpkit.oauth.broker import TokenBroker
from mcpkit.oauth.credentials import CredentialStore
from mcpkit.oauth.errors import AuthorizationRequiredError
from mcpkit.oauth.model import TokenRecord
from mcpkit.secrets.base import SecretStore

pytestmark = pytest.mark.anyio


def _broker(app: App, **kw: float) -> TokenBroker:
    return TokenBroker(CredentialStore(app.store), client_factory, **kw)


async def _delta(server: OAuthServer, before: dict[str, int], key: str) -> int:
    return (await server.stats()).get(key, 0) - before.get(key, 0)


async def _ready(app: App, server: OAuthServer) -> TokenRecord:
    add_remote(app, "acme", server.mcp_url)
    await authorized(app, "acme")
    record = CredentialStore(app.store).token("acme")
    assert record is not None
    return record


def _age(app: App, record: TokenRecord, expires_in: float) -> TokenRecord:
    """Store ``record`` as obtained an hour ago and expiring in ``expires_in`` seconds."""
    now = time.time()
    aged = record.model_copy(update={"obtained_at": now - 3600, "expires_at": now + expires_in})
    CredentialStore(app.store).save_token("acme", "", aged)
    return aged


async def test_a_token_expiring_within_the_skew_is_refreshed_before_use(
    app: App, oauth_server: OAuthServer
) -> None:
    old = _age(app, await _ready(app, oauth_server), expires_in=30)
    broker = _broker(app, skew=60)
    assert broker.status("acme", "default").state == "expiring"
    before = await oauth_server.stats()

    token = await broker.access_token("acme", "default")

    assert token is not None and token != old.access_token
    assert await _delta(oauth_server, before, "refresh") == 1
    stored = CredentialStore(app.store).token("acme")
    assert stored is not None and stored.access_token == token
    assert stored.refresh_token != old.refresh_token  # the server rotated it
    assert stored.expires_at is not None and stored.expires_at > time.time() + 3000
    status = broker.status("acme", "default")
    assert status.state == "ok" and status.scopes == ["mcp:read", "mcp:write"]
    answer = await call_tool(oauth_server.mcp_url, broker.auth("acme", "default"))
    assert answer.status_code == 200


async def test_a_401_after_server_side_expiry_refreshes_once_and_retries(
    app: App, oauth_server: OAuthServer
) -> None:
    await _ready(app, oauth_server)
    broker = _broker(app)
    await oauth_server.control_post("expire-access-tokens")
    before = await oauth_server.stats()

    answer = await call_tool(
        oauth_server.mcp_url, broker.auth("acme", "default"), "echo", text="hi"
    )

    assert answer.status_code == 200
    assert answer.json()["result"]["content"][0]["text"] == "hi"
    assert await _delta(oauth_server, before, "401") == 1
    assert await _delta(oauth_server, before, "refresh") == 1


async def test_concurrent_callers_share_exactly_one_refresh(
    app: App, oauth_server: OAuthServer
) -> None:
    await _ready(app, oauth_server)
    broker = _broker(app)
    await oauth_server.control_post("expire-access-tokens")
    before = await oauth_server.stats()
    statuses: list[int] = []

    async def one() -> None:
        statuses.append(
            (await call_tool(oauth_server.mcp_url, broker.auth("acme", "default"))).status_code
        )

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(one)

    assert statuses == [200] * 6
    assert await _delta(oauth_server, before, "refresh") == 1


async def test_concurrent_proactive_refreshes_are_one_refresh(
    app: App, oauth_server: OAuthServer
) -> None:
    _age(app, await _ready(app, oauth_server), expires_in=10)
    broker = _broker(app)
    before = await oauth_server.stats()
    tokens: set[str | None] = set()

    async def one() -> None:
        tokens.add(await broker.access_token("acme", "default"))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(one)

    assert len(tokens) == 1 and None not in tokens
    assert await _delta(oauth_server, before, "refresh") == 1


async def test_a_refused_refresh_marks_the_server_as_needing_authorization(
    app: App, oauth_server: OAuthServer
) -> None:
    record = await _ready(app, oauth_server)
    broker = _broker(app)
    await oauth_server.control_post("invalidate-refresh-tokens")
    await oauth_server.control_post("expire-access-tokens")

    with pytest.raises(AuthorizationRequiredError) as caught:
        await call_tool(oauth_server.mcp_url, broker.auth("acme", "default"))

    assert caught.value.code == "needs-authorization"
    assert caught.value.hint == "mcpkit oauth authorize acme"
    assert "invalid_grant" in caught.value.message
    assert record.access_token not in caught.value.message
    stored = CredentialStore(app.store).token("acme")
    assert stored is not None and stored.needs_authorization
    assert stored.refresh_token == record.refresh_token  # kept, only marked
    assert broker.status("acme", "default").state == "needs-authorization"
    before = await oauth_server.stats()
    with pytest.raises(AuthorizationRequiredError):
        await broker.access_token("acme", "default")
    assert await _delta(oauth_server, before, "refresh") == 0
    # A new authorization clears the mark.
    await authorized(app, "acme")
    assert broker.status("acme", "default").state == "ok"


async def test_a_server_without_a_credential_gets_plain_requests_and_its_401_asks_for_authorization(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    broker = _broker(app)
    assert await broker.access_token("acme", "default") is None
    assert broker.status("acme", "default").state == "none"

    with pytest.raises(AuthorizationRequiredError) as caught:
        await call_tool(oauth_server.mcp_url, broker.auth("acme", "default"))
    assert caught.value.hint == "mcpkit oauth authorize acme"
    assert "no OAuth credential is stored" in caught.value.message


async def test_a_request_with_its_own_authorization_header_is_left_alone(
    app: App, oauth_server: OAuthServer
) -> None:
    broker = _broker(app)
    async with httpx.AsyncClient(auth=broker.auth("acme", "default")) as client:
        answer = await client.post(
            oauth_server.mcp_url, json={}, headers={"Authorization": "Bearer not-ours"}
        )
    assert answer.status_code == 401


async def test_tokens_written_by_another_process_are_used_instead_of_refreshing(
    app: App, oauth_server: OAuthServer
) -> None:
    old = await _ready(app, oauth_server)
    ours = _broker(app)
    theirs = _broker(app)  # another gateway on the same store
    before = await oauth_server.stats()

    fresh = await theirs.refresh("acme", "", old, rejected=True)
    again = await ours.refresh("acme", "", old, rejected=True)

    assert again.access_token == fresh.access_token != old.access_token
    assert await _delta(oauth_server, before, "refresh") == 1


async def test_a_refresh_token_rotated_by_another_process_mid_refresh_is_picked_up(
    app: App, oauth_server: OAuthServer
) -> None:
    old = _age(app, await _ready(app, oauth_server), expires_in=-10)
    store = CredentialStore(app.store)
    # Another gateway refreshes first (the server now refuses the old refresh token) ...
    newer = await _broker(app).refresh("acme", "", old, rejected=True)
    store.save_token("acme", "", old)

    def slow_writer() -> httpx.AsyncClient:
        client = client_factory()

        async def write_theirs(request: httpx.Request) -> None:
            # ... and its write lands while our refresh request is on the wire.
            store.save_token("acme", "", newer)

        client.event_hooks["request"] = [write_theirs]
        return client

    broker = TokenBroker(store, slow_writer)
    token = await broker.access_token("acme", "default")

    assert token == newer.access_token
    stored = store.token("acme")
    assert stored is not None and not stored.needs_authorization


async def test_a_server_authorized_after_the_gateway_looked_is_picked_up_on_its_401(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    broker = _broker(app)
    with pytest.raises(AuthorizationRequiredError):
        await call_tool(oauth_server.mcp_url, broker.auth("acme", "default"))

    await authorized(app, "acme")  # what `mcpkit oauth authorize acme` does meanwhile

    answer = await call_tool(oauth_server.mcp_url, broker.auth("acme", "default"))
    assert answer.status_code == 200


class CountingStore:
    """The real secret store, counting reads (to see what the hot path costs)."""

    def __init__(self, inner: SecretStore) -> None:
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, key: str) -> str | None:
        self.reads += 1
        return self.inner.get(key)


async def test_requests_with_a_valid_token_do_not_read_the_store_each_time(
    app: App, oauth_server: OAuthServer
) -> None:
    await _ready(app, oauth_server)
    counting = CountingStore(app.store)
    broker = TokenBroker(CredentialStore(counting), client_factory)  # type: ignore[arg-type]
    auth = broker.auth("acme", "default")
    assert (await call_tool(oauth_server.mcp_url, auth)).status_code == 200
    reads = counting.reads

    for _ in range(3):
        assert (await call_tool(oauth_server.mcp_url, auth)).status_code == 200

    assert counting.reads == reads
