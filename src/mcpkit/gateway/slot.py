"""One server of the served profile: its instances, its lists, its health.

A slot owns the running instance of a server (one shared instance, or one per client
session when the spec asks for it), starts it on demand or eagerly, restarts it with
backoff when it crashes, reaps it when idle, and keeps the server's lists fresh. Failure
stays inside the slot: callers get an :class:`UpstreamError`, health says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mcpkit.errors import McpkitError
from mcpkit.gateway.lists import CAPABILITY_OF, LIST_METHODS, MAX_PAGES, ServerLists
from mcpkit.gateway.upstream import Route, Upstream, UpstreamError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message
from mcpkit.runtime.base import Instance, LaunchPlan, Progress, Runtime

log = logging.getLogger("mcpkit.gateway")
SlotState = Literal["idle", "starting", "running", "crashed", "failed", "stopped"]
#: How long stopping a slot waits for its cancelled background work to clean up.
STOP_WAIT = 5.0
#: The error code of a remote server whose OAuth credential must be renewed by the user.
NEEDS_AUTHORIZATION = "needs-authorization"
LIST_CHANGED = {
    "notifications/tools/list_changed": ("tools",),
    "notifications/prompts/list_changed": ("prompts",),
    "notifications/resources/list_changed": ("resources", "templates"),
}


@dataclass
class SlotOptions:
    """How slots start, wait and restart."""

    init_timeout: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: Restart a crashed shared instance in the background (else on the next call).
    restart: bool = True


class SlotEvents(Protocol):
    """What a slot tells the gateway."""

    def lists_changed(self, slot: ServerSlot) -> None:
        """The slot's lists (or its state) changed."""
        ...

    def notify(self, slot: ServerSlot, msg: Message, session_key: str | None) -> None:
        """A server notification for clients (logging, resource updates…)."""
        ...

    async def server_request(
        self, slot: ServerSlot, msg: Message, route: Route | None, session_key: str | None
    ) -> Message:
        """A server-to-client request to forward; returns the response."""
        ...


@dataclass
class Connection:
    """A started instance and its initialized JSON-RPC connection."""

    instance: Instance
    upstream: Upstream
    session_key: str | None
    last_used: float = field(default_factory=time.monotonic)


class _Router:
    """Routes one connection's server messages back to the slot."""

    def __init__(self, slot: ServerSlot, session_key: str | None) -> None:
        self.slot = slot
        self.session_key = session_key

    def on_notification(self, upstream: Upstream, msg: Message) -> None:
        self.slot.on_notification(upstream, msg, self.session_key)

    async def on_request(self, upstream: Upstream, msg: Message, route: Route | None) -> Message:
        return await self.slot.events.server_request(self.slot, msg, route, self.session_key)

    def on_close(self, upstream: Upstream, reason: str) -> None:
        self.slot.on_close(upstream, reason, self.session_key)


