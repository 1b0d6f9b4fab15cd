"""Connect AI clients to the gateway, disconnect them, and say which are connected.

:class:`ClientService` puts one entry named ``mcpkit`` (see
:func:`mcpkit.clients.entries.gateway_entry`) into a client's own config file, rewrites it
to switch profiles, and takes it out again, touching nothing else in the file. Every write
parses the file first (a file that cannot be parsed is refused and left as it was), makes
the edit in memory, and only then backs up the old bytes and replaces the file atomically
(:mod:`mcpkit.clients.files`). When nothing would change, nothing is written.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcpkit.clients.edit import ConfigDocument, PathPart, parse
from mcpkit.clients.entries import (
    ENTRY_NAME,
    ClientServer,
    decode,
    encode,
    entry_profile,
    gateway_entry,
    update_entry,
)
from mcpkit.clients.files import (
    ConfigFile,
    check_unchanged,
    read_config,
    remove_file,
    replace_file,
    write_backup,
)
from mcpkit.clients.table import (
    CLIENTS,
    ClientDef,
    Scope,
    config_path,
    expand,
    get_client,
    os_key,
)
from mcpkit.errors import ClientConfigError, ConflictError, UsageError

Action = Literal["connected", "unchanged", "switched", "disconnected", "absent"]


@dataclass(frozen=True)
class ClientStatus:
    """One client's config in one scope, as ``client ls`` shows it."""

    client: ClientDef
    scope: Scope
    path: Path
    #: The client (or its config file or folder) is present.
    installed: bool
    #: The config file exists.
    exists: bool
    connected: bool
    #: Our entry's profile.
    profile: str | None
    #: Why the file cannot be read (``ls`` still lists everything else).
    error: str | None = None


@dataclass(frozen=True)
class Change:
    """What ``connect`` or ``disconnect`` did to one config file."""

    client: ClientDef
    scope: Scope
    path: Path
    action: Action
    #: The copy of the previous file, when one was written.
    backup: Path | None
    previous_profile: str | None = None
    #: The file actually edited when ``path`` is a symbolic link (the link is kept).
    target: Path | None = None


@dataclass
class _Loaded:
    """A parsed config file and where its servers are."""

    file: ConfigFile
    doc: ConfigDocument
    container: tuple[PathPart, ...]
    style: str
    servers: Any  # the container's value: a mapping, a list, or None

    def entries(self, client: ClientDef) -> list[tuple[str, Any]]:
        if self.servers is None:
            return []
        if client.list_key is None:
            return [(str(k), v) for k, v in self.servers.items()]
        key = client.list_key
        return [
            (str(item.get(key)), item)
            for item in self.servers
            if isinstance(item, Mapping) and isinstance(item.get(key), str)
        ]

    def entry(self, client: ClientDef, name: str) -> Any:
        return next((raw for n, raw in self.entries(client) if n == name), None)


