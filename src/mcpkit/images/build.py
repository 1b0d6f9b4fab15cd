"""``mcpkit build``: a local image for a package server or a Dockerfile folder.

This is the service: it finds the server's spec (profile, then catalog), checks what
is asked, skips a build whose inputs match the last record and whose image is still
there, and writes the record. The build never reaches the network from inside the
engine unless asked: PyPI and npm packages are fetched on the host
(:mod:`mcpkit.images.fetch`) into a generated context (:mod:`mcpkit.images.context`),
a Dockerfile folder is checked and packed by :mod:`mcpkit.images.folder`, and the
engine (:mod:`mcpkit.images.engine_build`) builds with ``network_mode="none"``. The
image is built untagged and tagged only once the build succeeded, so a failed build
leaves no half-tagged image and keeps the previous record; the record
(:mod:`mcpkit.images.records`) is written last.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpkit.app import App
from mcpkit.catalog.model import SERVER_ID_RE, PackageSource, ServerSpec
from mcpkit.errors import (
    InvalidInputError,
    UnknownProfileError,
    UnknownServerError,
    UsageError,
)
from mcpkit.images import context as ctx
from mcpkit.images import fetch
from mcpkit.images import folder as fld
from mcpkit.images.engine_build import EngineBuild, check_ref, check_tag
from mcpkit.images.records import Artifact, BuildKind, BuildRecord, load_record, save_record
from mcpkit.profiles.model import DEFAULT_PROFILE
from mcpkit.runtime.base import Progress
from mcpkit.runtime.engine import Engine

DEFAULT_BASES: dict[str, str] = {"pypi": "python:3.12-slim", "npm": "node:22-slim"}
#: Bumped whenever the generated Dockerfiles change, so older builds count as stale.
RECIPE_VERSION = "1"


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a server (from a profile or the catalog) or a Dockerfile folder."""

    #: A server id; with ``context`` and no spec anywhere, just the record's name.
    server: str
    profile: str | None = None
    base: str | None = None
    tag: str | None = None
    #: A folder holding a Dockerfile, built instead of the server's package.
    context: Path | None = None
    rebuild: bool = False
    pull: bool = False
    #: ``none`` (default) or ``host`` for a Dockerfile folder whose steps need network.
    build_network: str = "none"


