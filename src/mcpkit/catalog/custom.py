"""Build a server spec from a few command-line options, so users never hand-write one."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pydantic import ValidationError

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import InvalidInputError, UsageError


@dataclass
class SpecOptions:
    """What ``--command/--image/--pypi/--npm/--url`` and friends said."""

    command: str | None = None
    image: str | None = None
    pypi: str | None = None
    npm: str | None = None
    url: str | None = None
    transport: str = "streamable-http"
    title: str | None = None
    description: str = ""
    category: str = "custom"
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # KEY=VALUE
    secrets: list[str] = field(default_factory=list)  # NAME=ENV_VAR
    headers: list[str] = field(default_factory=list)  # Name=Value (templates allowed)
    volumes: list[str] = field(default_factory=list)  # SRC:/target[:rw]
    network: str = "none"  # none | any | host1,host2

    @property
    def given(self) -> list[str]:
        """The source options that were given."""
        pairs = [
            ("--command", self.command),
            ("--image", self.image),
            ("--pypi", self.pypi),
            ("--npm", self.npm),
            ("--url", self.url),
        ]
        return [flag for flag, value in pairs if value]


def build_spec(server_id: str, opts: SpecOptions) -> ServerSpec:
    """A ServerSpec of tier ``local`` from options; exactly one source option is needed."""
    if len(opts.given) != 1:
        raise UsageError(
            "give exactly one of --command, --image, --pypi, --npm or --url"
            + (f" (got {', '.join(opts.given)})" if opts.given else ""),
            hint=f"e.g. mcpkit profile server add {server_id} --command 'python -m my_server'",
        )
    data: dict[str, object] = {
        "id": server_id,
        "title": opts.title or server_id,
        "description": opts.description,
        "publisher": {"name": "local", "tier": "local"},
        "category": opts.category,
        "source": _source(opts),
        "args": list(opts.args),
        "env": _pairs(opts.env, "--env", "KEY=VALUE"),
        "secrets": [
            {"name": name, "env": env}
            for name, env in _pairs(opts.secrets, "--secret", "NAME=ENV_VAR").items()
        ],
        "volumes": [_volume(v) for v in opts.volumes],
        "network": _network(opts.network),
    }
    if opts.command:
        argv = shlex.split(opts.command)
        data["args"] = argv[1:] + list(opts.args)
    try:
        return ServerSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInputError(f"invalid server {server_id!r}: {where}: {err['msg']}") from exc


def _source(opts: SpecOptions) -> dict[str, object]:
    if opts.command:
        argv = shlex.split(opts.command)
        if not argv:
            raise UsageError("--command is empty")
        return {"type": "command", "command": argv[0]}
    if opts.image:
        return {"type": "image", "image": opts.image}
    if opts.pypi:
        name, _, version = opts.pypi.partition("==")
        return {"type": "package", "registry": "pypi", "name": name, "version": version or None}
    if opts.npm:
        # npm names may start with '@scope/'; the version follows the last '@'.
        head, sep, version = opts.npm.rpartition("@")
        name = head if sep and head else opts.npm
        return {
            "type": "package",
            "registry": "npm",
            "name": name,
            "version": version if sep and head else None,
        }
    return {
        "type": "remote",
        "url": opts.url,
        "transport": opts.transport,
        "headers": _pairs(opts.headers, "--header", "Name=Value"),
    }


def _pairs(items: list[str], flag: str, form: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r} is not {form}")
        result[key] = value
    return result


def _volume(text: str) -> dict[str, object]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise UsageError(f"--volume {text!r} is not SOURCE:/TARGET[:ro|rw]")
    return {"source": parts[0], "target": parts[1], "read_only": parts[2:] != ["rw"]}


def _network(text: str) -> dict[str, object]:
    if text in ("none", "any"):
        return {"mode": text}
    hosts = [h.strip() for h in text.split(",") if h.strip()]
    if not hosts:
        raise UsageError("--network takes none, any, or a comma-separated list of hosts")
    return {"mode": "hosts", "hosts": hosts}
