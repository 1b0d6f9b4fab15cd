"""The client service on real sample config files: connect, switch, disconnect, status, import.

Every test works in a tmp dir with HOME pointing there and an empty PATH, so no real client
installation on this machine is seen or touched.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcpkit.clients.edit import parse
from mcpkit.clients.entries import decode, entry_profile
from mcpkit.clients.files import KEEP_BACKUPS
from mcpkit.clients.service import ClientService
from mcpkit.clients.table import Scope, get_client
from mcpkit.errors import ClientConfigError, ConflictError, UsageError

SAMPLES = Path(__file__).parent / "samples"


@dataclass
class Env:
    """A fake user: home, project folder, backups and the service over them."""

    tmp: Path
    home: Path
    project: Path
    backups: Path
    environ: dict[str, str]

    @property
    def service(self) -> ClientService:
        return ClientService(
            self.environ, platform="linux", project=self.project, backup_dir=self.backups
        )

    def path(self, client_id: str, scope: Scope = "global") -> Path:
        path = self.service.path(get_client(client_id), scope)
        assert path is not None
        return path

    def place(self, client_id: str, sample: str, scope: Scope = "global") -> Path:
        path = self.path(client_id, scope)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / sample, path)
        return path


@pytest.fixture
def env(tmp_path: Path) -> Env:
    home, project, bin_dir = tmp_path / "home", tmp_path / "project", tmp_path / "bin"
    for folder in (home, project, bin_dir):
        folder.mkdir()
    environ = {"HOME": str(home), "MCPKIT_HOME": str(tmp_path / "mcpkit"), "PATH": str(bin_dir)}
    return Env(tmp_path, home, project, tmp_path / "backups", environ)


def data_of(client_id: str, path: Path) -> dict[str, Any]:
    client = get_client(client_id)
    result: dict[str, Any] = parse(path.read_text(), client.dialect, origin=str(path)).get(())
    return result


def without_ours(client_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with our entry taken out of the client's container."""
    client = get_client(client_id)
    node: Any = data
    container = client.container
    for layout in client.layouts:
        probe: Any = data
        for part in layout.container:
            probe = probe.get(part) if isinstance(probe, dict) else None
        if isinstance(probe, dict):
            container = layout.container
    for part in container[:-1]:
        node = node[part]
    servers = node[container[-1]]
    if isinstance(servers, list):
        node[container[-1]] = [s for s in servers if s.get("name") != "mcpkit"]
    else:
        servers.pop("mcpkit", None)
    return data


def our_entry(client_id: str, path: Path) -> Any:
    client = get_client(client_id)
    doc = parse(path.read_text(), client.dialect, origin=str(path))
    for layout in client.layouts:
        if isinstance(doc.get(layout.container), dict):
            return doc.get(client.entry_path(layout.container, "mcpkit"))
    return doc.get(client.entry_path(client.container, "mcpkit"))


# (client, sample, scope): one real-looking file per client, plus project variants.
CASES = [
    ("claude-desktop", "claude_desktop_config.json", "global"),
    ("claude-code", "claude_code_user.json", "global"),
    ("claude-code", "claude_code_project.mcp.json", "project"),
    ("cursor", "cursor_mcp.json", "global"),
    ("cursor", "cursor_mcp.json", "project"),
    ("vscode", "vscode_mcp.json", "global"),
    ("vscode", "vscode_mcp.json", "project"),
    ("vscode-insiders", "vscode_mcp.json", "global"),
    ("windsurf", "windsurf_mcp_config.json", "global"),
    ("zed", "zed_settings.json", "global"),
    ("zed", "zed_settings.json", "project"),
    ("codex", "codex_config.toml", "global"),
    ("codex", "codex_config.toml", "project"),
    ("gemini", "gemini_settings.json", "global"),
    ("gemini", "gemini_settings.json", "project"),
    ("cline", "cline_mcp_settings.json", "global"),
    ("continue", "continue_config.yaml", "global"),
    ("goose", "goose_config.yaml", "global"),
    ("lmstudio", "lmstudio_mcp.json", "global"),
    ("opencode", "opencode.jsonc", "global"),
    ("opencode", "opencode.jsonc", "project"),
    ("opencode", "opencode_v2.jsonc", "global"),
]


