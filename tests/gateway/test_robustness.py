"""One broken server never takes the gateway down; instances start, crash, restart and idle.

Every server here is a real process in the bubblewrap sandbox: ``line_server.py`` on the
system Python (fast to start, with deliberate faults) and ``sdk_server.py`` on the SDK.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, SecretRef, ServerSpec
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.core import Gateway
from mcpkit.gateway.slot import SlotOptions
from mcpkit.protocol import jsonrpc

pytestmark = pytest.mark.anyio

FAST = SlotOptions(init_timeout=10.0, backoff_initial=0.05, backoff_max=0.5)


def add(app: App, *specs: ServerSpec, profile: str = "default") -> None:
    for spec in specs:
        app.profiles.add_server(profile, spec.id, spec=spec)


def serving(app: App, kit: Any, **run: Any) -> AbstractAsyncContextManager[tuple[Gateway, Any]]:
    """A started gateway of the default profile and one initialized client session."""
    run.setdefault("slot", FAST)
    return kit.serving(app, **run)


# -- crashes and broken servers ------------------------------------------------------


async def test_a_server_that_crashes_mid_call_fails_the_call_and_is_restarted(
    app: App, kit: Any
) -> None:
    add(app, kit.line_spec("flaky"), kit.line_spec("steady"))
    async with serving(app, kit) as (gateway, client):
        await client.result("tools/list")
        before = await client.call_text("flaky__instance")

        response = await client.send("tools/call", {"name": "flaky__crash", "arguments": {}})

        assert response is not None and "error" in response
        assert response["error"]["code"] == jsonrpc.SERVER_CRASHED
        assert "flaky" in response["error"]["message"]
        assert await client.call_text("steady__echo", text="still here") == "still here"
        slot = gateway.slots["flaky"]
        await kit.eventually(
            lambda: slot.state == "running" and slot.restarts == 1, what="flaky restarted"
        )
        after = await client.call_text("flaky__instance")
        assert after != before
        health = kit.health_of(gateway, "flaky")
        assert health["restarts"] == 1 and health["state"] == "running"
        assert kit.health_of(gateway, "steady")["restarts"] == 0


async def test_a_crash_is_reported_in_health_with_the_servers_last_words(
    app: App, kit: Any
) -> None:
    add(app, kit.line_spec("flaky"))
    async with serving(app, kit, slot=SlotOptions(backoff_initial=30.0)) as (gateway, client):
        await client.result("tools/list")
        await client.send("tools/call", {"name": "crash", "arguments": {}})
        slot = gateway.slots["flaky"]
        await kit.eventually(lambda: "status" in (slot.error or ""), what="the crash's status")

        health = gateway.health()
        assert health["status"] == "degraded"
        flaky = health["servers"]["flaky"]
        assert flaky["restarts"] == 1
        assert "status 3" in flaky["error"]
        assert "crashing on purpose" in flaky["error"]
        # In backoff, a call is refused at once with the reason, naming the server.
        refused = await client.send("tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert refused is not None and refused["error"]["code"] == jsonrpc.SERVER_UNAVAILABLE
        assert "'flaky'" in refused["error"]["message"]


async def test_a_server_that_never_answers_initialize_fails_after_the_timeout(
    app: App, kit: Any
) -> None:
    add(app, kit.line_spec("mute", "noinit"), kit.line_spec("good"))
    options = SlotOptions(init_timeout=0.5, backoff_initial=30.0)
    async with serving(app, kit, slot=options) as (gateway, client):
        tools = await client.result("tools/list")

        assert {t["name"] for t in tools["tools"]} == {"echo", "pid", "instance", "crash", "hang"}
        mute = kit.health_of(gateway, "mute")
        assert mute["state"] == "failed"
        assert "did not answer initialize within 0.5 s" in mute["error"]
        assert gateway.health()["status"] == "degraded"
        assert await client.call_text("echo", text="fine") == "fine"
        assert kit.health_of(gateway, "good")["state"] == "running"


async def test_garbage_on_a_servers_stdout_between_responses_is_skipped(app: App, kit: Any) -> None:
    add(app, kit.line_spec("noisy", "garbage"))
    async with serving(app, kit) as (gateway, client):
        tools = await client.result("tools/list")
        assert "echo" in {t["name"] for t in tools["tools"]}

        for i in range(5):
            assert await client.call_text("echo", text=f"call {i}") == f"call {i}"

        noisy = kit.health_of(gateway, "noisy")
        assert (noisy["state"], noisy["restarts"]) == ("running", 0)
        conn = gateway.slots["noisy"]._shared
        # Text lines are dropped by the pipe; JSON that is no message is counted here.
        assert conn is not None and conn.upstream.garbage >= 5


async def test_a_server_whose_command_does_not_exist_fails_alone_with_a_hint(
    app: App, kit: Any
) -> None:
    missing = ServerSpec(
        id="ghost", title="ghost", source=CommandSource(command="/nonexistent/bin/mcp-ghost")
    )
    add(app, missing, kit.line_spec("good"), kit.line_spec("dies", "crashstart"))
    async with serving(app, kit) as (gateway, client):
        tools = await client.result("tools/list")

        assert "echo" in {t["name"] for t in tools["tools"]}
        ghost = kit.health_of(gateway, "ghost")
        assert ghost["state"] == "failed"
        assert "/nonexistent/bin/mcp-ghost" in ghost["error"]
        assert "not found" in ghost["error"]
        assert "absolute path" in ghost["error"]  # the hint
        dies = kit.health_of(gateway, "dies")
        assert dies["state"] == "failed"
        assert "status 3" in dies["error"] and "cannot start, on purpose" in dies["error"]
        assert await client.call_text("echo", text="ok") == "ok"


async def test_a_server_missing_its_secret_or_config_fails_with_the_fixing_command(
    app: App, kit: Any
) -> None:
    base = kit.line_spec("vault")
    needs_secret = base.model_copy(
        update={"secrets": [SecretRef(name="vault.token", env="VAULT_TOKEN")]}
    )
    needs_config = kit.line_spec("files").model_copy(
        update={
            "config_schema": {
                "type": "object",
                "properties": {"root": {"type": "string"}},
                "required": ["root"],
            },
            "args": ["--root", "{{root}}"],
        }
    )
    add(app, needs_secret, needs_config, kit.line_spec("good"))
    async with serving(app, kit) as (gateway, client):
        await client.result("tools/list")

        vault = kit.health_of(gateway, "vault")
        assert vault["state"] == "failed"
        assert "vault.token" in vault["error"]
        assert "mcpkit secret set vault.token" in vault["error"]
        files = kit.health_of(gateway, "files")
        assert files["state"] == "failed"
        assert "root" in files["error"]
        assert "mcpkit profile config default --set files.root=VALUE" in files["error"]
        assert await client.call_text("echo", text="ok") == "ok"


def processes_with(token: str) -> list[int]:
    """Pids of this machine's processes whose command line holds ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


