"""What the OAuth client reads from servers and keeps in the secret store.

Metadata documents (:class:`ResourceMetadata`, RFC 9728; :class:`ServerMetadata`, RFC
8414 / OpenID discovery) are untrusted input from the network: unknown members are
ignored, the members used are checked. :class:`ClientRecord` (a registered or
configured client) and :class:`TokenRecord` (the tokens of one server) are what the
credential store keeps as JSON; their secret fields are left out of ``repr`` so a log
line or a traceback never shows them.

Expiry maths is here too, as plain functions over plain data (:func:`token_state`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The states ``oauth ls`` and the broker report for a server's credential.
State = Literal["ok", "expiring", "expired", "needs-authorization", "none"]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if parts.fragment:
        raise ValueError(f"{value!r} has a fragment")
    return value


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ResourceMetadata(_Document):
    """OAuth 2.0 Protected Resource Metadata (RFC 9728) of an MCP server."""

    resource: str
    authorization_servers: list[str] = Field(default_factory=list)
    scopes_supported: list[str] | None = None

    @field_validator("resource")
    @classmethod
    def _resource_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("authorization_servers")
    @classmethod
    def _servers_are_urls(cls, value: list[str]) -> list[str]:
        return [_http_url(v) for v in value]


class ServerMetadata(_Document):
    """Authorization server metadata (RFC 8414, or OpenID Connect discovery)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    registration_endpoint: str | None = None
    revocation_endpoint: str | None = None
    scopes_supported: list[str] | None = None
    response_types_supported: list[str] | None = None
    code_challenge_methods_supported: list[str] | None = None
    token_endpoint_auth_methods_supported: list[str] | None = None
    authorization_response_iss_parameter_supported: bool | None = None

    @field_validator(
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "registration_endpoint",
        "revocation_endpoint",
    )
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ClientRecord(_Record):
    """An OAuth client of one authorization server: registered by mcpkit, or configured."""

    client_id: str = Field(min_length=1)
    client_secret: str | None = Field(default=None, repr=False)
    #: ``none`` (public client, PKCE only), ``client_secret_post`` or ``client_secret_basic``.
    token_endpoint_auth_method: str = "none"  # noqa: S105 - a method name
    #: The authorization server that issued (or knows) the client id.
    issuer: str
    #: The loopback redirect URI registered with the client (None: configured client).
    redirect_uri: str | None = None
    #: The scopes the client was registered for (empty: not restricted at registration).
    scopes: list[str] = Field(default_factory=list)
    #: True when mcpkit registered it (RFC 7591); False for a pre-registered client id.
    dynamic: bool = False
    registered_at: float = Field(default_factory=time.time)


class TokenRecord(_Record):
    """The tokens of one server in one scope, and what is needed to refresh or revoke them."""

    server: str
    #: The resource indicator (RFC 8707) the tokens were issued for.
    resource: str
    access_token: str = Field(min_length=1, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    token_type: str = "Bearer"  # noqa: S105 - a token type name
    #: Unix time the access token expires at; None when the server did not say.
    expires_at: float | None = None
    scopes: list[str] = Field(default_factory=list)
    issuer: str
    token_endpoint: str
    revocation_endpoint: str | None = None
    client_id: str
    obtained_at: float = Field(default_factory=time.time)
    #: Set when a refresh failed for good: the user must authorize again.
    needs_authorization: bool = False
    #: Why (never a token): "the authorization server refused the refresh (invalid_grant)".
    problem: str | None = None


@dataclass(frozen=True)
class CredentialStatus:
    """What ``oauth ls`` and the broker say about a server's credential (never a token)."""

    state: State
    #: ``""`` for the global scope, else the profile that holds the credential.
    scope: str = ""
    expires_at: float | None = None
    scopes: list[str] = field(default_factory=list)
    issuer: str | None = None
    problem: str | None = None


def token_state(record: TokenRecord | None, now: float, skew: float) -> State:
    """The state of a stored credential at time ``now``, refreshing ``skew`` seconds early."""
    if record is None:
        return "none"
    if record.needs_authorization:
        return "needs-authorization"
    if record.expires_at is None:
        return "ok"
    if now >= record.expires_at:
        return "expired" if record.refresh_token else "needs-authorization"
    # A token that lives shorter than twice the skew is refreshed at half its life, so a
    # server issuing short-lived tokens is not asked for a new one on every request.
    early = min(skew, max(record.expires_at - record.obtained_at, 0.0) / 2)
    if now >= record.expires_at - early:
        return "expiring"
    return "ok"


def status_of(record: TokenRecord | None, scope: str, now: float, skew: float) -> CredentialStatus:
    """A :class:`CredentialStatus` for a stored credential (or its absence)."""
    if record is None:
        return CredentialStatus("none")
    state = token_state(record, now, skew)
    problem = record.problem
    if state == "needs-authorization" and problem is None:
        problem = "the access token expired and no refresh token was issued"
    return CredentialStatus(
        state=state,
        scope=scope,
        expires_at=record.expires_at,
        scopes=list(record.scopes),
        issuer=record.issuer,
        problem=problem,
    )
