"""Resolve a profile's server (spec + config + secrets) into a :class:`LaunchPlan`.

Pure: plain data in, plain data out; the secret lookup is a function passed in.

Template rules (``{{key}}`` in ``env``, ``args``, image ``command`` and volumes):

- a key is a config key, looked up in the profile's config, then the schema's default;
  a dotted key (``jira.url``) is looked up as written, then as a path into objects;
- an argument that is exactly ``{{key}}`` with an array value expands to one argument per
  item (an empty array counts as no value); inside a longer string an array is joined
  with commas;
- an env var, argument or volume whose key has no value is left out, and so is a
  flag-looking argument (``--repository``) just before a left-out value (a left-out
  ``--repository={{key}}`` goes alone);
- ``{{secret:NAME}}`` may only name a secret the spec declares and is only rendered in
  env values, never in arguments (argv is visible to every process on the machine).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from mcpkit.catalog.model import CommandSource, ImageSource, RemoteSource, ServerSpec
from mcpkit.errors import ConfigValidationError, UnknownSecretError
from mcpkit.profiles.config import missing_required
from mcpkit.profiles.model import ProfileServer
from mcpkit.runtime.base import LaunchPlan, Mount

TEMPLATE_RE = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")
SecretLookup = Callable[[str], str | None]


class _Unset(Exception):  # noqa: N818 - internal control flow, never escapes this module
    """A template named a key with no value."""


def build_plan(
    profile: str,
    server: ProfileServer,
    spec: ServerSpec,
    secret: SecretLookup,
    *,
    allow_unsandboxed: bool = False,
) -> LaunchPlan:
    """The launch plan for ``server`` of ``profile``.

    Raises ConfigValidationError when a required config key is unset and
    UnknownSecretError when a required secret has no value; both name the command that fixes it.
    """
    missing = missing_required(spec, server.config)
    if missing:
        keys = ", ".join(missing)
        raise ConfigValidationError(
            f"server {server.id!r} of profile {profile!r} needs config it does not have: {keys}",
            hint=f"mcpkit profile config {profile} --set {server.id}.{missing[0]}=VALUE",
            code="config-missing",
        )
    values = _config_values(spec, server.config)
    secrets = _secrets(server.id, spec, secret)

    env: dict[str, str] = {}
    for name, template in spec.env.items():
        try:
            env[name] = render(template, values, secrets, allow_secrets=True)
        except _Unset:
            continue
    files: dict[str, bytes] = {}
    for ref in spec.secrets:
        if ref.name not in secrets:
            continue
        if ref.env:
            env[ref.env] = secrets[ref.name]
        elif ref.file:
            files[ref.file] = secrets[ref.name].encode()

    args = render_args(spec.args, values)
    if isinstance(spec.source, ImageSource) and spec.source.command:
        args = render_args(spec.source.command, values) + args
    mounts = _mounts(spec, values)
    url: str | None = None
    headers: dict[str, str] = {}
    if isinstance(spec.source, RemoteSource):
        url, headers = _remote(server.id, profile, spec.source, values, secrets)
    cwd = spec.source.cwd if isinstance(spec.source, CommandSource) else None
    if cwd:
        mounts.append(Mount(cwd, cwd, read_only=True))
    return LaunchPlan(
        server=server.id,
        spec=spec,
        profile=profile,
        args=tuple(args),
        env=env,
        files=files,
        mounts=tuple(mounts),
        network=spec.network,
        secret_values=tuple(v for v in secrets.values() if v),
        allow_unsandboxed=allow_unsandboxed,
        url=url,
        headers=headers,
    )


def _secrets(server: str, spec: ServerSpec, secret: SecretLookup) -> dict[str, str]:
    """The values of the secrets the spec declares; a required one missing is an error."""
    secrets: dict[str, str] = {}
    for ref in spec.secrets:
        value = secret(ref.name)
        if value is None:
            if ref.required:
                raise UnknownSecretError(
                    f"server {server!r} needs the secret {ref.name!r}, which is not set",
                    hint=f"mcpkit secret set {ref.name}",
                )
            continue
        secrets[ref.name] = value
    return secrets


def _remote(
    server: str,
    profile: str,
    source: RemoteSource,
    values: Mapping[str, Any],
    secrets: Mapping[str, str],
) -> tuple[str, dict[str, str]]:
    """A remote server's URL (config templates only) and headers (secrets allowed)."""
    try:
        url = render(source.url, values)
    except _Unset as unset:
        raise ConfigValidationError(
            f"server {server!r} of profile {profile!r} needs config {unset.args[0]!r} for its URL",
            hint=f"mcpkit profile config {profile} --set {server}.{unset.args[0]}=VALUE",
            code="config-missing",
        ) from None
    headers: dict[str, str] = {}
    for name, template in source.headers.items():
        try:
            value = render(template, values, secrets, allow_secrets=True)
        except _Unset:
            continue
        if "\r" in value or "\n" in value:
            raise ConfigValidationError(
                f"header {name!r} of server {server!r} would contain a line break",
                hint=f"check the config and secrets that header {name!r} uses",
            )
        headers[name] = value
    return url, headers