@pytest.mark.parametrize(
    ("client_id", "sample", "scope"), CASES, ids=[f"{c}-{s}-{sc}" for c, s, sc in CASES]
)
def test_connect_adds_only_our_entry_and_disconnect_restores_the_file_byte_for_byte(
    env: Env, client_id: str, sample: str, scope: Scope
) -> None:
    path = env.place(client_id, sample, scope)
    original = path.read_bytes()
    before = data_of(client_id, path)

    change = env.service.connect(client_id, "dev", scope=scope)

    assert (change.action, change.scope, change.path) == ("connected", scope, path)
    assert change.backup is not None
    assert change.backup.read_bytes() == original
    assert without_ours(client_id, data_of(client_id, path)) == before
    raw = our_entry(client_id, path)
    client = get_client(client_id)
    style = client.style
    if sample == "opencode_v2.jsonc":
        style = "opencode2"
    server = decode(style, "mcpkit", raw)
    assert server is not None
    assert entry_profile(server) == "dev"
    assert server.env == {"MCPKIT_HOME": env.environ["MCPKIT_HOME"]}

    statuses = {(s.client.id, s.scope): s for s in env.service.status([client_id])}
    assert statuses[client_id, scope].connected
    assert statuses[client_id, scope].profile == "dev"
    _, servers, _ = env.service.servers(client_id, scope=scope)
    assert "mcpkit" not in {s.name for s in servers}

    changes = env.service.disconnect(client_id, scope=scope)
    assert [c.action for c in changes] == ["disconnected"]
    assert path.read_bytes() == original


def test_a_missing_file_is_created_with_its_folders_and_mode_0600(env: Env) -> None:
    path = env.path("cursor")
    assert not path.parent.exists()
    change = env.service.connect("cursor", "default")
    assert change.action == "connected"
    assert change.backup is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert data_of("cursor", path)["mcpServers"]["mcpkit"]["args"][-2:] == [
        "--profile",
        "default",
    ]


@pytest.mark.parametrize("client_id", ["codex", "continue", "goose", "zed", "opencode"])
def test_connecting_a_client_with_no_file_yet_writes_a_file_it_can_read(
    env: Env, client_id: str
) -> None:
    change = env.service.connect(client_id, "dev")
    assert change.action == "connected"
    server = decode(get_client(client_id).style, "mcpkit", our_entry(client_id, change.path))
    assert server is not None
    assert entry_profile(server) == "dev"
    if client_id == "continue":
        data = data_of("continue", change.path)
        assert (data["name"], data["schema"]) == ("mcpkit", "v1")


def test_connecting_twice_writes_nothing(env: Env) -> None:
    path = env.place("claude-desktop", "claude_desktop_config.json")
    env.service.connect("claude-desktop", "dev")
    written, mtime = path.read_bytes(), path.stat().st_mtime_ns
    backups = sorted(env.backups.iterdir())

    again = env.service.connect("claude-desktop", "dev")

    assert again.action == "unchanged"
    assert again.backup is None
    assert path.read_bytes() == written
    assert path.stat().st_mtime_ns == mtime
    assert sorted(env.backups.iterdir()) == backups


def test_connecting_with_another_profile_switches_only_our_entry(env: Env) -> None:
    path = env.place("vscode", "vscode_mcp.json")
    original = path.read_bytes()
    env.service.connect("vscode", "dev")

    change = env.service.connect("vscode", "work")

    assert change.action == "switched"
    assert change.previous_profile == "dev"
    assert our_entry("vscode", path)["args"][-1] == "work"
    text = path.read_text()
    assert "// 💡 Inputs are prompted" in text
    assert "/* GitHub's remote server */" in text
    env.service.disconnect("vscode")
    assert path.read_bytes() == original


def test_an_entry_named_mcpkit_that_is_not_ours_is_a_conflict_and_stays(env: Env) -> None:
    path = env.path("cursor")
    path.parent.mkdir(parents=True)
    path.write_text('{"mcpServers": {"mcpkit": {"command": "npx", "args": ["mcpkit-other"]}}}\n')
    original, mtime = path.read_bytes(), path.stat().st_mtime_ns

    with pytest.raises(ConflictError) as info:
        env.service.connect("cursor", "dev")

    assert "does not run the mcpkit gateway" in info.value.message
    assert info.value.hint is not None
    assert "rename or remove" in info.value.hint
    assert info.value.exit_code == 5
    assert path.read_bytes() == original
    assert path.stat().st_mtime_ns == mtime
    # Disconnect leaves someone else's 'mcpkit' alone too.
    assert [c.action for c in env.service.disconnect("cursor", scope="global")] == ["absent"]
    assert path.read_bytes() == original


