"""Fixtures for the docker runtime's tests: a probe image per engine, and gateways on it.

The probe (``images/probe``) is a stdlib-only MCP server that reports on its own
confinement. It is built on each engine from the test base image with the network off,
once per session, under a tag that hashes its folder, so a changed probe is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.errors import McpkitError
from mcpkit.runtime.engine import Engine

PROBE_DIR = Path(__file__).parent / "images" / "probe"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def _context(folder: Path) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    digest = hashlib.sha256()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + data)
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), digest.hexdigest()[:12]


@pytest.fixture(scope="session")
def probe_images() -> dict[str, str]:
    """Engine name → the probe image built there (filled by ``probe_image``)."""
    return {}


@pytest.fixture
def probe_image(engine_target: Any, probe_images: dict[str, str]) -> str:
    """The probe image on ``engine_target``'s engine, built once per session."""
    if engine_target.name in probe_images:
        return probe_images[engine_target.name]
    context, digest = _context(PROBE_DIR)
    tag = f"mcpkit-test/probe:{digest}"
    engine = Engine.from_environ(engine_target.environ)
    try:
        try:
            engine.call_sync(engine.api.inspect_image, tag, what="inspect the probe")
        except McpkitError:  # not built yet on this engine
            out = engine.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                buildargs={"BASE": engine_target.base_image},
                network_mode="none",
                rm=True,
                forcerm=True,
                decode=True,
            )
            log = [json.dumps(line) for line in out]
            assert not any('"error"' in line for line in log), "\n".join(log)
    finally:
        engine.close()
    probe_images[engine_target.name] = tag
    return tag


@pytest.fixture
def engine_app(environ: dict[str, str], engine_target: Any, tmp_path: Path) -> Iterator[App]:
    """An App on an isolated home whose environment selects ``engine_target``."""
    instance = App({**environ, **engine_target.environ})
    yield instance
    instance.close()