class ClientService:
    """Reads and edits AI clients' config files on behalf of ``mcpkit client``."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        platform: str = sys.platform,
        project: Path | None = None,
        backup_dir: Path,
    ) -> None:
        self.environ = environ
        self.platform = platform
        self.project = project
        self.backup_dir = backup_dir

    # -- where ---------------------------------------------------------------------------

    def path(self, client: ClientDef, scope: Scope) -> Path | None:
        """The client's ``scope`` config file here (None: it has none here)."""
        if scope == "project" and (self.project is None or not client.project_paths):
            return None
        return config_path(
            client, scope, environ=self.environ, platform=self.platform, project=self.project
        )

    def _project_signs(self, client: ClientDef, path: Path) -> bool:
        """Whether the current project uses ``client``: its file, its folder or a sign."""
        if path.exists():
            return True
        if self.project is None:
            return False
        folder = path.parent
        if folder != self.project and folder.is_dir():
            return True
        return any((self.project / sign).exists() for sign in client.project_detect)

    def _has_project_config(self, client: ClientDef) -> bool:
        path = self.path(client, "project")
        if path is None:
            return False
        if client.dedicated_project_file:
            return path.parent.is_dir()
        return path.exists()

    def _scope_for(self, client: ClientDef, scope: Scope | None) -> Scope:
        if scope is None:
            return "project" if self._has_project_config(client) else "global"
        if scope == "project" and not client.project_paths:
            raise UsageError(
                f"{client.name} has no per-project config",
                hint=f"use its user-wide config: mcpkit client connect {client.id} --global",
            )
        if scope == "project" and self.project is None:
            raise UsageError("no project folder was given for --project")
        return scope

    def _require_path(self, client: ClientDef, scope: Scope) -> Path:
        path = self.path(client, scope)
        if path is None:
            raise ClientConfigError(
                f"mcpkit does not know where {client.name} keeps its {scope} config on "
                f"{os_key(self.platform)} (is HOME set?)",
                hint=f"see {client.docs}" if client.docs else None,
            )
        return path

    def _installed(self, client: ClientDef, path: Path | None) -> bool:
        home = self.environ.get("USERPROFILE" if os_key(self.platform) == "win32" else "HOME")
        if (
            path is not None
            and (path.exists() or path.parent.is_dir())
            and (home is None or path.parent != Path(home))
        ):
            return True
        for sign in client.detect:
            if sign.startswith("bin:"):
                if shutil.which(sign[4:], path=self.environ.get("PATH", "")):
                    return True
                continue
            place = expand(sign, self.environ, self.platform)
            if place is not None and Path(place).exists():
                return True
        return False

    # -- reading -------------------------------------------------------------------------

    def _load(self, client: ClientDef, path: Path) -> _Loaded:
        file = read_config(path)
        doc = parse(file.text, client.dialect, origin=str(path))
        container, style = client.container, client.style
        for layout in client.layouts:
            value = doc.get(layout.container)
            if isinstance(value, Mapping) and decode(client.style, "", value) is None:
                container, style = layout.container, layout.style
                break
        servers = doc.get(container)
        expected: type = list if client.list_key is not None else Mapping
        if servers is not None and not isinstance(servers, expected):
            where = ".".join(str(p) for p in container)
            shape = "a list of server entries" if expected is list else "a mapping of names"
            raise ClientConfigError(
                f"{path}: {where} is {_kind(servers)}, but {client.name} expects {shape} there; "
                "the file was left as it was",
                hint=f"fix {where} in {path} (see {client.docs}), then run the command again",
            )
        return _Loaded(file, doc, container, style, servers)

    def _ours(self, client: ClientDef, loaded: _Loaded) -> tuple[Any, str | None]:
        """Our entry's raw data (None: absent) and its profile (None: the entry is not ours)."""
        raw = loaded.entry(client, ENTRY_NAME)
        if raw is None:
            return None, None
        server = decode(loaded.style, ENTRY_NAME, raw)
        return raw, entry_profile(server) if server is not None else None

    def status(self, client_ids: Sequence[str] | None = None) -> list[ClientStatus]:
        """Every known client (or those named) in every scope that has a config path here.

        Project scopes are listed only when the project uses the client (its config file,
        folder or another sign exists).
        """
        clients = [get_client(c) for c in client_ids] if client_ids else list(CLIENTS.values())
        rows: list[ClientStatus] = []
        for client in clients:
            global_path = self.path(client, "global")
            installed = self._installed(client, global_path)
            if global_path is not None:
                rows.append(self._status(client, "global", global_path, installed))
            project_path = self.path(client, "project")
            if project_path is not None and self._project_signs(client, project_path):
                rows.append(self._status(client, "project", project_path, True))
        return rows

    def _status(self, client: ClientDef, scope: Scope, path: Path, installed: bool) -> ClientStatus:
        exists = path.is_file()
        if not exists:
            return ClientStatus(client, scope, path, installed, False, False, None)
        try:
            _, profile = self._ours(client, self._load(client, path))
        except ClientConfigError as exc:
            return ClientStatus(client, scope, path, True, True, False, None, error=exc.message)
        return ClientStatus(client, scope, path, True, True, profile is not None, profile)

    def servers(
        self, client_id: str, *, scope: Scope | None = None
    ) -> tuple[Path, list[ClientServer], list[str]]:
        """The servers a client configures (ours left out), and a warning per entry it
        could not read. A missing file configures nothing.
        """
        client = get_client(client_id)
        chosen = self._scope_for(client, scope)
        path = self._require_path(client, chosen)
        if not path.exists():
            return path, [], []
        loaded = self._load(client, path)
        found: list[ClientServer] = []
        warnings: list[str] = []
        for name, raw in loaded.entries(client):
            server = decode(loaded.style, name, raw)
            if server is None:
                kind = raw.get("type") if isinstance(raw, Mapping) else None
                what = f" (type {kind})" if isinstance(kind, str) else ""
                warnings.append(f"{name}: not a server entry mcpkit can read{what}; skipped")
            elif entry_profile(server) is None:
                found.append(server)
        return path, found, warnings

    # -- writing -------------------------------------------------------------------------

    def connect(self, client_id: str, profile: str, *, scope: Scope | None = None) -> Change:
        """Add our entry serving ``profile`` (scope None: the project's config when the
        project already has one for this client, else the user-wide one).
        """
        client = get_client(client_id)
        chosen = self._scope_for(client, scope)
        path = self._require_path(client, chosen)
        loaded = self._load(client, path)
        desired = gateway_entry(profile, self.environ)
        raw, previous = self._ours(client, loaded)
        entry_path = client.entry_path(loaded.container, ENTRY_NAME)
        action: Action = "connected"
        if raw is not None:
            if previous is None:
                raise ConflictError(
                    f"{path} already has a server named {ENTRY_NAME!r} that does not run the "
                    "mcpkit gateway; it was left as it was",
                    hint=f"rename or remove the {ENTRY_NAME!r} entry in {path}, then run "
                    f"mcpkit client connect {client.id} --profile {profile}",
                )
            updated = update_entry(loaded.style, raw, desired)
            if updated == raw:
                return self._change(client, chosen, loaded, "unchanged", None, previous)
            loaded.doc.set(entry_path, updated)
            action = "switched" if previous != profile else "connected"
        else:
            self._add(client, loaded, encode(loaded.style, desired))
        return self._write(client, chosen, loaded, action, previous)

    def _add(self, client: ClientDef, loaded: _Loaded, entry: Any) -> None:
        doc = loaded.doc
        if not loaded.file.text.strip():
            for key, value in client.skeleton:
                if doc.get((key,)) is None:
                    doc.set((key,), value)
        if loaded.servers is None:
            # Absent, or present but null (``mcpServers:`` with nothing under it in YAML).
            fresh: Any = [entry] if client.list_key is not None else {ENTRY_NAME: entry}
            doc.set(loaded.container, fresh)
        else:
            doc.set(client.entry_path(loaded.container, ENTRY_NAME), entry)

    def disconnect(self, client_id: str, *, scope: Scope | None = None) -> list[Change]:
        """Remove our entry (only ours) from the scope given, or else from the user-wide
        config and the project's (when it has one).
        """
        client = get_client(client_id)
        if scope is None:
            scopes: list[Scope] = ["global"]
            project = self.path(client, "project")
            if project is not None and project.exists():
                scopes.append("project")
        else:
            scopes = [self._scope_for(client, scope)]
        return [self._disconnect(client, s) for s in scopes]

    def _disconnect(self, client: ClientDef, scope: Scope) -> Change:
        path = self._require_path(client, scope)
        if not path.exists():
            return Change(client, scope, path, "absent", None)
        loaded = self._load(client, path)
        raw, previous = self._ours(client, loaded)
        if raw is None or previous is None:
            return self._change(client, scope, loaded, "absent", None, None)
        loaded.doc.delete(client.entry_path(loaded.container, ENTRY_NAME))
        if client.dedicated_project_file and scope == "project" and self._only_ours(loaded):
            check_unchanged(loaded.file)
            backup = write_backup(loaded.file, self.backup_dir, f"{client.id}-{scope}")
            remove_file(loaded.file)
            return self._change(client, scope, loaded, "disconnected", backup, previous)
        return self._write(client, scope, loaded, "disconnected", previous)

    def _only_ours(self, loaded: _Loaded) -> bool:
        """A dedicated file is ours when it still bears our skeleton's name, with no servers."""
        remaining = loaded.doc.get(loaded.container)
        return not remaining and loaded.doc.get(("name",)) == ENTRY_NAME

    def _write(
        self,
        client: ClientDef,
        scope: Scope,
        loaded: _Loaded,
        action: Action,
        previous: str | None,
    ) -> Change:
        text = loaded.doc.dump()
        if loaded.file.exists and text == loaded.file.text:
            return self._change(client, scope, loaded, "unchanged", None, previous)
        check_unchanged(loaded.file)
        backup = write_backup(loaded.file, self.backup_dir, f"{client.id}-{scope}")
        replace_file(loaded.file, loaded.file.encode(text))
        return self._change(client, scope, loaded, action, backup, previous)

    @staticmethod
    def _change(
        client: ClientDef,
        scope: Scope,
        loaded: _Loaded,
        action: Action,
        backup: Path | None,
        previous: str | None,
    ) -> Change:
        file = loaded.file
        target = file.target if file.target != file.path else None
        return Change(client, scope, file.path, action, backup, previous, target)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
