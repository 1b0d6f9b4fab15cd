"""The catalog service: sources, their stored copies, precedence, update and search.

Every source's last good copy is stored in the state database. The *effective*
catalog is the union of all sources where, for the same server id, the source with
the higher priority wins. The bundled catalog is the source ``default`` with
priority 0; every source or custom catalog added later gets a higher priority than
all before it, so **later sources override earlier ones** (``--priority`` changes that).

``update`` fetches each source on its own: a source that is down, slow or returns
garbage is reported and keeps its previous copy; the others are swapped in, each in
one transaction.
"""

from __future__ import annotations

import difflib
import hashlib
import sqlite3
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from mcpkit.catalog.document import CatalogDocument, dump_catalog, load_catalog_text
from mcpkit.catalog.model import ServerSpec
from mcpkit.catalog.search import rebuild_index, search_ids
from mcpkit.catalog.sources import CatalogSource, Validators, guess_kind, make_source
from mcpkit.errors import (
    ConflictError,
    McpkitError,
    UnknownCatalogError,
    UnknownServerError,
    UsageError,
)
from mcpkit.store import Database, utcnow

BUNDLED_SOURCE = "default"
CUSTOM_KIND = "custom"
BUNDLED_KIND = "bundled"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True)
class SourceInfo:
    """A catalog source as stored."""

    name: str
    kind: str
    location: str
    priority: int
    description: str
    updated_at: str | None
    last_error: str | None
    servers: int


@dataclass(frozen=True)
class Entry:
    """A server of the effective catalog and the source it comes from."""

    spec: ServerSpec
    source: str


@dataclass
class UpdateOutcome:
    """What ``update`` did to one source."""

    source: str
    status: str  # "updated" | "unchanged" | "failed"
    servers: int = 0
    error: McpkitError | None = None
    warnings: list[str] = field(default_factory=list)


def bundled_text() -> bytes:
    """The bundled catalog document shipped inside the package."""
    return (resources.files("mcpkit.catalog.data") / "default.yaml").read_bytes()


