"""Fetching a package server's dependencies on the host, for the image's interpreter.

The image build runs with no network, so everything it installs is fetched here
first: ``pip download`` of wheels for the base image's interpreter (not the host's,
see :class:`PythonTarget`, filled from a probe run inside the base), or
``npm install`` into the context's ``app/`` folder. Catalog-pinned hashes are
checked on the package's own artifact, and every artifact is returned with its hash
for the build record. pip and npm get only the user's config, proxy and certificate
variables, and their failures are shown with those values masked.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import posixpath
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpkit.catalog.model import PackageSource
from mcpkit.errors import InstallError, InvalidInputError, RuntimeUnavailableError
from mcpkit.images.folder import file_sha256
from mcpkit.images.records import Artifact
from mcpkit.runtime.base import Progress
from mcpkit.runtime.install import npm_pack_result
from mcpkit.runtime.subproc import installer_environ, output_tail, run_captured

#: How long one ``pip download`` / ``npm install`` may run.
FETCH_TIMEOUT = 900.0

#: Printed by the probe container: the interpreter the wheels are fetched for.
PYTHON_PROBE = (
    "import json, platform, sys; "
    "print(json.dumps({'version': list(sys.version_info[:2]), "
    "'implementation': sys.implementation.name, 'libc': list(platform.libc_ver()), "
    "'machine': platform.machine()}))"
)


@dataclass(frozen=True)
class PythonTarget:
    """The interpreter inside a base image, as ``pip download`` must see it."""

    major: int
    minor: int
    implementation: str
    libc: str
    libc_version: tuple[int, int] | None
    machine: str

    @classmethod
    def parse(cls, output: str, base: str) -> PythonTarget:
        """Read the probe's JSON line; a base whose Python is unusable is an input error."""
        try:
            data: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
            major, minor = (int(x) for x in data["version"])
            libc, libc_ver = (str(x) for x in data["libc"])
            machine = str(data["machine"])
            impl = str(data["implementation"])
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise InvalidInputError(
                f"could not tell which Python the base image {base} has (it printed "
                f"{output.strip()[-200:]!r})",
                hint="pass --base with an image whose python3 runs 'python3 -c ...'",
            ) from exc
        found = re.match(r"^(\d+)\.(\d+)", libc_ver)
        version = (int(found.group(1)), int(found.group(2))) if found else None
        return cls(major, minor, impl, libc, version, machine)

    @property
    def tag(self) -> str:
        """``cp311`` and the like."""
        return f"cp{self.major}{self.minor}"

    def check(self, base: str) -> None:
        """Refuse interpreters wheels cannot be fetched for."""
        if self.implementation != "cpython" or (self.major, self.minor) < (3, 10):
            raise InvalidInputError(
                f"the base image {base} has {self.implementation} "
                f"{self.major}.{self.minor}; servers need CPython 3.10 or newer",
                hint="pass --base with a CPython image, e.g. --base python:3.12-slim",
            )

    def pip_args(self) -> list[str]:
        """The ``pip download`` options that select wheels for this interpreter."""
        args = ["--only-binary=:all:", "--python-version", f"{self.major}.{self.minor}"]
        args += ["--implementation", "cp", "--abi", self.tag, "--abi", "abi3", "--abi", "none"]
        for platform in self.platforms():
            args += ["--platform", platform]
        return args

    def platforms(self) -> list[str]:
        """Platform tags this interpreter accepts, most specific first."""
        arch = self.machine
        if self.libc == "glibc" and self.libc_version is not None:
            major, minor = self.libc_version
            tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
            if (major, minor) >= (2, 17):
                tags.append(f"manylinux2014_{arch}")
            if arch in ("x86_64", "i686"):
                tags += [f"manylinux2010_{arch}"] if (major, minor) >= (2, 12) else []
                tags += [f"manylinux1_{arch}"]
        else:  # no glibc: musl (alpine)
            tags = [f"musllinux_1_{m}_{arch}" for m in (2, 1)]
        return [*tags, "any"]


@dataclass(frozen=True)
class Fetched:
    """What a fetch put into the context."""

    version: str
    artifacts: list[Artifact]
    #: npm: the bin script's path inside the package folder.
    bin_path: str | None = None


# --- PyPI ----------------------------------------------------------------------------


