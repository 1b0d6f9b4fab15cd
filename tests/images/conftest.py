"""Fixtures for ``mcpkit build``: a real engine, the test base images, shared builds.

``docker_target`` wraps the repository-wide one (tests/conftest.py) with helpers and
removes the throwaway tags the tests made. The builds of the two catalog servers are
shared by the whole session, since each takes 10 to 15 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from image_helpers import (
    EngineTarget,
    SharedBuilds,
    everything_spec,
    time_spec,
)

from mcpkit.app import App
from mcpkit.images.build import BuildRequest, build_image


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def docker_target(docker_target: Any) -> Iterator[EngineTarget]:
    """The repository's docker engine fixture, with throwaway tags removed at the end."""
    target = EngineTarget(
        "docker", docker_target.environ, docker_target.base_image, docker_target.node_base_image
    )
    yield target
    if target.tags:
        target.docker("rmi", "--force", *sorted(target.tags))


@pytest.fixture(scope="session")
def build_environ(
    tmp_path_factory: pytest.TempPathFactory,
    host_passthrough: dict[str, str],
    docker_target: EngineTarget,
) -> dict[str, str]:
    """An isolated mcpkit home that reaches the real PyPI, npm and engine."""
    root = tmp_path_factory.mktemp("build-home")
    (root / "home").mkdir()
    return {
        **host_passthrough,
        **docker_target.environ,
        "MCPKIT_HOME": str(root / "mcpkit"),
        "HOME": str(root / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


@pytest.fixture(scope="session")
def shared_builds(
    build_environ: dict[str, str], docker_target: EngineTarget
) -> Iterator[SharedBuilds]:
    """``time`` (PyPI, hash-pinned) and ``everything`` (npm) built for real, once."""
    import time as clock

    app = App(build_environ)
    app.profiles.add_server("default", "time", spec=time_spec())
    app.profiles.add_server("default", "everything", spec=everything_spec())
    progress: list[str] = []
    started = clock.monotonic()
    time_record = asyncio.run(
        build_image(
            app,
            BuildRequest("time", base=docker_target.base_image, tag=docker_target.tag("time")),
            progress=progress.append,
        )
    )
    time_seconds = clock.monotonic() - started
    started = clock.monotonic()
    everything_record = asyncio.run(
        build_image(
            app,
            BuildRequest(
                "everything",
                base=docker_target.node_base_image,
                tag=docker_target.tag("everything"),
            ),
        )
    )
    everything_seconds = clock.monotonic() - started
    yield SharedBuilds(
        app, time_record, everything_record, time_seconds, everything_seconds, progress
    )
    app.close()
