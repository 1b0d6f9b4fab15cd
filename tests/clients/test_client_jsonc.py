"""JSON and JSONC config files: parse errors, and edits that leave every other byte alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcpkit.clients.edit import PARSE_HINT, ByName, parse
from mcpkit.errors import ClientConfigError

ENTRY = {"command": "/opt/mcpkit/bin/mcpkit", "args": ["gateway", "run", "--profile", "dev"]}

VSCODE = """{
  // 💡 Inputs are prompted on first server start, then stored securely by VS Code.
  "inputs": [
    {
      "type": "promptString",
      "id": "perplexity-key",
      "description": "Perplexity API Key",
      "password": true,
    },
  ],
  "servers": {
    // https://github.com/ppl-ai/modelcontextprotocol/
    "Perplexity": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "server-perplexity-ask"],
      "env": {
        "PERPLEXITY_API_KEY": "${input:perplexity-key}", // the key from inputs
      },
    },
    /* GitHub's remote server */
    "github": { "type": "http", "url": "https://api.githubcopilot.com/mcp/" },
  },
}
"""

ZED = """// Zed settings
//
// For information on how to configure Zed, see the Zed
// documentation: https://zed.dev/docs/configuring-zed
{
  "theme": {
    "mode": "system",
    "light": "One Light",
    "dark": "One Dark"
  },
  "ui_font_size": 16,
  "buffer_font_size": 15.0,
  "vim_mode": true, // modal editing
  "languages": {
    "Python": {
      "format_on_save": "on",
      "tab_size": 4,
    },
  },
  "assistant": {"version": "2", "default_model": {"provider": "zed.dev", "model": "claude"}},
  /* "experimental.theme_overrides": {}, */
}
"""

CLAUDE = json.dumps(
    {
        "numStartups": 184,
        "installMethod": "npm-global",
        "autoUpdates": True,
        "tipsHistory": {"memory-command": 12, "theme-command": 3},
        "userID": "5f2b0c0d8f1e4f6e9b8f0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f",
        "firstStartTime": "2025-03-01T10:11:12.000Z",
        "projects": {
            "/home/ada/src/app": {
                "allowedTools": [],
                "history": [{"display": "fix the tests", "pastedContents": {}}],
                "mcpContextUris": [],
                "mcpServers": {"sqlite": {"type": "stdio", "command": "uvx", "args": []}},
                "enabledMcpjsonServers": [],
                "disabledMcpjsonServers": [],
                "hasTrustDialogAccepted": True,
                "lastCost": 0.4213,
                "lastDuration": 512233,
            }
        },
        "mcpServers": {
            "filesystem": {
                "type": "stdio",
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/ada"],
                "env": {},
            }
        },
        "oauthAccount": {"emailAddress": "ada@example.com", "organizationRole": "admin"},
    },
    indent=2,
)

OPENCODE = """{
  "$schema": "https://opencode.ai/config.json",
  "theme": "opencode",
  "mcp": {
    // local servers run as a command array
    "everything": {
      "type": "local",
      "command": ["npx", "-y", "@modelcontextprotocol/server-everything"],
      "enabled": true,
      "environment": {"DEBUG": "1"}
    }
  }
}"""


def edited(text: str, dialect: Any, path: list[Any], value: Any) -> str:
    doc = parse(text, dialect, origin="f.json")
    doc.set(path, value)
    return doc.dump()


@pytest.mark.parametrize(
    "text",
    [
        VSCODE,
        ZED,
        CLAUDE,
        OPENCODE,
        "",
        "  \n",
        "// nothing yet\n",
        '\ufeff{\r\n\t"a": 1\r\n}',
        '{"a": [1, 2.50, -0e+3, "\\u00e9"], "b": null}',
    ],
)
def test_an_unedited_document_dumps_byte_identical(text: str) -> None:
    assert parse(text, "jsonc", origin="f.json").dump() == text


def test_a_new_vscode_server_takes_its_siblings_indent_and_trailing_comma() -> None:
    entry = {"type": "stdio", **ENTRY}
    out = edited(VSCODE, "jsonc", ["servers", "mcpkit"], entry)
    anchor = '"url": "https://api.githubcopilot.com/mcp/" },\n'
    added = (
        '    "mcpkit": {\n'
        '      "type": "stdio",\n'
        '      "command": "/opt/mcpkit/bin/mcpkit",\n'
        '      "args": [\n        "gateway",\n        "run",\n        "--profile",\n        "dev"\n'
        "      ]\n"
        "    },\n"
    )
    assert out == VSCODE.replace(anchor, anchor + added)


def test_connect_then_disconnect_gives_back_the_original_bytes() -> None:
    for text, path in [
        (VSCODE, ["servers"]),
        (CLAUDE, ["mcpServers"]),
        (CLAUDE, ["projects", "/home/ada/src/app", "mcpServers"]),
        (OPENCODE, ["mcp"]),
    ]:
        doc = parse(text, "jsonc", origin="f.json")
        doc.set([*path, "mcpkit"], ENTRY)
        assert doc.get([*path, "mcpkit"]) == ENTRY
        assert doc.delete([*path, "mcpkit"]) is True
        assert doc.dump() == text


def test_claude_code_strict_json_is_edited_without_touching_project_state() -> None:
    doc = parse(CLAUDE, "json", origin="~/.claude.json")
    doc.set(["mcpServers", "mcpkit"], ENTRY)
    data = json.loads(doc.dump())
    assert data["mcpServers"]["mcpkit"] == ENTRY
    assert data["projects"] == json.loads(CLAUDE)["projects"]
    assert doc.dump().startswith(CLAUDE[: CLAUDE.index('    "filesystem"')])


def test_zed_gets_a_missing_servers_mapping_at_the_end_in_the_files_style() -> None:
    out = edited(ZED, "jsonc", ["context_servers", "mcpkit"], {"source": "custom", **ENTRY})
    head, tail = out.split('  "assistant"')
    assert head == ZED.split('  "assistant"', maxsplit=1)[0]
    assert tail.startswith(': {"version": "2", "default_model": ')
    assert '"claude"}},\n  "context_servers": {\n    "mcpkit": {\n' in out
    # The file's trailing-comma style; the commented-out setting stays last.
    assert out.endswith('      ]\n    }\n  },\n  /* "experimental.theme_overrides": {}, */\n}\n')
    assert parse(out, "jsonc", origin="z").get(["context_servers", "mcpkit", "source"]) == "custom"


def test_an_empty_object_becomes_a_multi_line_object() -> None:
    assert (
        edited("{}", "json", ["mcpServers", "x"], 1) == '{\n  "mcpServers": {\n    "x": 1\n  }\n}'
    )
    out = edited('{\n  "mcpServers": {}\n}\n', "json", ["mcpServers", "x"], True)
    assert out == '{\n  "mcpServers": {\n    "x": true\n  }\n}\n'


def test_an_empty_or_comment_only_file_gets_a_new_object_after_its_comments() -> None:
    assert edited("", "json", ["a"], "b") == '{\n  "a": "b"\n}\n'
    assert edited("// servers\n", "jsonc", ["a"], []) == '// servers\n{\n  "a": []\n}\n'


def test_tabs_crlf_and_the_byte_order_mark_are_kept_in_new_text() -> None:
    text = '\ufeff{\r\n\t"editor": {\r\n\t\t"tabSize": 2\r\n\t}\r\n}'
    out = edited(text, "json", ["mcpServers", "m"], {"args": ["a"]})
    assert out == (
        '\ufeff{\r\n\t"editor": {\r\n\t\t"tabSize": 2\r\n\t},\r\n'
        '\t"mcpServers": {\r\n\t\t"m": {\r\n\t\t\t"args": [\r\n\t\t\t\t"a"\r\n\t\t\t]\r\n'
        "\t\t}\r\n\t}\r\n}"
    )


def test_the_indent_unit_is_detected_from_the_file() -> None:
    text = '{\n    "a": {\n        "b": 1\n    }\n}\n'
    assert edited(text, "json", ["c", "d"], 2) == (
        '{\n    "a": {\n        "b": 1\n    },\n    "c": {\n        "d": 2\n    }\n}\n'
    )


def test_setting_an_existing_member_replaces_only_its_value() -> None:
    text = (
        '{\n  "mcpServers": {\n    "mcpkit": {\n      "command": "x", // ours\n'
        '      "args": ["gateway", "run", "--profile", "a"]\n    }\n  }\n}\n'
    )
    doc = parse(text, "jsonc", origin="f")
    doc.set(["mcpServers", "mcpkit"], {"command": "x", "args": ["--profile", "b"]})
    pretty = '[\n        "--profile",\n        "b"\n      ]'
    assert doc.dump() == text.replace('["gateway", "run", "--profile", "a"]', pretty)


def test_setting_equal_data_changes_no_byte() -> None:
    text = '{"mcpServers": {"mcpkit": {"args": ["a"],"command":"x"}}}'
    doc = parse(text, "json", origin="f")
    doc.set(["mcpServers", "mcpkit"], {"command": "x", "args": ("a",)})
    assert doc.dump() == text
    doc.set(["mcpServers", "mcpkit", "args"], [1])
    doc.set(["mcpServers", "mcpkit", "args"], [True])  # True is not 1
    assert doc.get(["mcpServers", "mcpkit", "args"]) == [True]
    assert isinstance(doc.get(["mcpServers", "mcpkit", "args"])[0], bool)


def test_removing_a_member_takes_its_line_and_same_line_comment_only() -> None:
    text = (
        "{\n"
        '  "servers": {\n'
        "    // first\n"
        '    "a": 1, // about a\n'
        "    // about b\n"
        '    "b": {\n      "x": 2\n    },\n'
        '    "c": 3\n'
        "  }\n"
        "}\n"
    )
    doc = parse(text, "jsonc", origin="f")
    assert doc.delete(["servers", "a"])
    assert doc.dump() == text.replace('    "a": 1, // about a\n', "")
    assert doc.delete(["servers", "c"])  # the last member: its predecessor's comma goes
    assert doc.dump() == (
        '{\n  "servers": {\n    // first\n    // about b\n    "b": {\n      "x": 2\n    }\n  }\n}\n'
    )
    assert doc.delete(["servers", "b"])
    assert doc.dump() == '{\n  "servers": {\n    // first\n    // about b\n  }\n}\n'
    assert doc.get(["servers"]) == {}


def test_removing_from_a_one_line_object_never_leaves_a_dangling_comma() -> None:
    for text, key, out in [
        ('{"a": 1, "b": 2, "c": 3}', "b", '{"a": 1, "c": 3}'),
        ('{"a": 1, "b": 2, "c": 3}', "c", '{"a": 1, "b": 2}'),
        ('{"a": 1, "b": 2, "c": 3}', "a", '{"b": 2, "c": 3}'),
        ('{"a": 1, "b": 2,}', "b", '{"a": 1,}'),
        ('{"a": 1}', "a", "{}"),
        ('{\n  "x": 0,\n  "a": 1}', "a", '{\n  "x": 0}'),
        ('{\n  "x": 0\n  , "a": 1\n}', "a", '{\n  "x": 0\n}'),
        ('{\n  "x": 0\n  , "a": 1\n}', "x", '{\n  "a": 1\n}'),
        ('{"x": 0, /* keep */ "a": 1}', "a", '{"x": 0 /* keep */}'),
    ]:
        doc = parse(text, "jsonc", origin="f")
        assert doc.delete([key])
        assert doc.dump() == out


def test_deleting_what_is_absent_returns_false_and_changes_nothing() -> None:
    doc = parse(VSCODE, "jsonc", origin="f")
    assert doc.delete(["servers", "mcpkit"]) is False
    assert doc.delete(["nothing", "here"]) is False
    assert doc.delete(["inputs", ByName("id", "nope")]) is False
    assert doc.dump() == VSCODE


def test_a_new_member_in_a_one_line_object_stays_on_that_line() -> None:
    out = edited('{"mcpServers": {"a": {"command": "x"}}}', "json", ["mcpServers", "b"], ENTRY)
    assert out == (
        '{"mcpServers": {"a": {"command": "x"}, "b": {"command": "/opt/mcpkit/bin/mcpkit", '
        '"args": ["gateway", "run", "--profile", "dev"]}}}'
    )


def test_list_elements_are_found_added_and_removed_by_name() -> None:
    text = '{\n  "servers": [\n    {"name": "a", "command": "x"}\n  ]\n}\n'
    doc = parse(text, "json", origin="f")
    doc.set(["servers", ByName("name", "mcpkit")], ENTRY)
    assert doc.get(["servers", ByName("name", "mcpkit")]) == {"name": "mcpkit", **ENTRY}
    assert doc.dump().startswith('{\n  "servers": [\n    {"name": "a", "command": "x"},\n    {\n')
    doc.set(["servers", ByName("name", "mcpkit"), "command"], "y")
    assert doc.get(["servers", ByName("name", "mcpkit"), "command"]) == "y"
    assert doc.delete(["servers", ByName("name", "mcpkit")])
    assert doc.dump() == text


def test_values_of_every_json_type_round_trip() -> None:
    value = {"s": 'é\n"', "i": -3, "f": 2.5, "t": True, "n": None, "l": [[], {}], "d": {"k": [1]}}
    doc = parse(edited("{}", "json", ["v"], value), "json", origin="f")
    assert doc.get(["v"]) == value


def assert_refused(text: str, dialect: Any, line: int, column: int, words: str) -> None:
    with pytest.raises(ClientConfigError) as caught:
        parse(text, dialect, origin="/home/ada/.claude.json")
    message = caught.value.message
    assert "/home/ada/.claude.json" in message
    assert f"line {line}, column {column}" in message
    assert words in message
    assert caught.value.hint == PARSE_HINT
    assert caught.value.code == "client-config"


@pytest.mark.parametrize(
    ("text", "dialect", "line", "column", "words"),
    [
        ('{\n  "a": 1\n  "b": 2\n}', "jsonc", 3, 3, "expected ',' or '}'"),
        ('{\n  // note\n  "a": 1\n}', "json", 2, 3, "comments are not allowed"),
        ('{\n  "a": 1,\n}', "json", 2, 9, "trailing commas are not allowed"),
        ('{"a": [1,]}', "json", 1, 9, "trailing commas are not allowed"),
        ("[1, 2]", "jsonc", 1, 1, "the top level must be an object"),
        ('"text"', "json", 1, 1, "the top level must be an object"),
        ('{"a": 1, "a": 2}', "jsonc", 1, 10, "duplicate key 'a'"),
        ('{"a": "b', "jsonc", 1, 7, "unterminated string"),
        ('{"a": "\t"}', "jsonc", 1, 8, "invalid string"),
        ('{"a": 1} {}', "jsonc", 1, 10, "unexpected text after the top-level value"),
        ('{"a": tru}', "jsonc", 1, 7, "unexpected character"),
        ('{"a": 01}', "json", 1, 8, "expected ',' or '}'"),
        ('{"a": 1 /* open', "jsonc", 1, 9, "unterminated /* comment"),
        ("{'a': 1}", "jsonc", 1, 2, "expected a member name"),
        ('{"a":', "jsonc", 1, 6, "unexpected end of file"),
        ("\ufeff{,}", "json", 1, 2, "expected a member name"),
        ("[" * 300, "jsonc", 1, 258, "nested too deeply"),
    ],
)
def test_a_file_that_cannot_be_parsed_is_refused_with_where_and_why(
    text: str, dialect: Any, line: int, column: int, words: str
) -> None:
    assert_refused(text, dialect, line, column, words)


def test_jsonc_accepts_comments_and_trailing_commas_that_strict_json_refuses() -> None:
    assert parse(VSCODE, "jsonc", origin="f").get(["servers", "github", "type"]) == "http"
    with pytest.raises(ClientConfigError):
        parse(VSCODE, "json", origin="f")


def test_an_edit_through_a_value_of_the_wrong_kind_is_refused_and_nothing_changes() -> None:
    text = '{"mcpServers": ["not", "a", "mapping"], "x": {"y": 1}}'
    doc = parse(text, "json", origin="cfg.json")
    with pytest.raises(ClientConfigError, match=r"cannot edit cfg\.json: mcpServers is a list"):
        doc.set(["mcpServers", "mcpkit"], ENTRY)
    with pytest.raises(ClientConfigError, match="x is a mapping, not a list"):
        doc.set(["x", ByName("name", "m")], {})
    assert doc.dump() == text


def test_two_list_elements_with_the_same_name_are_ambiguous() -> None:
    doc = parse('{"s": [{"name": "m"}, {"name": "m"}]}', "json", origin="f")
    with pytest.raises(ClientConfigError, match="ambiguous"):
        doc.delete(["s", ByName("name", "m")])


def test_values_no_format_can_hold_are_a_programming_error() -> None:
    doc = parse("{}", "json", origin="f")
    with pytest.raises(TypeError):
        doc.set(["a"], object())
    with pytest.raises(ValueError, match="non-finite"):
        doc.set(["a"], float("nan"))
    with pytest.raises(ValueError, match="non-empty path"):
        doc.set([], {})
    assert doc.dump() == "{}"
