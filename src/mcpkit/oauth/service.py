"""What ``mcpkit oauth`` does: list credentials, authorize a server, revoke it.

A server's URL and OAuth settings come from its spec: the profile's own entry when
``--profile`` names one that has the server, else the catalog, else a spec some
profile carries for it (servers added with ``--url``). Credentials are global unless a
profile is named; a profile's own credential wins over the global one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mcpkit.catalog.model import RemoteSource, ServerSpec
from mcpkit.errors import SecretStoreError
from mcpkit.oauth._http import ClientFactory
from mcpkit.oauth.credentials import GLOBAL, CredentialStore
from mcpkit.oauth.errors import NotRemoteError
from mcpkit.oauth.flow import (
    DEFAULT_TIMEOUT,
    AuthorizeRequest,
    AuthorizeResult,
    authorize,
    open_in_browser,
)
from mcpkit.oauth.model import CredentialStatus, TokenRecord, status_of
from mcpkit.oauth.revoke import RevokeResult, revoke
from mcpkit.profiles.service import ProfileService


@dataclass
class CredentialRow:
    """One line of ``oauth ls``: a server, the credential it uses, and its state."""

    server: str
    #: The profiles whose server uses this credential (empty: stored, used by none).
    profiles: list[str]
    status: CredentialStatus
    url: str | None = None
    scopes: list[str] = field(default_factory=list)

    @property
    def scope(self) -> str:
        """``""`` for a global credential, else the profile that holds it."""
        return self.status.scope


class OAuthService:
    """Lists, obtains and revokes OAuth credentials of remote servers."""

    def __init__(
        self,
        profiles: ProfileService,
        credentials: CredentialStore,
        *,
        client_factory: ClientFactory,
        redirect_port: int = 0,
        open_browser: bool = True,
        skew: float = 60.0,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._profiles = profiles
        self.credentials = credentials
        self._factory = client_factory
        self._redirect_port = redirect_port
        self._open_browser = open_browser
        self._skew = skew
        self._environ = environ
        self._clock = clock

    # -- listing ---------------------------------------------------------------------------

    def list_credentials(self, profile: str | None = None) -> list[CredentialRow]:
        """Every remote server of the profile(s), plus every stored credential."""
        names = [profile] if profile else [p.name for p in self._profiles.list_profiles()]
        rows: dict[tuple[str, str, bool], CredentialRow] = {}
        for name in names:
            for entry in self._profiles.get(name).servers:
                spec = self._profiles.find_spec(entry)
                if spec is None or not isinstance(spec.source, RemoteSource):
                    continue
                status = self._status(entry.id, name)
                key = (entry.id, status.scope, status.state != "none")
                row = rows.setdefault(key, CredentialRow(entry.id, [], status, spec.source.url))
                row.profiles.append(name)
        for server, scope in self.credentials.stored() or []:
            if profile and scope not in (GLOBAL, profile):
                continue
            if (server, scope, True) not in rows:
                status = self._stored_status(server, scope)
                rows[(server, scope, True)] = CredentialRow(server, [], status)
        return sorted(rows.values(), key=lambda r: (r.server, r.scope, r.profiles))

    def _status(self, server: str, profile: str) -> CredentialStatus:
        try:
            found = self.credentials.resolve(server, profile)
        except SecretStoreError as exc:
            return CredentialStatus("needs-authorization", scope=profile, problem=exc.message)
        if found is None:
            return CredentialStatus("none")
        return self._status_of(found[1], found[0])

    def _stored_status(self, server: str, scope: str) -> CredentialStatus:
        try:
            record = self.credentials.token(server, scope)
        except SecretStoreError as exc:
            return CredentialStatus("needs-authorization", scope=scope, problem=exc.message)
        return self._status_of(record, scope)

    def _status_of(self, record: TokenRecord | None, scope: str) -> CredentialStatus:
        return status_of(record, scope, self._clock(), self._skew)

    # -- authorize and revoke ------------------------------------------------------------

    def remote_spec(
        self, server: str, profile: str | None = None
    ) -> tuple[ServerSpec, RemoteSource]:
        """The spec of a remote server and its source (NotRemoteError for a local one)."""
        spec: ServerSpec | None = None
        if profile:
            entry = self._profiles.get(profile).server(server)
            spec = self._profiles.spec_for(entry) if entry is not None else None
        if spec is None:
            found = self._profiles.catalog.find(server)
            spec = found.spec if found is not None else None
        if spec is None:
            spec = next(
                (
                    entry.spec
                    for summary in self._profiles.list_profiles()
                    for entry in self._profiles.get(summary.name).servers
                    if entry.id == server and entry.spec is not None
                ),
                None,
            )
        if spec is None:
            raise self._profiles.catalog.unknown(server)
        if not isinstance(spec.source, RemoteSource):
            raise NotRemoteError(
                f"server {server!r} is not remote (its source is {spec.source.type}); OAuth "
                "applies only to servers reached over HTTP",
                hint="list remote servers and their credentials with 'mcpkit oauth ls'",
            )
        return spec, spec.source

    async def authorize(
        self,
        server: str,
        *,
        on_url: Callable[[str], None],
        profile: str | None = None,
        scopes: Sequence[str] = (),
        client_id: str | None = None,
        port: int | None = None,
        headless: bool = False,
        approval_timeout: float = DEFAULT_TIMEOUT,
    ) -> AuthorizeResult:
        """Run the browser flow for ``server`` and store its tokens (global or ``profile``)."""
        _, source = self.remote_spec(server, profile)
        oauth = source.oauth
        request = AuthorizeRequest(
            server=server,
            url=source.url,
            scope=profile or GLOBAL,
            extra_scopes=[*(oauth.scopes if oauth else []), *scopes],
            client_id=client_id or (oauth.client_id if oauth else None),
            authorization_server=oauth.authorization_server if oauth else None,
            port=port if port is not None else (self._redirect_port or None),
            timeout=approval_timeout,
            open_browser=self._open_browser and not headless,
        )
        return await authorize(
            request,
            self.credentials,
            self._factory,
            on_url=on_url,
            open_url=lambda url: open_in_browser(url, self._environ),
        )

    async def revoke(self, server: str, *, profile: str | None = None) -> RevokeResult:
        """Revoke at the server when offered, then delete the local tokens and client."""
        return await revoke(server, profile or GLOBAL, self.credentials, self._factory)
