"""The record of one ``registry test`` run: timed checks, redaction, skips, the report.

:class:`Recorder` is what every step writes to. A step that fails in a way that ends
the server checks raises :class:`Stop`; the recorder then marks every check that has
not run as skipped, so a report always lists the same checks for the same submission.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mcpkit.errors import McpkitError
from mcpkit.registry.findings import Finding
from mcpkit.registry.harness_env import example_values
from mcpkit.registry.report import Check, Report, scrubbed, verdict_of
from mcpkit.registry.submission import Submission
from mcpkit.runtime.base import Progress
from mcpkit.secrets.redact import Redactor

WITHHELD = "(withheld: it may contain an example secret value)"


class Stop(Exception):  # noqa: N818 - control flow inside the harness, never escapes it
    """A check failed in a way that ends the server checks; the rest are skipped."""


@dataclass
class Recorder:
    """The checks recorded so far, and the redaction every text goes through."""

    sub: Submission
    progress: Progress | None
    checks: list[Check] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    server_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.redactor = Redactor(example_values(self.sub))

    def clean(self, text: str) -> str:
        """``text`` with every example secret value hidden."""
        if self.redactor.contains_unredacted(text):
            return WITHHELD
        return self.redactor.redact(text)

    def say(self, line: str) -> None:
        """A line of progress, redacted."""
        if self.progress is not None:
            self.progress(self.clean(line))

    @contextmanager
    def step(self, name: str) -> Iterator[Check]:
        """Time a check; it passes unless the body sets its status."""
        check = Check(name, "pass", 0.0)
        started = time.monotonic()
        try:
            yield check
        except BaseException as exc:
            if not isinstance(exc, Stop) and check.status == "pass":
                # An error on its way out (no engine, cancelled): the step did not pass.
                check.status = "fail"
                check.detail = error_text(exc) if isinstance(exc, McpkitError) else "interrupted"
            raise
        finally:
            check.seconds = time.monotonic() - started
            self.add(check)

    def add(self, check: Check) -> Check:
        """Record a check and report it."""
        self.checks.append(check)
        text = f"{check.name}: {check.status} ({check.seconds:.1f} s)"
        if check.detail:
            text += f": {check.detail}"
        self.say(text)
        for warning in check.warnings:
            self.say(f"  warning: {warning}")
        return check

    def skip(self, name: str, why: str) -> None:
        """Record a check that did not run."""
        if all(c.name != name for c in self.checks):
            self.add(Check(name, "skip", 0.0, why))

    def skip_rest(self, sub: Submission, why: str, *, cleanup: bool = True) -> None:
        """Skip every server check not recorded yet."""
        names = ["fetch"] if sub.git is not None else []
        names += ["build", "start", "initialize", "tools"]
        names += [f"call:{call.tool}" for call in sub.test.calls]
        names += ["stdout"] + (["cleanup"] if cleanup else [])
        for name in names:
            self.skip(name, "not run: nothing was created" if name == "cleanup" else why)

    def report(self, findings: list[Finding], started_at: str, seconds: float) -> Report:
        """The report, verdict decided, every text redacted."""
        verdict, reasons = verdict_of(findings, self.checks)
        sub = self.sub
        report = Report(
            server=sub.name,
            folder=sub.rel or sub.folder.name,
            format=sub.format,
            verdict=verdict,
            reasons=reasons,
            checks=self.checks,
            findings=list(findings),
            tools=self.tools,
            server_info=self.server_info,
            started_at=started_at,
            seconds=seconds,
        )
        return scrubbed(report, self.clean)


def error_text(exc: McpkitError) -> str:
    """An error's message and hint, on one line, for a check's detail."""
    text = exc.message
    if exc.hint:
        text += f" (hint: {exc.hint})"
    return text
