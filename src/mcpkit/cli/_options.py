"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mcpkit.app import App
from mcpkit.catalog.custom import SpecOptions
from mcpkit.profiles.model import DEFAULT_PROFILE

F = Callable[..., Any]

pass_app = click.make_pass_decorator(App)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")

profile_option = click.option(
    "--profile",
    "-p",
    default=DEFAULT_PROFILE,
    show_default=True,
    help="Profile to act on.",
)

_SPEC_OPTIONS: list[Callable[[F], F]] = [
    click.option("--command", help="Run a local command (quoted: 'python -m my_server --flag')."),
    click.option("--image", help="Run an OCI image."),
    click.option("--pypi", help="Run a PyPI package: NAME or NAME==VERSION."),
    click.option("--npm", help="Run an npm package: NAME or NAME@VERSION."),
    click.option("--url", help="Proxy a remote MCP server at this URL."),
    click.option(
        "--transport",
        type=click.Choice(["streamable-http", "sse"]),
        default="streamable-http",
        help="Transport of a --url server.",
    ),
    click.option("--title", help="Display title (defaults to the id)."),
    click.option("--description", "spec_description", default="", help="One-line description."),
    click.option("--arg", "args", multiple=True, help="Extra argument (repeatable)."),
    click.option("--env", multiple=True, help="KEY=VALUE for the server (repeatable)."),
    click.option(
        "--secret",
        "secret_refs",
        multiple=True,
        help="NAME=ENV_VAR: inject secret NAME as ENV_VAR (repeatable).",
    ),
    click.option("--header", multiple=True, help="Name=Value header for --url (repeatable)."),
    click.option("--volume", multiple=True, help="SOURCE:/TARGET[:ro|rw] (repeatable)."),
    click.option(
        "--network",
        default="none",
        show_default=True,
        help="none, any, or comma-separated hosts.",
    ),
]


def spec_options(func: F) -> F:
    """Add the options that describe a server without a catalog entry."""
    for option in reversed(_SPEC_OPTIONS):
        func = option(func)
    return func


def pop_spec_options(kwargs: dict[str, Any]) -> SpecOptions:
    """Take the spec options out of a command's kwargs."""
    return SpecOptions(
        command=kwargs.pop("command"),
        image=kwargs.pop("image"),
        pypi=kwargs.pop("pypi"),
        npm=kwargs.pop("npm"),
        url=kwargs.pop("url"),
        transport=kwargs.pop("transport"),
        title=kwargs.pop("title"),
        description=kwargs.pop("spec_description"),
        args=list(kwargs.pop("args")),
        env=list(kwargs.pop("env")),
        secrets=list(kwargs.pop("secret_refs")),
        headers=list(kwargs.pop("header")),
        volumes=list(kwargs.pop("volume")),
        network=kwargs.pop("network"),
    )


#: Shared by every command that starts a profile's servers (``tools``, ``profile lock|diff``).
allow_unsandboxed_option = click.option(
    "--allow-unsandboxed",
    is_flag=True,
    default=None,
    help="Run servers with no sandbox when bubblewrap is missing.",
)
allow_insecure_remote_option = click.option(
    "--allow-insecure-remote",
    is_flag=True,
    default=None,
    help="Let remote servers use http:// and loopback/private addresses (testing only).",
)
