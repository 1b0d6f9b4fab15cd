"""Deterministic, collision-free names for the tools and prompts of many servers.

Rules (pure functions, tested with Hypothesis):

- a name no other server uses is exposed as the server gives it, unless the profile asks
  for prefixes, so adding a server never renames another server's tools unless they collide;
- when two or more servers give the same name, every one of them is exposed as
  ``<server>__<name>``: the result does not depend on the order servers answered in;
- if a prefixed name is itself taken, ``~2``, ``~3``… are appended, in sorted
  (server, name) order so the result never depends on the order servers are listed in;
- names are cut to the 128 characters MCP allows, keeping them unique (two unique names
  that cut to the same text are prefixed like a collision).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

SEPARATOR = "__"
MAX_NAME = 128


def assign_names(
    items: Sequence[tuple[str, str]], *, prefix_all: bool = False
) -> dict[tuple[str, str], str]:
    """Map each (server, original name) to its exposed name.

    The result depends only on the set of pairs, never on their order; a duplicate
    (server, name) pair is named once.
    """
    pairs = sorted(dict.fromkeys(items))
    counts = Counter(name for _, name in pairs)
    # Two unique names longer than MAX_NAME may cut to the same text: neither stays plain.
    fitted = Counter(_fit(name) for name, count in counts.items() if count == 1)
    taken: set[str] = set()
    names: dict[tuple[str, str], str] = {}
    if not prefix_all:
        for server, name in pairs:
            if counts[name] == 1 and fitted[_fit(name)] == 1:
                names[(server, name)] = _fit(name)
                taken.add(names[(server, name)])
    # Sorted pairs make the ~N suffixes of prefixed names that meet (``a`` + ``b__c`` and
    # ``a__b`` + ``c``, or two cut to the same 128 characters) independent of server order.
    for server, name in pairs:
        if (server, name) in names:
            continue
        candidate = _fit(f"{server}{SEPARATOR}{name}")
        suffix = 2
        while candidate in taken:
            candidate = _fit(f"{server}{SEPARATOR}{name}", f"~{suffix}")
            suffix += 1
        names[(server, name)] = candidate
        taken.add(candidate)
    return names


def collisions(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Names given by more than one server, with the servers that give them."""
    by_name: dict[str, list[str]] = {}
    for server, name in dict.fromkeys(items):
        by_name.setdefault(name, []).append(server)
    return {name: servers for name, servers in by_name.items() if len(servers) > 1}


def _fit(name: str, suffix: str = "") -> str:
    if len(name) + len(suffix) <= MAX_NAME:
        return name + suffix
    return name[: MAX_NAME - len(suffix)] + suffix
