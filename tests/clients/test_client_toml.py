"""TOML config files (Codex): tables added and removed without disturbing their neighbours."""

from __future__ import annotations

import tomllib

import pytest

from mcpkit.clients.edit import PARSE_HINT, parse
from mcpkit.errors import ClientConfigError

ENTRY = {
    "command": "/opt/mcpkit/bin/mcpkit",
    "args": ["gateway", "run", "--profile", "dev"],
    "env": {"MCPKIT_HOME": "/home/ada/.mcpkit"},
}
OURS = (
    "[mcp_servers.mcpkit]\n"
    'command = "/opt/mcpkit/bin/mcpkit"\n'
    'args = ["gateway", "run", "--profile", "dev"]\n'
    'env = {MCPKIT_HOME = "/home/ada/.mcpkit"}\n'
)

CODEX = """# ~/.codex/config.toml
model = "gpt-5-codex"
model_reasoning_effort = "high"
approval_policy = "on-request"   # ask before running commands

[profiles.fast]
model = "gpt-5-mini"
approval_policy = "never"

[tools]
web_search = true

# Docs for the servers below: https://github.com/openai/codex/blob/main/docs/config.md
[mcp_servers.other]
command = "npx"
args = [
  "-y",   # install without asking
  "@modelcontextprotocol/server-everything",
  "[not a header]",
]
startup_timeout_sec = 20

[mcp_servers.other.env]
LOG_LEVEL = "debug"

# the docs server, over HTTP
[mcp_servers.docs]
url = "https://docs.example.com/mcp"
note = \"\"\"
[mcp_servers.fake]
# not a comment either
\"\"\"
"""


def test_an_unedited_document_dumps_byte_identical() -> None:
    for text in [CODEX, "", "a = 1", "\ufeffa = 1\r\n[t]\r\nb = 2\r\n", "# only a comment\n"]:
        assert parse(text, "toml", origin="config.toml").dump() == text


def test_a_new_server_table_goes_at_the_end_after_a_blank_line() -> None:
    doc = parse(CODEX, "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit"], ENTRY)
    assert doc.dump() == CODEX + "\n" + OURS
    assert doc.get(["mcp_servers", "mcpkit"]) == ENTRY
    assert tomllib.loads(doc.dump())["mcp_servers"]["other"]["env"] == {"LOG_LEVEL": "debug"}


def test_removing_our_table_keeps_the_next_tables_comment_and_the_other_servers() -> None:
    text = CODEX.replace("# the docs server", OURS + "\n# the docs server")
    doc = parse(text, "toml", origin="config.toml")
    assert doc.delete(["mcp_servers", "mcpkit"]) is True
    assert doc.dump() == CODEX
    assert set(doc.get(["mcp_servers"])) == {"other", "docs"}


def test_connect_then_disconnect_gives_back_the_original_bytes() -> None:
    for text in [CODEX, 'model = "o3"\n', 'model = "o3"', "[mcp_servers]\n"]:
        doc = parse(text, "toml", origin="config.toml")
        doc.set(["mcp_servers", "mcpkit"], ENTRY)
        assert doc.delete(["mcp_servers", "mcpkit"])
        assert doc.dump() == text


def test_removing_a_table_removes_its_sub_tables_too() -> None:
    doc = parse(CODEX, "toml", origin="config.toml")
    assert doc.delete(["mcp_servers", "other"])
    out = doc.dump()
    assert "[mcp_servers.other" not in out and "LOG_LEVEL" not in out
    # The comment before the removed table belongs to what precedes it and stays.
    assert "# Docs for the servers below" in out
    assert out.endswith(CODEX[CODEX.index("# the docs server") :])
    assert tomllib.loads(out)["tools"] == {"web_search": True}


def test_the_last_server_removed_takes_its_implied_super_table_with_it() -> None:
    text = 'model = "o3"\n\n' + OURS
    doc = parse(text, "toml", origin="config.toml")
    assert doc.delete(["mcp_servers", "mcpkit"])
    assert doc.dump() == 'model = "o3"\n'
    assert doc.get(["mcp_servers"]) is None


def test_an_explicit_super_table_header_is_kept() -> None:
    text = '[mcp_servers]\n\n[mcp_servers.a]\ncommand = "x"\n'
    doc = parse(text, "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit"], ENTRY)
    assert doc.dump() == text + "\n" + OURS
    assert doc.delete(["mcp_servers", "a"])
    assert doc.dump() == "[mcp_servers]\n\n" + OURS


