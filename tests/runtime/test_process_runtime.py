"""The process runtime, for real: packages and commands under bubblewrap (and without)."""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from mcpkit.catalog.model import CommandSource, NetworkPolicy, PackageSource
from mcpkit.errors import SandboxUnavailableError, ServerError
from mcpkit.runtime.base import ChannelClosed, LaunchPlan, Mount, Runtime
from mcpkit.runtime.install import InstalledPackage
from mcpkit.runtime.process import ProcessInstance, ProcessRuntime, SandboxMode
from mcpkit.store import Locations

pytestmark = pytest.mark.anyio

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)
PlanFactory = Callable[..., LaunchPlan]
SECRET = "s3cret-t0ken-value-9d1f"
FILE_SECRET = b"file-secret-contents-77aa"

#: Runs inside the sandbox: reports what it can see and do as one JSON line, after a
#: line of garbage, then waits for stdin to close so the test can look at /proc.
PROBE = r"""
import json, os, sys
paths = json.loads(sys.argv[1])
def writable(path):
    try:
        with open(os.path.join(path, ".probe"), "w"):
            pass
        os.unlink(os.path.join(path, ".probe"))
        return True
    except OSError:
        return False
def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return f"error: {exc.strerror}"
status = dict(line.split(":", 1) for line in read("/proc/self/status").splitlines())
print("this line is not JSON", flush=True)
print(json.dumps({
    "uid": os.getuid(),
    "gid": os.getgid(),
    "cap_eff": status["CapEff"].strip(),
    "interfaces": sorted(l.split(":")[0].strip() for l in read("/proc/net/dev").splitlines()[2:]),
    "env": dict(os.environ),
    "exists": {p: os.path.exists(p) for p in paths["exists"]},
    "writable": {p: writable(p) for p in paths["writable"]},
    "secret_file": read("/run/secrets/token"),
}), flush=True)
sys.stdin.read()
"""


def _probe_source(checks: dict[str, list[str]]) -> tuple[CommandSource, list[str]]:
    command = f"/usr/bin/python3 -c {shlex.quote(PROBE)}"
    return CommandSource(command=command), [json.dumps(checks)]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            found += map(int, children)
            todo += map(int, children)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _host_interfaces() -> list[str]:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


@asynccontextmanager
async def _running(runtime: ProcessRuntime, plan: LaunchPlan) -> AsyncIterator[ProcessInstance]:
    await runtime.prepare(plan)
    instance = await runtime.start(plan)
    try:
        yield instance
    finally:
        await asyncio.wait_for(instance.stop(timeout=2), 20)


