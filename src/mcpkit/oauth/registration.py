"""Which OAuth client mcpkit acts as: configured, stored, or dynamically registered.

In order:

1. a client id the user configured (``--client-id``, else the spec's
   ``oauth.client_id``): a pre-registered public client;
2. a client mcpkit registered earlier for this server and scope, when it was issued by
   the same authorization server, for the same loopback redirect URI, and covers the
   scopes asked for;
3. a new registration (RFC 7591) when the authorization server offers one:
   ``client_name`` "mcpkit", the loopback redirect URI, ``authorization_code`` and
   ``refresh_token`` grants, no client authentication (PKCE protects the code) unless
   the server insists on issuing a secret;
4. else :class:`OAuthClientRequiredError`, whose hint says how to configure an id.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from mcpkit.oauth._http import clip, transport_error
from mcpkit.oauth.errors import OAuthClientRequiredError, OAuthError
from mcpkit.oauth.model import ClientRecord, ServerMetadata
from mcpkit.transport.netguard import describe_url

_GRANTS = ["authorization_code", "refresh_token"]


def reusable(
    stored: ClientRecord | None, issuer: str, redirect_uri: str, scopes: Sequence[str]
) -> bool:
    """True when a stored registered client can serve this authorization."""
    if stored is None or not stored.dynamic:
        return False
    if stored.issuer.rstrip("/") != issuer.rstrip("/") or stored.redirect_uri != redirect_uri:
        return False
    return not stored.scopes or set(scopes) <= set(stored.scopes)


def configured_client(client_id: str, issuer: str) -> ClientRecord:
    """The record of a pre-registered public client."""
    return ClientRecord(client_id=client_id, issuer=issuer, dynamic=False)


async def register(
    client: httpx.AsyncClient,
    metadata: ServerMetadata,
    *,
    redirect_uri: str,
    scopes: Sequence[str],
) -> ClientRecord:
    """Register mcpkit with the authorization server (RFC 7591)."""
    endpoint = metadata.registration_endpoint
    if endpoint is None:
        raise OAuthClientRequiredError(
            f"the authorization server {metadata.issuer!r} offers no dynamic client "
            "registration and no client id is configured",
            hint="register a client with the server's operator (redirect URI "
            f"{redirect_uri}), then pass --client-id ID or set source.oauth.client_id",
        )
    body: dict[str, object] = {
        "client_name": "mcpkit",
        "redirect_uris": [redirect_uri],
        "grant_types": _GRANTS,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    if scopes:
        body["scope"] = " ".join(scopes)
    try:
        response = await client.post(endpoint, json=body, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise transport_error(exc, endpoint, "registering mcpkit as an OAuth client") from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code not in (200, 201) or not isinstance(data, dict):
        detail = f"HTTP {response.status_code}"
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            detail = clip(data["error"], 64)
            if isinstance(data.get("error_description"), str):
                detail += f" ({clip(data['error_description'], 200)})"
        raise OAuthError(
            f"the authorization server at {describe_url(endpoint)} refused to register "
            f"mcpkit: {detail}",
            hint="pass a pre-registered --client-id ID, or ask the server's operator",
        )
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise OAuthError(
            f"the registration answer of {describe_url(endpoint)} has no client_id",
            hint="report this to the server's operator; nothing was stored",
        )
    secret = data.get("client_secret")
    method = data.get("token_endpoint_auth_method")
    if not isinstance(method, str):
        method = "client_secret_basic" if secret else "none"
    return ClientRecord(
        client_id=client_id,
        client_secret=secret if isinstance(secret, str) and secret else None,
        token_endpoint_auth_method=method,
        issuer=metadata.issuer,
        redirect_uri=redirect_uri,
        scopes=list(scopes),
        dynamic=True,
    )
