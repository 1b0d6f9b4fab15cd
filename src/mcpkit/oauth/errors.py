"""The OAuth client's errors, placed in mcpkit's one error tree.

::

    ServerError                            exit 10
    └── OAuthError                         oauth-failed: a step of the flow failed
        ├── OAuthDiscoveryError            oauth-discovery-failed: metadata missing or invalid
        ├── OAuthTimeoutError              oauth-timeout: the browser never came back
        ├── OAuthClientRequiredError       oauth-client-required: no registration, no client id
        └── AuthorizationRequiredError     needs-authorization: no valid token can be had
    NotFoundError                          exit 3
    └── NoCredentialError                  no-oauth-credential: nothing stored to revoke
    UsageError                             exit 2
    └── NotRemoteError                     not-remote: OAuth was asked of a local server

No message or hint ever quotes a token, a client secret or an authorization code.
"""

from __future__ import annotations

from mcpkit.errors import NotFoundError, ServerError, UsageError


class OAuthError(ServerError):
    """A step of the OAuth flow failed (the authorization server refused, a request failed)."""

    default_code = "oauth-failed"


class OAuthDiscoveryError(OAuthError):
    """The server's or authorization server's metadata is missing, unreadable or unsafe."""

    default_code = "oauth-discovery-failed"


class OAuthTimeoutError(OAuthError):
    """The authorization was not completed in the browser in time."""

    default_code = "oauth-timeout"


class OAuthClientRequiredError(OAuthError):
    """The authorization server offers no dynamic registration and no client id was given."""

    default_code = "oauth-client-required"


class AuthorizationRequiredError(OAuthError):
    """A server needs (new) authorization: no valid token is stored and none can be refreshed."""

    default_code = "needs-authorization"


class NoCredentialError(NotFoundError):
    """No OAuth credential is stored for a server in a scope."""

    default_code = "no-oauth-credential"


class NotRemoteError(UsageError):
    """OAuth was asked for a server that is not remote."""

    default_code = "not-remote"


def authorize_command(server: str, scope: str = "") -> str:
    """The exact command that (re)authorizes ``server`` in ``scope`` (``""`` is global)."""
    command = f"mcpkit oauth authorize {server}"
    return f"{command} --profile {scope}" if scope else command


def needs_authorization(server: str, scope: str, why: str) -> AuthorizationRequiredError:
    """The error for a server whose credential in ``scope`` cannot be used: ``why`` says why."""
    return AuthorizationRequiredError(
        f"server {server!r} needs authorization: {why}",
        hint=authorize_command(server, scope),
    )
