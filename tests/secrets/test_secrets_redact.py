"""Redaction of secret values in text and logs."""

from __future__ import annotations

import logging

import pytest

from mcpkit.secrets.redact import RedactingFilter, Redactor, safe_quote


def test_every_occurrence_of_every_value_is_masked() -> None:
    redactor = Redactor(["token-one", "password2"])
    text = "a=token-one b=password2 again token-one"
    assert redactor.redact(text) == "a=**** b=**** again ****"


def test_the_longest_value_is_masked_whole_when_values_overlap() -> None:
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.redact("x abcdefgh y abcd") == "x **** y ****"
    assert "efgh" not in redactor.redact("abcdefgh")


def test_values_with_regex_characters_are_matched_literally() -> None:
    redactor = Redactor(["a.b*c(d)", "[x]+"])
    assert redactor.redact("a.b*c(d) axbbc [x]+ xx") == "**** axbbc **** xx"


def test_values_shorter_than_four_characters_are_left_alone() -> None:
    redactor = Redactor(["abc", "", "abcd"])
    assert redactor.redact("abc abcd") == "abc ****"
    assert redactor.contains_unredacted("has abc in it")
    assert not Redactor(["abc"])


def test_an_empty_redactor_returns_text_unchanged() -> None:
    assert Redactor().redact("nothing to hide") == "nothing to hide"


def test_union_adds_values() -> None:
    redactor = Redactor(["first-value"]).union(["second-value"])
    assert redactor.redact("first-value second-value") == "**** ****"


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("  error: bad token-value\n", ["token-value"], "error: bad ****"),
        ("pin 123 rejected", ["123"], "(output withheld: it may contain the secret value)"),
        ("x" * 600, [], "x" * 497 + "..."),
    ],
)
def test_safe_quote_redacts_strips_and_shortens(
    text: str, values: list[str], expected: str
) -> None:
    assert safe_quote(text, Redactor(values)) == expected


def test_the_logging_filter_redacts_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("mcpkit.test.redact")
    redacting = RedactingFilter(Redactor(["sk-live-1234"]))
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger="mcpkit.test.redact"):
            logger.info("calling with key %s and %d", "sk-live-1234", 7)
            logger.info("nothing secret here: %s", "hello")
    finally:
        logger.removeFilter(redacting)
    assert "sk-live-1234" not in caplog.text
    assert [r.getMessage() for r in caplog.records] == [
        "calling with key **** and 7",
        "nothing secret here: hello",
    ]