class CatalogService:
    """Reads and writes catalogs in the state database."""

    def __init__(self, db: Database, *, source_factory: Any = make_source) -> None:
        self._db = db
        self._make_source = source_factory
        self._ensure_bundled()

    # -- sources -------------------------------------------------------------

    def sources(self) -> list[SourceInfo]:
        """All sources, lowest precedence first."""
        rows = self._db.query(
            "SELECT s.*, (SELECT COUNT(*) FROM catalog_entries e WHERE e.source = s.name) AS n "
            "FROM catalog_sources s ORDER BY s.priority, s.name"
        )
        return [_source_info(row) for row in rows]

    def source(self, name: str) -> SourceInfo:
        """One source by name."""
        for info in self.sources():
            if info.name == name:
                return info
        raise UnknownCatalogError(
            f"no catalog source or custom catalog named {name!r}",
            hint="list them with 'mcpkit catalog source ls'",
        )

    def add_source(
        self,
        name: str,
        location: str,
        *,
        kind: str | None = None,
        priority: int | None = None,
        fetch: bool = True,
    ) -> UpdateOutcome | None:
        """Register a source and fetch it once. If the first fetch fails, nothing is added."""
        _check_name(name)
        kind = kind or guess_kind(location)
        source: CatalogSource = self._make_source(kind, location)
        self._insert_source(name, kind, source.location, priority)
        if not fetch:
            return None
        outcome = self._update_one(self.source(name))
        if outcome.error is not None:
            with self._db.write() as conn:
                conn.execute("DELETE FROM catalog_sources WHERE name = ?", (name,))
            raise outcome.error
        return outcome

    def remove_source(self, name: str) -> SourceInfo:
        """Remove a source or custom catalog and its stored copy."""
        if name == BUNDLED_SOURCE:
            raise UsageError(
                "the bundled catalog 'default' cannot be removed",
                hint="add a source with higher priority to override its entries",
            )
        info = self.source(name)
        with self._db.write() as conn:
            conn.execute("DELETE FROM catalog_sources WHERE name = ?", (name,))
            rebuild_index(conn, self._effective_specs(conn))
        return info

    def update(self, names: list[str] | None = None) -> list[UpdateOutcome]:
        """Refresh the named sources (all fetchable ones when none is named)."""
        infos = [self.source(n) for n in names] if names else self.sources()
        outcomes = []
        for info in infos:
            if info.kind in (CUSTOM_KIND, BUNDLED_KIND):
                if names:  # asked for by name: say why nothing happened
                    outcomes.append(UpdateOutcome(info.name, "unchanged", info.servers))
                continue
            outcomes.append(self._update_one(info))
        return outcomes

    # -- custom catalogs -------------------------------------------------------

    def create_catalog(self, name: str, description: str = "") -> SourceInfo:
        """Create an empty custom catalog (a source whose entries live only here)."""
        _check_name(name)
        self._insert_source(name, CUSTOM_KIND, "", None, description)
        return self.source(name)

    def import_catalog(self, name: str, text: bytes, origin: str) -> SourceInfo:
        """Create a custom catalog from a catalog document (a copy, not a tracked source)."""
        _check_name(name)
        doc = load_catalog_text(text, origin=origin)
        self._insert_source(name, CUSTOM_KIND, "", None, doc.description)
        with self._db.write() as conn:
            self._replace_entries(conn, name, doc.servers)
            rebuild_index(conn, self._effective_specs(conn))
        return self.source(name)

    def add_to_catalog(self, name: str, spec: ServerSpec, *, replace: bool = False) -> None:
        """Add (or with ``replace``, update) a server in a custom catalog."""
        info = self.source(name)
        if info.kind != CUSTOM_KIND:
            raise UsageError(
                f"{name!r} is a {info.kind} source; only custom catalogs can be edited",
                hint=f"create one with 'mcpkit catalog create my-servers' and add {spec.id} there",
            )
        with self._db.write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM catalog_entries WHERE source = ? AND server_id = ?", (name, spec.id)
            ).fetchone()
            if exists and not replace:
                raise ConflictError(
                    f"catalog {name!r} already has a server {spec.id!r}",
                    hint="pass --replace to overwrite it",
                )
            conn.execute(
                "INSERT OR REPLACE INTO catalog_entries (source, server_id, spec) VALUES (?, ?, ?)",
                (name, spec.id, _spec_json(spec)),
            )
            rebuild_index(conn, self._effective_specs(conn))

    def remove_from_catalog(self, name: str, server_id: str) -> None:
        """Remove a server from a custom catalog."""
        info = self.source(name)
        if info.kind != CUSTOM_KIND:
            raise UsageError(
                f"{name!r} is a {info.kind} source; only custom catalogs can be edited"
            )
        with self._db.write() as conn:
            cur = conn.execute(
                "DELETE FROM catalog_entries WHERE source = ? AND server_id = ?", (name, server_id)
            )
            if cur.rowcount == 0:
                raise UnknownServerError(f"catalog {name!r} has no server {server_id!r}")
            rebuild_index(conn, self._effective_specs(conn))

    def export(self, name: str | None = None) -> dict[str, Any]:
        """A catalog document: one source's copy, or the whole effective catalog."""
        if name is None:
            return dump_catalog("effective", "All sources merged by precedence.", self.specs())
        info = self.source(name)
        rows = self._db.query(
            "SELECT spec FROM catalog_entries WHERE source = ? ORDER BY server_id", (name,)
        )
        return dump_catalog(info.name, info.description, [_spec(r["spec"]) for r in rows])

    # -- the effective catalog -------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every server of the effective catalog, by id."""
        rows = self._db.query(_EFFECTIVE_SQL)
        return [Entry(_spec(r["spec"]), r["source"]) for r in rows]

    def specs(self) -> list[ServerSpec]:
        """Every spec of the effective catalog, by id."""
        return [e.spec for e in self.entries()]

    def find(self, server_id: str) -> Entry | None:
        """The winning entry for an id, or None."""
        rows = self._db.query(
            "SELECT e.spec, e.source FROM catalog_entries e JOIN catalog_sources s "
            "ON s.name = e.source WHERE e.server_id = ? ORDER BY s.priority DESC LIMIT 1",
            (server_id,),
        )
        return Entry(_spec(rows[0]["spec"]), rows[0]["source"]) if rows else None

    def get(self, server_id: str) -> Entry:
        """The winning entry for an id; an error with close matches when unknown."""
        entry = self.find(server_id)
        if entry is None:
            raise self.unknown(server_id)
        return entry

    def unknown(self, server_id: str) -> UnknownServerError:
        """The error for an id that is in no catalog, suggesting close ids."""
        ids = [
            r["server_id"] for r in self._db.query("SELECT DISTINCT server_id FROM catalog_entries")
        ]
        close = difflib.get_close_matches(server_id, ids, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        return UnknownServerError(
            f"no server {server_id!r} in any catalog",
            hint=hint + f"find servers with 'mcpkit catalog search {server_id}'",
        )

    def search(self, text: str, limit: int = 50) -> list[Entry]:
        """Servers matching ``text``, best first."""
        ids = search_ids(self._db.connection, text, limit)
        # A word that is exactly a server id names that server: it goes first.
        words = set(text.lower().split())
        ids.sort(key=lambda i: i not in words)
        by_id = {e.spec.id: e for e in self.entries()} if ids else {}
        return [by_id[i] for i in ids if i in by_id]

    # -- internals -------------------------------------------------------------

    def _ensure_bundled(self) -> None:
        text = bundled_text()
        digest = hashlib.sha256(text).hexdigest()
        rows = self._db.query(
            "SELECT content_hash FROM catalog_sources WHERE name = ?", (BUNDLED_SOURCE,)
        )
        if rows and rows[0]["content_hash"] == digest:
            return
        doc = load_catalog_text(text, origin="bundled catalog")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO catalog_sources (name, kind, location, priority, description, "
                "created_at) VALUES (?, ?, 'bundled', 0, ?, ?) ON CONFLICT(name) DO NOTHING",
                (BUNDLED_SOURCE, BUNDLED_KIND, doc.description, utcnow()),
            )
            conn.execute(
                "UPDATE catalog_sources SET content_hash = ?, updated_at = ? WHERE name = ?",
                (digest, utcnow(), BUNDLED_SOURCE),
            )
            self._replace_entries(conn, BUNDLED_SOURCE, doc.servers)
            rebuild_index(conn, self._effective_specs(conn))

    def _insert_source(
        self, name: str, kind: str, location: str, priority: int | None, description: str = ""
    ) -> None:
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM catalog_sources WHERE name = ?", (name,)).fetchone():
                raise ConflictError(
                    f"a catalog source named {name!r} exists already",
                    hint=f"pick another name, or remove it with 'mcpkit catalog source rm {name}'",
                )
            if priority is None:
                top = conn.execute("SELECT MAX(priority) FROM catalog_sources").fetchone()[0]
                priority = (top or 0) + 10
            conn.execute(
                "INSERT INTO catalog_sources (name, kind, location, priority, description, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, kind, location, priority, description, utcnow()),
            )

    def _update_one(self, info: SourceInfo) -> UpdateOutcome:
        row = self._db.query("SELECT * FROM catalog_sources WHERE name = ?", (info.name,))[0]
        validators = Validators(
            etag=row["etag"], last_modified=row["last_modified"], content_hash=row["content_hash"]
        )
        try:
            source: CatalogSource = self._make_source(info.kind, info.location)
            result = source.fetch(validators)
        except McpkitError as exc:
            with self._db.write() as conn:
                conn.execute(
                    "UPDATE catalog_sources SET last_error = ? WHERE name = ?",
                    (exc.message, info.name),
                )
            return UpdateOutcome(info.name, "failed", info.servers, error=exc)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE catalog_sources SET etag = ?, last_modified = ?, content_hash = ?, "
                "updated_at = ?, last_error = NULL WHERE name = ?",
                (
                    result.validators.etag,
                    result.validators.last_modified,
                    result.validators.content_hash,
                    utcnow(),
                    info.name,
                ),
            )
            if result.document is None:
                return UpdateOutcome(info.name, "unchanged", info.servers, warnings=result.warnings)
            doc: CatalogDocument = result.document
            self._replace_entries(conn, info.name, doc.servers)
            rebuild_index(conn, self._effective_specs(conn))
        return UpdateOutcome(info.name, "updated", len(doc.servers), warnings=result.warnings)

    @staticmethod
    def _replace_entries(conn: sqlite3.Connection, source: str, specs: list[ServerSpec]) -> None:
        conn.execute("DELETE FROM catalog_entries WHERE source = ?", (source,))
        conn.executemany(
            "INSERT INTO catalog_entries (source, server_id, spec) VALUES (?, ?, ?)",
            [(source, s.id, _spec_json(s)) for s in specs],
        )

    @staticmethod
    def _effective_specs(conn: sqlite3.Connection) -> list[ServerSpec]:
        return [_spec(row[0]) for row in conn.execute(_EFFECTIVE_SQL)]


