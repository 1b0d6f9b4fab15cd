"""The gateway: a profile's server slots behind one aggregated MCP server.

It builds the name tables from the slots' lists, keeps client sessions, fans server
notifications out to them and routes server-to-client requests to the right client.
Client-facing protocol handling lives in :mod:`mcpkit.gateway.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpkit import __version__
from mcpkit.gateway.interceptors import InterceptorChain
from mcpkit.gateway.lists import ListCache
from mcpkit.gateway.naming import assign_names, collisions
from mcpkit.gateway.slot import ServerSlot
from mcpkit.gateway.upstream import Route, UpstreamError
from mcpkit.profiles.model import ToolFilter
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message

SERVER_INFO = {"name": "mcpkit-gateway", "title": "mcpkit gateway", "version": __version__}


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
        for slot in self.slots.values():
            if slot.lists is None:
                continue
            allowed = self.options.filters.get(slot.id)
            for tool in slot.lists.tools:
                name = tool.get("name")
                if isinstance(name, str) and (allowed is None or allowed.allows(name)):
                    tools.append((slot, tool))
            prompts.extend((slot, p) for p in slot.lists.prompts if isinstance(p.get("name"), str))
            for res in slot.lists.resources:
                uri = res.get("uri")
                if isinstance(uri, str) and uri not in resources:
                    resources[uri] = slot
                    resource_list.append(res)
            templates.extend((slot, t) for t in slot.lists.templates)
        self.tools = self._expose(tools, prefix=self.options.prefix_tools, only=self.options.tools)
        self.prompts = self._expose(prompts, prefix=False, only=())
        self.tool_list = [e.item for e in self.tools.values()]
        self.prompt_list = [e.item for e in self.prompts.values()]
        self.resources = resources
        self.resource_list = resource_list
        self.template_list = templates

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
