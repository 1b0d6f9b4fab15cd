"""Discovery: from a server URL to its authorization server's metadata (MCP 2025-11-25).

1. An unauthenticated ``initialize`` POST (or the 401 the caller already has) gives
   ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"``.
2. Protected resource metadata (RFC 9728): the ``resource_metadata`` URL, else
   ``/.well-known/oauth-protected-resource/<path>``, else the root form. Its
   ``resource`` must be the server URL or a parent of it on the same origin.
3. The authorization server: the spec's ``oauth.authorization_server`` when set, else
   the first of the metadata's ``authorization_servers``; with no metadata at all, the
   server's origin (the 2025-03-26 fallback).
4. Its metadata, in the spec's order: RFC 8414 with the path inserted, OpenID Connect
   with the path inserted, OpenID Connect with the path appended (an issuer without a
   path has the first two). The ``issuer`` must be the one asked for, and
   ``code_challenge_methods_supported`` must list ``S256``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from mcpkit import __version__
from mcpkit.oauth._http import PROTOCOL_VERSION, get_json, transport_error
from mcpkit.oauth.errors import OAuthDiscoveryError
from mcpkit.oauth.model import ResourceMetadata, ServerMetadata
from mcpkit.transport.netguard import describe_url

M = TypeVar("M", bound=BaseModel)

_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Discovery:
    """What discovery found for one server."""

    #: The resource indicator (RFC 8707) to ask tokens for.
    resource: str
    resource_metadata: ResourceMetadata | None
    metadata: ServerMetadata
    #: Scopes the server named in its ``WWW-Authenticate`` challenge, if any.
    challenge_scopes: list[str] | None

    @property
    def issuer(self) -> str:
        """The authorization server's issuer identifier."""
        return self.metadata.issuer

    def default_scopes(self) -> list[str]:
        """The scopes to ask for: the challenge's, else the resource metadata's."""
        if self.challenge_scopes is not None:
            return list(self.challenge_scopes)
        if self.resource_metadata and self.resource_metadata.scopes_supported:
            return list(self.resource_metadata.scopes_supported)
        return []