@pytest.mark.parametrize(
    ("client_id", "text"),
    [
        ("claude-desktop", '{\n  "mcpServers": {\n    "a": {"command": "x"},\n  }\n}\n'),
        ("cursor", '{\n  // comments are not JSON\n  "mcpServers": {}\n}\n'),
        ("vscode", '{\n  "servers": {\n    "a": {"command": "x"\n  }\n}\n'),
        ("codex", '[mcp_servers.a]\ncommand = "x"\ncommand = "y"\n'),
        ("goose", "extensions:\n  a: [unclosed\n"),
        ("continue", "mcpServers:\n  - name: a\n   command: x\n"),
    ],
)
def test_an_unparseable_file_is_refused_and_left_untouched(
    env: Env, client_id: str, text: str
) -> None:
    path = env.path(client_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    original, mtime = path.read_bytes(), path.stat().st_mtime_ns

    with pytest.raises(ClientConfigError) as info:
        env.service.connect(client_id, "dev")
    assert str(path) in info.value.message
    assert info.value.hint is not None
    with pytest.raises(ClientConfigError):
        env.service.disconnect(client_id, scope="global")
    with pytest.raises(ClientConfigError):
        env.service.servers(client_id)

    assert path.read_bytes() == original
    assert path.stat().st_mtime_ns == mtime
    assert not env.backups.exists()
    (status,) = [s for s in env.service.status([client_id]) if s.scope == "global"]
    assert status.error is not None
    assert status.exists
    assert not status.connected


@pytest.mark.parametrize(
    ("client_id", "text", "words"),
    [
        ("cursor", '{"mcpServers": []}\n', "mcpServers is a list"),
        ("vscode", '{"servers": "none"}\n', "servers is a string"),
        ("continue", "mcpServers:\n  sqlite:\n    command: npx\n", "mcpServers is a mapping"),
        ("codex", 'mcp_servers = ["a"]\n', "mcp_servers is a list"),
    ],
)
def test_a_servers_container_of_the_wrong_kind_is_a_clear_error(
    env: Env, client_id: str, text: str, words: str
) -> None:
    path = env.path(client_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    original = path.read_bytes()
    with pytest.raises(ClientConfigError) as info:
        env.service.connect(client_id, "dev")
    assert words in info.value.message
    assert "left as it was" in info.value.message
    assert path.read_bytes() == original


def test_a_large_claude_code_state_file_keeps_all_its_state(env: Env) -> None:
    path = env.place("claude-code", "claude_code_user.json")
    import json

    state = json.loads(path.read_text())
    for i in range(400):
        state["projects"][f"/home/alex/src/p{i}"] = {
            "allowedTools": ["Bash(npm test)"],
            "history": [
                {"display": f"task {j} of project {i}", "pastedContents": {}} for j in range(5)
            ],
            "hasTrustDialogAccepted": bool(i % 2),
        }
    path.write_text(json.dumps(state, indent=2))
    original = path.read_bytes()
    assert len(original) > 200_000

    env.service.connect("claude-code", "dev", scope="global")

    after = data_of("claude-code", path)
    assert without_ours("claude-code", after) == state
    # The project-local mcpServers deep inside is not where the user-scope entry goes.
    assert "mcpkit" not in after["projects"]["/home/alex/src/webapp"]["mcpServers"]
    env.service.disconnect("claude-code", scope="global")
    assert path.read_bytes() == original


def test_the_files_mode_is_kept(env: Env) -> None:
    path = env.place("goose", "goose_config.yaml")
    path.chmod(0o640)
    env.service.connect("goose", "dev")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_the_files_owner_is_kept_when_root_edits_a_users_file(env: Env) -> None:
    path = env.place("cursor", "cursor_mcp.json")
    os.chown(path, 4321, 4321)
    env.service.connect("cursor", "dev")
    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4321)


def test_backups_are_private_and_only_the_newest_five_are_kept(env: Env) -> None:
    env.place("cursor", "cursor_mcp.json")
    made = []
    for i in range(KEEP_BACKUPS + 3):
        change = env.service.connect("cursor", f"p{i}")
        if change.backup is not None:
            made.append(change.backup)
    kept = sorted(env.backups.iterdir())
    assert len(made) == KEEP_BACKUPS + 3
    assert kept == sorted(made[-KEEP_BACKUPS:])
    assert all(p.name.startswith("cursor-global-") and p.suffix == ".json" for p in kept)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)
    assert stat.S_IMODE(env.backups.stat().st_mode) == 0o700


