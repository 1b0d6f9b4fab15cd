"""Keys, digests and build records shared by the trust tests."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import ec

from mcpkit.images.records import Artifact, BuildRecord
from mcpkit.trust.keys import SigningKey


def digest_of(text: str) -> str:
    """A ``sha256:<hex>`` digest of ``text``."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


IMAGE_DIGEST = digest_of("image")
OTHER_DIGEST = digest_of("other image")
REPOSITORY = "127.0.0.1:5000/mcp/time"
WHEEL_SHA = digest_of("mcp_server_time wheel")


def new_key() -> SigningKey:
    """A fresh P-256 signing key (not written anywhere)."""
    return SigningKey(ec.generate_private_key(ec.SECP256R1()), origin="test key")


def pypi_record() -> BuildRecord:
    """What `mcpkit build` records for a PyPI server with one dependency."""
    return BuildRecord(
        server="io.github.example/time",
        image="mcpkit/io.github.example-time:2026.1.0",
        image_id=digest_of("image id"),
        kind="pypi",
        package="mcp-server-time",
        version="2026.1.0",
        artifacts=[
            Artifact(name="mcp_server_time-2026.1.0-py3-none-any.whl", sha256=WHEEL_SHA),
            Artifact(name="pydantic-2.9.0-py3-none-any.whl", sha256=digest_of("pydantic")),
        ],
        base="mcpkit-test/base:bookworm",
        base_id=digest_of("base id"),
        entrypoint=["/opt/venv/bin/mcp-server-time"],
        inputs=digest_of("inputs"),
        engine="unix:///var/run/docker.sock",
        built_at="2026-01-02T03:04:05Z",
    )


def npm_record() -> BuildRecord:
    """A pinned, scoped npm server: its tarball and its package-lock entries."""
    return BuildRecord(
        server="io.github.example/files",
        image="127.0.0.1:5000/mcp/files:1.2.3",
        image_id=digest_of("npm image id"),
        kind="npm",
        package="@example/server-files",
        version="1.2.3",
        artifacts=[
            Artifact(name="example-server-files-1.2.3.tgz", sha256=digest_of("tarball")),
            Artifact(
                name="@example/server-files@1.2.3",
                integrity="sha512-" + "A" * 86 + "==",
            ),
            Artifact(name="zod@3.23.8", integrity="sha512-" + "B" * 86 + "=="),
        ],
        base="docker.io/library/node:20-slim",
        base_id=digest_of("node base id"),
        inputs=digest_of("npm inputs"),
        engine="unix:///var/run/docker.sock",
    )


def dockerfile_record() -> BuildRecord:
    """A Dockerfile folder built without --base."""
    return BuildRecord(
        server="local/tool",
        image="mcpkit/local-tool:latest",
        image_id=digest_of("df image id"),
        kind="dockerfile",
        artifacts=[
            Artifact(name="Dockerfile", sha256=digest_of("Dockerfile")),
            Artifact(name="context", sha256=digest_of("context tree")),
        ],
        base="",
        base_id="",
        inputs=digest_of("df inputs"),
        engine="unix:///var/run/docker.sock",
    )
