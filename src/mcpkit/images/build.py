"""``mcpkit build``: a local image for a package server or a Dockerfile folder.

The build never reaches the network from inside the engine unless asked: PyPI and npm
packages are fetched on the host (see :mod:`mcpkit.images.context`) and the engine
builds with ``network_mode="none"``. The image is built untagged and tagged only once
the build succeeded, so a failed build leaves no half-tagged image and keeps the
previous record; the record (:mod:`mcpkit.images.records`) is written last.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpkit.app import App
from mcpkit.catalog.model import SERVER_ID_RE, PackageSource, ServerSpec
from mcpkit.errors import (
    InvalidInputError,
    NotFoundError,
    ServerError,
    UnknownProfileError,
    UnknownServerError,
    UsageError,
)
from mcpkit.images import context as ctx
from mcpkit.images.records import Artifact, BuildKind, BuildRecord, load_record, save_record
from mcpkit.profiles.model import DEFAULT_PROFILE
from mcpkit.runtime.base import Progress
from mcpkit.runtime.engine import Engine, EngineError

DEFAULT_BASES: dict[str, str] = {"pypi": "python:3.12-slim", "npm": "node:22-slim"}
#: A context folder above this size gets a warning (it is sent to the engine whole).
WARN_CONTEXT_BYTES = 200 * 1024 * 1024
#: ... and above this one it is refused.
MAX_CONTEXT_BYTES = 2 * 1024 * 1024 * 1024
#: How long a build may go without printing anything.
BUILD_TIMEOUT = 1800.0
#: Bumped whenever the generated Dockerfiles change, so older builds count as stale.
RECIPE_VERSION = "1"

_IMAGE_REF_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@+-]*$", re.IGNORECASE)
#: A step's resulting image in a build's output (docker: " ---> id", podman: "--> id").
_STEP_IMAGE_RE = re.compile(r"^\s*-{2,3}> ([0-9a-f]{12,64})$")
_REPO_RE = re.compile(r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$|^[a-z0-9.-]+:[0-9]+/[a-z0-9._/-]+$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ENTRY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PYPI_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_NPM_NAME_RE = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")


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
        return app.profiles.spec_for(found)
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
        name_re = _PYPI_NAME_RE if source.registry == "pypi" else _NPM_NAME_RE
        if not name_re.fullmatch(source.name):
            raise InvalidInputError(
                f"{source.name!r} is not a valid {source.registry} package name",
                hint="fix the server's package source in its catalog entry",
            )
        if source.entrypoint is not None and not _ENTRY_RE.fullmatch(source.entrypoint):
            raise InvalidInputError(
                f"entrypoint {source.entrypoint!r} must be a plain executable name",
                hint="fix the server's package source in its catalog entry",
            )
        ctx.check_version(source)
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


def _check_ref(value: str, what: str) -> str:
    if not _IMAGE_REF_RE.fullmatch(value):
        raise InvalidInputError(
            f"{value!r} is not a valid image reference for {what}",
            hint="e.g. python:3.12-slim, or registry.example/name:tag",
        )
    return value


def _check_tag(tag: str) -> str:
    repo, name = _split_tag(tag)
    if not (_REPO_RE.fullmatch(repo) and _TAG_RE.fullmatch(name)) or "@" in tag:
        raise InvalidInputError(
            f"{tag!r} is not a valid image tag",
            hint="use lower-case NAME[:TAG], e.g. --tag mcpkit/my-server:1.0",
        )
    return tag


def _split_tag(tag: str) -> tuple[str, str]:
    repo, sep, name = tag.rpartition(":")
    if not sep or "/" in name:
        return tag, "latest"
    return repo, name


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
        self.data_dir = app.locations.data_dir

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    # --- package servers -------------------------------------------------------------

    async def package(self, spec: ServerSpec, source: PackageSource) -> BuildRecord:
        kind: BuildKind = source.registry
        base = _check_ref(self.request.base or DEFAULT_BASES[kind], "--base")
        # Unpinned: the tag carries the version the download resolves, known only later.
        tag = self.request.tag or (default_tag(spec.id, source.version) if source.version else "")
        if tag:
            _check_tag(tag)
        await self.engine.version()
        base_id = await self.base_image(base)
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
                target = await self.probe_python(base)
                fetched = await ctx.fetch_wheels(
                    source, target, root / "wheels", self.app.environ, self.progress
                )
                (root / "requirements.txt").write_text(ctx.requirements_txt(fetched.artifacts))
                entry_name = source.entrypoint or source.name
                entrypoint = [f"/opt/venv/bin/{entry_name}"]
            else:
                await self.probe_node(base)
                fetched = await ctx.fetch_npm(
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
            tag = tag or _check_tag(default_tag(spec.id, fetched.version))
            with self.context_tar(root, ctx.walk(root), world_readable=True) as tar:
                image_id = await self.run_build(tar, None, network="none", nonce=nonce)
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

    async def probe_python(self, base: str) -> ctx.PythonTarget:
        output = await self.probe(base, ["python3", "-c", ctx.PYTHON_PROBE], "python3")
        target = ctx.PythonTarget.parse(output, base)
        target.check(base)
        self.say(
            f"{base} has CPython {target.major}.{target.minor} "
            f"({target.libc} {'.'.join(map(str, target.libc_version or ()))}, {target.machine})"
        )
        return target

    async def probe_node(self, base: str) -> None:
        output = await self.probe(base, ["node", "--version"], "node")
        self.say(f"{base} has node {output.strip()}")

    async def probe(self, base: str, argv: list[str], program: str) -> str:
        """Run ``argv`` in a throwaway container of ``base`` with no network."""
        api = self.engine.api
        host_config = api.create_host_config(network_mode="none")
        created = await self.engine.call(
            api.create_container, base, entrypoint=argv[:1], command=argv[1:],
            host_config=host_config, labels={"io.mcpkit.probe": "1"},
            what=f"create a probe container from {base}",
        )  # fmt: skip
        container = created["Id"]
        missing = InvalidInputError(
            f"the base image {base} has no working {program}",
            hint=f"pass --base with an image that has {program} on PATH",
        )
        try:
            try:
                await self.engine.call(api.start, container, what=f"start {program} in {base}")
            except EngineError as exc:
                raise missing from exc
            status = await self.engine.call(
                api.wait, container, timeout=60, what=f"run {program} in {base}"
            )
            logs: bytes = await self.engine.call(
                api.logs, container, stdout=True, stderr=True, what="read the probe's output"
            )
        finally:
            with contextlib.suppress(EngineError, ServerError):
                await self.engine.call(
                    api.remove_container, container, force=True, what="remove the probe"
                )
        if status.get("StatusCode") != 0:
            raise missing
        return logs.decode(errors="replace")

    # --- Dockerfile folders ------------------------------------------------------------

    async def dockerfile(self, spec: ServerSpec | None, folder: Path) -> BuildRecord:
        server_id = spec.id if spec else self.request.server
        paths, tree, size = await asyncio.to_thread(_scan_folder, folder)
        if size > WARN_CONTEXT_BYTES:
            self.say(
                f"warning: the build context {folder} holds {size / 2**20:.0f} MB; a "
                ".dockerignore would make builds faster"
            )
        tag = _check_tag(self.request.tag or default_tag(server_id, None))
        buildargs: dict[str, str] = {}
        base = ""
        base_id = ""
        await self.engine.version()
        if self.request.base:
            base = _check_ref(self.request.base, "--base")
            base_id = await self.base_image(base)
            buildargs["BASE"] = base
        if self.request.build_network == "host":
            self.say(
                "building with the host network: steps may download, which is slower and "
                "less reproducible than fetching on the host"
            )
        dockerfile_digest = await asyncio.to_thread(ctx.file_sha256, folder / "Dockerfile")
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
        with self.context_tar(folder, paths, world_readable=False) as tar:
            image_id = await self.run_build(
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
            entrypoint=await self.image_entrypoint(image_id),
            inputs=inputs,
            engine=self.engine.endpoint.url,
        )
        return await self.finish(record)

    async def image_entrypoint(self, image_id: str) -> list[str]:
        info = await self.engine.call(self.engine.api.inspect_image, image_id, what="inspect")
        config = info.get("Config") or {}
        return [str(x) for x in (config.get("Entrypoint") or config.get("Cmd") or [])]

    # --- common steps ----------------------------------------------------------------

    async def base_image(self, base: str) -> str:
        """The base image's id; pulled only with ``--pull``."""
        api = self.engine.api
        if self.request.pull:
            self.say(f"pulling {base}…")
            await self.engine.call(api.pull, base, what=f"pull {base}")
        try:
            info = await self.engine.call(api.inspect_image, base, what=f"find {base}")
        except EngineError as exc:
            if "no such image" not in exc.message.lower() and "not found" not in exc.message:
                raise
            raise NotFoundError(
                f"the base image {base} is not in the engine, and mcpkit never pulls "
                "without --pull",
                hint=f"docker pull {base} (or mcpkit build ... --pull), or pass --base "
                "with an image you have ('docker images')",
                code="base-image-missing",
            ) from exc
        return str(info["Id"])

    async def up_to_date(self, server_id: str, inputs: str) -> BuildRecord | None:
        if self.request.rebuild:
            return None
        record = load_record(self.data_dir, server_id)
        if record is None or record.inputs != inputs:
            return None
        try:
            info = await self.engine.call(
                self.engine.api.inspect_image, record.image, what=f"find {record.image}"
            )
        except EngineError:
            return None
        if info.get("Id") != record.image_id:
            return None
        self.say(f"{record.image} is up to date ({record.image_id[:19]})")
        return record

    @contextlib.contextmanager
    def context_tar(self, root: Path, paths: list[str], *, world_readable: bool) -> Iterator[Any]:
        with tempfile.TemporaryFile(prefix="mcpkit-context-") as out:
            try:
                ctx.write_tar(root, paths, out, world_readable=world_readable)
            except OSError as exc:
                raise InvalidInputError(
                    f"could not pack the build context {root}: {exc}",
                    hint="check that every file in it is readable",
                ) from exc
            yield out

    async def run_build(
        self,
        tar: Any,
        labels: dict[str, str] | None,
        *,
        network: str,
        nonce: str | None = None,
        buildargs: dict[str, str] | None = None,
    ) -> str:
        """Build the context in ``tar``; return the (untagged) image id."""
        loop = asyncio.get_running_loop()
        lines: list[str] = []

        def emit(line: str) -> None:
            lines.append(line)
            if self.progress is not None:
                loop.call_soon_threadsafe(self.progress, line)

        # A step may print nothing for minutes (a compile): the build gets its own
        # client, whose read timeout is the whole build's.
        builder = Engine(self.engine.endpoint, timeout=BUILD_TIMEOUT)

        def build() -> tuple[str | None, str | None]:
            stream = builder.api.build(
                fileobj=tar, custom_context=True, network_mode=network, forcerm=True, rm=True,
                labels=labels or None, decode=True, pull=False, buildargs=buildargs or {},
                use_config_proxy=network != "none",
            )  # fmt: skip
            return _consume(stream, emit)

        try:
            try:
                image_id, error = await builder.call(build, what="build the image")
            finally:
                builder.close()
            if image_id is None:
                await self.drop_partial(lines)
                tail = "\n".join(f"  {line}" for line in lines[-10:])
                raise ServerError(
                    f"the image build failed: {error or 'the engine reported no image id'}"
                    + (f"\n{tail}" if tail else ""),
                    hint="the step above failed; fix the Dockerfile, the package, or the "
                    "base image (--base), then build again",
                    code="build-failed",
                )
            if not image_id.startswith("sha256:"):
                info = await self.engine.call(
                    self.engine.api.inspect_image, image_id, what="inspect the built image"
                )
                image_id = str(info["Id"])
            return image_id
        finally:
            if nonce is not None:
                await self.remove_stage(nonce)

    async def drop_partial(self, lines: list[str]) -> None:
        """Remove the last step image a failed build left (and its untagged parents)."""
        steps = [m.group(1) for m in map(_STEP_IMAGE_RE.match, lines) if m]
        if steps:
            await self.drop_if_untagged(steps[-1])

    async def remove_stage(self, nonce: str) -> None:
        """Remove the build stage's images (the wheelhouse): they are no final layer."""
        api = self.engine.api
        with contextlib.suppress(EngineError, ServerError):
            ids = await self.engine.call(
                api.images, all=True, quiet=True, filters={"label": f"io.mcpkit.stage={nonce}"},
                what="list the build stage's images",
            )  # fmt: skip
            for image in ids:
                with contextlib.suppress(EngineError):
                    await self.engine.call(api.remove_image, image, what="remove a build stage")

    async def finish(self, record: BuildRecord) -> BuildRecord:
        """Tag the image, drop the image the tag replaced, then write the record."""
        api = self.engine.api
        previous = load_record(self.data_dir, record.server)
        repo, name = _split_tag(record.image)
        old_id: str | None = None
        with contextlib.suppress(EngineError):
            old = await self.engine.call(api.inspect_image, record.image, what="inspect")
            old_id = str(old.get("Id"))
        await self.engine.call(api.tag, record.image_id, repo, name, what=f"tag {record.image}")
        save_record(self.data_dir, record)
        self.say(f"built {record.image} ({record.image_id[:19]})")
        stale = {old_id, previous.image_id if previous else None} - {None, record.image_id}
        for image_id in stale:
            await self.drop_if_untagged(str(image_id))
        return record

    async def drop_if_untagged(self, image_id: str) -> None:
        api = self.engine.api
        with contextlib.suppress(EngineError, ServerError):
            info = await self.engine.call(api.inspect_image, image_id, what="inspect")
            if not info.get("RepoTags"):
                # A container still using it makes this fail: then it stays, as docker would.
                await self.engine.call(api.remove_image, image_id, what="remove an old image")


