"""The profile service: profiles and their servers in the state database.

A ``default`` profile always exists (created on first use, and it cannot be
removed). Every server of a profile is either a catalog server (by id) or carries
its own spec. Writes are single transactions, so concurrent commands never lose
each other's changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from mcpkit.catalog.model import ServerSpec
from mcpkit.catalog.service import CatalogService
from mcpkit.errors import (
    ConflictError,
    InvalidInputError,
    UnknownProfileError,
    UnknownServerError,
    UsageError,
)
from mcpkit.profiles.config import parse_value, validate_config
from mcpkit.profiles.model import (
    DEFAULT_PROFILE,
    Pins,
    Profile,
    ProfileServer,
    ServerRun,
    ToolFilter,
    check_profile_name,
)
from mcpkit.profiles.toolpins import canonical_json, named_tools, tool_definition, tool_hash
from mcpkit.store import Database, utcnow

APPROVAL_COLUMNS = ("profile", "server_id", "tool", "hash", "definition", "approved_at")


@dataclass(frozen=True)
class ProfileSummary:
    """One line of ``profile ls``."""

    name: str
    description: str
    servers: list[str]
    updated_at: str


class ProfileService:
    """Reads and writes profiles."""

    def __init__(self, db: Database, catalog: CatalogService) -> None:
        self._db = db
        self.catalog = catalog
        if not db.query("SELECT 1 FROM profiles WHERE name = ?", (DEFAULT_PROFILE,)):
            with db.write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO profiles (name, description, created_at, updated_at) "
                    "VALUES (?, 'The profile used when none is named.', ?, ?)",
                    (DEFAULT_PROFILE, utcnow(), utcnow()),
                )

    # -- profiles --------------------------------------------------------------

    def list_profiles(self) -> list[ProfileSummary]:
        """Every profile, by name."""
        rows = self._db.query(
            "SELECT p.name, p.description, p.updated_at, "
            "(SELECT group_concat(server_id, ' ') FROM (SELECT server_id FROM profile_servers s "
            " WHERE s.profile = p.name ORDER BY position)) AS servers "
            "FROM profiles p ORDER BY p.name"
        )
        return [
            ProfileSummary(
                r["name"], r["description"], (r["servers"] or "").split(), r["updated_at"]
            )
            for r in rows
        ]

    def get(self, name: str) -> Profile:
        """A whole profile."""
        rows = self._db.query("SELECT * FROM profiles WHERE name = ?", (name,))
        if not rows:
            raise self._unknown(name)
        servers = self._db.query(
            "SELECT * FROM profile_servers WHERE profile = ? ORDER BY position", (name,)
        )
        return Profile(
            name=name,
            description=rows[0]["description"],
            prefix_tools=bool(rows[0]["prefix_tools"]),
            servers=[_server_from_row(r) for r in servers],
        )

    def exists(self, name: str) -> bool:
        """True if the profile exists."""
        return bool(self._db.query("SELECT 1 FROM profiles WHERE name = ?", (name,)))

    def create(
        self,
        name: str,
        *,
        description: str = "",
        servers: list[str] | None = None,
        prefix_tools: bool = False,
    ) -> Profile:
        """Create a profile, optionally with catalog servers (all checked before writing)."""
        _check_name(name)
        entries = [ProfileServer(id=self.catalog.get(sid).spec.id) for sid in servers or []]
        profile = Profile(
            name=name, description=description, prefix_tools=prefix_tools, servers=entries
        )
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone():
                raise ConflictError(
                    f"profile {name!r} exists already",
                    hint=f"add servers with 'mcpkit profile server add ID --profile {name}'",
                )
            self._write_profile(conn, profile)
        return profile

    def remove(self, name: str) -> Profile:
        """Remove a profile (never ``default``). Secrets are left alone."""
        if name == DEFAULT_PROFILE:
            raise UsageError(
                "the default profile always exists and cannot be removed",
                hint="empty it with 'mcpkit profile server rm ID' instead",
            )
        profile = self.get(name)
        with self._db.write() as conn:
            conn.execute("DELETE FROM profiles WHERE name = ?", (name,))
        return profile

    def save(self, profile: Profile, *, replace: bool = False) -> None:
        """Store a whole profile (import). Without ``replace`` an existing one is a conflict."""
        for server in profile.servers:
            spec = server.spec or self.catalog.get(server.id).spec
            validate_config(spec, server.config)
        with self._db.write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM profiles WHERE name = ?", (profile.name,)
            ).fetchone()
            if exists and not replace:
                raise ConflictError(
                    f"profile {profile.name!r} exists already",
                    hint="pass --replace to overwrite it, or --name to import under another name",
                )
            # Approved definitions go with the old rows (cascade); those that still match
            # the new profile's pins are kept, so a re-saved profile still diffs.
            kept = conn.execute(
                "SELECT * FROM tool_approvals WHERE profile = ?", (profile.name,)
            ).fetchall()
            conn.execute("DELETE FROM profiles WHERE name = ?", (profile.name,))
            self._write_profile(conn, profile)
            for row in kept:
                entry = profile.server(row["server_id"])
                if entry is not None and entry.pins.tools.get(row["tool"]) == row["hash"]:
                    conn.execute(
                        "INSERT INTO tool_approvals "
                        "(profile, server_id, tool, hash, definition, approved_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        tuple(row[k] for k in APPROVAL_COLUMNS),
                    )

    def set_prefix_tools(self, name: str, value: bool) -> None:
        """Turn ``server__tool`` prefixes on or off for a profile."""
        self.get(name)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE profiles SET prefix_tools = ?, updated_at = ? WHERE name = ?",
                (int(value), utcnow(), name),
            )

    # -- servers ---------------------------------------------------------------

    def spec_for(self, server: ProfileServer) -> ServerSpec:
        """The spec a profile server runs: its own, else the catalog's."""
        if server.spec is not None:
            return server.spec
        entry = self.catalog.find(server.id)
        if entry is None:
            raise UnknownServerError(
                f"server {server.id!r} is in the profile but in no catalog any more",
                hint="re-add its catalog source, or remove it with "
                f"'mcpkit profile server rm {server.id}'",
            )
        return entry.spec

    def find_spec(self, server: ProfileServer) -> ServerSpec | None:
        """Like :meth:`spec_for`, but None when the server is in no catalog any more."""
        try:
            return self.spec_for(server)
        except UnknownServerError:
            return None

    def add_server(
        self,
        profile: str,
        server_id: str,
        *,
        spec: ServerSpec | None = None,
        config: dict[str, Any] | None = None,
        tools: list[str] | None = None,
    ) -> ProfileServer:
        """Add a catalog server (or a server with its own spec) to a profile."""
        resolved = spec or self.catalog.get(server_id).spec
        entry = ProfileServer(
            id=resolved.id,
            spec=spec,
            config=config or {},
            tools=ToolFilter(allow=tools),
            pins=_initial_pins(resolved),
        )
        validate_config(resolved, entry.config)
        with self._db.write() as conn:
            self._require_profile(conn, profile)
            if conn.execute(
                "SELECT 1 FROM profile_servers WHERE profile = ? AND server_id = ?",
                (profile, entry.id),
            ).fetchone():
                raise ConflictError(
                    f"profile {profile!r} already has server {entry.id!r}",
                    hint=f"change its config: 'mcpkit profile config {entry.id} --set KEY=VALUE'",
                )
            position = conn.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM profile_servers WHERE profile = ?",
                (profile,),
            ).fetchone()[0]
            _insert_server(conn, profile, entry, position)
            _touch(conn, profile)
        return entry

    def remove_server(self, profile: str, server_id: str) -> ProfileServer:
        """Remove a server from a profile and return what it was."""
        current = self._server(profile, server_id)
        with self._db.write() as conn:
            conn.execute(
                "DELETE FROM profile_servers WHERE profile = ? AND server_id = ?",
                (profile, server_id),
            )
            _touch(conn, profile)
        return current

    def set_config(
        self, profile: str, server_id: str, pairs: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Set config keys (values parsed and validated against the server's schema)."""
        return self._edit(
            profile,
            server_id,
            lambda spec, cfg: cfg | {k: parse_value(spec, k, v) for k, v in pairs},
        )

    def del_config(self, profile: str, server_id: str, keys: list[str]) -> dict[str, Any]:
        """Remove config keys."""
        server = self._server(profile, server_id)
        missing = [k for k in keys if k not in server.config]
        if missing:
            raise InvalidInputError(
                f"server {server_id!r} in profile {profile!r} has no config value {missing[0]!r}",
                hint=f"see its values with 'mcpkit profile config {server_id} --profile {profile}'",
            )
        return self._edit(
            profile, server_id, lambda _s, cfg: {k: v for k, v in cfg.items() if k not in keys}
        )

    def set_tools(
        self,
        profile: str,
        server_id: str,
        *,
        enable: list[str] = (),  # type: ignore[assignment]
        disable: list[str] = (),  # type: ignore[assignment]
        only: list[str] | None = None,
        reset: bool = False,
    ) -> ToolFilter:
        """Change a server's tool filter: enable/disable names, allow only some, or reset."""
        server = self._server(profile, server_id)
        spec = self.spec_for(server)
        known = {t.name for t in spec.tools}
        unknown = [t for t in [*enable, *disable, *(only or [])] if known and t not in known]
        if unknown:
            raise InvalidInputError(
                f"server {server_id!r} has no tool {unknown[0]!r}",
                hint=f"its tools: {', '.join(sorted(known))}",
            )
        filt = ToolFilter() if reset else server.tools.model_copy(deep=True)
        if only is not None:
            filt = ToolFilter(allow=list(dict.fromkeys(only)))
        for name in enable:
            if filt.allow is not None and name not in filt.allow:
                filt.allow.append(name)
            if name in filt.deny:
                filt.deny.remove(name)
        for name in disable:
            if filt.allow is not None and name in filt.allow:
                filt.allow.remove(name)
            elif name not in filt.deny:
                filt.deny.append(name)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE profile_servers SET tools = ? WHERE profile = ? AND server_id = ?",
                (_dumps(filt.model_dump()), profile, server_id),
            )
            _touch(conn, profile)
        return filt

    def set_run(self, profile: str, server_id: str, run: ServerRun) -> ServerRun:
        """Set how a server runs in a profile (its runtime and container limits)."""
        server = self._server(profile, server_id)
        spec = self.find_spec(server)
        if (
            spec is not None
            and run.runtime == "docker"
            and spec.source.type
            not in (
                "image",
                "package",
            )
        ):
            raise InvalidInputError(
                f"server {server_id!r} is a {spec.source.type} server, which cannot run "
                "in a container",
                hint="only image and package servers can use the docker runtime",
            )
        if spec is not None and run.runtime == "process" and spec.source.type == "image":
            raise InvalidInputError(
                f"server {server_id!r} is an image, which only the docker runtime can run",
                hint="use --runtime docker or auto",
            )
        with self._db.write() as conn:
            conn.execute(
                "UPDATE profile_servers SET run = ? WHERE profile = ? AND server_id = ?",
                (_dumps(run.model_dump(exclude_defaults=True)), profile, server_id),
            )
            _touch(conn, profile)
        return run

    # -- pins --------------------------------------------------------------------

    def record_tool_pins(
        self,
        profile: str,
        server_id: str,
        tools: Sequence[Mapping[str, Any]],
        *,
        replace: bool,
        first_use: bool = False,
    ) -> dict[str, str]:
        """Approve a server's tools: pin their hashes and keep their definitions.

        ``replace`` re-approves: the pins become exactly ``tools`` (removed tools are
        dropped). Otherwise only tools with no pin are added, and tools whose pin matches
        get their definition stored (pins imported from elsewhere carry only hashes);
        a differing pin is left as it is. ``first_use`` records only when the server has
        no tool pins at all (trust on first use), so a concurrent ``profile lock`` wins.
        Pins and definitions change in one transaction. Returns the pins now stored.
        """
        return record_tool_pins(
            self._db, profile, server_id, tools, replace=replace, first_use=first_use
        )

    def approved_tools(self, profile: str, server_id: str) -> dict[str, dict[str, Any]]:
        """The stored approved definition of each pinned tool of a server (name -> tool).

        A definition is returned only while it still matches the server's pin: pins
        imported or edited elsewhere may have no definition here.
        """
        pins = self._server(profile, server_id).pins.tools
        rows = self._db.query(
            "SELECT tool, hash, definition FROM tool_approvals "
            "WHERE profile = ? AND server_id = ? ORDER BY tool",
            (profile, server_id),
        )
        return {
            r["tool"]: orjson.loads(r["definition"])
            for r in rows
            if pins.get(r["tool"]) == r["hash"]
        }

    def set_artifact_pins(self, profile: str, server_id: str, pins: Pins) -> Pins:
        """Store a server's image and package pins; its tool pins are left as they are."""
        with self._db.write() as conn:
            current = _pins_row(conn, profile, server_id)
            if current is None:
                self._require_profile(conn, profile)
                raise _no_server(profile, server_id)
            merged = pins.model_copy(update={"tools": current.tools})
            _write_pins(conn, profile, server_id, merged)
            _touch(conn, profile)
        return merged

    def profiles_using(self, server_id: str) -> list[str]:
        """Names of the profiles that contain a server."""
        rows = self._db.query(
            "SELECT profile FROM profile_servers WHERE server_id = ? ORDER BY profile", (server_id,)
        )
        return [r["profile"] for r in rows]

    # -- internals -------------------------------------------------------------

    def _server(self, profile: str, server_id: str) -> ProfileServer:
        found = self.get(profile).server(server_id)
        if found is None:
            raise UnknownServerError(
                f"profile {profile!r} has no server {server_id!r}",
                hint=f"add it with 'mcpkit profile server add {server_id} --profile {profile}'",
            )
        return found

    def _edit(self, profile: str, server_id: str, change: Any) -> dict[str, Any]:
        # Read, change and write inside one transaction so concurrent edits of other
        # keys are not lost.
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT * FROM profile_servers WHERE profile = ? AND server_id = ?",
                (profile, server_id),
            ).fetchone()
            if row is None:
                self._require_profile(conn, profile)
                raise UnknownServerError(
                    f"profile {profile!r} has no server {server_id!r}",
                    hint=f"add it with 'mcpkit profile server add {server_id} --profile {profile}'",
                )
            server = _server_from_row(row)
            spec = self.spec_for(server)
            config: dict[str, Any] = change(spec, dict(server.config))
            validate_config(spec, config)
            conn.execute(
                "UPDATE profile_servers SET config = ? WHERE profile = ? AND server_id = ?",
                (_dumps(config), profile, server_id),
            )
            _touch(conn, profile)
        return config

    def _require_profile(self, conn: sqlite3.Connection, name: str) -> None:
        if not conn.execute("SELECT 1 FROM profiles WHERE name = ?", (name,)).fetchone():
            raise self._unknown(name)

    def _unknown(self, name: str) -> UnknownProfileError:
        return UnknownProfileError(
            f"no profile named {name!r}",
            hint=f"see 'mcpkit profile ls', or create it with 'mcpkit profile create {name}'",
        )

    def _write_profile(self, conn: sqlite3.Connection, profile: Profile) -> None:
        now = utcnow()
        conn.execute(
            "INSERT INTO profiles (name, description, prefix_tools, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (profile.name, profile.description, int(profile.prefix_tools), now, now),
        )
        for position, server in enumerate(profile.servers):
            _insert_server(conn, profile.name, server, position)


