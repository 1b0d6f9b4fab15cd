"""Catalog servers built into images and served from containers to the official SDK client.

Per engine (docker, then podman): ``mcpkit build time`` (PyPI) and ``mcpkit build
everything`` (npm) on the local test bases, a profile that runs both with ``--runtime
docker``, and a real ``gateway run --transport http`` child. Then the gateway's life cycle
against the engine: SIGTERM leaves no container; SIGKILL leaves containers behind (stopped,
or running for a server that ignores EOF on stdin) that the next gateway of the same home
removes at start.

Cost (2 cores): the two builds ~25 s per engine the first time in a session (the engine's
layer cache makes a second home's builds faster), each gateway start ~2 s.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcpkit.runtime.engine import Engine

if TYPE_CHECKING:
    from conftest import Home, RunningGateway, ServeHttp

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(scope="module")
def built(home: Home, engine_target: Any) -> Iterator[tuple[Home, str]]:
    """``time`` and ``everything`` built as images on the engine and put in a docker profile.

    The module's home is shared by both engines: each gets its own profile, and the
    builds of the second engine replace the first's records.
    """
    home.environ.update(engine_target.environ)
    home.mcpkit("build", "time", "--base", engine_target.base_image, "-q")
    home.mcpkit("build", "everything", "--base", engine_target.node_base_image, "-q")
    profile = f"ctr-{engine_target.name}"
    home.mcpkit("profile", "create", profile, "-s", "time", "-s", "everything")
    for server in ("time", "everything"):
        home.mcpkit("profile", "runtime", server, "-p", profile, "--runtime", "docker")
    yield home, profile
    _remove_all(engine_target, home)


def _containers(engine_target: Any, home: Home, *, running: bool | None = None) -> list[Any]:
    from mcpkit.runtime.docker import home_label
    from mcpkit.store import Locations

    label = home_label(Locations.from_environ(home.environ))
    engine = Engine.from_environ(engine_target.environ)
    try:
        found: list[Any] = engine.call_sync(
            engine.api.containers,
            all=True,
            filters={"label": f"io.mcpkit.home={label}"},
            what="list",
        )
    finally:
        engine.close()
    if running is None:
        return found
    return [c for c in found if (c["State"] == "running") == running]


def _remove_all(engine_target: Any, home: Home) -> None:
    engine = Engine.from_environ(engine_target.environ)
    try:
        for item in _containers(engine_target, home):
            engine.call_sync(engine.api.remove_container, item["Id"], force=True, what="rm")
    finally:
        engine.close()


def _wait(predicate: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


async def _serve_and_call(gateway: RunningGateway) -> None:
    timeout = httpx2.Timeout(30, read=120)
    async with httpx2.AsyncClient(headers=gateway.auth, timeout=timeout) as http:
        transport = streamable_http_client(gateway.url, http_client=http)
        await _calls(transport)


async def _calls(transport: Any) -> None:
    async with Client(transport) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"get_current_time", "echo"} <= tools, tools
        result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        assert not result.is_error, result.content
        assert isinstance(result.structured_content, dict)
        assert result.structured_content["timezone"] == "Europe/Paris"
        echoed = await client.call_tool("echo", {"message": "from a container"})
        assert not echoed.is_error
        assert "from a container" in str(echoed.content)


def _sigterm(gateway: RunningGateway) -> None:
    if gateway.process.poll() is None:
        gateway.process.send_signal(signal.SIGTERM)
        gateway.process.wait(30)


async def test_built_images_serve_the_sdk_client_and_sigterm_leaves_no_container(
    built: tuple[Home, str], engine_target: Any, serve_http: ServeHttp
) -> None:
    home, profile = built
    gateway = serve_http(home, profile)
    try:
        await _serve_and_call(gateway)
        servers = {c["Labels"]["io.mcpkit.server"] for c in _containers(engine_target, home)}
        assert servers == {"time", "everything"}, gateway.log()
        assert f"started ({engine_target.name})" in gateway.log()
    finally:
        _sigterm(gateway)
    assert gateway.process.returncode == 0, gateway.log()
    assert _containers(engine_target, home) == [], gateway.log()


async def test_a_killed_gateways_containers_stop_and_are_reaped_by_the_next(
    built: tuple[Home, str], engine_target: Any, serve_http: ServeHttp
) -> None:
    home, profile = built
    gateway = serve_http(home, profile)
    try:
        await _serve_and_call(gateway)
        assert len(_containers(engine_target, home, running=True)) == 2
    finally:
        gateway.process.send_signal(signal.SIGKILL)
        gateway.process.wait(10)
    # Its attach streams closed, so the servers got EOF on stdin; a server that exits on
    # EOF (time) stops, one that does not (everything's node server) may run on.
    _wait(lambda: len(_containers(engine_target, home, running=True)) < 2)
    assert len(_containers(engine_target, home)) == 2
    second = serve_http(home, profile)
    try:
        await _serve_and_call(second)
        assert len(_containers(engine_target, home)) == 2  # only the new gateway's
        assert "removed 2 leftover container(s)" in second.log()
    finally:
        _sigterm(second)
    assert _containers(engine_target, home) == []
