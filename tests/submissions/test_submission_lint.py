"""Lint rules on submissions, offline: each broken submission is caught by the right rule
at the right place, and a sound one passes with only the offline licence warning."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from mcpkit.registry import icons
from mcpkit.registry.findings import Finding, has_errors
from mcpkit.registry.lint import RULES, lint_submission
from mcpkit.registry.submission import load_submission

pytestmark = pytest.mark.anyio

COMMIT = "0123456789abcdef0123456789abcdef01234567"
W = "servers/time/server.yaml"


def good(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "time",
        "title": "Time",
        "description": "Current time and time-zone conversions.",
        "license": "MIT",
        "source": {
            "type": "package",
            "registry": "pypi",
            "name": "mcp-server-time",
            "version": "2026.10.19",
            "hashes": ["sha256:" + "a" * 64],
        },
        "secrets": [{"name": "time.token", "env": "TIME_TOKEN"}],
        "config_schema": {
            "type": "object",
            "properties": {
                "timezone": {"type": "string"},
                "db": {"type": "object", "properties": {"path": {"type": "string"}}},
            },
        },
        "env": {"TZ": "{{timezone}}", "TOKEN": "{{secret:time.token}}"},
        "args": ["--db", "{{db.path}}"],
        "test": {"config": {"timezone": "UTC"}, "secrets": {"time.token": "example"}},
    }
    data.update(changes)
    return data


def png(width: int, height: int) -> bytes:
    """A real (tiny, grey) PNG of the given size."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00" * 3
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


async def lint(tmp_path: Path, helpers: Any, data: dict[str, Any], files: Any = None,
               folder: str = "time") -> list[Finding]:  # fmt: skip
    path = helpers.write_submission(tmp_path, folder, data, files)
    sub = load_submission(path, root=tmp_path)
    findings = await lint_submission(sub, environ={}, offline=True)
    assert all(f.rule in RULES for f in findings), findings
    return findings


def errors(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.where) for f in findings if f.severity == "error"]


def warnings(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.where) for f in findings if f.severity == "warning"]


async def test_a_sound_submission_passes_offline_with_one_licence_warning(
    tmp_path: Path, helpers: Any
) -> None:
    findings = await lint(tmp_path, helpers, good(), {"icon.png": png(64, 64)} | {})
    assert not has_errors(findings), findings
    assert warnings(findings) == [("license.unverified", f"{W}:license")]
    assert "offline" in findings[0].message


async def test_a_bad_name_breaks_its_form_and_the_folder_rule(tmp_path: Path, helpers: Any) -> None:
    findings = await lint(tmp_path, helpers, good(name="Time_Server"))
    assert ("name.form", f"{W}:name") in errors(findings)
    assert ("name.folder", f"{W}:name") in errors(findings)
    form = next(f for f in findings if f.rule == "name.form")
    assert "lower-case letters, digits and hyphens" in form.message
    assert form.hint == "name: time-server"


async def test_a_name_that_differs_from_its_folder_is_rejected(
    tmp_path: Path, helpers: Any
) -> None:
    data = good(name="clock", secrets=[], env={"TZ": "{{timezone}}"}, test={})
    findings = await lint(tmp_path, helpers, data)
    assert errors(findings) == [("name.folder", f"{W}:name")]
    assert "'clock' differs from the folder name 'time'" in findings[0].message


@pytest.mark.parametrize(
    ("title", "reason"),
    [("Time MCP", "'MCP'"), ("Time Server", "'Server'"), ("time tools", "capitalise")],
)
async def test_titles_follow_dockers_rules(
    tmp_path: Path, helpers: Any, title: str, reason: str
) -> None:
    findings = await lint(tmp_path, helpers, good(title=title))
    assert errors(findings) == [("title.form", f"{W}:title")]
    assert reason in findings[0].message


async def test_small_words_may_stay_lower_case_in_a_title(tmp_path: Path, helpers: Any) -> None:
    findings = await lint(tmp_path, helpers, good(title="Search and Replace for Files"))
    assert not has_errors(findings)