# The winning row per server id: the entry whose source has the highest priority.
_EFFECTIVE_SQL = """
SELECT spec, source FROM (
    SELECT e.spec AS spec, e.source AS source, e.server_id AS server_id,
           ROW_NUMBER() OVER (PARTITION BY e.server_id ORDER BY s.priority DESC) AS rank
    FROM catalog_entries e JOIN catalog_sources s ON s.name = e.source
) WHERE rank = 1 ORDER BY server_id
"""


def _spec_json(spec: ServerSpec) -> str:
    return orjson.dumps(spec.to_data()).decode()


def _spec(raw: str) -> ServerSpec:
    # Stored specs were validated when they came in; re-validation keeps one code path
    # for defaults and is cheap for catalogs of this size.
    return ServerSpec.model_validate(orjson.loads(raw))


def _source_info(row: sqlite3.Row) -> SourceInfo:
    return SourceInfo(
        name=row["name"],
        kind=row["kind"],
        location=row["location"],
        priority=row["priority"],
        description=row["description"],
        updated_at=row["updated_at"],
        last_error=row["last_error"],
        servers=row["n"],
    )


def _check_name(name: str) -> None:
    if not name or not set(name) <= _NAME_CHARS or len(name) > 64:
        raise UsageError(
            f"invalid catalog name {name!r}",
            hint="use lower-case letters, digits, '-', '_' or '.' (at most 64)",
        )
