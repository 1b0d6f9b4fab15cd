"""The seam every runtime implements: start a server from a launch plan, get a channel.

A runtime turns a :class:`LaunchPlan` (everything resolved: rendered args and env, the
secret values, mounts and network policy) into a running :class:`Instance` whose
:class:`Channel` carries JSON-RPC messages, one serialized message per item. The gateway
only ever sees channels; it does not know whether a process, a container or a remote URL
is on the other end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from mcpkit.catalog.model import NetworkPolicy, ServerSpec

#: A line of progress for the user (``installing mcp-server-time 2025.9.25…``).
Progress = Callable[[str], None]


class ChannelClosed(Exception):  # noqa: N818 - an end-of-stream signal like anyio's EndOfStream
    """The other end of a channel is gone (the process exited, the connection closed)."""


@runtime_checkable
class Channel(Protocol):
    """A two-way stream of JSON-RPC messages, each one serialized JSON document (no newline)."""

    async def send(self, message: bytes) -> None:
        """Send one message; raises :class:`ChannelClosed` when the other end is gone."""
        ...

    async def receive(self) -> bytes:
        """The next message; raises :class:`ChannelClosed` at the end of the stream."""
        ...

    async def aclose(self) -> None:
        """Close our end; idempotent."""
        ...


@dataclass(frozen=True)
class Mount:
    """A host path made visible to the server at ``target``."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class LaunchPlan:
    """Everything needed to start one server, resolved; secret values are in ``env``/``files``.

    ``repr`` leaves the values out, so a plan can be logged or shown in an error.
    """

    server: str
    spec: ServerSpec
    profile: str = "default"
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Secret files: absolute path inside the sandbox → content.
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    mounts: tuple[Mount, ...] = ()
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    #: Every secret value the plan holds, for redacting the server's stderr and errors.
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    #: Run without a sandbox when none can be had (``--allow-unsandboxed``).
    allow_unsandboxed: bool = False
    #: A remote server's URL, rendered (no secrets in it).
    url: str | None = None
    #: A remote server's extra HTTP headers, rendered; values may hold secrets.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Health:
    """What a runtime knows about one instance."""

    state: Literal["starting", "running", "exited"]
    pid: int | None = None
    returncode: int | None = None
    sandbox: str = "none"
    detail: str = ""
    #: Why it exited, when the runtime knows more than the status (killed for memory...).
    reason: str = ""


class Instance(Protocol):
    """One running server."""

    @property
    def channel(self) -> Channel:
        """The server's JSON-RPC channel."""
        ...

    def health(self) -> Health:
        """The instance's current state, without blocking."""
        ...

    def stderr_tail(self, lines: int = 20) -> list[str]:
        """The last lines the server wrote to stderr, secrets redacted."""
        ...

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - bounded shutdown is the contract
        """Close stdin, wait up to ``timeout``, then terminate and kill; idempotent."""
        ...


class Runtime(Protocol):
    """Starts servers of some source kinds (package/command, image, remote)."""

    name: str

    def supports(self, spec: ServerSpec) -> bool:
        """Whether this runtime can run the spec's source."""
        ...

    async def prepare(self, plan: LaunchPlan, progress: Progress | None = None) -> None:
        """Install what the server needs (cached); raises InstallError / SandboxUnavailableError."""
        ...

    async def start(self, plan: LaunchPlan) -> Instance:
        """Start the server (after :meth:`prepare`); raises ServerError when it cannot run."""
        ...


def server_log_file(log_dir: Path | None, plan: LaunchPlan) -> Path | None:
    """Where a runtime appends a server's stderr (``None``: no log), made on first use."""
    if log_dir is None:
        return None
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return log_dir / f"{plan.profile}--{plan.server.replace('/', '_')}.log"
