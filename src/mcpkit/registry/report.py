"""The report of ``mcpkit registry test``: each check with its time, the verdict, and why.

A :class:`Report` is plain data. :meth:`Report.to_dict` is the stable JSON form (the
keys and their order do not change between runs, so CI can diff or parse it) and
:meth:`Report.to_markdown` the form a registry bot posts as a pull-request comment.
Every string in a report has already passed through the submission's redactor (see
:func:`scrubbed`), so example secret values never appear in either form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from mcpkit.registry.findings import Finding

CheckStatus = Literal["pass", "fail", "skip"]
Verdict = Literal["accepted", "rejected"]

#: The rules a failed check rejects a submission with (lint rules are in ``lint.RULES``).
RULES: dict[str, str] = {
    "test.fetch-failed": "the pinned git source could not be fetched",
    "test.build-failed": "the server's image could not be built (or, for an image source, "
    "is not in the engine)",
    "test.plan-invalid": "the test plan's example config or secrets do not fit the server",
    "test.start-failed": "the engine refused to create or start the server's container, "
    "or the remote URL is refused",
    "test.crash": "the server exited before it answered",
    "test.initialize-timeout": "the server did not answer initialize in time",
    "test.initialize-failed": "the server answered initialize with an error",
    "test.no-tools": "the server lists no tools",
    "test.tools-failed": "tools/list failed and the submission does not declare its tools",
    "test.tools-mismatch": "(warning) the listed tools differ from the declared ones",
    "test.call-failed": "a smoke call failed (a JSON-RPC error or isError: true)",
    "test.timeout": "the time limit ran out listing tools or making the smoke calls",
    "test.garbage-stdout": "the server wrote something other than JSON-RPC to stdout",
    "test.cleanup-failed": "(not a rejection) a container, image or folder of the test "
    "could not be removed",
}

#: Checks whose failure does not decide the verdict: the harness's own housekeeping.
NON_VERDICT_CHECKS = frozenset({"cleanup"})

_STATUS_MARK = {"pass": "✅ pass", "fail": "❌ fail", "skip": "⏭️ skip"}


@dataclass
class Check:
    """One step of the test and how it went."""

    #: lint, fetch, build, start, initialize, tools, call:<tool>, stdout, cleanup.
    name: str
    status: CheckStatus
    seconds: float
    detail: str = ""
    #: The rejection rule of a failed check (see :data:`RULES`).
    rule: str | None = None
    #: Things worth a reviewer's look that do not reject (``test.tools-mismatch: ...``).
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The check as plain data."""
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "detail": self.detail,
            "rule": self.rule,
            "warnings": list(self.warnings),
        }


