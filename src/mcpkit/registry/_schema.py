"""The schema of our ``server.yaml`` format, as strict pydantic models.

Extra keys are forbidden so a typo is a ``schema`` finding. Fields that a lint rule
judges with a better message (secret names, remote transports, git commits) are
plain text here on purpose.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Default time for start → initialize → list → calls, in seconds.
DEFAULT_TIMEOUT = 60.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackageEntry(Strict):
    type: Literal["package"]
    registry: Literal["pypi", "npm"]
    name: str = Field(min_length=1)
    version: str | None = None
    hashes: list[str] = Field(default_factory=list)
    entrypoint: str | None = None


class GitEntry(Strict):
    type: Literal["git"]
    url: str = Field(min_length=1)
    # Optional here so that a missing commit is reported as source.unpinned.
    commit: str = ""
    directory: str = "."
    dockerfile: str = "Dockerfile"


class ImageEntry(Strict):
    type: Literal["image"]
    image: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)


class RemoteEntry(Strict):
    type: Literal["remote"]
    url: str = Field(min_length=1)
    # Any text: remote.transport reports an unknown one with the accepted values.
    transport: str = "streamable-http"
    headers: dict[str, str] = Field(default_factory=dict)
    oauth: dict[str, Any] | None = None


class SecretEntry(Strict):
    # Any text: secret.name reports a bad name with the expected form.
    name: str
    env: str | None = None
    file: str | None = None
    description: str = ""
    required: bool = True


class PublisherEntry(Strict):
    # No tier: a submission's publisher is always community.
    name: str = Field(min_length=1)
    url: str | None = None


class CallEntry(Strict):
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class TestEntry(Strict):
    config: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0, le=3600)
    tools: Literal["list", "declared"] = "list"
    calls: list[CallEntry] = Field(default_factory=list)


class TestFile(Strict):
    test: TestEntry


class SubmissionEntry(Strict):
    name: str = Field(min_length=1)
    title: str
    description: str = ""
    license: str | None = None
    publisher: PublisherEntry | None = None
    category: str | None = None
    tags: list[str] = Field(default_factory=list)
    homepage: str | None = None
    icon: str | None = None
    source: Annotated[
        PackageEntry | GitEntry | ImageEntry | RemoteEntry, Field(discriminator="type")
    ]
    secrets: list[SecretEntry] = Field(default_factory=list)
    config_schema: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    args: list[str] = Field(default_factory=list)
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    network: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    per_session: bool = False
    test: TestEntry | None = None
