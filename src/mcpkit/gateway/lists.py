"""The lists a server offers (tools, prompts, resources, templates), and their disk cache.

Lists are cached per server and invalidated by ``list_changed``. The disk cache lets a
gateway answer ``tools/list`` at once on its next start, before the servers are up; a
server's entry is used only while its launch key (spec and config, never secrets) is the same.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mcpkit.settings import atomic_write

#: The list methods, the capability that announces each, and the result key.
LIST_METHODS: dict[str, tuple[str, str]] = {
    "tools": ("tools/list", "tools"),
    "prompts": ("prompts/list", "prompts"),
    "resources": ("resources/list", "resources"),
    "templates": ("resources/templates/list", "resourceTemplates"),
}
CAPABILITY_OF = {
    "tools": "tools",
    "prompts": "prompts",
    "resources": "resources",
    "templates": "resources",
}
#: Safety bound on cursor paging of one list.
MAX_PAGES = 100


@dataclass
class ServerLists:
    """What one server offers, as the server gives it (original names)."""

    tools: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)

    def get(self, kind: str) -> list[dict[str, Any]]:
        """One list by kind (``tools``, ``prompts``, ``resources``, ``templates``)."""
        value: list[dict[str, Any]] = getattr(self, kind)
        return value

    def to_data(self) -> dict[str, Any]:
        """Plain data for the disk cache."""
        return {kind: self.get(kind) for kind in LIST_METHODS}

    @classmethod
    def from_data(cls, data: Any) -> ServerLists | None:
        """Lists from cached data, or None when the data is not usable."""
        if not isinstance(data, dict):
            return None
        lists = cls()
        for kind in LIST_METHODS:
            items = data.get(kind, [])
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                return None
            setattr(lists, kind, items)
        return lists


def launch_key(spec_data: Any, config: Any) -> str:
    """A hash of what decides a server's lists: its spec and config (no secrets)."""
    raw = orjson.dumps([spec_data, config], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:32]


class ListCache:
    """Per-profile cache of server lists in one JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, Any] = {}
        if path is not None:
            with contextlib.suppress(OSError, orjson.JSONDecodeError):
                loaded = orjson.loads(path.read_bytes())
                if isinstance(loaded, dict):
                    self._data = loaded

    def get(self, server: str, key: str) -> ServerLists | None:
        """The cached lists of ``server`` when they were stored under the same key."""
        entry = self._data.get(server)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return ServerLists.from_data(entry.get("lists"))

    def put(self, server: str, key: str, lists: ServerLists) -> None:
        """Store lists and write the file (best effort: a cache never fails a gateway)."""
        self._data[server] = {"key": key, "lists": lists.to_data()}
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            atomic_write(self.path, orjson.dumps(self._data), mode=0o600)


def cache_path(cache_dir: Path, profile: str) -> Path:
    """Where a profile's list cache lives."""
    return cache_dir / "gateway" / f"lists-{profile}.json"
