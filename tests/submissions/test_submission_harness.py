"""``registry test`` on a real engine: real builds, real servers, real PyPI and npm.

Each fixture server (``servers/<kind>/server.py``) is committed to a local git
repository and submitted from there, pinned to its full commit, the way a registry
pull request would name a GitHub repository. Every test checks the verdict, the rule
of the check that failed, and that nothing is left behind: no container, no image
under ``mcpkit-submission/``, no temporary home.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcpkit.app import App
from mcpkit.errors import NotFoundError, RuntimeUnavailableError, UsageError
from mcpkit.registry.harness import test_submission
from mcpkit.registry.harness_env import IMAGE_REPOSITORY, PROFILE
from mcpkit.registry.report import Report
from mcpkit.registry.submission import load_submission
from mcpkit.runtime.engine import Engine

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SERVERS = Path(__file__).parent / "servers"
BASE_IMAGE = "mcpkit-test/base:bookworm"
NODE_BASE_IMAGE = "mcpkit-test/node-base:bookworm"
TIME_VERSION = "2026.10.19"
#: sha256 of mcp_server_time-2026.10.19-py3-none-any.whl on PyPI.
TIME_WHEEL_SHA256 = "sha256:5c099a001c6ca78260bda419f2e9b2aabee1adc4fe6ca56d8959871ad8da58a1"
MEMORY_VERSION = "2026.1.26"
#: sha256 of `npm pack @modelcontextprotocol/server-memory@2026.1.26` (its package.json says
#: MIT; later versions say 'SEE LICENSE IN LICENSE' and ship no such file).
MEMORY_TARBALL_SHA256 = "sha256:703f627b1670167574a1f119031816481be010d68b72ff09ca9b99d71e5ef524"
GARBAGE_KEY = "example-garbage-key-8c41f"
GOOD_TOKEN = "example-good-token-77d2e"

MIT = """MIT License

Copyright (c) 2026 mcpkit test fixtures

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Registry:
    """A registry folder of submissions, and what the tests need to run them."""

    root: Path
    environ: dict[str, str]
    repos: dict[str, tuple[Path, str]]

    def add(
        self, name: str, entry: dict[str, Any], tools: list[dict[str, Any]] | None = None
    ) -> Path:
        """Write ``servers/<name>/server.yaml`` (and tools.json)."""
        folder = self.root / "servers" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.yaml").write_text(yaml.safe_dump({"name": name, **entry}))
        if tools is not None:
            (folder / "tools.json").write_text(json.dumps(tools))
        return folder

    def git(self, kind: str) -> dict[str, str]:
        """A git source for the fixture server ``kind``, pinned to its full commit."""
        path, commit = self.repos[kind]
        return {"type": "git", "url": str(path), "commit": commit}

    async def test(self, name: str, **options: Any) -> Report:
        """Run ``registry test`` on ``servers/<name>`` and check nothing was left behind."""
        sub = load_submission(self.root / "servers" / name, root=self.root)
        app = App(self.environ)
        try:
            report = await test_submission(app, sub, **({"base": BASE_IMAGE} | options))
        finally:
            app.close()
        assert_nothing_left(self.environ, name)
        return report


