"""Tool pinning: a hash of each tool's definition, and what changed since approval.

A tool is approved by recording the hash of what a model reads and what decides the
arguments it sends: the tool's ``name``, ``description`` and ``inputSchema``. A server
that later presents a different definition under an approved name (a "rug pull"), or a
tool nobody approved, is caught by comparing hashes. Everything here is pure: the
gateway, ``profile lock`` and ``profile diff`` feed it lists and pins.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: Why a tool is not approved: its definition changed, or it has no pin at all.
Unapproved = Literal["changed", "new"]
HASH_PREFIX = "sha256:"


def tool_definition(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a tool that is pinned: name, description ("" if absent), input schema."""
    description = tool.get("description")
    schema = tool.get("inputSchema")
    return {
        "name": tool.get("name"),
        "description": "" if description is None else description,
        "inputSchema": {} if schema is None else schema,
    }


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, non-ASCII kept as is: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tool_hash(tool: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of the tool's pinned definition."""
    raw = canonical_json(tool_definition(tool)).encode()
    return HASH_PREFIX + hashlib.sha256(raw).hexdigest()


def named_tools(tools: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Tools by name; items without a string name are not tools and are skipped."""
    return {t["name"]: t for t in tools if isinstance(t.get("name"), str)}


def hash_tools(tools: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Name -> hash of every tool in a list."""
    return {name: tool_hash(tool) for name, tool in named_tools(tools).items()}


@dataclass(frozen=True)
class PinReport:
    """How a server's current tools compare with its pins (names, sorted)."""

    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """True when every current tool is approved and no approved tool is gone."""
        return not (self.changed or self.added or self.removed)

    @property
    def approved(self) -> bool:
        """True when every current tool is approved (removed tools harm nothing)."""
        return not (self.changed or self.added)

    def unapproved(self) -> dict[str, Unapproved]:
        """The tools a gateway must not serve unreviewed, and why."""
        found: dict[str, Unapproved] = dict.fromkeys(self.changed, "changed")
        found.update(dict.fromkeys(self.added, "new"))
        return dict(sorted(found.items()))

    def to_data(self) -> dict[str, list[str]]:
        """Plain data for ``--json``."""
        return {
            "changed": list(self.changed),
            "added": list(self.added),
            "removed": list(self.removed),
            "unchanged": list(self.unchanged),
        }


def compare(pins: Mapping[str, str], tools: Sequence[Mapping[str, Any]]) -> PinReport:
    """Compare current tools with the approved hashes (name -> ``sha256:…``)."""
    return compare_hashes(pins, hash_tools(tools))


def compare_hashes(pins: Mapping[str, str], current: Mapping[str, str]) -> PinReport:
    """Compare current hashes with the approved ones (both name -> ``sha256:…``)."""
    changed, added, unchanged = [], [], []
    for name, digest in current.items():
        pinned = pins.get(name)
        if pinned is None:
            added.append(name)
        elif pinned == digest:
            unchanged.append(name)
        else:
            changed.append(name)
    removed = [name for name in pins if name not in current]
    return PinReport(
        changed=tuple(sorted(changed)),
        added=tuple(sorted(added)),
        removed=tuple(sorted(removed)),
        unchanged=tuple(sorted(unchanged)),
    )


def definition_lines(tool: Mapping[str, Any]) -> list[str]:
    """A tool's pinned definition as lines to read and diff: description, then the schema."""
    definition = tool_definition(tool)
    description = definition["description"]
    text = description if isinstance(description, str) else canonical_json(description)
    lines = ["description:"]
    lines += [f"  {line}" for line in text.splitlines()] or ["  "]
    lines.append("inputSchema:")
    schema = json.dumps(definition["inputSchema"], indent=2, sort_keys=True, ensure_ascii=False)
    lines += [f"  {line}" for line in schema.splitlines()]
    return lines


def definition_diff(
    name: str,
    approved: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    *,
    context: int = 3,
) -> list[str]:
    """A unified diff of a tool's approved and current definitions (either may be absent)."""
    before = definition_lines(approved) if approved is not None else []
    after = definition_lines(current) if current is not None else []
    return list(
        difflib.unified_diff(
            before,
            after,
            fromfile=f"{name} (approved)" if approved is not None else "/dev/null",
            tofile=f"{name} (now)" if current is not None else "/dev/null",
            n=context,
            lineterm="",
        )
    )
