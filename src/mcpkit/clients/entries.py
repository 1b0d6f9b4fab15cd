"""Server entries in each client's own shape, and the one entry that is mcpkit's.

A *style* is a pair of small functions: ``encode`` turns a :class:`ClientServer` into the
client's entry data, ``decode`` reads an entry back (None when it is not a server mcpkit
can read: an extension, a built-in, a malformed value). Styles are looked up by name in
:data:`STYLES`; the client table names one per client.

Our entry runs ``mcpkit gateway run --profile P`` over stdio. An entry is *ours* when its
command line runs ``mcpkit … gateway run`` (the console script, or ``python -m mcpkit``),
whatever it is called and wherever mcpkit is installed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from mcpkit.profiles.model import DEFAULT_PROFILE

Transport = Literal["stdio", "streamable-http", "sse"]

#: The name of our entry in every client.
ENTRY_NAME = "mcpkit"


@dataclass(frozen=True)
class ClientServer:
    """One server a client config names, normalised across clients."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    transport: Transport = "stdio"
    headers: dict[str, str] = field(default_factory=dict)
    disabled: bool = False


Encoder = Callable[[ClientServer], dict[str, Any]]
Decoder = Callable[[str, Mapping[str, Any]], ClientServer | None]


@dataclass(frozen=True)
class EntryStyle:
    """How one family of clients writes a server entry."""

    encode: Encoder
    decode: Decoder
    #: Keys the encoder owns: rewriting our entry drops the ones it no longer writes.
    keys: frozenset[str]
    #: Keys written only when the entry lacks them (the user's value is kept).
    soft: frozenset[str] = frozenset()


# -- reading helpers --------------------------------------------------------------------


