"""Many servers behind one gateway: names, routing, tool filters, and ``mcpkit tools``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, ServerSpec
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.slot import SlotOptions
from mcpkit.protocol import jsonrpc

SDK_TOOLS = {"echo", "pid", "instance", "whoami", "record", "env_value", "private_key", "block"}
LINE_TOOLS = {"echo", "pid", "instance", "crash", "hang"}


async def _serve(app: App, profile: str, **run: Any) -> AsyncIterator[tuple[Gateway, Any]]:
    gateway = build_gateway(
        app, RunOptions(profile=profile, slot=SlotOptions(init_timeout=20.0), **run)
    )
    await gateway.start()
    client = Client(gateway)
    await client.initialize()
    yield gateway, client
    await client.close()
    await gateway.aclose()


Client: Any = None  # set from the kit fixture, so module fixtures can build clients


@pytest.fixture(scope="module")
def profiles(module_app: App, kit: Any) -> App:
    """Profiles: ``pair`` (two SDK servers that collide), ``filtered`` (line servers)."""
    global Client  # noqa: PLW0603 - the kit's client class, for the module fixtures below
    Client = kit.Client
    app = module_app
    app.profiles.create("pair")
    app.profiles.add_server("pair", "alpha", spec=kit.sdk_spec("alpha", "--unique", "only_alpha"))
    app.profiles.add_server("pair", "beta", spec=kit.sdk_spec("beta"))
    app.profiles.create("filtered")
    app.profiles.add_server(
        "filtered", "left", spec=kit.line_spec("left"), tools=["echo", "instance"]
    )
    app.profiles.add_server("filtered", "right", spec=kit.line_spec("right"))
    app.profiles.set_tools("filtered", "right", disable=["echo"])
    return app


@pytest.fixture(scope="module")
async def pair(profiles: App) -> AsyncIterator[tuple[Gateway, Any]]:
    async for served in _serve(profiles, "pair"):
        yield served


@pytest.fixture(scope="module")
async def filtered(profiles: App) -> AsyncIterator[tuple[Gateway, Any]]:
    async for served in _serve(profiles, "filtered"):
        yield served


def names(tools: dict[str, Any]) -> set[str]:
    return {t["name"] for t in tools["tools"]}


# -- collisions and routing ----------------------------------------------------------


@pytest.mark.anyio
async def test_colliding_tools_are_prefixed_for_both_servers_and_a_unique_one_is_not(
    pair: tuple[Gateway, Any],
) -> None:
    gateway, client = pair
    listed = names(await client.result("tools/list"))

    expected = {f"{s}__{t}" for s in ("alpha", "beta") for t in SDK_TOOLS} | {"only_alpha"}
    assert listed == expected
    assert gateway.collisions()["echo"] == ["alpha", "beta"]
    exposed = gateway.tools["beta__whoami"]
    assert (exposed.slot.id, exposed.original) == ("beta", "whoami")


@pytest.mark.anyio
async def test_a_call_to_a_prefixed_tool_reaches_the_server_it_names(
    pair: tuple[Gateway, Any],
) -> None:
    _, client = pair
    assert await client.call_text("alpha__whoami") == "alpha"
    assert await client.call_text("beta__whoami") == "beta"
    assert await client.call_text("only_alpha") == "unique tool of alpha"
    alpha, beta = (
        await client.call_text("alpha__instance"),
        await client.call_text("beta__instance"),
    )
    assert alpha != beta


@pytest.mark.anyio
async def test_an_unknown_tool_is_an_invalid_params_error_naming_it(
    pair: tuple[Gateway, Any],
) -> None:
    _, client = pair
    response = await client.send("tools/call", {"name": "whoami", "arguments": {}})
    assert response is not None
    assert response["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert "'whoami'" in response["error"]["message"]


@pytest.mark.anyio
async def test_prefix_tools_exposes_every_tool_as_server__tool(profiles: App) -> None:
    async for gateway, client in _serve(profiles, "filtered", prefix_tools=True):
        listed = names(await client.result("tools/list"))
        assert all(n.startswith(("left__", "right__")) for n in listed)
        assert "left__echo" in listed
        assert await client.call_text("left__echo", text="p") == "p"
        assert gateway.options.prefix_tools


# -- tool filters --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_profiles_allowlist_and_denylist_hide_tools(
    filtered: tuple[Gateway, Any],
) -> None:
    _, client = filtered
    listed = names(await client.result("tools/list"))

    # left: only echo and instance; right: all but echo. So echo is no longer a collision.
    assert listed == {"echo", "left__instance", "right__instance", "pid", "crash", "hang"}
    assert await client.call_text("echo", text="from left") == "from left"


@pytest.mark.anyio
@pytest.mark.parametrize("hidden", ["left__pid", "pid_of_left", "right__echo", "left__crash"])
async def test_calling_a_hidden_tool_is_an_error_and_reaches_no_server(
    filtered: tuple[Gateway, Any], hidden: str
) -> None:
    gateway, client = filtered
    before = gateway.slots["right"].health().get("pid")
    response = await client.send("tools/call", {"name": hidden, "arguments": {}})
    assert response is not None
    assert response["error"]["code"] == jsonrpc.INVALID_PARAMS
    assert hidden in response["error"]["message"]
    assert gateway.slots["right"].health().get("pid") == before  # nothing crashed


@pytest.mark.anyio
async def test_a_tools_glob_serves_only_matching_exposed_or_original_names(
    profiles: App,
) -> None:
    async for _, client in _serve(profiles, "filtered", tools=["*instance", "cra*"]):
        listed = names(await client.result("tools/list"))
        assert listed == {"left__instance", "right__instance", "crash"}
        response = await client.send("tools/call", {"name": "pid", "arguments": {}})
        assert response is not None and response["error"]["code"] == jsonrpc.INVALID_PARAMS


# -- mcpkit tools (the CLI, in-process) -----------------------------------------------


@pytest.fixture
def cli_profile(app: App, kit: Any) -> App:
    app.profiles.add_server(
        "default", "alpha", spec=kit.sdk_spec("alpha", "--unique", "only_alpha")
    )
    app.profiles.add_server("default", "lines", spec=kit.line_spec("lines"))
    return app


def add_ghost(app: App) -> None:
    ghost = ServerSpec(
        id="ghost", title="ghost", source=CommandSource(command="/nonexistent/mcp-ghost")
    )
    app.profiles.add_server("default", "ghost", spec=ghost)


def test_tools_ls_shows_exposed_name_server_and_original(cli_profile: App, run: Any) -> None:
    result = run("tools", "ls")

    rows = {tuple(line.split()) for line in result.stdout.splitlines()[1:]}
    assert result.stdout.splitlines()[0].split() == ["TOOL", "SERVER", "ORIGINAL"]
    assert ("alpha__echo", "alpha", "echo") in rows
    assert ("lines__echo", "lines", "echo") in rows
    assert ("only_alpha", "alpha", "=") in rows
    assert ("crash", "lines", "=") in rows


def test_tools_ls_lists_a_broken_server_with_its_reason_and_exits_non_zero(
    cli_profile: App, run: Any
) -> None:
    add_ghost(cli_profile)
    result = run("tools", "ls", code=10)

    assert "only_alpha" in result.stdout
    assert "! ghost: failed:" in result.stderr
    assert "/nonexistent/mcp-ghost" in result.stderr

    as_json = json.loads(run("tools", "ls", "--json", code=10).stdout)
    assert as_json["servers"]["ghost"]["state"] == "failed"
    # The second run answers from the list cache, so alpha may still be starting.
    assert as_json["servers"]["alpha"]["state"] in ("running", "starting")
    assert {"name": "alpha__echo", "server": "alpha", "original": "echo"}.items() <= next(
        t for t in as_json["tools"] if t["name"] == "alpha__echo"
    ).items()


def test_tools_ls_reports_a_server_that_broke_since_its_lists_were_cached(
    app: App, kit: Any, run: Any, tmp_path: Any
) -> None:
    folder = tmp_path / "srv"
    folder.mkdir()
    script = folder / "server.py"
    script.write_text(kit.line_server.read_text())
    spec = ServerSpec(
        id="fragile",
        title="fragile",
        source=CommandSource(command=f"{kit.system_python} {script} fragile", cwd=str(folder)),
    )
    app.profiles.add_server("default", "fragile", spec=spec)
    run("tools", "ls")
    script.unlink()  # same spec, same cache key: only the server is broken now

    result = run("tools", "ls", code=10)
    assert "! fragile: failed:" in result.stderr


def test_tools_call_prints_the_result(cli_profile: App, run: Any) -> None:
    result = run(
        "tools", "call", "alpha__echo", "text=hello from the cli", "--servers", "alpha,lines"
    )
    assert result.stdout.strip() == "hello from the cli"

    as_json = json.loads(
        run("tools", "call", "lines__echo", "--json-args", '{"text": "j"}', "--json").stdout
    )
    assert as_json["content"] == [{"type": "text", "text": "j"}]


def test_tools_call_of_an_unknown_tool_is_a_usage_error_with_a_hint(
    cli_profile: App, run: Any
) -> None:
    result = run("tools", "call", "no_such_tool", code=2)
    assert "no_such_tool" in result.stderr
    assert "mcpkit tools ls" in result.stderr


def test_tools_inspect_shows_server_original_and_schema(cli_profile: App, run: Any) -> None:
    shown = json.loads(run("tools", "inspect", "alpha__echo").stdout)
    assert shown["server"] == "alpha" and shown["original"] == "echo"
    assert shown["name"] == "alpha__echo"
    assert shown["inputSchema"]["properties"]["text"]["type"] == "string"

    missing = run("tools", "inspect", "nope", code=2)
    assert "nope" in missing.stderr and "mcpkit tools ls" in missing.stderr
