"""Assemble a gateway for one profile: plans, runtimes, slots, cache and interceptors.

A server that cannot be planned (not in any catalog, a secret or config value missing,
no runtime for its source) still gets a slot, in state ``failed`` with the reason and the
fix, so it shows up in health and ``tools ls`` while every other server is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpkit.app import App
from mcpkit.errors import McpkitError, UnknownServerError
from mcpkit.gateway.calllog import CallLog
from mcpkit.gateway.core import Gateway, GatewayOptions
from mcpkit.gateway.hooks import ExternalHook, hooks_from_config
from mcpkit.gateway.interceptors import Interceptor, InterceptorChain
from mcpkit.gateway.leaks import LeakBlocker, LeakScanner
from mcpkit.gateway.lists import ListCache, cache_path, launch_key
from mcpkit.gateway.slot import ServerSlot, SlotOptions
from mcpkit.runtime.base import LaunchPlan, Progress, Runtime
from mcpkit.runtime.plan import build_plan
from mcpkit.runtime.process import ProcessRuntime


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
    runtimes = _runtimes(app, run)
    cache = ListCache(cache_path(app.locations.cache_dir, run.profile))
    slots: list[ServerSlot] = []
    plans: list[LaunchPlan] = []
    keys: dict[str, str] = {}
    for server in entries:
        spec = app.profiles.find_spec(server)
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
                plan = build_plan(
                    run.profile,
                    server,
                    spec,
                    lambda name: app.secrets.resolve(name, profile=run.profile),
                    allow_unsandboxed=run.allow_unsandboxed,
                )
            except McpkitError as exc:
                problem = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
            runtime = next((r for r in runtimes if r.supports(spec)), None)
            if runtime is None and problem is None:
                kind = spec.source.type
                problem = f"no runtime in this mcpkit can run {kind} servers like {server.id!r}"
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
    )
    chain = build_chain(app, run, plans)
    return Gateway(slots, options=options, chain=chain, list_cache=cache, launch_keys=keys)


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


def _runtimes(app: App, run: RunOptions) -> list[Runtime]:
    sandbox: Any = run.sandbox
    return [ProcessRuntime(app.locations, app.environ, sandbox=sandbox)]


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
    }
    values = {**merged, **{k: v for k, v in flags.items() if v is not None}}
    return RunOptions(**values)
