"""Profiles: named sets of servers with their per-server config, tool lists and pins.

A profile never holds a secret value: only the names of the secrets its servers
need, which the secret store resolves at run time.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mcpkit.catalog.model import ServerSpec

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


class ProfileServer(BaseModel):
    """One server in a profile."""

    model_config = ConfigDict(extra="forbid")

    id: str
    #: A spec carried by the profile itself (a server added without a catalog entry).
    spec: ServerSpec | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    tools: ToolFilter = Field(default_factory=ToolFilter)
    pins: Pins = Field(default_factory=Pins)


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
