"""OAuth 2.1 wire pieces, from authlib's transport-independent helpers.

authlib encodes what RFC 6749 (authorization URL, token request), RFC 7636 (PKCE S256),
RFC 7009 (revocation request) and client authentication (``none``,
``client_secret_post``, ``client_secret_basic``) put on the wire. Its HTTP client
classes are not used: with ``httpx2`` installed (the MCP SDK brings it) authlib's
``AsyncOAuth2Client`` is an ``httpx2`` client and cannot run over mcpkit's guarded
``httpx`` transport, and every request must go through the SSRF guard.

The functions here are pure: they build URLs, headers and bodies, nothing is sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import cast
from urllib.parse import parse_qsl, quote

from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import (
    prepare_grant_uri,
    prepare_token_request,
)
from authlib.oauth2.rfc7009.parameters import (
    prepare_revoke_token_request,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from mcpkit.oauth.model import ClientRecord

#: Form-encoded request: headers and the body's fields (httpx encodes them).
FormRequest = tuple[dict[str, str], dict[str, str]]


def new_state() -> str:
    """A random ``state`` (256 bits), checked when the browser comes back."""
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    """A PKCE code verifier: 64 characters of the unreserved set (RFC 7636 §4.1)."""
    return secrets.token_urlsafe(48)


def code_challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier."""
    return cast("str", create_s256_code_challenge(verifier))


def authorization_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    challenge: str,
    resource: str,
) -> str:
    """The URL the user opens: authorization code request with PKCE S256 and a resource."""
    return cast(
        "str",
        prepare_grant_uri(
            endpoint,
            client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=list(scopes) or None,
            state=state,
            code_challenge=challenge,
            code_challenge_method="S256",
            resource=resource,
        ),
    )


def token_request(client: ClientRecord, grant_type: str, **params: str | None) -> FormRequest:
    """Headers and form fields of a token request, with the client's authentication."""
    fields = {k: v for k, v in params.items() if v}
    # The client id goes in the body for every method: public clients need it there,
    # and some servers (the MCP SDK's) look the client up by it before checking a secret.
    body = prepare_token_request(grant_type, client_id=client.client_id, **fields)
    return _authenticated(client, body)


def revocation_request(client: ClientRecord, token: str, hint: str) -> FormRequest:
    """Headers and form fields of an RFC 7009 revocation request."""
    body, _ = prepare_revoke_token_request(token, hint)
    body = f"{body}&client_id={_quote(client.client_id)}"
    return _authenticated(client, body)


def _authenticated(client: ClientRecord, body: str) -> FormRequest:
    method = client.token_endpoint_auth_method
    if method not in ("none", "client_secret_post", "client_secret_basic") or (
        method != "none" and not client.client_secret
    ):
        method = "none"
    headers: dict[str, str] = {}
    auth = ClientAuth(client.client_id, client.client_secret, method)
    _, headers, encoded = auth.prepare("POST", "", headers, body)
    fields: dict[str, str] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        # encode_client_secret_post appends client_id again: keep the first.
        fields.setdefault(key, value)
    headers["Accept"] = "application/json"
    return headers, fields


def _quote(value: str) -> str:
    return quote(value, safe="")
