"""The AI clients mcpkit knows: where each keeps its MCP servers, and in which shape.

Every client is one :class:`ClientDef` row of plain data: its config file per OS (path
templates), the file's dialect, where the servers sit in it (``container``) and the entry
style (see :mod:`mcpkit.clients.entries`). Adding a client is adding a row.

Path templates are expanded by :func:`candidate_paths`, a pure function of an environ and
a platform name, so every OS's locations can be computed (and tested) on any OS:

* ``~`` is the home folder (``HOME``; ``USERPROFILE`` on Windows);
* ``${VAR:-default}`` is the variable when it is set to an absolute path, else the default
  (itself a template), e.g. ``${XDG_CONFIG_HOME:-~/.config}``; ``${VAR}`` with no default
  makes the template unusable when ``VAR`` is unset;
* ``%VAR%`` is a Windows variable, with Windows' own defaults for ``APPDATA``,
  ``LOCALAPPDATA`` and ``USERPROFILE`` when the environ lacks them.

Several templates for one OS are alternatives: the first that exists is the client's file,
else the first (``opencode.json`` or ``opencode.jsonc``, for instance).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any, Literal

from mcpkit.clients.edit import ByName, Dialect, PathPart
from mcpkit.errors import UnknownClientError

Scope = Literal["global", "project"]
OS = Literal["linux", "darwin", "win32"]


@dataclass(frozen=True)
class Layout:
    """Another place a client's file may keep its servers (a newer or older schema).

    It is used instead of the client's default container when the file already has a
    mapping at ``container``; entries there are in ``style``.
    """

    container: tuple[PathPart, ...]
    style: str


@dataclass(frozen=True)
class ClientDef:
    """One AI client: its config files, their format, and the shape of a server entry."""

    id: str
    name: str
    dialect: Dialect
    #: Path of the servers mapping (or list, see ``list_key``) in the file.
    container: tuple[PathPart, ...]
    #: Entry shape, a key of :data:`mcpkit.clients.entries.STYLES`.
    style: str
    #: Per OS (``linux``, ``darwin``, ``win32``): path templates, alternatives in order.
    global_paths: dict[str, tuple[str, ...]]
    #: Relative to the project root, alternatives in order.
    project_paths: tuple[str, ...] = ()
    #: Signs of installation besides the config file and its folder: path templates, or
    #: ``bin:NAME`` for an executable on ``PATH``.
    detect: tuple[str, ...] = ()
    #: The client's own documentation of its MCP config.
    docs: str = ""
    #: When the container is a list of entries: the field naming each entry.
    list_key: str | None = None
    #: Top-level keys a new (or empty) file starts with, in order.
    skeleton: tuple[tuple[str, Any], ...] = ()
    #: Other places the file may keep its servers (first match wins).
    layouts: tuple[Layout, ...] = ()
    #: Relative to the project root: other signs that the project uses this client.
    project_detect: tuple[str, ...] = ()
    #: The project file is mcpkit's alone (a block file in a folder the client reads):
    #: disconnect removes it once our entry is gone from it.
    dedicated_project_file: bool = False
    #: Aliases accepted by :func:`get_client`.
    aliases: tuple[str, ...] = field(default=())

    def entry_path(self, container: tuple[PathPart, ...], name: str) -> tuple[PathPart, ...]:
        """The path of the entry called ``name`` under ``container``."""
        if self.list_key is not None:
            return (*container, ByName(self.list_key, name))
        return (*container, name)


def _per_os(linux: str, darwin: str, win32: str) -> dict[str, tuple[str, ...]]:
    return {"linux": (linux,), "darwin": (darwin,), "win32": (win32,)}


def _same_on_unix(unix: str, win32: str) -> dict[str, tuple[str, ...]]:
    return _per_os(unix, unix, win32)


_XDG = "${XDG_CONFIG_HOME:-~/.config}"
_MAC_SUPPORT = "~/Library/Application Support"


def _vscode_user(product: str, rel: str) -> dict[str, tuple[str, ...]]:
    """A file under VS Code's per-user folder (``Code/User``)."""
    return _per_os(
        f"{_XDG}/{product}/User/{rel}",
        f"{_MAC_SUPPORT}/{product}/User/{rel}",
        f"%APPDATA%/{product}/User/{rel}",
    )


