"""External hooks: real hook programs and a real HTTP hook server on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpkit.errors import InvalidInputError
from mcpkit.gateway.hooks import ExternalHook, HookConfig, hooks_from_config
from mcpkit.gateway.interceptors import CallBlocked, CallContext, InterceptorChain

pytestmark = pytest.mark.anyio

CTX = CallContext("dev", "github", "github__create_issue", "create_issue", None)
RESULT: dict[str, Any] = {"content": [{"type": "text", "text": "issue #1"}], "isError": False}
SECRET_ARG = "s3cret-argument-" + "value"

HOOK_SCRIPT = r"""
import json, os, signal, sys
mode, out = sys.argv[1], sys.argv[2]
doc = json.load(sys.stdin)
with open(os.path.join(out, doc["phase"] + ".json"), "w") as f:
    json.dump(doc, f)
with open(os.path.join(out, "cmdline"), "wb") as f, open("/proc/self/cmdline", "rb") as c:
    f.write(c.read())
with open(os.path.join(out, "environ"), "wb") as f, open("/proc/self/environ", "rb") as e:
    f.write(e.read())
if mode == "silent":
    pass
elif mode == "allow":
    print(json.dumps({"action": "allow"}))
elif mode == "block":
    print(json.dumps({"action": "block", "reason": "not on fridays"}))
elif mode == "rewrite":
    if doc["phase"] == "before":
        arguments = {**doc["arguments"], "label": "hooked"}
        print(json.dumps({"action": "rewrite", "arguments": arguments}))
    else:
        result = {"content": [{"type": "text", "text": "redacted"}]}
        print(json.dumps({"action": "rewrite", "result": result}))
elif mode == "garbage":
    print("this is not json")
elif mode == "unknown":
    print(json.dumps({"action": "maybe"}))
elif mode == "exit3":
    sys.stderr.write("hook failed on purpose\n")
    sys.exit(3)
elif mode == "hang":
    with open(os.path.join(out, "pid"), "w") as f:
        f.write(str(os.getpid()))
    signal.pause()
