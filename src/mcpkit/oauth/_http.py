"""HTTP for the OAuth client: JSON documents and token-endpoint calls over guarded clients.

Every request goes through a client from a :data:`ClientFactory` (by default
:func:`mcpkit.transport.netguard.guarded_client`), so metadata URLs, registration,
token and revocation endpoints named by a remote are held to the SSRF guard like the
server itself. httpx errors become mcpkit errors here, where httpx is called; a
response body is quoted only through :func:`_short`, and never for token answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from mcpkit.oauth._protocol import FormRequest
from mcpkit.oauth.errors import OAuthError
from mcpkit.oauth.model import TokenRecord
from mcpkit.transport.netguard import RemotePolicy, describe_url, guarded_client

#: Makes a fresh HTTP client; the caller closes it.
ClientFactory = Callable[[], httpx.AsyncClient]

#: The protocol version sent on discovery requests (MCP-Protocol-Version).
PROTOCOL_VERSION = "2025-11-25"
_MAX_DOCUMENT = 256 * 1024


def default_factory(policy: RemotePolicy | None = None) -> ClientFactory:
    """A factory of guarded clients (public HTTPS only unless ``policy`` lifts it)."""
    chosen = policy or RemotePolicy()
    return lambda: guarded_client(chosen)


def transport_error(exc: httpx.HTTPError, url: str, what: str) -> OAuthError:
    """An :class:`OAuthError` for an httpx failure while doing ``what`` at ``url``."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return OAuthError(
        f"{what} at {describe_url(url)} {kind}: {type(exc).__name__}",
        hint="check the URL and your network; retry when the server is reachable",
    )


async def get_json(client: httpx.AsyncClient, url: str, *, what: str) -> tuple[int, Any]:
    """GET a JSON document: ``(status, parsed body or None)``; httpx errors raise OAuthError."""
    try:
        response = await client.get(
            url,
            headers={"Accept": "application/json", "MCP-Protocol-Version": PROTOCOL_VERSION},
            follow_redirects=True,
        )
    except httpx.HTTPError as exc:
        raise transport_error(exc, url, what) from exc
    if response.status_code != 200:
        return response.status_code, None
    return 200, _parse(response)


def _parse(response: httpx.Response) -> Any:
    if len(response.content) > _MAX_DOCUMENT:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


@dataclass(frozen=True)
class TokenEndpointError(Exception):
    """The token endpoint refused a request (``error`` is its RFC 6749 §5.2 code)."""

    error: str
    description: str | None
    status: int

    def explain(self) -> str:
        """``invalid_grant (the refresh token was revoked)`` — safe to show."""
        return f"{self.error} ({self.description})" if self.description else self.error


async def post_form(
    client: httpx.AsyncClient,
    url: str,
    request: FormRequest,
    *,
    what: str,
    expect_json: bool = True,
) -> dict[str, Any]:
    """POST a form to a token-style endpoint; its JSON object, or TokenEndpointError.

    Without ``expect_json`` (revocation, RFC 7009 §2.2) any 200 answer is success.
    """
    headers, fields = request
    try:
        response = await client.post(url, data=fields, headers=headers)
    except httpx.HTTPError as exc:
        raise transport_error(exc, url, what) from exc
    data = _parse(response)
    if response.status_code == 200 and isinstance(data, dict):
        return data
    if response.status_code == 200 and not expect_json:
        return {}
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        description = data.get("error_description")
        raise TokenEndpointError(
            clip(data["error"], 64),
            clip(description, 200) if isinstance(description, str) else None,
            response.status_code,
        )
    raise TokenEndpointError("http_error", f"HTTP {response.status_code}", response.status_code)


def clip(text: str, limit: int) -> str:
    """Printable, bounded text from a remote answer."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def token_fields(data: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """The TokenRecord fields of a token response (RFC 6749 §5.1); OAuthError if unusable."""
    access = data.get("access_token")
    token_type = data.get("token_type", "Bearer")
    if not isinstance(access, str) or not access:
        raise OAuthError(
            "the authorization server's token response has no access_token",
            hint="report this to the server's operator; nothing was stored",
        )
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise OAuthError(
            f"the authorization server issued a {clip(str(token_type), 32)!r} token; "
            "mcpkit supports Bearer tokens only",
            hint="report this to the server's operator; nothing was stored",
        )
    fields: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
    refresh = data.get("refresh_token")
    if isinstance(refresh, str) and refresh:
        fields["refresh_token"] = refresh
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        fields["expires_at"] = (now if now is not None else time.time()) + float(expires_in)
    else:
        fields["expires_at"] = None
    scope = data.get("scope")
    if isinstance(scope, str):
        fields["scopes"] = scope.split()
    return fields


def refreshed(record: TokenRecord, data: dict[str, Any], now: float) -> TokenRecord:
    """``record`` updated by a refresh response; the old refresh token stays if none came."""
    fields = token_fields(data, now=now)
    fields.setdefault("refresh_token", record.refresh_token)
    fields.setdefault("scopes", record.scopes)
    fields.update(obtained_at=now, needs_authorization=False, problem=None)
    return record.model_copy(update=fields)
