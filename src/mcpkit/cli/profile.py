"""``mcpkit profile``: named sets of servers with their config and tool lists."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from mcpkit.app import App
from mcpkit.catalog.custom import build_spec
from mcpkit.cli._options import (
    json_option,
    pass_app,
    pop_spec_options,
    profile_option,
    spec_options,
)
from mcpkit.cli._render import emit_json, kind_of, table
from mcpkit.errors import InvalidInputError, UsageError
from mcpkit.profiles import io as profile_io
from mcpkit.profiles.config import missing_required
from mcpkit.profiles.model import DEFAULT_PROFILE, Profile, ServerRun
from mcpkit.settings import atomic_write


@click.group("profile")
def command() -> None:
    """Named sets of servers, each with its config; the 'default' profile always exists."""


@command.command("create")
@click.argument("name")
@click.option("--server", "-s", "servers", multiple=True, help="Catalog server id (repeatable).")
@click.option("--description", default="")
@click.option("--prefix-tools", is_flag=True, help="Expose every tool as SERVER__TOOL.")
@pass_app
def create(
    app: App, name: str, servers: tuple[str, ...], description: str, prefix_tools: bool
) -> None:
    """Create a profile, optionally with servers from the catalog."""
    profile = app.profiles.create(
        name, description=description, servers=list(servers), prefix_tools=prefix_tools
    )
    click.echo(f"created profile {name} with {len(profile.servers)} servers")
    _print_needed_secrets(app, name)


@command.command("ls")
@json_option
@pass_app
def ls_(app: App, as_json: bool) -> None:
    """List profiles."""
    summaries = app.profiles.list_profiles()
    if as_json:
        emit_json([vars(s) for s in summaries])
        return
    table(
        ["NAME", "SERVERS", "DESCRIPTION"],
        [[s.name, " ".join(s.servers) or "-", s.description] for s in summaries],
    )


@command.command("show")
@click.argument("name", default=DEFAULT_PROFILE)
@json_option
@pass_app
def show(app: App, name: str, as_json: bool) -> None:
    """Show a profile's servers, config, tool filters and missing secrets."""
    profile = app.profiles.get(name)
    rows: list[dict[str, Any]] = []
    for server in profile.servers:
        spec = app.profiles.find_spec(server)
        rows.append(
            {
                "id": server.id,
                "kind": kind_of(spec) if spec else "missing",
                "remote": spec.is_remote if spec else False,
                "own_spec": server.spec is not None,
                "config": server.config,
                "tools": server.tools.model_dump(),
                "missing_config": missing_required(spec, server.config) if spec else [],
                "problem": None
                if spec
                else "in no catalog any more: re-add its catalog source, "
                f"or remove it with 'mcpkit profile server rm {server.id}'",
            }
        )
    needs = app.secrets.requirements(name) if profile.servers else []
    if as_json:
        emit_json(
            {
                "name": profile.name,
                "description": profile.description,
                "prefix_tools": profile.prefix_tools,
                "servers": rows,
                "secrets": [vars(r) for r in needs],
            }
        )
        return
    click.echo(
        f"profile {profile.name}" + (f": {profile.description}" if profile.description else "")
    )
    if not rows:
        click.echo(
            "  (no servers; add one with 'mcpkit profile server add ID"
            + ("" if name == DEFAULT_PROFILE else f" --profile {name}")
            + "')"
        )
    for row in rows:
        click.echo(f"  {row['id']}  [{row['kind']}]" + ("  (own spec)" if row["own_spec"] else ""))
        for key, value in row["config"].items():
            click.echo(f"    config {key} = {value!r}")
        if row["problem"]:
            click.echo(f"    {row['problem']}")
        for key in row["missing_config"]:
            click.echo(f"    config {key} is required and not set")
        tools = row["tools"]
        if tools["allow"] is not None:
            click.echo(f"    tools allowed: {', '.join(tools['allow']) or '(none)'}")
        if tools["deny"]:
            click.echo(f"    tools disabled: {', '.join(tools['deny'])}")
    for req in needs:
        state = f"set ({req.present_in})" if req.present_in else "MISSING"
        click.echo(f"  secret {req.name} for {req.server}: {state}")


@command.command("rm")
@click.argument("name")
@pass_app
def rm(app: App, name: str) -> None:
    """Remove a profile. Its servers' secrets stay (see 'mcpkit secret ls --orphans')."""
    profile = app.profiles.remove(name)
    click.echo(
        f"removed profile {name} ({len(profile.servers)} servers); secrets were kept, "
        "remove unused ones with 'mcpkit secret rm --orphans'"
    )