async def test_a_missing_description_is_reported(tmp_path: Path, helpers: Any) -> None:
    findings = await lint(tmp_path, helpers, good(description="  "))
    assert errors(findings) == [("description.missing", f"{W}:description")]


async def test_a_git_source_on_a_branch_is_unpinned(tmp_path: Path, helpers: Any) -> None:
    source = {"type": "git", "url": "https://github.com/example/time", "commit": "main"}
    findings = await lint(tmp_path, helpers, good(source=source))
    assert errors(findings) == [("source.unpinned", f"{W}:source.commit")]
    assert "'main' is not a full 40-hex commit" in findings[0].message


async def test_a_package_without_hashes_or_exact_version_is_unpinned(
    tmp_path: Path, helpers: Any
) -> None:
    source = {"type": "package", "registry": "npm", "name": "@example/time", "version": "^1.2.0"}
    findings = await lint(tmp_path, helpers, good(source=source))
    assert errors(findings) == [
        ("source.unpinned", f"{W}:source.version"),
        ("source.unpinned", f"{W}:source.hashes"),
    ]
    assert "'^1.2.0' is not an exact version" in findings[0].message
    assert "sha256sum" in findings[1].hint


async def test_an_image_without_a_digest_is_unpinned(tmp_path: Path, helpers: Any) -> None:
    findings = await lint(
        tmp_path, helpers, good(source={"type": "image", "image": "mcp/time:latest"})
    )
    assert ("source.unpinned", f"{W}:source.image") in errors(findings)
    pinned = good(source={"type": "image", "image": "mcp/time@sha256:" + "b" * 64})
    assert not has_errors(await lint(tmp_path / "b", helpers, pinned))


async def test_secrets_not_named_after_the_server_are_rejected(
    tmp_path: Path, helpers: Any
) -> None:
    secrets = [
        {"name": "time.token", "env": "A"},
        {"name": "TIME_TOKEN", "env": "B"},
        {"name": "github.token", "env": "C"},
    ]
    findings = await lint(tmp_path, helpers, good(secrets=secrets, test={}))
    assert errors(findings) == [
        ("secret.name", f"{W}:secrets[1].name"),
        ("secret.name", f"{W}:secrets[2].name"),
    ]
    assert "time.<key>" in findings[0].message


async def test_templates_must_name_config_keys_and_declared_secrets(
    tmp_path: Path, helpers: Any
) -> None:
    data = good(
        env={"TZ": "{{zone}}", "KEY": "{{secret:time.other}}"},
        args=["--token", "{{secret:time.token}}", "{{db.missing}}"],
    )
    findings = await lint(tmp_path, helpers, data)
    assert errors(findings) == [
        ("config.template", f"{W}:env.TZ"),
        ("config.template", f"{W}:env.KEY"),
        ("config.template", f"{W}:args[1]"),
        ("config.template", f"{W}:args[2]"),
    ]
    messages = [f.message for f in findings if f.rule == "config.template"]
    assert "'zone', which is not a config_schema property" in messages[0]
    assert "secret 'time.other', which the server does not declare" in messages[1]
    assert "would leak" in messages[2]


async def test_a_docker_template_naming_another_server_is_rejected(
    tmp_path: Path, helpers: Any
) -> None:
    data = {
        "name": "time",
        "image": "mcp/time",
        "type": "server",
        "meta": {"category": "utilities"},
        "about": {"title": "Time", "description": "Time zones."},
        "source": {"project": "https://github.com/example/time", "commit": COMMIT},
        "config": {
            "env": [
                {"name": "TZ", "value": "{{time.timezone}}"},
                {"name": "DB", "value": "{{postgres.url}}"},
                {"name": "X", "value": "{{time.nope}}"},
            ],
            "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
        },
    }
    findings = await lint(tmp_path, helpers, data)
    template_errors = [(f.rule, f.where) for f in findings if f.rule == "config.template"]
    assert template_errors == [
        ("config.template", f"{W}:config.env[1].value"),
        ("config.template", f"{W}:config.env[2].value"),
    ]
    assert "another" not in findings[0].message
    assert "this server's own parameters" in next(
        f.message for f in findings if f.where.endswith("config.env[1].value")
    )


