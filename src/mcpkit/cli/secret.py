"""``mcpkit secret``: set, list and remove secrets (values never printed)."""

from __future__ import annotations

import sys

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json, table
from mcpkit.errors import UsageError


@click.group("secret")
def command() -> None:
    """Secrets for servers, named <server>.<key>, global or scoped to one profile.

    Values are read from a hidden prompt or from stdin, never from the command line.
    """


@command.command("set")
@click.argument("name")
@click.argument("extra", nargs=-1, metavar="")
@click.option("--profile", "-p", help="Scope the secret to this profile (it wins over global).")
@pass_app
def set_(app: App, name: str, extra: tuple[str, ...], profile: str | None) -> None:
    """Store a secret; the value comes from stdin or a hidden prompt."""
    if extra:
        # Never echo what was given: it is probably the value.
        raise UsageError(
            "secret values are never taken from the command line (ps and shell history show it)",
            hint=f"type it at the prompt of 'mcpkit secret set {name}', or pipe it on stdin",
        )
    if sys.stdin.isatty():
        value = click.prompt(f"value for {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read()
        # One trailing newline comes from `echo`/heredocs, not from the secret.
        value = value.removesuffix("\n").removesuffix("\r")
    app.secrets.set(name, value, profile=profile)
    where = f"profile {profile}" if profile else "global scope"
    click.echo(f"stored {name} ({where}, {app.store.name} store)")


@command.command("ls")
@click.option("--orphans", is_flag=True, help="Only secrets no profile's server uses.")
@json_option
@pass_app
def ls_(app: App, orphans: bool, as_json: bool) -> None:
    """List secrets: name, scope, store and users; orphans are flagged. Never values."""
    infos = [i for i in app.secrets.list_secrets() if i.orphan or not orphans]
    if as_json:
        emit_json(
            [
                {
                    "name": i.name,
                    "scope": i.scope or "global",
                    "store": i.store,
                    "used_by": i.used_by,
                    "orphan": i.orphan,
                }
                for i in infos
            ]
        )
        return
    table(
        ["NAME", "SCOPE", "STORE", "USED BY"],
        [[i.name, i.scope or "global", i.store, ", ".join(i.used_by) or "(orphan)"] for i in infos],
    )


@command.command("rm")
@click.argument("names", nargs=-1)
@click.option("--profile", "-p", help="Remove the profile-scoped value instead of the global one.")
@click.option("--orphans", is_flag=True, help="Remove every secret no profile's server uses.")
@click.option("--all", "all_", is_flag=True, help="Remove every secret.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation with --all.")
@pass_app
def rm(
    app: App, names: tuple[str, ...], profile: str | None, orphans: bool, all_: bool, yes: bool
) -> None:
    """Remove secrets by name, the orphans, or all of them."""
    if sum([bool(names), orphans, all_]) != 1:
        raise UsageError(
            "give secret NAMEs, --orphans or --all (one of them)",
            hint="see them with 'mcpkit secret ls'",
        )
    if names:
        for name in names:
            app.secrets.remove(name, profile=profile)
            click.echo(f"removed {name}")
        return
    infos = [i for i in app.secrets.list_secrets() if all_ or i.orphan]
    if all_ and infos and not yes:
        click.confirm(f"remove all {len(infos)} secrets?", abort=True)
    for info in infos:
        app.secrets.remove(info.name, profile=info.scope or None)
        click.echo(f"removed {info.name} ({info.scope or 'global'})")
    if not infos:
        click.echo("nothing to remove")
