"""The steps of ``registry test`` after lint, for one submission in one workspace.

:class:`Steps` runs fetch and build, then start, initialize, tools, the smoke calls
and stdout within the time limit, and the cleanup whatever happened; each writes its
check to the :class:`~mcpkit.registry.harness_run.Recorder`. What the verdict rules
are is described in :mod:`mcpkit.registry.harness`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, NoReturn, TypeVar

from mcpkit.app import App
from mcpkit.catalog.model import ImageSource, PackageSource, RemoteSource, ServerSpec
from mcpkit.errors import McpkitError
from mcpkit.gateway.upstream import Upstream, UpstreamError
from mcpkit.protocol import jsonrpc
from mcpkit.registry import harness_mcp as mcp
from mcpkit.registry.harness_env import Workspace, engine_problem
from mcpkit.registry.harness_run import Recorder, Stop, error_text
from mcpkit.registry.report import Check, CheckStatus
from mcpkit.registry.submission import Submission
from mcpkit.runtime.base import Instance, LaunchPlan
from mcpkit.runtime.engine import Engine

T = TypeVar("T")

#: How long the cleanup may take when the test was cancelled.
CLEANUP_TIMEOUT = 60.0
_SIGN_IN = "the server needs sign-in (HTTP 401)"


class Steps:
    """The steps after lint, for one submission, in one workspace."""

    def __init__(
        self,
        app: App,
        sub: Submission,
        spec: ServerSpec,
        run: Recorder,
        engine: Engine,
        *,
        base: str | None,
        limit: float,
    ) -> None:
        self.sub = sub
        self.spec = spec
        self.rec = run
        self.base = base
        self.limit = limit
        #: Let a remote submission use http:// or a private address.
        self.allow_insecure_remote = False
        #: ``host`` lets a Dockerfile's steps download (the server still runs with none).
        self.build_network = "none"
        self.remote = isinstance(spec.source, RemoteSource)
        self.ws = Workspace(app, sub, engine, progress=run.say)
        self.deadline = 0.0
        self.upstream: Upstream | None = None
        self.router = mcp.TestRouter()

    async def run(self) -> None:
        """Every step, then the cleanup, whatever happened."""
        try:
            plan = await self.build()
            await self.serve(plan)
        except Stop as stop:
            self.rec.skip_rest(self.sub, str(stop), cleanup=False)
        finally:
            await shielded(self.cleanup())

    # --- fetch and build ------------------------------------------------------------

    async def build(self) -> LaunchPlan:
        """Fetch (git) and build, or find the image; the launch plan to run."""
        run, ws, spec = self.rec, self.ws, self.spec
        context = None
        if self.sub.git is not None:
            with run.step("fetch") as check:
                try:
                    folder, check.detail = await ws.fetch()
                    context = await ws.dockerfile_context(folder)
                except McpkitError as exc:
                    self.fail(check, "test.fetch-failed", error_text(exc))
        with run.step("build") as check:
            if self.remote:
                check.status, check.detail = "skip", "a remote server: nothing to build"
                return self.plan(check, spec)
            await ws.engine.version()  # no engine: the tester's problem, raised
            built = isinstance(spec.source, PackageSource) or self.sub.git is not None
            if built:
                image = ws.tag
            elif isinstance(spec.source, ImageSource):
                image = spec.source.image
            else:
                self.fail(
                    check, "test.build-failed", f"a {spec.source.type} source cannot be tested"
                )
            plan = self.plan(check, ws.run_spec(spec, image))
            try:
                if built:
                    record = await ws.build(self.base, context, network=self.build_network)
                    check.detail = f"built {record.image} ({record.image_id[:19]})"
                    if record.version:
                        check.detail += f" from {record.package or spec.id} {record.version}"
                else:
                    image_id = await ws.image_id(image)
                    check.detail = f"uses the image {image} as it is ({image_id[:19]})"
            except McpkitError as exc:
                if engine_problem(exc):
                    raise
                self.fail(check, "test.build-failed", error_text(exc))
        return plan

    def plan(self, check: Check, spec: ServerSpec) -> LaunchPlan:
        """The launch plan; a test plan that does not fit the server fails ``check``."""
        try:
            server = self.ws.add_to_profile(self.spec)
            return self.ws.plan(server, spec)
        except McpkitError as exc:
            self.fail(check, "test.plan-invalid", error_text(exc))

    # --- the server checks -----------------------------------------------------------

    async def serve(self, plan: LaunchPlan) -> None:
        """Start, initialize, list, call and read stdout, within the time limit."""
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self.limit
        instance = await self.start(plan)
        if not await self.initialize(instance):
            self.declared_stand()
        tools = await self.list_tools()
        for call in self.sub.test.calls:
            await self.call(call.tool, call.arguments, tools)
        self.stdout(instance)

    async def start(self, plan: LaunchPlan) -> Instance:
        """The container (or remote connection), started within the time limit."""
        with self.rec.step("start") as check:
            try:
                if self.remote:
                    coro = self.ws.start_remote(plan, allow_insecure=self.allow_insecure_remote)
                else:
                    coro = self.ws.start_container(plan)
                instance = await self.bounded(coro, check, "starting the server")
            except McpkitError as exc:
                if engine_problem(exc):
                    raise
                self.fail(check, "test.start-failed", error_text(exc))
            if self.remote:
                check.detail = "connected through the remote runtime"
            else:
                check.detail = f"container {getattr(instance, 'name', '?')} (no network)"
                if self.spec.network.mode != "none":
                    check.warnings.append(
                        f"the spec allows network ({self.spec.network.mode}), but 'registry "
                        "test' runs every server with none: tools that need it may fail"
                    )
        return instance

    async def initialize(self, instance: Instance) -> bool:
        """Initialize; False when a remote server needs sign-in and its declared tools stand."""
        run = self.rec
        with run.step("initialize") as check:
            self.upstream = Upstream(instance.channel, self.router, name=self.sub.name)
            try:
                init = await self.upstream.initialize(max(self.left(), 0.01))
            except UpstreamError as exc:
                if exc.code == jsonrpc.REQUEST_TIMEOUT:
                    self.fail(
                        check,
                        "test.initialize-timeout",
                        f"no answer to initialize within the {self.limit:g} s limit",
                    )
                if self.remote and self.ws.watch.saw_401:
                    self.signed_out(check)
                    return False
                if mcp.refused(exc) or self.remote:
                    self.fail(check, "test.initialize-failed", mcp.shorten(exc.message))
                await self.crashed(check, "before it answered initialize")
            run.server_info = mcp.server_info(init)
            info = init.get("serverInfo")
            name = info.get("name") if isinstance(info, dict) else None
            version = info.get("version") if isinstance(info, dict) else None
            check.detail = f"{name or '?'} {version or ''} (protocol {init.get('protocolVersion')})"
        return True

    def signed_out(self, check: Check) -> None:
        """A remote server answered 401: it needs a sign-in the test cannot do.

        Accepted only when the submission declares its tools (``test.tools: declared``).
        """
        if self.sub.test.tools == "declared" and self.sub.tools:
            check.status, check.detail = "skip", f"{_SIGN_IN}; the declared tools stand"
            return
        self.fail(
            check,
            "test.initialize-failed",
            f"{_SIGN_IN}; a server that needs credentials to list its tools declares them "
            "(tools.json, and test.tools: declared)",
        )

    def declared_stand(self) -> NoReturn:
        """Record the declared tools as the tool list, and skip what needs a session."""
        declared = self.sub.tools or []
        self.rec.add(Check("tools", "pass", 0.0, f"declared: {len(declared)} tool(s) ({_SIGN_IN})"))
        self.rec.tools = [mcp.summary(t) for t in declared]
        raise Stop(f"not run: {_SIGN_IN}")

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every listed tool (or the declared ones, when the submission says so)."""
        run, upstream, declared = self.rec, self.upstream, self.sub.tools
        assert upstream is not None  # noqa: S101 - initialize() set it
        with run.step("tools") as check:
            problem = ""
            listed: list[dict[str, Any]] = []
            try:
                listed = await self.bounded(mcp.list_tools(upstream), check, "listing tools")
            except UpstreamError as exc:
                if upstream.closed:
                    await self.crashed(check, "while listing its tools")
                problem = mcp.shorten(exc.message)
            except Stop:
                if self.sub.test.tools != "declared" or not declared:
                    raise
                check.status, check.rule, problem = "pass", None, "tools/list timed out"
            if not listed and self.sub.test.tools == "declared" and declared:
                check.status = "pass"
                why = problem or "the server listed none"
                check.detail = f"declared: {len(declared)} tool(s) ({why})"
                run.tools = [mcp.summary(t) for t in declared]
                return declared
            if problem:
                self.fail(check, "test.tools-failed", problem)
            if not listed:
                self.fail(check, "test.no-tools", "the server lists no tools")
            run.tools = [mcp.summary(t) for t in listed]
            check.detail = f"{len(listed)} tool(s): " + mcp.shorten(
                ", ".join(str(t["name"]) for t in listed), 200
            )
            difference = mcp.mismatch(listed, declared) if declared is not None else ""
            if difference:
                check.warnings.append(f"test.tools-mismatch: {difference}")
            return listed

    async def call(self, tool: str, arguments: dict[str, Any], tools: list[dict[str, Any]]) -> None:
        """One smoke call: an error or ``isError`` fails it; an unmarked tool is a warning."""
        upstream = self.upstream
        assert upstream is not None  # noqa: S101 - initialize() set it
        with self.rec.step(f"call:{tool}") as check:
            if not mcp.read_only(tool, tools, self.spec):
                check.warnings.append(
                    f"{tool} is not marked read-only (no readOnlyHint: true, and the submission "
                    "does not declare it read-only): smoke calls should only read"
                )
            if all(t.get("name") != tool for t in tools):
                check.status, check.rule = "fail", "test.call-failed"
                check.detail = f"the server has no tool {tool!r}"
                return
            try:
                ok, text = await self.bounded(
                    mcp.call_tool(upstream, tool, arguments), check, f"calling {tool}"
                )
            except UpstreamError as exc:
                ok, text = False, mcp.shorten(exc.message)
            if upstream.closed and not ok:
                await self.crashed(check, f"while answering {tool}")
            check.detail = text
            if not ok:
                check.status, check.rule = "fail", "test.call-failed"

    def stdout(self, instance: Instance) -> None:
        """Anything but JSON-RPC on stdout rejects."""
        with self.rec.step("stdout") as check:
            if self.remote:
                check.status, check.detail = "skip", "a remote server has no stdout"
                return
            garbage: list[str] = list(getattr(instance.channel, "garbage", []))
            bad = len(garbage) + (self.upstream.garbage if self.upstream else 0)
            if not bad:
                check.detail = "only JSON-RPC"
                return
            first = garbage[0] if garbage else "(a line that looked like JSON but was not)"
            check.status, check.rule = "fail", "test.garbage-stdout"
            check.detail = (
                f"{bad} non-JSON-RPC line(s) on stdout (logs belong on stderr); the first: "
                f"{mcp.shorten(first, 200)!r}"
            )

    # --- helpers ----------------------------------------------------------------------

    def left(self) -> float:
        """Seconds left of the time limit."""
        return self.deadline - asyncio.get_running_loop().time()

    async def bounded(self, step: Awaitable[T], check: Check, what: str) -> T:
        """Await ``step`` within the time left; a timeout fails ``check`` (test.timeout)."""
        try:
            async with asyncio.timeout(max(self.left(), 0.0)):
                return await step
        except TimeoutError:
            self.fail(check, "test.timeout", f"the {self.limit:g} s limit ran out {what}")

    async def crashed(self, check: Check, when: str) -> NoReturn:
        """The server's channel ended: fail ``check`` with its exit code and stderr."""
        if self.remote:
            why = self.router.closed or "it closed"
            self.fail(check, "test.crash", f"the connection ended {when}: {why}")
        code, tail = await self.ws.exit_status()
        detail = f"the server exited{f' with code {code}' if code is not None else ''} {when}"
        if tail:
            detail += "; stderr: " + mcp.shorten(" / ".join(tail[-5:]), 400)
        self.fail(check, "test.crash", detail)

    def fail(self, check: Check, rule: str, detail: str) -> NoReturn:
        """Fail ``check`` and stop the server checks (the rest are skipped)."""
        check.status, check.rule, check.detail = "fail", rule, detail
        raise Stop(f"not run: {check.name} failed")

    async def cleanup(self) -> None:
        """Remove everything the test made; a failure is a failed (non-verdict) check."""
        started = time.monotonic()
        if self.upstream is not None:
            await self.upstream.aclose("the test is over")
        problems = await self.ws.cleanup()
        status: CheckStatus = "fail" if problems else "pass"
        check = Check("cleanup", status, time.monotonic() - started)
        check.detail = "; ".join(problems) or "container, image and temporary home removed"
        check.rule = "test.cleanup-failed" if problems else None
        self.rec.add(check)


async def shielded(cleanup: Awaitable[None]) -> None:
    """Run ``cleanup`` to its end even when the caller is cancelled (bounded), then re-raise."""
    task = asyncio.ensure_future(cleanup)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task}, timeout=CLEANUP_TIMEOUT)
        raise
