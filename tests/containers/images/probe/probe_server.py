"""An MCP server (raw JSON-RPC lines, stdlib only) that reports on its own confinement.

Tools: ``whoami`` (uid, gid, capabilities, no_new_privs from /proc/self/status), ``write``
(try to create a file at ``path``), ``read`` (a file's text), ``ls`` (a folder's names),
``env`` (the environment), ``net`` (network interfaces and a TCP connect attempt to
``host``:``port``), ``hog`` (allocate and touch ``mib`` MiB), ``threads`` (start ``n``
threads), ``crash`` (exit 3 mid-call), ``echo`` and ``mounts`` (/proc/self/mounts).
"""

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

TOOLS = [
    {"name": n, "description": n, "inputSchema": {"type": "object"}}
    for n in (
        "whoami",
        "write",
        "read",
        "ls",
        "env",
        "net",
        "hog",
        "threads",
        "crash",
        "echo",
        "mounts",
    )
]


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def status():
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "CapEff": fields.get("CapEff"),
        "CapBnd": fields.get("CapBnd"),
        "NoNewPrivs": fields.get("NoNewPrivs"),
        "Seccomp": fields.get("Seccomp"),
    }


def try_write(args):
    try:
        Path(args["path"]).write_text("x")
    except OSError as exc:
        return {"ok": False, "error": exc.strerror}
    return {"ok": True}


def read(args):
    try:
        return {"text": Path(args["path"]).read_text()}
    except OSError as exc:
        return {"error": exc.strerror}


def ls(args):
    try:
        return {"names": sorted(p.name for p in Path(args["path"]).iterdir())}
    except OSError as exc:
        return {"error": exc.strerror}


def net(args):
    result = {"interfaces": sorted(p.name for p in Path("/sys/class/net").iterdir())}
    if args.get("port"):
        try:
            with socket.create_connection((args.get("host", "127.0.0.1"), int(args["port"])), 2):
                result["connect"] = "ok"
        except OSError as exc:
            result["connect"] = exc.strerror or str(exc)
    return result


def hog(args):
    blocks = [bytearray(b"x" * (1024 * 1024)) for _ in range(int(args.get("mib", 64)))]
    return {"allocated_mib": len(blocks)}


def threads(args):
    started = 0
    stop = threading.Event()
    try:
        for _ in range(int(args.get("n", 10))):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError as exc:
        return {"started": started, "error": str(exc)}
    finally:
        stop.set()
    return {"started": started}


def crash(_args):
    sys.stderr.write("probe: crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


HANDLERS = {
    "whoami": lambda _args: status(),
    "write": try_write,
    "read": read,
    "ls": ls,
    "env": lambda _args: dict(os.environ),
    "net": net,
    "hog": hog,
    "threads": threads,
    "crash": crash,
    "echo": lambda args: {"text": args.get("text", "")},
    "mounts": lambda _args: {"mounts": Path("/proc/self/mounts").read_text().splitlines()},
}


def call(name, args):
    return HANDLERS[name](args)


def main():
    sys.stderr.write(f"probe: started at {time.time():.3f}\n")
    sys.stderr.flush()
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        method, rid = msg.get("method"), msg.get("id")
        if rid is None:
            continue
        if method == "initialize":
            result = {
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "probe", "version": "1.0"},
            }
            send({"jsonrpc": "2.0", "id": rid, "result": result})
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
        elif method == "tools/call":
            params = msg.get("params") or {}
            try:
                value = call(params.get("name"), params.get("arguments") or {})
            except KeyError as exc:
                send(
                    {
                        "jsonrpc": "2.0",
                        "id": rid,
                        "error": {"code": -32602, "message": f"no tool {exc}"},
                    }
                )
                continue
            content = [{"type": "text", "text": json.dumps(value)}]
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": content}})
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": rid, "result": {}})
        else:
            send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": method}})


if __name__ == "__main__":
    main()