async def test_a_gateway_stopped_while_a_server_starts_leaves_no_process_behind(
    app: App, kit: Any
) -> None:
    token = f"mute-{uuid.uuid4().hex[:12]}"
    add(app, kit.line_spec(token, "noinit"))
    gateway = build_gateway(app, RunOptions(slot=SlotOptions(init_timeout=60.0)))
    await gateway.start()
    try:
        await kit.eventually(lambda: bool(processes_with(token)), what="the server process")
        assert gateway.slots[token].state == "starting"
    finally:
        await gateway.aclose()

    await kit.eventually(lambda: not processes_with(token), what="the process to be gone")


# -- instances: per session, lazy, idle ----------------------------------------------


async def test_a_per_session_server_gives_each_client_its_own_instance(app: App, kit: Any) -> None:
    add(app, kit.line_spec("iso", per_session=True), kit.line_spec("shared"))
    async with serving(app, kit) as (gateway, first):
        second = kit.Client(gateway)
        await second.initialize()
        try:
            await first.result("tools/list")
            iso = [await c.call_text("iso__instance") for c in (first, second)]
            shared = [await c.call_text("shared__instance") for c in (first, second)]
            assert iso[0] != iso[1]
            assert shared[0] == shared[1]
            # The same session keeps its instance.
            assert await first.call_text("iso__instance") == iso[0]
            assert kit.health_of(gateway, "iso")["sessions"] == 2
        finally:
            await second.close()
        assert kit.health_of(gateway, "iso")["sessions"] == 1


async def test_two_in_process_local_clients_are_two_sessions(app: App, kit: Any) -> None:
    add(app, kit.line_spec("iso", per_session=True))
    gateway = build_gateway(app, RunOptions(slot=FAST))
    await gateway.start()
    clients = [kit.LocalClient(gateway), kit.LocalClient(gateway)]
    try:
        for client in clients:
            await client.initialize()
        assert len(gateway.sessions) == 2
        ids = [
            (await c.request("tools/call", {"name": "instance"}))["content"][0]["text"]
            for c in clients
        ]
        assert ids[0] != ids[1]
    finally:
        for client in clients:
            await client.session.close()
        await gateway.aclose()


