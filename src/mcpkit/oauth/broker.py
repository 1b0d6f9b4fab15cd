"""The token broker: one per gateway, it keeps remote servers' access tokens valid.

:meth:`TokenBroker.auth` is an ``httpx.Auth`` for one server of one profile: it adds
the bearer token, refreshes it before it expires (``skew`` seconds early), and on a 401
refreshes once and retries once. A server with no stored credential gets its requests
as they are; if it answers 401, that becomes :class:`AuthorizationRequiredError`.

Refreshes are serialised per ``(server, scope)`` by one lock that every caller of the
gateway shares, and the store is read again under the lock: another caller, another
gateway or ``mcpkit oauth authorize`` may have written newer tokens (and rotated the
refresh token) meanwhile. A refresh the authorization server refuses for good
(``invalid_grant`` and other 4xx answers) marks the credential "needs authorization"
in the store, so ``mcpkit oauth ls`` shows it, and raises with the command that fixes
it. A refresh that fails for a passing reason (network, 5xx, 429) keeps the credential
as it is and uses the current access token while it is still valid.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Generator

import anyio
import httpx

from mcpkit.errors import SecretStoreError
from mcpkit.oauth import _protocol
from mcpkit.oauth._http import ClientFactory, TokenEndpointError, post_form, refreshed
from mcpkit.oauth.credentials import GLOBAL, CredentialStore
from mcpkit.oauth.errors import AuthorizationRequiredError, OAuthError, needs_authorization
from mcpkit.oauth.model import ClientRecord, CredentialStatus, TokenRecord, status_of, token_state


class TokenBroker:
    """Valid access tokens for remote servers, refreshed once for every caller."""

    def __init__(
        self,
        credentials: CredentialStore,
        client_factory: ClientFactory,
        *,
        skew: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self._factory = client_factory
        self.skew = skew
        self._clock = clock
        self._locks: dict[tuple[str, str], anyio.Lock] = {}
        #: The credential each ``(server, profile)`` used last, so a request does not read
        #: (and decrypt) the store; it is read again whenever a token is due, rejected,
        #: marked or absent-and-challenged.
        self._known: dict[tuple[str, str], tuple[str, TokenRecord] | None] = {}

    def auth(self, server: str, profile: str) -> httpx.Auth:
        """An ``httpx.Auth`` adding (and refreshing) ``server``'s bearer token for ``profile``."""
        return BearerAuth(self, server, profile)

    async def access_token(self, server: str, profile: str) -> str | None:
        """A valid access token (refreshed if due); None when no credential is stored.

        Raises :class:`AuthorizationRequiredError` when the stored one cannot be made valid.
        """
        found = self.current(server, profile, fresh=True)
        if found is None:
            return None
        return (await self.usable(server, profile, *found)).access_token

    def current(
        self, server: str, profile: str, *, fresh: bool = False
    ) -> tuple[str, TokenRecord] | None:
        """The credential ``server`` uses in ``profile``: remembered while valid, else read."""
        key = (server, profile)
        if not fresh and key in self._known:
            known = self._known[key]
            if known is None or token_state(known[1], self._clock(), self.skew) == "ok":
                return known
        found = self.credentials.resolve(server, profile)
        self._known[key] = found
        return found

    async def usable(
        self, server: str, profile: str, scope: str, record: TokenRecord
    ) -> TokenRecord:
        """:meth:`valid`, remembered for ``profile``."""
        record = await self.valid(server, scope, record)
        self.remember(server, profile, scope, record)
        return record

    def remember(self, server: str, profile: str, scope: str, record: TokenRecord) -> None:
        """Use ``record`` for ``server`` in ``profile`` until it is due."""
        self._known[(server, profile)] = (scope, record)

    def forget(self, server: str, profile: str) -> None:
        """Read the store again next time (after a refresh, a rejection or a mark)."""
        self._known.pop((server, profile), None)

    def status(self, server: str, profile: str) -> CredentialStatus:
        """The state of the credential ``server`` uses in ``profile`` (nothing is refreshed)."""
        try:
            found = self.credentials.resolve(server, profile)
        except SecretStoreError as exc:
            return CredentialStatus("needs-authorization", problem=exc.message)
        if found is None:
            return CredentialStatus("none")
        scope, record = found
        return status_of(record, scope, self._clock(), self.skew)

    async def valid(self, server: str, scope: str, record: TokenRecord) -> TokenRecord:
        """``record``, or a refreshed one when it expires within the skew."""
        state = token_state(record, self._clock(), self.skew)
        if state == "ok":
            return record
        if state == "needs-authorization":
            raise needs_authorization(
                server, scope, record.problem or "its access token expired and cannot be refreshed"
            )
        return await self.refresh(server, scope, record, rejected=False)

    async def refresh(
        self, server: str, scope: str, seen: TokenRecord, *, rejected: bool
    ) -> TokenRecord:
        """A fresher token than ``seen`` (``rejected``: the server answered 401 to it)."""
        async with self._lock(server, scope):
            current = self.credentials.token(server, scope)
            if current is None:
                raise needs_authorization(server, scope, "its OAuth credential was removed")
            now = self._clock()
            state = token_state(current, now, self.skew)
            if current.access_token != seen.access_token and state in ("ok", "expiring"):
                return current  # someone refreshed (or re-authorized) while we waited
            if state == "ok" and not rejected:
                return current
            if current.needs_authorization:
                raise needs_authorization(server, scope, current.problem or "authorize again")
            if not current.refresh_token:
                problem = (
                    "the server rejected its access token and no refresh token was issued"
                    if rejected
                    else "its access token expired and no refresh token was issued"
                )
                if rejected:
                    self.mark(server, scope, current, problem)
                raise needs_authorization(server, scope, problem)
            return await self._refresh(
                server, scope, current, usable=not rejected and state == "expiring"
            )

    async def _refresh(
        self, server: str, scope: str, current: TokenRecord, *, usable: bool
    ) -> TokenRecord:
        client = self._client(server, scope, current)
        request = _protocol.token_request(
            client,
            "refresh_token",
            refresh_token=current.refresh_token,
            resource=current.resource,
        )
        try:
            async with self._factory() as http:
                data = await post_form(
                    http, current.token_endpoint, request, what="refreshing the access token"
                )
        except TokenEndpointError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                latest = self.credentials.token(server, scope)
                if (
                    latest is not None
                    and latest.refresh_token != current.refresh_token
                    and not latest.needs_authorization
                ):
                    return latest  # another process rotated the refresh token first
                problem = f"the authorization server refused to refresh it: {exc.explain()}"
                self.mark(server, scope, current, problem)
                raise needs_authorization(server, scope, problem) from None
            if usable:
                return current
            raise OAuthError(
                f"refreshing the access token of {server!r} failed: {exc.explain()}",
                hint="the authorization server may be down; try again later",
            ) from None
        except OAuthError:
            if usable:
                return current
            raise
        fresh = refreshed(current, data, self._clock())
        self.credentials.save_token(server, scope, fresh)
        return fresh

    def mark(self, server: str, scope: str, record: TokenRecord, problem: str) -> None:
        """Persist that ``record`` needs authorization (unless newer tokens were stored)."""
        latest = self.credentials.token(server, scope)
        if latest is not None and latest.access_token != record.access_token:
            return
        marked = record.model_copy(update={"needs_authorization": True, "problem": problem})
        self.credentials.save_token(server, scope, marked)

    def _client(self, server: str, scope: str, record: TokenRecord) -> ClientRecord:
        stored = self.credentials.client(server, scope)
        if stored is not None and stored.client_id == record.client_id:
            return stored
        return ClientRecord(client_id=record.client_id, issuer=record.issuer)

    def _lock(self, server: str, scope: str) -> anyio.Lock:
        return self._locks.setdefault((server, scope), anyio.Lock())


