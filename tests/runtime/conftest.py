"""Fixtures for the runtime tests: one package cache per test session, plans, helpers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from mcpkit.catalog.model import CommandSource, NetworkPolicy, PackageSource, ServerSpec
from mcpkit.runtime.base import LaunchPlan, Mount
from mcpkit.runtime.install import InstalledPackage, ensure_installed
from mcpkit.store import Locations

TIME_SOURCE = PackageSource(registry="pypi", name="mcp-server-time")
#: A variable of the test process that no server may ever see.
CANARY = "MCPKIT_TEST_CANARY"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def host_environ() -> dict[str, str]:
    """The real environment (installers need PATH, HOME for their caches, proxies…).

    It also carries a canary, so tests can check that a server never inherits it.
    """
    return {**os.environ, CANARY: "the-gateway-environment-leaked"}


@pytest.fixture(scope="session")
def time_server(package_cache: Path, host_environ: dict[str, str]) -> InstalledPackage:
    """mcp-server-time from PyPI, installed for real once per session."""
    return asyncio.run(ensure_installed(TIME_SOURCE, package_cache, None, host_environ))


@pytest.fixture
def locations(tmp_path: Path, package_cache: Path) -> Locations:
    """Per-test config/data/state, with the session's package cache."""
    return Locations(tmp_path / "config", tmp_path / "data", package_cache, tmp_path / "state")


PlanFactory = Callable[..., LaunchPlan]


@pytest.fixture
def make_plan() -> PlanFactory:
    """Build a launch plan for a source, with the fields the tests vary."""

    def build(
        source: PackageSource | CommandSource,
        *,
        server: str = "probe",
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        files: Mapping[str, bytes] | None = None,
        mounts: Sequence[Mount] = (),
        network: NetworkPolicy | None = None,
        secret_values: Sequence[str] = (),
        allow_unsandboxed: bool = False,
    ) -> LaunchPlan:
        policy = network or NetworkPolicy()
        spec = ServerSpec(id=server, title=server, source=source, network=policy)
        return LaunchPlan(
            server=server,
            spec=spec,
            args=tuple(args),
            env=dict(env or {}),
            files=dict(files or {}),
            mounts=tuple(mounts),
            network=policy,
            secret_values=tuple(secret_values),
            allow_unsandboxed=allow_unsandboxed,
        )

    return build
