"""The gateway proxies remote servers next to local ones, and a bad remote stays contained.

Remote servers here are real: ``servers/remote_api_server.py`` is an MCP server on the
official SDK served over HTTP by uvicorn on 127.0.0.1, checking an API key the way hosted
servers do. Loopback is what the SSRF guard refuses, so these gateways run with
``allow_insecure_remote`` (``--allow-insecure-remote``) except where the guard is tested.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpkit.app import App
from mcpkit.catalog.model import RemoteSource, SecretRef, ServerSpec
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.slot import SlotOptions

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).parent / "servers" / "remote_api_server.py"
API_KEY = "k3y-" + "9" * 28  # what the remote expects in X-Api-Key
FAST = SlotOptions(init_timeout=20.0, backoff_initial=0.05, backoff_max=0.5)


@contextlib.contextmanager
def remote_server(name: str, *flags: str, key: str | None = None) -> Iterator[int]:
    """Run ``remote_api_server.py`` and yield its port; stopped (by PID) afterwards."""
    env = dict(os.environ)
    args = [sys.executable, str(SERVER), name, *flags]
    if key is not None:
        env["REMOTE_KEY"] = key
        args += ["--key-env", "REMOTE_KEY"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"{name} did not start (exit {proc.poll()})"
        yield int(json.loads(line)["port"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def api_port() -> Iterator[int]:
    """A streamable HTTP server that wants ``X-Api-Key: API_KEY``."""
    with remote_server("keyed", key=API_KEY) as port:
        yield port


@pytest.fixture(scope="module")
def sse_port() -> Iterator[int]:
    """A legacy HTTP+SSE server (no key)."""
    with remote_server("legacy", "--sse") as port:
        yield port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung remote)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def closed_port() -> int:
    """A port nothing listens on (a remote that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def remote_spec(server_id: str, url: str, **source: Any) -> ServerSpec:
    secrets = source.pop("secrets", [])
    return ServerSpec(
        id=server_id,
        title=server_id,
        source=RemoteSource(url=url, **source),
        secrets=secrets,
    )


def keyed_spec(port: int) -> ServerSpec:
    return remote_spec(
        "keyed",
        f"http://127.0.0.1:{port}/mcp",
        headers={"X-Api-Key": "{{secret:keyed.api-key}}"},
        secrets=[SecretRef(name="keyed.api-key")],
    )


def add(app: App, *specs: ServerSpec) -> None:
    for spec in specs:
        app.profiles.add_server("default", spec.id, spec=spec)


def serving(app: App, kit: Any, **run: Any) -> AbstractAsyncContextManager[tuple[Gateway, Any]]:
    run.setdefault("slot", FAST)
    run.setdefault("allow_insecure_remote", True)
    run.setdefault("prefix_tools", True)
    return kit.serving(app, **run)


def seen(port: int) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"http://127.0.0.1:{port}/seen").json()
    return counts


async def test_a_remote_server_is_served_with_its_api_key_from_the_secret_store(
    app: App, kit: Any, api_port: int
) -> None:
    app.secrets.set("keyed.api-key", API_KEY)
    add(app, keyed_spec(api_port), kit.line_spec("local"))
    before = seen(api_port)
    async with serving(app, kit) as (gateway, client):
        tools = {t["name"] for t in (await client.result("tools/list"))["tools"]}
        assert {"keyed__echo", "keyed__whoami", "local__echo"} <= tools

        assert await client.call_text("keyed__whoami") == "keyed"
        assert await client.call_text("keyed__echo", text="over https") == "over https"
        assert await client.call_text("local__echo", text="local") == "local"

        health = kit.health_of(gateway, "keyed")
        assert health["state"] == "running" and health["sandbox"] == "remote"
    after = seen(api_port)
    assert after["good"] > before["good"] and after["bad"] == before["bad"]
    assert API_KEY not in json.dumps(gateway.health())


async def test_a_wrong_api_key_fails_that_server_with_the_http_status_and_nothing_else(
    app: App, kit: Any, api_port: int
) -> None:
    app.secrets.set("keyed.api-key", "wrong-" + "0" * 20)
    add(app, keyed_spec(api_port), kit.line_spec("local"))
    async with serving(app, kit) as (gateway, client):
        await kit.eventually(lambda: gateway.slots["keyed"].state == "failed", what="keyed failed")
        error = kit.health_of(gateway, "keyed")["error"]
        assert "403" in error and "wrong-" not in error
        assert await client.call_text("local__echo", text="still served") == "still served"


async def test_a_legacy_sse_remote_is_served(app: App, kit: Any, sse_port: int) -> None:
    add(app, remote_spec("legacy", f"http://127.0.0.1:{sse_port}/sse", transport="sse"))
    async with serving(app, kit) as (_gateway, client):
        assert await client.call_text("legacy__whoami") == "legacy"
        assert await client.call_text("legacy__echo", text="via sse") == "via sse"


async def test_a_hung_or_down_remote_does_not_hold_up_the_other_servers(
    app: App, kit: Any, silent_port: int
) -> None:
    add(
        app,
        remote_spec("hung", f"http://127.0.0.1:{silent_port}/mcp"),
        remote_spec("down", f"http://127.0.0.1:{closed_port()}/mcp"),
        kit.line_spec("local"),
    )
    async with serving(app, kit, slot=SlotOptions(init_timeout=600.0)) as (gateway, client):
        # The local server answers while the hung remote is still starting: nothing waits
        # for it, and its own init timeout is far away.
        assert await client.call_text("local__echo", text="first") == "first"
        assert gateway.slots["hung"].state == "starting"
        await kit.eventually(lambda: gateway.slots["down"].state == "failed", what="down failed")
        error = kit.health_of(gateway, "down")["error"]
        assert "cannot reach" in error
        assert await client.call_text("local__echo", text="second") == "second"
        assert error.count("cannot reach") == 1  # said once, not once per layer


async def test_the_ssrf_guard_refuses_a_loopback_remote_unless_allowed(
    app: App, kit: Any, api_port: int
) -> None:
    app.secrets.set("keyed.api-key", API_KEY)
    add(app, keyed_spec(api_port), kit.line_spec("local"))
    before = seen(api_port)
    async with serving(app, kit, allow_insecure_remote=False) as (gateway, client):
        await kit.eventually(lambda: gateway.slots["keyed"].state == "failed", what="refused")
        error = kit.health_of(gateway, "keyed")["error"]
        assert "--allow-insecure-remote" in error
        assert await client.call_text("local__echo", text="ok") == "ok"
    assert seen(api_port) == before  # not one request reached it
