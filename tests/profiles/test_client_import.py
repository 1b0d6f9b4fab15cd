"""``profile import --from-client``: client servers become a profile, secrets move out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import anyio
import pytest

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, RemoteSource, ServerSpec
from mcpkit.clients.entries import ClientServer, gateway_entry
from mcpkit.errors import ConflictError, InvalidInputError, SecretStoreError, UsageError
from mcpkit.gateway.build import RunOptions, build_gateway
from mcpkit.gateway.local import local_client
from mcpkit.profiles.artifact import profile_layers
from mcpkit.profiles.client_import import ImportResult, import_from_client, server_ids
from mcpkit.profiles.io import to_document
from mcpkit.profiles.secret_detect import credential_name, references, secret_part
from mcpkit.runtime.plan import build_plan

# Token-shaped values (the providers' published formats), made up for the tests.
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
BEARER = "sk-ant-" + "x" * 48
SYSTEM_PYTHON = "/usr/bin/python3"

# A stdlib-only MCP server (handshake era, JSON lines) that reports what it was started
# with: its argv, one plain env var, and a hash of the token env var (the token itself
# would be blocked by the gateway's leak detection, rightly).
PROBE_SERVER = r"""
import hashlib, json, os, sys

def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()

TOOL = {"name": "report", "description": "How this process was started.",
        "inputSchema": {"type": "object", "properties": {}}}
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method, rid = msg.get("method"), msg["id"]
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}}, "serverInfo": {"name": "probe", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [TOOL]}})
    elif method == "tools/call":
        report = {
            "argv": sys.argv[1:],
            "plain": os.environ.get("PLAIN_SETTING"),
            "token_sha256": hashlib.sha256(os.environ.get("GITHUB_TOKEN", "").encode()).hexdigest(),
        }
        send({"jsonrpc": "2.0", "id": rid,
              "result": {"content": [{"type": "text", "text": json.dumps(report)}]}})
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no"}})
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def github_server(name: str = "github") -> ClientServer:
    return ClientServer(
        name=name,
        command="npx",
        args=("-y", "@modelcontextprotocol/server-github"),
        env={"GITHUB_TOKEN": GITHUB_TOKEN, "LOG_LEVEL": "debug"},
    )


def remote_server() -> ClientServer:
    return ClientServer(
        name="Docs",
        url="https://mcp.example.com/mcp",
        transport="streamable-http",
        headers={"Authorization": f"Bearer {BEARER}", "X-Org": "acme", "Accept": "text/plain"},
    )


def spec_of(app: App, profile: str, server: str) -> ServerSpec:
    entry = app.profiles.get(profile).server(server)
    assert entry is not None and entry.spec is not None
    return entry.spec


def dump(app: App, profile: str) -> str:
    """Everything the profile holds, as ``profile export`` would see it."""
    stored = app.profiles.get(profile)
    return json.dumps(stored.model_dump(mode="json")) + json.dumps(
        to_document(stored, {s.id: s.spec for s in stored.servers if s.spec})
    )


def all_secret_names(app: App) -> list[tuple[str, str]]:
    return [(s.name, s.scope) for s in app.secrets.list_secrets()]


# -- conversion ---------------------------------------------------------------------------


def test_a_command_servers_token_moves_to_the_secret_store_and_plain_env_stays(
    app: App,
) -> None:
    result = import_from_client(
        app,
        [github_server()],
        profile="mine",
        client_id="claude-desktop",
        source=Path("/home/u/.config/Claude/claude_desktop_config.json"),
    )

    assert result.servers == ["github"]
    assert result.secrets == ["github.github_token"]
    spec = spec_of(app, "mine", "github")
    assert spec.source == CommandSource(command="npx")
    assert spec.args == ["-y", "@modelcontextprotocol/server-github"]
    assert spec.env == {"LOG_LEVEL": "debug"}
    assert [(s.name, s.env) for s in spec.secrets] == [("github.github_token", "GITHUB_TOKEN")]
    assert spec.publisher.tier == "local"
    assert spec.title == "github"
    assert spec.description == (
        "imported from Claude Desktop (/home/u/.config/Claude/claude_desktop_config.json)"
    )
    assert spec.network.mode == "any"
    assert any("network access allowed" in note for note in result.notes)
    # Scoped to the imported profile, and the original value comes back.
    assert app.secrets.resolve("github.github_token", profile="mine") == GITHUB_TOKEN
    assert app.secrets.resolve("github.github_token") is None
    assert GITHUB_TOKEN not in dump(app, "mine")
    assert GITHUB_TOKEN not in repr(result)
    # What is left passes the checks of 'profile push' (it refuses secret values).
    stored = app.profiles.get("mine")
    profile_layers(to_document(stored, {"github": spec}))


