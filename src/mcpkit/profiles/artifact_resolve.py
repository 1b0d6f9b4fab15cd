"""What a profile lock pins: an image's digest, a package's version and artifact hash.

Image servers (:func:`image_digest`), in this order:

1. a digest the spec's reference already carries (``repo@sha256:…``);
2. an image the engine has but that was never pulled or pushed (no ``RepoDigests``: it
   was built or loaded here) is a *local image*: its **image id** (``sha256:`` of its
   config) is pinned, since no registry digest exists. The spec then runs as
   ``repo@<image id>``, which the docker runtime finds by id while the image is still
   tagged in ``repo`` (a rebuilt tag is a change the user re-approves);
3. otherwise the registry's digest of the tag (the manifest, or the index of a
   multi-platform image), asked through :class:`mcpkit.oci.client.RegistryClient`;
4. when the registry cannot be asked, the digest the engine pulled the image by
   (its ``RepoDigests`` entry for that repository), else its image id.

Package servers (:func:`package_pins`): the version and the ``sha256`` of the package's
own artifact (wheel, sdist or npm tarball; never its dependencies, as the installers
check only that one). Hashes the catalog pins are taken as they are; else the build
record of ``mcpkit build`` (whose artifacts were hashed when the image was built); else
the artifact is downloaded alone (``pip download --no-deps`` / ``npm pack``) with the
user's pip and npm configuration and hashed. A platform-specific wheel from a build
record is for the image's interpreter, so the host's wheel is added beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpkit.catalog.model import ImageSource, PackageSource, ServerSpec
from mcpkit.errors import (
    InstallError,
    InvalidInputError,
    RegistryError,
    RuntimeUnavailableError,
    UnknownReferenceError,
)
from mcpkit.images import fetch
from mcpkit.images.folder import file_sha256
from mcpkit.images.records import BuildRecord, record_for
from mcpkit.runtime.docker import image_repository
from mcpkit.runtime.engine import NOT_FOUND, Engine, EngineError
from mcpkit.runtime.install import MARKER, env_dir_for

LOCAL_IMAGE = "local image, not in a registry"
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class PackagePin:
    """A package's locked version and the hashes of its own artifact."""

    version: str
    hashes: tuple[str, ...]
    detail: str


# --- images ----------------------------------------------------------------------------


async def image_digest(
    source: ImageSource, environ: Mapping[str, str], engine: Engine | None
) -> tuple[str, str]:
    """The digest to pin ``source``'s image to, and where it came from (see the module)."""
    if source.digest is not None:
        return source.digest, "pinned by the catalog"
    local = await _inspect(engine, source.image)
    if local is not None and not local.get("RepoDigests"):
        return _image_id(local), LOCAL_IMAGE
    try:
        digest, registry = await asyncio.to_thread(_registry_digest, source.image, environ)
    except (RegistryError, UnknownReferenceError, InvalidInputError) as exc:
        if local is None:
            kind = type(exc) if isinstance(exc, RegistryError | UnknownReferenceError) else None
            raise (kind or UnknownReferenceError)(
                f"cannot lock the image {source.image}: the container engine does not have "
                f"it, and {exc.message}",
                hint=f"docker pull {source.image} (or build it), then lock again; "
                f"check the name in the server's catalog entry",
            ) from exc
        pulled = _repo_digest(local, source.image)
        if pulled is None:
            return _image_id(local), LOCAL_IMAGE
        return pulled, f"the digest the engine pulled it by (no registry: {exc.message})"
    detail = f"from {registry}"
    if local is not None and _repo_digest(local, source.image) not in (None, digest):
        detail += f"; the engine has an older copy (docker pull {source.image})"
    return digest, detail


def _registry_digest(image: str, environ: Mapping[str, str]) -> tuple[str, str]:
    from mcpkit.oci.client import RegistryClient
    from mcpkit.oci.reference import Reference

    ref = Reference.parse(image)
    client = RegistryClient(environ=environ)
    digest = client.resolve(ref).digest
    if not _DIGEST_RE.fullmatch(digest):
        raise RegistryError(
            f"the registry {ref.registry} answered {digest!r} as the digest of {image}",
            hint="check the registry; mcpkit locks sha256 digests only",
        )
    return digest, f"the registry {ref.registry}"


async def _inspect(engine: Engine | None, image: str) -> dict[str, Any] | None:
    """The engine's view of ``image``, or None when it lacks it or no engine answers."""
    if engine is None:
        return None
    try:
        found: dict[str, Any] = await engine.call(
            engine.api.inspect_image, image, what=f"inspect the image {image}"
        )
    except RuntimeUnavailableError:
        return None  # no engine here: the registry alone decides
    except EngineError as exc:
        if exc.status == NOT_FOUND:
            return None
        raise
    return found


def _image_id(info: Mapping[str, Any]) -> str:
    raw = str(info.get("Id") or "")
    return raw if raw.startswith("sha256:") else f"sha256:{raw}"