def default_tag(server_id: str, version: str | None) -> str:
    """``mcpkit/<id with '/' → '-'>:<version or latest>`` (``+`` and the like → ``_``)."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", version)[:128] if version else "latest"
    return f"mcpkit/{server_id.replace('/', '-')}:{name}"


def folder_server_id(folder: Path) -> str:
    """The record name of a bare Dockerfile folder: its name, made a valid id."""
    name = re.sub(r"[^a-z0-9._-]+", "-", folder.resolve().name.lower()).strip("-._")
    return name or "context"


async def build_image(
    app: App,
    request: BuildRequest,
    *,
    engine: Engine | None = None,
    progress: Progress | None = None,
) -> BuildRecord:
    """Build (or find up to date) the image ``request`` names, and record it."""
    engine = engine or Engine.from_environ(app.environ)
    if request.build_network not in ("none", "host"):
        raise UsageError(
            f"--build-network must be none or host, not {request.build_network!r}",
            hint="mcpkit build SERVER --build-network host",
        )
    if request.context is not None:
        spec = _find_spec(app, request, required=False)
        folder = request.context.expanduser()
        return await _Builder(app, request, engine, progress).dockerfile(spec, folder)
    spec = _find_spec(app, request, required=True)
    if spec is None:  # required=True raised already
        raise UnknownServerError(f"no server {request.server!r}")
    source = _package_source(spec)
    return await _Builder(app, request, engine, progress).package(spec, source)


def _find_spec(app: App, request: BuildRequest, *, required: bool) -> ServerSpec | None:
    server_id = request.server
    if not SERVER_ID_RE.fullmatch(server_id):
        raise InvalidInputError(
            f"{server_id!r} is not a server id (lower case letters, digits, '.', '_', '-', '/')",
            hint="mcpkit build SERVER, or mcpkit build ./FOLDER for a folder with a Dockerfile",
        )
    profile = request.profile or DEFAULT_PROFILE
    try:
        found = app.profiles.get(profile).server(server_id)
    except UnknownProfileError:
        if request.profile is not None:
            raise
        found = None
    if found is not None:
        from mcpkit.profiles.artifact_lock import apply_pins

        # The profile's lock decides what is built: the version and artifact it approved.
        return apply_pins(app.profiles.spec_for(found), found.pins, profile=profile)
    entry = app.catalog.find(server_id)
    if entry is not None:
        return entry.spec
    if not required:
        return None
    error = app.catalog.unknown(server_id)
    raise UnknownServerError(
        f"no server {server_id!r} in profile {profile!r} or in any catalog",
        hint=error.hint,
    )


def _package_source(spec: ServerSpec) -> PackageSource:
    source = spec.source
    if source.type == "package":
        ctx.check_source(source)
        return source
    if source.type == "image":
        raise UsageError(
            f"{spec.id} is already an image ({source.image}); there is nothing to build",
            hint=f"run it as it is, or build a folder: mcpkit build {spec.id} --context DIR",
        )
    kind = "remote" if source.type == "remote" else "command"
    raise UsageError(
        f"mcpkit build builds package servers and Dockerfile folders; {spec.id} is a {kind} server",
        hint=f"to build it from source: mcpkit build {spec.id} --context DIR (a folder "
        "with a Dockerfile)",
    )


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class _Builder:
    """One build: the engine, the options, and where progress goes."""

    def __init__(
        self, app: App, request: BuildRequest, engine: Engine, progress: Progress | None
    ) -> None:
        self.app = app
        self.request = request
        self.engine = engine
        self.progress = progress
        self.images = EngineBuild(engine, progress)
        self.data_dir = app.locations.data_dir

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    # --- package servers -------------------------------------------------------------

    async def package(self, spec: ServerSpec, source: PackageSource) -> BuildRecord:
        kind: BuildKind = source.registry
        base = check_ref(self.request.base or DEFAULT_BASES[kind], "--base")
        # Unpinned: the tag carries the version the download resolves, known only later.
        tag = self.request.tag or (default_tag(spec.id, source.version) if source.version else "")
        if tag:
            check_tag(tag)
        await self.engine.version()
        base_id = await self.images.base_image(base, pull=self.request.pull)
        labels = self.labels(spec, source.name, source.version)
        inputs = _digest(
            {
                "recipe": RECIPE_VERSION,
                "kind": kind,
                "source": source.model_dump(mode="json"),
                "base_id": base_id,
                "tag": tag or "<resolved version>",
                "labels": labels,
            }
        )
        current = await self.up_to_date(spec.id, inputs)
        if current is not None:
            return current
        with tempfile.TemporaryDirectory(prefix="mcpkit-build-") as scratch_dir:
            scratch = Path(scratch_dir)
            root = scratch / "context"
            root.mkdir()
            nonce = secrets.token_hex(8)
            if kind == "pypi":
                target = await self.images.probe_python(base)
                fetched = await fetch.fetch_wheels(
                    source, target, root / "wheels", self.app.environ, self.progress
                )
                (root / "requirements.txt").write_text(ctx.requirements_txt(fetched.artifacts))
                entry_name = source.entrypoint or source.name
                entrypoint = [f"/opt/venv/bin/{entry_name}"]
            else:
                await self.images.probe_node(base)
                fetched = await fetch.fetch_npm(
                    source, root / "app", scratch, self.app.environ, self.progress
                )
                bin_path = fetched.bin_path or ""
                entrypoint = ["node", f"/app/node_modules/{source.name}/{bin_path}"]
            labels = self.labels(spec, source.name, fetched.version) | {"io.mcpkit.inputs": inputs}
            if kind == "pypi":
                dockerfile = ctx.pypi_dockerfile(base, entry_name, nonce, labels)
            else:
                dockerfile = ctx.npm_dockerfile(base, source.name, bin_path, labels)
            (root / "Dockerfile").write_text(dockerfile)
            tag = tag or check_tag(default_tag(spec.id, fetched.version))
            with fld.packed(root, fld.walk(root), world_readable=True) as tar:
                image_id = await self.images.run_build(tar, None, network="none", nonce=nonce)
        record = BuildRecord(
            server=spec.id,
            image=tag,
            image_id=image_id,
            kind=kind,
            package=source.name,
            version=fetched.version,
            artifacts=fetched.artifacts,
            base=base,
            base_id=base_id,
            entrypoint=entrypoint,
            inputs=inputs,
            engine=self.engine.endpoint.url,
        )
        return await self.finish(record)

    def labels(
        self, spec: ServerSpec | None, package: str | None, version: str | None
    ) -> dict[str, str]:
        labels = {"io.mcpkit.server": spec.id if spec else self.request.server}
        if spec is not None:
            labels["org.opencontainers.image.title"] = spec.title
            if spec.homepage:
                labels["org.opencontainers.image.source"] = spec.homepage
        if package:
            labels["io.mcpkit.package"] = package
        if version:
            labels["io.mcpkit.version"] = version
            labels["org.opencontainers.image.version"] = version
        return labels

    # --- Dockerfile folders ------------------------------------------------------------

    async def dockerfile(self, spec: ServerSpec | None, folder: Path) -> BuildRecord:
        server_id = spec.id if spec else self.request.server
        paths, tree, size = await asyncio.to_thread(fld.scan_folder, folder)
        if size > fld.WARN_CONTEXT_BYTES:
            self.say(
                f"warning: the build context {folder} holds {size / 2**20:.0f} MB; a "
                ".dockerignore would make builds faster"
            )
        tag = check_tag(self.request.tag or default_tag(server_id, None))
        buildargs: dict[str, str] = {}
        base = ""
        base_id = ""
        await self.engine.version()
        if self.request.base:
            base = check_ref(self.request.base, "--base")
            base_id = await self.images.base_image(base, pull=self.request.pull)
            buildargs["BASE"] = base
        if self.request.build_network == "host":
            self.say(
                "building with the host network: steps may download, which is slower and "
                "less reproducible than fetching on the host"
            )
        dockerfile_digest = await asyncio.to_thread(fld.file_sha256, folder / "Dockerfile")
        labels = self.labels(spec, None, None)
        inputs = _digest(
            {
                "recipe": RECIPE_VERSION,
                "kind": "dockerfile",
                "tree": tree,
                "buildargs": buildargs,
                "base_id": base_id,
                "tag": tag,
                "network": self.request.build_network,
                "labels": labels,
            }
        )
        current = await self.up_to_date(server_id, inputs)
        if current is not None:
            return current
        labels |= {"io.mcpkit.inputs": inputs}
        with fld.packed(folder, paths, world_readable=False) as tar:
            image_id = await self.images.run_build(
                tar, labels, network=self.request.build_network, buildargs=buildargs
            )
        record = BuildRecord(
            server=server_id,
            image=tag,
            image_id=image_id,
            kind="dockerfile",
            artifacts=[
                Artifact(name="Dockerfile", sha256=dockerfile_digest),
                Artifact(name="context", sha256=tree),
            ],
            base=base,
            base_id=base_id,
            entrypoint=await self.images.image_entrypoint(image_id),
            inputs=inputs,
            engine=self.engine.endpoint.url,
        )
        return await self.finish(record)

    # --- common steps ----------------------------------------------------------------

    async def up_to_date(self, server_id: str, inputs: str) -> BuildRecord | None:
        """The last record, if built from ``inputs`` and its image is still the one built."""
        if self.request.rebuild:
            return None
        record = load_record(self.data_dir, server_id)
        if record is None or record.inputs != inputs:
            return None
        if await self.images.image_id(record.image) != record.image_id:
            return None
        self.say(f"{record.image} is up to date ({record.image_id[:19]})")
        return record

    async def finish(self, record: BuildRecord) -> BuildRecord:
        """Tag the image, write the record, then drop the images the tag and record replaced."""
        previous = load_record(self.data_dir, record.server)
        old_id = await self.images.retag(record.image_id, record.image)
        save_record(self.data_dir, record)
        self.say(f"built {record.image} ({record.image_id[:19]})")
        stale = {old_id, previous.image_id if previous else None} - {None, record.image_id}
        for image_id in stale:
            await self.images.drop_if_untagged(str(image_id))
        return record
