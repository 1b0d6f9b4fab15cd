"""Shared fixtures for submission tests: the anyio backend and helpers that write
submission folders and local git repositories (the way a registry pull request would
name a GitHub repository, minus the network)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

#: Real PyPI package pinned by the tests: version and sha256 of its wheel (checked
#: against PyPI with pip download when these tests were written).
TIME_VERSION = "2026.10.19"
TIME_WHEEL_SHA256 = "sha256:5c099a001c6ca78260bda419f2e9b2aabee1adc4fe6ca56d8959871ad8da58a1"
#: Real npm package pinned by the tests: version and sha256 of its `npm pack` tarball.
MEMORY_VERSION = "2026.1.26"
MEMORY_TARBALL_SHA256 = "sha256:703f627b1670167574a1f119031816481be010d68b72ff09ca9b99d71e5ef524"

MIT_TEXT = """MIT License

Copyright (c) 2025 Example Authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""

GPL3_HEADER = """Example MCP server
Copyright (C) 2025 Example Authors

This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.

This program is distributed in the hope that it will be useful,
but WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
GNU General Public License for more details.

You should have received a copy of the GNU General Public License
along with this program.  If not, see <https://www.gnu.org/licenses/>.
"""

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests of this folder run on asyncio."""
    return "asyncio"


@dataclass(frozen=True)
class Helpers:
    """Helpers and fixed texts the submission tests share (conftest is not importable)."""

    time_version: str = TIME_VERSION
    time_wheel_sha256: str = TIME_WHEEL_SHA256
    memory_version: str = MEMORY_VERSION
    memory_tarball_sha256: str = MEMORY_TARBALL_SHA256
    mit_text: str = MIT_TEXT
    gpl3_header: str = GPL3_HEADER

    @staticmethod
    def make_repo(path: Path, files: dict[str, str]) -> str:
        """See :func:`make_repo`."""
        return make_repo(path, files)

    @staticmethod
    def git(repo: Path, *args: str) -> str:
        """See :func:`git`."""
        return git(repo, *args)

    @staticmethod
    def write_submission(
        root: Path, folder: str, data: dict[str, Any], files: dict[str, str | bytes] | None = None
    ) -> Path:
        """See :func:`write_submission`."""
        return write_submission(root, folder, data, files)


@pytest.fixture(scope="session")
def helpers() -> Helpers:
    """The shared helpers (:class:`Helpers`)."""
    return Helpers()


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity; its stdout."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(repo.parent), **_GIT_ENV}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> str:
    """A local git repository at ``path`` holding ``files``, committed; the commit."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return git(path, "rev-parse", "HEAD")


def write_submission(
    root: Path, folder: str, data: dict[str, Any], files: dict[str, str | bytes] | None = None
) -> Path:
    """``root/servers/<folder>/server.yaml`` with ``data``, plus other files."""
    target = root / "servers" / folder
    target.mkdir(parents=True)
    (target / "server.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for name, content in (files or {}).items():
        path = target / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return target
