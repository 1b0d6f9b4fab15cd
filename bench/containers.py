"""The docker-runtime scenarios: the bench backend in a container vs the same program as a
process, and vs no gateway at all.

* ``docker-coldstart``: time to the first ``tools/call`` answer for the backend spawned
  bare, for ``docker run -i`` of its image (the SDK-style way to run an image server), for
  a gateway subprocess with the server in a container (docker runtime) or as a process
  (bwrap), and for the same two gateways built in this process, where the clock starts when
  the gateway begins starting the server and every Engine API call is timed.
* ``docker-latency``: p50/p99 at concurrency 1 and calls/s at 8 and 32 on four paths
  (bare process, ``docker run -i``, gateway + process runtime, gateway + docker runtime),
  the CPU per call of each process on the path (the engine daemon and the container's
  shim included), the container's memory, and how many containers are left once the
  gateway has stopped (must be 0).

The image ``mcpkit-bench/backend:<hash of backend.py>`` is built once per engine, offline,
from ``mcpkit-test/base:bookworm`` (see ``scripts/container-env.sh``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import itertools
import os
import secrets
import shutil
import statistics
import sys
import tarfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clients import StdioClient
from procs import BACKEND, TOOLS_PER_SERVER, backend_argv, clear_list_cache, start_gateway
from scenarios import CALL, Config, backend_pids, descendants, measure, median_row

from mcpkit.app import App
from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import RuntimeUnavailableError
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.local import LocalClient
from mcpkit.runtime.docker import DockerRuntime, home_label
from mcpkit.runtime.engine import Engine, EngineError

T = TypeVar("T")

#: The engines this bench knows, and their sockets on this machine.
ENGINES = {"docker": "unix:///var/run/docker.sock", "podman": "unix:///run/podman/podman.sock"}
BASE_IMAGE = "mcpkit-test/base:bookworm"
PROCESS_PROFILE = "bench1"
#: Label on every container and image this bench makes itself (not the gateway's).
BENCH_LABEL = "io.mcpkit.bench"
SERVER_ARGS = backend_argv(0)[1:]
CONCURRENCY = (8, 32)


@dataclass
class Route:
    """A path under test: its client, the processes to count CPU of, and how to close it."""

    client: Any
    pids: dict[str, list[int]]
    close: Callable[[], Awaitable[None]]
    #: The container serving it, if any.
    container: str | None = None


@dataclass
class Setup:
    """An engine, the image on it, and the profiles that run it."""

    engine_name: str
    engine: Engine
    #: The gateway's environment: the bench home, with DOCKER_HOST naming the engine.
    env: dict[str, str]
    image: str
    profile: str
    #: Seconds the image build took (None: it was there already).
    built_s: float | None
    cli: list[str]
    home_id: str
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    names: itertools.count[int] = field(default_factory=itertools.count)
    #: Engine-side processes that carry the attach stream (dockerd, or podman's service).
    daemon: list[int] = field(default_factory=list)


_SETUPS: dict[tuple[str, str], Setup] = {}


def image_ref() -> str:
    """The backend image's reference: changes whenever backend.py does."""
    digest = hashlib.sha256(BACKEND.read_bytes()).hexdigest()[:12]
    return f"mcpkit-bench/backend:{digest}"


