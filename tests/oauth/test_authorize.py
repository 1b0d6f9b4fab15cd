"""``authorize`` against a real authorization server and the MCP server it protects."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from oauth_support import (
    OAuthServer,
    act_as_browser,
    add_remote,
    authorize_with_browser,
    remote_spec,
    running_server,
    service,
)

from mcpkit.app import App
from mcpkit.catalog.model import OAuthSpec
from mcpkit.errors import UnknownServerError
from mcpkit.oauth.callback import listening
from mcpkit.oauth.credentials import CredentialStore
from mcpkit.oauth.errors import (
    OAuthClientRequiredError,
    OAuthDiscoveryError,
    OAuthError,
    OAuthTimeoutError,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def no_dcr_server() -> Iterator[OAuthServer]:
    """An authorization server without registration that knows one public client."""
    with running_server("--no-dcr", "--client-id", "pre-registered") as server:
        yield server


async def test_authorize_registers_stores_tokens_and_the_token_works(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    before = await oauth_server.stats()
    svc = service(app)

    result, seen = await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url))

    assert seen.callback is not None and seen.callback.status_code == 200
    assert "Authorization received" in seen.callback.text
    query = parse_qs(urlsplit(seen.url or "").query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["resource"] == [oauth_server.mcp_url]
    assert query["scope"] == ["mcp:read mcp:write"]
    assert result.registered and result.scopes == ["mcp:read", "mcp:write"]
    token = CredentialStore(app.store).token("acme")
    client = CredentialStore(app.store).client("acme")
    assert token is not None and client is not None
    assert token.refresh_token and token.expires_at and token.client_id == client.client_id
    assert token.resource == oauth_server.mcp_url and token.revocation_endpoint
    after = await oauth_server.stats()
    assert after.get("register", 0) - before.get("register", 0) == 1
    assert after.get("token", 0) - before.get("token", 0) == 1

    async with httpx.AsyncClient() as http:
        answer = await http.post(
            oauth_server.mcp_url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}},
            },
            headers={
                "Authorization": f"Bearer {token.access_token}",
                "Accept": "application/json, text/event-stream",
            },
        )
    who = answer.json()["result"]["structuredContent"]
    assert who == {
        "client_id": client.client_id,
        "scopes": ["mcp:read", "mcp:write"],
        "resource": oauth_server.mcp_url,
    }


async def test_a_second_authorize_on_the_same_port_reuses_the_registered_client(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    svc = service(app)
    first, _ = await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url))
    before = await oauth_server.stats()

    second, _ = await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url))

    after = await oauth_server.stats()
    assert not second.registered and second.client_id == first.client_id
    assert after.get("register", 0) == before.get("register", 0)


async def test_a_different_redirect_port_registers_a_new_client(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    svc = service(app)
    first, _ = await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url))
    stored = CredentialStore(app.store).client("acme")
    assert stored is not None and stored.redirect_uri
    taken = urlsplit(stored.redirect_uri).port

    async with listening() as other:  # a port surely unlike the registered one
        port = other.port
    assert port != taken
    second, seen = await authorize_with_browser(
        lambda on_url: svc.authorize("acme", on_url=on_url, port=port)
    )

    assert second.registered and second.client_id != first.client_id
    assert f"127.0.0.1%3A{port}%2Fcallback" in (seen.url or "")
    client = CredentialStore(app.store).client("acme")
    assert client is not None and client.redirect_uri == f"http://127.0.0.1:{port}/callback"


async def test_a_profile_scoped_authorization_wins_over_the_global_one(
    app: App, oauth_server: OAuthServer
) -> None:
    app.profiles.create("dev")
    add_remote(app, "acme", oauth_server.mcp_url)
    add_remote(app, "acme", oauth_server.mcp_url, profile="dev")
    svc = service(app)
    await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url))
    await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url, profile="dev"))
    store = CredentialStore(app.store)
    profile_token = store.token("acme", "dev")
    found = store.resolve("acme", "dev")
    assert profile_token is not None and found is not None
    assert found[0] == "dev" and found[1].access_token == profile_token.access_token
    global_found = store.resolve("acme", "default")
    assert global_found is not None and global_found[0] == ""


async def test_the_users_scopes_are_added_to_the_servers(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url, oauth=OAuthSpec(scopes=["mcp:write"]))
    svc = service(app)
    _, seen = await authorize_with_browser(
        lambda on_url: svc.authorize("acme", on_url=on_url, scopes=["mcp:read"])
    )
    assert parse_qs(urlsplit(seen.url or "").query)["scope"] == ["mcp:read mcp:write"]


async def test_a_pre_registered_client_id_is_used_without_registration(
    app: App, no_dcr_server: OAuthServer
) -> None:
    add_remote(app, "acme", no_dcr_server.mcp_url, oauth=OAuthSpec(client_id="pre-registered"))
    svc = service(app)
    result, _ = await authorize_with_browser(lambda on_url: svc.authorize("acme", on_url=on_url))
    assert result.client_id == "pre-registered" and not result.registered
    assert (await no_dcr_server.stats()).get("register", 0) == 0
    token = CredentialStore(app.store).token("acme")
    assert token is not None and token.client_id == "pre-registered"


async def test_without_registration_or_client_id_the_error_says_how_to_configure_one(
    app: App, no_dcr_server: OAuthServer
) -> None:
    add_remote(app, "acme", no_dcr_server.mcp_url)
    with pytest.raises(OAuthClientRequiredError) as caught:
        await service(app).authorize("acme", on_url=lambda url: None)
    assert "offers no dynamic client registration" in caught.value.message
    assert "--client-id" in (caught.value.hint or "")
    assert CredentialStore(app.store).stored() == []


async def test_an_authorization_server_refusal_is_reported_and_nothing_is_stored(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    svc = service(app)

    async def deny(url: str) -> httpx.Response:
        return await act_as_browser(url, action="deny")

    with pytest.raises(OAuthError) as caught:
        await authorize_with_browser(
            lambda on_url: svc.authorize("acme", on_url=on_url), browser=deny
        )
    assert "access_denied" in caught.value.message and "the user said no" in caught.value.message
    assert caught.value.hint == "run 'mcpkit oauth authorize acme' again and approve the request"
    assert CredentialStore(app.store).stored() == []


async def test_a_callback_with_the_wrong_state_is_refused_and_nothing_is_stored(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    svc = service(app)

    async def forged(url: str) -> httpx.Response:
        redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        async with httpx.AsyncClient() as browser:
            return await browser.get(redirect, params={"code": "stolen", "state": "forged"})

    with pytest.raises(OAuthError) as caught:
        await authorize_with_browser(
            lambda on_url: svc.authorize("acme", on_url=on_url), browser=forged
        )
    assert "wrong state" in caught.value.message
    assert CredentialStore(app.store).stored() == []


async def test_an_authorization_not_completed_in_time_times_out_cleanly(
    app: App, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)

    async def absent(url: str) -> None:
        return None

    with pytest.raises(OAuthTimeoutError) as caught:
        await authorize_with_browser(
            lambda on_url: service(app).authorize("acme", on_url=on_url, approval_timeout=0.5),
            browser=absent,
        )
    assert "not completed within 0.5 s" in caught.value.message
    assert "--timeout" in (caught.value.hint or "")
    assert CredentialStore(app.store).stored() == []


async def test_resource_metadata_for_another_resource_is_refused(app: App) -> None:
    with running_server("--prm-resource", "http://127.0.0.1:9/other") as server:
        add_remote(app, "acme", server.mcp_url)
        with pytest.raises(OAuthDiscoveryError) as caught:
            await service(app).authorize("acme", on_url=lambda url: None)
    assert "is for 'http://127.0.0.1:9/other', not for the server's URL" in caught.value.message
    assert caught.value.code == "oauth-discovery-failed"
    assert CredentialStore(app.store).stored() == []


async def test_an_authorization_server_without_pkce_s256_is_refused(app: App) -> None:
    with running_server("--no-s256") as server:
        add_remote(app, "acme", server.mcp_url)
        with pytest.raises(OAuthDiscoveryError) as caught:
            await service(app).authorize("acme", on_url=lambda url: None)
        assert (await server.stats()).get("register", 0) == 0
    assert "does not declare PKCE S256 support" in caught.value.message
    assert CredentialStore(app.store).stored() == []


async def test_a_server_without_any_oauth_metadata_is_reported(
    app: App, oauth_server: OAuthServer
) -> None:
    # A path of the MCP server that is not protected: no challenge, no metadata anywhere.
    add_remote(app, "plain", oauth_server.mcp_url.removesuffix("/mcp") + "/nothing")
    with pytest.raises(OAuthDiscoveryError) as caught:
        await service(app).authorize("plain", on_url=lambda url: None)
    assert "publishes no OAuth metadata" in caught.value.message


async def test_oauth_is_refused_for_local_and_unknown_servers(app: App) -> None:
    from mcpkit.catalog.model import CommandSource, ServerSpec
    from mcpkit.oauth.errors import NotRemoteError

    spec = ServerSpec(id="local", title="l", source=CommandSource(command="true"))
    app.profiles.add_server("default", "local", spec=spec)
    with pytest.raises(NotRemoteError) as caught:
        await service(app).authorize("local", on_url=lambda url: None)
    assert "is not remote" in caught.value.message
    with pytest.raises(UnknownServerError):
        await service(app).authorize("nowhere", on_url=lambda url: None)
    assert remote_spec("x", "https://e.example").is_remote