"""

SHELL_HOOK = """#!/bin/sh
cat > "$1/stdin.json"
tr '\\000' ' ' < /proc/$$/cmdline > "$1/cmdline"
echo '{"action": "allow"}'
"""


@pytest.fixture
def hook_script(tmp_path: Path) -> Path:
    path = tmp_path / "hook.py"
    path.write_text(HOOK_SCRIPT)
    return path


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "MCPKIT_SECRET_GITHUB__TOKEN": "gateway-secret-value",
    }


def command_hook(
    script: Path, mode: str, out: Path, environ: dict[str, str], **options: Any
) -> ExternalHook:
    out.mkdir(exist_ok=True)
    config = HookConfig(
        name=f"py-{mode}",
        command=[sys.executable, str(script), mode, str(out)],
        **options,
    )
    return ExternalHook(config, environ=environ)


async def test_a_command_hook_gets_the_document_on_stdin_and_allows(
    hook_script: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    out = tmp_path / "out"
    hook = command_hook(hook_script, "allow", out, environ, phase="both")
    arguments = {"title": "bug", "token": SECRET_ARG}
    assert await hook.before(CTX, arguments) is arguments
    doc = json.loads((out / "before.json").read_text())
    assert doc == {
        "version": 1,
        "phase": "before",
        "profile": "dev",
        "server": "github",
        "tool": "github__create_issue",
        "original_tool": "create_issue",
        "arguments": arguments,
    }
    # Nothing of the call is on the hook's command line, and the environment is minimal.
    assert SECRET_ARG.encode() not in (out / "cmdline").read_bytes()
    env = dict(
        item.split("=", 1) for item in (out / "environ").read_text().split("\0") if "=" in item
    )
    assert set(env) <= {"PATH", "HOME", "LANG"}
    assert "gateway-secret-value" not in (out / "environ").read_text()


async def test_an_after_hook_sees_the_sent_arguments_and_the_result(
    hook_script: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    out = tmp_path / "out"
    hook = command_hook(hook_script, "silent", out, environ, phase="after")
    chain = InterceptorChain([hook], None)

    async def send(arguments: dict[str, Any]) -> dict[str, Any]:
        return RESULT

    assert await chain.call(CTX, {"title": "bug"}, send) == RESULT
    assert not (out / "before.json").exists()
    doc = json.loads((out / "after.json").read_text())
    assert doc["phase"] == "after"
    assert doc["arguments"] == {"title": "bug"}
    assert doc["result"] == RESULT


async def test_a_command_hook_can_block_with_a_reason(
    hook_script: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    hook = command_hook(hook_script, "block", tmp_path / "out", environ, phase="both")
    with pytest.raises(CallBlocked) as caught:
        await hook.before(CTX, {"title": "bug"})
    assert caught.value.reason == (
        "hook `py-block` blocked the call to `github__create_issue`: not on fridays"
    )
    assert caught.value.rule == "hook:py-block"
    with pytest.raises(CallBlocked):
        await hook.after(CTX, RESULT)


async def test_a_command_hook_can_rewrite_both_phases(
    hook_script: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    hook = command_hook(hook_script, "rewrite", tmp_path / "out", environ, phase="both")
    assert await hook.before(CTX, {"title": "bug"}) == {"title": "bug", "label": "hooked"}
    assert await hook.after(CTX, RESULT) == {"content": [{"type": "text", "text": "redacted"}]}


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("garbage", "replied with something that is not JSON"),
        ("unknown", "replied with an unknown action"),
        ("exit3", "exited with status 3"),
    ],
)
async def test_a_failing_command_hook_blocks_by_default(
    hook_script: Path, tmp_path: Path, environ: dict[str, str], mode: str, why: str
) -> None:
    hook = command_hook(hook_script, mode, tmp_path / "out", environ)
    with pytest.raises(CallBlocked) as caught:
        await hook.before(CTX, {"token": SECRET_ARG})
    assert caught.value.reason.startswith(f"hook `py-{mode}` {why}")
    assert "on_error: block" in caught.value.reason
    assert SECRET_ARG not in caught.value.reason


async def test_a_failing_hook_with_on_error_allow_lets_the_call_through(
    hook_script: Path, tmp_path: Path, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    hook = command_hook(hook_script, "garbage", tmp_path / "out", environ, on_error="allow")
    arguments = {"title": "bug"}
    assert await hook.before(CTX, arguments) is arguments
    assert "py-garbage" in caplog.text


async def test_a_hook_that_times_out_is_killed_and_blocks(
    hook_script: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    out = tmp_path / "out"
    hook = command_hook(hook_script, "hang", out, environ, timeout=2.0)
    with pytest.raises(CallBlocked) as caught:
        await hook.before(CTX, {})
    assert "did not answer within 2 s" in caught.value.reason
    pid = int((out / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_missing_hook_program_is_a_hook_failure(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    config = HookConfig(name="ghost", command=[str(tmp_path / "no-such-hook")])
    with pytest.raises(CallBlocked) as caught:
        await ExternalHook(config, environ=environ).before(CTX, {})
    assert "hook `ghost` could not be started" in caught.value.reason


async def test_a_shell_hook_reads_stdin_and_empty_filters_apply(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    script = tmp_path / "hook.sh"
    script.write_text(SHELL_HOOK)
    out = tmp_path / "out"
    out.mkdir()
    config = HookConfig(name="sh", command=["/bin/sh", str(script), str(out)])
    assert await ExternalHook(config, environ=environ).before(CTX, {"token": SECRET_ARG}) == {
        "token": SECRET_ARG
    }
    assert json.loads((out / "stdin.json").read_text())["arguments"] == {"token": SECRET_ARG}
    assert SECRET_ARG not in (out / "cmdline").read_text()


async def test_hooks_only_run_for_matching_servers_and_tools(
    hook_script: Path, tmp_path: Path, environ: dict[str, str]
) -> None:
    out = tmp_path / "out"
    hook = command_hook(
        hook_script, "block", out, environ, servers=["git*"], tools=["*create_*"], phase="both"
    )
    other_server = CallContext("dev", "time", "time__create_x", "create_x", None)
    other_tool = CallContext("dev", "github", "github__get_me", "get_me", None)
    for ctx in (other_server, other_tool):
        assert await hook.before(ctx, {}) == {}
        assert await hook.after(ctx, RESULT) is RESULT
    assert not (out / "before.json").exists()
    with pytest.raises(CallBlocked):
        await hook.before(CTX, {})
    # Either name of the tool matches.
    by_original = CallContext("dev", "github", "renamed", "create_issue", None)
    with pytest.raises(CallBlocked):
        await hook.before(by_original, {})


# --- HTTP hooks -------------------------------------------------------------------


@dataclass
class HookServer:
    url: str
    received: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    state = HookServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.received.append((self.path, self.headers["Content-Type"], body))
            status, reply = 200, b""
            if self.path == "/allow":
                reply = b'{"action": "allow"}'
            elif self.path == "/block":
                reply = b'{"action": "block", "reason": "policy says no"}'
            elif self.path == "/rewrite":
                if body["phase"] == "before":
                    reply = json.dumps({"action": "rewrite", "arguments": {"n": 2}}).encode()
                else:
                    result = {"content": [{"type": "text", "text": "via http"}]}
                    reply = json.dumps({"action": "rewrite", "result": result}).encode()
            elif self.path == "/garbage":
                reply = b"<html>oops</html>"
            elif self.path == "/error":
                status = 500
            elif self.path == "/slow":
                state.release.wait(timeout=30)
                reply = b'{"action": "allow"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def http_hook(server: HookServer, path: str, **options: Any) -> ExternalHook:
    config = HookConfig(name=f"http{path.replace('/', '-')}", url=server.url + path, **options)
    return ExternalHook(config, environ={})


async def test_an_http_hook_gets_a_json_post_and_allows(hook_server: HookServer) -> None:
    hook = http_hook(hook_server, "/allow", phase="both")
    try:
        assert await hook.before(CTX, {"n": 1}) == {"n": 1}
        assert await hook.after(CTX, RESULT) is RESULT
    finally:
        await hook.aclose()
    (path, content_type, body), (_, _, after) = hook_server.received
    assert (path, content_type) == ("/allow", "application/json")
    assert body["arguments"] == {"n": 1}
    assert after["phase"] == "after"
    assert after["result"] == RESULT


async def test_an_http_hook_can_block_and_rewrite(hook_server: HookServer) -> None:
    blocker = http_hook(hook_server, "/block")
    rewriter = http_hook(hook_server, "/rewrite", phase="both")
    async with httpx.AsyncClient(trust_env=False) as client:
        shared = ExternalHook(rewriter.config, environ={}, client=client)
        with pytest.raises(CallBlocked) as caught:
            await blocker.before(CTX, {"n": 1})
        assert caught.value.reason.endswith(": policy says no")
        assert await shared.before(CTX, {"n": 1}) == {"n": 2}
        assert await shared.after(CTX, RESULT) == {
            "content": [{"type": "text", "text": "via http"}]
        }
        await shared.aclose()
        assert not client.is_closed
    await blocker.aclose()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/garbage", "replied with something that is not JSON"),
        ("/error", "answered HTTP 500"),
        ("/slow", "did not answer within 0.3 s"),
    ],
)
async def test_a_failing_http_hook_blocks_by_default(
    hook_server: HookServer, path: str, why: str
) -> None:
    hook = http_hook(hook_server, path, timeout=0.3)
    try:
        with pytest.raises(CallBlocked) as caught:
            await hook.before(CTX, {})
    finally:
        await hook.aclose()
    assert why in caught.value.reason


async def test_an_unreachable_http_hook_with_on_error_allow_lets_calls_through(
    hook_server: HookServer,
) -> None:
    config = HookConfig(name="gone", url="http://127.0.0.1:9/hook", on_error="allow")
    hook = ExternalHook(config, environ={})
    try:
        assert await hook.before(CTX, {"n": 1}) == {"n": 1}
    finally:
        await hook.aclose()


# --- configuration ----------------------------------------------------------------


def test_hooks_from_config_reads_valid_entries() -> None:
    hooks = hooks_from_config(
        [
            {"name": "audit", "command": ["audit-hook", "--json"]},
            {
                "name": "policy",
                "url": "http://127.0.0.1:8765/hook",
                "phase": "both",
                "timeout": 2,
                "on_error": "allow",
                "servers": ["github"],
                "tools": ["*_issue"],
            },
        ]
    )
    assert hooks == [
        HookConfig(name="audit", command=["audit-hook", "--json"]),
        HookConfig(
            name="policy",
            url="http://127.0.0.1:8765/hook",
            phase="both",
            timeout=2.0,
            on_error="allow",
            servers=["github"],
            tools=["*_issue"],
        ),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "hooks must be a list"),
        (["audit"], "hook #1 is not a table"),
        ([{"command": ["x"]}], "hook #1 needs a name"),
        ([{"name": "a b", "command": ["x"]}], "hook #1 needs a name"),
        ([{"name": "a"}], "needs exactly one of command and url"),
        ([{"name": "a", "command": ["x"], "url": "http://h/"}], "exactly one of command and url"),
        ([{"name": "a", "command": "x --y"}], "command must be a non-empty list of strings"),
        ([{"name": "a", "command": []}], "command must be a non-empty list"),
        ([{"name": "a", "url": "ftp://h/x"}], "url must be an http:// or https:// URL"),
        ([{"name": "a", "command": ["x"], "phase": "during"}], "phase must be before"),
        ([{"name": "a", "command": ["x"], "timeout": -1}], "timeout must be a number"),
        ([{"name": "a", "command": ["x"], "timeout": "5"}], "timeout must be a number"),
        ([{"name": "a", "command": ["x"], "on_error": "ignore"}], "on_error must be block"),
        ([{"name": "a", "command": ["x"], "servers": "github"}], "servers must be a list"),
        ([{"name": "a", "command": ["x"], "tols": ["x"]}], "unknown settings: tols"),
        ([{"name": "a", "command": ["x"]}, {"name": "a", "url": "http://h/"}], "used twice"),
    ],
)
def test_bad_hook_config_is_refused_with_a_hint(data: Any, message: str) -> None:
    before = copy.deepcopy(data)
    with pytest.raises(InvalidInputError) as caught:
        hooks_from_config(data)
    assert message in caught.value.message
    assert caught.value.hint
    assert data == before
