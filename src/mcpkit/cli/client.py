"""``mcpkit client``: put the gateway into AI clients' own config files, and take it out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json, table
from mcpkit.errors import UsageError
from mcpkit.profiles.model import DEFAULT_PROFILE

if TYPE_CHECKING:
    from mcpkit.clients.service import Change, ClientService, ClientStatus

Scope = Literal["global", "project"]


def client_service(app: App, project: Path | None = None) -> ClientService:
    """The client service on this app's environment, with the current folder as the project."""
    from mcpkit.clients.service import ClientService

    return ClientService(
        app.environ,
        platform=sys.platform,
        project=project or Path.cwd(),
        backup_dir=app.locations.data_dir / "client-backups",
    )


def _scope(global_: bool, project: bool) -> Scope | None:
    if global_ and project:
        raise UsageError("give --global or --project, not both")
    if global_:
        return "global"
    return "project" if project else None


_scope_options = [
    click.option("--global", "global_", is_flag=True, help="The client's user-wide config."),
    click.option("--project", is_flag=True, help="The config of the project in this folder."),
]


def _with_scope(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(_scope_options):
        fn = option(fn)
    return fn


@click.group("client")
def command() -> None:
    """Connect AI clients (Claude, Cursor, VS Code, Codex…) to the gateway."""


@command.command("ls")
@click.argument("clients", nargs=-1, metavar="[CLIENT]...")
@click.option("--all", "show_all", is_flag=True, help="Also list clients that are not installed.")
@json_option
@pass_app
def ls_(app: App, clients: tuple[str, ...], show_all: bool, as_json: bool) -> None:
    """Known clients: installed or not, and connected to which profile."""
    statuses = client_service(app).status(list(clients) or None)
    shown = [s for s in statuses if show_all or clients or s.installed or s.exists]
    if as_json:
        emit_json([_status_data(s) for s in shown])
        return
    home = Path(app.environ.get("HOME") or Path.home())
    if not shown:
        click.echo("no known AI client is installed here ('mcpkit client ls --all' lists them)")
        return
    table(
        ["CLIENT", "SCOPE", "STATE", "PROFILE", "CONFIG"],
        [
            [s.client.id, s.scope, _state(s), s.profile or "-", _home_short(s.path, home)]
            for s in shown
        ],
    )
    for status in shown:
        if status.error:
            click.echo(f"warning: {status.client.id}: {status.error}", err=True)


def _state(status: ClientStatus) -> str:
    if status.error:
        return "unreadable"
    if status.connected:
        return "connected"
    if status.installed or status.exists:
        return "installed"
    return "not installed"


def _status_data(status: ClientStatus) -> dict[str, object]:
    return {
        "client": status.client.id,
        "name": status.client.name,
        "scope": status.scope,
        "path": str(status.path),
        "installed": status.installed,
        "exists": status.exists,
        "connected": status.connected,
        "profile": status.profile,
        "error": status.error,
    }


def _home_short(path: Path, home: Path) -> str:
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


@command.command("connect")
@click.argument("client")
@click.option(
    "--profile",
    "-p",
    default=DEFAULT_PROFILE,
    show_default=True,
    help="The profile the client's gateway serves.",
)
@_with_scope
@json_option
@pass_app
def connect(
    app: App, client: str, profile: str, global_: bool, project: bool, as_json: bool
) -> None:
    """Add the gateway (as the server 'mcpkit') to CLIENT's config; a second run changes nothing."""
    app.profiles.get(profile)  # an unknown profile is an error before any file is touched
    change = client_service(app).connect(client, profile, scope=_scope(global_, project))
    if as_json:
        emit_json(_change_data(change))
        return
    _echo_change(change, profile)


@command.command("disconnect")
@click.argument("client")
@_with_scope
@json_option
@pass_app
def disconnect(app: App, client: str, global_: bool, project: bool, as_json: bool) -> None:
    """Remove the gateway's entry from CLIENT's config (nothing else is touched)."""
    changes = client_service(app).disconnect(client, scope=_scope(global_, project))
    if as_json:
        emit_json([_change_data(c) for c in changes])
        return
    for change in changes:
        _echo_change(change, None)


def _change_data(change: Change) -> dict[str, object]:
    return {
        "client": change.client.id,
        "scope": change.scope,
        "path": str(change.path),
        "action": change.action,
        "backup": str(change.backup) if change.backup else None,
        "previous_profile": change.previous_profile,
        "target": str(change.target) if change.target else None,
    }


def _echo_change(change: Change, profile: str | None) -> None:
    where = f"{change.client.name} ({change.scope}: {change.path})"
    messages = {
        "connected": f"connected {where} to profile {profile}",
        "switched": f"switched {where} from profile {change.previous_profile} to {profile}",
        "unchanged": f"{where} is already connected to profile {profile}; nothing changed",
        "disconnected": f"disconnected {where}",
        "absent": f"{where} has no mcpkit entry; nothing changed",
    }
    click.echo(messages[change.action])
    if change.target is not None and change.action != "unchanged":
        click.echo(f"  {change.path} is a link: its target {change.target} was edited")
    if change.backup:
        click.echo(f"  previous file saved as {change.backup}")
    if change.action in ("connected", "switched", "disconnected"):
        click.echo(f"  restart {change.client.name} (or reload its MCP servers) to see the change")
