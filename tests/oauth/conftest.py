"""Fixtures of the OAuth tests: the test authorization server + MCP server, shared per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oauth_support import OAuthServer, running_server


@pytest.fixture
def anyio_backend() -> str:
    """The async tests run on asyncio (what the gateway runs on)."""
    return "asyncio"


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[OAuthServer]:
    """The default server (DCR, revocation, 1 h tokens), shared by a module's tests."""
    with running_server("--challenge-scope", "mcp:read mcp:write") as server:
        yield server