class ServerSlot:
    """One server of the profile, as the gateway sees it."""

    def __init__(
        self,
        server_id: str,
        *,
        plan: LaunchPlan | None,
        runtime: Runtime | None,
        events: SlotEvents | None = None,
        options: SlotOptions | None = None,
        problem: str | None = None,
        cached: ServerLists | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.id = server_id
        self.plan = plan
        self.runtime = runtime
        #: Set by the gateway that owns the slot.
        self.events: SlotEvents = events if events is not None else _NoEvents()
        self.options = options or SlotOptions()
        self.progress = progress
        self.per_session = bool(plan and plan.spec.per_session)
        self.state: SlotState = "failed" if problem else "idle"
        self.error: str | None = problem
        self.permanent = problem is not None
        self.lists: ServerLists | None = cached
        self.lists_from_cache = cached is not None
        self.server_info: dict[str, Any] = {}
        #: What the user must run before this server can start (``mcpkit oauth authorize …``).
        self.action: str | None = None
        self.instructions: str | None = None
        self.started_at: float | None = None
        self.restarts = 0
        self._failures = 0
        self._retry_at = 0.0
        self._shared: Connection | None = None
        self._per_session: dict[str, Connection] = {}
        self._starting: dict[str | None, asyncio.Task[Connection]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._discovery: asyncio.Task[None] | None = None
        self._launched: set[Instance] = set()
        self.lists_ready = asyncio.Event()
        if cached is not None or problem:
            self.lists_ready.set()

    # -- starting ------------------------------------------------------------------

    async def connect(self, session_key: str | None = None) -> Upstream:
        """A live connection for a request of ``session_key``'s session; starts one if needed."""
        key = session_key if self.per_session else None
        conn = self._per_session.get(key) if key is not None else self._shared
        if conn is not None and not conn.upstream.closed:
            conn.last_used = time.monotonic()
            return conn.upstream
        if self.permanent:
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, self._unavailable())
        if self._failures and time.monotonic() < self._retry_at and key not in self._starting:
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, self._unavailable())
        task = self._starting.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._start(key))
            self._starting[key] = task
            task.add_done_callback(lambda _t: self._starting.pop(key, None))
        conn = await asyncio.shield(task)
        conn.last_used = time.monotonic()
        return conn.upstream

    def start_background(self) -> None:
        """Start the shared instance without waiting (eager start, restarts).

        A per-session server has no shared instance; until its lists are known, one
        instance is started just to learn them, since clients can only call a tool they
        have seen in a list.
        """
        if self.permanent or self._stopping or None in self._starting:
            return
        if self.per_session:
            if self.lists is None and self._discovery is None:
                self._discovery = self._spawn(self._discover())
            return
        if self._shared is not None and not self._shared.upstream.closed:
            return
        self._spawn(self._quiet_connect())

    async def _discover(self) -> None:
        try:
            try:
                conn = await self._launch(None)
            except UpstreamError as exc:
                self._failed(exc.message, None)
                return
            try:
                await self.refresh(conn.upstream)
            finally:
                await _close(conn)
        finally:
            self._discovery = None

    async def _quiet_connect(self) -> None:
        with contextlib.suppress(UpstreamError):
            await self.connect(None)

    async def _start(self, key: str | None) -> Connection:
        if key is None:
            self.state = "starting"
        try:
            conn = await self._launch(key)
        except UpstreamError as exc:
            self._failed(exc.message, key)
            raise
        self._failures = 0
        log.info("%s: started (%s)", self.id, conn.instance.health().sandbox)
        if key is None:
            self._shared = conn
            self.state = "running"
            self.error = None
            self.started_at = time.monotonic()
        else:
            self._per_session[key] = conn
            self.state = "running"
        if self.lists is None or self.lists_from_cache:
            await self.refresh(conn.upstream)
        return conn

    async def _launch(self, key: str | None) -> Connection:
        if self.plan is None or self.runtime is None:
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, self._unavailable())
        try:
            await self.runtime.prepare(self.plan, self.progress)
            instance = await self.runtime.start(self.plan)
        except McpkitError as exc:
            text = exc.message + (f" ({exc.hint})" if exc.hint else "")
            # The user has to act (sign in again): health says so, with the command.
            self.action = exc.hint if exc.code == NEEDS_AUTHORIZATION else None
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, text) from None
        self.action = None
        # Until it is handed over as a Connection, stop() finds it here: a start cancelled
        # mid-way (the gateway closing) must not leave the process running.
        self._launched.add(instance)
        upstream = Upstream(instance.channel, _Router(self, key), name=self.id)
        try:
            init = await upstream.initialize(self.options.init_timeout)
        except UpstreamError as exc:
            await upstream.aclose(exc.message)
            await instance.stop(timeout=2.0)
            self._launched.discard(instance)
            tail = " | ".join(instance.stderr_tail(5))
            health = instance.health()
            detail = exc.message
            if health.returncode is not None:
                detail += f"; it exited with status {health.returncode}"
            if health.reason:
                detail += f": {health.reason}"
            if tail:
                detail += f"; its last output: {tail}"
            raise UpstreamError(jsonrpc.SERVER_UNAVAILABLE, detail) from None
        info = init.get("serverInfo")
        self.server_info = info if isinstance(info, dict) else {}
        instructions = init.get("instructions")
        self.instructions = instructions if isinstance(instructions, str) else None
        self._launched.discard(instance)
        return Connection(instance, upstream, key)

    def _failed(self, reason: str, key: str | None, *, logged: bool = False) -> None:
        if not logged:
            log.warning("%s: %s", self.id, reason)
        self._failures += 1
        delay = min(
            self.options.backoff_max, self.options.backoff_initial * 2 ** (self._failures - 1)
        )
        self._retry_at = time.monotonic() + delay
        if key is None:
            self.state = "failed"
            self.error = reason
        self.lists_ready.set()
        self.events.lists_changed(self)

    def _unavailable(self) -> str:
        return f"server {self.id!r} is unavailable: {self.error or 'it failed to start'}"

    # -- lists ---------------------------------------------------------------------

    async def refresh(
        self, upstream: Upstream, kinds: tuple[str, ...] = tuple(LIST_METHODS)
    ) -> None:
        """Fetch the server's lists (those its capabilities announce) and publish them."""
        caps = upstream.capabilities
        results = await asyncio.gather(
            *(
                self._fetch(upstream, kind) if CAPABILITY_OF[kind] in caps else _empty()
                for kind in kinds
            )
        )
        # Copied after the fetch: a refresh of some kinds that overlaps a full one must
        # keep the other kinds the full one published meanwhile.
        lists = ServerLists() if self.lists is None else ServerLists(**self.lists.to_data())
        for kind, items in zip(kinds, results, strict=True):
            setattr(lists, kind, items)
        self.lists = lists
        self.lists_from_cache = False
        self.lists_ready.set()
        self.events.lists_changed(self)

    async def _fetch(self, upstream: Upstream, kind: str) -> list[dict[str, Any]]:
        method, key = LIST_METHODS[kind]
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                response = await upstream.request(method, {"cursor": cursor} if cursor else {})
            except UpstreamError:
                return items
            result = response.get("result")
            if not isinstance(result, dict):
                return items
            page = result.get(key)
            if isinstance(page, list):
                items.extend(i for i in page if isinstance(i, dict))
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        return items

    # -- server messages -----------------------------------------------------------

    def on_notification(self, upstream: Upstream, msg: Message, key: str | None) -> None:
        method = msg.get("method")
        if method == "notifications/progress":
            params = msg.get("params") or {}
            route = upstream.route_of(params.get("progressToken"))
            if route is not None and route.progress_token is not None:
                out = {**params, "progressToken": route.progress_token}
                route.session.send(
                    jsonrpc.notification("notifications/progress", out), route.client_id
                )
            return
        kinds = LIST_CHANGED.get(method) if isinstance(method, str) else None
        if kinds is not None:
            self._spawn(self.refresh(upstream, kinds))
            return
        self.events.notify(self, msg, key)

    def on_close(self, upstream: Upstream, reason: str, key: str | None) -> None:
        if key is not None:
            conn = self._per_session.pop(key, None)
            if conn is not None:
                self._spawn(conn.instance.stop(timeout=2.0))
            return
        conn = self._shared
        if conn is None or conn.upstream is not upstream:
            return
        self._shared = None
        if self._stopping:
            self._spawn(conn.instance.stop(timeout=2.0))
            return
        self.restarts += 1
        # Logged once, with the exit status and last output, when the process is reaped.
        self._failed(f"it exited ({reason})", None, logged=True)
        self.state = "crashed"
        self._spawn(self._after_crash(conn, reason))

    async def _after_crash(self, conn: Connection, reason: str) -> None:
        # The output closes before the process is reaped: its status and last words are
        # known only once it has been waited for (bounded by stop's own timeout).
        await conn.instance.stop(timeout=2.0)
        health = conn.instance.health()
        status = f" with status {health.returncode}" if health.returncode is not None else ""
        tail = " | ".join(conn.instance.stderr_tail(3))
        error = f"it exited{status} ({reason})"
        if health.reason:
            error += f": {health.reason}"
        if tail:
            error += f"; its last output: {tail}"
        log.warning("%s: %s", self.id, error)
        if self.state == "crashed":
            self.error = error
        if self.options.restart:
            await self._restart_later()

    async def _restart_later(self) -> None:
        # A loop's timer may fire a little before time.monotonic() reaches the deadline
        # (uvloop rounds to milliseconds); connect() would then refuse the restart as too
        # early and nothing would try again until a client called.
        while (delay := self._retry_at - time.monotonic()) > 0:  # noqa: ASYNC110 - a deadline, not an event
            await asyncio.sleep(delay)
        self.start_background()

    # -- lifecycle -----------------------------------------------------------------

    async def release(self, session_key: str) -> None:
        """The client session ended: stop its own instance, if it had one."""
        conn = self._per_session.pop(session_key, None)
        if conn is not None:
            await _close(conn)

    async def reap(self, idle: float) -> bool:
        """Stop the shared instance if it has been idle for ``idle`` seconds."""
        conn = self._shared
        if conn is None or conn.upstream.inflight or time.monotonic() - conn.last_used < idle:
            return False
        self._shared = None
        self.state = "idle"
        await _close(conn)
        return True

    async def stop(self) -> None:
        """Stop every instance; bounded, and safe to call twice."""
        self._stopping = True
        tasks = list(self._tasks) + list(self._starting.values())
        for task in tasks:
            task.cancel()
        if tasks:
            # Let a start that was cancelled stop the process it had launched.
            await asyncio.wait(tasks, timeout=STOP_WAIT)
        conns = [c for c in [self._shared, *self._per_session.values()] if c is not None]
        self._shared = None
        self._per_session.clear()
        launched, self._launched = list(self._launched), set()
        await asyncio.gather(
            *(_close(c) for c in conns),
            *(i.stop(timeout=2.0) for i in launched),
            return_exceptions=True,
        )
        if not self.permanent:
            self.state = "stopped"

    def health(self) -> dict[str, Any]:
        """The slot's state for ``/health`` and ``tools ls``."""
        conn = self._shared
        data: dict[str, Any] = {"state": self.state, "restarts": self.restarts}
        if self.error and self.state != "running":
            data["error"] = self.error
        if self.action and self.state != "running":
            data["needs"] = "authorization"
            data["fix"] = self.action
        if conn is not None:
            h = conn.instance.health()
            data.update(pid=h.pid, sandbox=h.sandbox)
        if self.per_session:
            data["sessions"] = len(self._per_session)
        if self.lists is not None:
            data["tools"] = len(self.lists.tools)
        return data

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


class _NoEvents:
    """Events of a slot no gateway owns yet: dropped."""

    def lists_changed(self, slot: ServerSlot) -> None:
        return None

    def notify(self, slot: ServerSlot, msg: Message, session_key: str | None) -> None:
        return None

    async def server_request(
        self, slot: ServerSlot, msg: Message, route: Route | None, session_key: str | None
    ) -> Message:
        raise UpstreamError(jsonrpc.METHOD_NOT_FOUND, "no client is connected")


async def _close(conn: Connection) -> None:
    await conn.upstream.aclose("the server was stopped")
    await conn.instance.stop(timeout=3.0)


async def _empty() -> list[dict[str, Any]]:
    return []
