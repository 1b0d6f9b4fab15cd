"""Assemble a gateway for one profile: plans, runtimes, slots, cache and interceptors.

A server that cannot be planned (not in any catalog, a secret or config value missing,
no runtime for its source) still gets a slot, in state ``failed`` with the reason and the
fix, so it shows up in health and ``tools ls`` while every other server is served.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mcpkit.app import App
from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import McpkitError, RuntimeUnavailableError, UnknownServerError
from mcpkit.gateway.calllog import CallLog
from mcpkit.gateway.core import Gateway, GatewayOptions, PinRecorder, ToolChangeMode
from mcpkit.gateway.hooks import ExternalHook, hooks_from_config
from mcpkit.gateway.interceptors import Interceptor, InterceptorChain
from mcpkit.gateway.leaks import LeakBlocker, LeakScanner
from mcpkit.gateway.lists import ListCache, cache_path, launch_key
from mcpkit.gateway.slot import ServerSlot, SlotOptions
from mcpkit.profiles.artifact_lock import apply_pins
from mcpkit.profiles.model import ProfileServer, ServerRun
from mcpkit.profiles.service import record_tool_pins
from mcpkit.runtime.base import LaunchPlan, Progress, Runtime
from mcpkit.runtime.docker import DockerOptions, DockerRuntime, PullPolicy
from mcpkit.runtime.engine import Engine
from mcpkit.runtime.hardening import ContainerLimits, ContainerPolicy, parse_size
from mcpkit.runtime.plan import build_plan
from mcpkit.runtime.process import ProcessRuntime
from mcpkit.store import Database

if TYPE_CHECKING:
    from mcpkit.runtime.remote import RemoteRuntime
    from mcpkit.transport.netguard import RemotePolicy
    from mcpkit.trust.gate import TrustGate


@dataclass
class RunOptions:
    """What ``gateway run`` (or ``tools …``) asked for, merged with the settings."""

    profile: str = "default"
    servers: Sequence[str] = ()
    tools: Sequence[str] = ()
    allow_unsandboxed: bool = False
    sandbox: str = "auto"
    block_secrets: bool = True
    log_calls: bool = False
    lazy: bool = False
    idle_timeout: float = 0.0
    prefix_tools: bool = False
    hooks: list[dict[str, Any]] = field(default_factory=list)
    slot: SlotOptions = field(default_factory=SlotOptions)
    #: ``auto``: image servers in containers, the rest as processes; or force one.
    runtime: str = "auto"
    #: Container defaults (each server's profile settings win over them).
    memory: str | None = None
    cpus: float | None = None
    pids: int | None = None
    pull: str | None = None
    allowed_roots: Sequence[str] = ()
    #: Lift the SSRF guard for remote servers (http://, loopback, private addresses).
    allow_insecure_remote: bool = False
    #: What to do with a tool that differs from its pin (``[trust] tool_changes``), and
    #: per-server overrides (the trust policy's rule for that server).
    tool_changes: ToolChangeMode = "block"
    server_tool_changes: dict[str, ToolChangeMode] = field(default_factory=dict)
    #: Block tools that differ from their pins, and record the first tool list of a server
    #: with no pins as approved (trust on first use). ``profile lock`` and ``profile diff``
    #: turn it off: they compare and approve themselves.
    tool_pinning: bool = True
    #: Verify every server as the trust policy says, in ``enforce`` whatever its rules say
    #: (``--verify-signatures``).
    verify_signatures: bool = False


def build_gateway(app: App, run: RunOptions, *, progress: Progress | None = None) -> Gateway:
    """A gateway for ``run.profile``, not started yet."""
    profile = app.profiles.get(run.profile)
    entries = list(profile.servers)
    if run.servers:
        known = {s.id for s in entries}
        unknown = [s for s in run.servers if s not in known]
        if unknown:
            raise UnknownServerError(
                f"profile {run.profile!r} has no server {unknown[0]!r}",
                hint=f"mcpkit profile show {run.profile}",
            )
        entries = [s for s in entries if s.id in run.servers]
    runtimes = _Runtimes(app, run, entries)
    specs = {server.id: app.profiles.find_spec(server) for server in entries}
    gate = trust_gate(app, run, entries, specs)
    cache = ListCache(cache_path(app.locations.cache_dir, run.profile))
    slots: list[ServerSlot] = []
    plans: list[LaunchPlan] = []
    keys: dict[str, str] = {}
    for server in entries:
        spec = specs[server.id]
        problem: str | None = None
        plan: LaunchPlan | None = None
        runtime: Runtime | None = None
        if spec is None:
            problem = (
                f"server {server.id!r} is in no catalog (hint: mcpkit catalog update, "
                f"or mcpkit server rm {server.id})"
            )
        else:
            try:
                # The profile's lock decides what runs: the image digest, the package
                # version and artifact hashes it approved.
                spec = apply_pins(spec, server.pins, profile=run.profile)
                plan = build_plan(
                    run.profile,
                    server,
                    spec,
                    lambda name: app.secrets.resolve(name, profile=run.profile),
                    allow_unsandboxed=run.allow_unsandboxed,
                )
            except McpkitError as exc:
                problem = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            try:
                runtime = runtimes.pick(server, spec)
            except McpkitError as exc:
                if problem is None:
                    problem = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            if gate is not None and runtime is not None:
                runtime = gate.wrap(runtime)
        cached = None
        if spec is not None:
            keys[server.id] = launch_key(spec.to_data(), server.config)
            cached = cache.get(server.id, keys[server.id])
        if plan is not None:
            plans.append(plan)
        slots.append(
            ServerSlot(
                server.id,
                plan=plan if problem is None else None,
                runtime=runtime if problem is None else None,
                problem=problem,
                cached=cached,
                options=run.slot,
                progress=progress,
            )
        )
    options = GatewayOptions(
        profile=run.profile,
        prefix_tools=run.prefix_tools or profile.prefix_tools,
        lazy=run.lazy,
        idle_timeout=run.idle_timeout,
        tools=tuple(run.tools),
        filters={s.id: s.tools for s in entries if not s.tools.is_default},
        tool_pins={s.id: dict(s.pins.tools) for s in entries if s.pins.tools}
        if run.tool_pinning
        else {},
        tool_changes={
            s.id: run.server_tool_changes.get(s.id)
            or (gate.tool_changes(s.id) if gate else None)
            or run.tool_changes
            for s in entries
        },
        on_unpinned=pin_recorder(app, run.profile) if run.tool_pinning else None,
    )
    chain = build_chain(app, run, plans)
    return Gateway(slots, options=options, chain=chain, list_cache=cache, launch_keys=keys)


class _Gate:
    """The trust gate of one run: wraps each runtime once, answers per-server modes."""

    def __init__(self, gate: TrustGate, specs: dict[str, ServerSpec]) -> None:
        self.gate = gate
        self.specs = specs
        self._wrapped: dict[int, Runtime] = {}

    def wrap(self, runtime: Runtime) -> Runtime:
        from mcpkit.trust.gate import VerifyingRuntime

        wrapped = self._wrapped.get(id(runtime))
        if wrapped is None:
            wrapped = self._wrapped[id(runtime)] = VerifyingRuntime(runtime, self.gate)
        return wrapped

    def tool_changes(self, server: str) -> ToolChangeMode | None:
        spec = self.specs.get(server)
        if spec is None or self.gate.policy.path is None:
            return None  # no policy file: the [trust] setting decides
        return self.gate.requirements(spec).tool_changes


def trust_gate(
    app: App,
    run: RunOptions,
    entries: Sequence[ProfileServer],
    specs: Mapping[str, ServerSpec | None],
) -> _Gate | None:
    """The run's trust gate, or None when there is no policy and no --verify-signatures.

    Without either nothing is verified, and the trust modules are not even imported.
    """
    # The same path as mcpkit.trust.service.paths(app).policy, without importing it.
    if not run.verify_signatures and not (app.locations.config_dir / "trust.toml").exists():
        return None
    from mcpkit.trust.gate import TrustGate
    from mcpkit.trust.service import policy, registry_client

    rules = policy(app)
    if run.verify_signatures:
        rules = rules.with_mode("enforce")
    catalogs: dict[str, str | None] = {}
    for server in entries:
        entry = None if server.spec is not None else app.catalog.find(server.id)
        catalogs[server.id] = entry.source if entry else None
    known = {sid: spec for sid, spec in specs.items() if spec is not None}
    # One registry client for the run, made when the first image is verified.
    client = functools.cache(lambda: registry_client(app))
    return _Gate(TrustGate(rules, client, run.profile, catalogs), known)


def pin_recorder(app: App, profile: str) -> PinRecorder:
    """Records a server's first tool list in ``profile`` (trust on first use), off the loop.

    The write runs in a worker thread on a connection of its own (SQLite connections
    belong to their thread) and only when the server still has no tool pins, so a
    ``profile lock`` that ran meanwhile wins.
    """
    path = app.locations.db_path

    def write(server: str, tools: list[dict[str, Any]]) -> None:
        with Database(path) as db:
            record_tool_pins(db, profile, server, tools, replace=False, first_use=True)

    async def record(server: str, tools: list[dict[str, Any]]) -> None:
        await asyncio.to_thread(write, server, tools)

    return record


def build_chain(app: App, run: RunOptions, plans: Sequence[LaunchPlan]) -> InterceptorChain | None:
    """The interceptors the run asked for, or None for none at all (the fast path)."""
    interceptors: list[Interceptor] = []
    if run.block_secrets:
        values = {v for plan in plans for v in plan.secret_values}
        interceptors.append(LeakBlocker(LeakScanner(values)))
    for hook in hooks_from_config(run.hooks):
        interceptors.append(ExternalHook(hook, environ=app.environ))
    log = CallLog(app.locations.state_dir / "calls.jsonl") if run.log_calls else None
    if not interceptors and log is None:
        return None
    return InterceptorChain(interceptors, log)


class _Runtimes:
    """Picks each server's runtime; makes each runtime once, when a server needs it."""

    def __init__(self, app: App, run: RunOptions, entries: Sequence[ProfileServer]) -> None:
        self._app = app
        self._run = run
        self._entries = {e.id: e for e in entries}
        self._process: ProcessRuntime | None = None
        self._docker: DockerRuntime | None = None
        self._remote: RemoteRuntime | None = None

    def pick(self, server: ProfileServer, spec: ServerSpec) -> Runtime:
        """The runtime of one server; raises with the reason when none can run it."""
        kind = spec.source.type
        choice = server.run.runtime if server.run.runtime != "auto" else self._run.runtime
        if choice == "auto":
            choice = "docker" if kind == "image" else "process"
        if kind == "remote":
            # A hosted server runs nowhere here: --runtime only chooses how local ones run.
            return self.remote()
        if choice == "docker":
            if kind == "command":
                raise RuntimeUnavailableError(
                    f"server {server.id!r} is a local command, which cannot run in a container",
                    hint=f"mcpkit profile runtime {server.id} --runtime process",
                )
            return self.docker()
        if kind == "image":
            raise RuntimeUnavailableError(
                f"server {server.id!r} is a container image, which only the docker runtime "
                "can run, and the process runtime was asked for",
                hint=f"mcpkit profile runtime {server.id} --runtime auto (or drop --runtime "
                "process)",
            )
        return self.process()

    def process(self) -> ProcessRuntime:
        if self._process is None:
            sandbox: Any = self._run.sandbox
            self._process = ProcessRuntime(self._app.locations, self._app.environ, sandbox=sandbox)
        return self._process

    def docker(self) -> DockerRuntime:
        if self._docker is None:
            settings = self._app.settings.docker
            run = self._run
            base = ContainerPolicy(
                limits=ContainerLimits().merged(
                    run.memory or settings.memory,
                    run.cpus or settings.cpus,
                    run.pids or settings.pids,
                ),
                allowed_roots=tuple(
                    Path(p).expanduser() for p in [*settings.allowed_roots, *run.allowed_roots]
                ),
                sensitive=(
                    self._app.locations.data_dir,
                    self._app.locations.config_dir,
                    self._app.locations.state_dir,
                ),
            )
            policies = {
                sid: _server_policy(base, entry.run)
                for sid, entry in self._entries.items()
                if not entry.run.is_default
            }
            options = DockerOptions(
                pull=cast("PullPolicy", run.pull or settings.pull),
                parallel_starts=settings.parallel_starts,
                max_containers=settings.max_containers,
                network_mode=settings.network_mode,
            )
            home = Path(self._app.environ.get("HOME") or Path.home())
            self._docker = DockerRuntime(
                Engine.from_environ(self._app.environ),
                self._app.locations,
                base,
                options=options,
                policies=policies,
                home=home,
            )
        return self._docker

    def remote(self) -> RemoteRuntime:
        if self._remote is None:
            # Imported here: a gateway with no remote server never loads the HTTP client.
            from mcpkit.oauth._http import default_factory
            from mcpkit.oauth.broker import TokenBroker
            from mcpkit.runtime.remote import RemoteRuntime

            settings = self._app.settings
            policy = remote_policy(self._app, self._run.allow_insecure_remote)
            broker = TokenBroker(
                self._app.oauth_credentials,
                default_factory(policy),
                skew=settings.oauth.refresh_skew,
            )
            self._remote = RemoteRuntime(
                policy, broker, request_timeout=settings.remote.request_timeout
            )
        return self._remote