def render(
    template: str,
    values: Mapping[str, Any],
    secrets: Mapping[str, str] | None = None,
    *,
    allow_secrets: bool = False,
) -> str:
    """Render one string template; raises _Unset when a key has no value."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("secret:"):
            name = key.removeprefix("secret:")
            if not allow_secrets:
                raise ConfigValidationError(
                    f"secret {name!r} may not be rendered into a command-line argument",
                    hint="declare the secret with an env or file target in the spec instead",
                    code="secret-in-argv",
                )
            if secrets is None or name not in secrets:
                raise _Unset(name)
            return secrets[name]
        return _text(lookup(values, key))

    return TEMPLATE_RE.sub(substitute, template)


def render_args(templates: list[str], values: Mapping[str, Any]) -> list[str]:
    """Render argument templates, expanding arrays and leaving out unset ones."""
    out: list[str] = []
    for template in templates:
        whole = TEMPLATE_RE.fullmatch(template.strip())
        try:
            if whole and not whole.group(1).startswith("secret:"):
                value = _argument_value(values, whole.group(1))
                if isinstance(value, list):
                    out.extend(_text(item) for item in value)
                    continue
                out.append(_text(value))
                continue
            out.append(render(template, values))
        except _Unset:
            # A left-out value takes its flag along; a left-out ``--flag={{key}}`` goes alone.
            is_flag = template.lstrip().startswith("-")
            if not is_flag and out and out[-1].startswith("-") and "=" not in out[-1]:
                out.pop()
    return out


def lookup(values: Mapping[str, Any], key: str) -> Any:
    """A config value by key or dotted path; raises _Unset when there is none."""
    if key in values and values[key] is not None:
        return values[key]
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, Mapping) or node.get(part) is None:
            raise _Unset(key)
        node = node[part]
    return node


def _argument_value(values: Mapping[str, Any], key: str) -> Any:
    """A whole argument's value; an empty array is no value (it would leave a bare flag)."""
    value = lookup(values, key)
    if isinstance(value, list) and not value:
        raise _Unset(key)
    return value


def _config_values(spec: ServerSpec, config: Mapping[str, Any]) -> dict[str, Any]:
    props = spec.config_schema.get("properties", {})
    values: dict[str, Any] = {}
    if isinstance(props, dict):
        for key, prop in props.items():
            if isinstance(prop, dict) and "default" in prop:
                values[key] = prop["default"]
    values.update(config)
    return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return orjson.dumps(value).decode()


def _mounts(spec: ServerSpec, values: Mapping[str, Any]) -> list[Mount]:
    mounts: list[Mount] = []
    for volume in spec.volumes:
        sources = render_args([volume.source], values)
        if not sources:
            continue
        same = volume.target.strip() == volume.source.strip()
        try:
            target = None if same else render(volume.target, values)
        except _Unset:
            continue
        for source in sources:
            host = str(Path(source).expanduser())
            mounts.append(
                Mount(host, host if target is None else target, read_only=volume.read_only)
            )
    return mounts
