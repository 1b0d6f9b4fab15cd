"""The ``mcpkit`` command. Errors are printed once, here, and become exit codes."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from mcpkit import __version__
from mcpkit.app import App
from mcpkit.errors import McpkitError, format_error


class McpkitGroup(click.Group):
    """A group that turns mcpkit errors into one message and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except McpkitError as err:
            click.echo(format_error(err), err=True)
            ctx.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=McpkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mcpkit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """mcpkit: securely build, share and run MCP servers.

    State lives under the XDG directories (MCPKIT_HOME puts it all in one folder).
    """
    app = App(os.environ)
    ctx.obj = app

    def close() -> None:
        for notice in app.notices:
            click.echo(notice, err=True)
        app.close()

    ctx.call_on_close(close)


def _register() -> None:
    from mcpkit.cli import (
        build,
        catalog,
        client,
        config,
        doctor,
        gateway,
        oauth,
        profile,
        registry,
        secret,
        server,
        share,
        tools,
        trust,
    )

    for module in (catalog, profile, server, secret, gateway, tools, build, config, doctor):
        cli.add_command(module.command)
    cli.add_command(oauth.command)
    cli.add_command(trust.command)
    cli.add_command(client.command)
    cli.add_command(registry.command)
    profile.command.add_command(share.profile_push)
    profile.command.add_command(share.profile_pull)
    catalog.command.add_command(share.catalog_push)
    catalog.command.add_command(share.catalog_pull)


_register()


def main() -> None:
    """Console entry point."""
    sys.exit(cli.main(prog_name="mcpkit"))
