"""The registry gate as a maintainer runs it: one folder of submissions, the CLI, the reports.

The folder holds a good server and every kind of broken one the issue names (bad name,
unpinned source, GPL licence, crash at start, never answers initialize, no tools, garbage
on stdout), each built from a local git repository with the fixture servers of
``servers/``. ``registry test`` must reject each for its own reason, write a JSON and a
Markdown report per server, and exit 14; ``registry catalog --reports`` must then keep
only the accepted server.

Cost (2 cores): ~8 tiny image builds and starts, plus the never-answering server's limit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mcpkit.cli.main import cli

pytestmark = [pytest.mark.e2e]

SERVERS = Path(__file__).parent / "servers"
BASE_IMAGE = "mcpkit-test/base:bookworm"
TIMEOUT = "8"

#: name → (fixture server, licence text, pinned?, the rule that must reject it or None).
CASES: dict[str, tuple[str, str, bool, str | None]] = {
    "good": ("good", "mit", True, None),
    "Bad_Name": ("good", "mit", True, "name.form"),
    "unpinned": ("good", "mit", False, "source.unpinned"),
    "gpl": ("good", "gpl", True, "license.not-permissive"),
    "crash": ("crash", "mit", True, "test.crash"),
    "silent": ("silent", "mit", True, "test.initialize-timeout"),
    "notools": ("notools", "mit", True, "test.no-tools"),
    "garbage": ("garbage", "mit", True, "test.garbage-stdout"),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, helpers: Any) -> Path:
    """``servers/<name>/server.yaml`` for every case, each from its own git repository."""
    base = tmp_path_factory.mktemp("gate")
    root = base / "registry"
    licences = {"mit": helpers.mit_text, "gpl": helpers.gpl3_header}
    for name, (kind, licence, pinned, _) in CASES.items():
        commit = helpers.make_repo(
            base / "repos" / name,
            {
                "server.py": (SERVERS / kind / "server.py").read_text(),
                "Dockerfile": (SERVERS / "Dockerfile").read_text(),
                "LICENSE": licences[licence],
            },
        )
        helpers.write_submission(
            root,
            name,
            {
                "name": name,
                "title": name.replace("_", " ").title(),
                "description": f"The {kind} fixture server.",
                "license": "MIT",
                "source": {
                    "type": "git",
                    "url": str(base / "repos" / name),
                    "commit": commit if pinned else "main",
                },
                "test": {"calls": [{"tool": "echo", "arguments": {"text": "hi"}}]}
                if kind == "good"
                else {},
            },
        )
    return root


def _mcpkit(environ: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=environ, catch_exceptions=False)


def test_registry_test_rejects_each_broken_submission_for_its_own_reason(
    registry: Path,
    tmp_path: Path,
    gateway_environ: dict[str, str],
    docker_target: Any,
) -> None:
    environ = {**gateway_environ, **docker_target.environ}
    reports = tmp_path / "reports"
    result = _mcpkit(
        environ,
        "registry", "test", str(registry), "--base", BASE_IMAGE,
        "--timeout", TIMEOUT, "--report", str(reports),
    )  # fmt: skip
    assert result.exit_code == 14, result.output
    assert "7 of 8 submissions rejected" in result.stderr
    for name, (_, _, _, rule) in CASES.items():
        data = json.loads((reports / f"{name}.json").read_text())
        markdown = (reports / f"{name}.md").read_text()
        assert f"`{name}`" in markdown
        if rule is None:
            assert data["verdict"] == "accepted", data["reasons"]
            assert [t["name"] for t in data["tools"]]
            assert next(c for c in data["checks"] if c["name"] == "call:echo")["status"] == "pass"
        else:
            assert data["verdict"] == "rejected", name
            assert any(reason.startswith(rule) for reason in data["reasons"]), (
                name,
                data["reasons"],
            )
        # Every check is timed, and the ephemeral container and image went away.
        assert all(isinstance(c["seconds"], float) for c in data["checks"])
        cleanup = [c for c in data["checks"] if c["name"] == "cleanup"]
        assert all(c["status"] in ("pass", "skip") for c in cleanup)
    images = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}", "mcpkit-submission/*"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert images == []

    # The catalog keeps only what the reports accepted.
    out = tmp_path / "catalog.yaml"
    built = _mcpkit(
        environ,
        "registry", "catalog", str(registry), "--name", "team",
        "--reports", str(reports), "-o", str(out), "--image-prefix", "127.0.0.1:5000/mcp",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    catalog = yaml.safe_load(out.read_text())
    assert [s["id"] for s in catalog["servers"]] == ["good"]
    good = catalog["servers"][0]
    assert good["source"]["image"] == "127.0.0.1:5000/mcp/good"
    assert good["attestation"]["source"].startswith("git+")
    for name in CASES:
        if name != "good":
            assert f"left out {name}:" in built.stderr
