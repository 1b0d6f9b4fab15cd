"""A stdlib-only MCP server speaking raw JSON-RPC lines, with deliberate faults.

It runs on ``/usr/bin/python3`` so it can run inside the bubblewrap sandbox, and it starts
in milliseconds. Usage: ``python3 line_server.py NAME [MODE]`` where MODE is one of:

- ``ok``: a well-behaved server (the default);
- ``noinit``: reads everything and never answers ``initialize``;
- ``garbage``: writes junk lines (not JSON, JSON that is not a message, a response to an
  id nobody asked for, an unknown notification) before every response;
- ``crashstart``: exits with status 3 right away, after a line on stderr.

Tools: ``echo`` (returns ``text``), ``pid`` (this process's id), ``instance`` (a random
id made at start), ``crash`` (exits with
status 3 mid-call, without answering) and ``hang`` (never answers).
"""

import json
import os
import sys
import uuid

NAME = sys.argv[1] if len(sys.argv) > 1 else "line"
MODE = sys.argv[2] if len(sys.argv) > 2 else "ok"
INSTANCE = uuid.uuid4().hex

TOOLS = [
    {"name": name, "description": desc, "inputSchema": {"type": "object", "properties": props}}
    for name, desc, props in (
        ("echo", "Return text.", {"text": {"type": "string"}}),
        ("pid", "This process's id.", {}),
        ("instance", "A random id made when this process started.", {}),
        ("crash", "Exit in the middle of the call.", {}),
        ("hang", "Never answer.", {}),
    )
]
JUNK = [
    "this is not json",
    "[1, 2",
    '"a json string, not a message"',
    "",
    '{"jsonrpc": "2.0", "id": 987654, "result": {"stray": true}}',
    '{"jsonrpc": "2.0", "method": "notifications/whatever", "params": {}}',
]


def send(msg):
    if MODE == "garbage":
        for junk in JUNK:
            sys.stdout.write(junk + "\n")
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def text(rid, value):
    send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": value}]}})


def call(rid, params):
    name = params.get("name")
    args = params.get("arguments") or {}
    if name == "echo":
        text(rid, str(args.get("text", "")))
    elif name == "pid":
        text(rid, str(os.getpid()))
    elif name == "instance":
        text(rid, INSTANCE)
    elif name == "crash":
        sys.stderr.write(f"{NAME}: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    elif name == "hang":
        return
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": f"no tool {name}"}})


def main():
    if MODE == "crashstart":
        sys.stderr.write(f"{NAME}: cannot start, on purpose\n")
        sys.stderr.flush()
        sys.exit(3)
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        method, rid = msg.get("method"), msg.get("id")
        if rid is None or MODE == "noinit":
            continue
        if method == "initialize":
            result = {
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": NAME, "version": "1.0"},
            }
            send({"jsonrpc": "2.0", "id": rid, "result": result})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
        elif method == "tools/call":
            call(rid, msg.get("params") or {})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
        else:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": method}})


if __name__ == "__main__":
    main()
