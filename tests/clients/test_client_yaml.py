"""YAML config files (Goose, Continue): ruamel round trips carried into the original text."""

from __future__ import annotations

import pytest
import yaml

from mcpkit.clients.edit import PARSE_HINT, ByName, parse
from mcpkit.clients.yamledit import merge3
from mcpkit.errors import ClientConfigError

GOOSE_ENTRY = {
    "name": "mcpkit",
    "cmd": "/opt/mcpkit/bin/mcpkit",
    "args": ["gateway", "run", "--profile", "dev"],
    "enabled": True,
    "envs": {},
    "type": "stdio",
    "timeout": 300,
}
GOOSE_OURS = """  mcpkit:
    name: mcpkit
    cmd: /opt/mcpkit/bin/mcpkit
    args:
    - gateway
    - run
    - --profile
    - dev
    enabled: true
    envs: {}
    type: stdio
    timeout: 300
"""

GOOSE = """GOOSE_PROVIDER: anthropic
GOOSE_MODEL: claude-sonnet-4   # the default model
GOOSE_MODE:   smart_approve
extensions:
  developer:
    bundled: true
    display_name: Developer
    enabled: true
    name: developer
    timeout: 300
    type: builtin
  # GitHub, with a token from the keyring
  github:
    args:
    - -y
    - '@modelcontextprotocol/server-github'
    cmd: npx
    enabled: true
    envs: {GITHUB_PERSONAL_ACCESS_TOKEN: "from keyring"}
    name: github
    timeout: 300
    type: stdio
"""

CONTINUE_ENTRY = {"name": "mcpkit", "command": "/opt/mcpkit/bin/mcpkit", "args": ["gateway", "run"]}
CONTINUE_OURS = """  - name: mcpkit
    command: /opt/mcpkit/bin/mcpkit
    args:
      - gateway
      - run
"""

CONTINUE = """name: My Config
version: 0.0.1
schema: v1

models:
  - name: Claude Sonnet   # chat model
    provider: anthropic
    model: claude-sonnet-4
    apiKey: ${{ secrets.ANTHROPIC_API_KEY }}
    roles:
      - chat
      - edit

mcpServers:
  - name: SQLite MCP
    command: npx
    args:
      - "-y"
      - "mcp-sqlite"
      - "/home/ada/db.sqlite"
  # the browser
  - name: Browser search
    command: npx
    args: ["@playwright/mcp@latest"]

context:
  - provider: code
"""

ANCHORED = """defaults: &defaults
  enabled: true
  timeout: 300
extensions:
  shared: *defaults
  github:
    <<: *defaults
    cmd: npx
    name: github
    type: stdio
"""


@pytest.mark.parametrize(
    "text",
    [
        GOOSE,
        CONTINUE,
        ANCHORED,
        "",
        "# only comments\n\n# here\n",
        "---\na: 1\n...\n",
        "a: 1",
        "\ufeffa: 1\r\nb:\r\n  - x\r\n",
    ],
)
def test_an_unedited_document_dumps_byte_identical(text: str) -> None:
    assert parse(text, "yaml", origin="config.yaml").dump() == text


def test_a_goose_extension_is_added_in_the_files_own_layout() -> None:
    doc = parse(GOOSE, "yaml", origin="config.yaml")
    doc.set(["extensions", "mcpkit"], GOOSE_ENTRY)
    # The odd spacing of GOOSE_MODE and the flow mapping survive: only new lines were added.
    assert doc.dump() == GOOSE + GOOSE_OURS
    assert doc.get(["extensions", "mcpkit"]) == GOOSE_ENTRY


def test_removing_a_goose_extension_keeps_the_comment_of_the_next_one() -> None:
    text = GOOSE.replace("  # GitHub", GOOSE_OURS + "  # GitHub")
    doc = parse(text, "yaml", origin="config.yaml")
    assert doc.delete(["extensions", "mcpkit"]) is True
    assert doc.dump() == GOOSE


