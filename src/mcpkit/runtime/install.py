"""Install a server's PyPI or npm package into an environment of its own, once.

Each ``name@version`` gets a directory under ``<cache>/envs/<registry>/<name>/<version>``
(``latest`` when the spec pins nothing). The install is finished when the
``mcpkit-install.json`` marker exists: it is written last, atomically, and records the
version that was resolved, so an unpinned package is resolved once and later runs reuse
it without network. A directory without a marker is a half-finished install: it is
removed and done again. A ``flock`` on a sibling ``.lock`` file serialises installs of
the same package by several mcpkit processes.

Installers get only the variables they need from the user's environment (PATH, HOME,
proxies, index and certificate settings), never a server's secrets, and any value that
might be a credential is redacted from the errors they cause.

With pinned hashes, the package's own artifact is installed first with ``--no-deps
--require-hashes`` (pip and uv) or checked after ``npm pack``; its dependencies are then
resolved as usual, since catalogs pin the server's artifact, not its whole tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcpkit.catalog.model import PackageSource
from mcpkit.errors import InstallError, RuntimeUnavailableError
from mcpkit.runtime.base import Progress
from mcpkit.runtime.subproc import installer_environ, output_tail, run_captured
from mcpkit.settings import atomic_write

MARKER = "mcpkit-install.json"
#: How long one installer command may run, and how long to wait for another's lock.
INSTALL_TIMEOUT = 900.0

_PYPI_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_NPM_NAME_RE = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
_ENTRYPOINT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class InstalledPackage:
    """A package ready to run: its executable and what the sandbox must make visible."""

    executable: Path
    env_dir: Path
    version: str
    #: Paths outside /usr the environment needs read-only (a Python prefix, node).
    extra_ro_paths: tuple[Path, ...] = ()
    #: Directories to put first on the server's PATH.
    path_dirs: tuple[Path, ...] = ()


def env_dir_for(source: PackageSource, cache_dir: Path) -> Path:
    """Where ``source`` is installed; validates the name and version first."""
    _validate(source)
    name = source.name
    if source.registry == "pypi":
        name = re.sub(r"[-_.]+", "-", name).lower()  # PEP 503: one dir per project
    return cache_dir / "envs" / source.registry / name / (source.version or "latest")


async def ensure_installed(
    source: PackageSource,
    cache_dir: Path,
    progress: Progress | None,
    environ: Mapping[str, str],
    *,
    installer: Literal["auto", "uv", "pip"] = "auto",
) -> InstalledPackage:
    """Install ``source`` unless a finished install is cached; return how to run it.

    ``installer`` picks the PyPI installer (``auto``: uv when found, else pip).
    Raises :class:`InstallError` when installing fails, and
    :class:`RuntimeUnavailableError` when the installer itself is missing.
    """
    env_dir = env_dir_for(source, cache_dir)
    found = _from_marker(source, env_dir)
    if found is not None:
        return found
    async with _locked(env_dir, source, progress):
        # Another process may have finished the install while we waited.
        found = _from_marker(source, env_dir)
        if found is not None:
            return found
        if env_dir.exists():
            shutil.rmtree(env_dir)
        env_dir.mkdir(parents=True, mode=0o755)
        try:
            if source.registry == "pypi":
                marker = await _install_pypi(source, env_dir, progress, environ, installer)
            else:
                marker = await _install_npm(source, env_dir, progress, environ)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        atomic_write(env_dir / MARKER, json.dumps(marker, indent=2).encode(), mode=0o644)
    found = _from_marker(source, env_dir)
    if found is None:  # the marker was just written; only a racing `rm` gets here
        raise InstallError(f"the install of {source.requirement} vanished from {env_dir}")
    return found


# --- cached installs ------------------------------------------------------------------


def _from_marker(source: PackageSource, env_dir: Path) -> InstalledPackage | None:
    try:
        data: dict[str, Any] = json.loads((env_dir / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    if sorted(data.get("hashes", [])) != sorted(source.hashes):
        return None
    extra = tuple(Path(p) for p in data.get("extra_ro_paths", []))
    if not all(p.exists() for p in extra):
        return None  # the base interpreter moved (pyenv upgrade…): reinstall
    if source.entrypoint:
        entry = source.entrypoint
        bin_dir = env_dir / ("bin" if source.registry == "pypi" else "node_modules/.bin")
        executable = bin_dir / entry
    else:
        executable = env_dir / str(data["executable"])
    if not executable.exists():
        raise InstallError(
            f"{source.requirement} installs no executable {executable.name!r} "
            f"(it has: {', '.join(_executables(executable.parent)) or 'none'})",
            hint="set the server's entrypoint to one of those in its catalog entry",
        )
    path_dirs = (executable.parent, *(Path(p) for p in data.get("path_dirs", [])))
    return InstalledPackage(
        executable=executable,
        env_dir=env_dir,
        version=str(data.get("version", "")),
        extra_ro_paths=extra,
        path_dirs=tuple(dict.fromkeys(path_dirs)),
    )


def _executables(directory: Path) -> list[str]:
    with contextlib.suppress(OSError):
        return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    return []


@contextlib.asynccontextmanager
async def _locked(
    env_dir: Path, source: PackageSource, progress: Progress | None
) -> AsyncIterator[None]:
    env_dir.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd = os.open(env_dir.with_name(env_dir.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + INSTALL_TIMEOUT
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            if not told and progress is not None:
                progress(f"waiting for another install of {source.requirement}…")
                told = True
            if time.monotonic() > deadline:
                raise InstallError(
                    f"another process kept installing {source.requirement} for "
                    f"{INSTALL_TIMEOUT:.0f} s",
                    hint=f"check for a stuck mcpkit process, or remove {env_dir}",
                )
            # Polling instead of a blocking flock in a thread: a cancelled wait must
            # not leave a thread that later takes the lock and holds it forever.
            await asyncio.sleep(0.1)
        yield
    finally:
        os.close(fd)  # also releases the lock


# --- PyPI ------------------------------------------------------------------------------


async def _install_pypi(
    source: PackageSource,
    env_dir: Path,
    progress: Progress | None,
    environ: Mapping[str, str],
    installer: Literal["auto", "uv", "pip"],
) -> dict[str, Any]:
    tool_env = _installer_env(environ)
    uv = _find_uv(environ) if installer != "pip" else None
    if installer == "uv" and uv is None:
        raise RuntimeUnavailableError("uv is not installed", hint="pip install uv")
    python, extra = await asyncio.to_thread(_pick_python)
    tool = "uv" if uv else "pip"
    req = source.requirement
    started = time.monotonic()
    _say(progress, f"installing {req} with {tool}…")
    venv_python = env_dir / "bin" / "python"
    if uv:
        await _run(
            [uv, "venv", "--no-config", "--python", str(python), str(env_dir)],
            tool_env,
            source,
            tool,
        )
        install = [uv, "pip", "install", "--no-config", "--compile-bytecode"]
        install += ["--python", str(venv_python)]
    else:
        await _run([str(python), "-m", "venv", str(env_dir)], tool_env, source, tool)
        install = [str(venv_python), "-m", "pip", "install", "--no-input"]
        install += ["--disable-pip-version-check", "--no-warn-script-location"]
    if source.hashes:
        reqs = env_dir / ".mcpkit-requirements.txt"
        pins = " ".join(f"--hash={h}" for h in source.hashes)
        reqs.write_text(f"{req} {pins}\n")
        await _run([*install, "--no-deps", "--require-hashes", "-r", str(reqs)],
                   tool_env, source, tool)  # fmt: skip
    await _run([*install, req], tool_env, source, tool)
    version = source.version or await _pypi_version(venv_python, source, tool_env)
    _say(progress, f"installed {source.name}=={version} in {time.monotonic() - started:.1f} s")
    entry = source.entrypoint or source.name
    return {
        "registry": "pypi",
        "name": source.name,
        "version": version,
        "hashes": sorted(source.hashes),
        "installer": tool,
        "executable": f"bin/{entry}",
        "extra_ro_paths": [str(p) for p in extra],
        "installed_at": time.time(),
    }


def _find_uv(environ: Mapping[str, str]) -> str | None:
    found = shutil.which("uv", path=environ.get("PATH", os.defpath))
    if found:
        return found
    try:
        module = importlib.import_module("uv")
        return str(module.find_uv_bin())
    except (ImportError, FileNotFoundError, AttributeError):
        return None


def _pick_python() -> tuple[Path, tuple[Path, ...]]:
    # Debian's /usr/bin/python3 keeps the whole venv's runtime under /usr, which the
    # sandbox binds anyway; another interpreter (pyenv, conda) lives under a prefix,
    # often in $HOME, that would have to be bound into every sandbox as well.
    system = Path("/usr/bin/python3")
    if system.exists():
        check = "import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if subprocess.run([system, "-c", check], check=False, timeout=30).returncode == 0:
                return system, ()
    base = Path(getattr(sys, "_base_executable", sys.executable))
    prefix = Path(sys.base_prefix).resolve()
    extra = () if prefix.is_relative_to("/usr") else (prefix,)
    return base, extra


async def _pypi_version(python: Path, source: PackageSource, env: Mapping[str, str]) -> str:
    code = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
    out = await _run([str(python), "-c", code, source.name], env, source, "python")
    return out.strip()


# --- npm -------------------------------------------------------------------------------


async def _install_npm(
    source: PackageSource, env_dir: Path, progress: Progress | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    path = environ.get("PATH", os.defpath)
    npm = shutil.which("npm", path=path)
    node = shutil.which("node", path=path)
    if npm is None or node is None:
        raise RuntimeUnavailableError(
            f"{source.name} is an npm package, but {'npm' if npm is None else 'node'} "
            "is not on PATH",
            hint="install Node.js and npm (apt-get install nodejs npm), then run 'mcpkit doctor'",
        )
    tool_env = _installer_env(environ) | {"NPM_CONFIG_UPDATE_NOTIFIER": "false"}
    req = source.requirement
    started = time.monotonic()
    _say(progress, f"installing {req} with npm…")
    target = req
    if source.hashes:
        out = await _run(
            [npm, "pack", req, "--json", "--pack-destination", str(env_dir)],
            tool_env, source, "npm"
        )  # fmt: skip
        tarball = env_dir / npm_pack_result(out, req)[0]
        digest = "sha256:" + hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest not in source.hashes:
            raise InstallError(
                f"the npm tarball of {req} has hash {digest}, not one the catalog pins",
                hint="the package changed since the catalog pinned it: update the "
                "catalog, or report it to its maintainers (do not remove the hash)",
            )
        target = str(tarball)
    await _run(
        [npm, "install", "--prefix", str(env_dir), "--omit=dev", "--no-audit", "--no-fund",
         target],
        tool_env, source, "npm",
    )  # fmt: skip
    manifest = _npm_manifest(env_dir, source)
    version = str(manifest.get("version") or source.version or "")
    _say(progress, f"installed {source.name}@{version} in {time.monotonic() - started:.1f} s")
    node_dir = await asyncio.to_thread(lambda: Path(node).resolve().parent)
    outside_usr = not node_dir.is_relative_to("/usr")
    return {
        "registry": "npm",
        "name": source.name,
        "version": version,
        "hashes": sorted(source.hashes),
        "installer": "npm",
        "executable": f"node_modules/.bin/{source.entrypoint or _npm_bin(manifest, source)}",
        "extra_ro_paths": [str(node_dir.parent)] if outside_usr else [],
        "path_dirs": [str(node_dir)] if outside_usr else [],
        "installed_at": time.time(),
    }


def npm_pack_result(out: str, requirement: str) -> tuple[str, str]:
    """The tarball file name and the version in ``npm pack --json`` output."""
    try:
        packed = json.loads(out)[0]
        filename, version = str(packed["filename"]), str(packed.get("version") or "")
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise InstallError(f"npm pack {requirement} gave no tarball name") from exc
    # npm names scoped tarballs scope-name-version.tgz; never let it point elsewhere.
    return Path(filename.replace("@", "").replace("/", "-")).name, version


def _npm_manifest(env_dir: Path, source: PackageSource) -> dict[str, Any]:
    path = env_dir / "node_modules" / source.name / "package.json"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InstallError(f"npm installed {source.requirement} without {path}") from exc
    return data if isinstance(data, dict) else {}


def _npm_bin(manifest: Mapping[str, Any], source: PackageSource) -> str:
    default = source.name.rpartition("/")[2]
    bins = manifest.get("bin")
    # Many scoped packages name their one bin differently from the package
    # (@modelcontextprotocol/server-everything → mcp-server-everything).
    if isinstance(bins, dict) and default not in bins and len(bins) == 1:
        return str(next(iter(bins)))
    return default


# --- running installers ------------------------------------------------------------------


def _installer_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = installer_environ(environ)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    # Trust the system's certificate store as pip does (corporate proxies add their CA there).
    env.setdefault("UV_NATIVE_TLS", "1")
    return env


async def _run(
    argv: Sequence[str], env: Mapping[str, str], source: PackageSource, tool: str
) -> str:
    code, out, err = await run_captured(
        argv,
        env,
        doing=f"install {source.requirement} with {tool}",
        timeout=INSTALL_TIMEOUT,
        hint="run 'mcpkit doctor' to check the installers",
    )
    if code != 0:
        raise _failure(source, tool, code, err.decode(errors="replace"), env)
    return out.decode(errors="replace")


def _failure(
    source: PackageSource, tool: str, code: int, stderr: str, env: Mapping[str, str]
) -> InstallError:
    tail = output_tail(stderr, env)
    where = (
        f"https://pypi.org/project/{source.name}/"
        if source.registry == "pypi"
        else f"https://www.npmjs.com/package/{source.name}"
    )
    if "hash" in stderr.lower() and source.hashes:
        hint = (
            "the artifact does not match the hash the catalog pins: update the catalog, "
            "or report it to its maintainers (do not remove the hash)"
        )
    else:
        hint = (
            f"check that {source.requirement} exists ({where}), then run 'mcpkit doctor' "
            "to check the installers and the network"
        )
    return InstallError(
        f"installing {source.requirement} with {tool} failed (exit {code}):\n{tail}", hint=hint
    )


def _validate(source: PackageSource) -> None:
    name_re = _PYPI_NAME_RE if source.registry == "pypi" else _NPM_NAME_RE
    problem = None
    if not name_re.fullmatch(source.name):
        problem = f"{source.name!r} is not a valid {source.registry} package name"
    elif source.version is not None and not _VERSION_RE.fullmatch(source.version):
        problem = f"{source.version!r} is not an exact version of {source.name}"
    elif source.entrypoint is not None and not _ENTRYPOINT_RE.fullmatch(source.entrypoint):
        problem = f"entrypoint {source.entrypoint!r} must be a plain executable name"
    elif source.hashes and not source.version:
        problem = f"{source.name} pins hashes but no version"
    if problem:
        raise InstallError(problem, hint="fix the server's package source in its catalog entry")


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
