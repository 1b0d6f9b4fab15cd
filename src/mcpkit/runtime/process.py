"""The ``process`` runtime: package and command servers as sandboxed child processes.

A package server is installed once into its own environment under the cache dir
(:mod:`mcpkit.runtime.install`); a command server runs a local executable. Either is
started as a child whose environment is only PATH, HOME (its own state dir), LANG and
what its plan declares (secrets included), never the gateway's. On Linux it runs inside
bubblewrap (:mod:`mcpkit.runtime.sandbox`). When no sandbox can be had, it refuses to
start unless the plan allows running unsandboxed (``--allow-unsandboxed``).

Each child leads its own process group, so :meth:`ProcessInstance.stop` can end the whole
tree: close stdin (MCP's way to ask a stdio server to exit), wait, SIGTERM the group,
then SIGKILL it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from mcpkit.catalog.model import CommandSource, PackageSource, ServerSpec
from mcpkit.errors import SandboxUnavailableError, ServerError
from mcpkit.runtime.base import Health, LaunchPlan, Progress, server_log_file
from mcpkit.runtime.install import InstalledPackage, ensure_installed
from mcpkit.runtime.sandbox import (
    SandboxStatus,
    bwrap_argv,
    network_warning,
    probe_sandbox,
    sandbox_environ,
)
from mcpkit.store import Locations
from mcpkit.transport.stdio_client import MAX_MESSAGE, ProcessChannel, StderrDrain

log = logging.getLogger(__name__)

SandboxMode = Literal["auto", "bwrap", "none"]
#: The most to wait after SIGTERM, and after SIGKILL, before giving up on a child.
_TERM_GRACE = 3.0
_KILL_GRACE = 5.0


class ProcessRuntime:
    """Runs ``package`` and ``command`` servers as (sandboxed) child processes.

    ``sandbox``: ``auto`` uses bubblewrap when it works here; ``bwrap`` requires it;
    ``none`` never sandboxes (still only with ``plan.allow_unsandboxed``).
    """

    name = "process"

    def __init__(
        self,
        locations: Locations,
        environ: Mapping[str, str],
        *,
        sandbox: SandboxMode = "auto",
        log_dir: Path | None = None,
        installer: Literal["auto", "uv", "pip"] = "auto",
    ) -> None:
        self._locations = locations
        self._environ = dict(environ)
        self._sandbox = sandbox
        self._log_dir = log_dir
        self._installer: Literal["auto", "uv", "pip"] = installer
        self._installed: dict[str, InstalledPackage] = {}

    def supports(self, spec: ServerSpec) -> bool:
        """Package and command sources."""
        return spec.source.type in ("package", "command")

    async def prepare(self, plan: LaunchPlan, progress: Progress | None = None) -> None:
        """Check that the server can be sandboxed (or may run without), and install it."""
        await self._sandbox_for(plan)
        source = plan.spec.source
        if isinstance(source, PackageSource):
            await self._install(source, progress)

    async def start(self, plan: LaunchPlan) -> ProcessInstance:
        """Start the server; raises ServerError / SandboxUnavailableError when it cannot."""
        source = plan.spec.source
        bwrap = await self._sandbox_for(plan)
        state = self._state_dir(plan)
        if isinstance(source, PackageSource):
            installed = await self._install(source, None)
            if not installed.executable.exists():
                raise ServerError(
                    f"{installed.executable} of server {plan.server!r} is gone",
                    hint=f"remove {installed.env_dir} and start the server again to reinstall",
                )
            argv = [str(installed.executable), *plan.args]
            ro_paths = [installed.env_dir, *installed.extra_ro_paths]
            path_dirs = list(installed.path_dirs)
            cwd = None
        elif isinstance(source, CommandSource):
            argv, ro_paths, cwd = self._command(plan, source)
            path_dirs = [Path(argv[0]).parent]
        else:
            raise ServerError(
                f"the process runtime cannot run server {plan.server!r} (a {source.type} source)",
                hint="this is a bug in runtime selection; please report it",
            )
        lang = self._environ.get("LANG") or "C.UTF-8"
        if bwrap:
            env = sandbox_environ(plan.env, home=state, path_dirs=path_dirs, lang=lang)
        else:
            self._check_unsandboxed(plan)
            user_path = self._environ.get("PATH", os.defpath)
            env = {
                "PATH": ":".join([*map(str, path_dirs), user_path]),
                "HOME": str(state),
                "LANG": lang,
                **plan.env,
            }
        warning = network_warning(plan.network) if bwrap else None
        if warning:
            log.warning("server %s: %s", plan.server, warning)
        fds = {target: _memfd(content) for target, content in plan.files.items()} if bwrap else {}
        try:
            if bwrap:
                full = bwrap_argv(
                    argv,
                    bwrap=bwrap,
                    plan_mounts=plan.mounts,
                    ro_paths=ro_paths,
                    state_dir=state,
                    network=plan.network,
                    files=fds,
                    cwd=cwd,
                )
            else:
                full = argv
            proc = await self._spawn(plan, full, env, cwd or state, tuple(fds.values()))
        finally:
            for fd in fds.values():
                os.close(fd)
        drain = StderrDrain(plan.secret_values, log_file=server_log_file(self._log_dir, plan))
        stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
        if stdin is None or stdout is None or stderr is None:  # all three were PIPE
            raise ServerError(f"server {plan.server!r} started without its pipes")
        drain.start(stderr)
        return ProcessInstance(
            proc,
            ProcessChannel(stdout, stdin),
            drain,
            sandbox="bwrap" if bwrap else "none",
            warning=warning,
        )

    async def _install(self, source: PackageSource, progress: Progress | None) -> InstalledPackage:
        key = source.model_dump_json()
        found = self._installed.get(key)
        if found is None:
            found = await ensure_installed(
                source,
                self._locations.cache_dir,
                progress,
                self._environ,
                installer=self._installer,
            )
            self._installed[key] = found
        return found

    async def _sandbox_for(self, plan: LaunchPlan) -> str | None:
        """The bwrap to run the plan with, None to run it unsandboxed, or raise."""
        if self._sandbox == "none":
            status = SandboxStatus(
                False,
                reason="the process runtime is configured not to sandbox (sandbox = none)",
            )
        else:
            status = await asyncio.to_thread(probe_sandbox, self._environ)
        if status.available:
            return status.bwrap
        if self._sandbox == "bwrap":
            raise SandboxUnavailableError(
                f"server {plan.server!r} must run in bubblewrap, but {status.reason}",
                hint=status.hint or "apt-get install bubblewrap",
            )
        if not plan.allow_unsandboxed:
            raise SandboxUnavailableError(
                f"refusing to start server {plan.server!r} without a sandbox: {status.reason}",
                hint=(status.hint or "")
                + (" or " if status.hint else "")
                + "pass --allow-unsandboxed (or set allow_unsandboxed in the config) "
                "to run it with your user's full access",
            )
        log.warning("server %s runs without a sandbox: %s", plan.server, status.reason)
        return None

    def _state_dir(self, plan: LaunchPlan) -> Path:
        parts = [*Path(plan.profile).parts, *Path(plan.server).parts]
        if not parts or any(p in ("", ".", "..") or p.startswith("/") for p in parts):
            raise ServerError(
                f"server {plan.server!r} in profile {plan.profile!r} has no safe state folder",
                hint="server ids and profile names may not contain '..' or start with '/'",
            )
        path = self._locations.state_dir.joinpath("servers", *parts)
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ServerError(
                f"cannot create the state folder {path} of server {plan.server!r}: {exc.strerror}",
                hint="check the permissions of mcpkit's state directory (mcpkit doctor)",
            ) from exc
        return path

    def _command(
        self, plan: LaunchPlan, source: CommandSource
    ) -> tuple[list[str], list[Path], Path | None]:
        try:
            words = shlex.split(source.command)
        except ValueError as exc:
            raise ServerError(
                f"the command of server {plan.server!r} cannot be split: {exc}",
                hint="check its quotes (it is split like a POSIX shell line)",
            ) from exc
        cwd = Path(source.cwd).expanduser() if source.cwd else None
        if cwd is not None and not (cwd.is_absolute() and cwd.is_dir()):
            raise ServerError(
                f"the working folder {source.cwd} of server {plan.server!r} "
                "is not an existing absolute path",
                hint="set cwd to an absolute folder that exists",
            )
        if not words:
            raise ServerError(f"server {plan.server!r} has an empty command")
        name = words[0]
        if "/" in name:
            candidate = (cwd or Path.cwd()) / name
            found = str(candidate) if os.access(candidate, os.X_OK) else None
        else:
            found = shutil.which(name, path=self._environ.get("PATH", os.defpath))
        if found is None:
            raise ServerError(
                f"the command {name!r} of server {plan.server!r} was not found"
                + ("" if "/" in name else " on PATH")
                + " or is not executable",
                hint="install it, or give its absolute path in the server's command",
            )
        exe = Path(found).absolute()
        ro: list[Path] = []
        for directory in (exe.parent, exe.resolve().parent, *_venv_roots(exe), cwd):
            if directory is not None and not directory.is_relative_to("/usr"):
                ro.append(directory)
        return [str(exe), *words[1:], *plan.args], list(dict.fromkeys(ro)), cwd

    def _check_unsandboxed(self, plan: LaunchPlan) -> None:
        if plan.files:
            raise ServerError(
                f"server {plan.server!r} takes secrets as files, which need the sandbox",
                hint="install bubblewrap (apt-get install bubblewrap)",
            )
        for mount in plan.mounts:
            if Path(mount.source).resolve() != Path(mount.target).resolve():
                raise ServerError(
                    f"server {plan.server!r} mounts {mount.source} at {mount.target}, "
                    "which needs the sandbox",
                    hint="install bubblewrap (apt-get install bubblewrap)",
                )

    async def _spawn(
        self,
        plan: LaunchPlan,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path,
        fds: tuple[int, ...],
    ) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                pass_fds=fds,
                limit=MAX_MESSAGE,
            )
        except OSError as exc:
            raise ServerError(
                f"server {plan.server!r} could not start: {argv[0]}: {exc.strerror}",
                hint="run 'mcpkit doctor' to check the runtime",
            ) from exc


class ProcessInstance:
    """One running child process and its channel."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        channel: ProcessChannel,
        drain: StderrDrain,
        *,
        sandbox: str,
        warning: str | None = None,
    ) -> None:
        self._proc = proc
        self._channel = channel
        self._drain = drain
        self._sandbox = sandbox
        self._warning = warning
        self._stopping: asyncio.Task[None] | None = None

    @property
    def channel(self) -> ProcessChannel:
        """The server's JSON-RPC channel over its stdin and stdout."""
        return self._channel

    @property
    def pid(self) -> int:
        """The child's pid (bwrap's, when sandboxed)."""
        return self._proc.pid

    def health(self) -> Health:
        """Running or exited (with the return code), the sandbox, and what went wrong."""
        code = self._proc.returncode
        details = [self._warning] if self._warning else []
        garbage = self._channel.garbage
        if garbage:
            last = self._drain.redact(garbage[-1])
            details.append(f"the server wrote {len(garbage)}+ non-JSON lines to stdout: {last!r}")
        if code is not None:
            tail = self._drain.tail(1)
            details.append(f"exited with code {code}" + (f": {tail[0]}" if tail else ""))
        return Health(
            state="running" if code is None else "exited",
            pid=self._proc.pid,
            returncode=code,
            sandbox=self._sandbox,
            detail="; ".join(details),
        )

    def stderr_tail(self, lines: int = 20) -> list[str]:
        """The last lines of the server's stderr, secrets redacted."""
        return self._drain.tail(lines)

    async def wait(self) -> int:
        """Wait for the child to exit; its return code."""
        return await self._proc.wait()

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the Instance protocol
        """Close stdin, wait up to ``timeout``, SIGTERM then SIGKILL the group; idempotent.

        The shutdown runs in a task of its own: cancelling the caller does not interrupt
        it, so a cancelled gateway still leaves no process behind.
        """
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop(timeout))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> None:
        # The sandboxed server leads a session of its own (bwrap --new-session), out of
        # reach of killpg: remember the whole tree to make sure it is gone at the end.
        tree = _descendants(self._proc.pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._channel.aclose(), 1.0)
        if not await self._exited_within(grace):
            tree.update(_descendants(self._proc.pid))
            self._signal_group(signal.SIGTERM)
            await self._exited_within(min(grace, _TERM_GRACE))
        tree.update(_descendants(self._proc.pid))
        # Also ends what the server left behind in its group after it exited.
        self._signal_group(signal.SIGKILL)
        await self._exited_within(_KILL_GRACE)
        await _kill_all(tree, _KILL_GRACE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drain.wait(), 1.0)
        await self._drain.aclose()

    async def _exited_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), seconds)
        except TimeoutError:
            return False
        return True

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)