def test_a_continue_server_is_appended_to_the_list_with_its_indentation() -> None:
    doc = parse(CONTINUE, "yaml", origin="config.yaml")
    doc.set(["mcpServers", ByName("name", "mcpkit")], CONTINUE_ENTRY)
    assert doc.dump() == CONTINUE.replace(
        '    args: ["@playwright/mcp@latest"]\n',
        '    args: ["@playwright/mcp@latest"]\n' + CONTINUE_OURS,
    )
    assert doc.delete(["mcpServers", ByName("name", "mcpkit")])
    assert doc.dump() == CONTINUE


def test_removing_a_list_element_keeps_the_comment_before_the_next_one() -> None:
    doc = parse(CONTINUE, "yaml", origin="config.yaml")
    assert doc.delete(["mcpServers", ByName("name", "SQLite MCP")])
    assert doc.dump() == CONTINUE.replace(
        CONTINUE[CONTINUE.index("  - name: SQLite") : CONTINUE.index("  # the browser")], ""
    )
    assert [s["name"] for s in doc.get(["mcpServers"])] == ["Browser search"]


def test_switching_profile_rewrites_only_the_changed_lines() -> None:
    text = GOOSE + GOOSE_OURS
    doc = parse(text, "yaml", origin="config.yaml")
    doc.set(["extensions", "mcpkit", "args"], ["gateway", "run", "--profile", "ops"])
    assert doc.dump() == text.replace("    - dev\n", "    - ops\n")


def test_setting_equal_data_changes_no_byte() -> None:
    text = GOOSE + GOOSE_OURS
    doc = parse(text, "yaml", origin="config.yaml")
    doc.set(["extensions", "mcpkit"], dict(reversed(GOOSE_ENTRY.items())))
    assert doc.dump() == text


def test_an_emptied_mapping_or_list_stays_as_an_empty_collection() -> None:
    doc = parse("extensions:\n  mcpkit:\n    cmd: x\nother: 1\n", "yaml", origin="c.yaml")
    assert doc.delete(["extensions", "mcpkit"])
    assert doc.dump() == "extensions: {}\nother: 1\n"
    doc = parse("mcpServers:\n- name: mcpkit\n", "yaml", origin="c.yaml")
    assert doc.delete(["mcpServers", ByName("name", "mcpkit")])
    assert doc.dump() == "mcpServers: []\n"


def test_a_comment_only_document_is_an_empty_mapping_that_keeps_its_comments() -> None:
    doc = parse("# Goose settings\n", "yaml", origin="config.yaml")
    assert doc.get([]) == {}
    doc.set(["extensions", "mcpkit"], {"cmd": "x"})
    assert doc.dump() == "# Goose settings\nextensions:\n  mcpkit:\n    cmd: x\n"
    empty = parse("", "yaml", origin="config.yaml")
    empty.set(["mcpServers", ByName("name", "mcpkit")], {"command": "x"})
    assert empty.dump() == "mcpServers:\n- name: mcpkit\n  command: x\n"


def test_anchors_aliases_and_merges_elsewhere_are_preserved() -> None:
    doc = parse(ANCHORED, "yaml", origin="config.yaml")
    assert doc.get(["extensions", "github", "timeout"]) == 300
    doc.set(["extensions", "mcpkit"], {"cmd": "x"})
    assert doc.dump() == ANCHORED + "  mcpkit:\n    cmd: x\n"
    assert doc.delete(["extensions", "mcpkit"])
    assert doc.dump() == ANCHORED


def test_edits_that_would_change_a_shared_node_are_refused() -> None:
    doc = parse(ANCHORED, "yaml", origin="config.yaml")
    with pytest.raises(ClientConfigError, match=r"extensions\.shared is the anchor &defaults"):
        doc.set(["extensions", "shared", "cmd"], "x")
    with pytest.raises(ClientConfigError, match=r"extensions\.github takes keys from a << merge"):
        doc.set(["extensions", "github", "cmd"], "uvx")
    with pytest.raises(ClientConfigError, match="anchor"):
        doc.delete(["defaults"])
    assert doc.dump() == ANCHORED


