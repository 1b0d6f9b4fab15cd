"""The secret service: names and scopes over a :class:`SecretStore`.

A secret is named ``<server>.<key>`` (``github.token``) and is either global or
scoped to one profile; when a server of profile P needs a secret, P's scoped value
wins over the global one. Values live only in the store; the state database keeps
an index of names (some stores, like the OS keyring, cannot list what they hold),
which ``secret ls`` joins with the profiles to show who uses what.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcpkit.catalog.model import SECRET_NAME_RE
from mcpkit.errors import SecretStoreError, UnknownSecretError, UsageError
from mcpkit.profiles.service import ProfileService
from mcpkit.secrets.base import MAX_VALUE_BYTES, SecretStore
from mcpkit.store import Database, utcnow

GLOBAL = ""


def storage_key(name: str, scope: str = GLOBAL) -> str:
    """The store key for a secret name in a scope (``""`` is global, else a profile name)."""
    return f"profile/{scope}/{name}" if scope else f"global/{name}"


def parse_storage_key(key: str) -> tuple[str, str] | None:
    """``(name, scope)`` from a store key, or None if it is not one of ours."""
    parts = key.split("/")
    if len(parts) == 2 and parts[0] == "global":
        return parts[1], GLOBAL
    if len(parts) == 3 and parts[0] == "profile":
        return parts[2], parts[1]
    return None


@dataclass
class SecretInfo:
    """One line of ``secret ls``: never the value."""

    name: str
    scope: str
    store: str
    #: ``profile/server`` pairs whose spec declares this secret.
    used_by: list[str] = field(default_factory=list)

    @property
    def orphan(self) -> bool:
        """True when no server of any profile declares it (for a scoped one: of its profile)."""
        return not self.used_by


@dataclass
class Requirement:
    """A secret a server of a profile needs, and whether it is set."""

    server: str
    name: str
    env: str | None
    required: bool
    present_in: str | None  # "profile" | "global" | None


class SecretService:
    """Sets, resolves, lists and removes secrets."""

    def __init__(self, db: Database, store: SecretStore, profiles: ProfileService) -> None:
        self._db = db
        self.store = store
        self._profiles = profiles

    def set(self, name: str, value: str, *, profile: str | None = None) -> None:
        """Store a value (global, or scoped to ``profile``)."""
        check_secret_name(name)
        if not value:
            raise UsageError("refusing to store an empty secret", hint="pipe the value on stdin")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise UsageError("a secret value may be at most 64 KiB")
        scope = self._scope(profile)
        self.store.set(storage_key(name, scope), value)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO secrets_index (name, scope, store, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name, scope) DO UPDATE SET store = excluded.store, "
                "updated_at = excluded.updated_at",
                (name, scope, self.store.name, utcnow()),
            )

    def resolve(self, name: str, *, profile: str | None = None) -> str | None:
        """The value a server of ``profile`` gets: the profile's, else the global one."""
        if profile:
            value = self.store.get(storage_key(name, profile))
            if value is not None:
                return value
        return self.store.get(storage_key(name))

    def remove(self, name: str, *, profile: str | None = None) -> None:
        """Remove one secret from one scope."""
        scope = self._scope(profile)
        removed = self.store.delete(storage_key(name, scope))
        with self._db.write() as conn:
            indexed = conn.execute(
                "DELETE FROM secrets_index WHERE name = ? AND scope = ?", (name, scope)
            ).rowcount
        if not removed and not indexed:
            where = f"profile {scope!r}" if scope else "the global scope"
            raise UnknownSecretError(
                f"no secret {name!r} in {where}",
                hint="list secrets with 'mcpkit secret ls'",
            )

    def list_secrets(self) -> list[SecretInfo]:
        """Every known secret with the servers that use it (values never read)."""
        found: dict[tuple[str, str], SecretInfo] = {}
        for row in self._db.query("SELECT name, scope, store FROM secrets_index"):
            found[(row["name"], row["scope"])] = SecretInfo(row["name"], row["scope"], row["store"])
        for key in self.store.keys() or []:
            parsed = parse_storage_key(key)
            if parsed and parsed not in found:
                found[parsed] = SecretInfo(parsed[0], parsed[1], self.store.name)
        users = self._users()
        for (name, scope), info in found.items():
            info.used_by = [f"{p}/{s}" for p, s in users.get(name, []) if not scope or p == scope]
        return sorted(found.values(), key=lambda i: (i.name, i.scope))

    def requirements(self, profile: str) -> list[Requirement]:
        """The secrets the servers of a profile need, and where each is set."""
        result = []
        for server in self._profiles.get(profile).servers:
            spec = self._profiles.find_spec(server)
            for ref in spec.secrets if spec else []:
                where = None
                if self.store.get(storage_key(ref.name, profile)) is not None:
                    where = "profile"
                elif self.store.get(storage_key(ref.name)) is not None:
                    where = "global"
                result.append(Requirement(server.id, ref.name, ref.env, ref.required, where))
        return result

    def release(
        self, names: list[str], profile: str, *, purge: bool
    ) -> tuple[dict[str, list[str]], list[str]]:
        """After a server left ``profile``: which of its secrets stay, which were purged.

        Kept secrets map to the profiles whose servers still declare them. With
        ``purge``, a secret is removed (its global value and ``profile``'s scoped one)
        only when no server of any profile still declares it.
        """
        users = self._users()
        kept: dict[str, list[str]] = {}
        purged: list[str] = []
        for name in names:
            scopes = [GLOBAL, profile]
            stored = [s for s in scopes if self.store.get(storage_key(name, s)) is not None]
            if not stored:
                continue
            if purge and not users.get(name):
                for scope in stored:
                    self.remove(name, profile=scope or None)
                purged.append(name)
            else:
                kept[name] = sorted({p for p, _ in users.get(name, [])})
        return kept, purged

    def _users(self) -> dict[str, list[tuple[str, str]]]:
        users: dict[str, list[tuple[str, str]]] = {}
        for summary in self._profiles.list_profiles():
            for server in self._profiles.get(summary.name).servers:
                spec = self._profiles.find_spec(server)  # None: gone, declares nothing now
                for name in spec.secret_names if spec else []:
                    users.setdefault(name, []).append((summary.name, server.id))
        return users

    def _scope(self, profile: str | None) -> str:
        if profile is None:
            return GLOBAL
        self._profiles.get(profile)  # raises UnknownProfileError with a hint
        return profile


def check_secret_name(name: str) -> None:
    """Raise UsageError unless ``name`` is ``<server>.<key>``."""
    if not SECRET_NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid secret name {name!r}",
            hint="secret names are <server>.<key> in lower case, e.g. github.token",
        )


__all__ = [
    "GLOBAL",
    "Requirement",
    "SecretInfo",
    "SecretService",
    "SecretStoreError",
    "check_secret_name",
    "parse_storage_key",
    "storage_key",
]
