"""The authorization code flow with PKCE, from discovery to stored tokens.

:func:`authorize` discovers the authorization server, settles the client (see
:mod:`.registration`), opens the loopback listener, hands the authorization URL to the
caller (who prints it, and opens a browser when one is there), waits for the browser
to come back, checks ``state`` (and ``iss``, RFC 9207), exchanges the code with the
PKCE verifier and the resource indicator, and stores the client and the tokens. Any
failure before the end stores nothing.
"""

from __future__ import annotations

import os
import sys
import time
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio

from mcpkit.errors import SecretStoreError
from mcpkit.oauth import _protocol
from mcpkit.oauth._http import ClientFactory, TokenEndpointError, clip, post_form, token_fields
from mcpkit.oauth.callback import listening
from mcpkit.oauth.credentials import CredentialStore
from mcpkit.oauth.discovery import Discovery, discover
from mcpkit.oauth.errors import OAuthError, OAuthTimeoutError
from mcpkit.oauth.model import ClientRecord, TokenRecord
from mcpkit.oauth.registration import configured_client, register, reusable

#: How long the user has to approve in the browser, by default.
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class AuthorizeRequest:
    """What to authorize: one server, in one scope, with the user's choices."""

    server: str
    url: str
    #: ``""`` for the global scope, else the profile the credential belongs to.
    scope: str = ""
    #: Scopes added to the server's own (the spec's and the user's ``--scopes``).
    extra_scopes: Sequence[str] = ()
    client_id: str | None = None
    authorization_server: str | None = None
    #: The loopback port; None: the port of a stored registration if free, else any.
    port: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    open_browser: bool = False


@dataclass(frozen=True)
class AuthorizeResult:
    """What was stored (never a token)."""

    server: str
    scope: str
    issuer: str
    client_id: str
    registered: bool
    scopes: list[str] = field(default_factory=list)
    expires_at: float | None = None


async def authorize(
    request: AuthorizeRequest,
    credentials: CredentialStore,
    client_factory: ClientFactory,
    *,
    on_url: Callable[[str], None],
    open_url: Callable[[str], bool] | None = None,
) -> AuthorizeResult:
    """Run the whole flow for ``request``; returns once the tokens are stored."""
    async with client_factory() as http:
        found = await discover(http, request.url, authorization_server=request.authorization_server)
        scopes = list(dict.fromkeys([*found.default_scopes(), *request.extra_scopes]))
        stored = _stored_client(credentials, request)
        port, fallback = _port(request, stored)
        async with listening(port, fallback=fallback) as listener:
            redirect_uri = listener.redirect_uri
            registered = False
            if request.client_id:
                client = configured_client(request.client_id, found.issuer)
            elif stored is not None and reusable(stored, found.issuer, redirect_uri, scopes):
                client = stored
            else:
                client = await register(
                    http, found.metadata, redirect_uri=redirect_uri, scopes=scopes
                )
                registered = True
            verifier = _protocol.new_code_verifier()
            state = _protocol.new_state()
            url = _protocol.authorization_url(
                found.metadata.authorization_endpoint,
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                state=state,
                challenge=_protocol.code_challenge(verifier),
                resource=found.resource,
            )
            on_url(url)
            if request.open_browser and open_url is not None:
                open_url(url)
            try:
                with anyio.fail_after(request.timeout):
                    params = await listener.wait()
            except TimeoutError:
                raise OAuthTimeoutError(
                    f"the authorization of {request.server!r} was not completed within "
                    f"{request.timeout:g} s; nothing was stored",
                    hint="run the command again and approve in the browser sooner, or give "
                    "more time with --timeout SECONDS",
                ) from None
        code = _checked_code(params, state, found, request.server)
        token_request = _protocol.token_request(
            client,
            "authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
            resource=found.resource,
        )
        try:
            data = await post_form(
                http,
                found.metadata.token_endpoint,
                token_request,
                what="exchanging the authorization code",
            )
        except TokenEndpointError as exc:
            raise OAuthError(
                f"the authorization server refused the authorization code of "
                f"{request.server!r}: {exc.explain()}; nothing was stored",
                hint=f"run 'mcpkit oauth authorize {request.server}' again",
            ) from None
    now = time.time()
    fields = token_fields(data, now=now)
    fields.setdefault("scopes", scopes)
    record = TokenRecord(
        server=request.server,
        resource=found.resource,
        issuer=found.issuer,
        token_endpoint=found.metadata.token_endpoint,
        revocation_endpoint=found.metadata.revocation_endpoint,
        client_id=client.client_id,
        obtained_at=now,
        **fields,
    )
    credentials.save_client(request.server, request.scope, client)
    credentials.save_token(request.server, request.scope, record)
    return AuthorizeResult(
        server=request.server,
        scope=request.scope,
        issuer=found.issuer,
        client_id=client.client_id,
        registered=registered,
        scopes=list(record.scopes),
        expires_at=record.expires_at,
    )


def _stored_client(credentials: CredentialStore, request: AuthorizeRequest) -> ClientRecord | None:
    try:
        return credentials.client(request.server, request.scope)
    except SecretStoreError:
        # An unreadable registration is replaced by a new one at the end of the flow.
        return None


def _port(request: AuthorizeRequest, stored: ClientRecord | None) -> tuple[int, bool]:
    """The port to listen on, and whether another one will do when it is taken."""
    if request.port is not None:
        return request.port, False
    if stored is not None and stored.dynamic and stored.redirect_uri:
        # The registered redirect URI's port, if free, saves a new registration.
        return urlsplit(stored.redirect_uri).port or 0, True
    return 0, False


def _checked_code(params: Mapping[str, str], state: str, found: Discovery, server: str) -> str:
    if "error" in params:
        detail = clip(params["error"], 64)
        if params.get("error_description"):
            detail += f" ({clip(params['error_description'], 200)})"
        raise OAuthError(
            f"the authorization server refused to authorize {server!r}: {detail}; "
            "nothing was stored",
            hint=f"run 'mcpkit oauth authorize {server}' again and approve the request",
        )
    if params.get("state") != state:
        raise OAuthError(
            f"the authorization response for {server!r} carried the wrong state; it was not "
            "the answer to this request (possible forgery), so it was refused and nothing "
            "was stored",
            hint=f"run 'mcpkit oauth authorize {server}' again",
        )
    iss = params.get("iss")
    if (iss is not None and iss.rstrip("/") != found.issuer.rstrip("/")) or (
        iss is None and found.metadata.authorization_response_iss_parameter_supported
    ):
        raise OAuthError(
            f"the authorization response for {server!r} came from another issuer than "
            f"{found.issuer!r} (RFC 9207); nothing was stored",
            hint=f"run 'mcpkit oauth authorize {server}' again",
        )
    code = params.get("code")
    if not code:
        raise OAuthError(
            f"the authorization response for {server!r} has no code; nothing was stored",
            hint=f"run 'mcpkit oauth authorize {server}' again",
        )
    return code


def open_in_browser(url: str, environ: Mapping[str, str] | None = None) -> bool:
    """Open ``url`` in a graphical browser when one is there; True if it was opened.

    On Linux only with a display: a console browser would take over the terminal
    the URL was just printed to.
    """
    env = os.environ if environ is None else environ
    if sys.platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False
