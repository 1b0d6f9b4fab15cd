"""Fetching pinned sources: local git repositories, and real packages from PyPI and npm
(one small download each; the pins were checked against the registries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpkit.errors import SourceError
from mcpkit.registry.findings import has_errors
from mcpkit.registry.lint import lint_submission
from mcpkit.registry.sources import HASH_MISMATCH, fetch_source
from mcpkit.registry.submission import Submission, load_submission

pytestmark = pytest.mark.anyio


def submission(tmp_path: Path, helpers: Any, source: dict[str, Any], **extra: Any) -> Submission:
    data = {
        "name": "sample",
        "title": "Sample",
        "description": "A sample server.",
        "license": "MIT",
        "source": source,
        **extra,
    }
    folder = helpers.write_submission(tmp_path / "registry", "sample", data)
    return load_submission(folder, root=tmp_path / "registry")


def package(registry: str, name: str, version: str, sha: str) -> dict[str, Any]:
    return {"type": "package", "registry": registry, "name": name, "version": version,
            "hashes": [sha]}  # fmt: skip


async def test_a_local_git_commit_is_checked_out_with_its_directory_and_licence(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    repo = tmp_path / "upstream"
    first = helpers.make_repo(
        repo, {"LICENSE": helpers.mit_text, "src/sample/server.py": "VERSION = 1\n"}
    )
    # A later commit on the branch: the pinned (older) commit must be what is checked out.
    (repo / "src/sample/server.py").write_text("VERSION = 2\n")
    helpers.git(repo, "commit", "-qam", "second")
    source = {"type": "git", "url": str(repo), "commit": first, "directory": "src/sample"}
    sub = submission(tmp_path, helpers, source)
    fetched = await fetch_source(sub, tmp_path / "work", environ)
    assert (fetched.license, fetched.license_origin) == ("MIT", "LICENSE")
    assert fetched.path is not None
    assert fetched.path.is_relative_to(tmp_path / "work")
    assert fetched.path.name == "sample"
    assert (fetched.path / "server.py").read_text() == "VERSION = 1\n"
    assert fetched.artifact == f"{repo}@{first}"


async def test_a_file_url_works_like_a_path(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    repo = tmp_path / "upstream"
    commit = helpers.make_repo(repo, {"LICENSE.md": helpers.mit_text})
    sub = submission(tmp_path, helpers, {"type": "git", "url": f"file://{repo}", "commit": commit})
    fetched = await fetch_source(sub, tmp_path / "work", environ)
    assert (fetched.license, fetched.license_origin) == ("MIT", "LICENSE.md")


async def test_a_commit_that_is_not_in_the_repository_cannot_be_fetched(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    repo = tmp_path / "upstream"
    helpers.make_repo(repo, {"LICENSE": helpers.mit_text})
    source = {"type": "git", "url": str(repo), "commit": "f" * 40}
    sub = submission(tmp_path, helpers, source)
    with pytest.raises(SourceError) as caught:
        await fetch_source(sub, tmp_path / "work", environ)
    assert f"could not fetch {repo}" in caught.value.message
    assert caught.value.hint is not None
    assert "source.commit exists" in caught.value.hint
    findings = await lint_submission(sub, environ=environ, workdir=tmp_path / "lint")
    assert [(f.rule, f.where) for f in findings] == [
        ("source.unavailable", "servers/sample/server.yaml:source")
    ]


async def test_a_directory_outside_the_checkout_is_refused(
    tmp_path: Path, helpers: Any, environ: dict[str, str]
) -> None:
    repo = tmp_path / "upstream"
    commit = helpers.make_repo(repo, {"LICENSE": helpers.mit_text})
    source = {"type": "git", "url": str(repo), "commit": commit, "directory": "../.."}
    with pytest.raises(SourceError, match="is not a folder inside the repository"):
        await fetch_source(submission(tmp_path, helpers, source), tmp_path / "work", environ)


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "--upload-pack=touch", "rel/path"])
async def test_git_urls_that_could_run_commands_are_refused(
    tmp_path: Path, helpers: Any, environ: dict[str, str], url: str
) -> None:
    sub = submission(tmp_path, helpers, {"type": "git", "url": url, "commit": "a" * 40})
    with pytest.raises(SourceError, match="is not a git URL mcpkit fetches") as caught:
        await fetch_source(sub, tmp_path / "work", environ)
    assert caught.value.hint is not None
    assert "https://" in caught.value.hint
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.pack"))


async def test_a_pinned_pypi_wheel_is_downloaded_checked_and_its_licence_read(
    tmp_path: Path, helpers: Any, gateway_environ: dict[str, str]
) -> None:
    source = package("pypi", "mcp-server-time", helpers.time_version, helpers.time_wheel_sha256)
    sub = submission(tmp_path, helpers, source)
    fetched = await fetch_source(sub, tmp_path / "work", gateway_environ)
    assert fetched.license == "MIT"
    assert fetched.license_origin.startswith("License in METADATA of mcp_server_time-")
    assert fetched.artifact is not None
    assert helpers.time_wheel_sha256 in fetched.artifact
    findings = await lint_submission(sub, environ=gateway_environ, workdir=tmp_path / "lint")
    assert not has_errors(findings), findings


async def test_a_pypi_wheel_with_another_hash_is_a_hash_mismatch(
    tmp_path: Path, helpers: Any, gateway_environ: dict[str, str]
) -> None:
    source = package("pypi", "mcp-server-time", helpers.time_version, "sha256:" + "0" * 64)
    sub = submission(tmp_path, helpers, source)
    with pytest.raises(SourceError) as caught:
        await fetch_source(sub, tmp_path / "work", gateway_environ)
    assert caught.value.code == HASH_MISMATCH
    assert "does not match the pinned hashes" in caught.value.message
    findings = await lint_submission(sub, environ=gateway_environ, workdir=tmp_path / "lint")
    assert [(f.rule, f.where) for f in findings] == [
        ("source.hash-mismatch", "servers/sample/server.yaml:source")
    ]


async def test_a_pinned_npm_tarball_is_packed_checked_and_its_licence_read(
    tmp_path: Path, helpers: Any, gateway_environ: dict[str, str]
) -> None:
    name = "@modelcontextprotocol/server-memory"
    source = package("npm", name, helpers.memory_version, helpers.memory_tarball_sha256)
    sub = submission(tmp_path, helpers, source)
    fetched = await fetch_source(sub, tmp_path / "work", gateway_environ)
    assert fetched.license == "MIT"
    assert fetched.license_origin == (
        f"package.json of modelcontextprotocol-server-memory-{helpers.memory_version}.tgz"
    )
    # A wrong pin is caught on the very tarball npm packed.
    wrong = submission(
        tmp_path / "b", helpers, package("npm", name, helpers.memory_version, "sha256:" + "0" * 64)
    )
    findings = await lint_submission(wrong, environ=gateway_environ, workdir=tmp_path / "lint")
    assert [(f.rule, f.where) for f in findings] == [
        ("source.hash-mismatch", "servers/sample/server.yaml:source")
    ]
