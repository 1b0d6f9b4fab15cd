"""Lint rules on what a server is configured with: templates and the test plan.

``config.template`` checks that every ``{{key}}`` names the server's own config
property and every ``{{secret:name}}`` a secret it declares (and never lands where it
would leak); the ``test.*`` rules check the smoke calls, secrets and config of the
test plan against what the submission declares.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from mcpkit.registry.findings import Finding
from mcpkit.registry.rules import as_list, as_mapping, get_path
from mcpkit.registry.submission import SERVER_YAML, TEST_YAML, Submission

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")


def check_templates(sub: Submission) -> Iterator[Finding]:
    """``config.template``: templates name the server's own config keys and secrets."""
    if sub.format == "docker":
        yield from _docker_templates(sub)
        return
    schema = as_mapping(sub.data.get("config_schema"))
    secrets = {
        s.get("name") for s in map(as_mapping, as_list(sub.data.get("secrets"))) if s.get("name")
    }
    for key, template, secrets_ok in _our_templates(sub.data):
        for match in _TEMPLATE.finditer(template):
            inner = match.group(1).strip()
            where = sub.where(key)
            if inner.startswith("secret:"):
                secret = inner.removeprefix("secret:")
                if not secrets_ok:
                    yield Finding(
                        "config.template",
                        f"{match.group(0)} puts a secret where it would leak (argv, URLs, "
                        "mount paths)",
                        where,
                        hint="declare the secret with an env or file target instead",
                    )
                elif secret not in secrets:
                    yield Finding(
                        "config.template",
                        f"{match.group(0)} names secret {secret!r}, which the server does "
                        "not declare",
                        where,
                        hint="declare it under secrets:, or fix the name",
                    )
            elif not _has_property(schema, inner):
                yield Finding(
                    "config.template",
                    f"{match.group(0)} names {inner!r}, which is not a config_schema property",
                    where,
                    hint="add the property to config_schema.properties, or fix the name",
                )


def _our_templates(data: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(key path, template, may name secrets) for every templated string of ours."""
    for name, value in as_mapping(data.get("env")).items():
        yield f"env.{name}", str(value), True
    for index, value in enumerate(as_list(data.get("args"))):
        yield f"args[{index}]", str(value), False
    for index, volume in enumerate(as_list(data.get("volumes"))):
        for part in ("source", "target"):
            value = as_mapping(volume).get(part)
            if isinstance(value, str):
                yield f"volumes[{index}].{part}", value, False
    source = as_mapping(data.get("source"))
    if isinstance(source.get("url"), str):
        yield "source.url", source["url"], False
    for name, value in as_mapping(source.get("headers")).items():
        yield f"source.headers.{name}", str(value), True
    for index, value in enumerate(as_list(source.get("command"))):
        yield f"source.command[{index}]", str(value), False


def _docker_templates(sub: Submission) -> Iterator[Finding]:
    name = sub.data.get("name")
    config = as_mapping(sub.data.get("config"))
    schema = as_mapping(config.get("parameters"))
    run = as_mapping(sub.data.get("run"))
    remote = as_mapping(sub.data.get("remote"))
    places: list[tuple[str, object]] = [
        (f"config.env[{i}].value", as_mapping(e).get("value"))
        for i, e in enumerate(as_list(config.get("env")))
    ]
    places += [(f"run.env.{k}", v) for k, v in as_mapping(run.get("env")).items()]
    places += [(f"run.command[{i}]", v) for i, v in enumerate(as_list(run.get("command")))]
    places += [(f"run.volumes[{i}]", v) for i, v in enumerate(as_list(run.get("volumes")))]
    places += [("remote.url", remote.get("url"))]
    places += [(f"remote.headers.{k}", v) for k, v in as_mapping(remote.get("headers")).items()]
    for key, value in places:
        if not isinstance(value, str):
            continue
        for match in _TEMPLATE.finditer(value):
            path = match.group(1).split("|")[0].strip()
            owner, dot, prop = path.partition(".")
            if not dot or owner != name:
                yield Finding(
                    "config.template",
                    f"{match.group(0)} does not refer to this server's own parameters "
                    f"({name}.<key>)",
                    sub.where(key),
                    hint=f"write {{{{{name}.<key>}}}} with <key> a config.parameters property",
                )
            elif not _has_property(schema, prop):
                yield Finding(
                    "config.template",
                    f"{match.group(0)} names {prop!r}, which is not a config.parameters property",
                    sub.where(key),
                    hint="add the property to config.parameters.properties, or fix the name",
                )


def check_test(sub: Submission) -> Iterator[Finding]:
    """The ``test.*`` rules: calls, secrets and config of the test plan."""
    file = TEST_YAML if sub.format == "docker" else SERVER_YAML
    names = {str(t.get("name")) for t in sub.tools or []}
    if sub.test.tools == "declared" and not sub.tools:
        yield Finding(
            "test.tools-missing",
            "test.tools is 'declared' but no tools are declared (tools.json or tools:)",
            sub.where("test.tools", file),
            hint="add tools.json listing the server's tools",
        )
    for index, call in enumerate(sub.test.calls):
        if names and call.tool not in names:
            yield Finding(
                "test.call-unknown-tool",
                f"smoke call {index} names tool {call.tool!r}, which is not declared",
                sub.where(f"test.calls[{index}].tool", file),
                hint=f"call one of: {', '.join(sorted(names))}",
            )
    declared = _declared_secrets(sub)
    for secret in sub.test.secrets:
        if secret not in declared:
            yield Finding(
                "test.secret-unknown",
                f"test secret {secret!r} is not a secret the server declares",
                sub.where(f"test.secrets.{secret}", file),
                hint=f"declared secrets: {', '.join(sorted(declared)) or 'none'}",
            )
    yield from _test_config(sub, file)


def _declared_secrets(sub: Submission) -> set[str]:
    if sub.spec is not None:
        return set(sub.spec.secret_names)
    key = "config.secrets" if sub.format == "docker" else "secrets"
    return {str(as_mapping(s).get("name")) for s in as_list(get_path(sub.data, key))}


def _test_config(sub: Submission, file: str) -> Iterator[Finding]:
    explicit = "test" in sub.data if sub.format == "mcpkit" else (sub.folder / TEST_YAML).is_file()
    schema = sub.spec.config_schema if sub.spec else {}
    if not explicit or not schema:
        return
    try:
        errors = sorted(Draft202012Validator(schema).iter_errors(sub.test.config), key=str)
    except SchemaError:
        return
    for error in errors[:3]:
        path = ".".join(str(p) for p in error.absolute_path)
        yield Finding(
            "test.config",
            f"the test config does not fit config_schema: {error.message}",
            sub.where(f"test.config.{path}" if path else "test.config", file),
            hint="give example values that satisfy config_schema",
        )


def _has_property(schema: Mapping[str, Any], key: str) -> bool:
    props = as_mapping(schema.get("properties"))
    if key in props:
        return True
    node: Mapping[str, Any] = schema
    for part in key.split("."):
        props = as_mapping(node.get("properties"))
        if part not in props:
            return False
        node = as_mapping(props[part])
    return True
