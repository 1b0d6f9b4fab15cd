"""The gateway: a profile's server slots behind one aggregated MCP server.

It builds the name tables from the slots' lists, keeps client sessions, fans server
notifications out to them and routes server-to-client requests to the right client.
Client-facing protocol handling lives in :mod:`mcpkit.gateway.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcpkit import __version__
from mcpkit.errors import McpkitError
from mcpkit.gateway.interceptors import InterceptorChain
from mcpkit.gateway.lists import ListCache
from mcpkit.gateway.naming import assign_names, collisions
from mcpkit.gateway.slot import ServerSlot
from mcpkit.gateway.upstream import Route, UpstreamError
from mcpkit.profiles.model import ToolFilter
from mcpkit.profiles.toolpins import Unapproved, compare_hashes, hash_tools
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message

SERVER_INFO = {"name": "mcpkit-gateway", "title": "mcpkit gateway", "version": __version__}
log = logging.getLogger("mcpkit.gateway")
#: What the gateway does with a tool whose definition is not the approved one.
ToolChangeMode = Literal["block", "warn"]
#: Records a server's first tool list as approved (trust on first use); raises McpkitError.
PinRecorder = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
#: How long closing the gateway waits for first-use pins still being written.
RECORD_WAIT = 5.0


@dataclass
class GatewayOptions:
    """Behaviour of one gateway run."""

    profile: str = "default"
    prefix_tools: bool = False
    #: Start servers only when first needed (else all start at once, in parallel).
    lazy: bool = False
    #: Stop a shared instance idle this long (seconds); 0 keeps them running.
    idle_timeout: float = 0.0
    #: How long a list request waits for servers still starting before answering.
    list_wait: float = 30.0
    #: Tool glob patterns (exposed or original names) to serve; empty = all.
    tools: Sequence[str] = ()
    filters: dict[str, ToolFilter] = field(default_factory=dict)
    #: Approved tool hashes: server -> tool name -> ``sha256:…``. A server with pins gets
    #: its changed and unpinned tools blocked (or warned about); one without is trusted
    #: on first use.
    tool_pins: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Server -> what to do with an unapproved tool (absent: ``block``).
    tool_changes: dict[str, ToolChangeMode] = field(default_factory=dict)
    #: Called with a server's first fresh tool list when it has no pins at all.
    on_unpinned: PinRecorder | None = None


@dataclass(frozen=True, slots=True)
class BlockedTool:
    """A tool held back because its definition is not the approved one."""

    slot: ServerSlot
    original: str
    #: ``changed`` (differs from its pin) or ``new`` (no pin).
    reason: Unapproved

    def message(self, profile: str) -> str:
        """What a client calling it is told."""
        what = (
            "its definition changed since it was approved"
            if self.reason == "changed"
            else "it was added after the server's tools were approved"
        )
        return (
            f"tool {self.original!r} of server {self.slot.id!r} is blocked: {what}. "
            f"Review it with '{review_command(profile, self.slot.id)}', then approve it with "
            f"'{approve_command(profile, self.slot.id)}'"
        )


def review_command(profile: str, server: str) -> str:
    """The command that shows what changed in a server's tools."""
    return f"mcpkit profile diff {profile} --server {server}"


def approve_command(profile: str, server: str) -> str:
    """The command that re-approves a server's tools."""
    return f"mcpkit profile lock {profile} --server {server} --update"


@dataclass(frozen=True, slots=True)
class Exposed:
    """One tool or prompt as clients see it."""

    slot: ServerSlot
    original: str
    item: dict[str, Any]