def pip_available() -> None:
    """Raise when this interpreter has no pip to download wheels with."""
    if importlib.util.find_spec("pip") is None:
        raise RuntimeUnavailableError(
            f"pip is not installed for {sys.executable}, which downloads the wheels",
            hint=f"{sys.executable} -m ensurepip --upgrade",
        )


async def fetch_wheels(
    source: PackageSource,
    target: PythonTarget,
    wheels: Path,
    environ: Mapping[str, str],
    progress: Progress | None,
) -> Fetched:
    """``pip download`` ``source`` and its dependencies for ``target`` into ``wheels``.

    Pinned hashes are checked on the package's own wheel (``--require-hashes``); its
    dependencies are then resolved from that very file.
    """
    pip_available()
    await asyncio.to_thread(wheels.mkdir, parents=True, exist_ok=True)
    download = [sys.executable, "-m", "pip", "download", "--no-input"]
    download += ["--disable-pip-version-check", "--dest", str(wheels), *target.pip_args()]
    env = tool_env(environ)
    requirement = source.requirement
    _say(progress, f"downloading {requirement} and its dependencies for {target.tag}…")
    if source.hashes:
        pins = " ".join(f"--hash={h}" for h in source.hashes)
        reqs = wheels.parent / "pinned.txt"
        reqs.write_text(f"{requirement} {pins}\n")
        await run_tool([*download, "--no-deps", "--require-hashes", "-r", str(reqs)], env,
                       requirement, "pip", hashes=True)  # fmt: skip
        reqs.unlink()
        own = _own_wheel(wheels, source)
        await run_tool([*download, str(own)], env, requirement, "pip")
    else:
        await run_tool([*download, requirement], env, requirement, "pip")
    own = _own_wheel(wheels, source)
    artifacts = await asyncio.to_thread(_wheel_artifacts, wheels)
    return Fetched(version=_wheel_version(own.name), artifacts=artifacts)


def _wheel_artifacts(wheels: Path) -> list[Artifact]:
    return [Artifact(name=p.name, sha256=file_sha256(p)) for p in sorted(wheels.glob("*.whl"))]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_version(filename: str) -> str:
    return filename.split("-")[1]


def _own_wheel(wheels: Path, source: PackageSource) -> Path:
    wanted = _normal(source.name)
    found = [p for p in wheels.glob("*.whl") if _normal(p.name.split("-")[0]) == wanted]
    if not found:
        raise InstallError(
            f"pip downloaded no wheel of {source.requirement}",
            hint=f"check https://pypi.org/project/{source.name}/ has wheels",
        )
    return found[0]


# --- npm -----------------------------------------------------------------------------


async def fetch_npm(
    source: PackageSource,
    app_dir: Path,
    scratch: Path,
    environ: Mapping[str, str],
    progress: Progress | None,
) -> Fetched:
    """``npm install`` ``source`` (production dependencies) into ``app_dir``."""
    npm = shutil.which("npm", path=environ.get("PATH", os.defpath))
    if npm is None:
        raise RuntimeUnavailableError(
            f"{source.name} is an npm package, but npm is not on PATH",
            hint="install Node.js and npm (apt-get install nodejs npm)",
        )
    env = tool_env(environ) | {"NPM_CONFIG_UPDATE_NOTIFIER": "false"}
    requirement = source.requirement
    await asyncio.to_thread(app_dir.mkdir, parents=True, exist_ok=True)
    target = requirement
    pinned: Artifact | None = None
    _say(progress, f"installing {requirement} with npm on the host…")
    if source.hashes:
        tarball, _ = await npm_pack(npm, requirement, scratch, env)
        digest = file_sha256(tarball)
        if digest not in source.hashes:
            raise InstallError(
                f"the npm tarball of {requirement} has hash {digest}, not one the catalog pins",
                hint="the package changed since the catalog pinned it: update the catalog, "
                "or report it to its maintainers (do not remove the hash)",
            )
        pinned = Artifact(name=tarball.name, sha256=digest)
        target = str(tarball)
    await run_tool(
        [npm, "install", "--prefix", str(app_dir), "--omit=dev", "--no-audit", "--no-fund",
         "--no-update-notifier", target],
        env, requirement, "npm",
    )  # fmt: skip
    manifest = _read_json(app_dir / "node_modules" / source.name / "package.json", requirement)
    version = str(manifest.get("version") or source.version or "")
    artifacts = ([pinned] if pinned else []) + _lock_artifacts(app_dir / "package-lock.json")
    return Fetched(version=version, artifacts=artifacts, bin_path=npm_bin(manifest, source))


