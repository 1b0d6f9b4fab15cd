"""A server that prints a banner (holding its API key) on stdout, then answers properly."""

import json
import os
import sys

print(f"Garbage server 1.0 starting with key {os.environ.get('GARBAGE_KEY', '?')}", flush=True)
TOOL = {"name": "ping", "description": "Answer pong.", "annotations": {"readOnlyHint": True}}

for line in sys.stdin:
    request = json.loads(line)
    if "id" not in request:
        continue
    method = request.get("method")
    if method == "initialize":
        result = {
            "protocolVersion": request["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "garbage-fixture", "version": "1.0.0"},
        }
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    else:
        result = {"content": [{"type": "text", "text": "pong"}]}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}) + "\n")
    sys.stdout.flush()