async def test_a_docker_submission_is_linted_by_its_own_key_paths(
    tmp_path: Path, helpers: Any
) -> None:
    data = {
        "name": "time",
        "image": "mcp/time",
        "type": "server",
        "about": {"title": "Time MCP Server"},
        "source": {"project": "https://github.com/example/time", "commit": "v1.0.0"},
        "config": {"secrets": [{"name": "TOKEN", "env": "TOKEN"}]},
    }
    findings = await lint(tmp_path, helpers, data)
    found = errors(findings)
    assert ("title.form", f"{W}:about.title") in found
    assert ("description.missing", f"{W}:about.description") in found
    assert ("source.unpinned", f"{W}:source.commit") in found
    assert ("secret.name", f"{W}:config.secrets[0].name") in found
    # Docker's format declares no licence: it is read from the source (here: offline).
    assert ("license.unverified", f"{W}:source.project") in warnings(findings)


async def test_an_oversize_icon_is_rejected_by_bytes(tmp_path: Path, helpers: Any) -> None:
    big = png(64, 64) + b"\x00" * (icons.MAX_ICON_BYTES + 1)
    findings = await lint(tmp_path, helpers, good(icon="icon.png"), {"icon.png": big})
    assert errors(findings) == [("icon.size", f"{W}:icon")]
    assert "more than 256 KiB" in findings[0].message


@pytest.mark.parametrize(
    ("image", "fragment"),
    [(png(600, 600), "600x600"), (png(128, 64), "128x64"), (jpeg_header(1024, 1024), "1024x1024")],
)
async def test_raster_icons_must_be_square_and_at_most_512(
    tmp_path: Path, helpers: Any, image: bytes, fragment: str
) -> None:
    name = "icon.jpg" if image.startswith(b"\xff\xd8") else "icon.png"
    findings = await lint(tmp_path, helpers, good(icon=name), {name: image})
    assert errors(findings) == [("icon.size", f"{W}:icon")]
    assert fragment in findings[0].message


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("icon.gif", b"GIF89a\x20\x00\x20\x00" + b"\x00" * 20, "GIF"),
        ("icon.png", b"just some text", "not an image"),
        ("icon.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>',
         "<script>"),
        ("icon.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>', "handler"),
        ("icon.svg", b'<!DOCTYPE svg [<!ENTITY a "b">]><svg/>', "DOCTYPE"),
        ("icon.svg", b"<html><svg/></html>", "root element is <html>"),
    ],
)  # fmt: skip
async def test_icons_of_the_wrong_type_are_rejected(
    tmp_path: Path, helpers: Any, name: str, content: bytes, fragment: str
) -> None:
    findings = await lint(tmp_path, helpers, good(icon=name), {name: content})
    assert errors(findings) == [("icon.type", f"{W}:icon")]
    assert fragment in findings[0].message


async def test_a_clean_svg_and_a_square_webp_are_accepted(tmp_path: Path, helpers: Any) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8"/></svg>'
    assert not has_errors(await lint(tmp_path / "a", helpers, good(icon="i.svg"), {"i.svg": svg}))
    webp = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x0a\x00\x00\x00" + b"\x00" * 4
    webp += (255).to_bytes(3, "little") + (255).to_bytes(3, "little")
    assert icons.sniff(webp) == icons.IconInfo("webp", 256, 256)
    found = await lint(tmp_path / "b", helpers, good(icon="i.webp"), {"i.webp": webp})
    assert not has_errors(found)