def test_quotes_flow_style_and_long_lines_are_kept() -> None:
    long = "x" * 150
    text = f"a: 'single'\nb: \"double\"\nc: [1,  2]\nd: {long} {long}\ne:\n    deep: 1\n"
    doc = parse(text, "yaml", origin="c.yaml")
    doc.set(["f"], "new")
    assert doc.dump() == text + "f: new\n"


def test_crlf_bom_and_a_missing_final_newline_survive_an_edit() -> None:
    text = "\ufeffextensions:\r\n  a:\r\n    cmd: x"
    doc = parse(text, "yaml", origin="c.yaml")
    doc.set(["extensions", "b"], {"cmd": "y"})
    assert doc.dump() == text + "\r\n  b:\r\n    cmd: y"


def test_the_result_is_plain_yaml_any_reader_understands() -> None:
    doc = parse(CONTINUE, "yaml", origin="config.yaml")
    doc.set(["mcpServers", ByName("name", "mcpkit")], CONTINUE_ENTRY)
    assert yaml.safe_load(doc.dump())["mcpServers"][-1] == CONTINUE_ENTRY


def test_the_three_way_merge_carries_only_the_changed_lines() -> None:
    base = "a: 1\nb: 2\nc: 3\n"
    ours = "---\na:   1\nb: 2\nc: 3\n"
    assert merge3(base, ours, "a: 1\nb: 20\nc: 3\n") == "---\na:   1\nb: 20\nc: 3\n"
    assert merge3(base, ours, "a: 1\nb: 2\nc: 3\nd: 4\n") == ours + "d: 4\n"
    assert merge3(base, ours, "a: 9\nb: 2\nc: 3\n") is None  # "a" was reformatted: conflict


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("a: 1\na: 2\n", 2, 1, "duplicate key"),
        ("a: [1,\n", 2, 1, "expected the node content"),
        ("- 1\n- 2\n", 1, 1, "the top level must be a mapping"),
        ("# c\nplain text\n", 2, 1, "the top level must be a mapping"),
        ("null\n", 1, 1, "the top level must be a mapping"),
        ("a: 1\n---\nb: 2\n", 2, 1, "expected a single document"),
        ("a: b: c\n", 1, 5, "mapping values are not allowed"),
        ("a: *nothing\n", 1, 4, "found undefined alias"),
    ],
)
def test_a_file_that_cannot_be_parsed_is_refused_with_where_and_why(
    text: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(ClientConfigError) as caught:
        parse(text, "yaml", origin="/home/ada/.config/goose/config.yaml")
    assert "/home/ada/.config/goose/config.yaml" in caught.value.message
    assert f"line {line}, column {column}" in caught.value.message
    assert words in caught.value.message
    assert caught.value.hint == PARSE_HINT


def test_an_edit_through_a_value_of_the_wrong_kind_is_refused() -> None:
    doc = parse("extensions: [a, b]\n", "yaml", origin="c.yaml")
    with pytest.raises(ClientConfigError, match="extensions is a list, not a mapping"):
        doc.set(["extensions", "mcpkit"], {"cmd": "x"})
    assert doc.dump() == "extensions: [a, b]\n"


def test_a_value_ruamel_cannot_write_faithfully_is_refused_and_nothing_changes() -> None:
    # ruamel.yaml emits NEL raw inside single quotes; reading it back gives a space.
    doc = parse(GOOSE, "yaml", origin="config.yaml")
    with pytest.raises(ClientConfigError, match="could not make this edit faithfully"):
        doc.set(["extensions", "mcpkit"], {"cmd": "a\x85b"})
    assert doc.dump() == GOOSE
    assert doc.get(["extensions", "mcpkit"]) is None