@command.command("export")
@click.argument("name", default=DEFAULT_PROFILE)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default=None,
    help="Default: from the output file's extension, else yaml.",
)
@pass_app
def export(app: App, name: str, output: Path | None, fmt: str | None) -> None:
    """Write a profile as YAML or JSON (no secret values, only the names it needs)."""
    profile = app.profiles.get(name)
    specs = {s.id: app.profiles.spec_for(s) for s in profile.servers}
    fmt = fmt or ("json" if output is not None and output.suffix == ".json" else "yaml")
    text = profile_io.render(profile_io.to_document(profile, specs), fmt)  # type: ignore[arg-type]
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write(output, text.encode(), mode=0o644)
        click.echo(f"wrote profile {name} to {output}", err=True)


@command.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Import under this name instead of the one in the file.")
@click.option("--replace", is_flag=True, help="Overwrite a profile of the same name.")
@click.option(
    "--from-docker",
    is_flag=True,
    help="Import Docker MCP Toolkit's enabled servers into the default profile.",
)
@click.option(
    "--from-client",
    "from_client",
    metavar="CLIENT",
    help="Make a profile (named after the client, or --name) of the servers an AI client "
    "configures by hand; literal secrets move into the secret store.",
)
@click.option(
    "--project",
    "client_project",
    is_flag=True,
    help="With --from-client: read the client's config of the project in this folder.",
)
@pass_app
def import_(
    app: App,
    file: Path | None,
    name: str | None,
    replace: bool,
    from_docker: bool,
    from_client: str | None,
    client_project: bool,
) -> None:
    """Import a profile exported with 'profile export' (FILE, or '-' for stdin)."""
    if (file is not None) + bool(from_client) + from_docker > 1:
        raise UsageError("give one of FILE, --from-client or --from-docker")
    if client_project and not from_client:
        raise UsageError("--project goes with --from-client")
    if from_client:
        _import_from_client(app, from_client, name, replace, client_project)
        return
    if from_docker:
        for line in app.import_docker_toolkit():
            click.echo(line)
        return
    if file is None:
        raise UsageError(
            "give a FILE to import (or '-' for stdin), --from-client CLIENT or --from-docker"
        )
    if str(file) == "-":
        text, origin = sys.stdin.buffer.read(), "<stdin>"
    else:
        try:
            text, origin = file.read_bytes(), str(file)
        except OSError as exc:
            raise InvalidInputError(f"cannot read {file}: {exc.strerror}") from exc
    profile: Profile = profile_io.from_text(text, origin=origin, name=name)
    app.profiles.save(profile, replace=replace)
    click.echo(f"imported profile {profile.name} ({len(profile.servers)} servers)")
    _print_needed_secrets(app, profile.name)


