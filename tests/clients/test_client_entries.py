"""Entry styles: each client's entry shape read and written, and recognising our own entry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mcpkit.clients.entries import (
    STYLES,
    ClientServer,
    decode,
    encode,
    entry_profile,
    gateway_entry,
    update_entry,
)

STDIO = ClientServer(
    name="files",
    command="npx",
    args=("-y", "@modelcontextprotocol/server-filesystem", "/tmp"),
    env={"LOG_LEVEL": "debug"},
)
HTTP = ClientServer(
    name="docs",
    url="https://docs.example.com/mcp",
    transport="streamable-http",
    headers={"Authorization": "Bearer abc"},
)
SSE = ClientServer(name="legacy", url="https://old.example.com/sse", transport="sse")


#: Clients whose remote entries are streamable HTTP only.
NO_SSE = {"zed", "codex", "opencode", "opencode2"}
ROUND_TRIPS = [
    (style, server)
    for style in sorted(STYLES)
    for server in (STDIO, HTTP, SSE)
    if not (style in NO_SSE and server.transport == "sse")
]


@pytest.mark.parametrize(
    ("style", "server"), ROUND_TRIPS, ids=[f"{s}-{v.name}" for s, v in ROUND_TRIPS]
)
def test_every_style_reads_back_what_it_writes(style: str, server: ClientServer) -> None:
    raw = encode(style, server)
    assert decode(style, server.name, raw) == server


def test_the_shapes_written_are_the_clients_own() -> None:
    assert encode("standard", STDIO) == {
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
        "env": {"LOG_LEVEL": "debug"},
    }
    assert encode("vscode", STDIO)["type"] == "stdio"
    assert encode("vscode", HTTP) == {
        "type": "http",
        "url": "https://docs.example.com/mcp",
        "headers": {"Authorization": "Bearer abc"},
    }
    assert encode("windsurf", HTTP)["serverUrl"] == "https://docs.example.com/mcp"
    assert encode("gemini", HTTP)["httpUrl"] == "https://docs.example.com/mcp"
    assert encode("gemini", SSE) == {"url": "https://old.example.com/sse"}
    assert encode("cline", HTTP)["type"] == "streamableHttp"
    assert encode("zed", STDIO)["source"] == "custom"
    assert encode("codex", HTTP)["http_headers"] == {"Authorization": "Bearer abc"}
    assert encode("opencode", STDIO) == {
        "type": "local",
        "command": ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
        "enabled": True,
        "environment": {"LOG_LEVEL": "debug"},
    }
    assert "enabled" not in encode("opencode2", STDIO)
    goose = encode("goose", STDIO)
    assert goose["type"] == "stdio"
    assert goose["cmd"] == "npx"
    assert goose["envs"] == {"LOG_LEVEL": "debug"}
    assert goose["enabled"] is True
    assert encode("continue", STDIO)["name"] == "files"
    assert encode("continue", HTTP)["requestOptions"] == {
        "headers": {"Authorization": "Bearer abc"}
    }


@pytest.mark.parametrize(
    ("style", "raw", "expected"),
    [
        # Cursor: a bare url is streamable HTTP, or SSE when it ends in /sse.
        (
            "standard",
            {"url": "https://x.example/mcp"},
            ("https://x.example/mcp", "streamable-http"),
        ),
        ("standard", {"url": "https://x.example/sse"}, ("https://x.example/sse", "sse")),
        ("vscode", {"type": "sse", "url": "https://x.example/a"}, ("https://x.example/a", "sse")),
        ("windsurf", {"serverUrl": "https://x.example/sse"}, ("https://x.example/sse", "sse")),
        (
            "cline",
            {"url": "https://x.example/e", "transportType": "sse"},
            ("https://x.example/e", "sse"),
        ),
        ("gemini", {"url": "http://localhost:8080/mcp"}, ("http://localhost:8080/mcp", "sse")),
        (
            "gemini",
            {"url": "http://localhost:8080/mcp", "type": "http"},
            ("http://localhost:8080/mcp", "streamable-http"),
        ),
        ("zed", {"url": "https://z.example/mcp"}, ("https://z.example/mcp", "streamable-http")),
        (
            "goose",
            {"type": "sse", "uri": "https://g.example/sse"},
            ("https://g.example/sse", "sse"),
        ),
    ],
)
def test_remote_entries_are_read_with_their_transport(
    style: str, raw: dict[str, Any], expected: tuple[str, str]
) -> None:
    server = decode(style, "r", raw)
    assert server is not None
    assert (server.url, server.transport) == expected


def test_zed_entries_are_read_in_all_three_shapes_and_extensions_are_skipped() -> None:
    nested = {"command": {"path": "npx", "args": ["-y", "srv"], "env": None}, "settings": {}}
    tagged = {"source": "custom", "command": "uv", "args": ["run", "m.py"], "env": {}}
    flat = {"command": "uv", "args": ["run", "m.py"], "enabled": False}
    assert decode("zed", "a", nested) == ClientServer(name="a", command="npx", args=("-y", "srv"))
    assert decode("zed", "b", tagged) == ClientServer(name="b", command="uv", args=("run", "m.py"))
    server = decode("zed", "c", flat)
    assert server is not None
    assert server.disabled
    assert decode("zed", "d", {"source": "extension", "settings": {"token": "x"}}) is None
    assert decode("zed", "e", {"enabled": True, "settings": {}}) is None


def test_disabled_entries_are_read_as_disabled_in_each_clients_spelling() -> None:
    cases = [
        ("cline", {"command": "x", "disabled": True}),
        ("windsurf", {"command": "x", "disabled": True}),
        ("codex", {"command": "x", "enabled": False}),
        ("opencode", {"type": "local", "command": ["x"], "enabled": False}),
        ("opencode2", {"type": "local", "command": ["x"], "disabled": True}),
        ("goose", {"type": "stdio", "cmd": "x", "enabled": False}),
    ]
    for style, raw in cases:
        server = decode(style, "s", raw)
        assert server is not None, style
        assert server.disabled, style


@pytest.mark.parametrize(
    ("style", "raw"),
    [
        ("standard", ["not", "a", "mapping"]),
        ("standard", {"command": 42}),
        ("standard", {"command": "x", "args": "not a list"}),
        ("standard", {"command": "x", "env": {"NESTED": {"no": "way"}}}),
        ("standard", {}),
        ("vscode", {"type": "websocket", "url": "wss://x"}),
        ("goose", {"type": "builtin", "name": "developer"}),
        ("goose", {"type": "platform", "name": "todo"}),
        ("opencode", {"type": "local", "command": []}),
        ("opencode", {"type": "other"}),
        ("continue", {"name": "w", "type": "websocket", "url": "wss://x"}),
        ("codex", {"url": 3}),
    ],
)
def test_entries_that_are_not_readable_servers_decode_to_none(style: str, raw: Any) -> None:
    assert decode(style, "x", raw) is None


def test_scalar_env_values_are_read_as_strings() -> None:
    server = decode("standard", "s", {"command": "x", "env": {"PORT": 8080, "DEBUG": True}})
    assert server is not None
    assert server.env == {"PORT": "8080", "DEBUG": "true"}


def test_an_unknown_style_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown entry style 'nope'"):
        encode("nope", STDIO)


def test_our_entry_runs_the_console_script_beside_this_python() -> None:
    entry = gateway_entry("dev", {"MCPKIT_HOME": "/data/mcpkit", "SECRET": "no"})
    assert entry.name == "mcpkit"
    assert entry.command is not None
    assert Path(entry.command).is_absolute()
    script = Path(sys.executable).absolute().parent / "mcpkit"
    if script.is_file():
        assert entry.command == str(script)
        assert entry.args == ("gateway", "run", "--profile", "dev")
    else:  # pragma: no cover - a Python without the console script
        assert entry.args == ("-m", "mcpkit", "gateway", "run", "--profile", "dev")
    assert entry.env == {"MCPKIT_HOME": "/data/mcpkit"}
    assert entry.url is None


def test_our_entry_passes_no_environment_when_mcpkit_home_is_unset() -> None:
    assert gateway_entry("default", {"HOME": "/home/a"}).env == {}


@pytest.mark.parametrize(
    ("command", "args", "profile"),
    [
        ("/venv/bin/mcpkit", ["gateway", "run", "--profile", "dev"], "dev"),
        ("mcpkit", ["gateway", "run"], "default"),
        ("mcpkit", ["gateway", "run", "-p", "work"], "work"),
        ("mcpkit", ["gateway", "run", "--profile=ops", "--transport", "stdio"], "ops"),
        ("C:\\Tools\\venv\\Scripts\\mcpkit.exe", ["gateway", "run", "--profile", "w"], "w"),
        ("/usr/bin/python3.11", ["-m", "mcpkit", "gateway", "run", "--profile", "p"], "p"),
        ("C:\\Python311\\python.exe", ["-m", "mcpkit", "gateway", "run"], "default"),
    ],
)
def test_an_entry_is_ours_when_it_runs_the_mcpkit_gateway(
    command: str, args: list[str], profile: str
) -> None:
    assert entry_profile(ClientServer(name="x", command=command, args=tuple(args))) == profile


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("npx", ["-y", "mcpkit", "gateway", "run"]),
        ("mcpkit", ["catalog", "ls"]),
        ("mcpkit", ["run", "gateway"]),
        ("python3", ["server.py", "gateway", "run"]),
        ("/opt/mcpkit-tools/server", ["gateway", "run"]),
        ("python3", ["-m", "mcpkit"]),
    ],
)
def test_other_entries_are_not_ours(command: str, args: list[str]) -> None:
    assert entry_profile(ClientServer(name="x", command=command, args=tuple(args))) is None


def test_a_remote_entry_is_never_ours() -> None:
    assert entry_profile(ClientServer(name="mcpkit", url="https://x/mcp")) is None


def test_rewriting_our_entry_keeps_the_keys_the_user_added() -> None:
    before = encode("cline", gateway_entry("a", {"MCPKIT_HOME": "/m"}))
    before |= {"autoApprove": ["tool"], "disabled": False}
    after = update_entry("cline", before, gateway_entry("b", {}))
    assert after["args"][-1] == "b"
    assert after["autoApprove"] == ["tool"]
    assert after["disabled"] is False
    assert "env" not in after  # MCPKIT_HOME is no longer set: the owned key goes


def test_rewriting_a_goose_extension_keeps_the_users_timeout_and_enables_it() -> None:
    before = encode("goose", gateway_entry("a", {})) | {"timeout": 900, "enabled": False}
    after = update_entry("goose", before, gateway_entry("b", {}))
    assert after["timeout"] == 900
    assert after["enabled"] is True
    assert after["args"][-1] == "b"


def test_rewriting_with_the_same_profile_changes_nothing() -> None:
    ours = gateway_entry("dev", {"MCPKIT_HOME": "/m"})
    for style in STYLES:
        before = encode(style, ours)
        assert update_entry(style, before, ours) == before, style