async def _request(
    instance: ProcessInstance, request_id: int, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    await instance.channel.send(orjson.dumps(message))
    while True:
        answer: dict[str, Any] = orjson.loads(
            await asyncio.wait_for(instance.channel.receive(), 60)
        )
        if answer.get("id") == request_id:
            return answer


async def _initialize(instance: ProcessInstance) -> dict[str, Any]:
    answer = await _request(
        instance,
        1,
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "mcpkit-test", "version": "0"},
        },
    )
    await instance.channel.send(
        orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    return answer


def test_the_runtime_runs_packages_and_commands_only(
    locations: Locations, make_plan: PlanFactory
) -> None:
    runtime: Runtime = ProcessRuntime(locations, {})
    package = make_plan(PackageSource(registry="pypi", name="x")).spec
    command = make_plan(CommandSource(command="x")).spec

    assert runtime.name == "process"
    assert runtime.supports(package)
    assert runtime.supports(command)


@needs_bwrap
async def test_mcp_server_time_answers_over_stdio_inside_bwrap(
    time_server: InstalledPackage,
    locations: Locations,
    host_environ: dict[str, str],
    make_plan: PlanFactory,
) -> None:
    runtime = ProcessRuntime(locations, host_environ, sandbox="bwrap")
    plan = make_plan(PackageSource(registry="pypi", name="mcp-server-time"), server="time")

    await runtime.prepare(plan)
    started = time.monotonic()
    instance = await runtime.start(plan)
    try:
        init = await _initialize(instance)
        print(f"sandboxed start to initialize: {time.monotonic() - started:.2f} s")
        tools = await _request(instance, 2, "tools/list", {})
        call = await _request(
            instance,
            3,
            "tools/call",
            {"name": "get_current_time", "arguments": {"timezone": "UTC"}},
        )
        health = instance.health()
    finally:
        await asyncio.wait_for(instance.stop(), 20)

    assert init["result"]["serverInfo"]["name"] == "mcp-time"
    assert "get_current_time" in [tool["name"] for tool in tools["result"]["tools"]]
    assert not call["result"].get("isError")
    assert '"timezone": "UTC"' in call["result"]["content"][0]["text"]
    assert health.state == "running"
    assert health.sandbox == "bwrap"
    assert (locations.state_dir / "servers" / "default" / "time").is_dir()
    assert instance.health().state == "exited"


@needs_bwrap
async def test_the_sandbox_confines_the_server(
    tmp_path: Path, locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("the host's file")
    shared_ro = tmp_path / "shared-ro"
    shared_rw = tmp_path / "shared-rw"
    shared_ro.mkdir()
    shared_rw.mkdir()
    home = locations.state_dir / "servers" / "default" / "probe"
    source, args = _probe_source(
        {
            "exists": ["/root", str(outside), "/run/secrets/token", "/etc/resolv.conf"],
            "writable": [str(home), "/usr", "/tmp", "/etc", "/data/ro", "/data/rw", "/"],
        }
    )
    plan = make_plan(
        source,
        args=args,
        env={"API_TOKEN": SECRET},
        files={"/run/secrets/token": FILE_SECRET},
        mounts=[Mount(str(shared_ro), "/data/ro"), Mount(str(shared_rw), "/data/rw", False)],
        secret_values=[SECRET, FILE_SECRET.decode()],
    )
    runtime = ProcessRuntime(locations, host_environ)

    async with _running(runtime, plan) as instance:
        facts = orjson.loads(await asyncio.wait_for(instance.channel.receive(), 30))
        tree = [instance.pid, *_descendants(instance.pid)]
        cmdlines = [_cmdline(pid) for pid in tree]
        health = instance.health()

    assert facts["uid"] == 65534
    assert facts["gid"] == 65534
    assert int(facts["cap_eff"], 16) == 0
    assert facts["interfaces"] == ["lo"]
    assert set(facts["env"]) <= {"PATH", "HOME", "LANG", "PWD", "API_TOKEN"}
    assert facts["env"]["API_TOKEN"] == SECRET
    assert facts["env"]["HOME"] == str(home)
    assert "MCPKIT_TEST_CANARY" not in facts["env"]
    assert facts["exists"] == {
        "/root": False,
        str(outside): False,
        "/run/secrets/token": True,
        "/etc/resolv.conf": False,
    }
    assert facts["secret_file"] == FILE_SECRET.decode()
    assert facts["writable"] == {
        str(home): True,
        "/usr": False,
        "/tmp": True,  # a private tmpfs
        "/etc": False,
        "/data/ro": False,
        "/data/rw": True,
        "/": False,
    }
    assert len(cmdlines) >= 2  # bwrap and the server inside it
    for cmdline in cmdlines:
        assert SECRET.encode() not in cmdline
        assert FILE_SECRET not in cmdline
    assert health.sandbox == "bwrap"
    assert "this line is not JSON" in health.detail


@needs_bwrap
async def test_a_server_allowed_the_network_sees_the_hosts_interfaces(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    source, args = _probe_source({"exists": ["/etc/resolv.conf"], "writable": []})
    plan = make_plan(source, args=args, network=NetworkPolicy(mode="any"))
    host = _host_interfaces()

    async with _running(ProcessRuntime(locations, host_environ), plan) as instance:
        facts = orjson.loads(await asyncio.wait_for(instance.channel.receive(), 30))

    assert facts["interfaces"] == host
    assert facts["exists"]["/etc/resolv.conf"] is True


@needs_bwrap
async def test_a_host_list_is_reported_as_not_enforced(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    policy = NetworkPolicy(mode="hosts", hosts=["api.example.com"])
    plan = make_plan(CommandSource(command="sh -c 'read x'"), network=policy)

    async with _running(ProcessRuntime(locations, host_environ), plan) as instance:
        detail = instance.health().detail

    assert "cannot limit" in detail
    assert "api.example.com" in detail


@pytest.mark.parametrize("sandbox", [pytest.param("bwrap", marks=needs_bwrap), "none"])
async def test_a_server_that_exits_closes_the_channel_and_reports_its_code(
    sandbox: SandboxMode, locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    command = "sh -c 'echo going away: $TOKEN >&2; exit 3'"
    plan = make_plan(
        CommandSource(command=command),
        env={"TOKEN": SECRET},
        secret_values=[SECRET],
        allow_unsandboxed=True,
    )
    runtime = ProcessRuntime(locations, host_environ, sandbox=sandbox)

    async with _running(runtime, plan) as instance:
        with pytest.raises(ChannelClosed):
            await asyncio.wait_for(instance.channel.receive(), 30)
        code = await asyncio.wait_for(instance.wait(), 30)
        await asyncio.wait_for(instance.stop(), 20)  # lets the stderr drain finish
        health = instance.health()
        tail = instance.stderr_tail()

    assert code == 3
    assert health.state == "exited"
    assert health.returncode == 3
    assert health.sandbox == sandbox
    assert tail == ["going away: ***"]
    assert SECRET not in health.detail
    assert "exited with code 3" in health.detail


@pytest.mark.parametrize("sandbox", [pytest.param("bwrap", marks=needs_bwrap), "none"])
async def test_stop_kills_a_server_that_ignores_stdin_and_sigterm(
    sandbox: SandboxMode, locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    plan = make_plan(
        # The child is forked before the shell says it is up, so the test sees it.
        CommandSource(command="""sh -c 'trap "" TERM; sleep 1000 & echo "{}"; wait'"""),
        allow_unsandboxed=True,
    )
    runtime = ProcessRuntime(locations, host_environ, sandbox=sandbox)
    instance = await runtime.start(plan)
    await asyncio.wait_for(instance.channel.receive(), 30)  # the shell is up
    tree = [instance.pid, *_descendants(instance.pid)]

    started = time.monotonic()
    await asyncio.wait_for(instance.stop(timeout=0.2), 15)
    await asyncio.wait_for(instance.stop(timeout=0.2), 15)  # idempotent

    assert time.monotonic() - started < 10
    assert instance.health().state == "exited"
    assert len(tree) >= 2
    assert [pid for pid in tree if _alive(pid)] == []


async def test_a_cancelled_stop_still_finishes(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    plan = make_plan(
        CommandSource(command="""sh -c 'trap "" TERM; echo "{}"; sleep 1000'"""),
        allow_unsandboxed=True,
    )
    instance = await ProcessRuntime(locations, host_environ, sandbox="none").start(plan)
    await asyncio.wait_for(instance.channel.receive(), 30)

    stopper = asyncio.create_task(instance.stop(timeout=0.2))
    await asyncio.sleep(0)  # let it begin
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper

    await asyncio.wait_for(instance.wait(), 15)
    assert instance.health().state == "exited"


async def test_unsandboxed_servers_get_only_their_declared_environment(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    code = "import json, os; print(json.dumps(dict(os.environ)), flush=True)"
    plan = make_plan(
        CommandSource(command=f"/usr/bin/python3 -c {shlex.quote(code)}"),
        env={"API_TOKEN": SECRET},
        allow_unsandboxed=True,
    )

    async with _running(ProcessRuntime(locations, host_environ, sandbox="none"), plan) as inst:
        env = orjson.loads(await asyncio.wait_for(inst.channel.receive(), 30))
        health = inst.health()

    assert set(env) <= {"PATH", "HOME", "LANG", "API_TOKEN", "LC_CTYPE"}
    assert env["HOME"] == str(locations.state_dir / "servers" / "default" / "probe")
    assert "MCPKIT_TEST_CANARY" not in env
    assert health.sandbox == "none"


async def test_forced_bwrap_that_is_missing_refuses_to_start(
    tmp_path: Path, locations: Locations, make_plan: PlanFactory
) -> None:
    no_bwrap = {"PATH": str(tmp_path)}  # a PATH without bwrap on it
    runtime = ProcessRuntime(locations, no_bwrap, sandbox="bwrap")
    plan = make_plan(CommandSource(command="/bin/true"))

    with pytest.raises(SandboxUnavailableError) as err:
        await runtime.start(plan)

    assert "must run in bubblewrap" in err.value.message
    assert "not installed" in err.value.message
    assert err.value.hint is not None
    assert "apt-get install bubblewrap" in err.value.hint
    assert not (locations.state_dir / "servers").exists()


async def test_without_a_sandbox_a_server_is_refused_unless_allowed(
    tmp_path: Path, locations: Locations, make_plan: PlanFactory
) -> None:
    runtime = ProcessRuntime(locations, {"PATH": str(tmp_path)})
    refused = make_plan(CommandSource(command="/bin/echo {}"))
    allowed = make_plan(CommandSource(command="/bin/echo {}"), allow_unsandboxed=True)

    with pytest.raises(SandboxUnavailableError) as err:
        await runtime.prepare(refused)
    async with _running(runtime, allowed) as instance:
        answer = await asyncio.wait_for(instance.channel.receive(), 30)
        sandbox = instance.health().sandbox

    assert "refusing to start server 'probe' without a sandbox" in err.value.message
    assert err.value.hint is not None
    assert "--allow-unsandboxed" in err.value.hint
    assert "apt-get install bubblewrap" in err.value.hint
    assert answer == b"{}"
    assert sandbox == "none"


async def test_a_missing_executable_is_a_server_error_with_a_hint(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    plan = make_plan(CommandSource(command="mcpkit-no-such-server --stdio"), allow_unsandboxed=True)

    with pytest.raises(ServerError) as err:
        await ProcessRuntime(locations, host_environ).start(plan)

    assert "'mcpkit-no-such-server'" in err.value.message
    assert "not found" in err.value.message
    assert err.value.hint is not None
    assert "absolute path" in err.value.hint


async def test_a_state_folder_outside_the_state_dir_is_refused(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    plan = make_plan(CommandSource(command="/bin/true"), server="a/../../escape")

    with pytest.raises(ServerError) as err:
        await ProcessRuntime(locations, host_environ, sandbox="none").start(
            LaunchPlan(server=plan.server, spec=plan.spec, allow_unsandboxed=True)
        )

    assert "no safe state folder" in err.value.message
    assert not (locations.state_dir.parent / "escape").exists()


async def test_secret_files_without_a_sandbox_are_refused(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    plan = make_plan(
        CommandSource(command="/bin/true"),
        files={"/run/secrets/token": FILE_SECRET},
        allow_unsandboxed=True,
    )

    with pytest.raises(ServerError) as err:
        await ProcessRuntime(locations, host_environ, sandbox="none").start(plan)

    assert "secrets as files" in err.value.message
    assert FILE_SECRET.decode() not in err.value.message


@needs_bwrap
async def test_the_npm_everything_server_answers_initialize_inside_bwrap(
    locations: Locations, host_environ: dict[str, str], make_plan: PlanFactory
) -> None:
    source = PackageSource(registry="npm", name="@modelcontextprotocol/server-everything")
    plan = make_plan(source, server="everything")
    lines: list[str] = []
    runtime = ProcessRuntime(locations, host_environ, sandbox="bwrap")

    await runtime.prepare(plan, lines.append)
    instance = await runtime.start(plan)
    try:
        init = await _initialize(instance)
        tools = await _request(instance, 2, "tools/list", {})
    finally:
        await asyncio.wait_for(instance.stop(), 20)

    # The session's package cache is shared: another test may have installed it already.
    assert not lines or lines[0] == "installing @modelcontextprotocol/server-everything with npm…"
    assert init["result"]["serverInfo"]["name"]
    assert "echo" in [tool["name"] for tool in tools["result"]["tools"]]