_CLINE = "globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"


def _cline_paths() -> dict[str, tuple[str, ...]]:
    """Cline keeps its servers in VS Code's (or VS Code Insiders') global storage."""
    code, insiders = _vscode_user("Code", _CLINE), _vscode_user("Code - Insiders", _CLINE)
    return {os_: code[os_] + insiders[os_] for os_ in code}


CLIENTS: dict[str, ClientDef] = {
    c.id: c
    for c in (
        ClientDef(
            id="claude-desktop",
            name="Claude Desktop",
            dialect="json",
            container=("mcpServers",),
            style="standard",
            global_paths=_per_os(
                f"{_XDG}/Claude/claude_desktop_config.json",
                f"{_MAC_SUPPORT}/Claude/claude_desktop_config.json",
                "%APPDATA%/Claude/claude_desktop_config.json",
            ),
            detect=("/Applications/Claude.app",),
            docs="https://modelcontextprotocol.io/quickstart/user",
        ),
        ClientDef(
            id="claude-code",
            name="Claude Code",
            dialect="json",
            container=("mcpServers",),
            style="vscode",
            # User scope. The file also holds Claude Code's own state: edits touch only
            # our member of mcpServers.
            global_paths=_same_on_unix(
                "${CLAUDE_CONFIG_DIR:-~}/.claude.json", "${CLAUDE_CONFIG_DIR:-~}/.claude.json"
            ),
            project_paths=(".mcp.json",),
            detect=("~/.claude", "bin:claude"),
            project_detect=(".claude", "CLAUDE.md"),
            docs="https://docs.anthropic.com/en/docs/claude-code/mcp",
        ),
        ClientDef(
            id="cursor",
            name="Cursor",
            dialect="json",
            container=("mcpServers",),
            style="standard",
            global_paths=_same_on_unix("~/.cursor/mcp.json", "~/.cursor/mcp.json"),
            project_paths=(".cursor/mcp.json",),
            detect=("bin:cursor",),
            docs="https://cursor.com/docs/context/mcp",
        ),
        ClientDef(
            id="vscode",
            name="VS Code",
            dialect="jsonc",
            container=("servers",),
            style="vscode",
            global_paths=_vscode_user("Code", "mcp.json"),
            project_paths=(".vscode/mcp.json",),
            detect=("bin:code",),
            docs="https://code.visualstudio.com/docs/copilot/reference/mcp-configuration",
            aliases=("code", "vs-code", "visual-studio-code"),
        ),
        ClientDef(
            id="vscode-insiders",
            name="VS Code Insiders",
            dialect="jsonc",
            container=("servers",),
            style="vscode",
            global_paths=_vscode_user("Code - Insiders", "mcp.json"),
            project_paths=(".vscode/mcp.json",),
            detect=("bin:code-insiders",),
            docs="https://code.visualstudio.com/docs/copilot/reference/mcp-configuration",
            aliases=("code-insiders", "insiders"),
        ),
        ClientDef(
            id="windsurf",
            name="Windsurf",
            dialect="json",
            container=("mcpServers",),
            style="windsurf",
            global_paths=_same_on_unix(
                "~/.codeium/windsurf/mcp_config.json", "~/.codeium/windsurf/mcp_config.json"
            ),
            detect=("bin:windsurf",),
            docs="https://docs.windsurf.com/windsurf/cascade/mcp",
            aliases=("codeium",),
        ),
        ClientDef(
            id="zed",
            name="Zed",
            dialect="jsonc",
            container=("context_servers",),
            style="zed",
            global_paths=_per_os(
                f"{_XDG}/zed/settings.json",
                "~/.config/zed/settings.json",
                "%APPDATA%/Zed/settings.json",
            ),
            project_paths=(".zed/settings.json",),
            detect=("bin:zed", "bin:zeditor"),
            docs="https://zed.dev/docs/ai/mcp",
        ),
        ClientDef(
            id="codex",
            name="Codex",
            dialect="toml",
            container=("mcp_servers",),
            style="codex",
            global_paths=_same_on_unix(
                "${CODEX_HOME:-~/.codex}/config.toml", "${CODEX_HOME:-~/.codex}/config.toml"
            ),
            # Codex reads a project's .codex/config.toml only once the project is trusted.
            project_paths=(".codex/config.toml",),
            detect=("bin:codex",),
            docs="https://developers.openai.com/codex/mcp",
            aliases=("codex-cli", "openai-codex"),
        ),
        ClientDef(
            id="gemini",
            name="Gemini CLI",
            # Gemini CLI strips comments (strip-json-comments) before JSON.parse.
            dialect="jsonc",
            container=("mcpServers",),
            style="gemini",
            global_paths=_same_on_unix("~/.gemini/settings.json", "~/.gemini/settings.json"),
            project_paths=(".gemini/settings.json",),
            detect=("bin:gemini",),
            docs="https://github.com/google-gemini/gemini-cli/blob/main/docs/tools/mcp-server.md",
            aliases=("gemini-cli",),
        ),
        ClientDef(
            id="cline",
            name="Cline",
            dialect="json",
            container=("mcpServers",),
            style="cline",
            global_paths=_cline_paths(),
            docs="https://docs.cline.bot/mcp/configuring-mcp-servers",
            aliases=("claude-dev",),
        ),
        ClientDef(
            id="continue",
            name="Continue",
            dialect="yaml",
            container=("mcpServers",),
            style="continue",
            list_key="name",
            global_paths=_same_on_unix(
                "${CONTINUE_GLOBAL_DIR:-~/.continue}/config.yaml",
                "${CONTINUE_GLOBAL_DIR:-~/.continue}/config.yaml",
            ),
            # Continue reads every block file in .continue/mcpServers/: ours is its own file.
            project_paths=(".continue/mcpServers/mcpkit.yaml",),
            project_detect=(".continue",),
            dedicated_project_file=True,
            skeleton=(("name", "mcpkit"), ("version", "0.0.1"), ("schema", "v1")),
            docs="https://docs.continue.dev/customize/deep-dives/mcp",
            aliases=("continue-dev",),
        ),
        ClientDef(
            id="goose",
            name="Goose",
            dialect="yaml",
            container=("extensions",),
            style="goose",
            global_paths=_per_os(
                f"{_XDG}/goose/config.yaml",
                f"{_XDG}/goose/config.yaml",
                "%APPDATA%/Block/goose/config/config.yaml",
            ),
            detect=("bin:goose",),
            docs="https://block.github.io/goose/docs/guides/config-files",
        ),
        ClientDef(
            id="lmstudio",
            name="LM Studio",
            dialect="json",
            container=("mcpServers",),
            style="standard",
            global_paths=_same_on_unix("~/.lmstudio/mcp.json", "~/.lmstudio/mcp.json"),
            detect=("~/.lmstudio", "bin:lms"),
            docs="https://lmstudio.ai/docs/app/mcp",
            aliases=("lm-studio",),
        ),
        ClientDef(
            id="opencode",
            name="opencode",
            dialect="jsonc",
            container=("mcp",),
            style="opencode",
            global_paths={
                os_: (f"{base}/opencode/opencode.json", f"{base}/opencode/opencode.jsonc")
                for os_, base in (("linux", _XDG), ("darwin", _XDG), ("win32", "~/.config"))
            },
            project_paths=(
                "opencode.json",
                "opencode.jsonc",
                ".opencode/opencode.json",
                ".opencode/opencode.jsonc",
            ),
            project_detect=(".opencode",),
            # opencode v2 moved the servers one level down, to mcp.servers.
            layouts=(Layout(("mcp", "servers"), "opencode2"),),
            detect=("bin:opencode",),
            docs="https://opencode.ai/docs/mcp-servers",
            aliases=("open-code",),
        ),
    )
}

_ALIASES: dict[str, str] = {a: c.id for c in CLIENTS.values() for a in c.aliases}
#: Names that would fit several clients: the user must choose.
_AMBIGUOUS: dict[str, tuple[str, ...]] = {"claude": ("claude-desktop", "claude-code")}


def get_client(client_id: str) -> ClientDef:
    """The client called ``client_id`` (or one of its unambiguous aliases)."""
    key = client_id.strip().lower().replace("_", "-").replace(" ", "-")
    if key in CLIENTS:
        return CLIENTS[key]
    if key in _ALIASES:
        return CLIENTS[_ALIASES[key]]
    known = ", ".join(CLIENTS)
    if key in _AMBIGUOUS:
        choices = " or ".join(_AMBIGUOUS[key])
        raise UnknownClientError(
            f"{client_id!r} could be {choices}", hint=f"name one of them; known clients: {known}"
        )
    close = difflib.get_close_matches(key, [*CLIENTS, *_ALIASES], n=1)
    guess = f"did you mean {CLIENTS[_ALIASES.get(close[0], close[0])].id}? " if close else ""
    raise UnknownClientError(
        f"unknown AI client {client_id!r}",
        hint=f"{guess}known clients: {known} ('mcpkit client ls --all' lists them)",
    )


def os_key(platform: str) -> OS:
    """The table's OS key for a ``sys.platform`` value (other Unixes count as Linux)."""
    if platform.startswith(("win32", "cygwin", "msys")):
        return "win32"
    if platform == "darwin":
        return "darwin"
    return "linux"


_WINDOWS_DEFAULTS = {
    "APPDATA": "~/AppData/Roaming",
    "LOCALAPPDATA": "~/AppData/Local",
    "USERPROFILE": "~",
}
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
_WINVAR = re.compile(r"%(?P<name>[A-Za-z_][A-Za-z0-9_]*)%")


class _UnsetError(Exception):
    """A template names a variable the environ does not set (and has no default)."""


def _pure(platform: OS, text: str) -> PurePath:
    return PureWindowsPath(text) if platform == "win32" else PurePosixPath(text)


def _home(environ: Mapping[str, str], platform: OS) -> str:
    if platform == "win32":
        home = environ.get("USERPROFILE") or (
            environ.get("HOMEDRIVE", "") + environ.get("HOMEPATH", "")
        )
        home = home or environ.get("HOME", "")
    else:
        home = environ.get("HOME", "")
    if not home or not _pure(platform, home).is_absolute():
        raise _UnsetError("HOME")
    return home


def expand(template: str, environ: Mapping[str, str], platform: str) -> PurePath | None:
    """The path a template names on ``platform`` (None when a variable it needs is unset)."""
    os_ = os_key(platform)
    try:
        return _pure(os_, _expand(template, environ, os_))
    except _UnsetError:
        return None


def _absolute_var(environ: Mapping[str, str], name: str, os_: OS) -> str | None:
    value = environ.get(name, "")
    # Relative values are ignored, as the XDG spec asks and as clients do.
    return value if value and _pure(os_, value).is_absolute() else None


def _expand(template: str, environ: Mapping[str, str], os_: OS) -> str:
    def var(match: re.Match[str]) -> str:
        value = _absolute_var(environ, match["name"], os_)
        if value is not None:
            return value
        if match["default"] is None:
            raise _UnsetError(match["name"])
        return _expand(match["default"], environ, os_)

    def winvar(match: re.Match[str]) -> str:
        value = _absolute_var(environ, match["name"], os_)
        if value is not None:
            return value
        if match["name"] not in _WINDOWS_DEFAULTS:
            raise _UnsetError(match["name"])
        return _expand(_WINDOWS_DEFAULTS[match["name"]], environ, os_)

    text = _VAR.sub(var, template)
    if os_ == "win32":
        text = _WINVAR.sub(winvar, text)
    if text == "~" or text.startswith("~/"):
        text = _home(environ, os_) + text[1:]
    return text


def candidate_paths(
    client: ClientDef,
    scope: Scope,
    *,
    environ: Mapping[str, str],
    platform: str,
    project: PurePath | None = None,
) -> tuple[PurePath, ...]:
    """Where ``client`` may keep its ``scope`` config on ``platform``, in order (pure)."""
    os_ = os_key(platform)
    if scope == "project":
        if project is None:
            return ()
        root = _pure(os_, str(project))
        return tuple(root / rel for rel in client.project_paths)
    found = (expand(t, environ, platform) for t in client.global_paths.get(os_, ()))
    return tuple(p for p in found if p is not None)


def config_path(
    client: ClientDef,
    scope: Scope,
    *,
    environ: Mapping[str, str],
    platform: str,
    project: Path | None,
) -> Path | None:
    """The client's ``scope`` config file here: the first candidate that exists, else the first."""
    candidates = [
        Path(p)
        for p in candidate_paths(client, scope, environ=environ, platform=platform, project=project)
    ]
    if not candidates:
        return None
    return next((p for p in candidates if p.exists()), candidates[0])