def _strings(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    return None


def _string_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        return {str(k): v if isinstance(v, str) else _scalar(v) for k, v in value.items()}
    return None


def _scalar(value: int | float | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _stdio(
    name: str, command: Any, args: Any, env: Any, cwd: Any = None, *, disabled: bool = False
) -> ClientServer | None:
    argv, envs = _strings(args), _string_map(env)
    if not isinstance(command, str) or not command or argv is None or envs is None:
        return None
    return ClientServer(
        name=name, command=command, args=argv, env=envs, cwd=_opt_str(cwd), disabled=disabled
    )


def _remote(
    name: str, url: Any, transport: Transport, headers: Any, *, disabled: bool = False
) -> ClientServer | None:
    hdrs = _string_map(headers)
    if not isinstance(url, str) or not url or hdrs is None:
        return None
    return ClientServer(name=name, url=url, transport=transport, headers=hdrs, disabled=disabled)


def _guess_transport(url: str) -> Transport:
    """For clients that take a bare URL: SSE endpoints end in /sse by convention."""
    return "sse" if url.rstrip("/").endswith("/sse") else "streamable-http"


def _transport_of(kind: Any, url: str) -> Transport | None:
    """A ``type``/``transport`` field's value as a transport (None: not a remote kind)."""
    if kind is None:
        return _guess_transport(url)
    normal = str(kind).lower().replace("_", "-")
    if normal == "sse":
        return "sse"
    if normal in ("http", "streamable-http", "streamablehttp", "streamable"):
        return "streamable-http"
    return None


def _disabled(raw: Mapping[str, Any]) -> bool:
    return raw.get("disabled") is True or raw.get("enabled") is False


def _with(entry: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if value:
        entry[key] = dict(value) if isinstance(value, Mapping) else value
    return entry


# -- styles -------------------------------------------------------------------------------


def _standard_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        return _with({"url": server.url}, "headers", server.headers)
    entry: dict[str, Any] = {"command": server.command, "args": list(server.args)}
    _with(entry, "env", server.env)
    return _with(entry, "cwd", server.cwd)


def _standard_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """``{command, args, env}``, or ``{url, headers}`` with an optional ``type``."""
    url = raw.get("url") if "url" in raw else raw.get("serverUrl")
    if "command" not in raw and isinstance(url, str):
        transport = _transport_of(raw.get("type") or raw.get("transportType"), url)
        if transport is None:
            return None
        return _remote(name, url, transport, raw.get("headers"), disabled=_disabled(raw))
    if raw.get("type") not in (None, "stdio"):
        return None
    return _stdio(
        name,
        raw.get("command"),
        raw.get("args"),
        raw.get("env"),
        raw.get("cwd"),
        disabled=_disabled(raw),
    )


def _typed_encode(server: ClientServer) -> dict[str, Any]:
    """VS Code and Claude Code: every entry says its ``type``."""
    if server.url is not None:
        kind = "sse" if server.transport == "sse" else "http"
        return _with({"type": kind, "url": server.url}, "headers", server.headers)
    return {"type": "stdio", **_standard_encode(server)}


def _windsurf_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        return _with({"serverUrl": server.url}, "headers", server.headers)
    return _standard_encode(server)


def _cline_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        kind = "sse" if server.transport == "sse" else "streamableHttp"
        return _with({"type": kind, "url": server.url}, "headers", server.headers)
    return _standard_encode(server)


def _gemini_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        key = "url" if server.transport == "sse" else "httpUrl"
        return _with({key: server.url}, "headers", server.headers)
    return _standard_encode(server)


def _gemini_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """``httpUrl`` is streamable HTTP; ``url`` is SSE unless ``type`` says http."""
    if "command" not in raw and isinstance(raw.get("httpUrl"), str):
        return _remote(name, raw["httpUrl"], "streamable-http", raw.get("headers"))
    if "command" not in raw and isinstance(raw.get("url"), str):
        kind = raw.get("type")
        transport: Transport = "streamable-http" if kind == "http" else "sse"
        return _remote(name, raw["url"], transport, raw.get("headers"))
    return _standard_decode(name, raw)


def _zed_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        return _with({"url": server.url}, "headers", server.headers)
    # "source" is required by Zed releases of 2025 and ignored by later ones; "args" is
    # required by both.
    entry: dict[str, Any] = {"source": "custom", "command": server.command}
    entry["args"] = list(server.args)
    return _with(entry, "env", server.env)


def _zed_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """Flat ``{command, args, env}`` (with or without ``source``), the older nested
    ``{"command": {"path", "args", "env"}}``, or ``{url, headers}``; extensions are skipped.
    """
    disabled = raw.get("enabled") is False
    if raw.get("source") == "extension" or ("settings" in raw and "command" not in raw):
        return None
    command = raw.get("command")
    if isinstance(command, Mapping):
        return _stdio(
            name, command.get("path"), command.get("args"), command.get("env"), disabled=disabled
        )
    if command is None and isinstance(raw.get("url"), str):
        return _remote(name, raw["url"], "streamable-http", raw.get("headers"), disabled=disabled)
    return _stdio(name, command, raw.get("args"), raw.get("env"), disabled=disabled)


def _codex_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        return _with({"url": server.url}, "http_headers", server.headers)
    return _standard_encode(server)


def _codex_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """``command/args/env/cwd``, or a streamable HTTP ``url`` with ``http_headers``."""
    disabled = raw.get("enabled") is False
    if "command" not in raw and isinstance(raw.get("url"), str):
        return _remote(
            name, raw["url"], "streamable-http", raw.get("http_headers"), disabled=disabled
        )
    return _stdio(
        name,
        raw.get("command"),
        raw.get("args"),
        raw.get("env"),
        raw.get("cwd"),
        disabled=disabled,
    )


def _opencode_encode(server: ClientServer, *, enabled_key: bool = True) -> dict[str, Any]:
    if server.url is not None:
        entry: dict[str, Any] = {"type": "remote", "url": server.url}
        if enabled_key:
            entry["enabled"] = True
        return _with(entry, "headers", server.headers)
    entry = {"type": "local", "command": [server.command, *server.args]}
    if enabled_key:
        entry["enabled"] = True
    _with(entry, "environment", server.env)
    return _with(entry, "cwd", server.cwd)


def _opencode2_encode(server: ClientServer) -> dict[str, Any]:
    return _opencode_encode(server, enabled_key=False)


def _opencode_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """``{type: local, command: [argv], environment}`` or ``{type: remote, url, headers}``."""
    kind = raw.get("type")
    if kind == "remote" and isinstance(raw.get("url"), str):
        url = raw["url"]
        return _remote(
            name, url, _guess_transport(url), raw.get("headers"), disabled=_disabled(raw)
        )
    argv = _strings(raw.get("command"))
    if kind != "local" or not argv:
        return None
    return _stdio(
        name,
        argv[0],
        list(argv[1:]),
        raw.get("environment"),
        raw.get("cwd"),
        disabled=_disabled(raw),
    )


def _goose_encode(server: ClientServer) -> dict[str, Any]:
    common: dict[str, Any] = {"name": server.name, "enabled": True}
    tail = {"envs": dict(server.env), "env_keys": [], "timeout": 300, "description": ""}
    if server.url is not None:
        kind = "sse" if server.transport == "sse" else "streamable_http"
        return {"type": kind, **common, "uri": server.url, "headers": dict(server.headers), **tail}
    return {"type": "stdio", **common, "cmd": server.command, "args": list(server.args), **tail}


def _goose_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """``type: stdio`` (cmd/args/envs) or ``streamable_http``/``sse`` (uri); built-in,
    platform and other kinds of extension are not servers.
    """
    kind = raw.get("type")
    disabled = raw.get("enabled") is False
    if kind in ("streamable_http", "sse"):
        transport: Transport = "sse" if kind == "sse" else "streamable-http"
        return _remote(name, raw.get("uri"), transport, raw.get("headers"), disabled=disabled)
    if kind != "stdio":
        return None
    return _stdio(name, raw.get("cmd"), raw.get("args"), raw.get("envs"), disabled=disabled)


def _continue_encode(server: ClientServer) -> dict[str, Any]:
    if server.url is not None:
        kind = "sse" if server.transport == "sse" else "streamable-http"
        entry: dict[str, Any] = {"name": server.name, "type": kind, "url": server.url}
        if server.headers:
            entry["requestOptions"] = {"headers": dict(server.headers)}
        return entry
    return {"name": server.name, **_standard_encode(server)}


def _continue_decode(name: str, raw: Mapping[str, Any]) -> ClientServer | None:
    """A list item ``{name, command, args, env, cwd}`` or ``{name, type, url}``."""
    kind = raw.get("type")
    if kind in ("sse", "streamable-http") and isinstance(raw.get("url"), str):
        options = raw.get("requestOptions")
        headers = options.get("headers") if isinstance(options, Mapping) else None
        return _remote(name, raw["url"], "sse" if kind == "sse" else "streamable-http", headers)
    if kind not in (None, "stdio"):
        return None
    return _stdio(name, raw.get("command"), raw.get("args"), raw.get("env"), raw.get("cwd"))


_STDIO_KEYS = frozenset({"command", "args", "env", "cwd"})
_REMOTE_KEYS = frozenset({"url", "headers", "type"})

#: Every entry style, by the name the client table uses.
STYLES: dict[str, EntryStyle] = {
    "standard": EntryStyle(_standard_encode, _standard_decode, _STDIO_KEYS | _REMOTE_KEYS),
    "vscode": EntryStyle(_typed_encode, _standard_decode, _STDIO_KEYS | _REMOTE_KEYS),
    "windsurf": EntryStyle(
        _windsurf_encode, _standard_decode, _STDIO_KEYS | {"serverUrl", "headers"}
    ),
    "cline": EntryStyle(
        _cline_encode, _standard_decode, _STDIO_KEYS | _REMOTE_KEYS | {"transportType"}
    ),
    "gemini": EntryStyle(
        _gemini_encode, _gemini_decode, _STDIO_KEYS | {"url", "httpUrl", "headers"}
    ),
    "zed": EntryStyle(
        _zed_encode, _zed_decode, frozenset({"source", "command", "args", "env", "url", "headers"})
    ),
    "codex": EntryStyle(_codex_encode, _codex_decode, _STDIO_KEYS | {"url", "http_headers"}),
    "opencode": EntryStyle(
        _opencode_encode,
        _opencode_decode,
        frozenset({"type", "command", "environment", "cwd", "url", "headers", "enabled"}),
    ),
    "opencode2": EntryStyle(
        _opencode2_encode,
        _opencode_decode,
        frozenset({"type", "command", "environment", "cwd", "url", "headers", "disabled"}),
    ),
    "goose": EntryStyle(
        _goose_encode,
        _goose_decode,
        frozenset({"type", "name", "enabled", "cmd", "args", "envs", "uri", "headers"}),
        soft=frozenset({"env_keys", "timeout", "description"}),
    ),
    "continue": EntryStyle(
        _continue_encode,
        _continue_decode,
        _STDIO_KEYS | {"name", "type", "url", "requestOptions"},
    ),
}


def _style(style: str) -> EntryStyle:
    try:
        return STYLES[style]
    except KeyError:
        raise ValueError(f"unknown entry style {style!r} (known: {', '.join(STYLES)})") from None


def encode(style: str, server: ClientServer) -> Any:
    """The client's own entry data for ``server``."""
    return _style(style).encode(server)


def decode(style: str, name: str, raw: Any) -> ClientServer | None:
    """The server an entry names, or None when it is not one mcpkit can read."""
    if not isinstance(raw, Mapping):
        return None
    return _style(style).decode(name, raw)


def update_entry(style: str, existing: Any, server: ClientServer) -> Any:
    """``existing`` rewritten to run ``server``, keeping keys the user added to it.

    Keys the style owns are replaced (or dropped when the new entry has none); soft keys
    (timeouts, descriptions) keep the user's value; anything else stays as it was.
    """
    spec = _style(style)
    fresh = spec.encode(server)
    if not isinstance(existing, Mapping):
        return fresh
    merged = {k: v for k, v in existing.items() if k not in spec.keys or k in fresh}
    for key, value in fresh.items():
        if key in spec.soft and key in merged:
            continue
        merged[key] = value
    return merged


def _script_path() -> tuple[str, tuple[str, ...]]:
    """The ``mcpkit`` console script beside this interpreter, else ``python -m mcpkit``."""
    python = Path(sys.executable).absolute()
    for name in ("mcpkit.exe", "mcpkit") if sys.platform == "win32" else ("mcpkit",):
        script = python.parent / name
        if script.is_file():
            return str(script), ()
    return str(python), ("-m", "mcpkit")


def gateway_entry(profile: str, environ: Mapping[str, str]) -> ClientServer:
    """Our entry: the gateway serving ``profile`` over stdio.

    ``MCPKIT_HOME`` is passed on when this environment sets it, so the client's gateway
    finds the same state; nothing else from this environment is.
    """
    command, prefix = _script_path()
    env = {"MCPKIT_HOME": environ["MCPKIT_HOME"]} if environ.get("MCPKIT_HOME") else {}
    return ClientServer(
        name=ENTRY_NAME,
        command=command,
        args=(*prefix, "gateway", "run", "--profile", profile),
        env=env,
    )


def _program(command: str) -> str:
    """The bare program name of a command, on any OS (``C:\\x\\mcpkit.exe`` → ``mcpkit``)."""
    name = PureWindowsPath(command).name if "\\" in command else PurePosixPath(command).name
    name = name.lower()
    return name.removesuffix(".exe")


def entry_profile(server: ClientServer) -> str | None:
    """The profile an entry serves when it is ours (runs ``mcpkit … gateway run``), else None."""
    if server.command is None or server.url is not None:
        return None
    argv = [server.command, *server.args]
    start = None
    if _program(argv[0]) == "mcpkit":
        start = 1
    elif _program(argv[0]).startswith("python"):
        for i in range(1, len(argv) - 1):
            if argv[i] == "-m" and argv[i + 1] == "mcpkit":
                start = i + 2
                break
    if start is None:
        return None
    rest = argv[start:]
    for i in range(len(rest) - 1):
        if rest[i] == "gateway" and rest[i + 1] == "run":
            return _profile_option(rest[i + 2 :])
    return None


def _profile_option(args: list[str]) -> str:
    profile = DEFAULT_PROFILE
    for i, arg in enumerate(args):
        if arg in ("--profile", "-p") and i + 1 < len(args):
            profile = args[i + 1]
        elif arg.startswith("--profile="):
            profile = arg.split("=", 1)[1]
    return profile
