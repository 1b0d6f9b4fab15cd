"""A stdio MCP server that speaks only the stateless era (2026-07-28), stdlib only.

No published server is stateless-only yet (the SDK's servers speak both eras), so this small
real process stands in for one: it refuses ``initialize`` with -32022, answers
``server/discover``, requires the envelope on every request, and asks for input the
stateless way (``input_required`` + ``requestState``).
"""

import json
import sys

VERSION = "2026-07-28"
PV = "io.modelcontextprotocol/protocolVersion"
TOOLS = [
    {
        "name": "echo",
        "description": "Echo text.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
    {"name": "ask_name", "description": "Ask the user's name.", "inputSchema": {"type": "object"}},
]


def reply(rid, result=None, error=None):
    msg = {"jsonrpc": "2.0", "id": rid}
    if error is not None:
        msg["error"] = error
    else:
        msg["result"] = {**result, "resultType": result.get("resultType", "complete")}
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def handle(msg):
    rid, method = msg.get("id"), msg.get("method")
    params = msg.get("params") or {}
    if rid is None:
        return
    if method == "initialize":
        reply(
            rid,
            error={
                "code": -32022,
                "message": "Unsupported protocol version",
                "data": {"supported": [VERSION], "requested": params.get("protocolVersion")},
            },
        )
        return
    if (params.get("_meta") or {}).get(PV) != VERSION:
        reply(
            rid, error={"code": -32602, "message": "params._meta must carry the protocol version"}
        )
        return
    if method == "server/discover":
        reply(
            rid,
            {
                "supportedVersions": [VERSION],
                "capabilities": {"tools": {}},
                "ttlMs": 0,
                "cacheScope": "private",
                "_meta": {
                    "io.modelcontextprotocol/serverInfo": {"name": "stateless-only", "version": "1"}
                },
            },
        )
    elif method == "tools/list":
        reply(rid, {"tools": TOOLS, "ttlMs": 0, "cacheScope": "private"})
    elif method == "tools/call" and params.get("name") == "echo":
        text = (params.get("arguments") or {}).get("text", "")
        reply(rid, {"content": [{"type": "text", "text": f"echo: {text}"}]})
    elif method == "tools/call" and params.get("name") == "ask_name":
        answers = params.get("inputResponses") or {}
        if "name" not in answers:
            ask = {
                "method": "elicitation/create",
                "params": {
                    "mode": "form",
                    "message": "What is your name?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                },
            }
            reply(
                rid,
                {
                    "resultType": "input_required",
                    "inputRequests": {"name": ask},
                    "requestState": "state-1",
                },
            )
            return
        if params.get("requestState") != "state-1":
            reply(rid, error={"code": -32602, "message": "requestState was not echoed"})
            return
        name = (answers["name"].get("content") or {}).get("name")
        reply(rid, {"content": [{"type": "text", "text": f"hello {name}"}]})
    else:
        reply(rid, error={"code": -32601, "message": f"Method not found: {method}"})


for raw in sys.stdin:
    if raw.strip():
        handle(json.loads(raw))
