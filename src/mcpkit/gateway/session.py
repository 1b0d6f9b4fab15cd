"""One client session: the MCP server side of the gateway, as one client sees it.

Transports create a session per client connection (handshake era) or per request
(stateless era), pass every message the client sends to :meth:`ClientSession.handle`,
and deliver what the session sends through their :class:`Outbound`.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mcpkit.gateway.core import (
    SERVER_INFO,
    BlockedTool,
    Exposed,
    Gateway,
    approve_command,
    review_command,
)
from mcpkit.gateway.interceptors import CallBlocked, CallContext, blocked_result
from mcpkit.gateway.slot import ServerSlot
from mcpkit.gateway.upstream import CANCELLED, Route, Upstream, UpstreamError
from mcpkit.protocol import envelope as env
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message, RequestId
from mcpkit.protocol.versions import STATELESS_VERSIONS, negotiate

GATEWAY_CAPABILITIES: dict[str, Any] = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "logging": {},
    "completions": {},
}
#: Which client capability a server-to-client request needs.
NEEDS_CAPABILITY = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}
_ids = itertools.count(1)
#: Methods whose stateless-era result may be ``input_required``.
INPUT_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})
#: Results that carry cache hints at 2026-07-28.
CACHEABLE = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list", "server/discover"}
)
#: Rounds of ``input_required`` the gateway answers for a handshake client, as the SDK does.
MAX_INPUT_ROUNDS = 10
#: How long a stateless client has to answer an ``input_required`` result.
INPUT_TTL = 600.0
#: ``error.data.code`` of a call to a tool held back by its pin.
TOOL_CHANGED = "tool-changed"


class PendingCall:
    """A stateless-era call waiting for the client's answers to a server's requests.

    A handshake-era server asks its client mid-call (sampling, elicitation, roots); a
    stateless client can only be asked by an ``input_required`` result. The call keeps
    running in the gateway; the client's retry, carrying ``requestState``, delivers the
    answers and picks the call up where it waits.
    """

    def __init__(self, task: asyncio.Task[Message | None]) -> None:
        self.task = task
        self.inputs: dict[str, tuple[str, Any, asyncio.Future[Message]]] = {}
        self.sent: set[str] = set()
        self.expires = time.monotonic() + INPUT_TTL
        self._wake: asyncio.Future[None] | None = None
        self._keys = itertools.count(1)
        task.add_done_callback(lambda _t: self.wake())

    def add(self, method: str, params: Any) -> asyncio.Future[Message]:
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.inputs[f"input-{next(self._keys)}"] = (method, params, future)
        self.wake()
        return future

    def wake(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def unsent(self) -> dict[str, dict[str, Any]]:
        return {
            key: {"method": method, "params": params}
            for key, (method, params, future) in self.inputs.items()
            if key not in self.sent and not future.done()
        }

    async def wait(self) -> None:
        while not self.task.done() and not self.unsent():
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake


class Outbound(Protocol):
    """Where a session's messages to its client go.

    ``related`` is the id of the client request a message belongs to (progress, a
    sampling request made during a tool call, the response itself), or None for
    messages that belong to no request (list changes, logging).
    """

    def send(self, msg: Message, related: RequestId | None) -> None:
        """Queue one message for the client; never blocks."""
        ...


class Listener:
    """One ``subscriptions/listen`` stream of a stateless client."""

    def __init__(
        self,
        session: ClientSession,
        rid: RequestId,
        wanted: dict[str, Any],
        done: asyncio.Future[None],
    ) -> None:
        self.session = session
        self.rid = rid
        self.wanted = wanted
        self.done = done
        self.key = f"listen:{session.id}:{rid}"

    def deliver(self, msg: Message) -> None:
        """Send a change notification if this stream asked for it."""
        method = msg.get("method")
        flag = LISTEN_FLAGS.get(method) if isinstance(method, str) else None
        if flag is not None and not self.wanted.get(flag):
            return
        raw = msg.get("params")
        params = dict(raw) if isinstance(raw, dict) else {}
        params["_meta"] = {env.SUBSCRIPTION_KEY: self.rid}
        self.session.outbound.send(jsonrpc.notification(str(method), params), self.rid)


LISTEN_FLAGS = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}


class _Forwarded(Exception):  # noqa: N818 - carries a server's JSON-RPC error through the chain
    def __init__(self, response: Message) -> None:
        super().__init__("forwarded error")
        self.response = response


class ClientSession:
    """The gateway as one client sees it."""

    def __init__(
        self, gateway: Gateway, outbound: Outbound, *, session_id: str | None = None
    ) -> None:
        self.gateway = gateway
        self.outbound = outbound
        self.id = session_id or f"s{next(_ids)}"
        self.protocol_version: str | None = None
        self.client_capabilities: dict[str, Any] = {}
        self.client_info: dict[str, Any] = {}
        self.initialized = False
        self.stateless = False
        self.log_level: Any = None
        self._inputs: dict[RequestId, PendingCall] = {}
        self._inflight: dict[RequestId, tuple[Upstream, Route]] = {}
        self._asks: dict[str, asyncio.Future[Message]] = {}
        self._ask_ids = itertools.count(1)
        self._handlers: dict[
            str, Callable[[RequestId, dict[str, Any]], Awaitable[Message | None]]
        ] = {
            "initialize": self._initialize,
            "ping": self._ping,
            "server/discover": self._discover,
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
            "prompts/list": self._prompts_list,
            "prompts/get": self._prompts_get,
            "resources/list": self._resources_list,
            "resources/templates/list": self._templates_list,
            "resources/read": self._resources_read,
            "resources/subscribe": self._subscribe,
            "resources/unsubscribe": self._unsubscribe,
            "completion/complete": self._complete,
            "logging/setLevel": self._set_level,
            "subscriptions/listen": self._no_listen,
        }
        gateway.attach(self)

    # -- entry points --------------------------------------------------------------

    def send(self, msg: Message, related: RequestId | None) -> None:
        """Deliver a message to this session's client.

        A stateless client gets log messages only when its request asked for them, and
        list changes only on its ``subscriptions/listen`` streams.
        """
        if self.stateless and related is None:
            method = msg.get("method")
            if method == "notifications/message":
                if not self.log_level:
                    return
            elif method != "notifications/progress":
                return
        self.outbound.send(msg, related)

    async def handle(self, msg: Message) -> Message | None:
        """Handle one message from the client; returns the response to a request, else None."""
        method = msg.get("method")
        if method is None:
            self._answer(msg)
            return None
        if "id" not in msg:
            self._notification(method, msg.get("params") or {})
            return None
        rid = msg["id"]
        handler = self._handlers.get(method)
        if handler is None:
            return jsonrpc.error(rid, jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method}")
        params = msg.get("params")
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            return jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, "params must be an object")
        meta = env.envelope(params)
        if meta is not None:
            return await self._stateless(msg, rid, method, params, meta, handler)
        self.gateway.touch(self)
        return await self._run(handler, rid, params)

    async def _run(
        self,
        handler: Callable[[RequestId, dict[str, Any]], Awaitable[Message | None]],
        rid: RequestId,
        params: dict[str, Any],
    ) -> Message | None:
        try:
            return await handler(rid, params)
        except UpstreamError as exc:
            return jsonrpc.error(rid, exc.code, exc.message)

    # -- the stateless era ---------------------------------------------------------

    async def _stateless(
        self,
        msg: Message,
        rid: RequestId,
        method: str,
        params: dict[str, Any],
        meta: dict[str, Any],
        handler: Callable[[RequestId, dict[str, Any]], Awaitable[Message | None]],
    ) -> Message | None:
        problem = env.check_envelope(msg, meta)
        if problem is not None:
            return problem
        if method in env.HANDSHAKE_ONLY:
            return jsonrpc.error(
                rid,
                jsonrpc.METHOD_NOT_FOUND,
                f"Method not found: {method} (not in {meta[env.VERSION_KEY]})",
            )
        self.stateless = True
        self.protocol_version = meta[env.VERSION_KEY]
        self.client_capabilities = meta[env.CAPABILITIES_KEY]
        self.log_level = meta.get(env.LOG_LEVEL_KEY)
        info = meta.get(env.CLIENT_INFO_KEY)
        if isinstance(info, dict):
            self.client_info = info
        forwarded = env.strip(params, meta)
        response: Message | None
        if method == "subscriptions/listen":
            response = await self._listen(rid, forwarded)
        elif method in INPUT_METHODS:
            response = await self._with_input(rid, forwarded, handler)
        else:
            response = await self._run(handler, rid, forwarded)
        if response is not None and isinstance(response.get("result"), dict):
            result = response["result"]
            result.setdefault("resultType", "complete")
            if method in CACHEABLE:
                result.setdefault("ttlMs", 0)
                result.setdefault("cacheScope", "private")
        return response

    async def _with_input(
        self,
        rid: RequestId,
        params: dict[str, Any],
        handler: Callable[[RequestId, dict[str, Any]], Awaitable[Message | None]],
    ) -> Message | None:
        state = params.get("requestState")
        pending: PendingCall | None
        if isinstance(state, str) and state.startswith("mcpkit:"):
            pending = self.gateway.pending_inputs.pop(state, None)
            if pending is None or pending.expires < time.monotonic():
                return jsonrpc.error(
                    rid,
                    jsonrpc.INVALID_PARAMS,
                    "requestState is unknown or expired; call again from the start",
                )
            answers = params.get("inputResponses")
            for key, value in answers.items() if isinstance(answers, dict) else ():
                entry = pending.inputs.get(key)
                if entry is not None and not entry[2].done():
                    entry[2].set_result(jsonrpc.result(None, value))
        else:
            task = asyncio.get_running_loop().create_task(self._run(handler, rid, params))
            pending = PendingCall(task)
            # Keyed by the first request's id, which the server's asks are routed by; gone
            # when the call ends, whichever later request (or session) saw it end.
            self._inputs[rid] = pending
            task.add_done_callback(lambda _t: self._inputs.pop(rid, None))
        await pending.wait()
        if pending.task.done():
            response = pending.task.result()
            if response is not None:
                response["id"] = rid
            return response
        requests = pending.unsent()
        pending.sent.update(requests)
        pending.expires = time.monotonic() + INPUT_TTL
        token = f"mcpkit:{secrets.token_urlsafe(18)}"
        self.gateway.pending_inputs[token] = pending
        result = {"resultType": "input_required", "inputRequests": requests, "requestState": token}
        return jsonrpc.result(rid, result)

    async def _listen(self, rid: RequestId, params: dict[str, Any]) -> Message:
        raw = params.get("notifications")
        wanted: dict[str, Any] = raw if isinstance(raw, dict) else {}
        honoured: dict[str, Any] = {}
        for flag in ("toolsListChanged", "promptsListChanged", "resourcesListChanged"):
            if wanted.get(flag) is True:
                honoured[flag] = True
        uris = wanted.get("resourceSubscriptions")
        if isinstance(uris, list) and uris:
            honoured["resourceSubscriptions"] = [u for u in uris if isinstance(u, str)]
        tag = {env.SUBSCRIPTION_KEY: rid}
        self.send(
            jsonrpc.notification(
                "notifications/subscriptions/acknowledged",
                {"_meta": tag, "notifications": honoured},
            ),
            rid,
        )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        listener = Listener(self, rid, honoured, done)
        self.gateway.listeners.add(listener)
        for uri in honoured.get("resourceSubscriptions", []):
            await self.gateway.subscribe(uri, listener.key, listener.deliver)
        try:
            await done
        finally:
            self.gateway.listeners.discard(listener)
            for uri in honoured.get("resourceSubscriptions", []):
                await self.gateway.unsubscribe(uri, listener.key)
        return jsonrpc.result(rid, {"_meta": tag, "resultType": "complete"})

    async def ask(self, method: Any, params: Any, related: RequestId | None) -> Message:
        """Send a server-to-client request to this client and wait for its response."""
        needed = NEEDS_CAPABILITY.get(method) if isinstance(method, str) else None
        if needed is not None and needed not in self.client_capabilities:
            return jsonrpc.error(
                None, jsonrpc.METHOD_NOT_FOUND, f"the client does not support {needed} ({method})"
            )
        pending = self._inputs.get(related) if related is not None else None
        if pending is not None:
            return await pending.add(method, params)
        if self.stateless:
            return jsonrpc.error(
                None,
                jsonrpc.METHOD_NOT_FOUND,
                f"a stateless client cannot be asked {method} outside a call",
            )
        gid = f"mcpkit-{next(self._ask_ids)}"
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._asks[gid] = future
        try:
            self.send(jsonrpc.request(gid, method, params), related)
            return await future
        finally:
            self._asks.pop(gid, None)

    async def close(self) -> None:
        """The client went away: cancel what it had in flight and release its instances."""
        for listener in [item for item in self.gateway.listeners if item.session is self]:
            if not listener.done.done():
                listener.done.set_result(None)
        for upstream, route in list(self._inflight.values()):
            upstream.cancel(route.rid, "the client disconnected")
        for future in self._asks.values():
            if not future.done():
                future.set_result(
                    jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, "the client disconnected")
                )
        await self.gateway.detach(self)

    async def close_when_idle(self) -> None:
        """Close now, or once the calls still waiting for the client's input have ended."""
        waiting = [p.task for p in self._inputs.values() if not p.task.done()]
        if not waiting:
            await self.close()
            return

        async def later() -> None:
            await asyncio.gather(*waiting, return_exceptions=True)
            await self.close()

        self.gateway.spawn(later())

    def _answer(self, msg: Message) -> None:
        future = self._asks.get(msg.get("id"))  # type: ignore[arg-type]
        if future is not None and not future.done():
            future.set_result(msg)

    def _notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "notifications/initialized":
            self.initialized = True
        elif method == "notifications/cancelled":
            listener = next(
                (
                    item
                    for item in self.gateway.listeners
                    if item.session is self and item.rid == params.get("requestId")
                ),
                None,
            )
            if listener is not None and not listener.done.done():
                listener.done.set_result(None)
            entry = self._inflight.get(params.get("requestId"))  # type: ignore[arg-type]
            if entry is not None:
                upstream, route = entry
                upstream.cancel(route.rid, str(params.get("reason") or "cancelled by the client"))
        elif method == "notifications/roots/list_changed":
            for slot in self.gateway.slots.values():
                self._spawn_notify(slot, "notifications/roots/list_changed")

    def _spawn_notify(self, slot: ServerSlot, method: str) -> None:
        async def send() -> None:
            try:
                upstream = await slot.connect(self.id) if slot.state == "running" else None
                if upstream is not None:
                    await upstream.notify(method)
            except UpstreamError:
                return

        asyncio.get_running_loop().create_task(send())

    # -- forwarding ----------------------------------------------------------------

    async def forward(
        self, rid: RequestId, slot: ServerSlot, method: str, params: dict[str, Any]
    ) -> Message | None:
        """Send a request to a server for this client; the response carries the client's id."""
        upstream = await slot.connect(self.id)
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        route = Route(self, rid, token)
        self._inflight[rid] = (upstream, route)
        try:
            response = await upstream.request(method, params, route)
        finally:
            self._inflight.pop(rid, None)
        if response is CANCELLED:
            return None
        if upstream.stateless and not self.stateless:
            driven = await self._drive_input(upstream, route, method, params, response)
            if driven is None:
                return None
            response = driven
        response["id"] = rid
        return response

    async def _drive_input(
        self,
        upstream: Upstream,
        route: Route,
        method: str,
        params: dict[str, Any],
        response: Message,
    ) -> Message | None:
        """Answer a stateless server's ``input_required`` by asking this (handshake) client."""
        for _ in range(MAX_INPUT_ROUNDS):
            result = response.get("result")
            if not isinstance(result, dict) or result.get("resultType") != "input_required":
                return response
            requests = result.get("inputRequests")
            answers: dict[str, Any] = {}
            for key, item in requests.items() if isinstance(requests, dict) else ():
                if not isinstance(item, dict):
                    continue
                reply = await self.ask(item.get("method"), item.get("params"), route.client_id)
                if "error" in reply:
                    return jsonrpc.error(
                        None, jsonrpc.INTERNAL_ERROR, f"the client refused {item.get('method')}"
                    )
                answers[key] = reply.get("result")
            retry = {**params, "inputResponses": answers}
            if "requestState" in result:
                retry["requestState"] = result["requestState"]
            response = await upstream.request(method, retry, route)
            if response is CANCELLED:
                return None
        return jsonrpc.error(
            None,
            jsonrpc.INTERNAL_ERROR,
            f"the server asked for input more than {MAX_INPUT_ROUNDS} times",
        )

    # -- lifecycle methods ---------------------------------------------------------

    async def _initialize(self, rid: RequestId, params: dict[str, Any]) -> Message:
        caps = params.get("capabilities")
        self.client_capabilities = caps if isinstance(caps, dict) else {}
        info = params.get("clientInfo")
        self.client_info = info if isinstance(info, dict) else {}
        self.protocol_version = negotiate(params.get("protocolVersion"))
        result: dict[str, Any] = {
            "protocolVersion": self.protocol_version,
            "capabilities": GATEWAY_CAPABILITIES,
            "serverInfo": SERVER_INFO,
        }
        instructions = self._instructions()
        if instructions:
            result["instructions"] = instructions
        return jsonrpc.result(rid, result)

    async def _discover(self, rid: RequestId, params: dict[str, Any]) -> Message:
        result: dict[str, Any] = {
            "supportedVersions": list(STATELESS_VERSIONS),
            "capabilities": GATEWAY_CAPABILITIES,
            "serverInfo": SERVER_INFO,
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {env.SERVER_INFO_KEY: SERVER_INFO},
        }
        instructions = self._instructions()
        if instructions:
            result["instructions"] = instructions
        return jsonrpc.result(rid, result)

    def _instructions(self) -> str:
        parts = [
            f"{slot.id}: {slot.instructions}"
            for slot in self.gateway.slots.values()
            if slot.instructions
        ]
        return "\n\n".join(parts)

    async def _no_listen(self, rid: RequestId, params: dict[str, Any]) -> Message:
        return jsonrpc.error(
            rid,
            jsonrpc.METHOD_NOT_FOUND,
            "subscriptions/listen belongs to the stateless era (2026-07-28)",
        )

    async def _ping(self, rid: RequestId, params: dict[str, Any]) -> Message:
        return jsonrpc.result(rid, {})

    # -- tools ---------------------------------------------------------------------

    async def _tools_list(self, rid: RequestId, params: dict[str, Any]) -> Message:
        await self.gateway.wait_lists()
        return jsonrpc.result(rid, {"tools": self.gateway.tool_list})

    async def _tools_call(self, rid: RequestId, params: dict[str, Any]) -> Message | None:
        name = params.get("name")
        gateway = self.gateway
        exposed = gateway.tools.get(name) if isinstance(name, str) else None
        if exposed is None and isinstance(name, str):
            await gateway.wait_until(lambda: name in gateway.tools or name in gateway.blocked)
            exposed = gateway.tools.get(name)
        if (
            exposed is not None
            and exposed.slot.lists_from_cache
            and exposed.slot.id in (gateway.tool_pins)
        ):
            # Listed from the disk cache: the server's own tools are checked against the
            # pins (on start) before a call reaches it.
            await exposed.slot.connect(self.id)
            exposed = gateway.tools.get(str(name))
        if exposed is None:
            blocked = gateway.blocked.get(name) if isinstance(name, str) else None
            if blocked is not None:
                return self._blocked_tool(rid, blocked)
            return jsonrpc.error(
                rid, jsonrpc.INVALID_PARAMS, f"Unknown tool: {name!r} (see tools/list)"
            )
        forwarded = {**params, "name": exposed.original}
        chain = self.gateway.chain
        if chain is None or chain.empty:
            return await self.forward(rid, exposed.slot, "tools/call", forwarded)
        return await self._intercepted(rid, exposed, forwarded, chain)

    def _blocked_tool(self, rid: RequestId, blocked: BlockedTool) -> Message:
        profile = self.gateway.options.profile
        server = blocked.slot.id
        return jsonrpc.error(
            rid,
            jsonrpc.CALL_BLOCKED,
            blocked.message(profile),
            {
                "code": TOOL_CHANGED,
                "server": server,
                "tool": blocked.original,
                "reason": blocked.reason,
                "review": review_command(profile, server),
                "approve": approve_command(profile, server),
            },
        )

    async def _intercepted(
        self, rid: RequestId, exposed: Exposed, params: dict[str, Any], chain: Any
    ) -> Message | None:
        ctx = CallContext(
            profile=self.gateway.options.profile,
            server=exposed.slot.id,
            tool=exposed.item["name"],
            original_tool=exposed.original,
            session=self.id,
        )
        cancelled = False

        async def send(arguments: dict[str, Any]) -> dict[str, Any]:
            nonlocal cancelled
            response = await self.forward(
                rid, exposed.slot, "tools/call", {**params, "arguments": arguments}
            )
            if response is None:
                cancelled = True
                return {"content": [], "isError": True}
            if "error" in response:
                raise _Forwarded(response)
            result = response.get("result")
            return result if isinstance(result, dict) else {"content": []}

        arguments = params.get("arguments")
        try:
            result = await chain.call(ctx, arguments if isinstance(arguments, dict) else {}, send)
        except CallBlocked as blocked:
            return jsonrpc.result(rid, blocked_result(blocked))
        except _Forwarded as forwarded:
            return forwarded.response
        if cancelled:
            return None
        return jsonrpc.result(rid, result)

    # -- prompts -------------------------------------------------------------------

    async def _prompts_list(self, rid: RequestId, params: dict[str, Any]) -> Message:
        await self.gateway.wait_lists()
        return jsonrpc.result(rid, {"prompts": self.gateway.prompt_list})

    async def _prompts_get(self, rid: RequestId, params: dict[str, Any]) -> Message | None:
        name = params.get("name")
        exposed = self.gateway.prompts.get(name) if isinstance(name, str) else None
        if exposed is None:
            return jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, f"Unknown prompt: {name!r}")
        return await self.forward(
            rid, exposed.slot, "prompts/get", {**params, "name": exposed.original}
        )

    # -- resources -----------------------------------------------------------------

    async def _resources_list(self, rid: RequestId, params: dict[str, Any]) -> Message:
        await self.gateway.wait_lists()
        return jsonrpc.result(rid, {"resources": self.gateway.resource_list})

    async def _templates_list(self, rid: RequestId, params: dict[str, Any]) -> Message:
        await self.gateway.wait_lists()
        templates = [t for _, t in self.gateway.template_list]
        return jsonrpc.result(rid, {"resourceTemplates": templates})

    def _resource_slot(self, params: dict[str, Any]) -> tuple[str, ServerSlot] | None:
        uri = params.get("uri")
        if not isinstance(uri, str):
            return None
        slot = self.gateway.resource_slot(uri)
        return (uri, slot) if slot is not None else None

    async def _resources_read(self, rid: RequestId, params: dict[str, Any]) -> Message | None:
        found = self._resource_slot(params)
        if found is None:
            await self.gateway.wait_until(lambda: self._resource_slot(params) is not None)
            found = self._resource_slot(params)
        if found is None:
            return jsonrpc.error(
                rid, jsonrpc.RESOURCE_NOT_FOUND, "Resource not found", {"uri": params.get("uri")}
            )
        return await self.forward(rid, found[1], "resources/read", params)

    async def _subscribe(self, rid: RequestId, params: dict[str, Any]) -> Message:
        uri = params.get("uri")
        if not isinstance(uri, str):
            return jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, "resources/subscribe needs a uri")
        refused = await self.gateway.subscribe(uri, self.id, lambda msg: self.send(msg, None))
        if refused is not None:
            refused["id"] = rid
            return refused
        return jsonrpc.result(rid, {})

    async def _unsubscribe(self, rid: RequestId, params: dict[str, Any]) -> Message:
        uri = params.get("uri")
        if isinstance(uri, str):
            await self.gateway.unsubscribe(uri, self.id)
        return jsonrpc.result(rid, {})

    # -- completion and logging ----------------------------------------------------

    async def _complete(self, rid: RequestId, params: dict[str, Any]) -> Message | None:
        ref = params.get("ref")
        empty = jsonrpc.result(rid, {"completion": {"values": [], "hasMore": False}})
        if not isinstance(ref, dict):
            return jsonrpc.error(rid, jsonrpc.INVALID_PARAMS, "completion/complete needs a ref")
        if ref.get("type") == "ref/prompt":
            exposed = self.gateway.prompts.get(ref.get("name"))  # type: ignore[arg-type]
            if exposed is None:
                return empty
            forwarded = {**params, "ref": {**ref, "name": exposed.original}}
            return await self.forward(rid, exposed.slot, "completion/complete", forwarded)
        found = self._resource_slot({"uri": ref.get("uri")})
        if found is None:
            return empty
        return await self.forward(rid, found[1], "completion/complete", params)

    async def _set_level(self, rid: RequestId, params: dict[str, Any]) -> Message:
        for slot in self.gateway.slots.values():
            if slot.state != "running":
                continue
            try:
                upstream = await slot.connect(self.id)
                if "logging" in upstream.capabilities:
                    await upstream.request("logging/setLevel", params)
            except UpstreamError:
                continue
        return jsonrpc.result(rid, {})
