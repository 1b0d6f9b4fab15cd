"""MCP protocol versions and the two eras they belong to."""

from __future__ import annotations

from typing import Literal

Era = Literal["handshake", "stateless"]

#: Versions negotiated with ``initialize`` (sessions, GET stream), oldest first.
HANDSHAKE_VERSIONS: tuple[str, ...] = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
#: Versions where every request is self-contained (``_meta``, ``server/discover``).
STATELESS_VERSIONS: tuple[str, ...] = ("2026-07-28",)
SUPPORTED_VERSIONS: tuple[str, ...] = HANDSHAKE_VERSIONS + STATELESS_VERSIONS
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
LATEST_STATELESS = STATELESS_VERSIONS[-1]


def era_of(version: str) -> Era:
    """The era of a version; unknown versions after the last handshake one are stateless."""
    if version in HANDSHAKE_VERSIONS:
        return "handshake"
    if version in STATELESS_VERSIONS or version > LATEST_HANDSHAKE:
        return "stateless"
    return "handshake"


def negotiate(requested: object) -> str:
    """The version to answer an ``initialize`` with: the client's when known, else our latest."""
    if isinstance(requested, str) and requested in HANDSHAKE_VERSIONS:
        return requested
    return LATEST_HANDSHAKE