def git_repo(where: Path, kind: str) -> tuple[Path, str]:
    """A repository holding the fixture server ``kind``, its Dockerfile and an MIT LICENSE."""
    repo = where / kind
    repo.mkdir()
    (repo / "server.py").write_bytes((SERVERS / kind / "server.py").read_bytes())
    (repo / "Dockerfile").write_bytes((SERVERS / "Dockerfile").read_bytes())
    (repo / "LICENSE").write_text(MIT)
    if kind == "good":
        # Also reachable under another name, for submissions that name their Dockerfile.
        (repo / "build").mkdir()
        (repo / "build" / "Dockerfile.mcp").write_bytes((SERVERS / "Dockerfile").read_bytes())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(where),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    }
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", f"{kind} fixture"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, timeout=30)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"],
        check=True, env=env, capture_output=True, text=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    return repo, head


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory,
    host_passthrough: dict[str, str],
    docker_target: Any,
) -> Registry:
    """One registry root for the module, a git repository per fixture server."""
    base = tmp_path_factory.mktemp("registry-test")
    (base / "home").mkdir()
    (base / "repos").mkdir()
    environ = {
        **host_passthrough,
        **docker_target.environ,
        "MCPKIT_HOME": str(base / "mcpkit"),
        "HOME": str(base / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    repos = {
        kind: git_repo(base / "repos", kind)
        for kind in ("good", "crash", "silent", "notools", "garbage")
    }
    return Registry(base / "registry", environ, repos)


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary folders of this test go under tmp_path, so leftovers can be seen."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    yield scratch
    left = sorted(p.name for p in scratch.glob("mcpkit-registry-test-*"))
    assert left == [], f"temporary homes left behind: {left}"


def assert_nothing_left(environ: dict[str, str], name: str) -> None:
    """No container of the test profile and no image under mcpkit-submission/<name>."""
    engine = Engine.from_environ(environ)
    try:
        containers = engine.call_sync(
            engine.api.containers,
            all=True,
            filters={"label": f"io.mcpkit.profile={PROFILE}"},
            what="list containers",
        )
        images = engine.call_sync(
            engine.api.images, name=f"{IMAGE_REPOSITORY}/{name}", what="list images"
        )
    finally:
        engine.close()
    assert containers == [], f"containers left behind: {[c['Names'] for c in containers]}"
    assert images == [], f"images left behind: {[i['RepoTags'] for i in images]}"


def failed(report: Report) -> dict[str, str | None]:
    """Each failed check's rule, by check name."""
    return {c.name: c.rule for c in report.checks if c.status == "fail"}


def statuses(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def git_entry(registry: Registry, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": kind.capitalize(),
        "description": f"The {kind} fixture server.",
        "license": "MIT",
        "source": registry.git(kind),
    } | extra


# --- servers built from git --------------------------------------------------------------


async def test_a_good_server_is_accepted_with_its_paged_tools_and_smoke_calls(
    registry: Registry,
) -> None:
    declared: list[dict[str, Any]] = [
        {"name": "echo", "description": "Return the text.", "annotations": {"readOnlyHint": True}},
        {"name": "reverse", "description": "Reverse the text."},
    ]
    entry = git_entry(
        registry,
        "good",
        secrets=[{"name": "good.token", "env": "GOOD_TOKEN"}],
        test={
            "secrets": {"good.token": GOOD_TOKEN},
            "timeout": 30,
            "calls": [
                {"tool": "echo", "arguments": {"text": f"hello {GOOD_TOKEN}"}},
                {"tool": "reverse", "arguments": {"text": "abc"}},
            ],
        },
    )
    registry.add("good", entry, tools=declared)
    report = await registry.test("good")
    assert report.verdict == "accepted", report.to_markdown()
    assert report.reasons == []
    assert [c.name for c in report.checks] == [
        "lint", "fetch", "build", "start", "initialize", "tools",
        "call:echo", "call:reverse", "stdout", "cleanup",
    ]  # fmt: skip
    assert set(statuses(report).values()) == {"pass"}
    assert [t["name"] for t in report.tools] == ["echo", "reverse"]  # both pages
    assert report.server_info["serverInfo"] == {"name": "good-fixture", "version": "1.0.0"}
    echo = report.check("call:echo")
    assert echo is not None and echo.detail == "hello ****"  # the example secret, redacted
    reverse = report.check("call:reverse")
    assert reverse is not None and reverse.detail == "cba"
    assert "reverse is not marked read-only" in reverse.warnings[0]
    assert echo.warnings == []
    text = json.dumps(report.to_dict()) + report.to_markdown()
    assert GOOD_TOKEN not in text
    assert all(c.seconds >= 0 for c in report.checks)


async def test_a_failing_smoke_call_rejects_and_a_named_dockerfile_is_built(
    registry: Registry,
) -> None:
    entry = git_entry(
        registry,
        "good",
        title="Echo Wrong",
        source=registry.git("good") | {"dockerfile": "build/Dockerfile.mcp"},
        network={"mode": "any"},
        test={"timeout": 30, "calls": [{"tool": "echo", "arguments": {}}, {"tool": "nope"}]},
    )
    registry.add("echo-wrong", entry)
    report = await registry.test("echo-wrong")
    assert report.verdict == "rejected"
    assert statuses(report)["build"] == "pass"
    start = report.check("start")
    assert start is not None and "(no network)" in start.detail
    assert "allows network (any)" in start.warnings[0]  # and still runs with none
    assert failed(report) == {"call:echo": "test.call-failed", "call:nope": "test.call-failed"}
    echo = report.check("call:echo")
    assert echo is not None and echo.detail == "isError: text is required"
    nope = report.check("call:nope")
    assert nope is not None and "no tool 'nope'" in nope.detail
    assert any(r.startswith("test.call-failed: call:echo") for r in report.reasons)


async def test_a_server_that_crashes_at_start_is_rejected_with_its_exit_code_and_stderr(
    registry: Registry,
) -> None:
    registry.add("crash", git_entry(registry, "crash", test={"timeout": 30}))
    report = await registry.test("crash")
    assert report.verdict == "rejected"
    assert failed(report) == {"initialize": "test.crash"}
    check = report.check("initialize")
    assert check is not None
    assert "exited with code 3" in check.detail
    assert "CRASH_FIXTURE_CONFIG is not set" in check.detail
    assert statuses(report)["tools"] == "skip"
    assert statuses(report)["cleanup"] == "pass"


async def test_a_server_that_never_answers_initialize_times_out(registry: Registry) -> None:
    registry.add("silent", git_entry(registry, "silent"))
    report = await registry.test("silent", timeout=5)
    assert report.verdict == "rejected"
    assert failed(report) == {"initialize": "test.initialize-timeout"}
    check = report.check("initialize")
    assert check is not None and 4.5 < check.seconds < 15
    assert "within the 5 s limit" in check.detail


async def test_a_server_with_no_tools_is_rejected(registry: Registry) -> None:
    registry.add("notools", git_entry(registry, "notools", test={"timeout": 30}))
    report = await registry.test("notools")
    assert report.verdict == "rejected"
    assert failed(report) == {"tools": "test.no-tools"}
    assert report.server_info["serverInfo"]["name"] == "notools-fixture"


async def test_garbage_on_stdout_is_rejected_and_quoted_without_the_secret(
    registry: Registry,
) -> None:
    entry = git_entry(
        registry,
        "garbage",
        secrets=[{"name": "garbage.key", "env": "GARBAGE_KEY"}],
        test={"secrets": {"garbage.key": GARBAGE_KEY}, "timeout": 30},
    )
    registry.add("garbage", entry)
    report = await registry.test("garbage")
    assert report.verdict == "rejected"
    assert failed(report) == {"stdout": "test.garbage-stdout"}
    check = report.check("stdout")
    assert check is not None
    assert "Garbage server 1.0 starting with key ****" in check.detail
    text = json.dumps(report.to_dict()) + report.to_markdown()
    assert GARBAGE_KEY not in text
    assert statuses(report)["tools"] == "pass"  # it works, but its stdout is not clean


async def test_a_test_plan_without_a_required_example_secret_is_rejected_before_building(
    registry: Registry,
) -> None:
    entry = git_entry(registry, "good", secrets=[{"name": "needs-secret.token", "env": "TOKEN"}])
    registry.add("needs-secret", entry)
    report = await registry.test("needs-secret")
    assert report.verdict == "rejected"
    assert failed(report) == {"build": "test.plan-invalid"}
    check = report.check("build")
    assert check is not None and "needs-secret.token" in check.detail


async def test_cancelling_a_test_still_removes_its_container_image_and_home(
    registry: Registry,
) -> None:
    registry.add("silent-cancel", git_entry(registry, "silent", title="Silent Cancel"))
    sub = load_submission(registry.root / "servers" / "silent-cancel", root=registry.root)
    started = asyncio.Event()

    def progress(line: str) -> None:
        if line.startswith("start: pass"):
            started.set()

    app = App(registry.environ)
    try:
        task = asyncio.create_task(
            test_submission(app, sub, base=BASE_IMAGE, timeout=60, progress=progress)
        )
        async with asyncio.timeout(60):
            await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        app.close()
    assert_nothing_left(registry.environ, "silent-cancel")


async def test_an_image_source_missing_from_the_engine_is_not_pulled_and_rejected(
    registry: Registry,
) -> None:
    image = "mcpkit-test/absent@sha256:" + "0" * 64
    entry = {
        "title": "Absent",
        "description": "An image nobody built.",
        "license": "MIT",
        "source": {"type": "image", "image": image},
    }
    registry.add("absent", entry)
    report = await registry.test("absent", offline=True)
    assert report.verdict == "rejected"
    assert failed(report) == {"build": "test.build-failed"}
    check = report.check("build")
    assert check is not None and "never pulls" in check.detail


async def test_a_lint_error_skips_every_other_check(registry: Registry) -> None:
    entry = git_entry(registry, "good") | {
        "source": {"type": "git", "url": registry.repos["good"][0].as_posix(), "commit": "main"}
    }
    registry.add("unpinned", entry)
    report = await registry.test("unpinned", offline=True)
    assert report.verdict == "rejected"
    assert failed(report) == {"lint": None}
    assert any(r.startswith("source.") for r in report.reasons), report.reasons
    skipped = [c for c in report.checks if c.name != "lint"]
    assert {c.status for c in skipped} == {"skip"}
    assert report.check("build") is not None


async def test_a_docker_format_submission_is_built_from_its_project_and_test_yaml(
    registry: Registry,
) -> None:
    path, commit = registry.repos["good"]
    folder = registry.root / "servers" / "good-docker"
    folder.mkdir(parents=True)
    server = {
        "name": "good-docker",
        "image": "mcp/good-docker",
        "type": "server",
        "meta": {"category": "devops", "tags": ["test"]},
        "about": {"title": "Good Docker", "description": "The good fixture, Docker's way."},
        "source": {"project": str(path), "commit": commit},
    }
    (folder / "server.yaml").write_text(yaml.safe_dump(server))
    plan = {"test": {"timeout": 30, "calls": [{"tool": "echo", "arguments": {"text": "hi"}}]}}
    (folder / "test.yaml").write_text(yaml.safe_dump(plan))
    tools = [{"name": "echo", "description": "Echo."}, {"name": "shout", "description": "Shout."}]
    (folder / "tools.json").write_text(json.dumps(tools))
    report = await registry.test("good-docker")
    assert report.verdict == "accepted", report.to_markdown()  # a mismatch only warns
    assert report.format == "docker"
    check = report.check("tools")
    assert check is not None and check.warnings == [
        "test.tools-mismatch: listed but not declared: reverse; declared but not listed: shout"
    ]
    echo = report.check("call:echo")
    assert echo is not None and echo.detail == "hi"


async def test_no_engine_is_the_testers_problem_raised_after_cleaning_up(
    registry: Registry, tmp_path: Path
) -> None:
    registry.add("no-engine", git_entry(registry, "good", title="No Engine"))
    sub = load_submission(registry.root / "servers" / "no-engine", root=registry.root)
    environ = registry.environ | {"DOCKER_HOST": f"unix://{tmp_path}/absent.sock"}
    app = App(environ)
    try:
        with pytest.raises(RuntimeUnavailableError) as caught:
            await test_submission(app, sub, base=BASE_IMAGE)
    finally:
        app.close()
    assert "absent.sock" in caught.value.message
    assert caught.value.hint


async def test_a_missing_base_image_is_raised_not_judged(registry: Registry) -> None:
    registry.add("no-base", git_entry(registry, "good", title="No Base"))
    sub = load_submission(registry.root / "servers" / "no-base", root=registry.root)
    app = App(registry.environ)
    try:
        with pytest.raises(NotFoundError) as caught:
            await test_submission(app, sub, base="mcpkit-test/absent-base:none")
    finally:
        app.close()
    assert caught.value.code == "base-image-missing"
    assert "mcpkit-test/absent-base:none" in caught.value.message
    assert_nothing_left(registry.environ, "no-base")


async def test_an_unknown_build_network_is_a_usage_error_before_anything_runs(
    registry: Registry,
) -> None:
    registry.add("bad-network", git_entry(registry, "good", title="Bad Network"))
    sub = load_submission(registry.root / "servers" / "bad-network", root=registry.root)
    app = App(registry.environ)
    try:
        with pytest.raises(UsageError) as caught:
            await test_submission(app, sub, build_network="bridge")
    finally:
        app.close()
    assert "none or host, not 'bridge'" in caught.value.message
    assert caught.value.hint


# --- remote servers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def remote_servers() -> Iterator[dict[str, str]]:
    """The remote fixture on 127.0.0.1, open and needing a token; their URLs."""
    script = str(SERVERS / "remote" / "server.py")
    procs = {
        "open": subprocess.Popen(
            [sys.executable, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ),
        "token": subprocess.Popen(
            [sys.executable, script, "--require-token"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ),
    }
    try:
        urls = {}
        for kind, proc in procs.items():
            assert proc.stdout is not None
            urls[kind] = f"http://127.0.0.1:{proc.stdout.readline().strip()}/mcp"
        yield urls
    finally:
        for proc in procs.values():
            with proc:  # closes its pipes
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(timeout=10)


def remote_entry(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Remote Fixture",
        "description": "A hosted fixture server.",
        "license": "MIT",
        "source": {"type": "remote", "url": url, "transport": "streamable-http"},
    } | extra


async def test_a_remote_server_is_tested_over_http_without_a_container(
    registry: Registry, remote_servers: dict[str, str]
) -> None:
    calls = [{"tool": "now", "arguments": {}}]
    registry.add("remote-open", remote_entry(remote_servers["open"], test={"calls": calls}))
    report = await registry.test("remote-open", offline=True, allow_insecure_remote=True)
    assert report.verdict == "accepted", report.to_markdown()
    assert statuses(report) == {
        "lint": "pass", "build": "skip", "start": "pass", "initialize": "pass",
        "tools": "pass", "call:now": "pass", "stdout": "skip", "cleanup": "pass",
    }  # fmt: skip
    assert [t["name"] for t in report.tools] == ["now"]


async def test_a_remote_server_that_needs_sign_in_passes_with_declared_tools_only(
    registry: Registry, remote_servers: dict[str, str]
) -> None:
    declared: list[dict[str, Any]] = [
        {"name": "now", "description": "The time.", "annotations": {"readOnlyHint": True}}
    ]
    url = remote_servers["token"]
    registry.add("remote-declared", remote_entry(url, test={"tools": "declared"}), declared)
    registry.add("remote-listed", remote_entry(url), declared)
    report = await registry.test("remote-declared", offline=True, allow_insecure_remote=True)
    assert report.verdict == "accepted", report.to_markdown()
    assert statuses(report) == {
        "lint": "pass", "build": "skip", "start": "pass", "initialize": "skip",
        "tools": "pass", "stdout": "skip", "cleanup": "pass",
    }  # fmt: skip
    assert list(statuses(report)) == [c.name for c in report.checks]  # in the order run
    tools = report.check("tools")
    assert tools is not None and tools.status == "pass" and "declared" in tools.detail
    assert [t["name"] for t in report.tools] == ["now"]
    listed = await registry.test("remote-listed", offline=True, allow_insecure_remote=True)
    assert listed.verdict == "rejected"
    assert failed(listed) == {"initialize": "test.initialize-failed"}
    check = listed.check("initialize")
    assert check is not None and "sign-in" in check.detail


async def test_a_remote_server_on_a_private_address_is_refused_by_default(
    registry: Registry, remote_servers: dict[str, str]
) -> None:
    registry.add("remote-guarded", remote_entry(remote_servers["open"]))
    report = await registry.test("remote-guarded", offline=True)
    assert report.verdict == "rejected"
    assert failed(report) == {"start": "test.start-failed"}


# --- real packages ----------------------------------------------------------------------------


async def test_a_real_pypi_server_is_accepted(registry: Registry) -> None:
    entry = {
        "title": "Time",
        "description": "Current time and time-zone conversions.",
        "license": "MIT",
        "source": {
            "type": "package",
            "registry": "pypi",
            "name": "mcp-server-time",
            "version": TIME_VERSION,
            "hashes": [TIME_WHEEL_SHA256],
        },
        "test": {"calls": [{"tool": "get_current_time", "arguments": {"timezone": "UTC"}}]},
    }
    registry.add("time", entry)
    report = await registry.test("time")
    assert report.verdict == "accepted", report.to_markdown()
    assert {"get_current_time", "convert_time"} <= {t["name"] for t in report.tools}
    call = report.check("call:get_current_time")
    assert call is not None and '"timezone": "UTC"' in call.detail
    build = report.check("build")
    assert build is not None and f"mcp-server-time {TIME_VERSION}" in build.detail


async def test_a_real_npm_server_is_accepted(registry: Registry) -> None:
    entry = {
        "title": "Memory",
        "description": "A knowledge graph kept in a file.",
        "license": "MIT",
        "source": {
            "type": "package",
            "registry": "npm",
            "name": "@modelcontextprotocol/server-memory",
            "version": MEMORY_VERSION,
            "hashes": [MEMORY_TARBALL_SHA256],
        },
        "test": {"calls": [{"tool": "read_graph", "arguments": {}}]},
    }
    registry.add("memory", entry)
    report = await registry.test("memory", base=NODE_BASE_IMAGE)
    assert report.verdict == "accepted", report.to_markdown()
    assert "read_graph" in {t["name"] for t in report.tools}
    call = report.check("call:read_graph")
    assert call is not None and call.status == "pass"
    # This version does not annotate its tools: the reviewer is told.
    assert "read_graph is not marked read-only" in call.warnings[0]