def _import_from_client(
    app: App, client: str, name: str | None, replace: bool, project: bool
) -> None:
    from mcpkit.cli.client import client_service
    from mcpkit.clients.table import get_client
    from mcpkit.profiles.client_import import import_from_client

    definition = get_client(client)
    path, servers, warnings = client_service(app).servers(
        definition.id, scope="project" if project else None
    )
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    target = name or definition.id.replace("_", "-")
    result = import_from_client(
        app,
        servers,
        profile=target,
        client_id=definition.id,
        replace=replace,
        source=path,
        project=Path.cwd() if project else None,
    )
    click.echo(
        f"imported profile {result.profile} from {definition.name} ({path}): "
        f"{len(result.servers)} servers"
    )
    for server_id in result.servers:
        click.echo(f"  + {server_id}")
    for secret in result.secrets:
        click.echo(f"  secret {secret} moved into the secret store")
    for skipped in result.skipped:
        click.echo(f"  skipped {skipped}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    _print_needed_secrets(app, result.profile)
    click.echo(
        f"  serve it with 'mcpkit gateway run --profile {result.profile}', or "
        f"'mcpkit client connect {definition.id} --profile {result.profile}'"
    )


@command.group("server")
def server() -> None:
    """Add or remove a profile's servers."""


@server.command("ls")
@profile_option
@json_option
@pass_app
def server_ls(app: App, profile: str, as_json: bool) -> None:
    """List a profile's servers."""
    servers = app.profiles.get(profile).servers
    specs = [app.profiles.spec_for(s) for s in servers]
    if as_json:
        emit_json(
            [
                {"id": s.id, "kind": kind_of(sp), "remote": sp.is_remote, "config": s.config}
                for s, sp in zip(servers, specs, strict=True)
            ]
        )
        return
    table(
        ["ID", "KIND", "TITLE"],
        [[s.id, kind_of(sp), sp.title] for s, sp in zip(servers, specs, strict=True)],
    )


@server.command("add")
@click.argument("server_id")
@profile_option
@click.option("--config", "-c", "config", multiple=True, help="KEY=VALUE config (repeatable).")
@click.option("--tools", help="Comma-separated tool allowlist.")
@spec_options
@pass_app
def server_add(
    app: App,
    /,
    server_id: str,
    profile: str,
    config: tuple[str, ...],
    tools: str | None,
    **kwargs: Any,
) -> None:
    """Add a catalog server, or your own (--command/--image/--pypi/--npm/--url), to a profile."""
    opts = pop_spec_options(kwargs)
    spec = build_spec(server_id, opts) if opts.given else None
    add_server(app, profile, server_id, spec, config, tools)


@server.command("rm")
@click.argument("server_id")
@profile_option
@click.option(
    "--purge-secrets",
    is_flag=True,
    help="Also remove its secrets that no other profile's server uses.",
)
@pass_app
def server_rm(app: App, server_id: str, profile: str, purge_secrets: bool) -> None:
    """Remove a server from a profile, and say what stays behind."""
    remove_server(app, profile, server_id, purge_secrets)


@command.command("config")
@click.argument("server_id")
@profile_option
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Set a value (repeatable).")
@click.option("--get", "gets", multiple=True, metavar="KEY", help="Print a value (repeatable).")
@click.option("--del", "dels", multiple=True, metavar="KEY", help="Remove a value (repeatable).")
@json_option
@pass_app
def config(
    app: App,
    server_id: str,
    profile: str,
    sets: tuple[str, ...],
    gets: tuple[str, ...],
    dels: tuple[str, ...],
    as_json: bool,
) -> None:
    """Show or change a server's config in a profile (checked against its schema)."""
    pairs = []
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r} is not KEY=VALUE")
        pairs.append((key, value))
    if pairs:
        app.profiles.set_config(profile, server_id, pairs)
    if dels:
        app.profiles.del_config(profile, server_id, list(dels))
    server = app.profiles.get(profile).server(server_id)
    if server is None:  # set/del raised already when missing; a bare show lands here
        raise InvalidInputError(
            f"profile {profile!r} has no server {server_id!r}",
            hint=f"add it with 'mcpkit profile server add {server_id}'",
        )
    values = server.config
    if gets:
        for key in gets:
            if key not in values:
                raise InvalidInputError(f"{server_id} has no config value {key!r} in {profile!r}")
            click.echo(values[key] if isinstance(values[key], str) else repr(values[key]))
        return
    if as_json:
        emit_json(values)
    elif not pairs and not dels:
        for key, value in values.items():
            click.echo(f"{key} = {value!r}")
    else:
        click.echo(f"updated {server_id} in {profile}")


@command.command("tools")
@click.argument("server_id")
@profile_option
@click.option("--enable", multiple=True, help="Expose this tool (repeatable).")
@click.option("--disable", multiple=True, help="Hide this tool (repeatable).")
@click.option("--only", help="Expose only these tools (comma-separated).")
@click.option("--reset", is_flag=True, help="Expose every tool again.")
@pass_app
def tools(
    app: App,
    server_id: str,
    profile: str,
    enable: tuple[str, ...],
    disable: tuple[str, ...],
    only: str | None,
    reset: bool,
) -> None:
    """Choose which of a server's tools the profile exposes."""
    filt = app.profiles.set_tools(
        profile,
        server_id,
        enable=list(enable),
        disable=list(disable),
        only=[t.strip() for t in only.split(",") if t.strip()] if only is not None else None,
        reset=reset,
    )
    allowed = "all" if filt.allow is None else (", ".join(filt.allow) or "none")
    click.echo(
        f"{server_id} in {profile}: allowed {allowed}"
        + (f"; disabled {', '.join(filt.deny)}" if filt.deny else "")
    )


@command.command("runtime")
@click.argument("server_id")
@profile_option
@click.option(
    "--runtime",
    "kind",
    type=click.Choice(["auto", "process", "docker"]),
    help="Where the server runs (auto: image servers in containers, the rest as processes).",
)
@click.option("--memory", help="Container memory limit, e.g. 256m or 1g.")
@click.option("--cpus", type=float, help="CPUs the container may use, e.g. 0.5.")
@click.option("--pids", type=int, help="Most processes and threads in the container.")
@click.option(
    "--read-only-root/--writable-root",
    "read_only",
    default=None,
    help="Keep the container's root read-only (the default), or let the image write to it.",
)
@click.option("--user", help="Run the container as UID[:GID] instead of the hardened default.")
@click.option("--reset", is_flag=True, help="Back to the gateway's defaults.")
@json_option
@pass_app
def runtime(
    app: App,
    server_id: str,
    profile: str,
    kind: str | None,
    memory: str | None,
    cpus: float | None,
    pids: int | None,
    read_only: bool | None,
    user: str | None,
    reset: bool,
    as_json: bool,
) -> None:
    """Show or set how a server runs in a profile: runtime and container limits."""
    entry = app.profiles.get(profile).server(server_id)
    if entry is None:
        raise InvalidInputError(
            f"profile {profile!r} has no server {server_id!r}",
            hint=f"add it with 'mcpkit profile server add {server_id}'",
        )
    current = ServerRun() if reset else entry.run
    changes = {
        key: value
        for key, value in {
            "runtime": kind,
            "memory": memory,
            "cpus": cpus,
            "pids": pids,
            "read_only": read_only,
            "user": user,
        }.items()
        if value is not None
    }
    if changes or reset:
        try:
            current = ServerRun.model_validate(current.model_dump() | changes)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidInputError(
                f"--{'-'.join(str(p) for p in err['loc'])}: {err['msg']}",
                hint="see 'mcpkit profile runtime --help'",
            ) from None
        app.profiles.set_run(profile, server_id, current)
    data = current.model_dump(exclude_defaults=True)
    if as_json:
        emit_json({"runtime": current.runtime} | data)
        return
    settings = ", ".join(f"{k} {v}" for k, v in data.items() if k != "runtime")
    click.echo(
        f"{server_id} in {profile}: runtime {current.runtime}"
        + (f"; {settings}" if settings else "; gateway defaults for limits")
    )