def test_a_remote_servers_bearer_token_is_stored_without_its_scheme(app: App) -> None:
    result = import_from_client(app, [remote_server()], profile="docs", client_id="cursor")

    spec = spec_of(app, "docs", "docs")
    assert isinstance(spec.source, RemoteSource)
    assert spec.source.url == "https://mcp.example.com/mcp"
    assert spec.source.transport == "streamable-http"
    assert spec.source.headers == {
        "Authorization": "Bearer {{secret:docs.authorization}}",
        "X-Org": "acme",
    }
    assert [(s.name, s.env, s.file) for s in spec.secrets] == [("docs.authorization", None, None)]
    assert app.secrets.resolve("docs.authorization", profile="docs") == BEARER
    assert any("'Accept' dropped" in note for note in result.notes)
    assert BEARER not in dump(app, "docs")
    # The gateway renders the header back to what the client sent.
    plan = build_plan(
        "docs",
        app.profiles.get("docs").servers[0],
        spec,
        lambda name: app.secrets.resolve(name, profile="docs"),
    )
    assert plan.headers == {"Authorization": f"Bearer {BEARER}", "X-Org": "acme"}


def test_references_the_client_fills_in_become_declared_secrets_with_no_value(
    app: App,
) -> None:
    server = ClientServer(
        name="gh",
        command="docker",
        args=("run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/mcp"),
        env={
            "GITHUB_PERSONAL_ACCESS_TOKEN": "${input:github_token}",
            "GH_HOST": "${GH_HOST:-github.com}",
            "EXTRA": "prefix-${env:GITHUB_TOKEN}",
            "PATH": "${env:PATH}",
        },
    )
    result = import_from_client(app, [server], profile="vs", client_id="vscode")

    assert result.secrets == []
    assert result.needed == ["gh.github_token", "gh.gh_host", "gh.github_token-2"]
    assert result.instructions()[0] == "mcpkit secret set gh.github_token --profile vs"
    spec = spec_of(app, "vs", "gh")
    refs = {s.name: (s.env, s.required) for s in spec.secrets}
    assert refs == {
        "gh.github_token": ("GITHUB_PERSONAL_ACCESS_TOKEN", True),
        "gh.gh_host": ("GH_HOST", False),
        "gh.github_token-2": (None, True),
    }
    # ${X:-default}: the default is the env value, a set secret overrides it.
    assert spec.env == {"GH_HOST": "github.com", "EXTRA": "prefix-{{secret:gh.github_token-2}}"}
    assert "${" not in dump(app, "vs")
    assert any("${input:github_token}" in note for note in result.notes)
    assert any("env PATH dropped" in note for note in result.notes)
    assert all_secret_names(app) == []


def test_client_names_are_sanitised_and_made_unique(app: App) -> None:
    assert server_ids(["My Server!", "my server", "GitHub.Tools", "a..-b", "???"]) == [
        "my-server",
        "my-server-2",
        "github.tools",
        "a.b",
        "server",
    ]
    servers = [
        ClientServer(name="My Server!", command="srv"),
        ClientServer(name="my server", command="srv", env={"API_KEY": "k-123456"}),
    ]
    result = import_from_client(app, servers, profile="names", client_id="cursor")
    assert result.servers == ["my-server", "my-server-2"]
    assert result.secrets == ["my-server-2.api_key"]
    assert [s.spec.title for s in app.profiles.get("names").servers if s.spec] == [
        "My Server!",
        "my server",
    ]
    assert any("imported as 'my-server-2'" in note for note in result.notes)


def test_our_own_entry_is_skipped_and_disabled_servers_are_imported_with_a_note(
    app: App, environ: dict[str, str]
) -> None:
    ours = gateway_entry("dev", environ)
    off = ClientServer(name="time", command="uvx", args=("mcp-server-time",), disabled=True)
    result = import_from_client(app, [ours, off], profile="dev", client_id="claude-code")
    assert result.servers == ["time"]
    assert result.skipped == ["mcpkit: mcpkit's own gateway entry (profile 'dev')"]
    assert any("disabled in Claude Code" in note for note in result.notes)