def test_switching_profile_rewrites_only_the_args_line() -> None:
    doc = parse(CODEX + "\n" + OURS + "# after us\n", "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit"], {**ENTRY, "args": ["gateway", "run", "--profile", "ops"]})
    assert doc.dump() == CODEX + "\n" + OURS.replace('"dev"', '"ops"') + "# after us\n"


def test_setting_equal_data_changes_no_byte() -> None:
    text = CODEX + "\n[mcp_servers.mcpkit]\nargs = [ 'gateway','run','--profile','dev' ]\n"
    text += 'command = "/opt/mcpkit/bin/mcpkit"\n'
    text += '[mcp_servers.mcpkit.env]\nMCPKIT_HOME = "/home/ada/.mcpkit"\n'
    doc = parse(text, "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit"], ENTRY)
    assert doc.dump() == text


def test_a_new_key_goes_after_the_tables_last_key_not_after_its_trailing_comments() -> None:
    text = "[t]\nx = 1 # one\n\n# about u\n[u]\ny = 2\n"
    doc = parse(text, "toml", origin="config.toml")
    doc.set(["t", "env"], {"A": "1"})
    doc.set(["t", "z"], [1, 2])
    assert doc.dump() == '[t]\nx = 1 # one\nenv = {A = "1"}\nz = [1, 2]\n\n# about u\n[u]\ny = 2\n'


def test_keys_inside_a_sub_table_env_are_edited_in_place() -> None:
    text = (
        '[mcp_servers.mcpkit]\ncommand = "c"\n\n[mcp_servers.mcpkit.env]\nA = "1"\n\n[z]\nq = 1\n'
    )
    doc = parse(text, "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit", "env"], {"A": "2", "B": "3"})
    assert doc.dump() == text.replace('A = "1"\n', 'A = "2"\nB = "3"\n')


def test_a_dotted_key_definition_is_edited_through_tomlkit() -> None:
    text = 'mcp_servers.other.command = "x"\n'
    doc = parse(text, "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit"], ENTRY)
    assert tomllib.loads(doc.dump())["mcp_servers"] == {"other": {"command": "x"}, "mcpkit": ENTRY}
    assert doc.delete(["mcp_servers", "mcpkit"])
    assert tomllib.loads(doc.dump()) == {"mcp_servers": {"other": {"command": "x"}}}


def test_crlf_bom_and_a_missing_final_newline_survive_an_edit() -> None:
    text = '\ufeffmodel = "o3"\r\n\r\n[mcp_servers.a]\r\ncommand = "x"'
    doc = parse(text, "toml", origin="config.toml")
    doc.set(["mcp_servers", "mcpkit"], ENTRY)
    assert doc.dump() == text + "\r\n\r\n" + OURS.replace("\n", "\r\n").removesuffix("\r\n")


def test_replacing_a_table_by_a_value_and_back_keeps_the_file_valid() -> None:
    doc = parse(CODEX, "toml", origin="config.toml")
    doc.set(["tools"], "none")
    assert tomllib.loads(doc.dump())["tools"] == "none"
    doc.set(["model"], {"name": "x"})
    assert tomllib.loads(doc.dump())["model"] == {"name": "x"}


def test_null_cannot_be_written_to_toml_and_nothing_changes() -> None:
    doc = parse(CODEX, "toml", origin="config.toml")
    with pytest.raises(ClientConfigError, match="TOML has no null"):
        doc.set(["mcp_servers", "mcpkit", "cwd"], None)
    assert doc.dump() == CODEX


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("a = 1\na = 2\n", 2, 1, "ambiguous"),
        ("[t]\nx = 1\n[t]\ny = 2\n", 4, 1, 'Key "t" already exists'),
        ('[mcp_servers.a]\ncommand = "x"\ncommand = "y"\n', 3, 1, "ambiguous"),
        ("model = \n", 1, 9, "Unexpected character"),
        ('model = "o3"\n[mcp_servers.x\n', 2, 15, "Unexpected character"),
    ],
)
def test_a_file_that_cannot_be_parsed_is_refused_with_where_and_why(
    text: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(ClientConfigError) as caught:
        parse(text, "toml", origin="/home/ada/.codex/config.toml")
    assert "/home/ada/.codex/config.toml" in caught.value.message
    assert f"line {line}, column {column}" in caught.value.message
    assert words in caught.value.message
    assert caught.value.hint == PARSE_HINT


def test_an_edit_through_a_value_that_is_not_a_table_is_refused() -> None:
    doc = parse('mcp_servers = "off"\n', "toml", origin="config.toml")
    with pytest.raises(ClientConfigError, match="mcp_servers is a string, not a mapping"):
        doc.set(["mcp_servers", "mcpkit"], ENTRY)
    assert doc.dump() == 'mcp_servers = "off"\n'
