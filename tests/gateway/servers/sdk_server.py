"""A small real MCP server on the official SDK (``MCPServer``), run as a command server.

Usage: ``python sdk_server.py NAME [--unique TOOL]``. Every instance offers the same
tools (``echo``, ``pid``, ``instance``, ``whoami``, ``record``, ``env_value``,
``private_key``, ``block``), so two instances collide on every name; ``--unique TOOL``
adds a tool only this instance has.
``record`` appends what it received to ``$HOME/received.jsonl`` (HOME is the server's own
state folder), so a test can prove what reached the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from mcp.server.mcpserver import MCPServer

NAME = sys.argv[1] if len(sys.argv) > 1 else "sdk"
server = MCPServer(NAME, instructions=f"{NAME} test server")
INSTANCE = uuid.uuid4().hex


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def pid() -> str:
    """This process's id."""
    return str(os.getpid())


@server.tool()
def instance() -> str:
    """A random id made when this process started (pids repeat across sandboxes)."""
    return INSTANCE


@server.tool()
def whoami() -> str:
    """The name this instance was started with."""
    return NAME


@server.tool()
def record(value: str) -> str:
    """Remember the value (in $HOME/received.jsonl) and acknowledge it."""
    with (Path.home() / "received.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"value": value}) + "\n")
    return "recorded"


@server.tool()
def env_value(name: str) -> str:
    """The value of one of this process's environment variables."""
    return os.environ.get(name, "")


@server.tool()
def private_key() -> str:
    """A PEM private key (assembled here so no file of the repo holds one)."""
    body = "\n".join("MIIEowIBAAKCAQEA" + "x" * 48 for _ in range(4))
    kind = "RSA " + "PRIVATE KEY"
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"


@server.tool()
async def block() -> str:
    """Never return (until cancelled)."""
    await asyncio.Event().wait()
    return "unreachable"


if "--unique" in sys.argv:
    unique = sys.argv[sys.argv.index("--unique") + 1]

    def _unique() -> str:
        return f"unique tool of {NAME}"

    server.tool(name=unique, description=f"Only {NAME} has this tool.")(_unique)


if __name__ == "__main__":
    server.run()
