"""``mcpkit config``: user settings in config.toml."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

from mcpkit.app import App
from mcpkit.cli._options import pass_app
from mcpkit.errors import InvalidInputError, UsageError
from mcpkit.settings import Settings, save_settings


@click.group("config")
def command() -> None:
    """Show or change settings (config.toml in the config directory)."""


@command.command("ls")
@pass_app
def ls_(app: App) -> None:
    """Print every setting with its value."""
    click.echo(f"# {app.locations.config_file}")
    for section, values in app.settings.model_dump().items():
        for key, value in values.items():
            click.echo(f"{section}.{key} = {value!r}")


@command.command("get")
@click.argument("key")
@pass_app
def get(app: App, key: str) -> None:
    """Print one setting (SECTION.KEY)."""
    section, name = _split(key)
    data = app.settings.model_dump()
    if name not in data.get(section, {}):
        raise UsageError(f"unknown setting {key!r}", hint="see 'mcpkit config ls'")
    click.echo(data[section][name])


@command.command("set")
@click.argument("key")
@click.argument("values", nargs=-1, required=True)
@pass_app
def set_(app: App, key: str, values: tuple[str, ...]) -> None:
    """Change one setting; list settings take several VALUES.

    For example: mcpkit config set secrets.get_command pass show {name}
    """
    section, name = _split(key)
    data: dict[str, Any] = app.settings.model_dump()
    if name not in data.get(section, {}):
        raise UsageError(f"unknown setting {key!r}", hint="see 'mcpkit config ls'")
    data[section][name] = list(values) if isinstance(data[section][name], list) else values[0]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"{key}: {exc.errors()[0]['msg']}") from exc
    save_settings(app.locations.config_file, settings)
    click.echo(f"{key} = {data[section][name]!r}")


def _split(key: str) -> tuple[str, str]:
    section, sep, name = key.partition(".")
    if not sep:
        raise UsageError(f"settings are SECTION.KEY, e.g. secrets.store (got {key!r})")
    return section, name
