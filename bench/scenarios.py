"""The benchmark scenarios; each returns plain data for ``results.json``."""

from __future__ import annotations

import asyncio
import itertools
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clients import HttpxClient, RawHttpClient, StdioClient
from procs import (
    PROFILES,
    TOOLS_PER_SERVER,
    Gateway,
    add_command_profile,
    backend_argv,
    clear_list_cache,
    cpu_seconds,
    rss_mb,
    start_gateway,
)

CALL = {"name": "s00_echo_0", "arguments": {"text": "hello from the benchmark"}}
Client = StdioClient | RawHttpClient | HttpxClient


@dataclass
class Config:
    """What the run was asked to do."""

    env: dict[str, str]
    home: Path
    sandbox: str = "bwrap"
    calls: int = 3000
    throughput_calls: int = 5000
    list_calls: int = 1000
    cold_runs: int = 5
    #: Latency and throughput paths are measured this many times, interleaved; each
    #: number reported is the median over the repeats (the machine is shared).
    repeat: int = 3
    concurrency: tuple[int, ...] = (8, 32, 128)
    #: mcp-server-time's executable, for the ``reference`` scenario.
    time_server: str | None = None


def self_cpu() -> float:
    """CPU seconds of this (client) process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            kids = [
                int(p) for p in Path(f"/proc/{current}/task/{current}/children").read_text().split()
            ]
        except OSError:
            continue
        found.extend(kids)
        todo.extend(kids)
    return found


def backend_pids(root: int) -> list[int]:
    """The benchmark backends running below ``root`` (bwrap's own processes excluded)."""
    pids = []
    for pid in descendants(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"backend.py") for part in cmd) and b"bwrap" not in cmd[0]:
            pids.append(pid)
    return pids


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each field's median over repeated measurements of one path."""
    merged: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        merged[key] = statistics.median(values) if isinstance(values[0], float) else values[0]
    merged["repeats"] = len(rows)
    return merged


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``values``, nearest-rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def timed_calls(
    call: Callable[[], Awaitable[Any]], count: int, concurrency: int
) -> tuple[float, list[float]]:
    """Run ``count`` calls from ``concurrency`` tasks; (wall seconds, per-call latencies)."""
    counter = itertools.count()
    latencies: list[float] = []

    async def worker() -> None:
        while next(counter) < count:
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def measure(
    client: Client,
    count: int,
    concurrency: int,
    pids: dict[str, list[int]],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Latency percentiles, throughput and CPU per call of the given processes."""
    call = params or CALL

    async def one() -> None:
        result = await client.call("tools/call", call)
        assert result["content"][0]["text"], result

    await timed_calls(one, min(500, count), concurrency)  # warm-up
    before = {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}
    client_before = self_cpu()
    wall, latencies = await timed_calls(one, count, concurrency)
    cpu = {
        f"{name}_cpu_ms_per_call": (sum(cpu_seconds(p) for p in group) - before[name])
        * 1000
        / count
        for name, group in pids.items()
    }
    return {
        "concurrency": concurrency,
        "calls": count,
        "p50_ms": pct(latencies, 0.50) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "calls_per_s": count / wall,
        "client_cpu_ms_per_call": (self_cpu() - client_before) * 1000 / count,
        **cpu,
    }


# -- paths -------------------------------------------------------------------------


async def direct(
    cfg: Config,
) -> tuple[StdioClient, dict[str, list[int]], Callable[[], Awaitable[None]]]:
    """The backend driven directly over stdio."""
    client = await StdioClient.spawn(backend_argv(0))
    await client.initialize()
    return client, {"backend": [client.proc.pid]}, client.aclose


async def via_gateway(
    cfg: Config,
    *,
    transport: str = "http",
    sandbox: str | None = None,
    extra: tuple[str, ...] = (),
    profile: str = "bench1",
    httpx_pool: int = 0,
) -> tuple[Client, dict[str, list[int]], Callable[[], Awaitable[None]]]:
    """A gateway serving ``profile``, initialized, with its servers up."""
    gw = await start_gateway(
        cfg.env, profile, transport=transport, sandbox=sandbox or cfg.sandbox, extra=extra
    )
    client: Client = gw.client
    if httpx_pool:
        client = HttpxClient("127.0.0.1", gw.port, gw.client.token, httpx_pool)  # type: ignore[union-attr]
    await client.initialize()
    tools = (await client.call("tools/list"))["tools"]
    assert len(tools) == PROFILES[profile] * TOOLS_PER_SERVER, len(tools)
    pids = {"gateway": [gw.pid], "backend": await _wait_backends(gw, PROFILES[profile])}

    async def close() -> None:
        if client is not gw.client:
            await client.aclose()
        await gw.aclose()

    return client, pids, close


async def _wait_backends(gw: Gateway, count: int) -> list[int]:
    async with asyncio.timeout(30):
        # Polling /proc: the processes are not ours to get an event from.
        while len(pids := backend_pids(gw.pid)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return pids


# -- scenarios ---------------------------------------------------------------------


async def latency(cfg: Config) -> dict[str, Any]:
    """Per-call latency and CPU at concurrency 1, on every path."""
    paths: dict[str, Callable[[], Awaitable[Any]]] = {
        "direct stdio": lambda: direct(cfg),
        f"gateway http ({cfg.sandbox})": lambda: via_gateway(cfg),
        "gateway http (sandbox none)": lambda: via_gateway(cfg, sandbox="none"),
        f"gateway http ({cfg.sandbox}, --no-block-secrets)": lambda: via_gateway(
            cfg, extra=("--no-block-secrets",)
        ),
        f"gateway http ({cfg.sandbox}), httpx client": lambda: via_gateway(cfg, httpx_pool=1),
        f"gateway stdio ({cfg.sandbox})": lambda: via_gateway(cfg, transport="stdio"),
    }
    samples: dict[str, list[dict[str, Any]]] = {}
    for _ in range(cfg.repeat):
        for name, make in paths.items():
            client, pids, close = await make()
            try:
                samples.setdefault(name, []).append(await measure(client, cfg.calls, 1, pids))
            finally:
                await close()
    rows = {name: median_row(values) for name, values in samples.items()}
    base = rows["direct stdio"]["p50_ms"]
    for row in rows.values():
        row["p50_over_direct_ms"] = row["p50_ms"] - base
    return rows


async def throughput(cfg: Config) -> dict[str, Any]:
    """Calls per second at each concurrency: direct stdio vs the gateway, in the same run."""
    paths: dict[str, Callable[[], Awaitable[Any]]] = {
        "direct stdio": lambda: direct(cfg),
        f"gateway http ({cfg.sandbox})": lambda: via_gateway(cfg),
        f"gateway stdio ({cfg.sandbox})": lambda: via_gateway(cfg, transport="stdio"),
    }
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for _ in range(cfg.repeat):
        for name, make in paths.items():
            client, pids, close = await make()
            try:
                for c in cfg.concurrency:
                    row = await measure(client, cfg.throughput_calls, c, pids)
                    samples.setdefault(name, {}).setdefault(str(c), []).append(row)
            finally:
                await close()
    rows = {
        name: {c: median_row(values) for c, values in by_c.items()}
        for name, by_c in samples.items()
    }
    base = rows["direct stdio"]
    for by_conc in rows.values():
        for conc, data in by_conc.items():
            data["ratio_to_direct"] = data["calls_per_s"] / base[conc]["calls_per_s"]
    return rows


async def lists(cfg: Config) -> dict[str, Any]:
    """``tools/list`` latency with 1, 5 and 20 servers (and one backend directly)."""
    rows: dict[str, Any] = {}
    stdio, pids, close = await direct(cfg)
    try:
        rows["direct stdio (1 server, 10 tools)"] = await _list_stats(stdio, cfg, pids)
    finally:
        await close()
    for profile, count in PROFILES.items():
        client, pids, close = await via_gateway(cfg, profile=profile)
        try:
            row = await _list_stats(client, cfg, {"gateway": pids["gateway"]})
            rows[f"gateway http ({count} servers, {count * TOOLS_PER_SERVER} tools)"] = row
        finally:
            await close()
    return rows


async def _list_stats(client: Client, cfg: Config, pids: dict[str, list[int]]) -> dict[str, Any]:
    async def one() -> None:
        await client.call("tools/list")

    await timed_calls(one, 100, 1)
    before = {name: sum(cpu_seconds(p) for p in group) for name, group in pids.items()}
    _, latencies = await timed_calls(one, cfg.list_calls, 1)
    tools = len((await client.call("tools/list"))["tools"])
    row = {
        "tools": tools,
        "p50_ms": pct(latencies, 0.50) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
    }
    for name, group in pids.items():
        spent = sum(cpu_seconds(p) for p in group) - before[name]
        row[f"{name}_cpu_ms_per_list"] = spent * 1000 / cfg.list_calls
    return row


async def coldstart(cfg: Config) -> dict[str, Any]:
    """Spawn to a complete ``tools/list`` (200 tools) with 20 servers."""
    want = PROFILES["bench20"] * TOOLS_PER_SERVER
    runs: dict[str, list[float]] = {}
    ready: dict[str, list[float]] = {}

    async def gateway_once(name: str, sandbox: str, cold: bool) -> None:
        if cold:
            clear_list_cache(cfg.home)
        start = time.perf_counter()
        gw = await start_gateway(cfg.env, "bench20", sandbox=sandbox)
        try:
            await gw.client.initialize()
            tools = (await gw.client.call("tools/list"))["tools"]
            elapsed = time.perf_counter() - start
            assert len(tools) == want, len(tools)
            runs.setdefault(name, []).append(elapsed)
            ready.setdefault(name, []).append(gw.ready_at - start)
            # Let every server finish starting, so the cache is written for the warm runs.
            await _wait_backends(gw, PROFILES["bench20"])
            await asyncio.sleep(0.5)
        finally:
            await gw.aclose()

    async def direct_once() -> float:
        start = time.perf_counter()

        async def one(i: int) -> StdioClient:
            client = await StdioClient.spawn(backend_argv(i))
            await client.initialize()
            await client.call("tools/list")
            return client

        clients = await asyncio.gather(*(one(i) for i in range(PROFILES["bench20"])))
        elapsed = time.perf_counter() - start
        await asyncio.gather(*(c.aclose() for c in clients))
        return elapsed

    async def import_once() -> float:
        start = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *_python_m_mcpkit(), "--version", stdout=asyncio.subprocess.DEVNULL, env=cfg.env
        )
        await proc.wait()
        return time.perf_counter() - start

    for _ in range(cfg.cold_runs):
        runs.setdefault("direct: 20 backends in parallel (no sandbox)", []).append(
            await direct_once()
        )
        runs.setdefault("python -m mcpkit --version (interpreter + CLI import)", []).append(
            await import_once()
        )
        await gateway_once(f"gateway, cold list cache ({cfg.sandbox})", cfg.sandbox, cold=True)
        await gateway_once(f"gateway, warm list cache ({cfg.sandbox})", cfg.sandbox, cold=False)
        await gateway_once("gateway, cold list cache (sandbox none)", "none", cold=True)
        await gateway_once("gateway, warm list cache (sandbox none)", "none", cold=False)
    rows: dict[str, Any] = {}
    for name, values in runs.items():
        rows[name] = {"median_s": statistics.median(values), "min_s": min(values)}
        if name in ready:
            rows[name]["listening_after_s"] = statistics.median(ready[name])
        rows[name]["runs_s"] = values
    return rows


def _python_m_mcpkit() -> list[str]:
    import sys

    return [sys.executable, "-m", "mcpkit"]


async def rss(cfg: Config) -> dict[str, Any]:
    """VmRSS of the gateway process after warm-up, with 1 and 20 servers."""
    rows: dict[str, Any] = {}
    for profile in ("bench1", "bench20"):
        client, pids, close = await via_gateway(cfg, profile=profile)
        try:
            names = [f"s{i:02d}_echo_{i % TOOLS_PER_SERVER}" for i in range(PROFILES[profile])]
            for i in range(2000):
                await client.call("tools/call", {**CALL, "name": names[i % len(names)]})
                if i % 100 == 0:
                    await client.call("tools/list")
            gateway = pids["gateway"][0]
            rows[f"gateway http ({PROFILES[profile]} servers)"] = {
                "gateway_rss_mb": rss_mb(gateway),
                "servers_rss_mb_total": sum(rss_mb(p) for p in pids["backend"]),
            }
        finally:
            await close()
    return rows


async def reference(cfg: Config) -> dict[str, Any]:
    """The same comparison with a real SDK server, mcp-server-time (no sandbox: its venv
    lives outside what the sandbox binds)."""
    if cfg.time_server is None:
        return {"skipped": {"reason": "mcp-server-time not found (see README)"}}
    add_command_profile(cfg.env, "benchtime", "time", cfg.time_server)
    params = {"name": "get_current_time", "arguments": {"timezone": "UTC"}}
    rows: dict[str, Any] = {}
    client = await StdioClient.spawn([cfg.time_server])
    await client.initialize()
    try:
        rows["direct stdio"] = {
            "1": await measure(client, cfg.calls // 3, 1, {"backend": [client.proc.pid]}, params),
            "32": await measure(
                client, cfg.throughput_calls // 3, 32, {"backend": [client.proc.pid]}, params
            ),
        }
    finally:
        await client.aclose()
    gw = await start_gateway(cfg.env, "benchtime", sandbox="none")
    try:
        await gw.client.initialize()
        await gw.client.call("tools/list")
        pids = {"gateway": [gw.pid], "backend": descendants(gw.pid)}
        rows["gateway http (sandbox none)"] = {
            "1": await measure(gw.client, cfg.calls // 3, 1, pids, params),
            "32": await measure(gw.client, cfg.throughput_calls // 3, 32, pids, params),
        }
    finally:
        await gw.aclose()
    base = rows["direct stdio"]
    for row in rows.values():
        for c, data in row.items():
            data["ratio_to_direct"] = data["calls_per_s"] / base[c]["calls_per_s"]
            data["p50_over_direct_ms"] = data["p50_ms"] - base[c]["p50_ms"]
    return rows


SCENARIOS: dict[str, Callable[[Config], Awaitable[dict[str, Any]]]] = {
    "latency": latency,
    "throughput": throughput,
    "lists": lists,
    "coldstart": coldstart,
    "rss": rss,
    "reference": reference,
}
