"""The docker runtime on real engines (docker and podman): lockdown, secrets, crashes, cleanup.

Each test serves a profile of probe servers (``images/probe``) through a real gateway,
in-process, and asks the probe what it can do from inside its container.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from probe_helpers import call, containers_of, probe_spec, serving

from mcpkit.app import App
from mcpkit.errors import ServerError
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.runtime.base import LaunchPlan
from mcpkit.runtime.docker import DockerOptions, DockerRuntime, home_label
from mcpkit.runtime.engine import Engine
from mcpkit.runtime.hardening import ContainerPolicy

pytestmark = pytest.mark.anyio

TOKEN_FILE = "file-secret-0f9a8b7c6d5e"
TOKEN_ENV = "env-secret-1a2b3c4d5e6f"


def _inspect(engine_target: Any, container_id: str) -> dict[str, Any]:
    engine = Engine.from_environ(engine_target.environ)
    try:
        found: dict[str, Any] = engine.call_sync(
            engine.api.inspect_container, container_id, what="inspect"
        )
    finally:
        engine.close()
    return found


async def test_a_probe_is_confined_and_labels_add_nothing(
    engine_app: App, engine_target: Any, probe_image: str
) -> None:
    engine_app.profiles.add_server("default", "probe", spec=probe_spec(probe_image))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        async with serving(engine_app) as (gateway, client):
            who = await call(client, "whoami")
            assert who["uid"] == 65534 and who["gid"] == 65534  # non-root
            assert who["CapEff"] == "0000000000000000"  # no capabilities
            assert who["CapBnd"] == "0000000000000000"
            assert who["NoNewPrivs"] == "1"
            assert (await call(client, "write", path="/probe-file"))["error"] == (
                "Read-only file system"
            )
            assert (await call(client, "write", path="/tmp/probe-file"))["ok"] is True
            net = await call(client, "net", host="127.0.0.1", port=port)
            assert net["interfaces"] == ["lo"]  # no network
            assert net["connect"] != "ok"  # the host's loopback is out of reach
            env = await call(client, "env")
            assert "INJECTED" not in env
            mounts = "\n".join((await call(client, "mounts"))["mounts"])
            assert "/host-etc" not in mounts and " /host " not in mounts
            assert " /data tmpfs " in mounts  # the image's VOLUME is a private tmpfs
            assert (await call(client, "ls", path="/host-etc")).get("error")
            [container] = containers_of(engine_target, engine_app)
            labels = container["Labels"]
            assert labels["io.mcpkit.server"] == "probe"
            assert labels["io.mcpkit.profile"] == "default"
            assert labels["io.mcpkit.home"] == home_label(engine_app.locations)
            host = _inspect(engine_target, container["Id"])["HostConfig"]
            assert host["Memory"] == 512 * 1024**2 and host["PidsLimit"] == 256
            assert host["NanoCpus"] == 1_000_000_000
            assert gateway.slots["probe"].health()["sandbox"] == engine_target.name
    finally:
        listener.close()
    assert containers_of(engine_target, engine_app) == []  # stopping removed it


async def test_secrets_arrive_as_declared_and_files_stay_out_of_inspect(
    engine_app: App, engine_target: Any, probe_image: str
) -> None:
    spec = probe_spec(
        probe_image,
        secrets=[
            {"name": "probe.file", "file": "/run/secrets/probe-token"},
            {"name": "probe.env", "env": "PROBE_TOKEN"},
        ],
    )
    engine_app.profiles.add_server("default", "probe", spec=spec)
    engine_app.secrets.set("probe.file", TOKEN_FILE)
    engine_app.secrets.set("probe.env", TOKEN_ENV)
    async with serving(engine_app, block_secrets=False) as (_, client):
        assert (await call(client, "read", path="/run/secrets/probe-token"))["text"] == TOKEN_FILE
        env = await call(client, "env")
        assert env["PROBE_TOKEN"] == TOKEN_ENV
        assert TOKEN_FILE not in json.dumps(env)
        [container] = containers_of(engine_target, engine_app)
        inspected = json.dumps(_inspect(engine_target, container["Id"]))
        assert TOKEN_FILE not in inspected  # a file secret is nowhere in inspect
        assert "PROBE_TOKEN=" in inspected  # an env secret is, as env vars always are
        assert TOKEN_FILE not in " ".join(container.get("Command") or "")
    # The host copy lived on a tmpfs only until the container started.
    assert not [p for p in _shm_entries() if any(p.iterdir())]


async def test_a_memory_hog_is_killed_reported_and_restarted_while_others_serve(
    engine_app: App, engine_target: Any, probe_image: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine_app.profiles.add_server("default", "hog", spec=probe_spec(probe_image, "hog"))
    engine_app.profiles.add_server("default", "calm", spec=probe_spec(probe_image, "calm"))
    from mcpkit.profiles.model import ServerRun

    engine_app.profiles.set_run("default", "hog", ServerRun(memory="48m", pids=32))
    async with serving(engine_app) as (gateway, client):
        [hog_id] = [
            c["Id"]
            for c in containers_of(engine_target, engine_app)
            if c["Labels"]["io.mcpkit.server"] == "hog"
        ]
        host = _inspect(engine_target, hog_id)["HostConfig"]
        assert host["Memory"] == 48 * 1024**2 and host["PidsLimit"] == 32
        threads = await call(client, "hog__threads", n=100)
        assert threads["started"] < 100 and "thread" in threads["error"]  # pids limit
        with caplog.at_level(logging.WARNING, logger="mcpkit"):
            with pytest.raises(ServerError) as err:
                await client.request("tools/call", {"name": "hog__hog", "arguments": {"mib": 300}})
            assert "closed its output" in err.value.message
            assert (await call(client, "calm__echo", text="still here"))["text"] == "still here"
            slot = gateway.slots["hog"]
            assert slot.restarts == 1
            await _running(slot)
        reported = [r.getMessage() for r in caplog.records if r.getMessage().startswith("hog:")]
        assert any("status 137" in m and "out of memory (limit 48 MiB" in m for m in reported), (
            reported
        )
        assert (await call(client, "hog__echo", text="back"))["text"] == "back"


async def test_a_crash_mid_call_fails_the_call_and_the_server_comes_back(
    engine_app: App, engine_target: Any, probe_image: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine_app.profiles.add_server("default", "probe", spec=probe_spec(probe_image))
    async with serving(engine_app) as (gateway, client):
        with caplog.at_level(logging.WARNING, logger="mcpkit"):
            with pytest.raises(ServerError) as err:
                await client.request("tools/call", {"name": "crash", "arguments": {}})
            assert "closed its output" in err.value.message
            await _running(gateway.slots["probe"])
        reported = " ".join(r.getMessage() for r in caplog.records)
        assert "status 3" in reported and "crashing on purpose" in reported
        assert (await call(client, "echo", text="again"))["text"] == "again"
        assert len(containers_of(engine_target, engine_app)) == 1  # the dead one was removed


async def test_a_missing_image_fails_only_its_server_with_the_fix(
    engine_app: App, engine_target: Any, probe_image: str
) -> None:
    engine_app.profiles.add_server("default", "probe", spec=probe_spec(probe_image))
    missing = probe_spec("mcpkit-test/not-built:1", "ghost")
    engine_app.profiles.add_server("default", "ghost", spec=missing)
    async with serving(engine_app) as (gateway, client):
        health = gateway.slots["ghost"].health()
        assert health["state"] == "failed"
        assert "not on the engine" in health["error"] and "--pull missing" in health["error"]
        assert (await call(client, "echo", text="fine"))["text"] == "fine"


async def test_a_mount_of_a_credential_folder_is_refused(
    engine_app: App, engine_target: Any, probe_image: str, environ: dict[str, str]
) -> None:
    ssh = Path(environ["HOME"]) / ".ssh"
    ssh.mkdir()
    spec = probe_spec(
        probe_image,
        config_schema={"type": "object", "properties": {"dir": {"type": "string"}}},
        volumes=[{"source": "{{dir}}", "target": "/work"}],
    )
    engine_app.profiles.add_server("default", "probe", spec=spec, config={"dir": str(ssh)})
    async with serving(engine_app) as (gateway, _):
        health = gateway.slots["probe"].health()
        assert health["state"] == "failed" and "no server may see" in health["error"]
    assert containers_of(engine_target, engine_app) == []


async def test_a_declared_folder_is_mounted_read_only_unless_under_an_allowed_root(
    engine_app: App, engine_target: Any, probe_image: str, tmp_path: Path
) -> None:
    data = tmp_path / "shared"
    data.mkdir(mode=0o777)
    data.chmod(0o777)
    (data / "hello.txt").write_text("hi")
    spec = probe_spec(
        probe_image,
        config_schema={"type": "object", "properties": {"dir": {"type": "string"}}},
        volumes=[{"source": "{{dir}}", "target": "/work", "read_only": False}],
    )
    engine_app.profiles.add_server("default", "probe", spec=spec, config={"dir": str(data)})
    async with serving(engine_app) as (_, client):
        assert (await call(client, "read", path="/work/hello.txt"))["text"] == "hi"
        assert (await call(client, "write", path="/work/new.txt"))["ok"] is False
    async with serving(engine_app, allowed_roots=[str(tmp_path)]) as (_, client):
        assert (await call(client, "write", path="/work/new.txt"))["ok"] is True
    assert (data / "new.txt").read_text() == "x"


async def test_leftovers_of_dead_gateways_are_removed_and_live_ones_kept(
    engine_app: App, engine_target: Any, probe_image: str
) -> None:
    engine = Engine.from_environ(engine_target.environ)
    home = home_label(engine_app.locations)
    made = []
    for gateway in (f"{socket.gethostname()}/999999999/1", "other-host/1/1", None):
        runtime_labels = {"io.mcpkit.home": home, "io.mcpkit.managed": "true"}
        runtime_labels["io.mcpkit.gateway"] = gateway or DockerRuntime_gateway()
        created = engine.call_sync(
            engine.api.create_container,
            probe_image,
            labels=runtime_labels,
            host_config=engine.api.create_host_config(network_mode="none"),
            what="create",
        )
        made.append(created["Id"])
    try:
        runtime = DockerRuntime(engine, engine_app.locations, ContainerPolicy())
        removed = await runtime.reap_leftovers()
        assert len(removed) == 1
        left = {c["Id"] for c in containers_of(engine_target, engine_app)}
        assert made[0] not in left and made[1] in left and made[2] in left
        assert await runtime.reap_leftovers() == []  # once per run
    finally:
        for cid in made[1:]:  # the first one is gone already
            engine.call_sync(engine.api.remove_container, cid, force=True, what="rm")
        engine.close()


async def _running(slot: Any) -> None:
    """Wait (bounded) until a slot restarted its server; polls: slots have no event for it."""
    async with asyncio.timeout(30):
        while slot.health()["state"] != "running":  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.1)


def _shm_entries() -> list[Path]:
    return list(Path("/dev/shm").glob("mcpkit-secrets-*"))


def DockerRuntime_gateway() -> str:  # noqa: N802 - reads like the label it makes
    from mcpkit.runtime.docker import gateway_label

    return gateway_label()


async def test_starts_beyond_the_container_limit_are_refused(
    engine_app: App, engine_target: Any, probe_image: str
) -> None:
    engine = Engine.from_environ(engine_target.environ)
    runtime = DockerRuntime(
        engine,
        engine_app.locations,
        ContainerPolicy(),
        options=DockerOptions(max_containers=2, parallel_starts=2),
    )
    plan = LaunchPlan(server="probe", spec=probe_spec(probe_image))
    await runtime.prepare(plan)
    started = await asyncio.gather(*(runtime.start(plan) for _ in range(2)))
    try:
        with pytest.raises(ServerError) as err:
            await runtime.start(plan)
        assert err.value.code == "too-many-containers" and err.value.hint
    finally:
        await asyncio.gather(*(i.stop() for i in started))
        engine.close()
    assert containers_of(engine_target, engine_app) == []


async def test_an_image_server_with_no_engine_fails_clearly_and_others_serve(
    app: App, gateway_environ: dict[str, str], tmp_path: Path
) -> None:
    environ = {**gateway_environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    app = App(environ)
    try:
        app.profiles.add_server(
            "default", "ghost", spec=probe_spec("mcpkit-test/probe:any", "ghost")
        )
        async with serving(app) as (gateway, client):
            health = gateway.slots["ghost"].health()
            assert health["state"] == "failed"
            assert "no container engine answers" in health["error"]
            assert "no-engine.sock" in health["error"] and "dockerd" in health["error"]
            tools = await client.request("tools/list")
            assert tools["tools"] == []
    finally:
        app.close()


async def test_forcing_the_process_runtime_refuses_image_servers(
    app: App, probe_image: str
) -> None:
    app.profiles.add_server("default", "probe", spec=probe_spec(probe_image))
    gateway = build_gateway(app, RunOptions(runtime="process"))
    health = gateway.slots["probe"].health()
    assert health["state"] == "failed" and "only the docker runtime" in health["error"]