def record_tool_pins(
    db: Database,
    profile: str,
    server_id: str,
    tools: Sequence[Mapping[str, Any]],
    *,
    replace: bool,
    first_use: bool = False,
) -> dict[str, str]:
    """:meth:`ProfileService.record_tool_pins` on a database connection of its own.

    The gateway records first-use pins from a worker thread, which needs its own
    connection (SQLite connections belong to the thread that opened them).
    """
    current = named_tools(tools)
    now = utcnow()
    with db.write() as conn:
        pins = _pins_row(conn, profile, server_id)
        if pins is None:
            if not conn.execute("SELECT 1 FROM profiles WHERE name = ?", (profile,)).fetchone():
                raise UnknownProfileError(
                    f"no profile named {profile!r}", hint="see 'mcpkit profile ls'"
                )
            raise _no_server(profile, server_id)
        if first_use and pins.tools:
            return dict(pins.tools)
        hashes = {name: tool_hash(tool) for name, tool in current.items()}
        if replace:
            approve = hashes
            conn.execute(
                "DELETE FROM tool_approvals WHERE profile = ? AND server_id = ?",
                (profile, server_id),
            )
            pinned = dict(approve)
        else:
            approve = {n: h for n, h in hashes.items() if pins.tools.get(n, h) == h}
            pinned = {**pins.tools, **approve}
        for name, digest in approve.items():
            conn.execute(
                "INSERT OR REPLACE INTO tool_approvals "
                "(profile, server_id, tool, hash, definition, approved_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    profile,
                    server_id,
                    name,
                    digest,
                    canonical_json(tool_definition(current[name])),
                    now,
                ),
            )
        if pinned != pins.tools:
            _write_pins(conn, profile, server_id, pins.model_copy(update={"tools": pinned}))
            _touch(conn, profile)
    return pinned


