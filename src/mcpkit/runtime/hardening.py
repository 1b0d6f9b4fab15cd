"""How a server's container is locked down: limits, user, mounts, and the create request.

Pure functions, no engine: :func:`container_request` turns a :class:`LaunchPlan`, what the
image says about itself, and a :class:`ContainerPolicy` into the arguments of the Engine
API's container create. The defaults are the hardened ones: no new privileges, every
capability dropped, a read-only root with a private ``/tmp`` tmpfs, an init process, a
non-root user when the image has none, CPU, memory (no swap) and pids limits, no network
unless the spec allows it, and no engine-side log of the server's output (the MCP traffic
and the server's stderr may carry secrets; mcpkit keeps a redacted tail itself).

Only what the spec declares is mounted, and only after :func:`check_mounts`: sensitive
host paths (credentials, the engine's socket, ``/etc``...) are always refused, and a mount
is writable only when the spec asks for it *and* it sits under an allowed root. Image
``VOLUME`` declarations get a private tmpfs instead of a host-backed anonymous volume, and
image labels are never read: an image cannot add mounts, privileges, env or commands.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpkit.errors import InvalidInputError, ServerError
from mcpkit.runtime.base import LaunchPlan, Mount

#: The user a container runs as when its image names none (or root).
NOBODY = "65534:65534"
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

#: Paths under the user's home that hold credentials.
_HOME_SENSITIVE = (
    ".ssh",
    ".aws",
    ".azure",
    ".gnupg",
    ".docker",
    ".kube",
    ".config/gcloud",
    ".config/gh",
    ".config/containers",
    ".netrc",
    ".git-credentials",
    ".password-store",
    ".local/share/keyrings",
    ".pgpass",
)
#: System paths no server may see.
_SYSTEM_SENSITIVE = (
    "/etc",
    "/root",
    "/boot",
    "/proc",
    "/sys",
    "/dev",
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/podman",
    "/run/containerd",
    "/var/lib/docker",
    "/var/lib/containers",
    "/var/lib/kubelet",
)


def parse_size(text: str | int) -> int:
    """Bytes in ``text`` (``512m``, ``1g``, ``256MiB``, or a plain number of bytes)."""
    if isinstance(text, int):
        value = text
    else:
        found = _SIZE_RE.match(text)
        if not found:
            raise InvalidInputError(
                f"{text!r} is not a size",
                hint="write a number with an optional unit: 512m, 1g, 268435456",
            )
        value = int(float(found.group(1)) * _UNITS[found.group(2).lower()])
    if value < 4 * 1024**2:
        raise InvalidInputError(
            f"a memory limit of {text!r} is too small to start a server",
            hint="use at least 4m; 256m suits most servers",
        )
    return value


@dataclass(frozen=True)
class ContainerLimits:
    """Resource limits of one container."""

    memory: int = 512 * 1024**2
    cpus: float = 1.0
    pids: int = 256
    tmp_size: int = 64 * 1024**2

    def __post_init__(self) -> None:
        if not 0 < self.cpus <= 1024:
            raise InvalidInputError(f"cpus must be above 0, not {self.cpus}", hint="e.g. 0.5 or 2")
        if self.pids < 8:
            raise InvalidInputError(
                f"a pids limit of {self.pids} is too low", hint="use at least 8; 256 is the default"
            )

    def merged(
        self, memory: str | int | None, cpus: float | None, pids: int | None
    ) -> ContainerLimits:
        """These limits with the given overrides (None keeps a value)."""
        return ContainerLimits(
            memory=parse_size(memory) if memory is not None else self.memory,
            cpus=cpus if cpus is not None else self.cpus,
            pids=pids if pids is not None else self.pids,
            tmp_size=self.tmp_size,
        )


@dataclass(frozen=True)
class ContainerPolicy:
    """What the gateway run allows containers: limits, roots for writable mounts, overrides."""

    limits: ContainerLimits = field(default_factory=ContainerLimits)
    read_only: bool = True
    #: Run as this user instead of the image's (``uid:gid``); None = the hardened default.
    user: str | None = None
    allowed_roots: tuple[Path, ...] = ()
    #: More paths to refuse (mcpkit's own state, the engine's socket).
    sensitive: tuple[Path, ...] = ()


@dataclass(frozen=True)
class CheckedMount:
    """A mount that passed :func:`check_mounts`."""

    source: str
    target: str
    read_only: bool


def sensitive_paths(home: Path, extra: Iterable[Path] = ()) -> list[Path]:
    """Every path no container may mount, nor mount a parent of."""
    paths = [home / p for p in _HOME_SENSITIVE] + [Path(p) for p in _SYSTEM_SENSITIVE]
    return [*paths, *extra]


def check_mounts(
    server: str, mounts: Sequence[Mount], policy: ContainerPolicy, home: Path
) -> tuple[list[CheckedMount], list[str]]:
    """The mounts that may be made, and warnings; raises ServerError for a refused one."""
    refused = [_real(p) for p in sensitive_paths(home, policy.sensitive)]
    roots = [_real(r) for r in policy.allowed_roots]
    checked: list[CheckedMount] = []
    warnings: list[str] = []
    for mount in mounts:
        if not Path(mount.source).is_absolute() or not Path(mount.target).is_absolute():
            raise ServerError(
                f"server {server!r} declares a mount with a relative path ({mount.source} -> "
                f"{mount.target})",
                hint="set the server's config to an absolute path",
            )
        source = _real(Path(mount.source))
        if not source.exists():
            raise ServerError(
                f"server {server!r} mounts {mount.source}, which does not exist",
                hint="create it, or change the server's config to a folder that exists",
            )
        for bad in refused:
            if source == bad or source.is_relative_to(bad) or bad.is_relative_to(source):
                raise ServerError(
                    f"server {server!r} may not mount {mount.source}: it is or holds {bad}, "
                    "which no server may see",
                    hint="point the server's config at a folder without credentials or "
                    "system files",
                )
        read_only = mount.read_only
        if not read_only and not any(source.is_relative_to(root) for root in roots):
            read_only = True
            warnings.append(
                f"{mount.source} is mounted read-only: it is not under an allowed root "
                "(add one with [docker] allowed_roots or --allow-write-root)"
            )
        checked.append(CheckedMount(str(source), mount.target, read_only))
    return checked, warnings


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path.expanduser()))


def container_user(image_user: str, policy: ContainerPolicy) -> str:
    """The user to run as: the override, the image's non-root user, else nobody."""
    if policy.user:
        return policy.user
    name = image_user.split(":", 1)[0].strip()
    if name in ("", "root", "0"):
        return NOBODY
    return image_user


