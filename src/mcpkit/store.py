"""Where mcpkit keeps its files, and the state database.

Locations follow the XDG base directory spec; ``MCPKIT_HOME`` puts everything under
one folder instead (tests, portable installs). The environment is always passed in,
never read from ``os.environ`` here, so callers and tests decide.

The state database is one SQLite file in WAL mode. Every write runs in a
``BEGIN IMMEDIATE`` transaction, so two ``mcpkit`` commands writing at once are
serialised by SQLite itself (each waits up to ``busy_timeout``) and nothing is lost.
Schema changes are numbered migrations recorded in ``PRAGMA user_version``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mcpkit.errors import StateError

APP = "mcpkit"
BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Locations:
    """The directories mcpkit reads and writes."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    state_dir: Path

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Locations:
        """Resolve locations from ``MCPKIT_HOME`` or the XDG variables and ``HOME``."""
        root = environ.get("MCPKIT_HOME")
        # Installed server environments are big and shareable: MCPKIT_CACHE_DIR moves just them.
        cache = environ.get("MCPKIT_CACHE_DIR")
        if root:
            base = Path(root).expanduser()
            cache_dir = Path(cache).expanduser() if cache else base / "cache"
            return cls(base / "config", base / "data", cache_dir, base / "state")
        home = Path(environ.get("HOME") or Path.home())

        def xdg(var: str, default: str) -> Path:
            value = environ.get(var)
            # The spec says relative paths are invalid and must be ignored.
            path = Path(value) if value and Path(value).is_absolute() else home / default
            return path / APP

        return cls(
            config_dir=xdg("XDG_CONFIG_HOME", ".config"),
            data_dir=xdg("XDG_DATA_HOME", ".local/share"),
            cache_dir=Path(cache).expanduser() if cache else xdg("XDG_CACHE_HOME", ".cache"),
            state_dir=xdg("XDG_STATE_HOME", ".local/state"),
        )

    @property
    def db_path(self) -> Path:
        """The state database."""
        return self.data_dir / "state.db"

    @property
    def config_file(self) -> Path:
        """The user's settings (TOML)."""
        return self.config_dir / "config.toml"

    def ensure(self) -> None:
        """Create the directories, private to the user."""
        for path in (self.config_dir, self.data_dir, self.cache_dir, self.state_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)


def utcnow() -> str:
    """Now, as an ISO 8601 UTC timestamp (what the database stores)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


_MIGRATIONS: tuple[str, ...] = (
    # 1: catalogs, profiles, secrets index, misc metadata.
    """
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE catalog_sources (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        location TEXT NOT NULL,
        priority INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        etag TEXT,
        last_modified TEXT,
        content_hash TEXT,
        updated_at TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE catalog_entries (
        source TEXT NOT NULL REFERENCES catalog_sources(name) ON DELETE CASCADE,
        server_id TEXT NOT NULL,
        spec TEXT NOT NULL,
        PRIMARY KEY (source, server_id)
    );
    CREATE VIRTUAL TABLE catalog_fts USING fts5(
        server_id UNINDEXED, title, description, tags, tools,
        tokenize = 'porter unicode61'
    );
    CREATE TABLE profiles (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        prefix_tools INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE profile_servers (
        profile TEXT NOT NULL REFERENCES profiles(name) ON DELETE CASCADE,
        server_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        spec TEXT,
        config TEXT NOT NULL DEFAULT '{}',
        tools TEXT,
        pins TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (profile, server_id)
    );
    CREATE TABLE secrets_index (
        name TEXT NOT NULL,
        scope TEXT NOT NULL DEFAULT '',
        store TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (name, scope)
    );
    """,
    # 2: how each server of a profile runs (runtime, container limits).
    """
    ALTER TABLE profile_servers ADD COLUMN run TEXT NOT NULL DEFAULT '{}';
    """,
    # 3: the approved definition of each pinned tool, so a change can be shown as a diff
    # (the pins themselves stay in profile_servers.pins, which exports carry).
    """
    CREATE TABLE IF NOT EXISTS tool_approvals (
        profile TEXT NOT NULL,
        server_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        hash TEXT NOT NULL,
        definition TEXT NOT NULL,
        approved_at TEXT NOT NULL,
        PRIMARY KEY (profile, server_id, tool),
        FOREIGN KEY (profile, server_id) REFERENCES profile_servers (profile, server_id)
            ON DELETE CASCADE
    );
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


class Database:
    """The state database: one connection, WAL, migrations applied on open."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE below).
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise _state_error(path, exc) from exc
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once so concurrent writers queue instead of failing."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _state_error(self.path, exc) from exc
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK")
            raise _state_error(self.path, exc) from exc

    def query(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[sqlite3.Row]:
        """Run a read query and return all rows."""
        try:
            return list(self._conn.execute(sql, params))
        except sqlite3.Error as exc:
            raise _state_error(self.path, exc) from exc

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for read-only helpers that run their own queries."""
        return self._conn

    def get_meta(self, key: str) -> str | None:
        """A value from the ``meta`` table."""
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    def _migrate(self) -> None:
        version = self._user_version()
        if version > SCHEMA_VERSION:
            raise StateError(
                f"the state database {self.path} has schema version {version}, "
                f"newer than this mcpkit knows ({SCHEMA_VERSION})",
                hint="upgrade mcpkit (pip install -U mcpkit), or point MCPKIT_HOME elsewhere",
            )
        if version == SCHEMA_VERSION:
            return
        with self.write() as conn:
            # Another process may have migrated while we waited for the lock.
            current = self._user_version()
            for number, script in enumerate(_MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    def _user_version(self) -> int:
        try:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _state_error(self.path, exc) from exc


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; run statements one by one instead.
    return [s.strip() for s in script.split(";") if s.strip()]


def _state_error(path: Path, exc: sqlite3.Error) -> StateError:
    if "locked" in str(exc) or "busy" in str(exc):
        return StateError(
            f"the state database {path} stayed locked by another mcpkit command",
            hint="wait for the other command to finish and run this one again",
        )
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return StateError(
            f"{path} is not an mcpkit state database (it may be corrupt)",
            hint=f"move {path} aside and run the command again to start afresh",
        )
    return StateError(f"the state database {path} failed: {exc}", hint="run 'mcpkit doctor'")
