"""Installing server packages from PyPI and npm, for real, into per-version environments."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import httpx
import pytest

from mcpkit.catalog.model import PackageSource
from mcpkit.errors import InstallError, RuntimeUnavailableError
from mcpkit.runtime.install import MARKER, InstalledPackage, ensure_installed, env_dir_for

pytestmark = pytest.mark.anyio

TIME = "mcp-server-time"


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


def test_a_pypi_server_is_installed_into_its_own_environment(
    time_server: InstalledPackage, package_cache: Path
) -> None:
    env_dir = package_cache / "envs" / "pypi" / TIME / "latest"
    marker = json.loads((env_dir / MARKER).read_text())

    assert time_server.env_dir == env_dir
    assert time_server.executable == env_dir / "bin" / TIME
    assert time_server.executable.is_file()
    assert marker["version"] == time_server.version
    assert marker["installer"] == "uv"
    # The venv is made from /usr/bin/python3, so /usr is all a sandbox must add.
    assert (env_dir / "bin" / "python").resolve().is_relative_to("/usr")
    assert time_server.extra_ro_paths == ()


async def test_a_second_install_reuses_the_environment_without_an_installer(
    time_server: InstalledPackage, package_cache: Path, host_environ: dict[str, str]
) -> None:
    marker = time_server.env_dir / MARKER
    before = marker.stat().st_mtime_ns
    lines: list[str] = []

    again = await ensure_installed(
        PackageSource(registry="pypi", name=TIME), package_cache, lines.append, host_environ
    )

    assert again == time_server
    assert lines == []  # no installer ran, so nothing was reported
    assert marker.stat().st_mtime_ns == before


async def test_a_half_finished_install_is_removed_and_done_again(
    time_server: InstalledPackage, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(registry="pypi", name=TIME, version=time_server.version)
    env_dir = env_dir_for(source, tmp_path)
    env_dir.mkdir(parents=True)
    (env_dir / "left-over").write_text("from an install that was killed")
    lines: list[str] = []

    done = await ensure_installed(source, tmp_path, lines.append, host_environ)

    assert not (env_dir / "left-over").exists()
    assert (env_dir / MARKER).is_file()
    assert done.executable.is_file()
    assert lines[0] == f"installing {TIME}=={time_server.version} with uv…"
    assert lines[-1].startswith(f"installed {TIME}=={time_server.version} in ")


async def test_concurrent_installs_of_one_package_install_it_once(
    time_server: InstalledPackage, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(registry="pypi", name=TIME, version=time_server.version)
    first: list[str] = []
    second: list[str] = []

    a, b = await asyncio.gather(
        ensure_installed(source, tmp_path, first.append, host_environ),
        ensure_installed(source, tmp_path, second.append, host_environ),
    )

    assert a == b
    assert [line for line in first + second if line.startswith("installing")] == [
        f"installing {TIME}=={time_server.version} with uv…"
    ]
    assert second == [f"waiting for another install of {TIME}=={time_server.version}…"]


async def test_pip_installs_when_uv_is_not_used(
    time_server: InstalledPackage, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(registry="pypi", name=TIME, version=time_server.version)
    lines: list[str] = []

    done = await ensure_installed(source, tmp_path, lines.append, host_environ, installer="pip")

    marker = json.loads((done.env_dir / MARKER).read_text())
    assert marker["installer"] == "pip"
    assert done.executable.is_file()
    assert lines[0].endswith("with pip…")


async def test_an_unknown_package_fails_with_the_installer_output_and_a_hint(
    tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(registry="pypi", name="mcpkit-no-such-package-4f2a9c")

    with pytest.raises(InstallError) as err:
        await ensure_installed(source, tmp_path, None, host_environ)

    assert "installing mcpkit-no-such-package-4f2a9c with uv failed" in err.value.message
    assert "mcpkit-no-such-package-4f2a9c" in err.value.message.splitlines()[-1]
    assert err.value.hint is not None
    assert "mcpkit doctor" in err.value.hint
    assert "pypi.org/project/mcpkit-no-such-package-4f2a9c" in err.value.hint
    assert not env_dir_for(source, tmp_path).exists()


async def test_installer_errors_never_show_index_credentials(
    tmp_path: Path, host_environ: dict[str, str]
) -> None:
    secret_index = "http://127.0.0.1:9/tok3n-value-123/simple"  # nothing listens on port 9
    environ = host_environ | {"UV_INDEX_URL": secret_index, "UV_HTTP_RETRIES": "0"}
    source = PackageSource(registry="pypi", name="mcpkit-no-such-package-4f2a9c")

    with pytest.raises(InstallError) as err:
        await ensure_installed(source, tmp_path, None, environ, installer="uv")

    assert "tok3n-value-123" not in err.value.message
    assert "***" in err.value.message


async def test_a_hash_mismatch_fails_and_leaves_nothing_installed(
    time_server: InstalledPackage, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(
        registry="pypi", name=TIME, version=time_server.version, hashes=["sha256:" + "0" * 64]
    )

    with pytest.raises(InstallError) as err:
        await ensure_installed(source, tmp_path, None, host_environ)

    assert "failed" in err.value.message
    assert err.value.hint is not None
    assert "hash" in err.value.hint
    assert not env_dir_for(source, tmp_path).exists()


async def test_a_matching_pinned_hash_installs(
    time_server: InstalledPackage, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    # PyPI's simple index lists every artifact with its sha256, as HTML or JSON (PEP 691).
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.get(f"https://pypi.org/simple/{TIME}/")
    answer.raise_for_status()
    artifact = f"{TIME.replace('-', '_')}-{time_server.version}"
    if "json" in answer.headers.get("content-type", ""):
        files = [(f["filename"], f["hashes"]["sha256"]) for f in answer.json()["files"]]
    else:
        files = re.findall(r'/([^/"#]+)#sha256=([0-9a-f]{64})"', answer.text)
    hashes = [f"sha256:{digest}" for name, digest in files if name.startswith(artifact)]
    assert hashes
    source = PackageSource(registry="pypi", name=TIME, version=time_server.version, hashes=hashes)

    done = await ensure_installed(source, tmp_path, None, host_environ)

    assert done.executable.is_file()
    assert json.loads((done.env_dir / MARKER).read_text())["hashes"] == sorted(hashes)


async def test_changed_hashes_in_the_catalog_cause_a_checked_reinstall(
    time_server: InstalledPackage, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    plain = PackageSource(registry="pypi", name=TIME, version=time_server.version)
    await ensure_installed(plain, tmp_path, None, host_environ)
    pinned = plain.model_copy(update={"hashes": ["sha256:" + "1" * 64]})

    with pytest.raises(InstallError):
        await ensure_installed(pinned, tmp_path, None, host_environ)

    assert not (env_dir_for(plain, tmp_path) / MARKER).exists()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "../escape", "not a valid pypi package name"),
        ("name", "--index-url=http://evil", "not a valid pypi package name"),
        ("version", "1.0 ; rm -rf /", "not an exact version"),
        ("version", ">=1.0", "not an exact version"),
        ("entrypoint", "../../bin/sh", "plain executable name"),
    ],
)
async def test_bad_package_fields_are_refused_before_any_installer_runs(
    field: str, value: str, words: str, tmp_path: Path, host_environ: dict[str, str]
) -> None:
    fields = {"registry": "pypi", "name": TIME, field: value}
    source = PackageSource.model_validate(fields)

    with pytest.raises(InstallError) as err:
        await ensure_installed(source, tmp_path, None, host_environ)

    assert words in err.value.message
    assert err.value.hint is not None
    assert _files(tmp_path) == []


async def test_hashes_without_a_version_are_refused(
    tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(registry="pypi", name=TIME, hashes=["sha256:" + "0" * 64])

    with pytest.raises(InstallError, match="pins hashes but no version"):
        await ensure_installed(source, tmp_path, None, host_environ)


async def test_a_missing_entrypoint_lists_the_executables_the_package_has(
    time_server: InstalledPackage, package_cache: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(registry="pypi", name=TIME, entrypoint="not-there")

    with pytest.raises(InstallError) as err:
        await ensure_installed(source, package_cache, None, host_environ)

    assert "no executable 'not-there'" in err.value.message
    assert TIME in err.value.message
    assert err.value.hint is not None
    assert "entrypoint" in err.value.hint
    assert time_server.executable.is_file()


async def test_an_npm_package_without_npm_on_path_says_what_to_install(tmp_path: Path) -> None:
    source = PackageSource(registry="npm", name="@modelcontextprotocol/server-everything")
    empty = tmp_path / "bin"
    empty.mkdir()

    with pytest.raises(RuntimeUnavailableError) as err:
        await ensure_installed(source, tmp_path / "cache", None, {"PATH": str(empty)})

    assert "npm" in err.value.message
    assert err.value.hint is not None
    assert "nodejs" in err.value.hint


async def test_an_npm_tarball_with_another_hash_is_not_installed(
    tmp_path: Path, host_environ: dict[str, str]
) -> None:
    source = PackageSource(
        registry="npm",
        name="@modelcontextprotocol/server-everything",
        version="2026.8.31",
        hashes=["sha256:" + "0" * 64],
    )

    with pytest.raises(InstallError) as err:
        await ensure_installed(source, tmp_path, None, host_environ)

    assert "has hash sha256:" in err.value.message
    assert err.value.hint is not None
    assert "do not remove the hash" in err.value.hint
    assert not env_dir_for(source, tmp_path).exists()