def _repo_digest(info: Mapping[str, Any], image: str) -> str | None:
    wanted = image_repository(image)
    for entry in info.get("RepoDigests") or []:
        name, _, digest = str(entry).partition("@")
        if image_repository(name) == wanted and _DIGEST_RE.fullmatch(digest):
            return digest
    return None


# --- packages ----------------------------------------------------------------------------


async def package_pins(
    spec: ServerSpec,
    source: PackageSource,
    *,
    version: str | None,
    data_dir: Path,
    cache_dir: Path,
    environ: Mapping[str, str],
) -> PackagePin:
    """The version and own-artifact hashes to lock ``source`` to.

    ``version`` is the one wanted (the catalog's, or the one already locked); None picks
    what was built, else what the process runtime installed, else the newest.
    """
    if source.hashes and source.version:
        return PackagePin(source.version, tuple(sorted(source.hashes)), "pinned by the catalog")
    wanted = source.model_copy(update={"version": version}) if version else source
    env_dir_for(wanted, cache_dir)  # validates the name and version before any tool runs
    record = record_for(data_dir, spec.model_copy(update={"source": wanted}))
    hashes: list[str] = []
    detail = ""
    if record is not None and record.version:
        hashes, universal = _record_hashes(record, source)
        if hashes:
            version, detail = record.version, f"from the image built for it ({record.image})"
            if universal:
                return PackagePin(version, tuple(hashes), detail)
    if version is None:
        version = _installed_version(source, cache_dir)
        detail = "the installed version" if version else "the newest version"
    requirement = (
        wanted.model_copy(update={"version": version}).requirement if version else source.name
    )
    found_version, digest = await _download_hash(source, requirement, environ)
    if source.hashes and digest not in source.hashes:
        raise InstallError(
            f"the artifact of {requirement} has hash {digest}, not one the catalog pins",
            hint="the package changed since the catalog pinned it: update the catalog, "
            "or report it to its maintainers (do not remove the hash)",
        )
    hashes = sorted({*hashes, digest})
    return PackagePin(version or found_version, tuple(hashes), detail or "downloaded and hashed")


def _record_hashes(record: BuildRecord, source: PackageSource) -> tuple[list[str], bool]:
    """The sha256s of the package's own artifact in a build record; whether it is universal."""
    wanted = _normal(source.name)
    found: list[str] = []
    universal = True
    for artifact in record.artifacts:
        name = artifact.name
        if artifact.sha256 is None:
            continue
        if source.registry == "pypi" and name.endswith(".whl"):
            parts = name.split("-")
            if _normal(parts[0]) == wanted and parts[1] == record.version:
                found.append(artifact.sha256)
                universal = universal and name.endswith("-none-any.whl")
        elif source.registry == "npm" and name.endswith(".tgz"):
            found.append(artifact.sha256)  # only the pinned tarball is hashed in a record
    return sorted(set(found)), universal


def _installed_version(source: PackageSource, cache_dir: Path) -> str | None:
    """The version the process runtime resolved for an unpinned package, if installed."""
    try:
        data = json.loads((env_dir_for(source, cache_dir) / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None


async def _download_hash(
    source: PackageSource, requirement: str, environ: Mapping[str, str]
) -> tuple[str, str]:
    """Download only the package's own artifact; its version and ``sha256:`` hash."""
    env = fetch.tool_env(environ)
    with tempfile.TemporaryDirectory(prefix="mcpkit-lock-") as scratch:
        dest = Path(scratch)
        if source.registry == "pypi":
            fetch.pip_available()
            await fetch.run_tool(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input",
                 "--disable-pip-version-check", "--dest", str(dest), requirement],
                env, requirement, "pip",
            )  # fmt: skip
            files = await asyncio.to_thread(lambda: sorted(dest.iterdir()))
            if len(files) != 1:
                raise InstallError(
                    f"pip download {requirement} gave {len(files)} files, not one artifact",
                    hint=f"check https://pypi.org/project/{source.name}/",
                )
            artifact, version = files[0], _artifact_version(files[0].name)
        else:
            npm = shutil.which("npm", path=environ.get("PATH", os.defpath))
            if npm is None:
                raise RuntimeUnavailableError(
                    f"{source.name} is an npm package, but npm is not on PATH",
                    hint="install Node.js and npm (apt-get install nodejs npm)",
                )
            npm_env = env | {"NPM_CONFIG_UPDATE_NOTIFIER": "false"}
            artifact, version = await fetch.npm_pack(npm, requirement, dest, npm_env)
        digest = await asyncio.to_thread(file_sha256, artifact)
    return version, digest


def _artifact_version(filename: str) -> str:
    """The version in a wheel's or an sdist's file name."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|zip|tgz)$", "", filename)
    return stem.rpartition("-")[2]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