def write_all(fd: int, content: bytes) -> None:
    """Write all of ``content`` to ``fd`` (``os.write`` may write only part of it)."""
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]


def _memfd(content: bytes) -> int:
    """A readable in-memory file holding ``content``: secrets never touch the disk."""
    fd = os.memfd_create("mcpkit-secret", os.MFD_CLOEXEC)
    try:
        write_all(fd, content)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd


def _descendants(pid: int) -> dict[int, str]:
    """Every descendant of ``pid`` with its start time, from /proc (empty without /proc)."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            # A process may exit between being found and being read: it has no children then.
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                started = process_start_time(child)
                if started is not None:
                    found[child] = started
                    todo.append(child)
    return found


def process_start_time(pid: int) -> str | None:
    """The start time of a live (not zombie) process; with the pid, a unique identity."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # Fields after the command: state is field 3 of stat(5), starttime field 22.
    return None if fields[0] == "Z" else fields[19]


async def _kill_all(tree: dict[int, str], seconds: float) -> None:
    """SIGKILL what is still alive in ``tree`` and wait (bounded) until it is gone.

    A pid counts only while its start time matches, so a reused pid is never killed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        living = [pid for pid, started in tree.items() if process_start_time(pid) == started]
        if not living or loop.time() > deadline:
            return
        for pid in living:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        # Death after SIGKILL is asynchronous (a pid namespace is torn down by the kernel).
        await asyncio.sleep(0.01)


def _venv_roots(exe: Path) -> list[Path]:
    """A virtualenv's root (and its base interpreter's prefix) when ``exe`` is in its bin.

    A venv's python finds its packages through ``../pyvenv.cfg``; without the root in
    the sandbox it would run as the bare base interpreter.
    """
    root = exe.parent.parent
    cfg = root / "pyvenv.cfg"
    if not cfg.is_file():
        return []
    roots = [root]
    try:
        lines = cfg.read_text(errors="replace").splitlines()
    except OSError:
        return roots
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            prefix = Path(value.strip()).parent
            if prefix.is_absolute() and prefix != Path("/"):
                roots.append(prefix)
    return roots
