"""``mcpkit doctor``: what this machine offers, with hints."""

from __future__ import annotations

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json
from mcpkit.doctor import run_checks


@click.command("doctor")
@json_option
@pass_app
def command(app: App, as_json: bool) -> None:
    """Check the machine: engines, sandbox, keyring, state directory, versions."""
    checks = run_checks(app.environ, app.locations)
    if as_json:
        emit_json([vars(c) for c in checks])
        return
    for check in checks:
        mark = "ok " if check.ok else "-- "
        click.echo(f"{mark} {check.name:<11} {check.detail}")
        if check.hint and not check.ok:
            click.echo(f"    {'':<11} hint: {check.hint}")