def test_a_client_with_only_our_entry_is_refused_and_nothing_is_created(
    app: App, environ: dict[str, str]
) -> None:
    with pytest.raises(InvalidInputError) as info:
        import_from_client(app, [gateway_entry("dev", environ)], profile="dev", client_id="cursor")
    assert "no server to import" in info.value.message
    assert not app.profiles.exists("dev")


def test_text_our_templates_would_expand_reaches_the_server_unchanged(app: App) -> None:
    servers = [
        ClientServer(
            name="fmt",
            command="tool",
            args=("--format", "{{.Name}}", "--x={{secret:fmt.t}}"),
            env={"T": "a {{ x }}!"},
        ),
        ClientServer(name="web", url="https://h.example/{{region}}/mcp", headers={"X": "{{y}}"}),
    ]
    import_from_client(app, servers, profile="fmt", client_id="cursor")
    fmt, web = app.profiles.get("fmt").servers
    assert fmt.spec is not None and web.spec is not None
    plan = build_plan("fmt", fmt, fmt.spec, lambda _name: None)
    assert plan.args == ("--format", "{{.Name}}", "--x={{secret:fmt.t}}")
    assert plan.env == {"T": "a {{ x }}!"}
    plan = build_plan("fmt", web, web.spec, lambda _name: None)
    assert plan.url == "https://h.example/{{region}}/mcp"
    assert plan.headers == {"X": "{{y}}"}


def test_a_header_reference_keeps_its_scheme_and_becomes_a_declared_secret(app: App) -> None:
    server = ClientServer(
        name="api", url="https://h.example/mcp", headers={"Authorization": "Bearer ${input:pat}"}
    )
    result = import_from_client(app, [server], profile="ref", client_id="vscode")
    assert result.needed == ["api.pat"]
    spec = spec_of(app, "ref", "api")
    assert isinstance(spec.source, RemoteSource)
    assert spec.source.headers == {"Authorization": "Bearer {{secret:api.pat}}"}
    app.secrets.set("api.pat", "value-the-user-sets", profile="ref")
    entry = app.profiles.get("ref").servers[0]
    plan = build_plan("ref", entry, spec, lambda n: app.secrets.resolve(n, profile="ref"))
    assert plan.headers == {"Authorization": "Bearer value-the-user-sets"}


def test_vscode_predefined_variables_are_resolved_or_refused(app: App, tmp_path: Path) -> None:
    server = ClientServer(name="fs", command="srv", args=("${workspaceFolder}", "${userHome}/x"))
    import_from_client(app, [server], profile="fs", client_id="vscode", project=tmp_path)
    assert spec_of(app, "fs", "fs").args == [str(tmp_path), f"{app.environ['HOME']}/x"]

    with pytest.raises(InvalidInputError) as info:
        import_from_client(app, [server], profile="fs2", client_id="vscode")
    assert "${workspaceFolder}" in info.value.message
    assert info.value.hint and "--project" in info.value.hint
    assert not app.profiles.exists("fs2")


def test_a_url_with_a_password_in_an_env_value_is_a_secret(app: App) -> None:
    server = ClientServer(name="db", command="pg", env={"DATABASE_URL": "postgres://u:pw@h/db"})
    result = import_from_client(app, [server], profile="db", client_id="cursor")
    assert result.secrets == ["db.database_url"]
    assert "pw@" not in dump(app, "db")


# -- refusals: nothing written, no value in the error ------------------------------------


