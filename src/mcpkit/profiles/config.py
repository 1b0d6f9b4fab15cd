"""Per-server config values: parsing from the command line and JSON Schema validation."""

from __future__ import annotations

from typing import Any

import yaml
from jsonschema import Draft202012Validator

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import ConfigValidationError


def parse_value(spec: ServerSpec, key: str, raw: str) -> Any:
    """Turn ``raw`` (from ``--set key=value``) into the type the schema wants.

    A property typed ``string`` takes the text as is (so ``--set tz=0800`` stays a
    string); anything else is read as YAML/JSON (``true``, ``8``, ``[a, b]``).
    """
    prop = _properties(spec).get(key)
    if prop is not None and _types(prop) == {"string"}:
        return raw
    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw


def validate_config(spec: ServerSpec, config: dict[str, Any], *, complete: bool = False) -> None:
    """Check config values against the server's schema.

    With ``complete=False`` a missing required key is allowed (config is filled in one
    key at a time); everything set must still be valid. Unknown keys are refused when
    the schema lists properties, so a typo is caught at once.
    """
    schema = spec.config_schema or {"type": "object"}
    props = _properties(spec)
    if props and schema.get("additionalProperties", False) is False:
        unknown = sorted(set(config) - set(props))
        if unknown:
            raise ConfigValidationError(
                f"server {spec.id!r} has no config key {unknown[0]!r}",
                hint=f"known keys: {', '.join(sorted(props))}",
            )
    if not props and config and not spec.config_schema:
        raise ConfigValidationError(
            f"server {spec.id!r} takes no config",
            hint=f"see 'mcpkit catalog show {spec.id}'",
        )
    validator = Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.path)):
        if error.validator == "required" and not complete:
            continue
        where = ".".join(str(p) for p in error.path) or "config"
        raise ConfigValidationError(
            f"invalid config for {spec.id!r}: {where}: {error.message}",
            hint=f"see the schema with 'mcpkit catalog show {spec.id}'",
        )


def missing_required(spec: ServerSpec, config: dict[str, Any]) -> list[str]:
    """Required config keys that have no value (and no schema default)."""
    required = spec.config_schema.get("required", [])
    props = _properties(spec)
    return [k for k in required if k not in config and "default" not in props.get(k, {})]


def _properties(spec: ServerSpec) -> dict[str, Any]:
    props = spec.config_schema.get("properties", {})
    return props if isinstance(props, dict) else {}


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return set()
