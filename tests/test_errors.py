"""The error tree and its documentation."""

from __future__ import annotations

import re
from pathlib import Path

from mcpkit import errors
from mcpkit.errors import McpkitError, NotFoundError, UnknownServerError, format_error

DOC = Path(__file__).parents[1] / "docs" / "errors.md"


def _classes() -> list[type[McpkitError]]:
    found = [McpkitError]
    for cls in found:
        found.extend(c for c in cls.__subclasses__() if c.__module__ == errors.__name__)
    return found


def test_every_error_class_is_documented_with_its_code_and_exit_status() -> None:
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (\d+) \|", DOC.read_text(), re.M))
    for cls in _classes():
        assert rows.get(cls.default_code) == str(cls.exit_code), cls.__name__


def test_every_specific_code_raised_in_the_source_is_documented() -> None:
    src = Path(__file__).parents[1] / "src" / "mcpkit"
    raised = {m for f in src.rglob("*.py") for m in re.findall(r'code="([a-z-]+)"', f.read_text())}
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", DOC.read_text(), re.M))
    assert raised
    assert raised <= documented


def test_codes_are_unique() -> None:
    codes = [c.default_code for c in _classes()]
    assert len(codes) == len(set(codes))


def test_subclasses_inherit_the_exit_status_of_their_family() -> None:
    assert UnknownServerError.exit_code == NotFoundError.exit_code == 3


def test_format_error_shows_code_message_and_hint() -> None:
    err = UnknownServerError("no server 'tme'", hint="did you mean time?")
    assert format_error(err) == "error[unknown-server]: no server 'tme'\n  hint: did you mean time?"
    assert err.to_dict() == {
        "error": "unknown-server",
        "message": "no server 'tme'",
        "hint": "did you mean time?",
    }
