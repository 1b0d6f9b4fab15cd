"""Full-text search over the effective catalog (SQLite FTS5, ranked with bm25)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

from mcpkit.catalog.model import ServerSpec

# Column weights for bm25: a hit in the id/title counts most, then tags, then the rest.
_WEIGHTS = "10.0, 2.0, 5.0, 1.5"
_TOKEN_RE = re.compile(r"[\w-]+", re.UNICODE)


def rebuild_index(conn: sqlite3.Connection, specs: Iterable[ServerSpec]) -> None:
    """Replace the search index with these specs (called inside a write transaction)."""
    conn.execute("DELETE FROM catalog_fts")
    conn.executemany(
        "INSERT INTO catalog_fts (server_id, title, description, tags, tools) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (
                spec.id,
                f"{spec.id.replace('-', ' ')} {spec.id} {spec.title}",
                spec.description,
                " ".join([spec.category, *spec.tags, spec.publisher.name]),
                " ".join(f"{t.name.replace('_', ' ')} {t.description}" for t in spec.tools),
            )
            for spec in specs
        ],
    )


def match_expression(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: every word must match, as a prefix.

    User text is never passed to FTS5 as syntax (quotes, ``NEAR``, ``-`` would be
    operators); each word becomes a quoted prefix term.
    """
    words = [w.replace('"', "") for w in _TOKEN_RE.findall(text.lower())]
    words = [w for w in words if w]
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


def search_ids(conn: sqlite3.Connection, text: str, limit: int = 50) -> list[str]:
    """Server ids matching ``text``, best first. All words must match; if that finds
    nothing, any word may match (so a longer query still finds something)."""
    expr = match_expression(text)
    if expr is None:
        return []
    sql = (
        f"SELECT server_id FROM catalog_fts WHERE catalog_fts MATCH ? "  # noqa: S608 - constant
        f"ORDER BY bm25(catalog_fts, {_WEIGHTS}) LIMIT ?"
    )
    ids = [row[0] for row in conn.execute(sql, (expr, limit))]
    if not ids and " " in expr:
        ids = [row[0] for row in conn.execute(sql, (expr.replace(" ", " OR "), limit))]
    return ids