def container_request(
    plan: LaunchPlan,
    *,
    image: str,
    image_config: Mapping[str, Any],
    policy: ContainerPolicy,
    mounts: Sequence[CheckedMount],
    secret_files: Mapping[str, str],
    labels: Mapping[str, str],
    name: str,
    network_mode: str = "bridge",
) -> dict[str, Any]:
    """Keyword arguments for the Engine API's create (``APIClient.create_container``).

    ``secret_files`` maps a path inside the container to the host file holding it (on a
    tmpfs; see the docker runtime). A server whose spec allows network gets
    ``network_mode``; every other one gets none.
    """
    from docker.types import HostConfig, LogConfig
    from docker.types import Mount as DockerMount

    limits = policy.limits
    user = container_user(str(image_config.get("User") or ""), policy)
    env = dict(plan.env)
    if user == NOBODY and "HOME" not in env:
        env["HOME"] = "/tmp"  # noqa: S108 - nobody has no home; the private tmpfs is writable
    tmpfs = {"/tmp": f"rw,nosuid,nodev,size={limits.tmp_size}"}  # noqa: S108 - a private tmpfs
    for volume in image_config.get("Volumes") or {}:
        if isinstance(volume, str) and volume.startswith("/") and volume not in tmpfs:
            tmpfs[volume] = f"rw,nosuid,nodev,size={limits.tmp_size}"
    docker_mounts = [
        DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in mounts
    ] + [
        DockerMount(target, source, type="bind", read_only=True)
        for target, source in secret_files.items()
    ]
    network = network_mode if plan.network.mode != "none" else "none"
    host_config = HostConfig(
        version="1.41",
        network_mode=network,
        read_only=policy.read_only,
        tmpfs=tmpfs,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        init=True,
        mem_limit=limits.memory,
        memswap_limit=limits.memory,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        mounts=docker_mounts,
        log_config=LogConfig(type="none"),
        auto_remove=False,
    )
    return {
        "image": image,
        "command": list(plan.args) or None,
        "environment": env,
        "user": user,
        "labels": dict(labels),
        "name": name,
        "stdin_open": True,
        "tty": False,
        "detach": False,
        "host_config": host_config,
    }
