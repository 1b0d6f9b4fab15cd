#!/usr/bin/python3
"""A minimal, fast MCP server over stdio, for the benchmark (standard library only).

It answers ``initialize``, ``ping``, ``tools/list`` (``--tools N`` tools, named
``<prefix>echo_<i>``) and ``tools/call`` (echoes ``arguments.text`` back as text content).
Raw newline-delimited JSON-RPC, no SDK: the official SDK server spends a few hundred
microseconds of its own on every message (pydantic validation, anyio streams, task
groups), which would hide the gateway's overhead this benchmark exists to measure.

The shebang names the system interpreter on purpose: the gateway runs command servers in
a bubblewrap sandbox that binds ``/usr`` and this script's folder, nothing else, so the
same command works with ``--sandbox bwrap`` and ``--sandbox none`` and when run directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")


def tool_list(count: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` tool definitions of a realistic size (a description and a small schema)."""
    return [
        {
            "name": f"{prefix}echo_{i}",
            "description": f"Echo the given text back (tool {i} of {prefix or 'the backend'}).",
            "inputSchema": {
                "type": "object",
                "properties": {"text": {"type": "string", "description": "Text to echo."}},
                "required": ["text"],
            },
        }
        for i in range(count)
    ]


def answer(msg: dict[str, Any], tools_result: dict[str, Any]) -> dict[str, Any] | None:
    """The response to one message, or None for notifications and responses."""
    method = msg.get("method")
    if method is None or "id" not in msg:
        return None
    rid = msg["id"]
    params = msg.get("params") or {}
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        text = str(arguments.get("text", ""))
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
    elif method == "tools/list":
        result = tools_result
    elif method == "initialize":
        asked = params.get("protocolVersion")
        result = {
            "protocolVersion": asked if asked in HANDSHAKE_VERSIONS else HANDSHAKE_VERSIONS[-1],
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "mcpkit-bench-backend", "version": "1.0"},
        }
    elif method == "ping":
        result = {}
    else:
        error = {"code": -32601, "message": f"Method not found: {method}"}
        return {"jsonrpc": "2.0", "id": rid, "error": error}
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def main() -> None:
    """Serve stdin/stdout until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", type=int, default=10, help="how many tools to list")
    parser.add_argument("--prefix", default="", help="prefix of every tool name")
    args = parser.parse_args()
    tools_result = {"tools": tool_list(args.tools, args.prefix)}
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for line in stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        response = answer(msg, tools_result) if isinstance(msg, dict) else None
        if response is not None:
            stdout.write(dumps(response).encode() + b"\n")
            stdout.flush()


if __name__ == "__main__":
    main()
