"""Revocation: tell the authorization server (RFC 7009), then forget locally.

The refresh token is revoked first (servers revoke the access tokens issued from it
too), then the access token. Whatever the server answers, the local tokens and client
registration are removed; a failure at the server is reported, not raised, so a user
can always get rid of a credential.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcpkit.oauth import _protocol
from mcpkit.oauth._http import ClientFactory, TokenEndpointError, post_form
from mcpkit.oauth.credentials import CredentialStore
from mcpkit.oauth.errors import NoCredentialError, OAuthError, authorize_command
from mcpkit.oauth.model import ClientRecord
from mcpkit.transport.netguard import RemoteRefusedError


@dataclass(frozen=True)
class RevokeResult:
    """What happened (never a token)."""

    server: str
    scope: str
    #: True: the server accepted; False: it failed (see ``problem``); None: not offered.
    remote: bool | None
    problem: str | None = None


async def revoke(
    server: str, scope: str, credentials: CredentialStore, client_factory: ClientFactory
) -> RevokeResult:
    """Revoke ``server``'s tokens in ``scope`` at the server when it offers it, then delete."""
    token = credentials.token(server, scope)
    stored_client = credentials.client(server, scope)
    if token is None and stored_client is None:
        where = f"profile {scope!r}" if scope else "the global scope"
        raise NoCredentialError(
            f"no OAuth credential for server {server!r} in {where}",
            hint="see stored credentials with 'mcpkit oauth ls'; authorize with "
            f"'{authorize_command(server, scope)}'",
        )
    remote: bool | None = None
    problem: str | None = None
    if token is not None and token.revocation_endpoint:
        client = stored_client
        if client is None or client.client_id != token.client_id:
            client = ClientRecord(client_id=token.client_id, issuer=token.issuer)
        pairs = [(token.refresh_token, "refresh_token"), (token.access_token, "access_token")]
        try:
            async with client_factory() as http:
                for value, hint in pairs:
                    if value:
                        await post_form(
                            http,
                            token.revocation_endpoint,
                            _protocol.revocation_request(client, value, hint),
                            what="revoking the token",
                            expect_json=False,
                        )
            remote = True
        except TokenEndpointError as exc:
            remote, problem = False, f"the authorization server refused: {exc.explain()}"
        except (OAuthError, RemoteRefusedError) as exc:
            # The local credential goes anyway: the user asked for it to be gone.
            remote, problem = False, exc.message
    credentials.delete(server, scope)
    return RevokeResult(server, scope, remote, problem)
