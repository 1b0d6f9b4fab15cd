"""``mcpkit oauth``: authorize (a real subprocess, headless), ls, revoke."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import httpx
from oauth_support import OAuthServer, add_remote

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, ServerSpec
from mcpkit.oauth.credentials import CredentialStore

if TYPE_CHECKING:
    from tests.conftest import Run

WAIT = 30.0


def _read_url(process: subprocess.Popen[str], lines: queue.Queue[str]) -> str:
    """The authorization URL the command prints on stderr (bounded wait)."""
    assert process.stderr is not None
    stream = process.stderr

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + WAIT
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line.startswith("http://127.0.0.1"):
            return line.strip()
    raise AssertionError("mcpkit oauth authorize printed no URL")


def _approve(url: str) -> httpx.Response:
    """The browser stand-in, synchronous: the listener runs in the other process."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(url, follow_redirects=True)
        tx = re.search(r'name="tx" value="([^"]+)"', page.text)
        assert tx, page.text
        form = browser.post(
            str(page.url.copy_with(path="/consent", query=None)),
            data={"tx": tx.group(1), "action": "approve"},
        )
        return browser.get(form.headers["location"])


def test_authorize_headless_then_ls_shows_status_without_tokens_then_revoke(
    app: App, environ: dict[str, str], run: Run, oauth_server: OAuthServer
) -> None:
    add_remote(app, "acme", oauth_server.mcp_url)
    app.profiles.add_server(
        "default",
        "local",
        spec=ServerSpec(id="local", title="l", source=CommandSource(command="x")),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcpkit",
            "oauth",
            "authorize",
            "acme",
            "--headless",
            "--allow-insecure-remote",
            "--timeout",
            "30",
        ],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: queue.Queue[str] = queue.Queue()
    try:
        url = _read_url(process, stderr)
        assert _approve(url).status_code == 200
        process.wait(timeout=WAIT)
        assert process.stdout is not None
        out = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert process.returncode == 0, list(stderr.queue)
    assert out.startswith("authorized acme (global scope; mcp:read mcp:write; expires ")

    token = CredentialStore(app.store).token("acme")
    client = CredentialStore(app.store).client("acme")
    assert token is not None and token.refresh_token and client is not None

    listing = run("oauth", "ls", "--json")
    for secret in (token.access_token, token.refresh_token):
        assert secret not in listing.stdout and secret not in listing.stderr
    rows = json.loads(listing.stdout)
    assert rows == [
        {
            "server": "acme",
            "url": oauth_server.mcp_url,
            "profiles": ["default"],
            "credential": "global",
            "status": "ok",
            "expires_at": rows[0]["expires_at"],
            "scopes": ["mcp:read", "mcp:write"],
            "issuer": token.issuer,
            "problem": None,
        }
    ]
    table = run("oauth", "ls").stdout
    assert re.search(
        r"^acme\s+default\s+global\s+ok\s+\S+ \S+ \(in 59m\)\s+mcp:read mcp:write", table, re.M
    )
    assert "local" not in table  # only remote servers are listed

    revoked = run("oauth", "revoke", "acme", "--allow-insecure-remote")
    assert "revoked the tokens of acme at its authorization server" in revoked.stdout
    assert json.loads(run("oauth", "ls", "--json").stdout)[0]["status"] == "none"


def test_ls_flags_a_credential_that_needs_authorization_with_the_command(
    app: App, run: Run, oauth_server: OAuthServer
) -> None:
    from mcpkit.oauth.model import TokenRecord

    app.profiles.create("dev")
    add_remote(app, "acme", oauth_server.mcp_url, profile="dev")
    record = TokenRecord(
        server="acme",
        resource=oauth_server.mcp_url,
        access_token="at-value-123",
        refresh_token="rt-value-456",
        issuer=oauth_server.issuer,
        token_endpoint=oauth_server.issuer + "/token",
        client_id="c",
        needs_authorization=True,
        problem="the authorization server refused to refresh it: invalid_grant",
    )
    CredentialStore(app.store).save_token("acme", "dev", record)

    result = run("oauth", "ls", "--profile", "dev")

    assert re.search(r"^acme\s+dev\s+profile dev\s+needs-authorization", result.stdout, re.M)
    assert "run: mcpkit oauth authorize acme --profile dev" in result.stderr
    assert "at-value-123" not in result.output and "rt-value-456" not in result.output


def test_oauth_commands_fail_clearly_for_local_unknown_and_unstored_servers(
    app: App, run: Run
) -> None:
    app.profiles.add_server(
        "default",
        "local",
        spec=ServerSpec(id="local", title="l", source=CommandSource(command="x")),
    )
    not_remote = run("oauth", "authorize", "local", "--headless", code=2)
    assert "error[not-remote]: server 'local' is not remote" in not_remote.stderr
    unknown = run("oauth", "authorize", "nowhere", "--headless", code=3)
    assert "error[unknown-server]" in unknown.stderr
    nothing = run("oauth", "revoke", "acme", code=3)
    assert "error[no-oauth-credential]" in nothing.stderr
    assert run("oauth", "ls").stdout.strip() == "no remote servers and no stored OAuth credentials"
