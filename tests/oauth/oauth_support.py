"""Helpers of the OAuth tests: the test server as a subprocess, a browser stand-in, the service."""

from __future__ import annotations

import json
import re
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from mcpkit.app import App
from mcpkit.catalog.model import OAuthSpec, RemoteSource, ServerSpec
from mcpkit.oauth.credentials import CredentialStore
from mcpkit.oauth.service import OAuthService
from mcpkit.transport.netguard import RemotePolicy, guarded_client

SERVER_SCRIPT = Path(__file__).parent / "servers" / "oauth_mcp_server.py"
READY_TIMEOUT = 30.0
#: Every test talks to servers on 127.0.0.1 over http: the guard's testing opt-out.
POLICY = RemotePolicy(allow_insecure=True)


@dataclass
class OAuthServer:
    """A running test server: its URLs and its control endpoints."""

    issuer: str
    mcp_url: str
    control: str
    process: subprocess.Popen[bytes]

    async def stats(self) -> dict[str, int]:
        """Calls of register/authorize/token/refresh/revoke so far, and 401s."""
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{self.control}/stats")
        data: dict[str, int] = response.json()
        return data

    async def control_post(self, what: str) -> dict[str, Any]:
        """``expire-access-tokens`` or ``invalidate-refresh-tokens``."""
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.control}/{what}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@contextmanager
def running_server(*options: str) -> Iterator[OAuthServer]:
    """Start the test server with ``options``; stop it at the end."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(READY_TIMEOUT):
                raise RuntimeError("the test OAuth server did not start in time")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the test OAuth server exited with {process.wait()}")
        info = json.loads(line)
        yield OAuthServer(info["issuer"], info["mcp_url"], info["control"], process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def client_factory() -> httpx.AsyncClient:
    """A guarded client with the testing opt-out (loopback http allowed)."""
    return guarded_client(POLICY)


def remote_spec(
    server_id: str, url: str, *, oauth: OAuthSpec | None = None, transport: str = "streamable-http"
) -> ServerSpec:
    """A remote server spec carried by a profile."""
    return ServerSpec(
        id=server_id,
        title=server_id,
        source=RemoteSource(url=url, transport=transport, oauth=oauth),  # type: ignore[arg-type]
    )


def add_remote(app: App, server_id: str, url: str, *, profile: str = "default", **kw: Any) -> None:
    """Put a remote server into a profile."""
    app.profiles.add_server(profile, server_id, spec=remote_spec(server_id, url, **kw))


def service(app: App, **kw: Any) -> OAuthService:
    """The OAuth service over the app's secret store, never opening a browser."""
    return OAuthService(
        app.profiles,
        CredentialStore(app.store),
        client_factory=client_factory,
        open_browser=False,
        **kw,
    )


async def act_as_browser(url: str, *, action: str = "approve") -> httpx.Response:
    """Open the authorization URL, approve (or deny) on the consent page, land on the callback."""
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(url, follow_redirects=True)
        assert page.status_code == 200, page.text
        match = re.search(r'name="tx" value="([^"]+)"', page.text)
        assert match, page.text
        form = await browser.post(
            str(page.url.copy_with(path="/consent", query=None)),
            data={"tx": match.group(1), "action": action},
        )
        assert form.status_code == 302, form.text
        return await browser.get(form.headers["location"])


@dataclass
class Authorization:
    """Drives ``authorize`` with the browser stand-in; keeps what the browser saw."""

    url: str | None = None
    callback: httpx.Response | None = None


async def authorize_with_browser(
    run_flow: Callable[[Callable[[str], None]], Any],
    *,
    browser: Callable[[str], Any] | None = None,
) -> tuple[Any, Authorization]:
    """Run ``run_flow(on_url)``; when it prints a URL, act as the browser on it."""
    seen = Authorization()
    printed = anyio.Event()

    def on_url(url: str) -> None:
        seen.url = url
        printed.set()

    async def drive() -> None:
        with anyio.fail_after(20):
            await printed.wait()
        assert seen.url is not None
        seen.callback = await (browser or act_as_browser)(seen.url)

    result: Any = None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(drive)
        try:
            result = await run_flow(on_url)
        except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped by the task group
            failure = exc
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result, seen


async def authorized(app: App, server_id: str, **kw: Any) -> Any:
    """Run the whole authorize flow for ``server_id`` (approving in the browser stand-in)."""
    svc = service(app)
    result, _ = await authorize_with_browser(
        lambda on_url: svc.authorize(server_id, on_url=on_url, **kw)
    )
    return result


async def call_tool(
    url: str, auth: httpx.Auth | None, tool: str = "whoami", **arguments: Any
) -> httpx.Response:
    """One ``tools/call`` to the (stateless, JSON-answering) MCP server through ``auth``."""
    async with guarded_client(POLICY, auth=auth) as client:
        return await client.post(
            url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            },
            headers={
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            },
        )