@pytest.mark.parametrize(
    ("server", "words"),
    [
        (
            ClientServer(name="a", command="srv", args=("--token", GITHUB_TOKEN)),
            "argument 2 holds what looks like a token",
        ),
        (
            ClientServer(name="a", command="srv", args=("--api-key=s3cr3t-value",)),
            "argument 1 holds a value for 'api-key'",
        ),
        (
            ClientServer(name="a", command="srv", args=("--password", "hunter22")),
            "the value of --password",
        ),
        (
            ClientServer(name="a", command="srv", args=("--key", "${input:key}")),
            "uses ${input:key}",
        ),
        (
            ClientServer(name="a", url="https://h.example/mcp?api_key=s3cr3t-value"),
            "query parameter 'api_key'",
        ),
        (
            ClientServer(name="a", url="https://h.example/mcp", headers={"Cookie": "s=abc"}),
            "header 'Cookie'",
        ),
        (ClientServer(name="a"), "neither a command nor a url"),
        (
            ClientServer(name="a", command="srv", env={"BAD-NAME": "x"}),
            "is not a valid environment variable name",
        ),
    ],
)
def test_a_server_that_cannot_be_carried_safely_is_refused_and_nothing_is_written(
    app: App, server: ClientServer, words: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        import_from_client(app, [github_server(), server], profile="bad", client_id="cursor")
    assert info.value.code == "client-import"
    assert words in info.value.message
    assert "server 'a' of Cursor" in info.value.message
    for value in ("s3cr3t-value", "hunter22", GITHUB_TOKEN, "s=abc"):
        assert value not in info.value.message
        assert value not in (info.value.hint or "")
    assert not app.profiles.exists("bad")
    assert all_secret_names(app) == []


def test_an_invalid_profile_name_is_a_usage_error(app: App) -> None:
    with pytest.raises(UsageError) as info:
        import_from_client(app, [github_server()], profile="Bad Name", client_id="cursor")
    assert info.value.hint and "--name" in info.value.hint


def test_an_existing_profile_is_a_conflict_until_replace_is_given(app: App) -> None:
    app.profiles.create("work", servers=["time"])
    with pytest.raises(ConflictError) as info:
        import_from_client(app, [github_server()], profile="work", client_id="cursor")
    assert info.value.hint and "--replace" in info.value.hint and "--name" in info.value.hint
    assert [s.id for s in app.profiles.get("work").servers] == ["time"]
    assert all_secret_names(app) == []

    result = import_from_client(
        app, [github_server()], profile="work", client_id="cursor", replace=True
    )
    assert result.replaced
    assert [s.id for s in app.profiles.get("work").servers] == ["github"]
    assert app.secrets.resolve("github.github_token", profile="work") == GITHUB_TOKEN


# -- all or nothing when the secret store fails -------------------------------------------

# A real external secret provider (the ``command`` store) that keeps values in files and
# fails the N-th ``set`` when the file FAIL holds N: the store fails half-way through.
PROVIDER = r"""
import pathlib, sys
root = pathlib.Path(sys.argv[1])
action, key = sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
path = root / "values" / key.replace("/", "%")
if action == "get":
    if not path.exists():
        sys.exit(1)
    sys.stdout.write(path.read_text())
elif action == "set":
    counter = root / "sets"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    fail = root / "FAIL"
    if fail.exists() and int(fail.read_text()) == count:
        sys.stderr.write("provider is full\n")
        sys.exit(2)
    path.write_text(sys.stdin.read())
elif action == "delete":
    path.unlink()
elif action == "list":
    for item in (root / "values").iterdir():
        print(item.name.replace("%", "/"))
"""


@pytest.fixture
def provider(app: App, tmp_path: Path) -> Path:
    """Configure the app's secret store as the provider above; returns its folder."""
    root = tmp_path / "provider"
    (root / "values").mkdir(parents=True)
    script = root / "provider.py"
    script.write_text(PROVIDER)
    base = [SYSTEM_PYTHON, str(script), str(root)]
    lines = ["[secrets]", 'store = "command"']
    for action in ("get", "set", "delete", "list"):
        argv = [*base, action] + ([] if action == "list" else ["{name}"])
        lines.append(f"{action}_command = {json.dumps(argv)}")
    app.locations.config_file.parent.mkdir(parents=True, exist_ok=True)
    app.locations.config_file.write_text("\n".join(lines) + "\n")
    return root


def two_secret_server() -> ClientServer:
    return ClientServer(
        name="two", command="srv", env={"GITHUB_TOKEN": GITHUB_TOKEN, "API_KEY": "k-123456"}
    )


def test_a_secret_store_failure_half_way_leaves_no_profile_and_no_secret(
    app: App, provider: Path
) -> None:
    (provider / "FAIL").write_text("2")
    with pytest.raises(SecretStoreError) as info:
        import_from_client(app, [two_secret_server()], profile="half", client_id="cursor")
    assert GITHUB_TOKEN not in info.value.message
    assert not app.profiles.exists("half")
    assert list((provider / "values").iterdir()) == []
    assert all_secret_names(app) == []


def test_a_failed_replace_restores_the_old_profile_and_its_secret_values(
    app: App, provider: Path
) -> None:
    import_from_client(
        app,
        [ClientServer(name="two", command="old", env={"GITHUB_TOKEN": "ghp_old-value-1"})],
        profile="keep",
        client_id="cursor",
    )
    # Set 1 was the first import; set 2 overwrites the token, set 3 (the key) fails.
    (provider / "FAIL").write_text("3")
    with pytest.raises(SecretStoreError):
        import_from_client(
            app, [two_secret_server()], profile="keep", client_id="cursor", replace=True
        )
    assert spec_of(app, "keep", "two").source == CommandSource(command="old")
    assert app.secrets.resolve("two.github_token", profile="keep") == "ghp_old-value-1"
    assert app.secrets.resolve("two.api_key", profile="keep") is None


# -- the detector -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GITHUB_PERSONAL_ACCESS_TOKEN", True),
        ("API_KEY", True),
        ("x-api-key", True),
        ("Authorization", True),
        ("DB_PASS", True),
        ("GITHUB_PAT", True),
        ("clientSecret", True),
        ("MYTOKEN", True),
        ("AUTH_URL", False),
        ("SESSION_TIMEOUT", False),
        ("KEYBOARD_LAYOUT", False),
        ("LOG_LEVEL", False),
    ],
)
def test_credential_like_names(name: str, expected: bool) -> None:
    assert credential_name(name) is expected


