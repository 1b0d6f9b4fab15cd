"""Processes under test: the mcpkit home with its profiles, the gateway, /proc readings."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from clients import RawHttpClient, StdioClient

BENCH_DIR = Path(__file__).resolve().parent
BACKEND = BENCH_DIR / "backend.py"
TOKEN = "bench-token-not-a-secret"  # noqa: S105 - a throw-away token for a loopback gateway
TOOLS_PER_SERVER = 10
#: Profiles the harness creates: name -> number of backend servers.
PROFILES = {"bench1": 1, "bench5": 5, "bench20": 20}
_SERVING = re.compile(rb"at http://[^:]+:(\d+)/mcp")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def backend_argv(index: int) -> list[str]:
    """The command that runs backend ``index`` directly (same argv the gateway runs)."""
    return [str(BACKEND), "--tools", str(TOOLS_PER_SERVER), "--prefix", f"s{index:02d}_"]


def setup_home(home: Path) -> dict[str, str]:
    """Create ``home`` as MCPKIT_HOME with the bench profiles; return the gateway's env."""
    from mcpkit.app import App
    from mcpkit.catalog.model import ServerSpec

    env = {
        "MCPKIT_HOME": str(home),
        "HOME": str(home / "home"),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "MCPKIT_GATEWAY_TOKEN": TOKEN,
    }
    (home / "home").mkdir(parents=True, exist_ok=True)
    app = App(env)
    try:
        for name, count in PROFILES.items():
            if app.profiles.exists(name):
                continue
            app.profiles.create(name, description=f"{count} benchmark backends")
            for i in range(count):
                argv = backend_argv(i)
                spec = ServerSpec.model_validate(
                    {
                        "id": f"s{i:02d}",
                        "title": f"bench backend {i}",
                        "publisher": {"name": "local", "tier": "local"},
                        "source": {"type": "command", "command": argv[0]},
                        "args": argv[1:],
                    }
                )
                app.profiles.add_server(name, spec.id, spec=spec)
    finally:
        app.close()
    return env


def add_command_profile(env: dict[str, str], profile: str, server: str, command: str) -> None:
    """A profile with one ``command`` server (used for the mcp-server-time reference)."""
    from mcpkit.app import App
    from mcpkit.catalog.model import ServerSpec

    app = App(env)
    try:
        if app.profiles.exists(profile):
            return
        app.profiles.create(profile)
        spec = ServerSpec.model_validate(
            {
                "id": server,
                "title": server,
                "publisher": {"name": "local", "tier": "local"},
                "source": {"type": "command", "command": command},
            }
        )
        app.profiles.add_server(profile, spec.id, spec=spec)
    finally:
        app.close()


def clear_list_cache(home: Path) -> None:
    """Forget every cached server list (a cold start)."""
    shutil.rmtree(home / "cache" / "gateway", ignore_errors=True)


def list_cache_files(home: Path) -> list[Path]:
    """The list cache files present now."""
    folder = home / "cache" / "gateway"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def gateway_argv(profile: str, transport: str, sandbox: str, extra: tuple[str, ...]) -> list[str]:
    """``mcpkit gateway run`` for one profile (``-v`` off)."""
    argv = [sys.executable, "-m", "mcpkit", "gateway", "run", "--profile", profile]
    argv += ["--transport", transport, "--sandbox", sandbox]
    if transport == "http":
        argv += ["--port", "0"]
    if sandbox == "none":
        argv.append("--allow-unsandboxed")
    return argv + list(extra)


@dataclass
class Gateway:
    """A running gateway process and a client connected to it."""

    proc: asyncio.subprocess.Process
    client: RawHttpClient | StdioClient
    port: int = 0
    #: time.perf_counter() when the gateway said it was serving (HTTP only).
    ready_at: float = 0.0
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """The gateway's process id (its children, the servers, are not counted)."""
        return self.proc.pid

    async def aclose(self) -> None:
        """Stop the gateway (SIGTERM, then SIGKILL after 10 s)."""
        if isinstance(self.client, RawHttpClient):
            await self.client.aclose()
            if self.proc.returncode is None:
                self.proc.terminate()
        else:
            # Closing stdin ends a stdio gateway.
            await self.client.aclose()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain


async def start_gateway(
    env: dict[str, str],
    profile: str,
    *,
    transport: str = "http",
    sandbox: str = "bwrap",
    extra: tuple[str, ...] = (),
) -> Gateway:
    """Spawn a gateway and connect an (un-initialized) client to it."""
    argv = gateway_argv(profile, transport, sandbox, extra)
    if transport == "stdio":
        stdio = await StdioClient.spawn(argv, env)
        return Gateway(stdio.proc, stdio)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    seen: list[bytes] = []
    port = 0
    async with asyncio.timeout(60):
        while not port:
            line = await proc.stderr.readline()
            if not line:
                raise RuntimeError(f"the gateway exited: {b''.join(seen).decode()}")
            seen.append(line)
            found = _SERVING.search(line)
            if found:
                port = int(found.group(1))
    ready_at = time.perf_counter()
    drain = asyncio.get_running_loop().create_task(_drain(proc.stderr))
    return Gateway(proc, RawHttpClient("127.0.0.1", port, TOKEN), port, ready_at, drain)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields after the command start at field 3 (state); utime and stime are 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    """VmRSS of one process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(p) for p in path.read_text().split()]
    return []
