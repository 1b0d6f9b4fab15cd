"""The official MCP Registry API (``GET /v0/servers``), as a catalog source.

The listing is paged with ``metadata.nextCursor``; every page is fetched on each
update (the API has no conditional requests), and a hash of all pages tells the
caller when nothing changed. Two answer shapes are read: the current one, where
each item is ``{"server": {server.json}, "_meta": {...}}``, and the older flat one,
where each item is the ``server.json`` itself with its ``_meta`` inside (older
snake_case field names are read too). Only the latest version of each server is
kept. How ``server.json`` maps to a spec is described in :func:`convert_server_json`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from mcpkit.catalog.docker_format import derive_secret_name
from mcpkit.catalog.document import (
    CatalogDocument,
    SkipEntry,
    collect_converted,
    convert_entry,
)
from mcpkit.catalog.model import (
    CONFIG_KEY_RE,
    ENV_NAME_RE,
    SERVER_ID_RE,
    Publisher,
    SecretRef,
    ServerSpec,
)
from mcpkit.catalog.sources.base import FetchResult, Validators, parsed_result
from mcpkit.catalog.sources.http import URL_HINT, check_http_url, http_get, open_client
from mcpkit.errors import SourceError

PAGE_LIMIT = 100
MAX_PAGES = 500
OFFICIAL = "io.modelcontextprotocol.registry/official"
_DEFAULT_BASES = {
    "pypi": {"https://pypi.org", "https://pypi.org/simple"},
    "npm": {"https://registry.npmjs.org"},
}
_VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LOADER_ENV_RE = re.compile(r"^(LD_|DYLD_)")


def registry_endpoint(location: str) -> str:
    """The ``…/v0/servers`` URL for a registry base URL or a full listing URL."""
    check_http_url(location)
    url = httpx.URL(location)
    path = url.path.rstrip("/")
    if not re.search(r"/v0(\.\d+)?/servers$", path):
        path += "/v0/servers"
    return str(url.copy_with(path=path))


class RegistrySource:
    """Servers listed by an MCP Registry (``registry.modelcontextprotocol.io`` or a subregistry)."""

    kind = "registry"

    def __init__(
        self, location: str, *, client: httpx.Client | None = None, timeout: float = 15.0
    ) -> None:
        self.location = location
        self.endpoint = registry_endpoint(location)
        self._client = client
        self._timeout = timeout

    def fetch(self, validators: Validators) -> FetchResult:
        """List every page; the same bytes as last time mean "not modified"."""
        items: list[Any] = []
        digest = hashlib.sha256()
        cursor: str | None = None
        seen: set[str] = set()
        with open_client(self._client, self._timeout) as client:
            for _ in range(MAX_PAGES):
                params: dict[str, str | int] = {"limit": PAGE_LIMIT}
                if cursor is not None:
                    params["cursor"] = cursor
                url = str(httpx.URL(self.endpoint).copy_merge_params(params))
                answer = http_get(
                    client, url, timeout=self._timeout, headers={"Accept": "application/json"}
                )
                digest.update(len(answer.body).to_bytes(8, "big") + answer.body)
                page = _decode_page(answer.body, url)
                items.extend(page["servers"])
                cursor = _next_cursor(page, url)
                if cursor is None:
                    break
                if cursor in seen:
                    raise SourceError(
                        f"cannot list {self.endpoint}: the registry returned the cursor "
                        f"{cursor!r} twice, so paging would never end",
                        hint="try again later; if it persists, report it to the registry",
                    )
                seen.add(cursor)
            else:
                raise SourceError(
                    f"cannot list {self.endpoint}: more than {MAX_PAGES} pages",
                    hint="use a registry URL with a narrower listing (e.g. ?search=NAME)",
                )
        new = Validators(content_hash=f"sha256:{digest.hexdigest()}")
        if new.content_hash == validators.content_hash:
            return FetchResult(document=None, validators=new)
        return parsed_result(convert_listing(items, origin=self.endpoint), new)


def _decode_page(body: bytes, url: str) -> dict[str, Any]:
    try:
        page = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{url}: not YAML/JSON: {exc}", hint=URL_HINT) from exc
    if not isinstance(page, dict) or not isinstance(page.get("servers"), list):
        raise SourceError(
            f"{url}: not an MCP Registry answer (no 'servers' list)",
            hint="check that the URL is an MCP Registry (it serves /v0/servers)",
        )
    return page


def _next_cursor(page: Mapping[str, Any], url: str) -> str | None:
    metadata = page.get("metadata")
    cursor = metadata.get("nextCursor") if isinstance(metadata, Mapping) else None
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str):
        raise SourceError(f"{url}: metadata.nextCursor is not a string", hint=URL_HINT)
    return cursor


def convert_listing(items: list[Any], *, origin: str) -> CatalogDocument:
    """Keep the latest version of each listed server and convert it."""
    warnings: list[str] = []
    latest = _latest_versions(items, origin=origin, warnings=warnings)
    specs, converted_warnings = collect_converted(
        (f"{origin}: {server['name']}", *convert_server_json(server, origin=origin))
        for server in latest
    )
    warnings.extend(converted_warnings)
    return CatalogDocument(
        name="", description=f"servers listed by {origin}", servers=specs, warnings=warnings
    )


def _latest_versions(items: list[Any], *, origin: str, warnings: list[str]) -> list[Any]:
    groups: dict[str, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            warnings.append(f"{origin}: servers[{index}]: skipped: not a mapping")
            continue
        nested = item.get("server")
        server = nested if isinstance(nested, Mapping) else item
        meta = _mapping(item.get("_meta")) or _mapping(server.get("_meta"))
        official = _mapping(meta.get(OFFICIAL))
        if not isinstance(server.get("name"), str):
            warnings.append(f"{origin}: servers[{index}]: skipped: it has no name")
            continue
        groups.setdefault(server["name"], []).append((server, official))
    latest: list[Mapping[str, Any]] = []
    for versions in groups.values():
        active = [v for v in versions if _status(*v) != "deleted"]
        flagged = [v for v in active if _is_latest(*v)]
        if active:
            latest.append(max(flagged or active, key=lambda v: _version_key(v[0]))[0])
    return latest


def _status(server: Mapping[str, Any], official: Mapping[str, Any]) -> object:
    return official.get("status") or server.get("status") or "active"


def _is_latest(server: Mapping[str, Any], official: Mapping[str, Any]) -> bool:
    flag = _get(official, "isLatest", "is_latest")
    if flag is None:
        flag = _mapping(server.get("version_detail")).get("is_latest")
    return flag is True


def _version_key(server: Mapping[str, Any]) -> tuple[Any, ...]:
    raw = server.get("version") or _mapping(server.get("version_detail")).get("version") or ""
    main, _, pre = str(raw).partition("+")[0].partition("-")

    def parts(text: str) -> tuple[tuple[int, int | str], ...]:
        return tuple((1, int(p)) if p.isdigit() else (0, p) for p in re.split(r"[.]", text) if p)

    # A release sorts after its pre-releases (1.0.0 > 1.0.0-rc1).
    return (parts(main), 0 if pre else 1, parts(pre))


def convert_server_json(server: object, *, origin: str) -> tuple[ServerSpec | None, list[str]]:
    """Convert one ``server.json`` to a spec, or ``None`` and why; the rules:

    - ``name`` lower-cased is the id; ``title`` (else the name's last segment) the title;
      ``websiteUrl`` (else ``repository.url``) the homepage; the namespace the publisher
      (tier always ``community``).
    - The first usable package wins: ``pypi``/``npm`` → package source, ``oci`` → image;
      a package must run over stdio from the default registry. Otherwise the first
      ``streamable-http``/``sse`` remote. Nothing usable → skipped with a warning.
    - ``packageArguments``: fixed values are kept, ``--name=value`` for named ones; values
      left to the user become ``{{valueHint}}`` config keys. ``runtimeArguments`` are
      ignored (mcpkit decides how packages run). A secret argument skips the server:
      secrets never go on a command line.
    - ``environmentVariables``: secrets become ``SecretRef`` named
      ``<last name segment>.<env name lower-case>``; others become config keys (the env
      name lower-case) with ``env`` templates, or fixed values when ``value`` is set.
    - remote ``headers``: secret ones become ``{{secret:<segment>.<header or variable>}}``.
    """
    if not isinstance(server, Mapping) or not isinstance(server.get("name"), str):
        return None, [f"{origin}: skipped: an entry has no name"]
    where = f"{origin}: {server['name']}"
    return convert_entry(where, lambda warnings: _ServerJson(server, warnings).fields())


class _ServerJson:
    def __init__(self, server: Mapping[str, Any], warnings: list[str]) -> None:
        self.server = server
        self.warnings = warnings
        self.name: str = server["name"]
        self.id = self.name.lower()
        self.properties: dict[str, Any] = {}
        self.required: list[str] = []
        self.secrets: list[SecretRef] = []
        self.env: dict[str, str] = {}
        self.args: list[str] = []

    def fields(self) -> dict[str, Any]:
        if not SERVER_ID_RE.fullmatch(self.id):
            raise SkipEntry(f"{self.name!r} is not a usable server id")
        namespace, _, last = self.name.rpartition("/")
        fields: dict[str, Any] = {
            "id": self.id,
            "title": _text(self.server.get("title")) or last or self.name,
            "description": _text(self.server.get("description")),
            "source": self._source(),
        }
        homepage = _text(_get(self.server, "websiteUrl", "website_url")) or _text(
            _mapping(self.server.get("repository")).get("url")
        )
        if homepage.startswith(("https://", "http://")):
            fields["homepage"] = homepage
        if namespace:
            url = None
            if namespace.startswith("io.github."):
                url = "https://github.com/" + namespace.removeprefix("io.github.")
            fields["publisher"] = Publisher(name=namespace, url=url, tier="community")
        if self.properties:
            schema: dict[str, Any] = {"type": "object", "properties": self.properties}
            if self.required:
                schema["required"] = sorted(set(self.required))
            fields["config_schema"] = schema
        fields |= {"secrets": self.secrets, "env": self.env, "args": self.args}
        return fields

    def _source(self) -> dict[str, Any]:
        # Sources stay plain data so that ServerSpec reports errors as "source.<field>".
        notes: list[str] = []
        for pkg in map(_mapping, _list(self.server, "packages")):
            kind = _get(pkg, "registryType", "registry_type", "registry_name")
            kind = "oci" if kind == "docker" else kind
            transport = _mapping(pkg.get("transport")).get("type") or "stdio"
            base = _text(_get(pkg, "registryBaseUrl", "registry_base_url")).rstrip("/")
            if kind not in ("pypi", "npm", "oci"):
                notes.append(f"a {kind} package")
            elif transport != "stdio":
                notes.append(f"a {kind} package served over {transport}")
            elif base and kind in _DEFAULT_BASES and base not in _DEFAULT_BASES[kind]:
                notes.append(f"a {kind} package from {base}")
            else:
                return self._package(pkg, kind, base)
        for remote in map(_mapping, _list(self.server, "remotes")):
            kind = _get(remote, "type", "transport_type")
            url = self._substitute(_text(remote.get("url")), _mapping(remote.get("variables")))
            if kind in ("streamable-http", "sse") and url.startswith(("https://", "http://")):
                headers = {
                    _text(h.get("name")): self._header(h)
                    for h in map(_mapping, _list(remote, "headers"))
                    if _text(h.get("name"))
                }
                return {"type": "remote", "url": url, "transport": kind, "headers": headers}
            notes.append(f"a {kind} remote")
        raise SkipEntry(f"nothing mcpkit can run ({', '.join(notes) or 'no packages or remotes'})")

    def _package(self, pkg: Mapping[str, Any], kind: str, base: str) -> dict[str, Any]:
        identifier = _text(_get(pkg, "identifier", "name"))
        version = _text(pkg.get("version")) or None
        if _list(pkg, "runtimeArguments") or _list(pkg, "runtime_arguments"):
            self.warnings.append("runtimeArguments ignored: mcpkit decides how a package runs")
        for arg in _list(pkg, "packageArguments") or _list(pkg, "package_arguments"):
            self._argument(_mapping(arg))
        for item in _list(pkg, "environmentVariables") or _list(pkg, "environment_variables"):
            self._env_var(_mapping(item))
        if kind == "oci":
            host = httpx.URL(base).host if base else ""
            docker_hub = ("docker.io", "index.docker.io", "registry-1.docker.io")
            if host and host not in docker_hub and not identifier.startswith(host + "/"):
                identifier = f"{host}/{identifier}"
            last = identifier.rsplit("/", 1)[-1]
            if version and "@" not in identifier and ":" not in last:
                identifier = f"{identifier}:{version}"
            return {"type": "image", "image": identifier}
        return {"type": "package", "registry": kind, "name": identifier, "version": version}

    def _argument(self, arg: Mapping[str, Any]) -> None:
        if _get(arg, "isSecret", "is_secret") is True:
            raise SkipEntry(
                "an argument is a secret, and mcpkit never puts secrets on a command line"
            )
        name = _text(arg.get("name"))
        value = arg.get("value")
        variables = _mapping(arg.get("variables"))
        if isinstance(value, str):
            rendered = self._substitute(value, variables, in_argv=True)
        else:
            key = _text(_get(arg, "valueHint", "value_hint")) or name.lstrip("-")
            if not CONFIG_KEY_RE.fullmatch(key):
                self.warnings.append(f"ignored an argument without a usable name ({key!r})")
                return
            self._property(key, arg)
            rendered = "{{" + key + "}}"
        if arg.get("type") == "named" and name:
            self.args.append(f"{name}={rendered}" if rendered else name)
        elif rendered:
            self.args.append(rendered)

    def _env_var(self, item: Mapping[str, Any]) -> None:
        name = _text(item.get("name"))
        if not ENV_NAME_RE.fullmatch(name) or _LOADER_ENV_RE.match(name):
            self.warnings.append(f"ignored environment variable {name!r}")
            return
        value = item.get("value")
        if _get(item, "isSecret", "is_secret") is True:
            self._secret(name, name, item)
        elif isinstance(value, str) and value:
            self.env[name] = self._substitute(value, _mapping(item.get("variables")))
        else:
            key = name.lower()
            self._property(key, item)
            self.env[name] = "{{" + key + "}}"

    def _header(self, header: Mapping[str, Any]) -> str:
        name = _text(header.get("name"))
        value = header.get("value")
        secret = _get(header, "isSecret", "is_secret") is True
        variables = _mapping(header.get("variables"))
        if isinstance(value, str) and value:
            if secret:
                # Every variable of a secret header is part of the secret.
                variables = {k: {**_mapping(v), "isSecret": True} for k, v in variables.items()}
                for var in _VAR_RE.findall(value):
                    variables.setdefault(var, {"isSecret": True})
            return self._substitute(value, variables)
        if secret:
            return "{{secret:" + self._secret(name, name, header) + "}}"
        key = _slug_key(name)
        self._property(key, header)
        return "{{" + key + "}}"

    def _substitute(
        self, value: str, variables: Mapping[str, Any], *, in_argv: bool = False
    ) -> str:
        """Registry ``{var}`` placeholders to mcpkit templates; unknown ones stay literal."""

        def convert(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in variables:
                return match.group(0)
            spec = _mapping(variables[var])
            if _get(spec, "isSecret", "is_secret") is True:
                if in_argv:
                    raise SkipEntry(
                        f"argument variable {var!r} is a secret; secrets never go in argv"
                    )
                return "{{secret:" + self._secret(var, var, spec) + "}}"
            self._property(var, spec)
            return "{{" + var + "}}"

        return _VAR_RE.sub(convert, value)

    def _secret(self, key: str, env: str, item: Mapping[str, Any]) -> str:
        name = derive_secret_name(self.id, key)
        env_name = re.sub(r"[^A-Za-z0-9_]", "_", env).upper()
        if env_name[:1].isdigit():
            env_name = "_" + env_name
        if name not in {s.name for s in self.secrets}:
            self.secrets.append(
                SecretRef(
                    name=name,
                    env=env_name,
                    description=_text(item.get("description")),
                    required=_get(item, "isRequired", "is_required") is True,
                )
            )
        return name

    def _property(self, key: str, item: Mapping[str, Any]) -> None:
        fmt = item.get("format")
        kind = {"number": "number", "boolean": "boolean"}.get(str(fmt), "string")
        prop: dict[str, Any] = {"type": kind}
        if _text(item.get("description")):
            prop["description"] = item["description"]
        default = _typed(item.get("default"), kind)
        if default is not None:
            prop["default"] = default
        choices = [c for c in _list(item, "choices") if isinstance(c, str)]
        if choices and kind == "string":
            prop["enum"] = choices
        self.properties.setdefault(key, prop)
        if _get(item, "isRequired", "is_required") is True and default is None:
            self.required.append(key)


def _typed(value: object, kind: str) -> object:
    if not isinstance(value, str) or value == "":
        return None
    if kind == "boolean":
        return {"true": True, "false": False}.get(value.lower())
    if kind == "number":
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return None
    return value


def _slug_key(name: str) -> str:
    key = re.sub(r"[^A-Za-z0-9_]", "_", name).lower().strip("_")
    return key if key and not key[0].isdigit() else f"_{key}"


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in data:
            return data[key]
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
