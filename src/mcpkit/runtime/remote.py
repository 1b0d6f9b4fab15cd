"""The ``remote`` runtime: a hosted MCP server reached over HTTPS, seen as a channel.

Nothing runs here: "starting" a remote server opens an HTTP client to its URL. Every
connection goes through the SSRF guard (public HTTPS only unless the user opted out,
checked on each redirect and on each resolved address). OAuth credentials come from the
gateway's token broker, which refreshes them before they expire; a server whose
credential cannot be made valid fails to start with the command that fixes it, while
the gateway serves every other server.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from mcpkit.catalog.model import RemoteSource, ServerSpec
from mcpkit.errors import ConfigValidationError
from mcpkit.runtime.base import Channel, Health, LaunchPlan, Progress
from mcpkit.transport.http_client import StreamableHttpChannel
from mcpkit.transport.netguard import RemotePolicy, check_url, describe_url, guarded_client
from mcpkit.transport.sse_client import LegacySseChannel


class Authorizer(Protocol):
    """What the runtime needs of the OAuth token broker."""

    def auth(self, server: str, profile: str) -> httpx.Auth:
        """An httpx auth flow adding (and refreshing) the server's bearer token."""
        ...

    async def access_token(self, server: str, profile: str) -> str | None:
        """A valid access token (refreshed if due), None when none is stored.

        Raises AuthorizationRequiredError when a stored credential cannot be made valid.
        """
        ...


class RemoteInstance:
    """One connection to a remote server: an HTTP client and the channel over it."""

    def __init__(self, client: httpx.AsyncClient, channel: Channel, url: str) -> None:
        self._client = client
        self._channel = channel
        self._where = describe_url(url)
        self._stopped = False

    @property
    def channel(self) -> Channel:
        """The server's JSON-RPC channel."""
        return self._channel

    def health(self) -> Health:
        """Running until the channel ends (the session expired, the server went away)."""
        # Why the connection ended reaches the gateway through the channel's own error.
        if self._stopped or getattr(self._channel, "close_reason", None) is not None:
            return Health(state="exited", sandbox="remote", detail=self._where)
        return Health(state="running", sandbox="remote", detail=self._where)

    def stderr_tail(self, lines: int = 20) -> list[str]:
        """A remote server has no stderr (why its connection ended is in the channel's error)."""
        return []

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - Instance contract
        """End the session (DELETE where the server has one) and close the client."""
        if self._stopped:
            return
        self._stopped = True
        try:
            await self._channel.aclose()
        finally:
            await self._client.aclose()


class RemoteRuntime:
    """Opens guarded HTTP connections to remote servers."""

    name = "remote"

    def __init__(
        self,
        policy: RemotePolicy,
        authorizer: Authorizer | None = None,
        *,
        request_timeout: float = 120.0,
    ) -> None:
        self.policy = policy
        self._authorizer = authorizer
        self._request_timeout = request_timeout

    def supports(self, spec: ServerSpec) -> bool:
        """Only remote specs."""
        return isinstance(spec.source, RemoteSource)

    async def prepare(self, plan: LaunchPlan, progress: Progress | None = None) -> None:
        """Check the URL against the guard before anything is sent."""
        check_url(_url(plan), self.policy)

    async def start(self, plan: LaunchPlan) -> RemoteInstance:
        """Open the client and the channel; the gateway's handshake goes over it."""
        url = _url(plan)
        # No second check_url here: prepare() did it, and the guarded client checks every
        # request (and every address it connects to) anyway.
        auth: httpx.Auth | None = None
        if self._authorizer is not None:
            # A credential that cannot be refreshed fails here, before any connection,
            # with the command that fixes it (AuthorizationRequiredError).
            await self._authorizer.access_token(plan.server, plan.profile)
            auth = self._authorizer.auth(plan.server, plan.profile)
        client = guarded_client(self.policy, auth=auth, read_timeout=None)
        source = plan.spec.source
        sse = isinstance(source, RemoteSource) and source.transport == "sse"
        channel: Channel
        if sse:
            channel = LegacySseChannel(
                client,
                url,
                headers=plan.headers,
                name=plan.server,
                request_timeout=self._request_timeout,
            )
        else:
            channel = StreamableHttpChannel(
                client,
                url,
                headers=plan.headers,
                name=plan.server,
                request_timeout=self._request_timeout,
            )
        return RemoteInstance(client, channel, url)


def _url(plan: LaunchPlan) -> str:
    if not plan.url:
        raise ConfigValidationError(
            f"server {plan.server!r} is remote but its plan has no URL",
            hint="check the server's catalog entry (source.url)",
        )
    return plan.url
