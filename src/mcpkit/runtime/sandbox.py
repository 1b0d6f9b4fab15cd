"""The bubblewrap sandbox: the argv that confines one server, and whether bwrap works here.

The sandbox follows the recipe measured in ``containers.md`` §8: a fresh root on a tmpfs
(sealed read-only once everything is in place) with ``/usr`` (and the ``/bin``, ``/lib``…
links into it) read-only, a private ``/tmp``, ``/proc`` and a minimal ``/dev``, every
namespace unshared (network too, unless the spec allows it), uid/gid 65534, no
capabilities, a new session, and death with the parent.
The server sees only the paths bound here: its install environment and the extra
read-only paths it needs, its own state directory (read-write, also its ``HOME``), the
mounts the plan declares and its secret files.

Secrets never reach bwrap's argv (``/proc/<pid>/cmdline`` is world-readable): environment
values are passed by starting bwrap itself with exactly the wanted environment (bwrap
hands its own environment to the child when ``--clearenv`` is not given, so it is not),
and secret files are copied from file descriptors (``--ro-bind-data FD PATH``), so they
live in memory only and never touch the disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcpkit.catalog.model import NetworkPolicy
from mcpkit.errors import ServerError
from mcpkit.runtime.base import Mount

#: The uid and gid the server runs as inside the sandbox (``nobody``).
SANDBOX_ID = 65534
#: Top-level links of a merged-/usr system; bound or linked as the host has them.
_USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Files from /etc every server may read: TLS roots, the time zone, user names.
_ETC_ALWAYS = ("/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/passwd", "/etc/group")
#: Files name resolution needs; bound only when the network is shared.
_ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")

BWRAP_HINT = "install bubblewrap (apt-get install bubblewrap), or pass --allow-unsandboxed"


@dataclass(frozen=True)
class SandboxStatus:
    """Whether bubblewrap can sandbox servers on this machine, and if not, why."""

    available: bool
    bwrap: str | None = None
    reason: str = ""
    hint: str | None = None


def bwrap_argv(
    exe_argv: Sequence[str],
    *,
    bwrap: str = "bwrap",
    plan_mounts: Iterable[Mount] = (),
    ro_paths: Iterable[Path] = (),
    state_dir: Path,
    network: NetworkPolicy,
    files: Mapping[str, int] | None = None,
    cwd: Path | None = None,
) -> list[str]:
    """The bwrap command line that runs ``exe_argv`` confined.

    ``state_dir`` is the server's own directory (bound read-write; the caller makes it
    ``HOME``); ``ro_paths`` are bound read-only at the same path (the install
    environment, a Python base prefix outside /usr…); ``files`` maps a path inside the
    sandbox to a readable file descriptor holding the content (pass those fds to the
    child). The environment is *not* part of the result: start bwrap with
    :func:`sandbox_environ` as its environment.

    Network mode ``hosts`` cannot be filtered by bubblewrap: the network is shared as
    for ``any``, and :func:`network_warning` returns the sentence the caller should log.

    Raises :class:`ServerError` when a declared mount's source does not exist.
    """
    argv = [bwrap, "--ro-bind", "/usr", "/usr"]
    argv += _usr_links()
    etc = _ETC_ALWAYS + (_ETC_NETWORK if network.mode != "none" else ())
    for etc_path in etc:
        argv += ["--ro-bind-try", etc_path, etc_path]
    # The tmpfs must come before any bind below /tmp, or it would hide them (§8).
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - its own tmpfs

    binds: dict[str, tuple[str, str]] = {}
    for path in ro_paths:
        binds[str(path)] = ("--ro-bind", str(path))
    for mount in plan_mounts:
        source = Path(mount.source)
        if not source.exists():
            raise ServerError(
                f"the mount source {mount.source} (for {mount.target}) does not exist",
                hint="create the folder, or fix the path in the server's config "
                "(mcpkit profile config)",
            )
        binds[mount.target] = ("--ro-bind" if mount.read_only else "--bind", str(source))
    binds[str(state_dir)] = ("--bind", str(state_dir))
    # Parents before children, so a read-only parent never hides a writable child.
    for target in sorted(binds, key=lambda t: (len(Path(t).parts), t)):
        option, source_path = binds[target]
        argv += [option, source_path, target]

    for target, fd in sorted((files or {}).items()):
        # bwrap makes the file 0600, owned by the sandbox user; --perms needs bwrap >= 0.5.
        argv += ["--ro-bind-data", str(fd), target]
    # bwrap's root is a writable tmpfs: seal it, so /etc, / and the mount points are not.
    argv += ["--remount-ro", "/"]

    argv += ["--unshare-all"]
    if network.mode != "none":
        argv += ["--share-net"]
    argv += [
        "--unshare-user",
        "--uid",
        str(SANDBOX_ID),
        "--gid",
        str(SANDBOX_ID),
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--chdir",
        str(cwd or state_dir),
        "--",
        *exe_argv,
    ]
    return argv


def sandbox_environ(
    plan_env: Mapping[str, str], *, home: Path, path_dirs: Iterable[Path] = (), lang: str
) -> dict[str, str]:
    """The whole environment a server gets: PATH, HOME, LANG and what its plan declares."""
    path = [str(p) for p in path_dirs] + ["/usr/local/bin", "/usr/bin", "/bin"]
    env = {"PATH": ":".join(dict.fromkeys(path)), "HOME": str(home), "LANG": lang}
    env.update(plan_env)
    return env


def network_warning(network: NetworkPolicy) -> str | None:
    """What to tell the user when the sandbox cannot enforce the network policy."""
    if network.mode != "hosts":
        return None
    return (
        f"bubblewrap cannot limit a server to some hosts ({', '.join(network.hosts)}): "
        "it gets the whole network; use the docker runtime to enforce a host list"
    )


_probe_lock = threading.Lock()
_probe_cache: dict[str | None, SandboxStatus] = {}


def probe_sandbox(environ: Mapping[str, str]) -> SandboxStatus:
    """Find bwrap on ``environ``'s PATH and check once (per process) that it can sandbox.

    The check runs ``bwrap --ro-bind / / --unshare-all --unshare-user true``: finding
    the binary is not enough, since kernels and container hosts may refuse user
    namespaces.
    """
    if not sys.platform.startswith("linux"):
        return SandboxStatus(
            False,
            reason=f"bubblewrap sandboxes work on Linux only (this is {sys.platform})",
            hint="pass --allow-unsandboxed to run package servers without a sandbox, "
            "or use the docker runtime",
        )
    bwrap = shutil.which("bwrap", path=environ.get("PATH", os.defpath))
    with _probe_lock:
        cached = _probe_cache.get(bwrap)
        if cached is None:
            cached = _probe_cache[bwrap] = _probe(bwrap)
        return cached


def _probe(bwrap: str | None) -> SandboxStatus:
    if bwrap is None:
        return SandboxStatus(
            False,
            reason="bubblewrap (bwrap) is not installed or not on PATH",
            hint=BWRAP_HINT,
        )
    try:
        done = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user", "true"],
            capture_output=True,
            timeout=15,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxStatus(False, bwrap, f"{bwrap} could not run: {exc}", BWRAP_HINT)
    if done.returncode == 0:
        return SandboxStatus(True, bwrap)
    stderr = done.stderr.decode(errors="replace").strip()
    reason = f"{bwrap} cannot create a sandbox here: {stderr or f'exit {done.returncode}'}"
    if "namespace" in stderr or "Operation not permitted" in stderr:
        hint = (
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
            "or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0; in a container, "
            "run it with --security-opt seccomp=unconfined), or pass --allow-unsandboxed"
        )
    else:
        hint = BWRAP_HINT
    return SandboxStatus(False, bwrap, reason, hint)


def _usr_links() -> list[str]:
    argv: list[str] = []
    for name in _USR_LINKS:
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", str(top.readlink()), str(top)]
        elif top.is_dir():
            # A system without merged /usr keeps real directories here.
            argv += ["--ro-bind", str(top), str(top)]
    return argv