def canonical_url(url: str) -> str:
    """The canonical form of a server URL: lower-case scheme and host, no default port,
    no fragment, no lone trailing ``/``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    path = "" if parts.path == "/" else parts.path
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def parse_challenge(header: str | None) -> dict[str, str]:
    """The parameters of the ``Bearer`` challenge in a ``WWW-Authenticate`` value."""
    if not header:
        return {}
    match = re.search(r"(?i)\bbearer\b", header)
    if match is None:
        return {}
    rest = header[match.end() :]
    # Another scheme's challenge after this one ends the Bearer parameters.
    other = re.search(r",\s*[A-Za-z][A-Za-z0-9_-]*\s+[A-Za-z_][A-Za-z0-9_-]*\s*=", rest)
    if other:
        rest = rest[: other.start()]
    return {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace(
            '\\"', '"'
        )
        for m in _PARAM.finditer(rest)
    }


def resource_metadata_urls(server_url: str, hinted: str | None) -> list[str]:
    """Where to look for a server's protected resource metadata, in order."""
    parts = urlsplit(server_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    urls = [hinted] if hinted else []
    path = parts.path.rstrip("/")
    if path:
        urls.append(f"{origin}/.well-known/oauth-protected-resource{path}")
    urls.append(f"{origin}/.well-known/oauth-protected-resource")
    return list(dict.fromkeys(urls))


def server_metadata_urls(issuer: str) -> list[str]:
    """Where to look for an authorization server's metadata, in the MCP spec's order."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if not path:
        return [
            f"{origin}/.well-known/oauth-authorization-server",
            f"{origin}/.well-known/openid-configuration",
        ]
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}/.well-known/openid-configuration{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


def resource_matches(resource: str, server_url: str) -> bool:
    """True when ``resource`` is the server URL or a parent path of it on the same origin."""
    want, got = urlsplit(canonical_url(server_url)), urlsplit(canonical_url(resource))
    if (want.scheme, want.netloc) != (got.scheme, got.netloc) or got.query:
        return False
    parent = got.path.rstrip("/")
    return want.path.rstrip("/") == parent or want.path.startswith(parent + "/")


async def probe(client: httpx.AsyncClient, server_url: str) -> httpx.Response:
    """Send an unauthenticated ``initialize``; the response's status and headers only."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcpkit", "version": __version__},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    try:
        # Streamed so an event-stream answer is not read: only the headers matter here.
        async with client.stream("POST", server_url, json=body, headers=headers) as response:
            session = response.headers.get("mcp-session-id")
        if session and response.status_code < 300:
            # The server let us in without a token: end the session we opened.
            await client.delete(server_url, headers={"mcp-session-id": session})
    except httpx.HTTPError as exc:
        raise transport_error(exc, server_url, "asking the server for its OAuth challenge") from exc
    return response


async def discover(
    client: httpx.AsyncClient,
    server_url: str,
    *,
    authorization_server: str | None = None,
    challenge: httpx.Response | None = None,
) -> Discovery:
    """Find the authorization server of ``server_url`` and its metadata (see the module)."""
    response = challenge if challenge is not None else await probe(client, server_url)
    params = parse_challenge(response.headers.get("www-authenticate"))
    scope = params.get("scope")
    challenge_scopes = scope.split() if scope is not None else None
    prm = await _resource_metadata(client, server_url, params.get("resource_metadata"))
    resource = prm.resource if prm is not None else canonical_url(server_url)
    if authorization_server:
        issuer = authorization_server
    elif prm is not None and prm.authorization_servers:
        issuer = prm.authorization_servers[0]
    elif prm is not None:
        raise OAuthDiscoveryError(
            f"the protected resource metadata of {describe_url(server_url)} names no "
            "authorization server",
            hint="set source.oauth.authorization_server in the server's catalog entry",
        )
    else:
        parts = urlsplit(server_url)
        issuer = f"{parts.scheme}://{parts.netloc}"
    metadata = await _server_metadata(client, issuer, legacy=prm is None)
    return Discovery(resource, prm, metadata, challenge_scopes)


async def _resource_metadata(
    client: httpx.AsyncClient, server_url: str, hinted: str | None
) -> ResourceMetadata | None:
    for url in resource_metadata_urls(server_url, hinted):
        status, data = await get_json(client, url, what="fetching protected resource metadata")
        if status != 200:
            continue
        prm = _validated(ResourceMetadata, data, url, "protected resource metadata (RFC 9728)")
        if not resource_matches(prm.resource, server_url):
            raise OAuthDiscoveryError(
                f"the protected resource metadata at {describe_url(url)} is for "
                f"{prm.resource!r}, not for the server's URL {canonical_url(server_url)!r}",
                hint="check the server's URL in its catalog entry; a server must not hand out "
                "another resource's metadata (nothing was stored)",
            )
        return prm
    return None


async def _server_metadata(
    client: httpx.AsyncClient, issuer: str, *, legacy: bool
) -> ServerMetadata:
    tried: list[str] = []
    for url in server_metadata_urls(issuer):
        status, data = await get_json(client, url, what="fetching authorization server metadata")
        tried.append(f"{describe_url(url)} ({status})")
        if status != 200:
            continue
        metadata = _validated(ServerMetadata, data, url, "authorization server metadata")
        if metadata.issuer.rstrip("/") != issuer.rstrip("/"):
            raise OAuthDiscoveryError(
                f"the authorization server metadata at {describe_url(url)} names issuer "
                f"{metadata.issuer!r}, not {issuer!r} (RFC 8414 §3.3)",
                hint="the metadata may be forged or misconfigured; nothing was stored",
            )
        if "S256" not in (metadata.code_challenge_methods_supported or []):
            raise OAuthDiscoveryError(
                f"the authorization server {issuer!r} does not declare PKCE S256 support "
                "(code_challenge_methods_supported), which MCP requires",
                hint="ask the server's operator to enable PKCE S256; mcpkit will not "
                "authorize without it",
            )
        return metadata
    if legacy:
        raise OAuthDiscoveryError(
            f"the server at {describe_url(issuer)} publishes no OAuth metadata (neither "
            "protected resource metadata nor authorization server metadata)",
            hint="the server may not use OAuth; if it does, set "
            "source.oauth.authorization_server in its catalog entry",
        )
    raise OAuthDiscoveryError(
        f"no authorization server metadata found for {issuer!r}; tried {', '.join(tried)}",
        hint="check the authorization server URL (source.oauth.authorization_server)",
    )


def _validated(model: type[M], data: object, url: str, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise OAuthDiscoveryError(
            f"the {what} at {describe_url(url)} is invalid: {where}: {first['msg']}",
            hint="report this to the server's operator; nothing was stored",
        ) from None
