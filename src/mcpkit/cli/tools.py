"""``mcpkit tools``: list, inspect and call a profile's tools through the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import click

from mcpkit.app import App
from mcpkit.cli._options import (
    allow_insecure_remote_option,
    allow_unsandboxed_option,
    json_option,
    pass_app,
    profile_option,
)
from mcpkit.errors import InvalidInputError, ServerError, UsageError
from mcpkit.gateway.build import build_gateway, run_options
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.local import local_client
from mcpkit.gateway.slot import ServerSlot
from mcpkit.gateway.upstream import UpstreamError

_common = [
    profile_option,
    click.option("--servers", multiple=True, help="Only these servers of the profile."),
    allow_unsandboxed_option,
    allow_insecure_remote_option,
]


def _with_common(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


@click.group("tools")
def command() -> None:
    """See and call the tools a profile serves, as a client of the gateway would."""


def _gateway(
    app: App,
    profile: str,
    servers: tuple[str, ...],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
) -> Gateway:
    names = [p.strip() for s in servers for p in s.split(",") if p.strip()]
    opts = run_options(
        app,
        profile=profile,
        servers=names,
        allow_unsandboxed=allow_unsandboxed,
        allow_insecure_remote=allow_insecure_remote,
    )
    return build_gateway(app, opts, progress=lambda line: click.echo(f"mcpkit: {line}", err=True))


@command.command("ls")
@_with_common
@json_option
@pass_app
def ls_(
    app: App,
    profile: str,
    servers: tuple[str, ...],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
    as_json: bool,
) -> None:
    """List every tool: exposed name, server, original name; and servers that failed."""
    gateway = _gateway(app, profile, servers, allow_unsandboxed, allow_insecure_remote)

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with local_client(gateway) as client:
            await client.request("tools/list")
            await _settle(gateway)
            rows = [
                {
                    "name": name,
                    "server": e.slot.id,
                    "original": e.original,
                    "description": str(e.item.get("description") or "").strip().split("\n")[0],
                }
                for name, e in gateway.tools.items()
            ]
            return rows, gateway.health()["servers"]

    rows, servers_health = asyncio.run(go())
    broken = {sid: h for sid, h in servers_health.items() if h["state"] in ("failed", "crashed")}
    if as_json:
        click.echo(json.dumps({"tools": rows, "servers": servers_health}, indent=2))
    else:
        width = max([len(r["name"]) for r in rows] + [4])
        swidth = max([len(r["server"]) for r in rows] + [6])
        click.echo(f"{'TOOL':<{width}}  {'SERVER':<{swidth}}  ORIGINAL")
        for r in rows:
            original = r["original"] if r["original"] != r["name"] else "="
            click.echo(f"{r['name']:<{width}}  {r['server']:<{swidth}}  {original}")
        for sid, h in broken.items():
            click.echo(f"! {sid}: {h['state']}: {h.get('error', '')}", err=True)
    if broken:
        raise click.exceptions.Exit(10)


@command.command("inspect")
@click.argument("name")
@_with_common
@pass_app
def inspect(
    app: App,
    name: str,
    profile: str,
    servers: tuple[str, ...],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
) -> None:
    """Show one tool: its server, original name, description and input schema."""
    gateway = _gateway(app, profile, servers, allow_unsandboxed, allow_insecure_remote)

    async def go() -> dict[str, Any]:
        async with local_client(gateway) as client:
            await client.request("tools/list")
            exposed = gateway.tools.get(name)
            if exposed is None:
                raise UsageError(
                    f"profile {profile!r} serves no tool {name!r}",
                    hint=f"mcpkit tools ls --profile {profile}",
                )
            return {"server": exposed.slot.id, "original": exposed.original, **exposed.item}

    click.echo(json.dumps(asyncio.run(go()), indent=2))


@command.command("call")
@click.argument("name")
@click.argument("arguments", nargs=-1)
@click.option("--json-args", help="All arguments as one JSON object.")
@_with_common
@json_option
@pass_app
def call(
    app: App,
    name: str,
    arguments: tuple[str, ...],
    json_args: str | None,
    profile: str,
    servers: tuple[str, ...],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
    as_json: bool,
) -> None:
    """Call a tool with KEY=VALUE arguments (values parsed as JSON when they are JSON).

    Example: mcpkit tools call get_current_time timezone=Europe/Paris
    """
    args = _arguments(arguments, json_args)
    gateway = _gateway(app, profile, servers, allow_unsandboxed, allow_insecure_remote)

    async def run() -> Any:
        async with local_client(gateway) as client:
            return await client.request("tools/call", {"name": name, "arguments": args})

    try:
        result = asyncio.run(run())
    except ServerError as exc:
        if "Unknown tool" in exc.message:
            raise UsageError(exc.message, hint=f"mcpkit tools ls --profile {profile}") from None
        raise
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for item in result.get("content", []):
            if item.get("type") == "text":
                click.echo(item.get("text", ""))
            else:
                click.echo(f"[{item.get('type')} content]")
    if result.get("isError"):
        raise click.exceptions.Exit(1)


async def _settle(gateway: Gateway) -> None:
    """Wait until every server has started or failed (lists may have come from the cache)."""

    async def one(slot: ServerSlot) -> None:
        with contextlib.suppress(UpstreamError):
            await slot.connect(None)

    await asyncio.gather(*(one(s) for s in gateway.slots.values() if not s.permanent))


def _arguments(pairs: tuple[str, ...], json_args: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if json_args:
        try:
            loaded = json.loads(json_args)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"--json-args is not JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidInputError("--json-args must be a JSON object")
        args.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"arguments are KEY=VALUE (got {pair!r})")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args
