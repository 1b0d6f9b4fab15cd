"""The gateway bridges a stateless-only server to clients of both eras (real SDK clients)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, ServerSpec

HERE = Path(__file__).parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def gateway(gateway_environ: dict[str, str]) -> StdioServerParameters:
    app = App(gateway_environ)
    spec = ServerSpec(
        id="modern",
        title="Stateless only",
        source=CommandSource(
            command=f"/usr/bin/python3 {HERE / 'stateless_only_server.py'}", cwd=str(HERE)
        ),
    )
    app.profiles.add_server("default", "modern", spec=spec)
    app.close()
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcpkit", "gateway", "run"], env=dict(gateway_environ)
    )


async def _elicit(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada"})


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_stateless_only_server_serves_tools_and_asks_clients_of_either_era(
    gateway: StdioServerParameters, mode: str
) -> None:
    async with Client(gateway, mode=mode, elicitation_callback=_elicit) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"echo", "ask_name"} <= names
        echoed = await client.call_tool("echo", {"text": "hi"})
        assert echoed.content[0].text == "echo: hi"  # type: ignore[union-attr]
        asked = await client.call_tool("ask_name", {})
        assert not asked.is_error
        assert asked.content[0].text == "hello Ada"  # type: ignore[union-attr]


def test_the_server_really_refuses_the_handshake() -> None:
    import subprocess

    proc = subprocess.run(
        ["/usr/bin/python3", str(HERE / "stateless_only_server.py")],
        input='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}\n',
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.defpath},
        check=True,
    )
    assert '"code": -32022' in proc.stdout
