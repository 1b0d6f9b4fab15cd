"""Findings: what a submission check found wrong, with a rule id and where it is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

#: An ``error`` rejects the submission; a ``warning`` is reported and lets it pass.
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem in a submission.

    ``where`` is the file relative to the registry root, then ``:`` and a key path
    (``servers/time/server.yaml:source.commit``) or a line number when that is all
    that is known (``servers/time/server.yaml:12``).
    """

    rule: str
    message: str
    where: str
    severity: Severity = "error"
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        """The finding as plain data, for JSON reports."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "where": self.where,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}[{self.rule}]: {self.message}"


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error (the submission must be rejected)."""
    return any(f.severity == "error" for f in findings)
