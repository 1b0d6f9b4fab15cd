"""The report of ``registry test``: verdict, stable JSON, Markdown for a PR, redaction."""

from __future__ import annotations

import json

from mcpkit.registry.findings import Finding
from mcpkit.registry.report import RULES, Check, Report, scrubbed, verdict_of


def _report(checks: list[Check], findings: list[Finding] | None = None) -> Report:
    findings = findings or []
    verdict, reasons = verdict_of(findings, checks)
    return Report(
        server="time",
        folder="servers/time",
        format="mcpkit",
        verdict=verdict,
        reasons=reasons,
        checks=checks,
        findings=findings,
        tools=[
            {
                "name": "get_current_time",
                "description": "Get the current time.\nIn any zone.",
                "annotations": {"readOnlyHint": True},
            },
            {"name": "set|alarm", "description": "Set an alarm"},
        ],
        server_info={
            "serverInfo": {"name": "mcp-time", "version": "1.2.3"},
            "protocolVersion": "2025-06-18",
        },
        started_at="2026-01-02T03:04:05Z",
        seconds=12.3456,
    )


def _passing() -> list[Check]:
    return [
        Check("lint", "pass", 0.5, "0 error(s), 0 warning(s)"),
        Check("build", "pass", 9.0, "built mcpkit-submission/time:abc"),
        Check("initialize", "pass", 0.8, "mcp-time 1.2.3"),
        Check("tools", "pass", 0.1, "2 tool(s)", warnings=["test.tools-mismatch: listed but…"]),
        Check("cleanup", "pass", 0.3),
    ]


def test_a_report_with_only_passing_checks_is_accepted() -> None:
    report = _report(_passing())
    assert report.verdict == "accepted"
    assert report.accepted
    assert report.reasons == []


def test_a_failed_check_rejects_with_its_rule_and_detail_as_the_reason() -> None:
    checks = _passing()
    checks[2] = Check("initialize", "fail", 5.0, "no answer within 5 s", "test.initialize-timeout")
    report = _report(checks)
    assert report.verdict == "rejected"
    assert report.reasons == ["test.initialize-timeout: initialize: no answer within 5 s"]


def test_an_error_finding_rejects_and_a_warning_does_not() -> None:
    warning = Finding("license.unverified", "not checked", "servers/time/server.yaml", "warning")
    assert _report(_passing(), [warning]).verdict == "accepted"
    error = Finding("name.folder", "name differs from the folder", "servers/time/server.yaml:name")
    report = _report(_passing(), [warning, error])
    assert report.verdict == "rejected"
    assert report.reasons == ["name.folder: name differs from the folder"]


def test_a_failed_cleanup_is_reported_but_does_not_change_the_verdict() -> None:
    checks = _passing()
    checks[-1] = Check(
        "cleanup", "fail", 1.0, "the image x could not be removed", "test.cleanup-failed"
    )
    report = _report(checks)
    assert report.verdict == "accepted"
    assert report.reasons == []
    assert "test.cleanup-failed" in report.to_markdown()


def test_the_json_form_has_stable_keys_in_a_stable_order() -> None:
    data = _report(_passing()).to_dict()
    assert list(data) == [
        "server", "folder", "format", "verdict", "reasons", "checks", "findings",
        "tools", "server_info", "started_at", "seconds",
    ]  # fmt: skip
    assert list(data["checks"][0]) == ["name", "status", "seconds", "detail", "rule", "warnings"]
    assert data["seconds"] == 12.35
    assert json.loads(json.dumps(data)) == data  # plain JSON, nothing else


def test_the_markdown_form_reads_as_a_pull_request_comment() -> None:
    checks = _passing()
    checks[2] = Check("initialize", "fail", 5.0, "no answer | at all", "test.initialize-timeout")
    finding = Finding(
        "license.unverified", "not checked", "servers/time/server.yaml", "warning", "run online"
    )
    text = _report(checks, [finding]).to_markdown()
    lines = text.splitlines()
    assert lines[0] == "## ❌ `time`: rejected"
    assert "**Rejected because:**" in text
    assert (
        "| initialize | ❌ fail | 5.0 s | `test.initialize-timeout`: no answer \\| at all |"
        in lines
    )
    assert "| build | ✅ pass | 9.0 s | built mcpkit-submission/time:abc |" in lines
    assert any(line.startswith("| tools |") and "⚠️ test.tools-mismatch" in line for line in lines)
    assert (
        "- ⚠️ warning `license.unverified` at `servers/time/server.yaml`: not checked — run online"
        in lines
    )
    assert "| `get_current_time` | yes | Get the current time. |" in lines  # first line only
    assert "| `set\\|alarm` | — | Set an alarm |" in lines
    assert "Server: `mcp-time` 1.2.3 (protocol 2025-06-18)." in lines


def test_an_accepted_report_says_so_in_its_heading_and_lists_no_reasons() -> None:
    text = _report(_passing()).to_markdown()
    assert text.startswith("## ✅ `time`: accepted\n")
    assert "Rejected because" not in text


def test_scrubbing_hides_a_value_everywhere_in_the_report() -> None:
    secret = "s3cr3t-example-value"
    checks = [
        Check("call:echo", "fail", 0.1, f"isError: {secret}", "test.call-failed", [f"w {secret}"])
    ]
    finding = Finding("schema", f"bad {secret}", "servers/time/server.yaml", hint=secret)
    report = _report(checks, [finding])
    report.tools.append({"name": "echo", "description": secret, "annotations": {secret: [secret]}})
    report.server_info["serverInfo"]["name"] = secret
    clean = scrubbed(report, lambda text: text.replace(secret, "****"))
    text = json.dumps(clean.to_dict()) + clean.to_markdown()
    assert secret not in text
    assert "isError: ****" in text
    assert secret in json.dumps(report.to_dict())  # the original is left as it was


def test_every_rule_a_check_can_fail_with_is_described() -> None:
    for rule in (
        "test.crash", "test.initialize-timeout", "test.initialize-failed", "test.no-tools",
        "test.garbage-stdout", "test.call-failed", "test.build-failed", "test.tools-mismatch",
        "test.timeout", "test.plan-invalid", "test.start-failed", "test.fetch-failed",
        "test.tools-failed", "test.cleanup-failed",
    ):  # fmt: skip
        assert RULES[rule]
