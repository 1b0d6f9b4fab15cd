"""The official TypeScript SDK client (``@modelcontextprotocol/sdk`` 1.32.2) against a gateway.

The client script and its package.json live in ``tests/e2e/ts/``; the SDK is installed
with npm from the registry into the session's package cache, once per session. The
1.x SDK speaks only the handshake era, so this also checks what a 2025 client sees.

Cost: npm install ~5 s (warm npm cache) to ~20 s (cold); gateway start ~2 s; the client
run ~1 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Home, RunningGateway, ServeHttp

pytestmark = pytest.mark.e2e

TS_DIR = Path(__file__).parent / "ts"
SDK_VERSION = "1.32.2"
PROFILE = "tsclient"


@pytest.fixture(scope="module")
def ts_client(package_cache: Path) -> Path:
    """A folder with the client script and the TypeScript SDK installed next to it."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm and node are needed to install and run the TypeScript SDK client")
    folder = package_cache / "e2e-ts-client"
    folder.mkdir(exist_ok=True)
    for name in ("package.json", "client.mjs"):
        shutil.copyfile(TS_DIR / name, folder / name)
    installed = folder / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != SDK_VERSION:
        # The real environment: npm's own cache, proxy and CA settings live there.
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"npm install failed:\n{result.stderr}"
    assert json.loads(installed.read_text())["version"] == SDK_VERSION
    return folder


@pytest.fixture(scope="module")
def gateway(home: Home, serve_http: ServeHttp) -> RunningGateway:
    home.mcpkit("profile", "create", PROFILE, "-s", "time")
    return serve_http(home, PROFILE)


def test_the_typescript_sdk_client_lists_and_calls_tools_over_streamable_http(
    ts_client: Path, gateway: RunningGateway
) -> None:
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "client.mjs", gateway.url, gateway.token],
        cwd=ts_client,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr}\n--- gateway:\n{gateway.log()}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["protocolVersion"] == "2025-11-25"
    assert report["sessionId"]
    assert report["server"]["name"] == "mcpkit-gateway"
    assert {"get_current_time", "convert_time"} <= set(report["tools"])
    assert report["isError"] is False
    assert report["structuredContent"]["timezone"] == "Asia/Tokyo"


def test_the_typescript_sdk_client_is_refused_without_the_token(
    ts_client: Path, gateway: RunningGateway
) -> None:
    node = shutil.which("node")
    assert node is not None
    result = subprocess.run(
        [node, "client.mjs", gateway.url, "wrong-token"],
        cwd=ts_client,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "401" in result.stderr