def _consume(stream: Any, emit: Any) -> tuple[str | None, str | None]:
    """Read a decoded build stream: the image id, or the error the build ended with."""
    image_id: str | None = None
    for chunk in stream:
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = str(detail.get("message") or chunk["error"]).strip()
            return None, message
        aux = chunk.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            image_id = aux["ID"]
        text = chunk.get("stream")
        if isinstance(text, str):
            for line in text.splitlines():
                if line.strip():
                    emit(line.rstrip())
                    built = re.match(r"^Successfully built ([0-9a-f]{12,64})$", line.strip())
                    if built and image_id is None:
                        image_id = built.group(1)
    return image_id, None


def _scan_folder(folder: Path) -> tuple[list[str], str, int]:
    """Check a Dockerfile folder; its paths, their digest and their total size."""
    if not folder.is_dir():
        raise InvalidInputError(
            f"{folder} is not a folder", hint="pass a folder that holds a Dockerfile"
        )
    if not (folder / "Dockerfile").is_file():
        raise InvalidInputError(
            f"{folder} holds no Dockerfile",
            hint="add a Dockerfile there, or pass the folder that has one",
        )
    paths = _context_paths(folder)
    tree, size = ctx.tree_digest(folder, paths)
    if size > MAX_CONTEXT_BYTES:
        raise InvalidInputError(
            f"the build context {folder} holds {size / 2**20:.0f} MB, over the "
            f"{MAX_CONTEXT_BYTES / 2**20:.0f} MB mcpkit sends to an engine",
            hint="list what the image does not need (data, .git, build output) in "
            f"{folder / '.dockerignore'}",
        )
    return paths, tree, size


def _context_paths(folder: Path) -> list[str]:
    """The files of ``folder`` the engine gets: all but those .dockerignore excludes."""
    from docker.utils.build import exclude_paths

    patterns: list[str] = []
    ignore = folder / ".dockerignore"
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith("#")
        ]
    included = exclude_paths(str(folder), patterns, dockerfile="Dockerfile")
    return sorted(str(p) for p in included)
