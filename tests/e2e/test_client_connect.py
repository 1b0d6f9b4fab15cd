"""End to end: the entry ``client connect`` writes starts a gateway an SDK client can use.

Each test writes a real client's config file with the CLI, reads the entry back the way
that client would (its own format: JSON, JSONC, TOML, YAML), starts exactly the command
it names with exactly its env (on top of a client's ordinary environment), and drives it
with the official Python SDK client over stdio. The import test goes the other way: a
hand-written Claude Desktop entry with a literal token becomes a profile whose secret sits
in the store, and the gateway hands it to the server.

Cost (2 cores, warm package cache): ~2-3 s a gateway start.
"""

from __future__ import annotations

import json
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from mcp import Client, StdioServerParameters

if TYPE_CHECKING:
    from conftest import Home

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

PROFILE = "dev"


@pytest.fixture(scope="module")
def profiles(home: Home) -> Home:
    """``dev`` serves time (PyPI, sandboxed)."""
    home.mcpkit("profile", "create", PROFILE, "-s", "time")
    return home


def _client_environ(home: Home) -> dict[str, str]:
    """What a client launched from a desktop session passes on: no MCPKIT_HOME of ours."""
    return {k: v for k, v in home.environ.items() if k != "MCPKIT_HOME"}


async def _serves_time(command: str, args: list[str], env: dict[str, str], home: Home) -> None:
    params = StdioServerParameters(command=command, args=args, env={**_client_environ(home), **env})
    async with Client(params) as client:
        assert client.server_info is not None
        assert client.server_info.name == "mcpkit-gateway"
        tools = await client.list_tools()
        assert "get_current_time" in {t.name for t in tools.tools}
        result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
        assert not result.is_error, result.content
        assert isinstance(result.structured_content, dict)
        assert result.structured_content["timezone"] == "Europe/Paris"


def _home(home: Home) -> Path:
    return Path(home.environ["HOME"])


async def test_a_cursor_entry_starts_a_gateway_an_sdk_client_uses(profiles: Home) -> None:
    out = profiles.mcpkit("client", "connect", "cursor", "--profile", PROFILE)
    assert "connected" in out
    data = json.loads((_home(profiles) / ".cursor" / "mcp.json").read_text())
    entry = data["mcpServers"]["mcpkit"]
    assert entry["args"][-2:] == ["--profile", PROFILE]
    # The entry carries where mcpkit's state is, since the client's environment does not.
    assert entry["env"] == {"MCPKIT_HOME": profiles.environ["MCPKIT_HOME"]}
    assert Path(entry["command"]).is_absolute()
    await _serves_time(entry["command"], entry["args"], entry["env"], profiles)
    # A second connect changes nothing; ls reports the profile.
    assert "nothing changed" in profiles.mcpkit("client", "connect", "cursor", "-p", PROFILE)
    listed = json.loads(profiles.mcpkit("client", "ls", "cursor", "--json"))
    row = next(s for s in listed if s["scope"] == "global")
    assert (row["client"], row["connected"], row["profile"]) == ("cursor", True, PROFILE)


async def test_a_codex_toml_entry_starts_a_gateway(profiles: Home) -> None:
    config = _home(profiles) / ".codex" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    original = textwrap.dedent(
        """\
        # my codex settings
        model = "o4-mini"

        [mcp_servers.other]
        command = "npx"
        args = ["-y", "some-server"]  # keep me
        """
    )
    config.write_text(original)
    profiles.mcpkit("client", "connect", "codex", "--profile", PROFILE)
    text = config.read_text()
    assert text.startswith(original)
    entry = tomllib.loads(text)["mcp_servers"]["mcpkit"]
    await _serves_time(entry["command"], entry["args"], dict(entry.get("env", {})), profiles)
    profiles.mcpkit("client", "disconnect", "codex")
    assert config.read_text() == original


async def test_a_goose_yaml_extension_starts_a_gateway(profiles: Home) -> None:
    profiles.mcpkit("client", "connect", "goose", "--profile", PROFILE)
    data = yaml.safe_load((_home(profiles) / ".config" / "goose" / "config.yaml").read_text())
    entry = data["extensions"]["mcpkit"]
    assert entry["enabled"] is True
    await _serves_time(entry["cmd"], entry["args"], dict(entry.get("envs") or {}), profiles)


TOKEN_SERVER = """\
import hashlib, os
from mcp.server.mcpserver import MCPServer

server = MCPServer("token-echo")

@server.tool()
def token_digest() -> str:
    '''The SHA-256 of the API_TOKEN this server was given.'''
    return hashlib.sha256(os.environ.get("API_TOKEN", "").encode()).hexdigest()

server.run()
"""


async def test_a_hand_written_claude_desktop_server_is_imported_with_its_token_in_the_store(
    profiles: Home, tmp_path: Path
) -> None:
    script = tmp_path / "token_server.py"
    script.write_text(TOKEN_SERVER)
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2  # a GitHub token's shape
    config = _home(profiles) / ".config" / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "Token Echo": {
                        "command": sys.executable,
                        "args": [str(script)],
                        "env": {"API_TOKEN": token, "LOG_LEVEL": "info"},
                    }
                },
                "globalShortcut": "Ctrl+Space",
            },
            indent=2,
        )
    )
    out = profiles.mcpkit("profile", "import", "--from-client", "claude-desktop", "--name", "hand")
    assert token not in out
    assert "token-echo" in out
    exported = profiles.mcpkit("profile", "export", "hand")
    assert token not in exported
    # Connect Claude Desktop to the imported profile: its hand-written entry stays.
    profiles.mcpkit("client", "connect", "claude-desktop", "--profile", "hand")
    data: dict[str, Any] = json.loads(config.read_text())
    assert set(data["mcpServers"]) == {"Token Echo", "mcpkit"}
    assert data["globalShortcut"] == "Ctrl+Space"
    entry = data["mcpServers"]["mcpkit"]
    params = StdioServerParameters(
        command=entry["command"],
        args=entry["args"],
        env={**_client_environ(profiles), **entry["env"]},
    )
    import hashlib

    async with Client(params) as client:
        tools = await client.list_tools()
        assert "token_digest" in {t.name for t in tools.tools}
        result = await client.call_tool("token_digest", {})
        assert not result.is_error, result.content
        text = result.content[0].text  # type: ignore[union-attr]
        assert text == hashlib.sha256(token.encode()).hexdigest()
