"""Wiring: one object that opens the state and builds the services on demand.

The CLI creates one :class:`App` per command, with the process environment; tests
create it with their own mapping. Services are built lazily so a command pays only
for what it uses (``secret ls`` never imports httpx, ``catalog ls`` never opens the
secret store).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mcpkit.catalog.model import ServerSpec
from mcpkit.catalog.service import CatalogService
from mcpkit.catalog.sources import CatalogSource, make_source
from mcpkit.errors import McpkitError
from mcpkit.profiles.docker_toolkit import (
    MIGRATION_KEY,
    has_toolkit_config,
    read_toolkit,
    toolkit_dir,
)
from mcpkit.profiles.model import DEFAULT_PROFILE
from mcpkit.profiles.service import ProfileService
from mcpkit.secrets.base import SecretStore
from mcpkit.secrets.service import SecretService
from mcpkit.settings import Settings, load_settings
from mcpkit.store import Database, Locations

if TYPE_CHECKING:
    from mcpkit.oauth.credentials import CredentialStore


class App:
    """The state and services of one mcpkit invocation."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.locations = Locations.from_environ(environ)
        #: Messages for the user that are not the command's output (printed on stderr).
        self.notices: list[str] = []

    @cached_property
    def db(self) -> Database:
        """The state database, migrated."""
        self.locations.ensure()
        return Database(self.locations.db_path)

    @cached_property
    def settings(self) -> Settings:
        """``config.toml``."""
        return load_settings(self.locations.config_file)

    @cached_property
    def catalog(self) -> CatalogService:
        """Catalog sources and the effective catalog."""
        return CatalogService(self.db, source_factory=self.make_source)

    def make_source(self, kind: str, location: str) -> CatalogSource:
        """A catalog source; OCI ones use the docker credentials and the trust policy."""
        if kind != "oci":
            return make_source(kind, location)
        from mcpkit.catalog.sources.oci import OciSource
        from mcpkit.trust.artifacts import catalog_verifier
        from mcpkit.trust.service import registry_client

        client = registry_client(self)
        return OciSource(
            location, client=lambda: client, verify=catalog_verifier(self, client, catalog=None)
        )

    @cached_property
    def profiles(self) -> ProfileService:
        """Profiles; the Docker MCP Toolkit upgrade runs here, once."""
        service = ProfileService(self.db, self.catalog)
        if self.db.get_meta(MIGRATION_KEY) is None:
            try:
                self.notices.extend(self._import_toolkit(service, first_run=True))
            except McpkitError as exc:
                # A broken Toolkit file must not break every command: say so once.
                self._mark_migrated()
                self.notices.append(
                    f"could not import Docker MCP Toolkit's configuration: {exc.message}; "
                    "fix it, then run 'mcpkit profile import --from-docker'"
                )
        return service

    @cached_property
    def store(self) -> SecretStore:
        """The configured secret store."""
        from mcpkit.secrets.factory import open_store

        backend = None
        # keyring reads PYTHON_KEYRING_BACKEND from os.environ; honour the injected
        # environment instead, so a caller (or a test) decides which keyring is touched.
        name = self.environ.get("PYTHON_KEYRING_BACKEND")
        if name:
            from keyring.core import load_keyring

            backend = load_keyring(name)
        return open_store(
            self.settings.secrets,
            data_dir=self.locations.data_dir,
            config_dir=self.locations.config_dir,
            environ=self.environ,
            keyring_backend=backend,
        )

    @cached_property
    def secrets(self) -> SecretService:
        """Secrets by name and scope."""
        return SecretService(self.db, self.store, self.profiles)

    @cached_property
    def oauth_credentials(self) -> CredentialStore:
        """Remote servers' OAuth tokens and registered clients, in the secret store."""
        from mcpkit.oauth.credentials import CredentialStore

        return CredentialStore(self.store)

    def import_docker_toolkit(self) -> list[str]:
        """Merge Docker MCP Toolkit's enabled servers into the default profile.

        Servers already in the profile are left as they are, so running it again
        changes nothing. Returns a line per server for the user.
        """
        return self._import_toolkit(self.profiles, first_run=False)

    def _import_toolkit(self, service: ProfileService, *, first_run: bool) -> list[str]:
        home = Path(self.environ.get("HOME") or Path.home())
        directory = toolkit_dir(home)
        lines: list[str] = []
        if has_toolkit_config(directory):
            found = read_toolkit(directory, lambda sid: _spec_or_none(self.catalog, sid))
            present = {s.id for s in service.get(DEFAULT_PROFILE).servers}
            for server in found.servers:
                if server.id in present:
                    lines.append(f"{server.id}: already in the default profile; left as it is")
                    continue
                service.add_server(
                    DEFAULT_PROFILE,
                    server.id,
                    spec=server.spec,
                    config=server.config,
                    tools=server.tools.allow,
                )
                lines.append(f"{server.id}: imported from Docker MCP Toolkit into 'default'")
            lines.extend(found.problems)
        elif not first_run:
            lines.append(f"no Docker MCP Toolkit configuration found in {directory}")
        self._mark_migrated()
        return lines

    def _mark_migrated(self) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, 'done')", (MIGRATION_KEY,)
            )

    def close(self) -> None:
        """Close the database if it was opened."""
        if "db" in self.__dict__:
            self.db.close()


def _spec_or_none(catalog: CatalogService, server_id: str) -> ServerSpec | None:
    entry = catalog.find(server_id)
    return entry.spec if entry else None
