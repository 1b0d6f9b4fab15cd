"""The engine side of ``mcpkit build``: probes, base images, the build itself, tags, cleanup.

Everything here talks to the container engine through :class:`~mcpkit.runtime.engine.Engine`.
The build runs on its own client whose read timeout covers the whole build, streams
the engine's output to the progress callback, and yields an *untagged* image id:
tagging is a separate step (:meth:`EngineBuild.retag`) taken only once the build
succeeded. What a build leaves behind is removed here too: the wheelhouse stage of a
package build, the step images of a failed build, and images a new tag replaced,
each only while no tag still names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from mcpkit.errors import InvalidInputError, NotFoundError, ServerError
from mcpkit.images.fetch import PYTHON_PROBE, PythonTarget
from mcpkit.runtime.base import Progress
from mcpkit.runtime.engine import NOT_FOUND, Engine, EngineError

#: How long a build may go without printing anything.
BUILD_TIMEOUT = 1800.0

_IMAGE_REF_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@+-]*$", re.IGNORECASE)
#: A step's resulting image in a build's output (docker: " ---> id", podman: "--> id").
_STEP_IMAGE_RE = re.compile(r"^\s*-{2,3}> ([0-9a-f]{12,64})$")
_REPO_RE = re.compile(r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$|^[a-z0-9.-]+:[0-9]+/[a-z0-9._/-]+$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def check_ref(value: str, what: str) -> str:
    """Return ``value`` if it reads as an image reference; else an input error for ``what``."""
    if not _IMAGE_REF_RE.fullmatch(value):
        raise InvalidInputError(
            f"{value!r} is not a valid image reference for {what}",
            hint="e.g. python:3.12-slim, or registry.example/name:tag",
        )
    return value


def check_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid ``NAME[:TAG]`` to tag a build with."""
    repo, name = split_tag(tag)
    if not (_REPO_RE.fullmatch(repo) and _TAG_RE.fullmatch(name)) or "@" in tag:
        raise InvalidInputError(
            f"{tag!r} is not a valid image tag",
            hint="use lower-case NAME[:TAG], e.g. --tag mcpkit/my-server:1.0",
        )
    return tag


def split_tag(tag: str) -> tuple[str, str]:
    """``repo:name`` → ``(repo, name)``; no tag (a ``:`` before a ``/`` is a port) → latest."""
    repo, sep, name = tag.rpartition(":")
    if not sep or "/" in name:
        return tag, "latest"
    return repo, name


class EngineBuild:
    """The engine-facing steps of one build, and where their progress goes."""

    def __init__(self, engine: Engine, progress: Progress | None) -> None:
        self.engine = engine
        self.progress = progress

    def say(self, line: str) -> None:
        """Report one line of progress, if anyone listens."""
        if self.progress is not None:
            self.progress(line)

    # --- what the base image offers -------------------------------------------------

    async def probe_python(self, base: str) -> PythonTarget:
        """The Python inside ``base``, which the wheels are fetched for."""
        output = await self.probe(base, ["python3", "-c", PYTHON_PROBE], "python3")
        target = PythonTarget.parse(output, base)
        target.check(base)
        self.say(
            f"{base} has CPython {target.major}.{target.minor} "
            f"({target.libc} {'.'.join(map(str, target.libc_version or ()))}, {target.machine})"
        )
        return target

    async def probe_node(self, base: str) -> None:
        """Check that ``base`` runs node."""
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

    async def base_image(self, base: str, *, pull: bool) -> str:
        """The base image's id; pulled only with ``pull`` (``--pull``)."""
        api = self.engine.api
        if pull:
            self.say(f"pulling {base}…")
            await self.engine.call(api.pull, base, what=f"pull {base}")
        try:
            info = await self.engine.call(api.inspect_image, base, what=f"find {base}")
        except EngineError as exc:
            if exc.status != NOT_FOUND:
                raise
            raise NotFoundError(
                f"the base image {base} is not in the engine, and mcpkit never pulls "
                "without --pull",
                hint=f"docker pull {base} (or mcpkit build ... --pull), or pass --base "
                "with an image you have ('docker images')",
                code="base-image-missing",
            ) from exc
        return str(info["Id"])

    # --- images that exist ----------------------------------------------------------

    async def image_id(self, image: str) -> object:
        """The id the engine has for ``image``, or None when it has no such image."""
        try:
            info = await self.engine.call(
                self.engine.api.inspect_image, image, what=f"find {image}"
            )
        except EngineError:
            return None
        return info.get("Id")

    async def image_entrypoint(self, image_id: str) -> list[str]:
        """The entrypoint (or else the command) a built image runs."""
        info = await self.engine.call(self.engine.api.inspect_image, image_id, what="inspect")
        config = info.get("Config") or {}
        return [str(x) for x in (config.get("Entrypoint") or config.get("Cmd") or [])]

    async def retag(self, image_id: str, image: str) -> str | None:
        """Point the tag ``image`` at ``image_id``; return the id it named before, if any."""
        api = self.engine.api
        repo, name = split_tag(image)
        old_id: str | None = None
        with contextlib.suppress(EngineError):
            old = await self.engine.call(api.inspect_image, image, what="inspect")
            old_id = str(old.get("Id"))
        await self.engine.call(api.tag, image_id, repo, name, what=f"tag {image}")
        return old_id

    async def drop_if_untagged(self, image_id: str) -> None:
        """Remove ``image_id`` unless a tag still names it."""
        api = self.engine.api
        with contextlib.suppress(EngineError, ServerError):
            info = await self.engine.call(api.inspect_image, image_id, what="inspect")
            if not info.get("RepoTags"):
                # A container still using it makes this fail: then it stays, as docker would.
                await self.engine.call(api.remove_image, image_id, what="remove an old image")

    # --- the build ------------------------------------------------------------------

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