def test_a_symlinked_config_is_edited_where_it_points_and_stays_a_link(env: Env) -> None:
    dotfiles = env.tmp / "dotfiles" / "cursor.json"
    dotfiles.parent.mkdir()
    shutil.copyfile(SAMPLES / "cursor_mcp.json", dotfiles)
    link = env.path("cursor")
    link.parent.mkdir(parents=True)
    link.symlink_to(dotfiles)

    change = env.service.connect("cursor", "dev")

    assert link.is_symlink()
    assert change.path == link
    assert change.target == dotfiles
    assert "mcpkit" in data_of("cursor", dotfiles)["mcpServers"]


def test_a_dangling_symlink_is_refused(env: Env) -> None:
    link = env.path("cursor")
    link.parent.mkdir(parents=True)
    link.symlink_to(env.tmp / "gone.json")
    with pytest.raises(ClientConfigError) as info:
        env.service.connect("cursor", "dev")
    assert "does not exist" in info.value.message
    assert link.is_symlink()
    assert not (env.tmp / "gone.json").exists()


def test_without_a_scope_the_projects_config_wins_when_it_exists(env: Env) -> None:
    assert env.service.connect("cursor", "dev").scope == "global"
    env.place("cursor", "cursor_mcp.json", "project")
    assert env.service.connect("cursor", "dev").scope == "project"


def test_disconnect_without_a_scope_removes_our_entry_from_every_scope(env: Env) -> None:
    project_file = env.place("vscode", "vscode_mcp.json", "project")
    original = project_file.read_bytes()
    env.service.connect("vscode", "dev", scope="global")
    env.service.connect("vscode", "dev", scope="project")

    changes = env.service.disconnect("vscode")

    assert [(c.scope, c.action) for c in changes] == [
        ("global", "disconnected"),
        ("project", "disconnected"),
    ]
    assert project_file.read_bytes() == original
    assert "mcpkit" not in data_of("vscode", env.path("vscode"))["servers"]
    again = env.service.disconnect("vscode")
    assert [c.action for c in again] == ["absent", "absent"]


def test_disconnect_of_a_client_never_connected_is_absent_and_creates_nothing(env: Env) -> None:
    changes = env.service.disconnect("windsurf")
    assert [(c.scope, c.action, c.backup) for c in changes] == [("global", "absent", None)]
    assert not env.path("windsurf").exists()


def test_a_global_only_client_has_no_project_scope(env: Env) -> None:
    with pytest.raises(UsageError) as info:
        env.service.connect("claude-desktop", "dev", scope="project")
    assert "--global" in (info.value.hint or "")


def test_continue_project_scope_is_a_block_file_of_our_own(env: Env) -> None:
    blocks = env.project / ".continue" / "mcpServers"
    blocks.mkdir(parents=True)
    shutil.copyfile(SAMPLES / "continue_block.yaml", blocks / "playwright.yaml")
    other = (blocks / "playwright.yaml").read_bytes()

    change = env.service.connect("continue", "dev")

    assert change.scope == "project"
    assert change.path == blocks / "mcpkit.yaml"
    data = data_of("continue", change.path)
    assert data["mcpServers"][0]["name"] == "mcpkit"
    assert data["version"]
    (changed,) = env.service.disconnect("continue", scope="project")
    assert changed.action == "disconnected"
    assert not change.path.exists()
    assert changed.backup is not None
    assert (blocks / "playwright.yaml").read_bytes() == other


def test_an_opencode_v2_file_gets_an_entry_without_the_v1_enabled_key(env: Env) -> None:
    path = env.place("opencode", "opencode_v2.jsonc")
    env.service.connect("opencode", "dev")
    data = data_of("opencode", path)
    assert "mcpkit" not in data["mcp"]
    entry = data["mcp"]["servers"]["mcpkit"]
    assert entry["type"] == "local"
    assert "enabled" not in entry


def test_status_lists_installed_clients_and_the_projects_own_configs(env: Env) -> None:
    env.place("cursor", "cursor_mcp.json")
    (env.home / ".config" / "zed").mkdir(parents=True)
    (env.project / ".vscode").mkdir()
    env.service.connect("cursor", "dev")

    rows = {(s.client.id, s.scope): s for s in env.service.status()}

    assert rows["cursor", "global"].connected
    assert rows["cursor", "global"].profile == "dev"
    assert rows["zed", "global"].installed  # its config folder exists
    assert not rows["zed", "global"].exists
    assert not rows["windsurf", "global"].installed
    # claude-code's file sits in HOME itself: HOME existing is no sign it is installed.
    assert not rows["claude-code", "global"].installed
    assert ("vscode", "project") in rows
    assert not rows["vscode", "project"].exists
    assert ("cursor", "project") not in rows
    assert {c for c, _ in rows} == {c for c, s in rows if s == "global"}
    assert len([k for k in rows if k[1] == "global"]) == 14


def test_status_sees_an_executable_on_path_as_installed(env: Env) -> None:
    codex = Path(env.environ["PATH"]) / "codex"
    codex.write_text("#!/bin/sh\n")
    codex.chmod(0o755)
    (status,) = env.service.status(["codex"])
    assert status.installed
    assert not status.exists


def test_servers_reads_what_the_client_configures_and_warns_about_the_rest(env: Env) -> None:
    env.place("goose", "goose_config.yaml")
    env.service.connect("goose", "dev")

    path, servers, warnings = env.service.servers("goose")

    assert path == env.path("goose")
    by_name = {s.name: s for s in servers}
    assert set(by_name) == {"filesystem", "remote-tools"}
    assert by_name["filesystem"].command == "npx"
    assert by_name["remote-tools"].url == "https://example.com/mcp"
    assert by_name["remote-tools"].disabled
    assert warnings == ["developer: not a server entry mcpkit can read (type builtin); skipped"]


def test_servers_of_a_client_with_no_file_is_empty(env: Env) -> None:
    path, servers, warnings = env.service.servers("lmstudio")
    assert (path, servers, warnings) == (env.path("lmstudio"), [], [])


@pytest.mark.parametrize(
    ("client_id", "sample", "names"),
    [
        ("claude-desktop", "claude_desktop_config.json", {"filesystem", "github"}),
        ("cline", "cline_mcp_settings.json", {"brave-search", "remote-server", "old-sse"}),
        ("codex", "codex_config.toml", {"context-engine", "figma", "docs"}),
        ("continue", "continue_config.yaml", {"SQLite", "Docs"}),
        ("gemini", "gemini_settings.json", {"git", "github", "legacy-sse"}),
        ("windsurf", "windsurf_mcp_config.json", {"github", "zapier", "figma"}),
        ("zed", "zed_settings.json", {"mcp-local-server", "filesystem", "remote-docs"}),
        ("opencode", "opencode.jsonc", {"mcp_everything", "my-local-mcp-server", "jira"}),
    ],
)
def test_every_sample_clients_servers_are_read(
    env: Env, client_id: str, sample: str, names: set[str]
) -> None:
    env.place(client_id, sample)
    _, servers, _ = env.service.servers(client_id, scope="global")
    assert {s.name for s in servers} == names


def test_a_byte_order_mark_and_windows_newlines_are_kept(env: Env) -> None:
    path = env.path("vscode")
    path.parent.mkdir(parents=True)
    original = (
        '\ufeff{\r\n  "servers": {\r\n    "a": {"type": "stdio", "command": "x"}\r\n  }\r\n}\r\n'
    )
    path.write_bytes(original.encode())
    env.service.connect("vscode", "dev")
    written = path.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf{\r\n")
    assert b"\n" not in written.replace(b"\r\n", b"")
    env.service.disconnect("vscode")
    assert path.read_bytes() == original.encode()


def test_a_file_that_is_not_utf8_is_refused_untouched(env: Env) -> None:
    path = env.path("cursor")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"mcpServers": {"caf\xe9": {"command": "x"}}}')
    with pytest.raises(ClientConfigError) as info:
        env.service.connect("cursor", "dev")
    assert "not UTF-8" in info.value.message
    assert path.read_bytes() == b'{"mcpServers": {"caf\xe9": {"command": "x"}}}'
