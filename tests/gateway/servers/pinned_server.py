"""An MCP server on the official SDK whose tools are read from a JSON file at start.

Usage: ``python pinned_server.py NAME DEFINITIONS.json``. The file holds
``{"tools": [{"name": "echo", "description": "…", "extra": false}, …]}``; every tool
returns its ``text`` argument prefixed by the tool's name, and ``"extra": true`` adds an
optional ``loud`` argument (a change of the input schema). A test rewrites the file
between starts to play a server whose tool definitions change after they were approved.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

NAME = sys.argv[1]
DEFINITIONS = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
server = MCPServer(NAME)


def _plain(name: str) -> Callable[..., Any]:
    def tool(text: str) -> str:
        return f"{name}: {text}"

    return tool


def _extra(name: str) -> Callable[..., Any]:
    def tool(text: str, loud: bool = False) -> str:
        said = text.upper() if loud else text
        return f"{name}: {said}"

    return tool


for item in DEFINITIONS["tools"]:
    make = _extra if item.get("extra") else _plain
    server.tool(name=item["name"], description=item["description"])(make(item["name"]))


if __name__ == "__main__":
    server.run()
