"""The client table: every client's config path per OS, computed from a fake environ."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from mcpkit.clients.entries import STYLES
from mcpkit.clients.table import (
    CLIENTS,
    candidate_paths,
    config_path,
    expand,
    get_client,
    os_key,
)
from mcpkit.errors import UnknownClientError

LINUX = {"HOME": "/home/alex"}
MAC = {"HOME": "/Users/alex"}
WINDOWS = {"USERPROFILE": "C:\\Users\\alex", "APPDATA": "C:\\Users\\alex\\AppData\\Roaming"}

CLINE = "globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
EXPECTED_GLOBAL: dict[str, tuple[str, str, str]] = {
    "claude-desktop": (
        "/home/alex/.config/Claude/claude_desktop_config.json",
        "/Users/alex/Library/Application Support/Claude/claude_desktop_config.json",
        "C:\\Users\\alex\\AppData\\Roaming\\Claude\\claude_desktop_config.json",
    ),
    "claude-code": (
        "/home/alex/.claude.json",
        "/Users/alex/.claude.json",
        "C:\\Users\\alex\\.claude.json",
    ),
    "cursor": (
        "/home/alex/.cursor/mcp.json",
        "/Users/alex/.cursor/mcp.json",
        "C:\\Users\\alex\\.cursor\\mcp.json",
    ),
    "vscode": (
        "/home/alex/.config/Code/User/mcp.json",
        "/Users/alex/Library/Application Support/Code/User/mcp.json",
        "C:\\Users\\alex\\AppData\\Roaming\\Code\\User\\mcp.json",
    ),
    "vscode-insiders": (
        "/home/alex/.config/Code - Insiders/User/mcp.json",
        "/Users/alex/Library/Application Support/Code - Insiders/User/mcp.json",
        "C:\\Users\\alex\\AppData\\Roaming\\Code - Insiders\\User\\mcp.json",
    ),
    "windsurf": (
        "/home/alex/.codeium/windsurf/mcp_config.json",
        "/Users/alex/.codeium/windsurf/mcp_config.json",
        "C:\\Users\\alex\\.codeium\\windsurf\\mcp_config.json",
    ),
    "zed": (
        "/home/alex/.config/zed/settings.json",
        "/Users/alex/.config/zed/settings.json",
        "C:\\Users\\alex\\AppData\\Roaming\\Zed\\settings.json",
    ),
    "codex": (
        "/home/alex/.codex/config.toml",
        "/Users/alex/.codex/config.toml",
        "C:\\Users\\alex\\.codex\\config.toml",
    ),
    "gemini": (
        "/home/alex/.gemini/settings.json",
        "/Users/alex/.gemini/settings.json",
        "C:\\Users\\alex\\.gemini\\settings.json",
    ),
    "cline": (
        f"/home/alex/.config/Code/User/{CLINE}",
        f"/Users/alex/Library/Application Support/Code/User/{CLINE}",
        "C:\\Users\\alex\\AppData\\Roaming\\Code\\User\\" + CLINE.replace("/", "\\"),
    ),
    "continue": (
        "/home/alex/.continue/config.yaml",
        "/Users/alex/.continue/config.yaml",
        "C:\\Users\\alex\\.continue\\config.yaml",
    ),
    "goose": (
        "/home/alex/.config/goose/config.yaml",
        "/Users/alex/.config/goose/config.yaml",
        "C:\\Users\\alex\\AppData\\Roaming\\Block\\goose\\config\\config.yaml",
    ),
    "lmstudio": (
        "/home/alex/.lmstudio/mcp.json",
        "/Users/alex/.lmstudio/mcp.json",
        "C:\\Users\\alex\\.lmstudio\\mcp.json",
    ),
    "opencode": (
        "/home/alex/.config/opencode/opencode.json",
        "/Users/alex/.config/opencode/opencode.json",
        "C:\\Users\\alex\\.config\\opencode\\opencode.json",
    ),
}


def test_the_table_has_the_fourteen_clients_of_the_issue() -> None:
    assert set(CLIENTS) == set(EXPECTED_GLOBAL)
    assert len(CLIENTS) == 14


@pytest.mark.parametrize("client_id", sorted(CLIENTS))
def test_every_client_row_is_complete(client_id: str) -> None:
    client = CLIENTS[client_id]
    assert client.style in STYLES
    assert client.dialect in ("json", "jsonc", "toml", "yaml")
    assert client.docs.startswith("https://")
    assert set(client.global_paths) == {"linux", "darwin", "win32"}
    assert client.container
    for layout in client.layouts:
        assert layout.style in STYLES


@pytest.mark.parametrize("client_id", sorted(EXPECTED_GLOBAL))
def test_the_global_config_path_is_computed_for_each_os_from_its_environ(client_id: str) -> None:
    client = get_client(client_id)
    linux, mac, windows = EXPECTED_GLOBAL[client_id]
    assert candidate_paths(client, "global", environ=LINUX, platform="linux")[0] == PurePosixPath(
        linux
    )
    assert candidate_paths(client, "global", environ=MAC, platform="darwin")[0] == PurePosixPath(
        mac
    )
    got = candidate_paths(client, "global", environ=WINDOWS, platform="win32")[0]
    assert isinstance(got, PureWindowsPath)
    assert got == PureWindowsPath(windows)


def test_xdg_config_home_moves_linux_config_folders_but_not_macos_zed() -> None:
    env = {**LINUX, "XDG_CONFIG_HOME": "/data/xdg"}
    zed, vscode, goose = get_client("zed"), get_client("vscode"), get_client("goose")
    assert candidate_paths(zed, "global", environ=env, platform="linux")[0] == PurePosixPath(
        "/data/xdg/zed/settings.json"
    )
    assert candidate_paths(vscode, "global", environ=env, platform="linux")[0] == PurePosixPath(
        "/data/xdg/Code/User/mcp.json"
    )
    assert candidate_paths(goose, "global", environ=env, platform="linux")[0] == PurePosixPath(
        "/data/xdg/goose/config.yaml"
    )
    mac_env = {**MAC, "XDG_CONFIG_HOME": "/data/xdg"}
    assert candidate_paths(zed, "global", environ=mac_env, platform="darwin")[0] == PurePosixPath(
        "/Users/alex/.config/zed/settings.json"
    )


def test_a_relative_xdg_config_home_is_ignored_as_the_spec_asks() -> None:
    env = {**LINUX, "XDG_CONFIG_HOME": "relative/xdg"}
    assert candidate_paths(get_client("zed"), "global", environ=env, platform="linux")[
        0
    ] == PurePosixPath("/home/alex/.config/zed/settings.json")


def test_codex_home_and_claude_config_dir_override_the_default_folders() -> None:
    env = {**LINUX, "CODEX_HOME": "/opt/codex", "CLAUDE_CONFIG_DIR": "/opt/claude"}
    assert candidate_paths(get_client("codex"), "global", environ=env, platform="linux")[
        0
    ] == PurePosixPath("/opt/codex/config.toml")
    assert candidate_paths(get_client("claude-code"), "global", environ=env, platform="linux")[
        0
    ] == PurePosixPath("/opt/claude/.claude.json")
    win = {**WINDOWS, "CODEX_HOME": "D:\\codex"}
    assert candidate_paths(get_client("codex"), "global", environ=win, platform="win32")[
        0
    ] == PureWindowsPath("D:\\codex\\config.toml")


def test_windows_appdata_defaults_to_the_roaming_folder_when_unset() -> None:
    env = {"USERPROFILE": "C:\\Users\\bo"}
    assert candidate_paths(get_client("zed"), "global", environ=env, platform="win32")[
        0
    ] == PureWindowsPath("C:\\Users\\bo\\AppData\\Roaming\\Zed\\settings.json")


def test_no_home_means_no_global_path() -> None:
    assert candidate_paths(get_client("cursor"), "global", environ={}, platform="linux") == ()
    assert expand("~/.cursor/mcp.json", {"HOME": "relative"}, "linux") is None
    assert expand("${UNSET_VAR}/x", LINUX, "linux") is None


def test_cline_falls_back_to_vs_code_insiders_storage() -> None:
    paths = candidate_paths(get_client("cline"), "global", environ=LINUX, platform="linux")
    assert [str(p).split("/")[4] for p in paths] == ["Code", "Code - Insiders"]


def test_project_paths_are_relative_to_the_project_root() -> None:
    root = PurePosixPath("/home/alex/src/app")
    expected = {
        "claude-code": ".mcp.json",
        "cursor": ".cursor/mcp.json",
        "vscode": ".vscode/mcp.json",
        "zed": ".zed/settings.json",
        "codex": ".codex/config.toml",
        "gemini": ".gemini/settings.json",
        "continue": ".continue/mcpServers/mcpkit.yaml",
        "opencode": "opencode.json",
    }
    for client_id, rel in expected.items():
        got = candidate_paths(
            get_client(client_id), "project", environ=LINUX, platform="linux", project=root
        )
        assert got[0] == root / rel, client_id
    for global_only in ("claude-desktop", "windsurf", "cline", "goose", "lmstudio"):
        assert not get_client(global_only).project_paths
    win = candidate_paths(
        get_client("vscode"),
        "project",
        environ=WINDOWS,
        platform="win32",
        project=PureWindowsPath("C:\\src\\app"),
    )
    assert win[0] == PureWindowsPath("C:\\src\\app\\.vscode\\mcp.json")


def test_config_path_prefers_an_alternative_that_exists(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    opencode = get_client("opencode")
    assert config_path(opencode, "global", environ=env, platform="linux", project=None) == (
        tmp_path / ".config/opencode/opencode.json"
    )
    jsonc = tmp_path / ".config/opencode/opencode.jsonc"
    jsonc.parent.mkdir(parents=True)
    jsonc.write_text("{}")
    assert config_path(opencode, "global", environ=env, platform="linux", project=None) == jsonc
    assert config_path(opencode, "project", environ=env, platform="linux", project=None) is None


def test_clients_are_found_by_id_and_alias_in_any_case() -> None:
    assert get_client("Cursor").id == "cursor"
    assert get_client("gemini-cli").id == "gemini"
    assert get_client("LM Studio").id == "lmstudio"
    assert get_client("code").id == "vscode"
    assert get_client("vscode_insiders").id == "vscode-insiders"


def test_an_ambiguous_alias_names_every_client_it_could_be() -> None:
    with pytest.raises(UnknownClientError) as info:
        get_client("claude")
    assert "claude-desktop" in info.value.message
    assert "claude-code" in info.value.message
    assert info.value.exit_code == 3


def test_an_unknown_client_is_refused_with_the_known_ids_and_a_guess() -> None:
    with pytest.raises(UnknownClientError) as info:
        get_client("cursr")
    assert "cursr" in info.value.message
    assert info.value.hint is not None
    assert "did you mean cursor?" in info.value.hint
    assert "opencode" in info.value.hint
    assert info.value.code == "unknown-client"


def test_platform_names_map_to_the_three_table_keys() -> None:
    assert os_key("linux") == "linux"
    assert os_key("freebsd14") == "linux"
    assert os_key("darwin") == "darwin"
    assert os_key("win32") == "win32"
    assert os_key("cygwin") == "win32"
