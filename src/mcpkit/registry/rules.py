"""The static lint rules: each reads a submission's raw data and yields findings.

They read ``Submission.data`` rather than the spec, defensively, so that a file that
fails the schema still gets every other rule; each knows where its keys live in both
formats (``title`` in ours, ``about.title`` in Docker's).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from mcpkit.catalog.model import SECRET_NAME_RE
from mcpkit.registry import icons
from mcpkit.registry.findings import Finding
from mcpkit.registry.submission import SERVER_YAML, TOOLS_JSON, Submission

NAME_RE = re.compile(r"^[a-z0-9-]+$")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
DIGEST_RE = re.compile(r"@sha256:[0-9a-f]{64}$")
#: Docker's own secret-name rule (docker/mcp-registry cmd/validate).
DOCKER_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9._-]+$")
_PYPI_EXACT = re.compile(r"^[0-9][0-9A-Za-z.+!_-]*$")
_NPM_EXACT = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
_TRANSPORTS: tuple[str, ...] = ("streamable-http", "sse")
_DOCKER_TRANSPORTS: tuple[str, ...] = ("streamable-http", "sse", "http")
_SMALL_WORDS = frozenset({"and", "for"})


def check_name(sub: Submission) -> Iterator[Finding]:
    """``name.form`` and ``name.folder``."""
    name = sub.data.get("name")
    if not isinstance(name, str) or not name:
        return
    if not NAME_RE.fullmatch(name):
        yield Finding(
            "name.form",
            f"name {name!r} must be lower-case letters, digits and hyphens only",
            sub.where("name"),
            hint=f"name: {re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-') or 'my-server'}",
        )
    if name != sub.folder.name:
        yield Finding(
            "name.folder",
            f"name {name!r} differs from the folder name {sub.folder.name!r}",
            sub.where("name"),
            hint=f"rename the folder to servers/{name}, or set name: {sub.folder.name}",
        )


def check_title(sub: Submission) -> Iterator[Finding]:
    """``title.form``: no "MCP"/"Server", every word capitalised (Docker's rule)."""
    key = "about.title" if sub.format == "docker" else "title"
    title = get_path(sub.data, key)
    if title is None and sub.format == "mcpkit":
        return  # the schema rule reports the missing key
    if not isinstance(title, str) or not title.strip():
        yield Finding("title.form", "the title is missing or empty", sub.where(key))
        return
    hint = "a short capitalised name of what the server works with, e.g. 'GitHub Issues'"
    if "MCP" in title or "Server" in title or re.search(r"\b(mcp|servers?)\b", title, re.I):
        yield Finding(
            "title.form",
            f"title {title!r} must not contain 'MCP' or 'Server'",
            sub.where(key),
            hint=hint,
        )
    lower = [w for w in title.split() if w not in _SMALL_WORDS and w[0] != w[0].upper()]
    if lower:
        yield Finding(
            "title.form",
            f"title {title!r} must capitalise every word (not {lower[0]!r})",
            sub.where(key),
            hint=hint,
        )


def check_description(sub: Submission) -> Iterator[Finding]:
    """``description.missing``."""
    key = "about.description" if sub.format == "docker" else "description"
    value = get_path(sub.data, key)
    if not isinstance(value, str) or not value.strip():
        yield Finding(
            "description.missing",
            "the server has no description",
            sub.where(key),
            hint="add one sentence saying what the server lets a model do",
        )


def check_source_pinned(sub: Submission) -> Iterator[Finding]:
    """``source.unpinned``: full commits, exact versions with hashes, image digests."""
    source = as_mapping(sub.data.get("source"))
    if sub.format == "docker":
        kind = sub.data.get("type", "server")
        if kind != "server":
            return
        if not source.get("project"):
            yield Finding(
                "source.unpinned",
                "a local server must name source.project and pin source.commit",
                sub.where("source"),
                hint="source: {project: https://github.com/ORG/REPO, commit: <40-hex sha>}",
            )
            return
        yield from _commit(sub, source.get("commit"))
        return
    kind = source.get("type")
    if kind == "git":
        yield from _commit(sub, source.get("commit"))
    elif kind == "package":
        yield from _package(sub, source)
    elif kind == "image":
        image = source.get("image")
        if isinstance(image, str) and not DIGEST_RE.search(image):
            yield Finding(
                "source.unpinned",
                f"image {image!r} is not pinned by digest",
                sub.where("source.image"),
                hint=f"source.image: {image.split('@')[0]}@sha256:<64 hex digits>",
            )


def _commit(sub: Submission, commit: object) -> Iterator[Finding]:
    if isinstance(commit, str) and COMMIT_RE.fullmatch(commit):
        return
    what = f"{commit!r} is not" if commit else "no commit is given, which is not"
    yield Finding(
        "source.unpinned",
        f"source.commit: {what} a full 40-hex commit (branches, tags and short shas move "
        "or are ambiguous)",
        sub.where("source.commit"),
        hint="pin the audited revision: git rev-parse <branch> gives the full commit",
    )


def _package(sub: Submission, source: Mapping[str, Any]) -> Iterator[Finding]:
    version, registry = source.get("version"), source.get("registry")
    exact = _NPM_EXACT if registry == "npm" else _PYPI_EXACT
    if not isinstance(version, str) or not exact.fullmatch(version):
        yield Finding(
            "source.unpinned",
            f"source.version {version!r} is not an exact version"
            if version
            else "source.version is missing: the package is not pinned",
            sub.where("source.version"),
            hint='pin an exact released version, e.g. version: "1.2.3"',
        )
    if not source.get("hashes"):
        yield Finding(
            "source.unpinned",
            "source.hashes is empty: the package's own artifact is not pinned by hash",
            sub.where("source.hashes"),
            hint="add hashes: [sha256:<hex>] of the wheel (pip download --no-deps NAME==VER) "
            "or npm tarball (npm pack NAME@VER), from sha256sum",
        )


def check_secrets(sub: Submission) -> Iterator[Finding]:
    """``secret.name``: ``<server>.<key>``, each declared once."""
    name = sub.data.get("name")
    key = "config.secrets" if sub.format == "docker" else "secrets"
    seen: set[str] = set()
    for index, item in enumerate(as_list(get_path(sub.data, key))):
        secret = as_mapping(item).get("name")
        where = sub.where(f"{key}[{index}].name")
        if not isinstance(secret, str):
            continue
        expected = f"{name}.<key>" if isinstance(name, str) else "<server>.<key>"
        hint = f"name it {expected} in lower case, e.g. {name or 'server'}.api_key"
        if secret in seen:
            yield Finding("secret.name", f"secret {secret!r} is declared twice", where)
        seen.add(secret)
        if sub.format == "docker":
            if not DOCKER_SECRET_RE.fullmatch(secret):
                yield Finding(
                    "secret.name", f"secret {secret!r} is not <prefix>.<name>", where, hint=hint
                )
            elif not secret.startswith(f"{name}.") or not SECRET_NAME_RE.fullmatch(secret):
                yield Finding(
                    "secret.name",
                    f"secret {secret!r} is not {expected}; mcpkit renames it",
                    where,
                    severity="warning",
                    hint=hint,
                )
        elif not SECRET_NAME_RE.fullmatch(secret) or not secret.startswith(f"{name}."):
            yield Finding(
                "secret.name", f"secret {secret!r} is not named {expected}", where, hint=hint
            )


def check_icon(sub: Submission) -> Iterator[Finding]:
    """``icon.type``, ``icon.size``, ``icon.missing``."""
    if sub.icon is None:
        return
    key = "about.icon" if sub.format == "docker" else "icon"
    where = sub.where(key)
    if "://" in sub.icon:
        if not sub.icon.startswith("https://"):
            yield Finding("icon.type", "an icon URL must be https", where)
        return
    rel = PurePosixPath(sub.icon)
    path = sub.folder / rel
    if rel.is_absolute() or ".." in rel.parts or not path.is_file():
        yield Finding(
            "icon.missing",
            f"icon {sub.icon!r} is not a file in the submission folder",
            where,
            hint="add the file next to server.yaml, or give an https URL",
        )
        return
    size = path.stat().st_size
    if size > icons.MAX_ICON_BYTES:
        yield Finding(
            "icon.size",
            f"icon {sub.icon!r} is {size} bytes, more than {icons.MAX_ICON_BYTES // 1024} KiB",
            where,
            hint="shrink it (e.g. 256x256 PNG), or use an SVG",
        )
        return
    yield from _icon_content(sub.icon, path.read_bytes(), where)


def _icon_content(name: str, data: bytes, where: str) -> Iterator[Finding]:
    info = icons.sniff(data)
    if info.kind not in icons.ACCEPTED:
        found = info.kind.upper() if info.kind else "not an image mcpkit recognises"
        yield Finding(
            "icon.type",
            f"icon {name!r} is {found}; accepted: PNG, JPEG, WebP, SVG",
            where,
            hint="convert it to PNG or SVG",
        )
        return
    if info.problem:
        yield Finding("icon.type", f"SVG icon {name!r} is refused: {info.problem}", where)
        return
    promised = icons.expected_kind(name)
    if promised != info.kind:
        yield Finding(
            "icon.type",
            f"icon {name!r} holds a {info.kind.upper()} image, not what its name says",
            where,
            severity="warning",
            hint=f"rename it with the .{'jpg' if info.kind == 'jpeg' else info.kind} extension",
        )
    if info.width is not None and info.height is not None:
        side = icons.MAX_ICON_SIDE
        if info.width > side or info.height > side or info.width != info.height:
            yield Finding(
                "icon.size",
                f"icon {name!r} is {info.width}x{info.height}; it must be square and at most "
                f"{side}x{side}",
                where,
                hint=f"resize it to a square of at most {side} pixels",
            )


def check_tools(sub: Submission) -> Iterator[Finding]:
    """``tools.description`` and ``tools.duplicate`` over the declared tool list."""
    if sub.tools is None:
        return
    in_yaml = sub.format == "mcpkit" and "tools" in sub.data
    file, prefix = (SERVER_YAML, "tools") if in_yaml else (TOOLS_JSON, "")
    seen: dict[str, int] = {}
    for index, tool in enumerate(sub.tools):
        name = str(tool.get("name"))
        description = tool.get("description")
        if not isinstance(description, str) or not description.strip():
            yield Finding(
                "tools.description",
                f"tool {name!r} has no description",
                sub.where(f"{prefix}[{index}].description", file),
                hint="describe what the tool does, in one or two sentences",
            )
        for arg_index, argument in enumerate(as_list(tool.get("arguments"))):
            if isinstance(argument, Mapping) and "desc" not in argument:
                yield Finding(
                    "tools.description",
                    f"argument {argument.get('name')!r} of tool {name!r} has no 'desc'",
                    sub.where(f"{prefix}[{index}].arguments[{arg_index}]", file),
                )
        if name in seen:
            yield Finding(
                "tools.duplicate",
                f"tool {name!r} is declared twice (also at [{seen[name]}])",
                sub.where(f"{prefix}[{index}].name", file),
            )
        seen.setdefault(name, index)


def check_remote(sub: Submission) -> Iterator[Finding]:
    """``remote.transport`` and ``remote.url`` for remote servers."""
    if sub.format == "docker":
        remote = as_mapping(sub.data.get("remote"))
        if sub.data.get("type") != "remote" and not remote:
            return
        keys, allowed = ("remote.transport_type", "remote.url"), _DOCKER_TRANSPORTS
        transport, url = remote.get("transport_type"), remote.get("url")
    else:
        source = as_mapping(sub.data.get("source"))
        if source.get("type") != "remote":
            return
        keys, allowed = ("source.transport", "source.url"), _TRANSPORTS
        transport, url = source.get("transport", "streamable-http"), source.get("url")
    if transport not in allowed:
        yield Finding(
            "remote.transport",
            f"transport {transport!r} is not one of {', '.join(allowed)}"
            if transport
            else "the remote server has no transport",
            sub.where(keys[0]),
            hint="streamable-http for current servers, sse for legacy ones",
        )
    problem = _url_problem(url)
    if problem:
        yield Finding(
            "remote.url",
            problem,
            sub.where(keys[1]),
            hint="serve it over https (http is accepted for 127.0.0.1/localhost only)",
        )


def _url_problem(url: object) -> str:
    if not isinstance(url, str) or not url:
        return "the remote server has no url"
    parts = urlsplit(_TEMPLATE.sub("x", url))
    host = parts.hostname or ""
    if not host:
        return f"{url!r} is not an absolute URL"
    if parts.scheme == "https":
        return ""
    if parts.scheme == "http" and _loopback(host):
        return ""
    return f"{url!r} must use https"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- helpers (shared with rules_config) ------------------------------------------------------


def get_path(data: Mapping[str, Any], dotted: str) -> object:
    """The value at a dotted key path, or ``None``."""
    node: object = data
    for part in dotted.split("."):
        node = as_mapping(node).get(part)
    return node


def as_mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []
