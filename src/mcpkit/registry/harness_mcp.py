"""The MCP side of ``registry test``: one connection, the tool list, the smoke calls.

The connection is the gateway's own :class:`~mcpkit.gateway.upstream.Upstream` (the same
handshake, both protocol eras), with a router that answers what a server may ask of a
client during a test: no roots, no sampling, no elicitation. Everything here is about
reading answers; deciding what they mean for the verdict is :mod:`.harness`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mcpkit.catalog.model import ServerSpec
from mcpkit.gateway.upstream import Route, Upstream, UpstreamError
from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message

#: At most this many ``tools/list`` pages are read: a server whose cursor never ends
#: must not keep the test going until the time limit.
MAX_PAGES = 100
#: How much of a tool's answer (or error) a check quotes.
QUOTE_LIMIT = 300


class TestRouter:
    """Answers a server's requests to the client during a test; remembers why it closed."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        self.closed: str | None = None
        self.notifications = 0

    def on_notification(self, upstream: Upstream, msg: Message) -> None:
        """Logging, progress, list_changed: counted, nothing else."""
        self.notifications += 1

    async def on_request(self, upstream: Upstream, msg: Message, route: Route | None) -> Message:
        """No roots to offer; sampling and elicitation are refused (no user is there)."""
        rid = msg.get("id")
        if msg.get("method") == "roots/list":
            return jsonrpc.result(rid, {"roots": []})
        return jsonrpc.error(
            rid,
            jsonrpc.METHOD_NOT_FOUND,
            f"{msg.get('method')} is not available during 'mcpkit registry test'",
        )

    def on_close(self, upstream: Upstream, reason: str) -> None:
        """The server's channel ended."""
        self.closed = reason


def server_info(init: Mapping[str, Any]) -> dict[str, Any]:
    """What a report keeps of the initialize result."""
    info: dict[str, Any] = {}
    for key in ("serverInfo", "protocolVersion", "capabilities"):
        if key in init:
            info[key] = init[key]
    return info


def refused(exc: UpstreamError) -> bool:
    """Whether an initialize failure is the server's own error answer (not a lost channel)."""
    return exc.message.startswith(("refused ", "answered initialize"))


async def list_tools(upstream: Upstream) -> list[dict[str, Any]]:
    """Every tool the server lists, following ``nextCursor``; raises UpstreamError."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params = {"cursor": cursor} if cursor else None
        response = await upstream.request("tools/list", params)
        result = _result(response, "tools/list")
        page = result.get("tools")
        if not isinstance(page, list):
            raise UpstreamError(jsonrpc.INTERNAL_ERROR, "tools/list answered with no tools list")
        tools.extend(t for t in page if isinstance(t, dict) and isinstance(t.get("name"), str))
        following = result.get("nextCursor")
        if not isinstance(following, str) or not following or following == cursor:
            return tools
        cursor = following
    raise UpstreamError(
        jsonrpc.INTERNAL_ERROR, f"tools/list went on for more than {MAX_PAGES} pages"
    )


async def call_tool(
    upstream: Upstream, name: str, arguments: Mapping[str, Any]
) -> tuple[bool, str]:
    """Call ``name``; (whether it succeeded, its text or error, shortened)."""
    response = await upstream.request("tools/call", {"name": name, "arguments": dict(arguments)})
    error = response.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        code = error.get("code") if isinstance(error, dict) else None
        return False, shorten(f"JSON-RPC error {code}: {message}")
    result = response.get("result")
    if not isinstance(result, dict):
        return False, "tools/call answered with no result"
    text = content_text(result)
    if result.get("isError") is True:
        return False, shorten(f"isError: {text}" if text else "isError: true (no text)")
    return True, shorten(text)


def content_text(result: Mapping[str, Any]) -> str:
    """The text parts of a tool result, joined; other parts named by their type."""
    parts: list[str] = []
    content = result.get("content")
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "text" and isinstance(item.get("text"), str):
            parts.append(item["text"])
        else:
            parts.append(f"<{item.get('type', 'content')}>")
    return " ".join(" ".join(parts).split())


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` on one line and at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(tool: Mapping[str, Any]) -> dict[str, Any]:
    """What a report keeps of a tool: name, description, annotations."""
    kept: dict[str, Any] = {"name": tool.get("name"), "description": tool.get("description", "")}
    if isinstance(tool.get("annotations"), dict):
        kept["annotations"] = tool["annotations"]
    return kept


def read_only(name: str, tools: Iterable[Mapping[str, Any]], spec: ServerSpec) -> bool:
    """Whether the server (``readOnlyHint: true``) or the submission says ``name`` only reads."""
    for tool in tools:
        if tool.get("name") == name:
            annotations = tool.get("annotations")
            if isinstance(annotations, dict) and annotations.get("readOnlyHint") is True:
                return True
    return any(meta.name == name and meta.read_only is True for meta in spec.tools)


def mismatch(listed: Iterable[Mapping[str, Any]], declared: Iterable[Mapping[str, Any]]) -> str:
    """How the listed tools differ from the declared ones ('' when they agree)."""
    have = {str(t.get("name")) for t in listed}
    want = {str(t.get("name")) for t in declared}
    parts: list[str] = []
    if have - want:
        parts.append("listed but not declared: " + ", ".join(sorted(have - want)))
    if want - have:
        parts.append("declared but not listed: " + ", ".join(sorted(want - have)))
    return "; ".join(parts)


def _result(response: Message, method: str) -> dict[str, Any]:
    error = response.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        code = error.get("code", jsonrpc.INTERNAL_ERROR) if isinstance(error, dict) else None
        raise UpstreamError(
            code if isinstance(code, int) else jsonrpc.INTERNAL_ERROR, f"{method}: {message}"
        )
    result = response.get("result")
    if not isinstance(result, dict):
        raise UpstreamError(jsonrpc.INTERNAL_ERROR, f"{method} answered with no result")
    return result
