"""Profile documents: export to and import from YAML/JSON files kept in git.

An exported profile carries server ids, config, tool filters, pins and (for servers
not in a catalog) their specs, plus the *names* of the secrets its servers need.
Never a secret value.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import ProfileFormatError
from mcpkit.profiles.model import Profile

DOCUMENT_VERSION = 1
KIND = "mcpkit/profile"
_MAX_BYTES = 5 * 1024 * 1024
Format = Literal["yaml", "json"]


def to_document(profile: Profile, specs: dict[str, ServerSpec]) -> dict[str, Any]:
    """The export document for a profile; ``specs`` resolves each server id."""
    servers: list[dict[str, Any]] = []
    for server in profile.servers:
        item: dict[str, Any] = {"id": server.id}
        if server.config:
            item["config"] = server.config
        if not server.tools.is_default:
            item["tools"] = server.tools.model_dump(exclude_defaults=True)
        pins = server.pins.model_dump(exclude_defaults=True)
        if pins:
            item["pins"] = pins
        if not server.run.is_default:
            item["run"] = server.run.model_dump(exclude_defaults=True)
        if server.spec is not None:
            item["spec"] = server.spec.to_data()
        servers.append(item)
    needed = sorted({name for spec in specs.values() for name in spec.secret_names})
    doc: dict[str, Any] = {"version": DOCUMENT_VERSION, "kind": KIND, "name": profile.name}
    if profile.description:
        doc["description"] = profile.description
    if profile.prefix_tools:
        doc["prefix_tools"] = True
    doc["servers"] = servers
    if needed:
        doc["secrets"] = needed
    return doc


def render(doc: dict[str, Any], fmt: Format) -> str:
    """Serialise a document as YAML (with a header comment) or JSON."""
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    header = (
        "# mcpkit profile. It holds no secret values: provide the listed secrets with\n"
        "# 'mcpkit secret set NAME' after 'mcpkit profile import'.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def from_text(text: str | bytes, *, origin: str, name: str | None = None) -> Profile:
    """Parse an exported profile (YAML or JSON); ``name`` renames it on import."""
    if len(text) > _MAX_BYTES:
        raise ProfileFormatError(f"{origin}: larger than 5 MiB; not a profile document")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileFormatError(
            f"{origin}: not valid YAML or JSON: {exc}".splitlines()[0],
            hint="a profile document comes from 'mcpkit profile export NAME'",
        ) from exc
    if not isinstance(data, dict):
        raise ProfileFormatError(
            f"{origin}: a profile document must be a mapping with 'name' and 'servers'",
            hint="a profile document comes from 'mcpkit profile export NAME'",
        )
    version = data.get("version", DOCUMENT_VERSION)
    if not isinstance(version, int) or version > DOCUMENT_VERSION:
        raise ProfileFormatError(
            f"{origin}: document version {version!r} is not supported (this mcpkit reads 1)",
            hint="upgrade mcpkit to import it",
        )
    if data.get("kind", KIND) != KIND:
        raise ProfileFormatError(f"{origin}: kind {data.get('kind')!r} is not {KIND!r}")
    body = {k: v for k, v in data.items() if k not in ("version", "kind", "secrets")}
    if name is not None:
        body["name"] = name
    servers = body.get("servers") or []
    if not isinstance(servers, list):
        raise ProfileFormatError(f"{origin}: 'servers' must be a list")
    for server in servers:
        if isinstance(server, dict) and isinstance(server.get("tools"), list):
            server["tools"] = {"allow": server["tools"]}  # the short form: an allowlist
    try:
        return Profile.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ProfileFormatError(
            f"{origin}: {where}: {err['msg']}",
            hint="fix the file; 'mcpkit profile export' shows the expected shape",
        ) from exc
