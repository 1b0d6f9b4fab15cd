"""``mcpkit gateway``: serve a profile's servers to MCP clients."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import click

from mcpkit.app import App
from mcpkit.cli._options import pass_app, profile_option
from mcpkit.errors import UsageError
from mcpkit.gateway.build import build_gateway, run_options
from mcpkit.gateway.core import Gateway

TOKEN_ENV = "MCPKIT_GATEWAY_TOKEN"  # noqa: S105 - the variable's name, not a token
log = logging.getLogger("mcpkit.gateway")


@click.group("gateway")
def command() -> None:
    """Run the gateway that serves a profile's tools, prompts and resources."""


def _csv(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@command.command("run")
@profile_option
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http", "sse"]),
    default="stdio",
    show_default=True,
    help="stdio for one client; http serves streamable HTTP at /mcp and legacy SSE at /sse.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (http, sse).")
@click.option("--port", type=int, default=8811, show_default=True, help="Port (0: any free port).")
@click.option(
    "--servers",
    multiple=True,
    help="Serve only these servers of the profile (repeat or comma-separate).",
)
@click.option("--tools", multiple=True, help="Serve only tools matching these glob patterns.")
@click.option(
    "--block-secrets/--no-block-secrets",
    default=None,
    help="Block calls that leak secrets (default on).",
)
@click.option(
    "--log-calls/--no-log-calls", default=None, help="Log every tool call (shape, not values)."
)
@click.option(
    "--allow-unsandboxed",
    is_flag=True,
    default=None,
    help="Run servers with no sandbox when bubblewrap is missing.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "bwrap", "none"]),
    default=None,
    help="Sandbox for package and command servers.",
)
@click.option(
    "--runtime",
    type=click.Choice(["auto", "process", "docker"]),
    default=None,
    help="auto: image servers in containers, the rest as processes; or force one for all.",
)
@click.option("--memory", default=None, help="Container memory limit, e.g. 512m (docker runtime).")
@click.option("--cpus", type=float, default=None, help="CPUs per container (docker runtime).")
@click.option(
    "--pids-limit", "pids", type=int, default=None, help="Processes per container (docker runtime)."
)
@click.option(
    "--pull",
    type=click.Choice(["never", "missing", "always"]),
    default=None,
    help="Pull images at start: never (the default), when missing, or always.",
)
@click.option(
    "--allow-write-root",
    "allowed_roots",
    multiple=True,
    help="Host folder under which servers' declared writable mounts may write (repeat).",
)
@click.option(
    "--allow-insecure-remote",
    is_flag=True,
    default=None,
    help="Let remote servers use http:// and loopback/private addresses (testing only; unsafe).",
)
@click.option(
    "--verify-signatures",
    is_flag=True,
    default=None,
    help="Start only servers that verify (digest-pinned, signed by an accepted key, attested "
    "as the trust policy requires; packages locked); the others fail alone.",
)
@click.option("--lazy/--eager", default=None, help="Start servers on first use instead of at once.")
@click.option(
    "--idle-timeout",
    type=float,
    default=None,
    help="Stop servers idle this many seconds (0: never).",
)
@click.option(
    "--prefix-tools", is_flag=True, default=None, help="Expose every tool as SERVER__TOOL."
)
@click.option(
    "--allow-unauthenticated", is_flag=True, help="Serve HTTP with no bearer token (unsafe)."
)
@click.option(
    "--allowed-origin", multiple=True, help="Browser Origin allowed besides localhost (repeat)."
)
@click.option("--verbose", "-v", is_flag=True, help="Log server starts, crashes and restarts.")
@pass_app
def run(
    app: App,
    profile: str,
    transport: str,
    host: str,
    port: int,
    servers: tuple[str, ...],
    tools: tuple[str, ...],
    allow_unauthenticated: bool,
    allowed_origin: tuple[str, ...],
    verbose: bool,
    block_secrets: bool | None,
    log_calls: bool | None,
    allow_unsandboxed: bool | None,
    sandbox: str | None,
    lazy: bool | None,
    idle_timeout: float | None,
    prefix_tools: bool | None,
    runtime: str | None,
    memory: str | None,
    cpus: float | None,
    pids: int | None,
    pull: str | None,
    allowed_roots: tuple[str, ...],
    allow_insecure_remote: bool | None,
    verify_signatures: bool | None,
) -> None:
    """Start the servers of PROFILE and serve them to MCP clients.

    With --transport stdio (the default) a client starts this command itself. With
    --transport http the gateway listens on http://HOST:PORT/mcp (streamable HTTP, both
    protocol eras) and /sse (legacy SSE), and requires a bearer token: MCPKIT_GATEWAY_TOKEN,
    or one generated and printed at start.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="mcpkit: %(message)s",
        stream=sys.stderr,
    )
    # One line per HTTP request to remote servers is noise, and URLs may carry codes.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    opts = run_options(
        app,
        profile=profile,
        servers=_csv(servers),
        tools=_csv(tools),
        block_secrets=block_secrets,
        log_calls=log_calls,
        allow_unsandboxed=allow_unsandboxed,
        sandbox=sandbox,
        lazy=lazy,
        idle_timeout=idle_timeout,
        prefix_tools=prefix_tools,
        runtime=runtime,
        memory=memory,
        cpus=cpus,
        pids=pids,
        pull=pull,
        verify_signatures=verify_signatures,
        allowed_roots=list(allowed_roots) or None,
        allow_insecure_remote=allow_insecure_remote,
    )
    gateway = build_gateway(
        app, opts, progress=lambda line: click.echo(f"mcpkit: {line}", err=True)
    )
    for slot in gateway.slots.values():
        if slot.error:
            click.echo(f"mcpkit: {slot.id}: {slot.error}", err=True)
    if transport == "stdio":
        _run(_serve_stdio(gateway))
        return
    token = app.environ.get(TOKEN_ENV)
    if allow_unauthenticated:
        if token:
            raise UsageError(f"--allow-unauthenticated and {TOKEN_ENV} do not fit together")
        click.echo(
            "mcpkit: WARNING: the HTTP front accepts any local client, with no token", err=True
        )
    elif not token:
        token = secrets.token_urlsafe(32)
        click.echo(f"mcpkit: bearer token for this gateway: {token}", err=True)
    _run(_serve_http(gateway, host, port, token, list(allowed_origin), transport))


async def _serve_stdio(gateway: Gateway) -> None:
    from mcpkit.transport.stdio_server import serve_stdio

    await gateway.start()
    try:
        await serve_stdio(gateway)
    finally:
        await gateway.aclose()


async def _serve_http(
    gateway: Gateway, host: str, port: int, token: str | None, origins: list[str], transport: str
) -> None:
    from mcpkit.transport.http_server import serve_http

    def ready(bound: int) -> None:
        where = f"http://{host}:{bound}"
        click.echo(
            f"mcpkit: serving profile {gateway.options.profile!r} at {where}/mcp (and {where}/sse)",
            err=True,
        )

    try:
        await serve_http(
            gateway, host=host, port=port, token=token, allowed_origins=origins, ready=ready
        )
    finally:
        await gateway.aclose()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the gateway on uvloop when it is installed; stop cleanly on SIGTERM/SIGINT."""

    async def guarded() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is not None:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
        try:
            await main
        except asyncio.CancelledError:
            return

    try:
        import uvloop
    except ImportError:
        asyncio.run(guarded())
    else:
        uvloop.run(guarded())
