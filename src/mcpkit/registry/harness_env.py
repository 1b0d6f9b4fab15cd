"""Where ``registry test`` runs a submission: a throwaway mcpkit home, image and container.

A :class:`Workspace` is a temporary folder holding an mcpkit home of its own (its
:class:`~mcpkit.app.App`, a profile with the submission's spec as a carried spec, the
build record), so a test never touches the user's profiles, catalogs, secrets or build
records. The image it builds is tagged ``mcpkit-submission/<name>:<nonce>`` and the
container is labelled with the workspace's home; :meth:`Workspace.cleanup` removes both
and the folder, and says what it could not remove.

Containers run with the docker runtime's hardened defaults and always with no network:
a test must not depend on, or reach, anything outside the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from mcpkit.app import App
from mcpkit.catalog.model import ImageSource, ServerSpec
from mcpkit.errors import InvalidInputError, McpkitError, NotFoundError
from mcpkit.images.build import BuildRequest, build_image
from mcpkit.images.records import BuildRecord
from mcpkit.profiles.model import ProfileServer
from mcpkit.registry.submission import Submission
from mcpkit.runtime.base import Instance, LaunchPlan, Progress
from mcpkit.runtime.docker import DockerOptions, DockerRuntime
from mcpkit.runtime.engine import NOT_FOUND, Engine, EngineError
from mcpkit.runtime.hardening import ContainerPolicy
from mcpkit.runtime.plan import build_plan

#: The profile of the workspace's home that holds the submission.
PROFILE = "registry-test"
#: The repository every image ``registry test`` builds is tagged in.
IMAGE_REPOSITORY = "mcpkit-submission"
#: How long a container gets to stop once its test is over.
STOP_GRACE = 2.0


class SignInWatch(httpx.Auth):
    """An httpx auth flow that adds nothing and notes whether the server answered 401.

    It is also the remote runtime's authorizer: the workspace holds no credential, so
    a server that needs one answers 401, which the harness reports as "needs sign-in".
    """

    def __init__(self) -> None:
        self.saw_401 = False

    async def async_auth_flow(self, request: httpx.Request) -> Any:
        """Send the request as it is; remember a 401."""
        response = yield request
        if response.status_code == 401:
            self.saw_401 = True

    def auth(self, server: str, profile: str) -> httpx.Auth:
        """The :class:`~mcpkit.runtime.remote.Authorizer` side: this very flow."""
        return self

    async def access_token(self, server: str, profile: str) -> str | None:
        """No credential is ever stored in a workspace."""
        return None


class Workspace:
    """One submission's ephemeral mcpkit home, and the image and container made in it."""

    def __init__(
        self,
        app: App,
        sub: Submission,
        engine: Engine,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.user_app = app
        self.sub = sub
        self.engine = engine
        self.progress = progress
        self.root = Path(tempfile.mkdtemp(prefix="mcpkit-registry-test-"))
        self.app = App({**app.environ, "MCPKIT_HOME": str(self.root / "home")})
        self.tag = f"{IMAGE_REPOSITORY}/{sub.name}:{secrets.token_hex(6)}"
        #: Set once a build was started: the tag may exist and must be removed.
        self.building = False
        self.instance: Instance | None = None
        self.runtime: DockerRuntime | None = None
        self.watch = SignInWatch()

    # --- the plan --------------------------------------------------------------------

    def add_to_profile(self, spec: ServerSpec) -> ProfileServer:
        """Put ``spec`` with the test plan's config in the workspace's profile."""
        profiles = self.app.profiles
        if not profiles.exists(PROFILE):
            profiles.create(PROFILE, description="mcpkit registry test")
        profiles.add_server(PROFILE, spec.id, spec=spec, config=dict(self.sub.test.config))
        found = profiles.get(PROFILE).server(spec.id)
        if found is None:  # add_server just wrote it
            raise InvalidInputError(f"the test profile lost server {spec.id!r}")
        return found

    def plan(self, server: ProfileServer, spec: ServerSpec) -> LaunchPlan:
        """The launch plan with the example config and secrets (ConfigValidationError...)."""
        examples = self.sub.test.secrets
        return build_plan(PROFILE, server, spec, examples.get)

    def run_spec(self, spec: ServerSpec, image: str) -> ServerSpec:
        """``spec`` running ``image`` (the ephemeral build, or an image source as it is)."""
        command = spec.source.command if isinstance(spec.source, ImageSource) else []
        return spec.model_copy(update={"source": ImageSource(image=image, command=command)})

    # --- fetching and building -----------------------------------------------------------

    async def fetch(self) -> tuple[Path, str]:
        """Check out the git source; its build folder and a line saying what was fetched."""
        from mcpkit.registry.sources import fetch_source

        fetched = await fetch_source(self.sub, self.root / "source", self.app.environ)
        if fetched.path is None:
            raise InvalidInputError(f"{self.sub.name}: the git source gave no build folder")
        git = self.sub.git
        what = f"{git.url} at {git.commit[:12]}" if git else "the source"
        if fetched.license:
            what += f" (licence {fetched.license} from {fetched.license_origin})"
        return fetched.path, what

    async def dockerfile_context(self, folder: Path) -> Path:
        """The build folder with the submission's Dockerfile as ``Dockerfile``.

        ``build_image`` builds ``Dockerfile`` at the context's root; a submission naming
        another file gets it copied there, in the workspace's own checkout.
        """
        name = self.sub.git.dockerfile if self.sub.git else "Dockerfile"
        if name in ("Dockerfile", "./Dockerfile"):
            return folder
        return await asyncio.to_thread(_with_dockerfile, folder, name, self.root)

    async def build(
        self, base: str | None, context: Path | None, *, network: str = "none"
    ) -> BuildRecord:
        """Build the submission's image under :attr:`tag` (a package, or a Dockerfile folder)."""
        self.building = True
        request = BuildRequest(
            server=self.sub.name,
            profile=PROFILE,
            base=base,
            tag=self.tag,
            context=context,
            rebuild=True,
            build_network=network if context is not None else "none",
        )
        return await build_image(self.app, request, engine=self.engine, progress=self.progress)

    async def image_id(self, ref: str) -> str:
        """The id of an image the engine has; NotFoundError (never pulled) when it has not."""
        try:
            info = await self.engine.call(
                self.engine.api.inspect_image, ref, what=f"find the image {ref}"
            )
        except EngineError as exc:
            if exc.status != NOT_FOUND:
                raise
            raise NotFoundError(
                f"the image {ref} is not in the engine, and 'registry test' never pulls",
                hint=f"docker pull {ref} (or build it), then test again",
                code="image-missing",
            ) from exc
        return str(info.get("Id"))

    # --- running ----------------------------------------------------------------------

    async def start_container(self, plan: LaunchPlan) -> Instance:
        """Start the server's container: hardened defaults, no network, never a pull."""
        locations = [self.app.locations, self.user_app.locations]
        policy = ContainerPolicy(
            sensitive=tuple(
                path
                for where in locations
                for path in (where.data_dir, where.config_dir, where.state_dir)
            )
        )
        options = DockerOptions(
            pull="never", parallel_starts=1, max_containers=1, network_mode="none"
        )
        home = Path(self.app.environ.get("HOME") or Path.home())
        self.runtime = DockerRuntime(
            self.engine, self.app.locations, policy, options=options, home=home
        )
        self.instance = await self.runtime.start(plan)
        return self.instance

    async def start_remote(self, plan: LaunchPlan, *, allow_insecure: bool) -> Instance:
        """Open the connection to a remote server (through the SSRF guard)."""
        from mcpkit.gateway.build import remote_policy
        from mcpkit.runtime.remote import RemoteRuntime

        runtime = RemoteRuntime(remote_policy(self.user_app, allow_insecure), self.watch)
        await runtime.prepare(plan)
        self.instance = await runtime.start(plan)
        return self.instance

    async def exit_status(self) -> tuple[int | None, list[str]]:
        """Stop the instance; its exit code and the tail of its stderr (redacted)."""
        instance = self.instance
        if instance is None:
            return None, []
        await instance.stop(STOP_GRACE)
        return instance.health().returncode, instance.stderr_tail(10)

    # --- cleanup ----------------------------------------------------------------------

    async def cleanup(self) -> list[str]:
        """Stop and remove the container, the ephemeral image and the folder; what failed."""
        problems: list[str] = []
        instance, self.instance = self.instance, None
        if instance is not None:
            try:
                await instance.stop(STOP_GRACE)
            except (McpkitError, OSError) as exc:
                problems.append(f"stopping the server failed: {_text(exc)}")
            container = getattr(instance, "container_id", None)
            if isinstance(container, str):
                problems += await self._gone("container", container)
        if self.building:
            problems += await self._gone("image", self.tag)
        with contextlib.suppress(McpkitError):
            self.app.close()
        await asyncio.to_thread(shutil.rmtree, self.root, ignore_errors=True)
        if self.root.exists():
            problems.append(f"the folder {self.root} could not be removed")
        return problems

    async def _gone(self, kind: str, ref: str) -> list[str]:
        """Remove a container or image (forced); a problem unless it is gone afterwards."""
        api = self.engine.api
        remove = api.remove_container if kind == "container" else api.remove_image
        inspect = api.inspect_container if kind == "container" else api.inspect_image
        with contextlib.suppress(EngineError):
            await self.engine.call(remove, ref, force=True, what=f"remove the {kind} {ref}")
        try:
            await self.engine.call(inspect, ref, what=f"check that the {kind} {ref} is gone")
        except EngineError as exc:
            if exc.status == NOT_FOUND:
                return []
            return [f"could not check that the {kind} {ref} is gone: {exc.message}"]
        except McpkitError as exc:
            return [f"could not check that the {kind} {ref} is gone: {exc.message}"]
        return [f"the {kind} {ref} could not be removed"]


def _with_dockerfile(folder: Path, name: str, workdir: Path) -> Path:
    real = folder.resolve()
    source = (real / name).resolve()
    if not source.is_relative_to(real) or not source.is_file():
        raise InvalidInputError(
            f"the Dockerfile {name!r} is not a file inside the build folder",
            hint="set source.dockerfile to a path relative to source.directory",
        )
    if not real.is_relative_to(workdir.resolve()):
        # Not the workspace's own checkout: copy it rather than write into it.
        copy = workdir / "context"
        shutil.copytree(real, copy, symlinks=True)
        real, source = copy, copy / source.relative_to(real)
    shutil.copyfile(source, real / "Dockerfile")
    return real


def engine_problem(exc: McpkitError) -> bool:
    """Whether an error is the tester's environment, not the submission (raised, not judged)."""
    from mcpkit.errors import RuntimeUnavailableError

    return isinstance(exc, RuntimeUnavailableError) or exc.code == "base-image-missing"


def _text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, McpkitError) else str(exc)


def example_values(sub: Submission) -> list[str]:
    """The example secret values a report must never show."""
    values: Mapping[str, str] = sub.test.secrets
    return [v for v in values.values() if isinstance(v, str) and v]
