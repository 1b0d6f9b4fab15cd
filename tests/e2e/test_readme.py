"""The README's commands are run here, so they cannot drift."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcpkit.runtime.engine import Engine

if TYPE_CHECKING:
    from conftest import Run

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def _quickstart() -> list[str]:
    block = re.search(r"<!-- quickstart:begin -->(.*?)<!-- quickstart:end -->", README, re.S)
    assert block, "README lost its quickstart markers"
    lines = [ln.split("#")[0].strip() for ln in block.group(1).splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("```")]


def _tour() -> list[list[str]]:
    block = re.search(r"## A tour\n\n```sh\n(.*?)```", README, re.S)
    assert block, "README lost its tour"
    commands = [shlex.split(ln.split("  #")[0]) for ln in block.group(1).splitlines()]
    return [c for c in commands if c]


def test_the_readme_has_exactly_two_setup_commands() -> None:
    assert _quickstart() == ["make run", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _quickstart()[1] in ci.splitlines()


@pytest.mark.e2e
@pytest.mark.anyio
async def test_the_readme_run_command_serves_the_default_profile_to_an_sdk_client(
    tmp_path: Path, package_cache: Path
) -> None:
    env = {
        **os.environ,
        "MCPKIT_HOME": str(tmp_path / "home"),
        "MCPKIT_CACHE_DIR": str(package_cache),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PORT": "0",
    }
    env.pop("MCPKIT_GATEWAY_TOKEN", None)
    # Popen only forks; the gateway then runs beside the test until it is stopped below.
    proc = subprocess.Popen(  # noqa: ASYNC220
        shlex.split(_quickstart()[0]),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        url, token = _gateway_address(proc)
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            assert "get_current_time" in tools
            result = await client.call_tool("get_current_time", {"timezone": "Europe/Paris"})
            assert not result.is_error
            assert "Europe/Paris" in str(result.structured_content)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def _gateway_address(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The URL and token the gateway prints on stderr (bounded by the process's output)."""
    assert proc.stderr is not None
    token = url = None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if found := re.search(r"bearer token for this gateway: (\S+)", line):
            token = found.group(1)
        if found := re.search(r"at (http://\S+/mcp)", line):
            url = found.group(1)
        if url and token:
            return url, token
    raise AssertionError("the gateway did not start:\n" + "".join(lines))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _registry_up() -> bool:
    try:
        with urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=5):
            return True
    except OSError:
        return False


def test_every_tour_command_runs(
    run: Run, gateway_environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Tools are called through a real gateway, which installs the server from PyPI.
    run.environ.update(gateway_environ)
    run.environ["MCPKIT_SIGNING_PASSPHRASE"] = "readme tour passphrase"
    # The registry commands read the example registry; import reads a Claude Desktop config.
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    desktop = Path(run.environ["HOME"]) / ".config" / "Claude" / "claude_desktop_config.json"
    desktop.parent.mkdir(parents=True)
    desktop.write_text(
        '{"mcpServers": {"notes": {"command": "uvx", "args": ["my-notes-server"],'
        ' "env": {"NOTES_TOKEN": "ghp_tourvalue123456tourvalue123456tour"}}}}'
    )
    pushed: str | None = None  # the digest reference `build --sign` printed
    ran = 0
    for line in _tour():
        argv = list(line)
        assert argv[0] == "mcpkit"
        if any(a.startswith("http") for a in argv):
            continue  # sources on the internet: covered against a local server elsewhere
        if argv[1:3] == ["gateway", "run"]:
            continue  # serves until stopped: the run command's test drives a real one
        if argv[1:3] == ["oauth", "authorize"]:
            continue  # a hosted server on the internet: tests/oauth signs in to a local one
        if argv[1] == "build" or argv[1:3] == ["registry", "test"]:
            # No registry here to pull the default base from: build on the local test base.
            if not Engine.from_environ(run.environ).ping_quick() and not os.environ.get("CI"):
                continue
            argv = [a for a in argv if a != "--pull"] + ["--base", "mcpkit-test/base:bookworm"]
        if any(a.startswith("127.0.0.1:5000/") for a in argv) and not _registry_up():
            continue  # scripts/container-env.sh starts it (CI always has it)
        if "@sha256:…" in " ".join(argv):
            if pushed is None:
                continue
            argv = [pushed if a.endswith("@sha256:…") else a for a in argv]
        stdin = "ghp_tourvalue123456\n" if argv[1:3] == ["secret", "set"] else None
        result = run(*argv[1:], input=stdin)
        if argv[1] == "build" and "--sign" in argv:
            pushed = next(
                line.split()[1] for line in result.stdout.splitlines() if line.startswith("pushed ")
            )
        _check_tour_output(argv, result.stdout, run, tmp_path)
        ran += 1
    assert ran >= 25


def _check_tour_output(argv: list[str], stdout: str, run: Run, tmp_path: Path) -> None:
    """What some tour commands must have done, beyond exiting 0."""
    if argv[1:3] == ["tools", "call"]:
        assert "Europe/Paris" in stdout
    if argv[1:3] == ["profile", "pull"]:
        assert "ok   signature" in stdout
    if argv[1:3] == ["registry", "test"]:
        assert (tmp_path / "reports" / "time.json").is_file()
    if argv[1:3] == ["client", "connect"]:
        assert "mcpkit" in (Path(run.environ["HOME"]) / ".cursor" / "mcp.json").read_text()
    if argv[1:3] == ["profile", "import"] and "--from-client" in argv:
        assert "ghp_tourvalue" not in stdout + run("profile", "export", "desk").stdout