class BearerAuth(httpx.Auth):
    """The httpx auth flow of one server in one profile (see :class:`TokenBroker`)."""

    # The body is read first so the request can be sent again after a refresh.
    requires_request_body = True

    def __init__(self, broker: TokenBroker, server: str, profile: str) -> None:
        self._broker = broker
        self.server = server
        self.profile = profile

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Not supported: refreshing needs the event loop."""
        raise RuntimeError("TokenBroker auth works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Add the bearer token; on 401 refresh once and retry once."""
        broker, server, profile = self._broker, self.server, self.profile
        found = broker.current(server, profile)
        if found is None:
            own = "authorization" in request.headers
            response = yield request
            if response.status_code != 401 or own:
                return
            # Authorized (``mcpkit oauth authorize``) since this gateway last looked?
            found = broker.current(server, profile, fresh=True)
            if found is None:
                raise needs_authorization(
                    server, GLOBAL, "it answered 401 and no OAuth credential is stored"
                )
            scope, record = found
            record = await broker.usable(server, profile, scope, record)
        else:
            scope, record = found
            record = await broker.usable(server, profile, scope, record)
            request.headers["Authorization"] = f"Bearer {record.access_token}"
            response = yield request
            if response.status_code != 401:
                return
            broker.forget(server, profile)
            record = await broker.refresh(server, scope, record, rejected=True)
            broker.remember(server, profile, scope, record)
        request.headers["Authorization"] = f"Bearer {record.access_token}"
        response = yield request
        if response.status_code == 401:
            broker.forget(server, profile)
            problem = "the server rejected a freshly refreshed access token"
            broker.mark(server, scope, record, problem)
            raise needs_authorization(server, scope, problem)


__all__ = ["AuthorizationRequiredError", "BearerAuth", "TokenBroker"]
