"""Profiles: named sets of servers with their per-server config, tool lists and pins.

A profile never holds a secret value: only the names of the secrets its servers
need, which the secret store resolves at run time.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import InvalidInputError

DEFAULT_PROFILE = "default"
PROFILE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ToolFilter(BaseModel):
    """Which tools of a server are exposed: an allowlist (None = all) minus a denylist."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] | None = None
    deny: list[str] = Field(default_factory=list)

    def allows(self, tool: str) -> bool:
        """True if the tool is exposed."""
        return (self.allow is None or tool in self.allow) and tool not in self.deny

    @property
    def is_default(self) -> bool:
        """True when every tool is exposed."""
        return self.allow is None and not self.deny


class Pins(BaseModel):
    """What was approved: image digest, package hashes, tool-definition hashes."""

    model_config = ConfigDict(extra="forbid")

    image_digest: str | None = None
    package_version: str | None = None
    package_hashes: list[str] = Field(default_factory=list)
    #: tool name -> sha256 of its name, description and input schema.
    tools: dict[str, str] = Field(default_factory=dict)


class ServerRun(BaseModel):
    """How one server runs in this profile: its runtime and container limits."""

    model_config = ConfigDict(extra="forbid")

    #: ``auto`` follows the gateway (image servers in containers, the rest as processes).
    runtime: Literal["auto", "process", "docker"] = "auto"
    #: Container memory limit (``256m``, ``1g``); None = the gateway's.
    memory: str | None = None
    cpus: float | None = Field(default=None, gt=0)
    pids: int | None = Field(default=None, ge=8)
    #: False for images that must write outside /tmp; None = read-only root.
    read_only: bool | None = None
    #: ``uid:gid`` to run as, for images that need a particular user.
    user: str | None = Field(default=None, pattern=r"^[0-9]+(:[0-9]+)?$")

    @field_validator("memory")
    @classmethod
    def _memory_form(cls, value: str | None) -> str | None:
        if value is not None:
            from mcpkit.runtime.hardening import parse_size

            try:
                parse_size(value)
            except InvalidInputError as exc:
                raise ValueError(exc.message) from None
        return value

    @property
    def is_default(self) -> bool:
        """True when nothing is set."""
        return self == ServerRun()


class ProfileServer(BaseModel):
    """One server in a profile."""

    model_config = ConfigDict(extra="forbid")

    id: str
    #: A spec carried by the profile itself (a server added without a catalog entry).
    spec: ServerSpec | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    tools: ToolFilter = Field(default_factory=ToolFilter)
    pins: Pins = Field(default_factory=Pins)
    run: ServerRun = Field(default_factory=ServerRun)


class Profile(BaseModel):
    """A named set of servers that a gateway serves."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    #: Expose every tool as ``<server>__<tool>`` instead of only on collisions.
    prefix_tools: bool = False
    servers: list[ProfileServer] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_form(cls, value: str) -> str:
        check_profile_name(value)
        return value

    def server(self, server_id: str) -> ProfileServer | None:
        """The entry for a server id, if the profile has it."""
        return next((s for s in self.servers if s.id == server_id), None)


def check_profile_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid profile name."""
    if not PROFILE_NAME_RE.fullmatch(name):
        raise ValueError(
            f"profile name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)"
        )
