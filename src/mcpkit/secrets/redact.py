"""Redaction: replace known secret values in text before it is shown or logged.

A :class:`Redactor` is built from the values that must never be seen (every secret a
profile injects, a value being stored). It replaces each occurrence of any of them
with ``****``, trying the longest value first so that a value containing another is
hidden whole. Values shorter than :data:`MIN_REDACTED_LENGTH` characters are not
redacted: replacing ``"1"`` or ``"ab"`` everywhere would mangle ordinary text and hide
nothing worth hiding; stores refuse to quote foreign text that still contains such a
value (see :meth:`Redactor.contains_unredacted`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

#: What a redacted value is replaced with.
MASK = "****"
#: Values shorter than this are not redacted.
MIN_REDACTED_LENGTH = 4


class Redactor:
    """Hides a fixed set of secret values in text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values = frozenset(v for v in values if isinstance(v, str) and v)
        redacted = sorted(
            (v for v in self._values if len(v) >= MIN_REDACTED_LENGTH),
            key=lambda v: (-len(v), v),
        )
        # One alternation scans the text once; longest-first order makes the regex
        # engine prefer the longest value at each position.
        self._pattern = re.compile("|".join(map(re.escape, redacted))) if redacted else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of a known value replaced by ``****``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def contains_unredacted(self, text: str) -> bool:
        """True if ``text`` still holds a value too short to redact."""
        return any(v in text for v in self._values if len(v) < MIN_REDACTED_LENGTH)

    def union(self, values: Iterable[str]) -> Redactor:
        """A new redactor that also hides ``values``."""
        return Redactor([*self._values, *values])


def safe_quote(text: str, redactor: Redactor, *, limit: int = 500) -> str:
    """Foreign text (a provider's stderr, a library's message) fit to put in an error.

    Redacted, stripped and shortened to ``limit`` characters; replaced by a notice when
    it still holds a value too short to redact.
    """
    text = text.strip()
    if redactor.contains_unredacted(text):
        return "(output withheld: it may contain the secret value)"
    text = redactor.redact(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the rendered message of every record it passes."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message, redact it, and let the record through."""
        message = record.getMessage()
        redacted = self.redactor.redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True
