"""The README's commands are run here, so they cannot drift."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

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
def test_the_readme_run_command_lists_the_catalog(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MCPKIT_HOME": str(tmp_path / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    result = subprocess.run(
        shlex.split(_quickstart()[0]),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^time\s+pypi", result.stdout, re.M)
    assert "☁ remote" in result.stdout


def test_every_tour_command_runs(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ran = 0
    for argv in _tour():
        assert argv[0] == "mcpkit"
        if any(a.startswith("http") for a in argv):
            continue  # sources on the internet: covered against a local server elsewhere
        stdin = "ghp_tourvalue123456\n" if argv[1:3] == ["secret", "set"] else None
        run(*argv[1:], input=stdin)
        ran += 1
    assert ran >= 15
