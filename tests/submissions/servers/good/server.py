"""A well-behaved stdio MCP server: `echo` (read-only), `reverse` (not marked), paged lists."""

import json
import sys

TOOLS = [
    {
        "name": "echo",
        "description": "Return the text it is given.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
        "annotations": {"readOnlyHint": True},
    },
    {
        "name": "reverse",
        "description": "Return the text it is given, reversed.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
]


def answer(request):
    method = request.get("method")
    params = request.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "good-fixture", "version": "1.0.0"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        # One tool per page, so a client must follow nextCursor to see them all.
        index = int(params.get("cursor") or 0)
        page = {"tools": TOOLS[index : index + 1]}
        if index + 1 < len(TOOLS):
            page["nextCursor"] = str(index + 1)
        return page
    if method == "tools/call":
        text = (params.get("arguments") or {}).get("text")
        if not isinstance(text, str):
            return {"content": [{"type": "text", "text": "text is required"}], "isError": True}
        if params.get("name") == "reverse":
            text = text[::-1]
        return {"content": [{"type": "text", "text": text}]}
    raise LookupError(method)


for line in sys.stdin:
    request = json.loads(line)
    if "id" not in request:
        continue
    try:
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": answer(request)}
    except LookupError as exc:
        reply = {
            "jsonrpc": "2.0",
            "id": request["id"],
            "error": {"code": -32601, "message": f"no method {exc}"},
        }
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
