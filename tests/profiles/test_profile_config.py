"""Config values: parsing from the command line and validation against the schema."""

from __future__ import annotations

import pytest

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import ConfigValidationError
from mcpkit.profiles.config import missing_required, parse_value, validate_config

SPEC = ServerSpec.model_validate(
    {
        "id": "demo",
        "title": "Demo",
        "source": {"type": "command", "command": "demo"},
        "config_schema": {
            "type": "object",
            "properties": {
                "zone": {"type": "string"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "paths": {"type": "array", "items": {"type": "string"}},
                "verbose": {"type": "boolean", "default": False},
            },
            "required": ["zone", "verbose"],
        },
    }
)


def test_string_properties_keep_the_text_as_given() -> None:
    assert parse_value(SPEC, "zone", "0800") == "0800"


def test_other_properties_are_read_as_yaml() -> None:
    assert parse_value(SPEC, "port", "8080") == 8080
    assert parse_value(SPEC, "paths", "[/a, /b]") == ["/a", "/b"]
    assert parse_value(SPEC, "verbose", "true") is True


def test_a_value_breaking_the_schema_is_refused_with_the_schemas_reason() -> None:
    with pytest.raises(ConfigValidationError) as info:
        validate_config(SPEC, {"port": 70000})
    assert "port" in info.value.message
    assert "70000 is greater than the maximum of 65535" in info.value.message
    assert info.value.hint and "catalog show demo" in info.value.hint


def test_a_wrong_type_is_refused() -> None:
    with pytest.raises(ConfigValidationError, match="is not of type 'integer'"):
        validate_config(SPEC, {"port": "eighty"})


def test_an_unknown_key_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ConfigValidationError) as info:
        validate_config(SPEC, {"zones": "x"})
    assert "'zones'" in info.value.message
    assert info.value.hint and "zone" in info.value.hint


def test_missing_required_keys_are_allowed_until_complete_is_asked() -> None:
    validate_config(SPEC, {"port": 1})
    with pytest.raises(ConfigValidationError, match="'zone' is a required property"):
        validate_config(SPEC, {"port": 1}, complete=True)


def test_missing_required_ignores_keys_with_a_default() -> None:
    assert missing_required(SPEC, {}) == ["zone"]


def test_a_server_without_schema_takes_no_config() -> None:
    bare = ServerSpec.model_validate(
        {"id": "bare", "title": "Bare", "source": {"type": "command", "command": "x"}}
    )
    validate_config(bare, {})
    with pytest.raises(ConfigValidationError, match="takes no config"):
        validate_config(bare, {"a": 1})