def _context() -> bytes:
    dockerfile = (
        f"FROM {BASE_IMAGE}\n"
        "COPY backend.py /srv/backend.py\n"
        'ENTRYPOINT ["python3", "/srv/backend.py"]\n'
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("backend.py", BACKEND.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _build(engine: Engine, ref: str) -> None:
    # No RUN step: the build makes no container, so a failed build leaves none behind.
    chunks = engine.api.build(
        fileobj=io.BytesIO(_context()),
        custom_context=True,
        tag=ref,
        network_mode="none",
        pull=False,
        rm=True,
        forcerm=True,
        decode=True,
        labels={BENCH_LABEL: "backend"},
    )
    for chunk in chunks:
        if isinstance(chunk, dict) and chunk.get("error"):
            raise RuntimeError(f"building {ref} failed: {chunk['error']}")


async def ensure_image(engine: Engine, ref: str) -> float | None:
    """Build ``ref`` unless the engine has it; the build's seconds, or None."""
    with contextlib.suppress(EngineError):
        await engine.call(engine.api.inspect_image, ref, what=f"inspect {ref}")
        return None
    start = time.perf_counter()
    await engine.call(_build, engine, ref, what=f"build {ref}")
    return time.perf_counter() - start


def add_image_profile(env: dict[str, str], profile: str, image: str) -> None:
    """A profile with the backend as an image server (the docker runtime runs it)."""
    app = App(env)
    try:
        if app.profiles.exists(profile):
            return
        app.profiles.create(profile, description="the bench backend as an image server")
        spec = ServerSpec.model_validate(
            {
                "id": "s00",
                "title": "bench backend in a container",
                "publisher": {"name": "local", "tier": "local"},
                "source": {"type": "image", "image": image},
                "args": SERVER_ARGS,
            }
        )
        app.profiles.add_server(profile, spec.id, spec=spec)
    finally:
        app.close()


def _daemon_pids(engine_name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = Path(argv[0].decode(errors="replace")).name
        wanted = "dockerd" if engine_name == "docker" else "podman"
        if program == wanted and (engine_name == "docker" or b"service" in argv):
            found.append(int(entry.name))
    return found


async def prepare(cfg: Config, engine_name: str) -> Setup:
    """The engine, the image on it and the profile (once per home and engine)."""
    key = (str(cfg.home), engine_name)
    if key in _SETUPS:
        return _SETUPS[key]
    env = {**cfg.env, "DOCKER_HOST": ENGINES[engine_name]}
    engine = Engine.from_environ(env)
    await engine.version()
    ref = image_ref()
    built = await ensure_image(engine, ref)
    profile = f"benchimg-{ref.rsplit(':', 1)[1][:8]}"
    add_image_profile(cfg.env, profile, ref)
    app = App(env)
    try:
        home_id = home_label(app.locations)
    finally:
        app.close()
    if engine_name == "docker":
        cli = [shutil.which("docker", path="/usr/bin") or "docker", "-H", ENGINES["docker"]]
    else:
        cli = [shutil.which("podman") or "podman"]
    setup = Setup(engine_name, engine, env, ref, profile, built, cli, home_id)
    setup.daemon = _daemon_pids(engine_name)
    _SETUPS[key] = setup
    return setup


# -- containers and their processes ------------------------------------------------


async def _api(setup: Setup, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await setup.engine.call(fn, *args, what=fn.__name__, **kwargs)


async def gateway_containers(setup: Setup) -> list[dict[str, Any]]:
    """Containers the gateways of the bench home made (any state)."""
    api = setup.engine.api
    return await _api(
        setup, api.containers, all=True, filters={"label": f"io.mcpkit.home={setup.home_id}"}
    )


async def bench_containers(setup: Setup) -> list[dict[str, Any]]:
    """Containers this run's ``docker run -i`` made (any state)."""
    api = setup.engine.api
    return await _api(
        setup, api.containers, all=True, filters={"label": f"{BENCH_LABEL}={setup.run_id}"}
    )


async def remove_leftovers(setup: Setup) -> int:
    """Remove every container this run made; how many there were."""
    found = await gateway_containers(setup) + await bench_containers(setup)
    for item in found:
        with contextlib.suppress(EngineError):
            await _api(setup, setup.engine.api.remove_container, item["Id"], force=True)
    return len(found)


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


async def container_pids(setup: Setup, container: str) -> dict[str, list[int]]:
    """The backend inside ``container``, and the engine processes carrying its stdio."""
    info = await _api(setup, setup.engine.api.inspect_container, container)
    root = int(info["State"]["Pid"])
    backend = [
        pid
        for pid in [root, *descendants(root)]
        if any(
            part.endswith(b"backend.py")
            for part in _cmdline(pid)  # docker-init / catatonit is the root with --init
        )
    ]
    shim = _ppid(root)  # containerd-shim (docker) or conmon (podman)
    return {"backend": backend, "engine": [*setup.daemon, *([shim] if shim else [])]}


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


async def memory_mib(setup: Setup, container: str) -> dict[str, float]:
    """The container's memory now (Engine API stats, one shot), with and without page cache."""
    stats = await _api(setup, setup.engine.api.stats, container, stream=False, one_shot=True)
    memory = stats.get("memory_stats") or {}
    usage = float(memory.get("usage") or 0)
    detail = memory.get("stats") or {}
    cache = float(detail.get("total_inactive_file") or detail.get("inactive_file") or 0)
    return {"usage_mib": usage / 2**20, "usage_minus_inactive_file_mib": (usage - cache) / 2**20}


async def _wait_gone(setup: Setup, name: str, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await _api(setup, setup.engine.api.inspect_container, name)
        except EngineError:
            return True
        # Polling: ``--rm`` removes the container after the CLI exits, with no event for us.
        await asyncio.sleep(0.05)
    return False


# -- paths -------------------------------------------------------------------------


async def bare(setup: Setup) -> Route:
    """The backend spawned directly, over its pipes."""
    client = await StdioClient.spawn(backend_argv(0))
    await client.initialize()
    return Route(client, {"backend": [client.proc.pid]}, client.aclose)


def run_argv(setup: Setup, name: str) -> list[str]:
    """``docker run -i --rm --network none`` of the backend image (what an SDK client runs)."""
    return [
        *setup.cli,
        "run",
        "-i",
        "--rm",
        "--network",
        "none",
        "--name",
        name,
        "--label",
        f"{BENCH_LABEL}={setup.run_id}",
        setup.image,
        *SERVER_ARGS,
    ]


async def engine_run(setup: Setup, *, pids: bool = True) -> Route:
    """The backend image run with the engine's CLI, reached over the CLI's pipes."""
    name = f"mcpkit-bench-{setup.run_id}-{next(setup.names)}"
    client = await StdioClient.spawn(run_argv(setup, name))
    try:
        await client.initialize()
        groups: dict[str, list[int]] = {"cli": [client.proc.pid]}
        if pids:
            groups |= await container_pids(setup, name)
    except BaseException:
        await client.aclose()
        raise

    async def close() -> None:
        await client.aclose()
        if not await _wait_gone(setup, name):
            raise RuntimeError(f"container {name} was still there 10 s after its CLI exited")

    return Route(client, groups, close, name)


async def via_gateway(cfg: Config, setup: Setup, *, docker: bool) -> Route:
    """A gateway (HTTP front) serving the backend in a container or as a process."""
    profile = setup.profile if docker else PROCESS_PROFILE
    gw = await start_gateway(setup.env, profile, sandbox=cfg.sandbox)
    try:
        await gw.client.initialize()
        tools = (await gw.client.call("tools/list"))["tools"]
        assert len(tools) == TOOLS_PER_SERVER, tools
        groups: dict[str, list[int]] = {"gateway": [gw.pid]}
        container = None
        if docker:
            # A warm list cache answers tools/list before the container is up: a call
            # waits for it.
            await gw.client.call("tools/call", CALL)
            found = await gateway_containers(setup)
            assert len(found) == 1, found
            container = str(found[0]["Id"])
            groups |= await container_pids(setup, container)
        else:
            async with asyncio.timeout(30):
                # Polling /proc: the processes are not ours to get an event from.
                while not (backend := backend_pids(gw.pid)):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            groups["backend"] = backend
    except BaseException:
        await gw.aclose()
        raise
    return Route(gw.client, groups, gw.aclose, container)


# -- cold start --------------------------------------------------------------------


class TimedEngine(Engine):
    """An engine that records how long each call took, and when it began."""

    def __init__(self, engine: Engine, origin: list[float]) -> None:
        super().__init__(engine.endpoint)
        self.origin = origin
        self.calls: list[tuple[str, float, float]] = []

    async def call(self, fn: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T:
        """The SDK call, timed (offset from the origin, and duration)."""
        start = time.perf_counter()
        try:
            return await super().call(fn, *args, what=what, **kwargs)
        finally:
            self.calls.append((what, start - self.origin[0], time.perf_counter() - start))


_PHASES = {
    "report its version": "version",
    "list mcpkit's containers": "list leftovers",
    "inspect the image": "inspect image",
    "create the container": "create",
    "attach to the container": "attach",
    "start the container": "start",
}


def _phase(what: str) -> str:
    for prefix, name in _PHASES.items():
        if what.startswith(prefix):
            return name
    return what


async def in_process(cfg: Config, setup: Setup, *, docker: bool) -> dict[str, float]:
    """A gateway built here: from ``gateway.start()`` to the first ``tools/call`` answer,
    then to the server stopped; with docker, each Engine API call of the start."""
    clear_list_cache(cfg.home)
    app = App(setup.env)
    origin = [0.0]
    timed: TimedEngine | None = None
    try:
        run = RunOptions(
            profile=setup.profile if docker else PROCESS_PROFILE,
            sandbox=cfg.sandbox,
            allow_unsandboxed=cfg.sandbox == "none",
        )
        gateway = build_gateway(app, run)
        runtime = gateway.slots["s00"].runtime
        if docker:
            assert isinstance(runtime, DockerRuntime), runtime
            timed = TimedEngine(runtime.engine, origin)
            runtime.engine = timed
        client = LocalClient(gateway)
        origin[0] = time.perf_counter()
        await gateway.start()
        await client.initialize()
        result = await client.request("tools/call", CALL)
        first_call = time.perf_counter() - origin[0]
        assert result["content"][0]["text"], result
        stopping = time.perf_counter()
        await client.session.close()
        await gateway.aclose()
        row = {"first_call_s": first_call, "stop_s": time.perf_counter() - stopping}
    finally:
        app.close()
    if timed is not None:
        start_end = 0.0
        for what, offset, seconds in timed.calls:
            if offset > first_call:
                break
            name = _phase(what)
            row[f"engine: {name}"] = row.get(f"engine: {name}", 0.0) + seconds
            if name == "start":
                start_end = offset + seconds
        row["engine calls, total"] = sum(v for k, v in row.items() if k.startswith("engine: "))
        row["container started -> first call answered"] = first_call - start_end
    return row


async def _first_call(path: Route) -> None:
    try:
        await path.client.call("tools/list")
        result = await path.client.call("tools/call", CALL)
        assert result["content"][0]["text"], result
    finally:
        await path.close()


async def docker_coldstart(cfg: Config, engine_name: str = "docker") -> dict[str, Any]:
    """Cold start of the backend: bare, ``docker run -i``, and through the gateway."""
    setup = await prepare(cfg, engine_name)
    engine = setup.engine_name
    runs: dict[str, list[float]] = {}
    listening: dict[str, list[float]] = {}
    phases: dict[str, list[float]] = {}
    left: list[int] = []

    async def spawned(name: str, make: Callable[[], Awaitable[Route]]) -> None:
        start = time.perf_counter()
        await _first_call(await make())
        runs.setdefault(name, []).append(time.perf_counter() - start)

    async def gateway_once(name: str, docker: bool) -> None:
        clear_list_cache(cfg.home)
        profile = setup.profile if docker else PROCESS_PROFILE
        start = time.perf_counter()
        gw = await start_gateway(setup.env, profile, sandbox=cfg.sandbox)
        try:
            await gw.client.initialize()
            result = await gw.client.call("tools/call", CALL)
            runs.setdefault(name, []).append(time.perf_counter() - start)
            listening.setdefault(name, []).append(gw.ready_at - start)
            assert result["content"][0]["text"], result
        finally:
            await gw.aclose()
        if docker:
            left.append(len(await gateway_containers(setup)))

    async def inside(name: str, docker: bool) -> None:
        row = await in_process(cfg, setup, docker=docker)
        runs.setdefault(name, []).append(row.pop("first_call_s"))
        runs.setdefault(f"{name}: stop", []).append(row.pop("stop_s"))
        for key, value in row.items():
            phases.setdefault(f"{name}: {key}", []).append(value)
        if docker:
            left.append(len(await gateway_containers(setup)))

    try:
        for _ in range(cfg.cold_runs):
            runs.setdefault("import docker (the SDK), fresh interpreter", []).append(
                await sdk_import_s()
            )
            await spawned("bare process (spawn to first call)", lambda: bare(setup))
            await spawned(
                f"{engine} run -i --rm --network none (spawn to first call)",
                lambda: engine_run(setup, pids=False),
            )
            await gateway_once(f"gateway subprocess, docker runtime ({engine})", True)
            await gateway_once(f"gateway subprocess, process runtime ({cfg.sandbox})", False)
            await inside(f"in-process gateway, docker runtime ({engine})", True)
            await inside(f"in-process gateway, process runtime ({cfg.sandbox})", False)
    finally:
        leftovers = await remove_leftovers(setup)
    rows = _spread({**runs, **phases}, listening)
    rows["containers left"] = {
        "after each gateway stop (max)": max(left, default=0),
        "removed by the bench at the end": leftovers,
        "image built in s": setup.built_s if setup.built_s is not None else "(present)",
    }
    return rows


def _spread(runs: dict[str, list[float]], listening: dict[str, list[float]]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, values in runs.items():
        rows[name] = {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
        }
        if name in listening:
            rows[name]["listening_after_s"] = statistics.median(listening[name])
        rows[name]["runs_s"] = values
    return rows


async def sdk_import_s() -> float:
    """Seconds a fresh interpreter takes to import the Docker SDK.

    The gateway pays this on its first engine call; the in-process rows do not (this
    process imported it already).
    """
    code = "import time; t = time.perf_counter(); import docker; print(time.perf_counter() - t)"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return float(out)


# -- per-call latency and throughput -----------------------------------------------


async def docker_latency(cfg: Config, engine_name: str = "docker") -> dict[str, Any]:
    """p50/p99 at c=1 and calls/s at c=8 and 32: bare, engine run -i, gateway x 2 runtimes."""
    setup = await prepare(cfg, engine_name)
    engine = setup.engine_name
    paths: dict[str, Callable[[], Awaitable[Route]]] = {
        "direct stdio (bare process)": lambda: bare(setup),
        f"{engine} run -i (CLI pipes, no gateway)": lambda: engine_run(setup),
        f"gateway http, process runtime ({cfg.sandbox})": lambda: via_gateway(
            cfg, setup, docker=False
        ),
        f"gateway http, docker runtime ({engine})": lambda: via_gateway(cfg, setup, docker=True),
    }
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    memory: dict[str, list[dict[str, float]]] = {}
    left: list[int] = []
    try:
        for _ in range(cfg.repeat):
            for name, make in paths.items():
                path = await make()
                try:
                    for c in (1, *CONCURRENCY):
                        count = cfg.calls if c == 1 else cfg.throughput_calls
                        row = await measure(path.client, count, c, path.pids)
                        samples.setdefault(name, {}).setdefault(str(c), []).append(row)
                    if path.container is not None:
                        found = await memory_mib(setup, path.container)
                        memory.setdefault(name, []).append(found)
                finally:
                    await path.close()
                if "docker runtime" in name:
                    left.append(len(await gateway_containers(setup)))
    finally:
        leftovers = await remove_leftovers(setup)
    rows: dict[str, Any] = {
        name: {c: median_row(values) for c, values in by_c.items()}
        for name, by_c in samples.items()
    }
    base = rows["direct stdio (bare process)"]
    for by_c in rows.values():
        for c, data in by_c.items():
            data["p50_over_direct_ms"] = data["p50_ms"] - base[c]["p50_ms"]
            data["ratio_to_direct"] = data["calls_per_s"] / base[c]["calls_per_s"]
    for name, values in memory.items():
        rows[f"memory: {name}"] = {
            key: statistics.median(v[key] for v in values) for key in values[0]
        }
    rows["containers left"] = {
        "after each gateway stop (max)": max(left, default=0),
        "removed by the bench at the end": leftovers,
    }
    return rows


def scenarios(engine_name: str) -> dict[str, Callable[[Config], Awaitable[dict[str, Any]]]]:
    """The docker scenarios, bound to one engine."""
    return {
        "docker-coldstart": functools.partial(docker_coldstart, engine_name=engine_name),
        "docker-latency": functools.partial(docker_latency, engine_name=engine_name),
    }


def check_engine(engine_name: str) -> str | None:
    """Why the engine cannot be used, or None when its socket answers."""
    engine = Engine.from_environ({"DOCKER_HOST": ENGINES[engine_name], "HOME": os.devnull})
    try:
        return None if engine.ping_quick() else f"nothing answers on {ENGINES[engine_name]}"
    except RuntimeUnavailableError as exc:
        return exc.message


NAMES = ("docker-coldstart", "docker-latency")