async def test_an_icon_named_but_absent_is_missing(tmp_path: Path, helpers: Any) -> None:
    findings = await lint(tmp_path, helpers, good(icon="logo.png"))
    assert errors(findings) == [("icon.missing", f"{W}:icon")]
    outside = await lint(tmp_path / "b", helpers, good(icon="../../secret.png"))
    assert errors(outside) == [("icon.missing", f"{W}:icon")]


async def test_tools_json_entries_need_descriptions_and_unique_names(
    tmp_path: Path, helpers: Any
) -> None:
    tools = (
        '[{"name": "get_current_time", "description": "Now."},'
        ' {"name": "convert_time"},'
        ' {"name": "get_current_time", "description": "Again.",'
        '  "arguments": [{"name": "zone", "type": "string"}]}]'
    )
    findings = await lint(tmp_path, helpers, good(), {"tools.json": tools})
    assert errors(findings) == [
        ("tools.description", "servers/time/tools.json:[1].description"),
        ("tools.description", "servers/time/tools.json:[2].arguments[0]"),
        ("tools.duplicate", "servers/time/tools.json:[2].name"),
    ]
    assert "'convert_time' has no description" in findings[0].message


async def test_a_remote_with_a_websocket_transport_is_rejected(
    tmp_path: Path, helpers: Any
) -> None:
    source = {"type": "remote", "url": "https://time.example.com/mcp", "transport": "websocket"}
    findings = await lint(tmp_path, helpers, good(source=source, env={}, args=[]))
    assert errors(findings) == [("remote.transport", f"{W}:source.transport")]
    assert "'websocket' is not one of streamable-http, sse" in findings[0].message
    assert ("license.unverified", f"{W}:license") in warnings(findings)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://time.example.com/mcp", False),
        ("ftp://time.example.com/mcp", False),
        ("http://127.0.0.1:8080/mcp", True),
        ("http://localhost/mcp", True),
        ("https://{{region}}.example.com/mcp", True),
    ],
)
async def test_remote_urls_must_be_https_except_on_loopback(
    tmp_path: Path, helpers: Any, url: str, ok: bool
) -> None:
    schema = {"type": "object", "properties": {"region": {"type": "string"}}}
    data = good(source={"type": "remote", "url": url}, env={}, args=[], config_schema=schema,
                test={})  # fmt: skip
    findings = await lint(tmp_path, helpers, data)
    assert errors(findings) == ([] if ok else [("remote.url", f"{W}:source.url")])


async def test_smoke_calls_and_test_secrets_must_name_declared_things(
    tmp_path: Path, helpers: Any
) -> None:
    test = {
        "config": {"timezone": 5},
        "secrets": {"time.token": "x", "time.password": "y"},
        "calls": [{"tool": "get_current_time"}, {"tool": "delete_everything"}],
    }
    tools = '[{"name": "get_current_time", "description": "Now."}]'
    findings = await lint(tmp_path, helpers, good(test=test), {"tools.json": tools})
    assert errors(findings) == [
        ("test.call-unknown-tool", f"{W}:test.calls[1].tool"),
        ("test.secret-unknown", f"{W}:test.secrets.time.password"),
        ("test.config", f"{W}:test.config.timezone"),
    ]


async def test_declared_tools_mode_needs_a_tool_list(tmp_path: Path, helpers: Any) -> None:
    findings = await lint(tmp_path, helpers, good(test={"tools": "declared"}))
    assert errors(findings) == [("test.tools-missing", f"{W}:test.tools")]


async def test_load_problems_come_first_and_other_rules_still_run(
    tmp_path: Path, helpers: Any
) -> None:
    findings = await lint(tmp_path, helpers, good(name="Bad", colour="blue"))
    assert findings[0].rule == "schema"
    assert findings[0].where == f"{W}:colour"
    assert ("name.form", f"{W}:name") in errors(findings)


def test_every_rule_has_a_description() -> None:
    assert all(isinstance(text, str) and len(text) > 10 for text in RULES.values())
    assert {"yaml", "schema", "name.form", "license.not-permissive", "remote.url"} <= set(RULES)