def _pins_row(conn: sqlite3.Connection, profile: str, server_id: str) -> Pins | None:
    row = conn.execute(
        "SELECT pins FROM profile_servers WHERE profile = ? AND server_id = ?",
        (profile, server_id),
    ).fetchone()
    return None if row is None else Pins.model_validate(orjson.loads(row["pins"]))


def _write_pins(conn: sqlite3.Connection, profile: str, server_id: str, pins: Pins) -> None:
    conn.execute(
        "UPDATE profile_servers SET pins = ? WHERE profile = ? AND server_id = ?",
        (_dumps(pins.model_dump()), profile, server_id),
    )


def _no_server(profile: str, server_id: str) -> UnknownServerError:
    return UnknownServerError(
        f"profile {profile!r} has no server {server_id!r}",
        hint=f"add it with 'mcpkit profile server add {server_id} --profile {profile}'",
    )


def _check_name(name: str) -> None:
    try:
        check_profile_name(name)
    except ValueError as exc:
        raise UsageError(str(exc), hint="for example: mcpkit profile create dev") from exc


def _initial_pins(spec: ServerSpec) -> Pins:
    src = spec.source
    if src.type == "image":
        return Pins(image_digest=src.digest)
    if src.type == "package":
        return Pins(package_version=src.version, package_hashes=list(src.hashes))
    return Pins()


def _insert_server(conn: sqlite3.Connection, profile: str, server: ProfileServer, pos: int) -> None:
    conn.execute(
        "INSERT INTO profile_servers "
        "(profile, server_id, position, spec, config, tools, pins, run) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            profile,
            server.id,
            pos,
            _dumps(server.spec.to_data()) if server.spec else None,
            _dumps(server.config),
            _dumps(server.tools.model_dump()),
            _dumps(server.pins.model_dump()),
            _dumps(server.run.model_dump(exclude_defaults=True)),
        ),
    )


def _touch(conn: sqlite3.Connection, profile: str) -> None:
    conn.execute("UPDATE profiles SET updated_at = ? WHERE name = ?", (utcnow(), profile))


def _server_from_row(row: sqlite3.Row) -> ProfileServer:
    return ProfileServer(
        id=row["server_id"],
        spec=ServerSpec.model_validate(orjson.loads(row["spec"])) if row["spec"] else None,
        config=orjson.loads(row["config"]),
        tools=ToolFilter.model_validate(orjson.loads(row["tools"]))
        if row["tools"]
        else ToolFilter(),
        pins=Pins.model_validate(orjson.loads(row["pins"])),
        run=ServerRun.model_validate(orjson.loads(row["run"])),
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