@dataclass
class Report:
    """The outcome of testing one submission."""

    server: str
    folder: str
    format: str
    verdict: Verdict
    #: One line per error finding and per failing check: ``<rule>: <message>``.
    reasons: list[str]
    checks: list[Check]
    findings: list[Finding]
    #: The tools as listed (or as declared): name, description, annotations.
    tools: list[dict[str, Any]]
    #: ``serverInfo``, ``protocolVersion`` and ``capabilities`` from initialize.
    server_info: dict[str, Any]
    started_at: str
    seconds: float

    @property
    def accepted(self) -> bool:
        """Whether the submission passed."""
        return self.verdict == "accepted"

    def check(self, name: str) -> Check | None:
        """The check called ``name``, if it ran (or was skipped)."""
        return next((c for c in self.checks if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The report as stable JSON-ready data."""
        return {
            "server": self.server,
            "folder": self.folder,
            "format": self.format,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings],
            "tools": [dict(t) for t in self.tools],
            "server_info": dict(self.server_info),
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
        }

    def to_markdown(self) -> str:
        """The report as Markdown, readable as a pull-request comment."""
        mark = "✅" if self.accepted else "❌"
        lines = [
            f"## {mark} `{self.server}`: {self.verdict}",
            "",
            (
                f"`mcpkit registry test` of `{self.folder or '.'}` ({self.format} format), "
                f"started {self.started_at}, took {self.seconds:.1f} s."
            ),
        ]
        if self.reasons:
            lines += ["", "**Rejected because:**", ""]
            lines += [f"- {_inline(reason)}" for reason in self.reasons]
        lines += ["", "| check | result | time | detail |", "|---|---|---:|---|"]
        for c in self.checks:
            detail = c.detail
            if c.rule and c.status == "fail":
                detail = f"`{c.rule}`: {detail}" if detail else f"`{c.rule}`"
            for warning in c.warnings:
                detail += f"<br>⚠️ {warning}"
            lines.append(
                f"| {_cell(c.name)} | {_STATUS_MARK[c.status]} | {c.seconds:.1f} s | "
                f"{_cell(detail)} |"
            )
        if self.findings:
            lines += ["", f"### Findings ({len(self.findings)})", ""]
            for f in self.findings:
                icon = "❌" if f.severity == "error" else "⚠️"
                text = f"- {icon} {f.severity} `{f.rule}` at `{f.where}`: {_inline(f.message)}"
                if f.hint:
                    text += f" — {_inline(f.hint)}"
                lines.append(text)
        if self.tools:
            lines += ["", f"### Tools ({len(self.tools)})", ""]
            lines += ["| tool | read-only | description |", "|---|---|---|"]
            for tool in self.tools:
                read_only = _read_only_hint(tool)
                shown = {True: "yes", False: "no", None: "—"}[read_only]
                lines.append(
                    f"| `{_cell(str(tool.get('name', '')))}` | {shown} | "
                    f"{_cell(_first_line(tool.get('description')))} |"
                )
        info = self.server_info.get("serverInfo")
        if isinstance(info, dict) and info:
            version = self.server_info.get("protocolVersion", "?")
            lines += [
                "",
                (
                    f"Server: `{info.get('name', '?')}` {info.get('version', '')} "
                    f"(protocol {version})."
                ),
            ]
        return "\n".join(lines) + "\n"


def verdict_of(findings: list[Finding], checks: list[Check]) -> tuple[Verdict, list[str]]:
    """The verdict and its reasons: every error finding and every failed deciding check."""
    reasons = [f"{f.rule}: {f.message}" for f in findings if f.severity == "error"]
    for c in checks:
        if c.status == "fail" and c.name not in NON_VERDICT_CHECKS and c.rule:
            reasons.append(f"{c.rule}: {c.name}: {c.detail}" if c.detail else c.rule)
    failed = any(c.status == "fail" and c.name not in NON_VERDICT_CHECKS for c in checks)
    return ("rejected" if reasons or failed else "accepted"), reasons


def scrubbed(report: Report, clean: Callable[[str], str]) -> Report:
    """``report`` with ``clean`` (a redactor) applied to every string it holds."""
    return replace(
        report,
        reasons=[clean(r) for r in report.reasons],
        checks=[
            replace(c, detail=clean(c.detail), warnings=[clean(w) for w in c.warnings])
            for c in report.checks
        ],
        findings=[
            replace(f, message=clean(f.message), hint=clean(f.hint), where=clean(f.where))
            for f in report.findings
        ],
        tools=[_walk(t, clean) for t in report.tools],
        server_info=_walk(report.server_info, clean),
    )


def _walk(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _walk(v, clean) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, clean) for v in value]
    return value


def _read_only_hint(tool: dict[str, Any]) -> bool | None:
    annotations = tool.get("annotations")
    hint = annotations.get("readOnlyHint") if isinstance(annotations, dict) else None
    return hint if isinstance(hint, bool) else None


def _first_line(value: object, limit: int = 160) -> str:
    text = value.strip().splitlines()[0] if isinstance(value, str) and value.strip() else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inline(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    # A table cell ends at a pipe or a line break: escape the one, fold the other.
    return _inline(text).replace("|", "\\|")
