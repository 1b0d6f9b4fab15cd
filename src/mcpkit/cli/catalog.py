"""``mcpkit catalog``: browse, search and update catalogs; manage sources and custom catalogs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from mcpkit.app import App
from mcpkit.catalog.custom import build_spec
from mcpkit.cli._options import json_option, pass_app, pop_spec_options, spec_options
from mcpkit.cli._render import REMOTE_MARK, emit_json, kind_of, short, spec_summary, table
from mcpkit.errors import InvalidInputError, McpkitError
from mcpkit.settings import atomic_write


@click.group("catalog")
def command() -> None:
    """Browse and search the servers mcpkit knows, and manage where they come from.

    Sources are merged by precedence: the bundled catalog 'default' first, then each
    source or custom catalog in the order it was added; a later one overrides an
    earlier one's server of the same id (see 'catalog source ls').
    """


@command.command("ls")
@click.option("--remote/--local", "remote", default=None, help="Only remote or only local servers.")
@click.option("--category", help="Only this category.")
@json_option
@pass_app
def ls_(app: App, remote: bool | None, category: str | None, as_json: bool) -> None:
    """List the servers of the effective catalog (remote ones are marked ☁)."""
    entries = [
        e
        for e in app.catalog.entries()
        if (remote is None or e.spec.is_remote == remote)
        and (category is None or e.spec.category == category)
    ]
    if as_json:
        emit_json([spec_summary(e.spec, e.source) for e in entries])
        return
    table(
        ["ID", "KIND", "CATEGORY", "CATALOG", "DESCRIPTION"],
        [
            [e.spec.id, kind_of(e.spec), e.spec.category, e.source, short(e.spec.description)]
            for e in entries
        ],
    )
    click.echo(f"\n{len(entries)} servers ({REMOTE_MARK} = remote, hosted elsewhere)", err=True)


@command.command("show")
@click.argument("server_id")
@click.option("--format", "fmt", type=click.Choice(["text", "yaml", "json"]), default="text")
@pass_app
def show(app: App, server_id: str, fmt: str) -> None:
    """Show everything a catalog says about one server."""
    entry = app.catalog.get(server_id)
    data = entry.spec.to_data() | {"remote": entry.spec.is_remote, "catalog": entry.source}
    if fmt == "json":
        emit_json(data)
        return
    if fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
        return
    spec = entry.spec
    click.echo(f"{spec.title} ({spec.id})" + (f"  {REMOTE_MARK} remote" if spec.is_remote else ""))
    if spec.description:
        click.echo(f"  {spec.description}")
    click.echo(
        f"  kind:      {kind_of(spec)}   catalog: {entry.source}   category: {spec.category}"
    )
    click.echo(f"  publisher: {spec.publisher.name} ({spec.publisher.tier})")
    click.echo(f"  source:    {_source_line(spec.source.model_dump())}")
    if spec.homepage:
        click.echo(f"  homepage:  {spec.homepage}")
    for ref in spec.secrets:
        target = f"env {ref.env}" if ref.env else f"file {ref.file}"
        click.echo(f"  secret:    {ref.name} -> {target}  {ref.description}".rstrip())
    for key, prop in (spec.config_schema.get("properties") or {}).items():
        req = " (required)" if key in spec.config_schema.get("required", []) else ""
        about = f"{prop.get('type', 'any')}{req}  {prop.get('description', '')}"
        click.echo(f"  config:    {key}: {about}".rstrip())
    click.echo(f"  network:   {spec.network.mode} {' '.join(spec.network.hosts)}".rstrip())
    if spec.tools:
        click.echo("  tools:")
        for tool in spec.tools:
            click.echo(f"    {tool.name}  {short(tool.description, 70)}".rstrip())


@command.command("search")
@click.argument("text", nargs=-1, required=True)
@json_option
@pass_app
def search(app: App, text: tuple[str, ...], as_json: bool) -> None:
    """Full-text search over ids, titles, descriptions, tags and tools, best first."""
    entries = app.catalog.search(" ".join(text))
    if as_json:
        emit_json([spec_summary(e.spec, e.source) for e in entries])
        return
    if not entries:
        click.echo(f"no server matches {' '.join(text)!r}", err=True)
        return
    table(
        ["ID", "KIND", "DESCRIPTION"],
        [[e.spec.id, kind_of(e.spec), short(e.spec.description, 70)] for e in entries],
    )


@command.command("update")
@click.argument("sources", nargs=-1)
@pass_app
def update(app: App, sources: tuple[str, ...]) -> None:
    """Refresh sources (all, or those named). A failing source keeps its last copy."""
    outcomes = app.catalog.update(list(sources) or None)
    failed = 0
    for out in outcomes:
        if out.error is not None:
            failed += 1
            click.echo(
                f"{out.source}: FAILED, kept the previous copy ({out.servers} servers)", err=True
            )
            click.echo("  " + str(out.error), err=True)
            if out.error.hint:
                click.echo(f"  hint: {out.error.hint}", err=True)
        else:
            click.echo(f"{out.source}: {out.status} ({out.servers} servers)")
        for warning in out.warnings:
            click.echo(f"  warning: {warning}", err=True)
    if not outcomes:
        click.echo("no sources to update (add one with 'mcpkit catalog source add NAME URL')")
    if failed:
        raise click.exceptions.Exit(6)


@command.group("source")
def source() -> None:
    """Manage catalog sources (file, URL, MCP Registry API, registry folder)."""


@source.command("add")
@click.argument("name")
@click.argument("location")
@click.option(
    "--kind",
    type=click.Choice(["file", "url", "registry", "folder"]),
    help="Kind of source (guessed from LOCATION when not given).",
)
@click.option("--priority", type=int, help="Precedence (higher wins; default: above all others).")
@pass_app
def source_add(app: App, name: str, location: str, kind: str | None, priority: int | None) -> None:
    """Add a source and fetch it. If the fetch fails, nothing is added."""
    if kind in (None, "file", "folder") and "://" not in location and Path(location).exists():
        location = str(Path(location).resolve())
    outcome = app.catalog.add_source(name, location, kind=kind, priority=priority)
    if outcome is not None:
        click.echo(f"added {name}: {outcome.servers} servers")
        for warning in outcome.warnings:
            click.echo(f"  warning: {warning}", err=True)


@source.command("ls")
@json_option
@pass_app
def source_ls(app: App, as_json: bool) -> None:
    """List sources, lowest precedence first."""
    infos = app.catalog.sources()
    if as_json:
        emit_json([vars(i) for i in infos])
        return
    table(
        ["NAME", "KIND", "PRIORITY", "SERVERS", "UPDATED", "LOCATION"],
        [
            [
                i.name,
                i.kind,
                i.priority,
                i.servers,
                i.updated_at or "never",
                i.location
                + (f"  (last update failed: {short(i.last_error, 50)})" if i.last_error else ""),
            ]
            for i in infos
        ],
    )


@source.command("rm")
@click.argument("name")
@pass_app
def source_rm(app: App, name: str) -> None:
    """Remove a source (or custom catalog) and its stored copy."""
    info = app.catalog.remove_source(name)
    click.echo(f"removed {info.name} ({info.servers} servers)")


@command.command("create")
@click.argument("name")
@click.option("--description", default="")
@pass_app
def create(app: App, name: str, description: str) -> None:
    """Create an empty custom catalog to add your own servers to."""
    app.catalog.create_catalog(name, description)
    click.echo(
        f"created catalog {name}; add servers with "
        f"'mcpkit catalog server add {name} ID --command ...'"
    )


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Name of the new custom catalog.")
@pass_app
def import_(app: App, file: Path, name: str) -> None:
    """Create a custom catalog from a catalog file (a copy; see 'source add' to track a file)."""
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {file}: {exc.strerror}") from exc
    info = app.catalog.import_catalog(name, text, str(file))
    click.echo(f"imported {info.servers} servers into catalog {name}")


@command.command("export")
@click.argument("name", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@pass_app
def export(app: App, name: str | None, output: Path | None, fmt: str) -> None:
    """Write a catalog (one source, or the effective catalog) as YAML or JSON."""
    doc = app.catalog.export(name)
    text = (
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if fmt == "json"
        else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    )
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write(output, text.encode(), mode=0o644)
        click.echo(f"wrote {len(doc['servers'])} servers to {output}", err=True)


@command.group("server")
def server() -> None:
    """Add or remove servers of a custom catalog."""


@server.command("add")
@click.argument("catalog")
@click.argument("server_id")
@spec_options
@click.option("--replace", is_flag=True, help="Overwrite a server of the same id.")
@pass_app
def server_add(app: App, /, catalog: str, server_id: str, replace: bool, **kwargs: Any) -> None:
    """Add a server (a command, image, package or URL) to a custom catalog."""
    spec = build_spec(server_id, pop_spec_options(kwargs))
    app.catalog.add_to_catalog(catalog, spec, replace=replace)
    click.echo(f"added {spec.id} to catalog {catalog} ({kind_of(spec)})")


@server.command("rm")
@click.argument("catalog")
@click.argument("server_id")
@pass_app
def server_rm(app: App, catalog: str, server_id: str) -> None:
    """Remove a server from a custom catalog."""
    app.catalog.remove_from_catalog(catalog, server_id)
    click.echo(f"removed {server_id} from catalog {catalog}")


def _source_line(src: dict[str, Any]) -> str:
    kind = src.get("type")
    if kind == "package":
        ver = f" {src['version']}" if src.get("version") else ""
        return f"{src['registry']} {src['name']}{ver}"
    if kind == "image":
        return f"image {src['image']}"
    if kind == "remote":
        return f"{src['transport']} {src['url']}"
    return f"command {src.get('command')}"


__all__ = ["McpkitError", "command"]