def add_server(
    app: App, profile: str, server_id: str, spec: Any, config: tuple[str, ...], tools: str | None
) -> None:
    """Shared by 'profile server add' and 'server add'."""
    entry = app.profiles.add_server(
        profile,
        server_id,
        spec=spec,
        tools=[t.strip() for t in tools.split(",") if t.strip()] if tools else None,
    )
    if config:
        pairs = [(k, v) for k, _, v in (c.partition("=") for c in config)]
        try:
            app.profiles.set_config(profile, entry.id, pairs)
        except InvalidInputError:
            app.profiles.remove_server(profile, entry.id)  # all or nothing
            raise
    click.echo(f"added {entry.id} to profile {profile}")
    _print_needed_secrets(app, profile, only=entry.id)


def remove_server(app: App, profile: str, server_id: str, purge: bool) -> None:
    """Shared by 'profile server rm' and 'server rm'."""
    removed = app.profiles.remove_server(profile, server_id)
    spec = app.profiles.find_spec(removed)
    click.echo(f"removed {server_id} from profile {profile}")
    if spec is None:
        return
    kept, purged = app.secrets.release(spec.secret_names, profile, purge=purge)
    if spec.source.type in ("package", "image"):
        click.echo(f"  kept: its {spec.source.type} cache under {app.locations.cache_dir}")
    for name in purged:
        click.echo(f"  removed secret {name} (no other profile uses it)")
    for name, others in kept.items():
        why = f" (still used by {', '.join(others)})" if others else ""
        click.echo(f"  kept secret {name}{why}; remove it with 'mcpkit secret rm {name}'")
    tokens_kept = _release_oauth(app, profile, server_id, purge) if spec.is_remote else False
    if (kept or tokens_kept) and not purge:
        click.echo("  pass --purge-secrets to remove the secrets no other profile uses")


def _release_oauth(app: App, profile: str, server_id: str, purge: bool) -> bool:
    """A removed remote server's OAuth credentials: kept (and said so), or revoked with purge.

    The profile's own credential has no other user; the global one is revoked only when no
    other profile has the server. Returns whether any credential was kept.
    """
    from mcpkit.cli.oauth import echo_revoked, oauth_service

    others = [p for p in app.profiles.profiles_using(server_id) if p != profile]
    credentials = app.oauth_credentials
    kept = False
    for scope in (profile, ""):
        if (
            credentials.token(server_id, scope) is None
            and credentials.client(server_id, scope) is None
        ):
            continue
        flag = f" --profile {scope}" if scope else ""
        if purge and not (scope == "" and others):
            service = oauth_service(app)
            echo_revoked(asyncio.run(service.revoke(server_id, profile=scope or None)), "  ")
            continue
        kept = True
        why = f" (still used by {', '.join(others)})" if scope == "" and others else ""
        click.echo(
            f"  kept OAuth tokens of {server_id} ({'profile ' + scope if scope else 'global'})"
            f"{why}; they are not revoked: 'mcpkit oauth revoke {server_id}{flag}' does"
        )
    return kept


def _print_needed_secrets(app: App, profile: str, only: str | None = None) -> None:
    for req in app.secrets.requirements(profile):
        if (only is None or req.server == only) and req.present_in is None:
            scope = "" if profile == DEFAULT_PROFILE else f" --profile {profile}"
            click.echo(
                f"  {req.server} needs secret {req.name}: "
                f"set it with 'mcpkit secret set {req.name}{scope}'"
                if req.required
                else f"  {req.server} can use secret {req.name} (optional)"
            )


from mcpkit.cli import profile_lock  # noqa: E402 - the lock commands live in their own module

command.add_command(profile_lock.lock)
command.add_command(profile_lock.diff)