async def npm_pack(
    npm: str, requirement: str, dest: Path, env: Mapping[str, str]
) -> tuple[Path, str]:
    """``npm pack`` the package's own tarball (no dependencies) into ``dest``.

    Returns the tarball's path and the version npm resolved.
    """
    out = await run_tool(
        [npm, "pack", requirement, "--json", "--pack-destination", str(dest)],
        env, requirement, "npm",
    )  # fmt: skip
    filename, version = npm_pack_result(out, requirement)
    return dest / filename, version


def _read_json(path: Path, requirement: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InstallError(f"npm installed {requirement} without a readable {path.name}") from exc
    return data if isinstance(data, dict) else {}


def _lock_artifacts(lock: Path) -> list[Artifact]:
    data = _read_json(lock, "the package") if lock.exists() else {}
    found = []
    for key, entry in sorted((data.get("packages") or {}).items()):
        if not key or not isinstance(entry, dict) or entry.get("link"):
            continue
        name = key.rpartition("node_modules/")[2]
        integrity = entry.get("integrity")
        found.append(
            Artifact(
                name=f"{name}@{entry.get('version', '')}",
                integrity=str(integrity) if integrity else None,
            )
        )
    return found


def npm_bin(manifest: Mapping[str, Any], source: PackageSource) -> str:
    """The package's bin script (relative to the package folder) that serves MCP."""
    short = source.name.rpartition("/")[2]
    raw = manifest.get("bin")
    bins: dict[str, str] = {}
    if isinstance(raw, str):
        bins = {short: raw}
    elif isinstance(raw, dict):
        bins = {str(k): str(v) for k, v in raw.items()}
    choice: str | None = None
    if source.entrypoint:
        choice = bins.get(source.entrypoint)
    elif len(bins) == 1:
        choice = next(iter(bins.values()))
    else:
        choice = bins.get(short)
    if choice is None:
        wanted = source.entrypoint or short
        raise InstallError(
            f"{source.name} has no bin {wanted!r} (it has: {', '.join(sorted(bins)) or 'none'})",
            hint="set the server's entrypoint to one of those in its catalog entry",
        )
    path = posixpath.normpath(choice)
    if path.startswith(("../", "/")) or path == "..":
        raise InstallError(f"{source.name}'s bin {choice!r} points outside the package")
    return path


# --- running pip / npm ------------------------------------------------------------------


def tool_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What pip and npm get from the user's environment (config, proxies, certificates)."""
    return installer_environ(environ)


async def run_tool(
    argv: Sequence[str],
    env: Mapping[str, str],
    requirement: str,
    tool: str,
    *,
    hashes: bool = False,
) -> str:
    """Run pip or npm; a failure is an :class:`InstallError` showing its last lines."""
    code, out, err = await run_captured(
        argv,
        env,
        doing=f"fetch {requirement} with {tool}",
        timeout=FETCH_TIMEOUT,
        hint=f"check that {tool} is installed",
    )
    if code != 0:
        text = (out + b"\n" + err).decode(errors="replace")
        raise _failure(requirement, tool, code, text, env, hashes=hashes)
    return out.decode(errors="replace")


def _failure(
    requirement: str, tool: str, code: int, text: str, env: Mapping[str, str], *, hashes: bool
) -> InstallError:
    tail = output_tail(text, env)
    if hashes and "hash" in text.lower():
        hint = (
            "the artifact does not match the hash the catalog pins: update the catalog, "
            "or report it to its maintainers (do not remove the hash)"
        )
    elif tool == "pip":
        hint = (
            "check the name and version on https://pypi.org and that it publishes wheels "
            "for the base image's Python (mcpkit builds from wheels only); check the network"
        )
    else:
        hint = "check the name and version on https://www.npmjs.com, then the network"
    return InstallError(
        f"fetching {requirement} with {tool} failed (exit {code}):\n{tail}", hint=hint
    )


def _say(progress: Progress | None, line: str) -> None:
    if progress is not None:
        progress(line)