def remote_policy(app: App, allow_insecure: bool = False) -> RemotePolicy:
    """The SSRF guard's policy: ``[remote]`` settings, lifted by ``--allow-insecure-remote``."""
    from mcpkit.transport.netguard import RemotePolicy

    settings = app.settings.remote
    return RemotePolicy(
        allow_insecure=allow_insecure or settings.allow_insecure,
        allow_networks=tuple(settings.allow_networks),
        connect_timeout=settings.connect_timeout,
    )


def _server_policy(base: ContainerPolicy, run: ServerRun) -> ContainerPolicy:
    return replace(
        base,
        limits=base.limits.merged(run.memory, run.cpus, run.pids),
        read_only=base.read_only if run.read_only is None else run.read_only,
        user=run.user or base.user,
    )


def run_options(app: App, **flags: Any) -> RunOptions:
    """Merge CLI flags (None = not given) over the ``[gateway]`` settings."""
    settings = app.settings.gateway
    merged: Mapping[str, Any] = {
        "allow_unsandboxed": settings.allow_unsandboxed,
        "sandbox": settings.sandbox,
        "block_secrets": settings.block_secrets,
        "log_calls": settings.log_calls,
        "lazy": settings.lazy,
        "idle_timeout": settings.idle_timeout,
        "hooks": list(settings.hooks),
        "runtime": settings.runtime,
        "tool_changes": app.settings.trust.tool_changes,
    }
    values = {**merged, **{k: v for k, v in flags.items() if v is not None}}
    if values.get("memory") is not None:
        parse_size(values["memory"])  # a bad --memory is a usage error, not a failed server
    return RunOptions(**values)
