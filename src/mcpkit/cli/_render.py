"""Output helpers: aligned text tables and JSON, written to stdout only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from mcpkit.catalog.model import ServerSpec

REMOTE_MARK = "☁"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers, columns aligned; the last column is never padded."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        click.echo("  ".join(parts).rstrip())


def emit_json(data: Any) -> None:
    """Print data as indented JSON."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def kind_of(spec: ServerSpec) -> str:
    """A short label for a spec's source; remote servers carry the remote mark."""
    src = spec.source
    if src.type == "package":
        return src.registry
    if src.type == "remote":
        return f"{REMOTE_MARK} remote"
    return src.type


def spec_summary(spec: ServerSpec, source: str | None = None) -> dict[str, Any]:
    """The JSON shape of one catalog listing row."""
    data: dict[str, Any] = {
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "kind": spec.source.registry if spec.source.type == "package" else spec.source.type,
        "remote": spec.is_remote,
        "category": spec.category,
        "publisher": spec.publisher.name,
        "tier": spec.publisher.tier,
        "secrets": spec.secret_names,
    }
    if source is not None:
        data["catalog"] = source
    return data


def short(text: str, width: int = 60) -> str:
    """First line of a text, cut to a width."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