def test_paths_and_switches_under_credential_names_are_not_secrets() -> None:
    assert secret_part("GOOGLE_APPLICATION_CREDENTIALS", "/home/u/creds.json") is None
    assert secret_part("USE_TOKEN", "true") is None
    assert secret_part("NOTE", f"uses {GITHUB_TOKEN} here") == ("uses ", GITHUB_TOKEN, " here")


def test_each_clients_reference_syntax_is_recognised() -> None:
    found = {
        text: [(r.kind, r.name, r.default) for _, _, r in references(text)]
        for text in (
            "${input:tok}",
            "${env:HOME}",
            "${TOKEN:-x}",
            "$TOKEN",
            "{env:TOKEN}",
            "${{ secrets.TOKEN }}",
            "${workspaceFolder}",
            "pa$$word",
        )
    }
    assert found == {
        "${input:tok}": [("input", "tok", None)],
        "${env:HOME}": [("env", "HOME", None)],
        "${TOKEN:-x}": [("env", "TOKEN", "x")],
        "$TOKEN": [("env", "TOKEN", None)],
        "{env:TOKEN}": [("env", "TOKEN", None)],
        "${{ secrets.TOKEN }}": [("secret", "TOKEN", None)],
        "${workspaceFolder}": [("predefined", "workspaceFolder", None)],
        "pa$$word": [],
    }


# -- end to end: the imported server runs through the gateway ------------------------------


@pytest.mark.anyio
async def test_an_imported_command_server_runs_through_the_gateway_with_its_secret(
    app: App, tmp_path: Path
) -> None:
    folder = tmp_path / "probe"
    folder.mkdir()
    (folder / "probe.py").write_text(PROBE_SERVER)
    server = ClientServer(
        name="Probe",
        command=SYSTEM_PYTHON,
        args=("probe.py", "--format", "{{.Name}}"),
        env={"GITHUB_TOKEN": GITHUB_TOKEN, "PLAIN_SETTING": "plain value"},
        cwd=str(folder),
    )
    result: ImportResult = import_from_client(app, [server], profile="e2e", client_id="cursor")
    assert result.secrets == ["probe.github_token"]

    gateway = build_gateway(app, RunOptions(profile="e2e"))
    with anyio.fail_after(30):
        async with local_client(gateway) as client:
            tools = await client.request("tools/list")
            assert [t["name"] for t in tools["tools"]] == ["report"]
            called = await client.request("tools/call", {"name": "report", "arguments": {}})
    report = json.loads(called["content"][0]["text"])
    assert report == {
        "argv": ["--format", "{{.Name}}"],
        "plain": "plain value",
        "token_sha256": hashlib.sha256(GITHUB_TOKEN.encode()).hexdigest(),
    }
    assert spec_of(app, "e2e", "probe").source == CommandSource(
        command=SYSTEM_PYTHON, cwd=str(folder)
    )
