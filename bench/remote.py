"""Remote-server scenarios: a server on HTTP, called directly and through the gateway.

``remote-latency``: per-call latency and CPU of ``tools/call`` at concurrency 1 and 8, on a
real SDK server over streamable HTTP on 127.0.0.1, called directly (a plain httpx client
with the server's session) and through ``mcpkit gateway run --transport http`` whose profile
holds it as a ``remote`` server (``--allow-insecure-remote``: it is on loopback). The
gateway's extra cost is the second HTTP hop, both directions, plus the guard and the
channel; ``p50_over_direct_ms`` is that cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from clients import HttpxClient
from procs import BENCH_DIR, start_gateway
from scenarios import Client, Config, measure, median_row

NAMES = ("remote-latency",)
BACKEND = BENCH_DIR / "remote_backend.py"


@contextlib.asynccontextmanager
async def remote_backend(*flags: str) -> AsyncIterator[tuple[int, int]]:
    """The SDK server on a free port: yields (port, pid); stopped by PID at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BACKEND),
        *flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        yield int(json.loads(line)["port"]), proc.pid
    finally:
        proc.terminate()
        await proc.wait()


def add_remote_profile(env: dict[str, str], profile: str, port: int) -> None:
    """A profile whose one server is the backend, as a remote server."""
    from mcpkit.app import App
    from mcpkit.catalog.model import ServerSpec

    app = App(env)
    try:
        if app.profiles.exists(profile):
            app.profiles.remove(profile)
        app.profiles.create(profile)
        spec = ServerSpec.model_validate(
            {
                "id": "remote",
                "title": "remote",
                "source": {"type": "remote", "url": f"http://127.0.0.1:{port}/mcp"},
            }
        )
        app.profiles.add_server(profile, spec.id, spec=spec)
    finally:
        app.close()


Path = Callable[[], Awaitable[tuple[Client, dict[str, list[int]], Callable[[], Awaitable[None]]]]]


async def remote_latency(cfg: Config) -> dict[str, Any]:
    """tools/call latency, direct vs through the gateway, on SSE and JSON answering servers."""
    rows: dict[str, Any] = {}
    for label, flags in (("sse answers", ()), ("json answers", ("--json",))):
        async with remote_backend(*flags) as (port, pid):
            add_remote_profile(cfg.env, "remote1", port)

            async def direct(port: int = port, pid: int = pid) -> Any:
                client = HttpxClient("127.0.0.1", port, None, 8)
                await client.initialize()
                return client, {"backend": [pid]}, client.aclose

            async def gateway(pid: int = pid) -> Any:
                gw = await start_gateway(
                    cfg.env, "remote1", sandbox="none", extra=("--allow-insecure-remote",)
                )
                await gw.client.initialize()
                tools = (await gw.client.call("tools/list"))["tools"]
                assert len(tools) == 10, tools
                return gw.client, {"gateway": [gw.pid], "backend": [pid]}, gw.aclose

            paths: dict[str, Path] = {
                f"direct http ({label})": direct,
                f"gateway http → remote ({label})": gateway,
            }
            for concurrency in (1, 8):
                samples: dict[str, list[dict[str, Any]]] = {}
                for _ in range(cfg.repeat):
                    for name, make in paths.items():
                        client, pids, close = await make()
                        try:
                            calls = max(500, cfg.calls // 3)
                            row = await measure(client, calls, concurrency, pids)
                            samples.setdefault(name, []).append(row)
                        finally:
                            await close()
                for name, values in samples.items():
                    rows.setdefault(name, {})[str(concurrency)] = median_row(values)
            base = rows[f"direct http ({label})"]
            for name in paths:
                for c, data in rows[name].items():
                    data["p50_over_direct_ms"] = data["p50_ms"] - base[c]["p50_ms"]
    return rows


def scenarios() -> dict[str, Callable[[Config], Awaitable[dict[str, Any]]]]:
    """The remote scenarios."""
    return {"remote-latency": remote_latency}