async def test_lazy_mode_starts_nothing_until_the_first_use(app: App, kit: Any) -> None:
    add(app, kit.line_spec("one"), kit.line_spec("two"))
    async with serving(app, kit, lazy=True) as (gateway, client):
        assert {s.state for s in gateway.slots.values()} == {"idle"}
        assert all("pid" not in kit.health_of(gateway, sid) for sid in ("one", "two"))

        assert await client.call_text("one__echo", text="wake") == "wake"

        assert gateway.slots["one"].state == "running"
        assert "pid" in kit.health_of(gateway, "one")


async def test_an_idle_server_is_reaped_and_the_next_call_starts_it_again(
    app: App, kit: Any
) -> None:
    add(app, kit.line_spec("sleepy"))
    async with serving(app, kit, idle_timeout=0.2) as (gateway, client):
        first = await client.call_text("instance")
        slot = gateway.slots["sleepy"]

        await kit.eventually(lambda: slot.state == "idle", what="the idle reap")
        assert "pid" not in kit.health_of(gateway, "sleepy")

        second = await client.call_text("instance")
        assert second != first
        assert slot.state == "running"
        assert slot.restarts == 0  # a reap is not a crash


async def test_a_second_gateway_answers_tools_list_from_the_disk_cache_before_servers_start(
    app: App, kit: Any
) -> None:
    add(app, kit.sdk_spec("alpha"), kit.line_spec("lines"))
    async with serving(app, kit) as (_gateway, client):
        fresh = await client.result("tools/list")

    async with serving(app, kit, lazy=True) as (gateway, client):
        slots = gateway.slots.values()
        assert all(s.lists_from_cache for s in slots)

        cached = await client.result("tools/list")

        assert cached == fresh
        assert {s.state for s in slots} == {"idle"}
        assert all(s.lists_from_cache for s in slots)
        assert await client.call_text("lines__echo", text="now") == "now"
        assert not gateway.slots["lines"].lists_from_cache


# -- secret-leak blocking and the call log, end to end --------------------------------


def github_token() -> str:
    # Assembled at run time so no file holds a token-shaped string.
    return "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8"


def received(app: App, server: str) -> list[str]:
    path = app.locations.state_dir / "servers" / "default" / server / "received.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["value"] for line in path.read_text().splitlines()]


LEAKY_SECRET = "injected-value-7c1f9e2a"


def leaky(kit: Any) -> ServerSpec:
    spec: ServerSpec = kit.sdk_spec(
        "leaky", secrets=[SecretRef(name="leaky.api_key", env="LEAKY_API_KEY")]
    )
    return spec


async def test_secret_leaks_are_blocked_both_ways_before_they_reach_anyone(
    app: App, kit: Any
) -> None:
    app.secrets.set("leaky.api_key", LEAKY_SECRET)
    add(app, leaky(kit))
    async with serving(app, kit) as (_gateway, client):
        assert await client.call_text("record", value="harmless") == "recorded"

        out = await client.call("record", value=f"use {github_token()} please")
        assert out["isError"] is True
        assert "rule github-token" in kit.text_of(out)
        assert github_token() not in json.dumps(out)
        assert received(app, "leaky") == ["harmless"]

        key = await client.call("private_key")
        assert key["isError"] is True
        assert "rule private-key" in kit.text_of(key)
        assert "BEGIN" not in json.dumps(key)

        echoed = await client.call("env_value", name="LEAKY_API_KEY")
        assert echoed["isError"] is True
        assert "injected-secret" in kit.text_of(echoed)
        assert LEAKY_SECRET not in json.dumps(echoed)


async def test_with_blocking_off_the_same_values_pass_through(app: App, kit: Any) -> None:
    app.secrets.set("leaky.api_key", LEAKY_SECRET)
    add(app, leaky(kit))
    async with serving(app, kit, block_secrets=False) as (gateway, client):
        assert gateway.chain is None  # no interceptor at all: the fast path
        sent = f"use {github_token()} please"
        assert await client.call_text("record", value=sent) == "recorded"
        assert received(app, "leaky") == [sent]
        assert await client.call_text("env_value", name="LEAKY_API_KEY") == LEAKY_SECRET


async def test_the_call_log_records_the_shape_of_a_call_and_no_value(app: App, kit: Any) -> None:
    add(app, kit.line_spec("lines"))
    async with serving(app, kit, log_calls=True) as (_gateway, client):
        assert await client.call_text("echo", text="very private words") == "very private words"

    lines = (app.locations.state_dir / "calls.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["server"] == "lines" and record["tool"] == "echo"
    assert record["shape"] == {"text": "string"}
    assert record["outcome"] == "ok"
    assert "very private words" not in lines[0]
