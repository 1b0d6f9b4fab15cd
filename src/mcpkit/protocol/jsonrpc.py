"""JSON-RPC 2.0 framing for the hot path: parse once with orjson, touch only routing fields.

Messages are plain dicts. No model validation happens here: the gateway moves messages,
it does not re-check what servers and clients already agreed on.
"""

from __future__ import annotations

from typing import Any

import orjson

Message = dict[str, Any]
RequestId = int | str

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: The gateway's own codes (the implementation-defined server-error range).
SERVER_UNAVAILABLE = -32010
SERVER_CRASHED = -32011
CALL_BLOCKED = -32012
REQUEST_TIMEOUT = -32013
#: MCP's "resource not found".
RESOURCE_NOT_FOUND = -32002

dumps = orjson.dumps


class ParseError(ValueError):
    """Bytes that are not one JSON-RPC message (or a batch of them)."""


def loads(data: bytes | str) -> Any:
    """Parse JSON, raising :class:`ParseError` for anything that is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(str(exc)) from None


def request(id_: RequestId, method: str, params: Any = None) -> Message:
    """A request message."""
    msg: Message = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Any = None) -> Message:
    """A notification message."""
    msg: Message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def result(id_: RequestId | None, value: Any) -> Message:
    """A success response."""
    return {"jsonrpc": "2.0", "id": id_, "result": value}


def error(id_: RequestId | None, code: int, message: str, data: Any = None) -> Message:
    """An error response."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


def is_request(msg: Message) -> bool:
    """A message with a method and an id."""
    return "method" in msg and "id" in msg


def is_notification(msg: Message) -> bool:
    """A message with a method and no id."""
    return "method" in msg and "id" not in msg


def is_response(msg: Message) -> bool:
    """A result or an error for an earlier request."""
    return "method" not in msg and ("result" in msg or "error" in msg)


def check(msg: Any) -> str | None:  # noqa: PLR0911 - one return per rule reads best
    """Why ``msg`` is not a JSON-RPC message, or None when it is one."""
    if not isinstance(msg, dict):
        return "a JSON-RPC message must be a JSON object"
    if msg.get("jsonrpc") != "2.0":
        return 'a JSON-RPC message needs "jsonrpc": "2.0"'
    if "method" in msg:
        if not isinstance(msg["method"], str):
            return "method must be a string"
        if "id" in msg and not _is_id(msg["id"]):
            return "id must be a string or an integer"
        if "params" in msg and not isinstance(msg["params"], dict | list):
            return "params must be an object"
        return None
    if "result" in msg and "error" in msg:
        return "a response carries a result or an error, not both"
    if "result" in msg or "error" in msg:
        # null is the id of an answer to a message whose id could not be read.
        if "id" not in msg or not (msg["id"] is None or _is_id(msg["id"])):
            return "a response needs the id of its request (a string, an integer or null)"
        return None
    return "a message needs a method, a result or an error"


def _is_id(value: Any) -> bool:
    # bool is a subclass of int, but true/false are not JSON-RPC ids.
    return isinstance(value, int | str) and not isinstance(value, bool)
