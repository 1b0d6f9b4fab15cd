"""The stateless era's request envelope (``params._meta``) and its checks.

At ``2026-07-28`` there is no ``initialize``: every request carries the protocol version and
the client's capabilities in ``params._meta`` under ``io.modelcontextprotocol/`` keys, and
over HTTP repeats the version, method and name in routing headers.
"""

from __future__ import annotations

import base64
from typing import Any

from mcpkit.protocol import jsonrpc
from mcpkit.protocol.jsonrpc import Message
from mcpkit.protocol.versions import HANDSHAKE_VERSIONS, STATELESS_VERSIONS

PREFIX = "io.modelcontextprotocol/"
VERSION_KEY = PREFIX + "protocolVersion"
CAPABILITIES_KEY = PREFIX + "clientCapabilities"
CLIENT_INFO_KEY = PREFIX + "clientInfo"
LOG_LEVEL_KEY = PREFIX + "logLevel"
SERVER_INFO_KEY = PREFIX + "serverInfo"
SUBSCRIPTION_KEY = PREFIX + "subscriptionId"

HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021
UNSUPPORTED_VERSION = -32022
#: Methods a stateless client may not call (they belong to the handshake era).
#: Methods whose ``Mcp-Name`` header repeats a body parameter, and that parameter.
NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
HANDSHAKE_ONLY = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)


def envelope(params: Any) -> dict[str, Any] | None:
    """The request's envelope (its ``_meta``) when it carries a protocol version."""
    if not isinstance(params, dict):
        return None
    meta = params.get("_meta")
    if isinstance(meta, dict) and VERSION_KEY in meta:
        return meta
    return None


def check_envelope(msg: Message, meta: dict[str, Any]) -> Message | None:
    """An error response when the envelope is unusable, else None."""
    rid = msg.get("id")
    version = meta.get(VERSION_KEY)
    if not isinstance(version, str):
        return jsonrpc.error(
            rid, jsonrpc.INVALID_PARAMS, f"params._meta[{VERSION_KEY!r}] must be a string"
        )
    if version not in STATELESS_VERSIONS:
        return jsonrpc.error(
            rid,
            UNSUPPORTED_VERSION,
            f"Unsupported protocol version: {version}",
            {"supported": list(STATELESS_VERSIONS), "requested": version},
        )
    if not isinstance(meta.get(CAPABILITIES_KEY), dict):
        return jsonrpc.error(
            rid,
            jsonrpc.INVALID_PARAMS,
            f"params._meta must be an object carrying {CAPABILITIES_KEY!r}",
        )
    return None


def check_headers(msg: Message, headers: dict[bytes, bytes]) -> Message | None:
    """An error response when the HTTP routing headers disagree with the body, else None."""
    rid = msg.get("id")
    raw = msg.get("params")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    meta = envelope(params)
    if meta is None:
        return jsonrpc.error(
            rid,
            jsonrpc.INVALID_PARAMS,
            f"params._meta must be an object carrying {VERSION_KEY!r} and {CAPABILITIES_KEY!r}",
        )
    problem = check_envelope(msg, meta)
    if problem is not None:
        return problem
    header = headers.get(b"mcp-protocol-version")
    if header is not None and header.decode("latin-1") != meta[VERSION_KEY]:
        return jsonrpc.error(
            rid, HEADER_MISMATCH, "MCP-Protocol-Version header does not match params._meta"
        )
    method = headers.get(b"mcp-method")
    if method is not None and method.decode("latin-1") != msg.get("method"):
        return jsonrpc.error(
            rid, HEADER_MISMATCH, "Mcp-Method header does not match the request's method"
        )
    name = headers.get(b"mcp-name")
    name_key = NAME_BEARING.get(str(msg.get("method")))
    target = params.get(name_key) if name_key else None
    matches = name is None or target is None or name.decode("latin-1") == target
    if not matches and not _b64_equal(name or b"", target):
        return jsonrpc.error(
            rid, HEADER_MISMATCH, "Mcp-Name header does not match the request's name or uri"
        )
    return None


def is_stateless_http(msg: Message, version_header: str) -> bool:
    """Whether an HTTP request belongs to the stateless era (its header, else its envelope)."""
    if version_header:
        return version_header not in HANDSHAKE_VERSIONS
    return envelope(msg.get("params")) is not None


def strip(params: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """``params`` without the envelope keys (for a handshake-era server)."""
    rest = {k: v for k, v in meta.items() if not k.startswith(PREFIX)}
    out = {k: v for k, v in params.items() if k != "_meta"}
    if rest:
        out["_meta"] = rest
    return out


def http_status(response: Message) -> int:
    """The HTTP status of a stateless-era response."""
    err = response.get("error")
    if not isinstance(err, dict):
        return 200
    code = err.get("code")
    if code == jsonrpc.METHOD_NOT_FOUND:
        return 404
    if code in (
        jsonrpc.PARSE_ERROR,
        jsonrpc.INVALID_REQUEST,
        jsonrpc.INVALID_PARAMS,
        HEADER_MISMATCH,
        MISSING_CAPABILITY,
        UNSUPPORTED_VERSION,
    ):
        return 400
    return 200


def _b64_equal(raw: bytes, target: Any) -> bool:
    """Whether a ``=?base64?…?=`` header holds ``target``; only canonical base64 counts."""
    text = raw.decode("latin-1")
    if not (text.startswith("=?base64?") and text.endswith("?=")):
        return False
    payload = text[9:-2]
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return False
        return bool(decoded.decode() == target)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return False
