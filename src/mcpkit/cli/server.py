"""``mcpkit server``: the servers of a profile (``default`` unless --profile is given).

The same commands as ``profile server …``, one level up because they are the
most used.
"""

from __future__ import annotations

import click

from mcpkit.cli import profile as profile_cli


@click.group("server")
def command() -> None:
    """Add, list and remove a profile's servers (the default profile unless --profile)."""


command.add_command(profile_cli.server_ls, "ls")
command.add_command(profile_cli.server_add, "add")
command.add_command(profile_cli.server_rm, "rm")