class Gateway:
    """Aggregates the slots of one profile; shared by every client session."""

    def __init__(
        self,
        slots: Sequence[ServerSlot],
        *,
        options: GatewayOptions | None = None,
        chain: InterceptorChain | None = None,
        list_cache: ListCache | None = None,
        launch_keys: dict[str, str] | None = None,
    ) -> None:
        self.options = options or GatewayOptions()
        self.slots = {slot.id: slot for slot in slots}
        for slot in slots:
            slot.events = self
        self.chain = chain
        self.list_cache = list_cache
        self.launch_keys = launch_keys or {}
        self.sessions: dict[str, Any] = {}
        self.tools: dict[str, Exposed] = {}
        self.prompts: dict[str, Exposed] = {}
        self.resources: dict[str, ServerSlot] = {}
        self.tool_list: list[dict[str, Any]] = []
        #: Exposed name -> tool held back by its pin (block mode); see :class:`BlockedTool`.
        self.blocked: dict[str, BlockedTool] = {}
        #: The pins in force: the options' plus those recorded on first use in this run.
        self.tool_pins = {sid: dict(p) for sid, p in self.options.tool_pins.items() if p}
        #: Per server: the tool list last checked (by identity) and its unapproved tools.
        self._pin_checks: dict[str, tuple[list[dict[str, Any]], dict[str, Unapproved]]] = {}
        #: (server, tool) -> the definition hash last warned about, to log each change once.
        self._warned: dict[tuple[str, str], str] = {}
        self._recording: set[asyncio.Task[None]] = set()
        self.prompt_list: list[dict[str, Any]] = []
        self.resource_list: list[dict[str, Any]] = []
        self.template_list: list[tuple[ServerSlot, dict[str, Any]]] = []
        #: resource URI -> subscriber keys; key -> how to deliver an update.
        self.subscriptions: dict[str, set[str]] = {}
        self.subscribers: dict[str, Any] = {}
        #: Stateless ``subscriptions/listen`` streams, and calls waiting for a client's input.
        self.listeners: set[Any] = set()
        self.pending_inputs: dict[str, Any] = {}
        self.started = time.monotonic()
        #: Set (and replaced) whenever a slot's lists change, for waits on one name.
        self._changed = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_active: Any = None
        self._rebuild()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start every server in the background (unless lazy) and the idle reaper."""
        if not self.options.lazy:
            for slot in self.slots.values():
                slot.start_background()
        if self.options.idle_timeout > 0:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def aclose(self) -> None:
        """Stop every server; bounded."""
        if self._recording:
            # First-use pins are the approval of record: let them land before exiting.
            await asyncio.wait(self._recording, timeout=RECORD_WAIT)
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for task in list(self._tasks):
            task.cancel()
        for pending in self.pending_inputs.values():
            pending.task.cancel()
        await asyncio.gather(*(s.stop() for s in self.slots.values()), return_exceptions=True)
        runtimes = {id(s.runtime): s.runtime for s in self.slots.values() if s.runtime}
        for runtime in runtimes.values():
            closer = getattr(runtime, "aclose", None)
            if closer is not None:
                await closer()
        if self.chain is not None:
            await self.chain.aclose()

    async def wait_lists(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Wait until every slot has lists (fresh, cached or failed), at most ``timeout``."""
        await self.wait_until(lambda: False, timeout)

    async def wait_until(self, found: Callable[[], bool], timeout: float | None = None) -> None:  # noqa: ASYNC109 - a bound, not a deadline
        """Wait until ``found()`` holds or every slot has lists, at most ``timeout``.

        A call naming a tool that is not known yet waits for it to appear, not for every
        server: a hung remote must not hold up a call to a local server.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self.options.list_wait)
        while not found():
            pending = [s for s in self.slots.values() if not s.lists_ready.is_set()]
            if not pending:
                return
            if self.options.lazy:
                for slot in pending:
                    slot.start_background()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            waits = [asyncio.ensure_future(self._changed.wait())]
            waits += [asyncio.ensure_future(s.lists_ready.wait()) for s in pending]
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()

    async def _reap(self) -> None:
        idle = self.options.idle_timeout
        while True:
            await asyncio.sleep(max(1.0, idle / 4))
            for slot in self.slots.values():
                await slot.reap(idle)

    # -- sessions ------------------------------------------------------------------

    def attach(self, session: Any) -> None:
        """Register a client session (it receives broadcasts)."""
        self.sessions[session.id] = session
        self._last_active = session

    async def detach(self, session: Any) -> None:
        """Forget a client session and stop its per-session instances."""
        self.sessions.pop(session.id, None)
        for uri in [u for u, keys in self.subscriptions.items() if session.id in keys]:
            await self.unsubscribe(uri, session.id)
        self.subscribers.pop(session.id, None)
        if self._last_active is session:
            self._last_active = next(reversed(self.sessions.values()), None)
        for slot in self.slots.values():
            if slot.per_session:
                await slot.release(session.id)

    def spawn(self, coro: Any) -> None:
        """Run a background task the gateway owns (cancelled at close)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def touch(self, session: Any) -> None:
        """The session just sent something: it is the one to ask when no request is linked."""
        self._last_active = session

    # -- SlotEvents ----------------------------------------------------------------

    def lists_changed(self, slot: ServerSlot) -> None:
        before = (self.tool_list, self.prompt_list, self.resource_list, self.template_list)
        self._rebuild()
        self._changed.set()
        self._changed = asyncio.Event()
        if slot.lists is not None and not slot.lists_from_cache and self.list_cache is not None:
            key = self.launch_keys.get(slot.id)
            if key:
                self.list_cache.put(slot.id, key, slot.lists)
        if before[0] != self.tool_list:
            self.broadcast(jsonrpc.notification("notifications/tools/list_changed"))
        if before[1] != self.prompt_list:
            self.broadcast(jsonrpc.notification("notifications/prompts/list_changed"))
        if before[2] != self.resource_list or before[3] != self.template_list:
            self.broadcast(jsonrpc.notification("notifications/resources/list_changed"))

    def notify(self, slot: ServerSlot, msg: Message, session_key: str | None) -> None:
        method = msg.get("method")
        if method == "notifications/resources/updated":
            uri = (msg.get("params") or {}).get("uri")
            for key in self.subscriptions.get(uri, ()) if isinstance(uri, str) else ():
                deliver = self.subscribers.get(key)
                if deliver is not None:
                    deliver(msg)
            return
        if method == "notifications/message":
            params = msg.get("params")
            if isinstance(params, dict):
                msg = jsonrpc.notification(
                    method, {**params, "logger": params.get("logger") or slot.id}
                )
        if session_key is not None:
            session = self.sessions.get(session_key)
            if session is not None:
                session.send(msg, None)
            return
        self.broadcast(msg)

    async def server_request(
        self, slot: ServerSlot, msg: Message, route: Route | None, session_key: str | None
    ) -> Message:
        session = route.session if route is not None else None
        if session is None and session_key is not None:
            session = self.sessions.get(session_key)
        if session is None:
            session = self._last_active if self._last_active in self.sessions.values() else None
        if session is None:
            raise UpstreamError(
                jsonrpc.METHOD_NOT_FOUND, f"no client is connected to answer {msg.get('method')}"
            )
        related = route.client_id if route is not None else None
        response: Message = await session.ask(msg.get("method"), msg.get("params"), related)
        return response

    def broadcast(self, msg: Message) -> None:
        """Send a notification to every session and every listen stream."""
        for session in list(self.sessions.values()):
            session.send(msg, None)
        for listener in list(self.listeners):
            listener.deliver(msg)

    async def subscribe(self, uri: str, key: str, deliver: Any) -> Message | None:
        """Subscribe ``key`` to a resource's updates; the first subscriber subscribes upstream.

        Returns the server's error response when it refused, else None.
        """
        slot = self.resource_slot(uri)
        if slot is None:
            return jsonrpc.error(
                None, jsonrpc.RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri}
            )
        subscribers = self.subscriptions.setdefault(uri, set())
        first = not subscribers
        subscribers.add(key)
        self.subscribers[key] = deliver
        if first:
            try:
                upstream = await slot.connect(None)
                response = await upstream.request("resources/subscribe", {"uri": uri})
            except UpstreamError as exc:
                response = jsonrpc.error(None, exc.code, exc.message)
            if "error" in response:
                subscribers.discard(key)
                return response
        return None

    async def unsubscribe(self, uri: str, key: str) -> None:
        """Drop one subscriber; the last one unsubscribes upstream."""
        subscribers = self.subscriptions.get(uri)
        if subscribers is None or key not in subscribers:
            return
        subscribers.discard(key)
        if subscribers:
            return
        self.subscriptions.pop(uri, None)
        slot = self.resource_slot(uri)
        if slot is not None and slot.state == "running":
            with contextlib.suppress(UpstreamError):
                upstream = await slot.connect(None)
                await upstream.request("resources/unsubscribe", {"uri": uri})

    # -- name tables ---------------------------------------------------------------

    def _rebuild(self) -> None:
        tools: list[tuple[ServerSlot, dict[str, Any]]] = []
        prompts: list[tuple[ServerSlot, dict[str, Any]]] = []
        resources: dict[str, ServerSlot] = {}
        resource_list: list[dict[str, Any]] = []
        templates: list[tuple[ServerSlot, dict[str, Any]]] = []
        held: dict[tuple[str, str], Unapproved] = {}
        for slot in self.slots.values():
            if slot.lists is None:
                continue
            allowed = self.options.filters.get(slot.id)
            unapproved = self._check_pins(slot, slot.lists.tools)
            blocking = bool(unapproved) and self.options.tool_changes.get(slot.id) != "warn"
            for tool in slot.lists.tools:
                name = tool.get("name")
                if isinstance(name, str) and (allowed is None or allowed.allows(name)):
                    tools.append((slot, tool))
                    if blocking and name in unapproved:
                        held[(slot.id, name)] = unapproved[name]
            prompts.extend((slot, p) for p in slot.lists.prompts if isinstance(p.get("name"), str))
            for res in slot.lists.resources:
                uri = res.get("uri")
                if isinstance(uri, str) and uri not in resources:
                    resources[uri] = slot
                    resource_list.append(res)
            templates.extend((slot, t) for t in slot.lists.templates)
        # Blocked tools keep their place in the naming, so blocking one never renames another.
        exposed = self._expose(tools, prefix=self.options.prefix_tools, only=self.options.tools)
        self.blocked = {}
        if held:
            for name, item in list(exposed.items()):
                reason = held.get((item.slot.id, item.original))
                if reason is not None:
                    self.blocked[name] = BlockedTool(item.slot, item.original, reason)
                    del exposed[name]
        self.tools = exposed
        self.prompts = self._expose(prompts, prefix=False, only=())
        self.tool_list = [e.item for e in self.tools.values()]
        self.prompt_list = [e.item for e in self.prompts.values()]
        self.resources = resources
        self.resource_list = resource_list
        self.template_list = templates

    def _check_pins(self, slot: ServerSlot, tools: list[dict[str, Any]]) -> dict[str, Unapproved]:
        """The server's tools that are not approved; hashed only when its list changed."""
        checked = self._pin_checks.get(slot.id)
        if checked is not None and checked[0] is tools:
            return checked[1]
        pins = self.tool_pins.get(slot.id)
        unapproved: dict[str, Unapproved] = {}
        recorder = self.options.on_unpinned
        if pins:
            current = hash_tools(tools)
            unapproved = compare_hashes(pins, current).unapproved()
            allowed = self.options.filters.get(slot.id)
            for name, reason in unapproved.items():
                if (allowed is None or allowed.allows(name)) and self._warned.get(
                    (slot.id, name)
                ) != current[name]:
                    self._warned[(slot.id, name)] = current[name]
                    self._warn_unapproved(slot.id, name, reason)
        elif tools and not slot.lists_from_cache and recorder is not None:
            # Trust on first use: what the server first presents becomes what is approved,
            # here at once and in the profile once recorded.
            self.tool_pins[slot.id] = hash_tools(tools)
            self._record(recorder, slot.id, list(tools))
        self._pin_checks[slot.id] = (tools, unapproved)
        return unapproved

    def _warn_unapproved(self, server: str, name: str, reason: Unapproved) -> None:
        profile = self.options.profile
        blocking = self.options.tool_changes.get(server, "block") == "block"
        what = "changed since it was approved" if reason == "changed" else "is new (not approved)"
        log.warning(
            "%s: tool %r %s; %s. Review: %s; approve: %s",
            server,
            name,
            what,
            "blocked" if blocking else "served anyway (tool_changes = warn)",
            review_command(profile, server),
            approve_command(profile, server),
        )

    def _record(self, recorder: PinRecorder, server: str, tools: list[dict[str, Any]]) -> None:
        async def record() -> None:
            try:
                await recorder(server, tools)
            except McpkitError as exc:
                log.warning(
                    "%s: could not record its tools as approved (trust on first use): %s",
                    server,
                    exc.message,
                )
            else:
                log.info("%s: %d tools approved on first use", server, len(tools))

        task = asyncio.get_running_loop().create_task(record())
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    @staticmethod
    def _expose(
        items: list[tuple[ServerSlot, dict[str, Any]]], *, prefix: bool, only: Sequence[str]
    ) -> dict[str, Exposed]:
        names = assign_names([(slot.id, item["name"]) for slot, item in items], prefix_all=prefix)
        exposed: dict[str, Exposed] = {}
        for slot, item in items:
            name = names[(slot.id, item["name"])]
            if only and not any(
                fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(item["name"], p) for p in only
            ):
                continue
            shown = item if name == item["name"] else {**item, "name": name}
            exposed[name] = Exposed(slot, item["name"], shown)
        return exposed

    def collisions(self) -> dict[str, list[str]]:
        """Tool names more than one server gives."""
        return collisions(
            (slot.id, tool["name"])
            for slot in self.slots.values()
            if slot.lists is not None
            for tool in slot.lists.tools
            if isinstance(tool.get("name"), str)
        )

    def resource_slot(self, uri: str) -> ServerSlot | None:
        """The server that owns a resource URI (listed, or matching a template)."""
        slot = self.resources.get(uri)
        if slot is not None:
            return slot
        for candidate, template in self.template_list:
            pattern = template.get("uriTemplate")
            if isinstance(pattern, str) and _template_matches(pattern, uri):
                return candidate
        return None

    def health(self) -> dict[str, Any]:
        """Each server's state, for ``/health``."""
        servers = {sid: slot.health() for sid, slot in self.slots.items()}
        for sid, (_tools, unapproved) in self._pin_checks.items():
            allowed = self.options.filters.get(sid)
            shown = {n: r for n, r in unapproved.items() if allowed is None or allowed.allows(n)}
            if shown and sid in servers:
                warn = self.options.tool_changes.get(sid) == "warn"
                servers[sid]["unapproved_tools" if warn else "blocked_tools"] = shown
        ok = all(s["state"] in ("running", "idle", "starting") for s in servers.values())
        return {
            "status": "ok" if ok else "degraded",
            "profile": self.options.profile,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "sessions": len(self.sessions),
            "tools": len(self.tools),
            "servers": servers,
        }


def _template_matches(template: str, uri: str) -> bool:
    """Whether ``uri`` fits an RFC 6570 template, with every expression as a wildcard."""
    parts = re.split(r"\{[^}]*\}", template)
    pattern = ".*".join(re.escape(p) for p in parts)
    return re.fullmatch(pattern, uri) is not None
