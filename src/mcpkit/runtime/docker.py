"""The ``docker`` runtime: servers as hardened containers through the Engine API.

Image servers run their image; package servers run the image ``mcpkit build`` made for
them. Each container is created with ``StdinOnce`` and attached *before* it starts, so
its stdin/stdout are the MCP channel from the first byte and closing stdin (or the gateway
dying) ends it. How it is locked down is :mod:`mcpkit.runtime.hardening`.

Secrets reach a container as env vars or as read-only files bind-mounted from a private
folder on a RAM-backed tmpfs of the host (``$XDG_RUNTIME_DIR`` or ``/dev/shm``), unlinked
as soon as the container has started: never on disk, never in ``docker inspect``'s env.

Every container is labelled with the mcpkit home it belongs to and the gateway process
that made it (host, pid, start time). The first start of a run removes containers of
this home whose gateway is gone (a gateway killed with SIGKILL, a crashed machine);
containers of live gateways are left alone. Starts are bounded: at most
``parallel_starts`` at once and ``max_containers`` alive per runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcpkit.catalog.model import ImageSource, PackageSource, ServerSpec
from mcpkit.errors import RuntimeUnavailableError, ServerError
from mcpkit.runtime.base import Health, LaunchPlan, Progress, server_log_file
from mcpkit.runtime.engine import NOT_FOUND, Engine, EngineError
from mcpkit.runtime.hardening import (
    ContainerPolicy,
    check_mounts,
    container_request,
    container_user,
)
from mcpkit.runtime.process import process_start_time, write_all
from mcpkit.store import Locations
from mcpkit.transport.attach import AttachStream, open_attach
from mcpkit.transport.stdio_client import ProcessChannel, StderrDrain

log = logging.getLogger(__name__)

PullPolicy = Literal["never", "missing", "always"]
LABEL = "io.mcpkit"
#: The exit status of a process killed by SIGKILL (128 + 9).
_SIGKILLED = 137


@dataclass(frozen=True)
class DockerOptions:
    """How a gateway run uses the engine."""

    pull: PullPolicy = "never"
    parallel_starts: int = 4
    max_containers: int = 32
    #: The network a server that may use the network gets (``bridge`` or ``host``).
    network_mode: str = "bridge"


def image_repository(ref: str) -> str:
    """The repository of an image reference, in the engine's short form, without tag or digest.

    ``docker.io/library/x:1`` and ``x@sha256:…`` both give ``x``; podman's ``localhost/x``
    gives ``x`` too, since podman lists local images under that name.
    """
    name = ref.partition("@")[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    for prefix in ("docker.io/", "index.docker.io/", "localhost/"):
        name = name.removeprefix(prefix)
    return name.removeprefix("library/")


def home_label(locations: Locations) -> str:
    """A short, stable id of this mcpkit home, to find its containers."""
    return hashlib.sha256(str(locations.data_dir.resolve()).encode()).hexdigest()[:16]


def gateway_label() -> str:
    """``host/pid/start-time`` of this process: identifies it even after pid reuse."""
    return f"{socket.gethostname()}/{os.getpid()}/{process_start_time(os.getpid()) or '?'}"


def _gateway_alive(label: str) -> bool:
    host, _, rest = label.partition("/")
    pid_text, _, started = rest.partition("/")
    if host != socket.gethostname():
        return True  # another machine's gateway: not ours to judge
    if not pid_text.isdigit():
        return False
    return process_start_time(int(pid_text)) == started


class DockerRuntime:
    """Runs image servers, and package servers built with ``mcpkit build``, in containers."""

    name = "docker"

    def __init__(
        self,
        engine: Engine,
        locations: Locations,
        policy: ContainerPolicy,
        *,
        options: DockerOptions | None = None,
        policies: dict[str, ContainerPolicy] | None = None,
        log_dir: Path | None = None,
        home: Path | None = None,
    ) -> None:
        self.engine = engine
        self._locations = locations
        self._policy = policy
        self._policies = policies or {}
        self._options = options or DockerOptions()
        self._log_dir = log_dir
        self._home = home or Path.home()
        self._starts = asyncio.Semaphore(max(1, self._options.parallel_starts))
        self._live: set[str] = set()
        self._images: dict[str, dict[str, Any]] = {}
        self._reaped = False
        self._reap_lock = asyncio.Lock()
        self.home_id = home_label(locations)
        self.gateway_id = gateway_label()

    def supports(self, spec: ServerSpec) -> bool:
        """Image sources, and package sources (run from their built image)."""
        return spec.source.type in ("image", "package")

    def policy_for(self, plan: LaunchPlan) -> ContainerPolicy:
        """The policy of one server (its profile overrides, else the run's)."""
        return self._policies.get(plan.server, self._policy)

    # -- preparing -----------------------------------------------------------------

    async def prepare(self, plan: LaunchPlan, progress: Progress | None = None) -> None:
        """Check the engine, remove leftovers of dead gateways, make sure the image is here."""
        await self.engine.version()
        await self.reap_leftovers()
        await self._image(plan, progress)

    def image_ref(self, plan: LaunchPlan) -> str:
        """The image a plan runs: the spec's, or the one ``mcpkit build`` made for it."""
        source = plan.spec.source
        if isinstance(source, ImageSource):
            return source.image
        if isinstance(source, PackageSource):
            from mcpkit.images.records import load_record, record_for

            record = record_for(self._locations.data_dir, plan.spec)
            built = None if record else load_record(self._locations.data_dir, plan.server)
            if built is not None and (source.version or source.hashes):
                # A lock (or the catalog) pins another version or artifact than was built.
                raise ServerError(
                    f"the image built for server {plan.server!r} ({built.image}, "
                    f"{source.name} {built.version}) does not hold the pinned "
                    f"{source.requirement}"
                    + (f" with hash {' or '.join(source.hashes)}" if source.hashes else ""),
                    hint=f"mcpkit build {plan.server} --profile {plan.profile}",
                    code="image-missing",
                )
            if record is None:
                raise ServerError(
                    f"server {plan.server!r} is a {source.registry} package with no image built "
                    "for it, so the docker runtime cannot run it",
                    hint=f"mcpkit build {plan.server}; or run it with --runtime process",
                    code="image-missing",
                )
            return record.image
        raise ServerError(
            f"the docker runtime cannot run server {plan.server!r} (a {source.type} source)",
            hint="run it with the process runtime (--runtime process)",
        )

    async def _image(self, plan: LaunchPlan, progress: Progress | None) -> dict[str, Any]:
        ref = self.image_ref(plan)
        found = self._images.get(ref)
        if found is not None:
            return found
        pull = self._options.pull
        info = None if pull == "always" else await self._inspect_image(ref)
        if info is None:
            if pull == "never":
                source = plan.spec.source
                how = (
                    f"mcpkit build {plan.server}"
                    if isinstance(source, PackageSource)
                    else f"docker pull {ref} (or build it)"
                )
                if "@" in ref and isinstance(source, ImageSource):
                    how += (
                        "; if it was rebuilt or retagged here, approve the new image: "
                        f"mcpkit profile lock {plan.profile} --server {plan.server} --update"
                    )
                raise ServerError(
                    f"the image {ref} of server {plan.server!r} is not on the engine "
                    f"({self.engine.endpoint.url}), and pulling is off",
                    hint=f"{how}; or let the gateway pull it with --pull missing",
                    code="image-missing",
                )
            if progress is not None:
                progress(f"pulling {ref} for {plan.server}…")
            await self.engine.call(self.engine.api.pull, ref, what=f"pull {ref}")
            info = await self._inspect_image(ref)
            if info is None:
                raise EngineError(f"the engine pulled {ref} but does not list it")
        self._images[ref] = info
        return info

    async def _inspect_image(self, ref: str) -> dict[str, Any] | None:
        found = await self._inspect(ref)
        repository, _, digest = ref.partition("@")
        if found is None and digest:
            # A profile lock pins an image that was never pushed (no registry digest) by its
            # image id, written repo@<id>: found by the id, if it is still tagged in repo.
            by_id = await self._inspect(digest)
            tags = (by_id or {}).get("RepoTags") or []
            if any(image_repository(t) == image_repository(repository) for t in tags):
                found = by_id
        return found

    async def _inspect(self, ref: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.engine.call(
                self.engine.api.inspect_image, ref, what=f"inspect the image {ref}"
            )
        except EngineError as exc:
            if exc.status == NOT_FOUND:
                return None
            raise
        return found

    # -- leftovers -----------------------------------------------------------------

    async def reap_leftovers(self) -> list[str]:
        """Remove this home's containers whose gateway is gone; their names (once per run)."""
        async with self._reap_lock:
            if self._reaped:
                return []
            self._reaped = True
            api = self.engine.api
            found = await self.engine.call(
                api.containers,
                all=True,
                filters={"label": f"{LABEL}.home={self.home_id}"},
                what="list mcpkit's containers",
            )
            removed: list[str] = []
            for item in found:
                labels = item.get("Labels") or {}
                if _gateway_alive(str(labels.get(f"{LABEL}.gateway", ""))):
                    continue
                with contextlib.suppress(EngineError):
                    await self.engine.call(
                        api.remove_container, item["Id"], force=True, what="remove a leftover"
                    )
                    names = item.get("Names") or [item["Id"][:12]]
                    removed.append(str(names[0]).lstrip("/"))
            if removed:
                log.info("removed %d leftover container(s): %s", len(removed), ", ".join(removed))
            return removed

    # -- starting ------------------------------------------------------------------

    async def start(self, plan: LaunchPlan) -> DockerInstance:
        """Create, attach and start the server's container."""
        info = await self._image(plan, None)
        if len(self._live) >= self._options.max_containers:
            raise ServerError(
                f"not starting server {plan.server!r}: {len(self._live)} containers are running, "
                f"the most this gateway allows",
                hint="raise [docker] max_containers, or stop sessions of per-session servers",
                code="too-many-containers",
            )
        async with self._starts:
            return await self._start(plan, info)

    async def _start(self, plan: LaunchPlan, info: dict[str, Any]) -> DockerInstance:
        policy = self.policy_for(plan)
        mounts, warnings = check_mounts(plan.server, plan.mounts, policy, self._home)
        if plan.network.mode != "none" and self._options.network_mode == "host":
            warnings.append("network: the host's (containers cannot be limited to hosts here)")
        user_config = info.get("Config") or {}
        name = _container_name(plan)
        labels = {
            f"{LABEL}.managed": "true",
            f"{LABEL}.home": self.home_id,
            f"{LABEL}.gateway": self.gateway_id,
            f"{LABEL}.profile": plan.profile,
            f"{LABEL}.server": plan.server,
        }
        staging = _SecretStage(plan) if plan.files else None
        api = self.engine.api
        container_id: str | None = None
        stream: AttachStream | None = None
        try:
            files = staging.write(self.engine, user_config, policy) if staging else {}
            request = container_request(
                plan,
                image=str(info.get("Id") or self.image_ref(plan)),
                image_config=user_config,
                policy=policy,
                mounts=mounts,
                secret_files=files,
                labels=labels,
                name=name,
                network_mode=self._options.network_mode,
            )
            created = await self.engine.call(
                api.create_container, **request, what=f"create the container of {plan.server}"
            )
            container_id = str(created["Id"])
            self._live.add(container_id)
            sock = await self.engine.call(
                api.attach_socket,
                container_id,
                params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1},
                what=f"attach to the container of {plan.server}",
            )
            stream = await _wrap(sock, plan.server)
            await self.engine.call(
                api.start, container_id, what=f"start the container of {plan.server}"
            )
        except BaseException:
            if stream is not None:
                await stream.aclose()
            if container_id is not None:
                self._live.discard(container_id)
                with contextlib.suppress(EngineError, RuntimeUnavailableError):
                    await self.engine.call(
                        api.remove_container, container_id, force=True, what="remove a container"
                    )
            raise
        finally:
            if staging is not None:
                staging.remove()
        drain = StderrDrain(plan.secret_values, log_file=server_log_file(self._log_dir, plan))
        drain.start(stream.stderr)
        return DockerInstance(
            self,
            container_id,
            name,
            stream,
            drain,
            warnings=warnings,
            memory=policy.limits.memory,
        )

    async def aclose(self) -> None:
        """Close the engine client (after the gateway stopped every instance)."""
        await asyncio.to_thread(self.engine.close)

    def forget(self, container_id: str) -> None:
        """A container is gone: it no longer counts against ``max_containers``."""
        self._live.discard(container_id)


async def _wrap(sock: Any, server: str) -> AttachStream:
    raw = getattr(sock, "_sock", sock)  # the SDK hands back a SocketIO for unix sockets
    if isinstance(raw, ssl.SSLSocket):
        raise ServerError(
            f"cannot attach to the container of {server!r} over a TLS engine connection",
            hint="use the engine's unix socket (or an ssh tunnel to it) for the docker runtime",
        )
    if not isinstance(raw, socket.socket):
        raise ServerError(f"the engine's attach stream for {server!r} is not a socket")
    try:
        return await open_attach(raw)
    finally:
        # open_attach works on a duplicate; close the SDK's objects now, not at GC: the
        # HTTP response first (it flushes its reader on close), then the socket.
        response = getattr(sock, "_response", None)
        with contextlib.suppress(OSError, ValueError):
            if response is not None:
                response.close()
            sock.close()
            raw.close()


def _container_name(plan: LaunchPlan) -> str:
    clean = "".join(
        c if c.isalnum() or c in "_.-" else "-" for c in f"{plan.profile}-{plan.server}"
    )
    return f"mcpkit-{clean[:80]}-{secrets.token_hex(3)}"


class _SecretStage:
    """Secret files in a private folder on a RAM-backed tmpfs, for bind mounts."""

    def __init__(self, plan: LaunchPlan) -> None:
        self._plan = plan
        self._dir: Path | None = None

    def write(
        self, engine: Engine, image_config: dict[str, Any], policy: ContainerPolicy
    ) -> dict[str, str]:
        plan = self._plan
        if not engine.endpoint.is_local:
            raise ServerError(
                f"server {plan.server!r} takes secrets as files, which need a local engine "
                f"(this one is {engine.endpoint.url})",
                hint="use the engine's unix socket, or deliver the secrets as env vars",
            )
        base = _ram_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="mcpkit-secrets-", dir=base))
        owner = _numeric_user(container_user(str(image_config.get("User") or ""), policy))
        files: dict[str, str] = {}
        for index, (target, content) in enumerate(sorted(plan.files.items())):
            path = self._dir / f"{index}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
            try:
                write_all(fd, content)
                if owner is not None and os.geteuid() == 0:
                    os.fchown(fd, *owner)
                else:
                    os.fchmod(fd, 0o444)  # inside a 0700 folder: only the container sees it
            finally:
                os.close(fd)
            files[target] = str(path)
        return files

    def remove(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _ram_dir() -> str:
    candidates = [os.environ.get("XDG_RUNTIME_DIR", ""), "/dev/shm"]  # noqa: S108 - RAM, not /tmp
    for candidate in candidates:
        if candidate and Path(candidate).is_dir() and _is_ram(candidate):
            return candidate
    raise ServerError(
        "secrets as files need a RAM-backed folder (a tmpfs) on this machine, and neither "
        "$XDG_RUNTIME_DIR nor /dev/shm is one",
        hint="mount a tmpfs on /dev/shm, or deliver the secrets as env vars",
    )


def _is_ram(path: str) -> bool:
    # os.statvfs has no f_type; read the mount table instead.
    real = os.path.realpath(path)
    best, kind = "", ""
    try:
        with Path("/proc/self/mounts").open(encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3:
                    point = parts[1].replace("\\040", " ")
                    if (real == point or real.startswith(point.rstrip("/") + "/")) and len(
                        point
                    ) >= len(best):
                        best, kind = point, parts[2]
    except OSError:
        return False
    return kind in ("tmpfs", "ramfs")


def _numeric_user(user: str) -> tuple[int, int] | None:
    uid, _, gid = user.partition(":")
    if uid.isdigit() and (not gid or gid.isdigit()):
        return int(uid), int(gid or uid)
    return None


class DockerInstance:
    """One running container and its channel."""

    def __init__(
        self,
        runtime: DockerRuntime,
        container_id: str,
        name: str,
        stream: AttachStream,
        drain: StderrDrain,
        *,
        warnings: list[str],
        memory: int,
    ) -> None:
        self._runtime = runtime
        self.container_id = container_id
        self.name = name
        self._stream = stream
        self._drain = drain
        self._warnings = warnings
        self._memory = memory
        self._exit: tuple[int, bool] | None = None
        self._killed = False
        self._stopping: asyncio.Task[None] | None = None

    @property
    def channel(self) -> ProcessChannel:
        """The server's JSON-RPC channel over the container's stdin and stdout."""
        return self._stream.channel

    def health(self) -> Health:
        """Running, or exited with its status (and whether the kernel killed it for memory)."""
        details = list(self._warnings)
        garbage = self.channel.garbage
        if garbage:
            last = self._drain.redact(garbage[-1])
            details.append(f"the server wrote {len(garbage)}+ non-JSON lines to stdout: {last!r}")
        code: int | None = None
        reason = ""
        if self._exit is not None:
            code, oom = self._exit
            limit = (
                f"limit {self._memory // 1024**2} MiB; raise it with --memory or "
                "'mcpkit profile runtime SERVER --memory'"
            )
            if oom:
                reason = f"killed by the kernel: out of memory ({limit})"
            elif code == _SIGKILLED and not self._killed:
                # Podman on cgroup v1 does not report OOMKilled; nothing else SIGKILLs it.
                reason = f"killed with SIGKILL, most likely by the kernel: out of memory ({limit})"
            details.append(reason or f"exited with code {code}")
        return Health(
            state="running" if self._exit is None else "exited",
            pid=None,
            returncode=code,
            sandbox=self._runtime.engine.product,
            detail="; ".join(details),
            reason=reason,
        )

    def stderr_tail(self, lines: int = 20) -> list[str]:
        """The last lines of the server's stderr, secrets redacted."""
        return self._drain.tail(lines)

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - the Instance protocol
        """Close stdin, wait up to ``timeout``, stop (SIGTERM, then SIGKILL), remove; idempotent.

        Runs in a task of its own, so a cancelled caller still leaves no container behind.
        """
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop(timeout))
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> None:
        engine, api, cid = self._runtime.engine, self._runtime.engine.api, self.container_id
        with contextlib.suppress(OSError, ConnectionError):
            self._stream.writer.close()  # EOF on the server's stdin
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stream.ended(), grace)
            if not await self._exited(1.0 if self._stream_done() else 0.1):
                self._killed = True
                with contextlib.suppress(EngineError):
                    await engine.call(api.stop, cid, timeout=3, what="stop a container")
                await self._exited(5.0)
        except RuntimeUnavailableError as exc:
            log.warning("%s: could not stop container %s: %s", self.name, cid[:12], exc.message)
        finally:
            with contextlib.suppress(EngineError, RuntimeUnavailableError):
                await engine.call(api.remove_container, cid, force=True, what="remove a container")
            self._runtime.forget(cid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain.wait(), 1.0)
            await self._drain.aclose()
            await self._stream.aclose()

    def _stream_done(self) -> bool:
        return self._stream.stdout.at_eof()

    async def _exited(self, seconds: float) -> bool:
        """Whether the container stops within ``seconds``; records its exit status if so."""
        engine = self._runtime.engine
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            try:
                state = await engine.call(
                    engine.api.inspect_container, self.container_id, what="inspect a container"
                )
            except EngineError:
                return True  # already gone
            info = state.get("State") or {}
            if not info.get("Running"):
                self._exit = (int(info.get("ExitCode") or 0), bool(info.get("OOMKilled")))
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
