"""Fixtures for the OCI client tests: real registries (one per auth mode per module)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpkit.oci import RegistryClient
from registry_helpers import RunningRegistry, start_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An open registry (no auth), shared by the tests of one module."""
    with start_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def htpasswd_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry behind htpasswd (Basic) auth."""
    with start_registry(tmp_path_factory.mktemp("registry"), auth="htpasswd") as running:
        yield running


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry behind token auth, with its token server."""
    with start_registry(tmp_path_factory.mktemp("registry"), auth="token") as running:
        yield running


@pytest.fixture
def client_environ(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty HOME (no docker config) and a plain PATH."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "PATH": "/usr/bin:/bin"}


@pytest.fixture
def client(client_environ: dict[str, str]) -> Iterator[RegistryClient]:
    """A client without credentials."""
    with RegistryClient(environ=client_environ, timeout=10.0) as instance:
        yield instance


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository path unique to this test."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    return f"tests/{slug}-{secrets.token_hex(3)}"
