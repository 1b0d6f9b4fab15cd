"""Helpers of the docker runtime's tests: the probe's spec, a served gateway, its tools."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from mcpkit.app import App
from mcpkit.catalog.model import ServerSpec
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.local import LocalClient, local_client
from mcpkit.runtime.engine import Engine


def probe_spec(image: str, server_id: str = "probe", **extra: Any) -> ServerSpec:
    """An image spec for the probe, with whatever else a test declares."""
    return ServerSpec.model_validate(
        {"id": server_id, "title": "Probe", "source": {"type": "image", "image": image}} | extra
    )


@contextlib.asynccontextmanager
async def serving(app: App, **run: Any) -> AsyncIterator[tuple[Gateway, LocalClient]]:
    """A started gateway on the app's default profile, and an initialized client of it."""
    gateway = build_gateway(app, RunOptions(**run))
    async with local_client(gateway) as client:
        await gateway.wait_lists(60)
        yield gateway, client


async def call(client: LocalClient, tool: str, **arguments: Any) -> Any:
    """A probe tool's JSON answer."""
    result = await client.request("tools/call", {"name": tool, "arguments": arguments})
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


def containers_of(engine_target: Any, app: App) -> list[dict[str, Any]]:
    """Every container (running or not) of this app's mcpkit home on the engine."""
    from mcpkit.runtime.docker import home_label

    engine = Engine.from_environ(engine_target.environ)
    try:
        found: list[dict[str, Any]] = engine.call_sync(
            engine.api.containers,
            all=True,
            filters={"label": f"io.mcpkit.home={home_label(app.locations)}"},
            what="list containers",
        )
    finally:
        engine.close()
    return found
