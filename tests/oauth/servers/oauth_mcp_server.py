"""A real OAuth authorization server and the MCP server it protects, for tests.

Run it as a subprocess::

    python tests/oauth/servers/oauth_mcp_server.py --port 0 [--mcp-port 0] [options]

It prints one JSON line when both ports listen::

    {"issuer": "http://127.0.0.1:P", "mcp_url": "http://127.0.0.1:Q/mcp",
     "control": "http://127.0.0.1:P/test"}

The authorization server is the MCP SDK's ``mcp.server.auth`` routes (metadata, DCR,
authorize, token, revoke) over :class:`MemoryProvider`, an in-memory provider whose
``authorize`` sends the browser to a consent page the test must approve. The MCP server
is an SDK ``MCPServer`` (streamable HTTP, JSON responses, stateless) that checks every
bearer token against the same provider and the RFC 8707 resource, serves its protected
resource metadata (RFC 9728) and answers 401 with ``WWW-Authenticate``.

Test-only control endpoints on the authorization server:
``POST /test/expire-access-tokens``, ``POST /test/invalidate-refresh-tokens``,
``GET /test/stats`` (calls of register/authorize/token/refresh/revoke and 401s).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import secrets
import socket
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from mcp.server.auth.handlers.revoke import RevocationRequest
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    ProviderTokenVerifier,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import build_metadata, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl, AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# mcp 2.3.0's RevocationRequest declares ``client_secret: str | None`` without a default,
# so a public client (no secret, RFC 7009 §2.1) is refused with "client_secret: Field
# required". Real servers accept public clients here; give the field its None default.
RevocationRequest.model_fields["client_secret"].default = None
RevocationRequest.model_rebuild(force=True)


class LoopbackClient(OAuthClientInformationFull):
    """A pre-registered public client: any loopback port is fine (RFC 8252 §7.3)."""

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        if redirect_uri is None:
            raise ValueError("redirect_uri is required")
        parts = urlsplit(str(redirect_uri))
        if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.path != "/callback":
            return super().validate_redirect_uri(redirect_uri)
        return redirect_uri


class MemoryProvider:
    """Clients, pending authorizations, codes and tokens, in memory."""

    def __init__(self, issuer: str, expires_in: int, scopes: list[str]) -> None:
        self.issuer = issuer
        self.expires_in = expires_in
        self.scopes = scopes
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.pending: dict[str, tuple[str, AuthorizationParams]] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.stats: Counter[str] = Counter()

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.stats["register"] += 1
        self.clients[client_info.client_id or ""] = client_info

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        self.stats["authorize"] += 1
        tx = secrets.token_urlsafe(16)
        self.pending[tx] = (client.client_id or "", params)
        return f"{self.issuer}/consent?tx={tx}"

    def approve(self, tx: str) -> str:
        client_id, params = self.pending.pop(tx)
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    def deny(self, tx: str) -> str:
        _, params = self.pending.pop(tx)
        return construct_redirect_uri(
            str(params.redirect_uri),
            error="access_denied",
            error_description="the user said no",
            state=params.state,
        )

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code and code.client_id == client.client_id else None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self.stats["token"] += 1
        self.codes.pop(authorization_code.code, None)
        return self._issue(
            client.client_id or "", authorization_code.scopes, authorization_code.resource
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token and token.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        self.stats["refresh"] += 1
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError("invalid_grant", "refresh token already used")
        for token, access in list(self.access.items()):
            if access.client_id == client.client_id:
                del self.access[token]
        return self._issue(client.client_id or "", scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        return self.access.get(token)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.stats["revoke"] += 1
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)

    async def exchange_identity_assertion(self, client: Any, params: Any) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "not supported here")

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires_at = int(time.time()) + self.expires_in
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=expires_at,
            resource=resource,
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource
        )
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.expires_in,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )


_CONSENT = """<!doctype html><html><body><h1>Allow {client} to use the MCP server?</h1>
<p>Scopes: {scopes}</p>
<form method="post" action="/consent"><input type="hidden" name="tx" value="{tx}">
<button name="action" value="approve">Approve</button>
<button name="action" value="deny">Deny</button></form></body></html>"""


def control_routes(provider: MemoryProvider) -> list[Route]:
    """The consent page and the test-only control endpoints."""

    async def consent_page(request: Request) -> Response:
        tx = request.query_params.get("tx", "")
        if tx not in provider.pending:
            return HTMLResponse("unknown authorization request", status_code=400)
        client_id, params = provider.pending[tx]
        return HTMLResponse(
            _CONSENT.format(
                client=html.escape(client_id),
                scopes=html.escape(" ".join(params.scopes or [])),
                tx=html.escape(tx),
            )
        )

    async def consent(request: Request) -> Response:
        form = await request.form()
        tx = str(form.get("tx", ""))
        if tx not in provider.pending:
            return HTMLResponse("unknown authorization request", status_code=400)
        action = form.get("action")
        target = provider.approve(tx) if action == "approve" else provider.deny(tx)
        return RedirectResponse(target, status_code=302)

    async def expire(request: Request) -> Response:
        for token in provider.access.values():
            token.expires_at = int(time.time()) - 1
        return JSONResponse({"expired": len(provider.access)})

    async def invalidate(request: Request) -> Response:
        count = len(provider.refresh)
        provider.refresh.clear()
        return JSONResponse({"invalidated": count})

    async def stats(request: Request) -> Response:
        return JSONResponse(dict(provider.stats))

    return [
        Route("/consent", consent_page, methods=["GET"]),
        Route("/consent", consent, methods=["POST"]),
        Route("/test/expire-access-tokens", expire, methods=["POST"]),
        Route("/test/invalidate-refresh-tokens", invalidate, methods=["POST"]),
        Route("/test/stats", stats, methods=["GET"]),
    ]


class ChallengeScope:
    """Adds ``scope="…"`` to the MCP server's ``WWW-Authenticate`` and counts 401s."""

    def __init__(self, app: ASGIApp, scope: str | None, provider: MemoryProvider) -> None:
        self.app = app
        self.scope = scope
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.provider.stats["401"] += 1
                if self.scope:
                    headers = []
                    extra = f', scope="{self.scope}"'.encode()
                    for name, value in message["headers"]:
                        challenge = name.lower() == b"www-authenticate"
                        headers.append((name, value + extra if challenge else value))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapped)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def build(
    args: argparse.Namespace, as_sock: socket.socket, mcp_sock: socket.socket
) -> tuple[Starlette, ASGIApp, dict[str, str]]:
    """Both apps, wired to one provider."""
    issuer = f"http://127.0.0.1:{as_sock.getsockname()[1]}"
    mcp_url = f"http://127.0.0.1:{mcp_sock.getsockname()[1]}/mcp"
    scopes = args.scopes.split()
    provider = MemoryProvider(issuer, args.expires_in, scopes)
    for client_id in args.client_id:
        provider.clients[client_id] = LoopbackClient(
            client_id=client_id,
            redirect_uris=[AnyUrl("http://127.0.0.1/callback")],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            scope=" ".join(scopes),
        )
    registration = ClientRegistrationOptions(enabled=not args.no_dcr, valid_scopes=scopes)
    revocation = RevocationOptions(enabled=not args.no_revocation)
    routes = create_auth_routes(
        provider,
        AnyHttpUrl(issuer),
        client_registration_options=registration,
        revocation_options=revocation,
    )
    if args.no_s256:
        metadata = build_metadata(AnyHttpUrl(issuer), None, registration, revocation)
        document = metadata.model_dump(mode="json", exclude_none=True)
        document.pop("code_challenge_methods_supported", None)

        async def weak_metadata(request: Request) -> Response:
            return JSONResponse(document)

        routes.insert(0, Route("/.well-known/oauth-authorization-server", weak_metadata))
    auth_app = Starlette(routes=[*routes, *control_routes(provider)])

    server = MCPServer(
        "oauth-test",
        token_verifier=ProviderTokenVerifier(provider),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(issuer),
            resource_server_url=AnyHttpUrl(mcp_url),
            required_scopes=scopes,
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def whoami() -> dict[str, Any]:
        """The client id, scopes and resource of the caller's access token."""
        token = get_access_token()
        if token is None:
            return {"client_id": None}
        return {"client_id": token.client_id, "scopes": token.scopes, "resource": token.resource}

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text."""
        return text

    mcp_app = server.streamable_http_app(json_response=True, stateless_http=True)
    if args.prm_resource:
        prm_path = "/.well-known/oauth-protected-resource/mcp"
        prm = {"resource": args.prm_resource, "authorization_servers": [issuer]}

        async def wrong_prm(request: Request) -> Response:
            return JSONResponse(prm)

        mcp_app.router.routes.insert(0, Route(prm_path, wrong_prm))
    wrapped = ChallengeScope(mcp_app, args.challenge_scope, provider)
    info = {"issuer": issuer, "mcp_url": mcp_url, "control": f"{issuer}/test"}
    return auth_app, wrapped, info


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="authorization server port")
    parser.add_argument("--mcp-port", type=int, default=0, help="MCP server port")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--scopes", default="mcp:read mcp:write")
    parser.add_argument("--challenge-scope", help="scope=… in the 401's WWW-Authenticate")
    parser.add_argument("--client-id", action="append", default=[], help="pre-registered id")
    parser.add_argument("--no-dcr", action="store_true", help="no dynamic registration")
    parser.add_argument("--no-revocation", action="store_true", help="no revocation endpoint")
    parser.add_argument("--no-s256", action="store_true", help="metadata without PKCE S256")
    parser.add_argument("--prm-resource", help="serve resource metadata for this resource")
    args = parser.parse_args(argv)
    as_sock, mcp_sock = _listen(args.port), _listen(args.mcp_port)
    auth_app, mcp_app, info = build(args, as_sock, mcp_sock)
    servers = [
        uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
        for app, lifespan in ((auth_app, "off"), (mcp_app, "on"))
    ]
    # The sockets listen already: a client connecting before uvicorn accepts just waits.
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    await asyncio.gather(servers[0].serve(sockets=[as_sock]), servers[1].serve(sockets=[mcp_sock]))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
