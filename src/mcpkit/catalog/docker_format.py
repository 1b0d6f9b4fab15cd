"""Docker's MCP formats, converted to server specs.

Two close formats come from Docker's MCP tooling:

- ``server.yaml`` of a docker/mcp-registry checkout (``servers/<name>/server.yaml``,
  with ``about``, ``meta``, ``run`` and ``config`` sections), read by
  :func:`convert_server_yaml`;
- an entry of a Docker MCP Toolkit catalog file (``registry: {name: entry}``, as in
  docker/mcp-gateway), read by :func:`convert_catalog_entry`.

``server.yaml`` is first reshaped into a catalog entry (the same reshaping Docker
does when it builds its catalog), so one converter handles both.

Everything in these files is untrusted: nothing in them may add privileges. Keys
that would (``user``, ``privileged``, capabilities…) are ignored and reported;
host paths a catalog names are not mounted. An entry that cannot be expressed
safely is skipped, never half-converted; every skip and change is a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcpkit.catalog.document import (
    CatalogDocument,
    SkipEntry,
    collect_converted,
    convert_entry,
)
from mcpkit.catalog.model import (
    CONFIG_KEY_RE,
    ENV_NAME_RE,
    SECRET_NAME_RE,
    SERVER_ID_RE,
    NetworkPolicy,
    Publisher,
    SecretRef,
    ServerSpec,
    ToolMeta,
    Volume,
)
from mcpkit.errors import CatalogFormatError

#: Keys that would change how a server is isolated; never honoured, always reported.
PRIVILEGED_KEYS = (
    "user", "privileged", "capAdd", "cap_add", "capabilities", "devices", "securityOpt",
    "security_opt", "extraHosts", "extra_hosts", "networkMode", "network_mode", "hostNetwork",
    "pid", "ipc", "runtime", "sysctls", "groupAdd", "group_add", "ulimits",
)  # fmt: skip
#: Environment variables that change how programs load; a catalog may not set them.
_LOADER_ENV_RE = re.compile(r"^(LD_|DYLD_)")
_TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}")
_SHELL_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A ':' that is not inside a {{…}} template (filters such as "or:x" contain colons).
_VOLUME_SPLIT_RE = re.compile(r":(?![^{]*\}\})")
_TRANSPORTS = {"sse": "sse", "streamable-http": "streamable-http", "http": "streamable-http"}


def is_docker_catalog(data: object) -> bool:
    """True for a Docker MCP Toolkit catalog: a mapping with a ``registry`` mapping."""
    return isinstance(data, Mapping) and isinstance(data.get("registry"), Mapping)


def parse_docker_catalog(data: Mapping[str, Any], *, origin: str) -> CatalogDocument:
    """Convert a whole Docker catalog file; skipped entries become warnings."""
    registry = data.get("registry")
    if not isinstance(registry, Mapping):
        raise CatalogFormatError(
            f"{origin}: 'registry' is not a mapping of server names to entries",
            hint="a Docker catalog looks like 'registry: {name: {title: ..., image: ...}}'",
        )
    specs, warnings = collect_converted(
        (f"{origin}: {name}", *convert_catalog_entry(str(name), entry, origin=origin))
        for name, entry in registry.items()
    )
    title = data.get("displayName") or data.get("name") or ""
    return CatalogDocument(
        name=str(data.get("name") or ""),
        description=str(title),
        servers=specs,
        warnings=warnings,
    )


def convert_server_yaml(
    data: object, *, origin: str, tools: object = None
) -> tuple[ServerSpec | None, list[str]]:
    """Convert a docker/mcp-registry ``server.yaml`` (and its ``tools.json`` list)."""
    if not isinstance(data, Mapping):
        return None, [f"{origin}: skipped: server.yaml is not a mapping"]
    name = data.get("name")
    if not isinstance(name, str) or not name:
        return None, [f"{origin}: skipped: server.yaml has no 'name'"]
    about = _section(data, "about")
    meta = _section(data, "meta")
    run = _section(data, "run")
    config = _section(data, "config")
    source = _section(data, "source")
    env = list(config.get("env") or []) if isinstance(config.get("env"), list) else []
    run_env = run.get("env")
    if isinstance(run_env, Mapping):
        env += [{"name": key, "value": value} for key, value in run_env.items()]
    entry: dict[str, Any] = {
        key: value
        for key, value in run.items()
        if key not in {"command", "volumes", "env", "disableNetwork", "allowHosts"}
    }
    entry |= {
        "type": data.get("type"),
        "image": data.get("image"),
        "remote": data.get("remote"),
        "title": about.get("title"),
        "description": about.get("description"),
        "metadata": {"category": meta.get("category"), "tags": meta.get("tags")},
        "secrets": config.get("secrets"),
        "env": env,
        "command": run.get("command"),
        "volumes": run.get("volumes"),
        "disableNetwork": run.get("disableNetwork"),
        "allowHosts": run.get("allowHosts"),
        "oauth": {"providers": data.get("oauth")},
        "tools": tools if tools is not None else data.get("tools"),
        "source": source.get("project"),
    }
    parameters = config.get("parameters")
    if isinstance(parameters, Mapping) and parameters:
        block = dict(parameters)
        if isinstance(config.get("description"), str) and "description" not in block:
            block["description"] = config["description"]
        entry["config"] = [{"name": name, **block}]
    for key in PRIVILEGED_KEYS:
        if data.get(key):
            entry[key] = data[key]
    return convert_catalog_entry(name, entry, origin=origin)


def convert_catalog_entry(
    name: str, entry: object, *, origin: str
) -> tuple[ServerSpec | None, list[str]]:
    """Convert one entry of a Docker catalog's ``registry`` mapping.

    Returns the spec, or ``None`` when the entry was skipped, and the warnings
    (each starts with ``origin: name:``).
    """
    where = f"{origin}: {name}"
    if not isinstance(entry, Mapping):
        return None, [f"{where}: skipped: the entry is not a mapping"]
    return convert_entry(where, lambda warnings: _Converter(name, entry, warnings).fields())


def derive_secret_name(server_id: str, name: str) -> str:
    """A valid ``<server>.<key>`` name for a secret whose own name does not fit.

    The server part is the id's last path segment, the key is the part of the
    name after its first dot (or the whole name); both are lower-cased and every
    character outside ``[a-z0-9_-]`` becomes ``_``.
    """
    server = _slug(server_id.rsplit("/", 1)[-1]) or "server"
    _, dot, rest = name.partition(".")
    key = ".".join(_slug(part) for part in (rest if dot else name).split(".") if _slug(part))
    return f"{server}.{key or 'secret'}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "_", text.lower()).strip("_-")


class _Converter:
    """Builds ServerSpec fields from one entry, collecting warnings as it goes."""

    def __init__(self, name: str, entry: Mapping[str, Any], warnings: list[str]) -> None:
        self.name = name
        self.entry = entry
        self.warnings = warnings
        self.id = name.lower()
        self.schema: dict[str, Any] = {}

    def fields(self) -> dict[str, Any]:
        if not SERVER_ID_RE.fullmatch(self.id):
            raise SkipEntry(
                f"{self.name!r} is not a usable server id (lower-case letters, digits, .-_/)"
            )
        for key in PRIVILEGED_KEYS:
            if self.entry.get(key):
                self.warnings.append(
                    f"ignored {key!r}: catalog metadata cannot change how a server is isolated"
                )
        self.schema = self._config_schema()
        secrets = self._secrets()
        fields: dict[str, Any] = {
            "id": self.id,
            "title": _text(self.entry.get("title")) or self.name,
            "description": _text(self.entry.get("description")).strip(),
            "config_schema": self.schema,
            "tools": self._tools(),
        }
        fields |= self._metadata()
        remote = _mapping(self.entry.get("remote"))
        url = remote.get("url") or self.entry.get("sseEndpoint")
        kind = self.entry.get("type")
        if kind == "poci":
            raise SkipEntry("'poci' entries (tools run as one-off containers) are not supported")
        if url or kind == "remote":
            fields["source"] = self._remote(remote, secrets)
        elif kind in (None, "server") and _text(self.entry.get("image")):
            fields["source"] = {
                "type": "image",
                "image": _text(self.entry.get("image")),
                "command": [self._template(_scalar(a)) for a in _list(self.entry, "command")],
            }
            fields["volumes"] = self._volumes()
            fields["network"] = self._network()
            secrets += self._oauth_secrets(secrets)
        elif kind in (None, "server"):
            raise SkipEntry("it has neither an image nor a remote url")
        else:
            raise SkipEntry(f"unknown type {kind!r} (expected server or remote)")
        fields["secrets"] = secrets
        fields["env"] = self._env(secrets)
        return fields

    def _metadata(self) -> dict[str, Any]:
        meta = _mapping(self.entry.get("metadata"))
        out: dict[str, Any] = {"category": _text(meta.get("category")) or "other"}
        out["tags"] = [t for t in _list(meta, "tags") if isinstance(t, str)]
        if _text(meta.get("license")):
            out["license"] = meta["license"]
        homepage = next(
            (
                value
                for value in (self.entry.get("source"), self.entry.get("upstream"))
                if isinstance(value, str) and value.startswith(("https://", "http://"))
            ),
            None,
        )
        if homepage:
            out["homepage"] = homepage
        owner = _text(meta.get("owner"))
        match = re.match(r"https://github\.com/([^/]+)/", homepage or "")
        if not owner and match:
            owner = match.group(1)
        if owner:
            # Trust is never taken from the catalog's own word: always community.
            out["publisher"] = Publisher(name=owner, tier="community")
        return out

    def _config_schema(self) -> dict[str, Any]:
        blocks = [b for b in _list(self.entry, "config") if isinstance(b, Mapping)]
        if not blocks:
            return {}
        names = {self.name, self.id}
        block = next((b for b in blocks if b.get("name") in names), blocks[0])
        if len(blocks) > 1:
            self.warnings.append(f"only the config block {block.get('name')!r} was used")
        schema = {k: v for k, v in block.items() if k != "name"}
        schema.setdefault("type", "object")
        return schema

    def _secrets(self) -> list[SecretRef]:
        refs: list[SecretRef] = []
        for item in _list(self.entry, "secrets"):
            if not isinstance(item, Mapping) or not _text(item.get("name")):
                raise SkipEntry("a secret has no name")
            refs.append(self._secret_ref(item["name"], item.get("env"), item))
        return refs

    def _secret_ref(self, name: str, env: object, item: Mapping[str, Any]) -> SecretRef:
        if not isinstance(env, str) or not ENV_NAME_RE.fullmatch(env):
            raise SkipEntry(f"secret {name!r} has no valid 'env' to reach the server")
        if not SECRET_NAME_RE.fullmatch(name):
            new = derive_secret_name(self.id, name)
            self.warnings.append(f"secret {name!r} renamed to {new!r} (names are <server>.<key>)")
            name = new
        return SecretRef(
            name=name,
            env=env,
            description=_text(item.get("description")),
            required=item.get("required") is not False,
        )

    def _oauth_secrets(self, secrets: list[SecretRef]) -> list[SecretRef]:
        # Docker fills these secrets through its own OAuth flow; for a local
        # server mcpkit asks the user for the token like any other secret.
        known = {s.name for s in secrets} | {s.env for s in secrets}
        added: list[SecretRef] = []
        providers = map(_mapping, _list(_mapping(self.entry.get("oauth")), "providers"))
        for provider in providers:
            name, env = provider.get("secret"), provider.get("env")
            if isinstance(name, str) and name and name not in known and env not in known:
                description = f"token for {_text(provider.get('provider')) or 'the service'}"
                added.append(self._secret_ref(name, env, {"description": description}))
                known |= {name, str(env)}
        return added

    def _remote(self, remote: Mapping[str, Any], secrets: list[SecretRef]) -> dict[str, Any]:
        # Sources stay plain data so that ServerSpec reports errors as "source.<field>".
        url = remote.get("url") or self.entry.get("sseEndpoint")
        if not isinstance(url, str) or not url:
            raise SkipEntry("it is a remote server without a url")
        raw_transport = remote.get("transport_type")
        if raw_transport is None:
            transport = "sse" if not remote.get("url") else "streamable-http"
        elif raw_transport in _TRANSPORTS:
            transport = _TRANSPORTS[raw_transport]
        else:
            raise SkipEntry(f"unknown remote transport {raw_transport!r} (expected sse or http)")
        by_env = {s.env: s.name for s in secrets}
        headers: dict[str, str] = {}
        for key, value in _mapping(remote.get("headers")).items():
            headers[str(key)] = self._header(_scalar(value), by_env)
        oauth = _mapping(self.entry.get("oauth"))
        source: dict[str, Any] = {
            "type": "remote",
            "url": self._template(url),
            "transport": transport,
            "headers": headers,
        }
        if _list(oauth, "providers"):
            source["oauth"] = {"scopes": [s for s in _list(oauth, "scopes") if isinstance(s, str)]}
        return source

    def _header(self, value: str, by_env: Mapping[str | None, str]) -> str:
        def secret(match: re.Match[str]) -> str:
            if match.group(1) not in by_env:
                raise SkipEntry(f"header refers to ${{{match.group(1)}}}, which no secret provides")
            return "{{secret:" + by_env[match.group(1)] + "}}"

        return _SHELL_VAR_RE.sub(secret, self._template(value))

    def _env(self, secrets: list[SecretRef]) -> dict[str, str]:
        secret_envs = {s.env for s in secrets}
        env: dict[str, str] = {}
        for item in _list(self.entry, "env"):
            if not isinstance(item, Mapping):
                continue
            name, value = item.get("name"), item.get("value")
            if value is None or value == "":
                continue
            if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
                self.warnings.append(f"ignored env {name!r}: not a valid variable name")
            elif _LOADER_ENV_RE.match(name):
                self.warnings.append(
                    f"ignored env {name!r}: a catalog may not change how programs load"
                )
            elif name in secret_envs:
                self.warnings.append(f"ignored env {name!r}: a secret provides it")
            else:
                env[name] = self._template(_scalar(value))
        return env

    def _volumes(self) -> list[Volume]:
        volumes: list[Volume] = []
        for raw in _list(self.entry, "volumes"):
            text = _scalar(raw)
            parts = _VOLUME_SPLIT_RE.split(text)
            if len(parts) == 1:
                self._template(text)  # raises for filters such as "|volume|into"
                self.warnings.append(f"ignored volume {text!r}: it names no target path")
                continue
            source, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else ""
            if "{{" in target or not target.startswith("/"):
                raise SkipEntry(f"volume {text!r}: its target must be a fixed absolute path")
            if "{{" in source:
                volumes.append(
                    Volume(
                        source=self._template(source),
                        target=target,
                        # Docker mounts read-write unless told ":ro"; the user chooses the path.
                        read_only="ro" in mode.split(","),
                    )
                )
            elif source.startswith(("/", "~", ".")):
                self.warnings.append(
                    f"ignored volume {text!r}: a catalog may not choose host paths to mount"
                )
            else:
                self.warnings.append(
                    f"ignored named volume {text!r}: data in {target} will not persist"
                )
        return volumes

    def _network(self) -> NetworkPolicy:
        if self.entry.get("disableNetwork"):
            return NetworkPolicy(mode="none")
        hosts = [h for h in _list(self.entry, "allowHosts") if isinstance(h, str) and h]
        if hosts:
            return NetworkPolicy(mode="hosts", hosts=hosts)
        # Docker runs such servers with network; without it they could not work.
        return NetworkPolicy(mode="any")

    def _tools(self) -> list[ToolMeta]:
        tools: list[ToolMeta] = []
        for item in _list(self.entry, "tools"):
            if not isinstance(item, Mapping) or not _text(item.get("name")):
                continue
            hint = _mapping(item.get("annotations")).get("readOnlyHint")
            tools.append(
                ToolMeta(
                    name=item["name"],
                    description=_text(item.get("description")),
                    read_only=hint if isinstance(hint, bool) else None,
                )
            )
        return tools

    def _template(self, value: str) -> str:
        """Docker's ``{{server.key|filter}}`` templates to mcpkit's ``{{key}}``."""

        def convert(match: re.Match[str]) -> str:
            path, *filters = (part.strip() for part in match.group(1).split("|"))
            for prefix in (f"{self.name}.", f"{self.id}."):
                if path.startswith(prefix):
                    path = path[len(prefix) :]
                    break
            if not CONFIG_KEY_RE.fullmatch(path):
                raise SkipEntry(f"template {match.group(0)!r} does not name a config key")
            for name in filters:
                # "into" spreads a list into several arguments; on a scalar it changes nothing.
                if name == "into" and self._property_type(path) not in (None, "array"):
                    continue
                raise SkipEntry(
                    f"template {match.group(0)!r} uses {name!r}, which mcpkit cannot express"
                )
            return "{{" + path + "}}"

        return _TEMPLATE_RE.sub(convert, value)

    def _property_type(self, path: str) -> object:
        node: Mapping[str, Any] = self.schema
        for part in path.split("."):
            node = _mapping(_mapping(node.get("properties")).get(part))
        return node.get("type")


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SkipEntry(f"{key!r} is not a list")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise SkipEntry(f"{value!r} is not a plain value")
