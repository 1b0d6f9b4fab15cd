"""``mcpkit doctor``: what this machine offers mcpkit, each with a hint when missing."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcpkit import __version__
from mcpkit.runtime.engine import Endpoint, Engine
from mcpkit.store import Locations


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    hint: str | None = None


def run_checks(environ: Mapping[str, str], locations: Locations) -> list[Check]:
    """Inspect the machine; never raises for a missing component."""
    return [
        Check("mcpkit", True, f"{__version__} on Python {sys.version.split()[0]}"),
        _sqlite(),
        _state_dir(locations),
        _docker(environ),
        _podman(environ),
        _binary("bubblewrap", "bwrap", "--version", "apt-get install bubblewrap"),
        _binary("uv", "uv", "--version", "pip install uv (faster package installs)"),
        _binary("node", "node", "--version", "install Node.js 18+ for npm servers"),
        _binary("npm", "npm", "--version", "install npm for npm servers"),
        _keyring(),
    ]


def _sqlite() -> Check:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        fts = True
    except sqlite3.OperationalError:
        fts = False
    finally:
        conn.close()
    return Check(
        "sqlite",
        fts,
        f"{sqlite3.sqlite_version}" + (" with FTS5" if fts else " without FTS5"),
        None if fts else "catalog search needs SQLite built with FTS5",
    )


def _state_dir(locations: Locations) -> Check:
    path = locations.data_dir
    probe = path if path.exists() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    writable = os.access(probe, os.W_OK)
    return Check(
        "state",
        writable,
        f"{path}" + ("" if writable else " (not writable)"),
        None if writable else "set MCPKIT_HOME to a writable folder",
    )


def _docker(environ: Mapping[str, str]) -> Check:
    from mcpkit.errors import McpkitError
    from mcpkit.runtime.engine import product_name

    hint = "optional: start dockerd (or podman system service) to run image servers"
    try:
        engine = Engine.from_environ(environ)
    except McpkitError as exc:
        return Check("docker", False, exc.message, exc.hint or hint)
    where = f"{engine.endpoint.url} ({engine.endpoint.origin})"
    if not engine.ping_quick():
        return Check("docker", False, f"no engine answers at {where}", hint)
    try:
        version = engine.call_sync(engine.api.version, what="report its version")
        info = engine.call_sync(engine.api.info, what="describe itself")
    except McpkitError as exc:
        return Check("docker", False, exc.message, exc.hint or hint)
    finally:
        engine.close()
    limits = {
        "memory": info.get("MemoryLimit"),
        "swap": info.get("SwapLimit"),
        "cpu": info.get("CpuCfsQuota"),
        "pids": info.get("PidsLimit"),
    }
    missing = [name for name, ok in limits.items() if not ok]
    name = f"{product_name(version)} {version.get('Version', '?')}"
    detail = (
        f"{name} (API {version.get('ApiVersion', '?')}) "
        f"at {where}; cgroup v{info.get('CgroupVersion', '?')}, "
        + (
            "limits enforced: memory, swap, cpu, pids"
            if not missing
            else f"limits NOT enforced: {', '.join(missing)}"
        )
    )
    return Check(
        "docker",
        not missing,
        detail,
        None if not missing else "enable the cgroup controllers the engine reports missing",
    )


def _podman(environ: Mapping[str, str]) -> Check:
    runtime = environ.get("XDG_RUNTIME_DIR", "/run")
    for path in (f"{runtime}/podman/podman.sock", "/run/podman/podman.sock"):
        if Path(path).exists() and Engine(Endpoint(f"unix://{path}", "podman")).ping_quick():
            return Check("podman", True, f"API answers on {path}")
    return Check("podman", False, "no podman API socket", "optional: podman system service")


def _binary(name: str, exe: str, flag: str, hint: str) -> Check:
    path = shutil.which(exe)
    if not path:
        return Check(name, False, "not found", hint)
    try:
        out = subprocess.run(
            [path, flag], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, False, f"{path} does not run: {exc}", hint)
    return Check(name, True, f"{out.splitlines()[0] if out else path}")


def _keyring() -> Check:
    import keyring
    from keyring.errors import KeyringError

    try:
        backend = keyring.get_keyring()
        priority = float(getattr(backend, "priority", 0))
    except (KeyringError, RuntimeError) as exc:
        return Check("keyring", False, f"unavailable: {exc}", _KEYRING_HINT)
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if priority < 1 or "fail" in name or "null" in name:
        return Check("keyring", False, f"no secure OS keyring ({name})", _KEYRING_HINT)
    return Check("keyring", True, name)


_KEYRING_HINT = (
    "optional: the encrypted secret file then keeps its key in a 0600 key file "
    "(or set MCPKIT_SECRETS_PASSPHRASE)"
)
