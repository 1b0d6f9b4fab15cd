"""The upgrade path from Docker's MCP Toolkit (the pre-profile configuration).

Docker's MCP Toolkit keeps, under ``~/.docker/mcp/``: ``registry.yaml`` (the enabled
servers: ``registry: {name: {ref: ...}}``), ``config.yaml`` (``name: {key: value}``)
and ``tools.yaml`` (``name: [tool, ...]``, an allowlist), plus its catalog in
``catalogs/docker-mcp.yaml``. Those servers become the ``default`` profile: a server
whose name is in our catalogs maps to that entry; one that is only in Docker's local
catalog is carried with a spec converted from it; anything else is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mcpkit.catalog.docker_format import convert_catalog_entry
from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import ProfileFormatError
from mcpkit.profiles.model import ProfileServer, ToolFilter

MIGRATION_KEY = "docker_toolkit_migrated"


@dataclass
class ToolkitImport:
    """Servers read from a Docker MCP Toolkit configuration, and what could not be mapped."""

    servers: list[ProfileServer] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def toolkit_dir(home: Path) -> Path:
    """Where Docker's MCP Toolkit keeps its configuration."""
    return home / ".docker" / "mcp"


def has_toolkit_config(directory: Path) -> bool:
    """True if a Docker MCP Toolkit ``registry.yaml`` is there."""
    return (directory / "registry.yaml").is_file()


def read_toolkit(directory: Path, known: Callable[[str], ServerSpec | None]) -> ToolkitImport:
    """Map the Toolkit's enabled servers, config and tool lists to profile servers.

    ``known`` looks a server id up in our catalogs.
    """
    registry = _load(directory / "registry.yaml", required=True)
    servers = registry.get("registry") or {}
    if not isinstance(servers, dict):
        raise ProfileFormatError(f"{directory / 'registry.yaml'}: 'registry' must be a mapping")
    config = _load(directory / "config.yaml")
    tools = _load(directory / "tools.yaml")
    docker_catalog = _load(directory / "catalogs" / "docker-mcp.yaml").get("registry") or {}
    result = ToolkitImport()
    for name in sorted(servers):
        spec = known(name)
        inline: ServerSpec | None = None
        if spec is None and isinstance(docker_catalog.get(name), dict):
            inline, warnings = convert_catalog_entry(
                name, docker_catalog[name], origin="docker-mcp.yaml"
            )
            result.problems.extend(warnings)
            spec = inline
        if spec is None:
            result.problems.append(
                f"{name}: not in any mcpkit catalog nor in Docker's local catalog; skipped "
                f"(add it with 'mcpkit profile server add {name} --image IMAGE')"
            )
            continue
        server_config = config.get(name) or {}
        if not isinstance(server_config, dict):
            result.problems.append(f"{name}: config in config.yaml is not a mapping; ignored")
            server_config = {}
        allow = tools.get(name)
        if allow is not None and not isinstance(allow, list):
            result.problems.append(f"{name}: tools in tools.yaml is not a list; ignored")
            allow = None
        result.servers.append(
            ProfileServer(
                id=spec.id,
                spec=inline,
                config=server_config,
                tools=ToolFilter(allow=[str(t) for t in allow] if allow is not None else None),
            )
        )
    return result


def _load(path: Path, *, required: bool = False) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise ProfileFormatError(
                f"no Docker MCP Toolkit configuration at {path}",
                hint="nothing to import; create a profile with 'mcpkit profile create NAME'",
            ) from None
        return {}
    except OSError as exc:
        raise ProfileFormatError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileFormatError(
            f"{path} is not valid YAML: {exc}".splitlines()[0],
            hint=f"fix {path}, then run 'mcpkit profile import --from-docker'",
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileFormatError(f"{path}: expected a mapping at the top level")
    return data
