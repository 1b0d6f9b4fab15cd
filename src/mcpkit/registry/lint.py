"""Lint rules for a registry submission, in both formats (ours and Docker's).

:func:`lint_submission` returns every finding: the load problems, the static rules
below (they read the raw ``server.yaml`` data, so they still work when the file does
not validate), and the licence rules, which fetch the pinned source to read what it
says (:mod:`mcpkit.registry.sources`) unless ``offline``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from mcpkit.errors import SourceError
from mcpkit.registry import licenses
from mcpkit.registry.findings import Finding
from mcpkit.registry.rules import (
    check_description,
    check_icon,
    check_name,
    check_remote,
    check_secrets,
    check_source_pinned,
    check_title,
    check_tools,
)
from mcpkit.registry.rules_config import check_templates, check_test
from mcpkit.registry.sources import HASH_MISMATCH, fetch_source
from mcpkit.registry.submission import Submission

#: Every rule id, with what it checks (docs/registry.md's table is checked against it).
RULES: dict[str, str] = {
    "yaml": "server.yaml (and test.yaml) parse as YAML mappings",
    "schema": "every key is known and of the right type (our format)",
    "docker.convert": "a Docker-format server.yaml can be expressed as a safe mcpkit spec",
    "name.form": "the name matches ^[a-z0-9-]+$",
    "name.folder": "the name equals the submission folder's name",
    "title.form": "the title has no 'MCP' or 'Server' and every word is capitalised",
    "description.missing": "the server has a description",
    "source.unpinned": "git sources pin a 40-hex commit; packages an exact version and "
    "sha256 hashes; images a digest",
    "source.unavailable": "the pinned source can be fetched",
    "source.hash-mismatch": "the fetched package artifact has one of the pinned hashes",
    "license.missing": "a licence is declared, and the source carries one",
    "license.not-permissive": "the declared licence and the source's are permissive "
    "(no GPL, AGPL, LGPL, SSPL, BUSL, proprietary or unrecognised terms)",
    "license.mismatch": "the declared licence is the one the source states "
    "(a warning when both are permissive)",
    "license.unverified": "the licence could be read from the source (warning when offline, "
    "or for image and remote sources)",
    "secret.name": "secrets are named <server>.<key>",
    "config.template": "{{key}} templates name config_schema properties and "
    "{{secret:name}} templates declared secrets",
    "icon.type": "the icon is PNG, JPEG, WebP or a script-free SVG (an https URL otherwise)",
    "icon.size": "the icon file is at most 256 KiB, and a raster icon square and at most 512x512",
    "icon.missing": "the icon file named exists in the submission folder",
    "tools.json": "tools.json (or tools:) is a JSON list of objects with a name",
    "tools.description": "every declared tool (and Docker tool argument) has a description",
    "tools.duplicate": "no tool name is declared twice",
    "remote.transport": "a remote server's transport is streamable-http or sse",
    "remote.url": "a remote server's URL is https (http only for loopback)",
    "test.call-unknown-tool": "smoke calls name declared tools",
    "test.secret-unknown": "test secrets name secrets the server declares",
    "test.tools-missing": "test.tools 'declared' comes with a tools.json or tools: list",
    "test.config": "the test config satisfies config_schema",
}


async def lint_submission(
    sub: Submission,
    *,
    environ: Mapping[str, str],
    offline: bool = False,
    workdir: Path | None = None,
) -> list[Finding]:
    """Every finding for ``sub``: load problems, static rules, then licence rules.

    ``offline`` skips fetching the source: the declared licence is then checked alone
    and a ``license.unverified`` warning says so. Fetched sources go under ``workdir``
    (a temporary folder, removed afterwards, when not given).
    """
    findings = list(sub.problems)
    for check in (
        check_name,
        check_title,
        check_description,
        check_source_pinned,
        check_secrets,
        check_templates,
        check_icon,
        check_tools,
        check_remote,
        check_test,
    ):
        findings.extend(check(sub))
    if workdir is not None:
        findings.extend(await _license_findings(sub, environ, offline, workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="mcpkit-lint-") as tmp:
            findings.extend(await _license_findings(sub, environ, offline, Path(tmp)))
    return findings


# --- licences ----------------------------------------------------------------------------


def _source_kind(sub: Submission) -> str | None:
    if sub.git is not None:
        return "git"
    source = sub.data.get("source")
    if sub.format == "mcpkit":
        kind = source.get("type") if isinstance(source, Mapping) else None
        return kind if isinstance(kind, str) else None
    if sub.data.get("type") == "remote" or isinstance(sub.data.get("remote"), Mapping):
        return "remote"
    return "image"


def _source_key(sub: Submission) -> str:
    if sub.format == "mcpkit":
        return "source"
    # Docker's format: the git project, or the file itself for images and remotes.
    return "source.project" if sub.git else ""


async def _license_findings(
    sub: Submission, environ: Mapping[str, str], offline: bool, workdir: Path
) -> list[Finding]:
    out: list[Finding] = []
    kind = _source_kind(sub)
    declared_raw = sub.data.get("license")
    declared = declared_raw.strip() if isinstance(declared_raw, str) else None
    if declared:
        out.extend(_declared_findings(sub, declared))
    elif sub.format == "mcpkit":
        out.append(
            Finding(
                "license.missing",
                "the submission declares no licence",
                sub.where("license"),
                # A hosted server's code is not redistributed: its licence matters less.
                severity="warning" if kind == "remote" else "error",
                hint="add 'license: <SPDX expression>', e.g. license: MIT",
            )
        )
    fetchable = kind in ("git", "package") and not _source_broken(sub)
    if offline and fetchable:
        why, hint = "offline", "run without --offline to read the licence from the source"
    elif not fetchable:
        why, hint = f"{kind or 'an unreadable'} source: nothing to read it from", ""
    if offline or not fetchable:
        out.append(
            Finding(
                "license.unverified",
                f"the licence was not read from the source ({why})"
                + (f"; the declared licence {declared} was checked alone" if declared else ""),
                sub.where("license" if sub.format == "mcpkit" else _source_key(sub)),
                severity="warning",
                hint=hint,
            )
        )
        return out
    try:
        fetched = await fetch_source(sub, workdir, environ)
    except SourceError as exc:
        rule = "source.hash-mismatch" if exc.code == HASH_MISMATCH else "source.unavailable"
        out.append(Finding(rule, exc.message, sub.where(_source_key(sub)), hint=exc.hint or ""))
        return out
    out.extend(_source_license_findings(sub, declared, fetched.license, fetched.license_origin))
    return out


def _source_broken(sub: Submission) -> bool:
    """True when load found the source block itself malformed (nothing sound to fetch)."""
    prefix = sub.where("source")
    return any(p.rule == "schema" and p.where.startswith(prefix) for p in sub.problems)


def _declared_findings(sub: Submission, declared: str) -> Iterator[Finding]:
    verdict = licenses.evaluate(declared)
    if verdict.expression is None:
        yield Finding(
            "license.not-permissive",
            f"the declared licence {declared!r} is not an SPDX expression mcpkit can evaluate",
            sub.where("license"),
            hint="write an SPDX expression, e.g. MIT or Apache-2.0 OR MIT",
        )
    elif not verdict.permissive:
        yield Finding(
            "license.not-permissive",
            f"the declared licence {verdict.expression} is not permissive "
            f"({', '.join(verdict.blocking)})",
            sub.where("license"),
            hint="the registry accepts permissive licences only (MIT, Apache-2.0, BSD, ISC, …)",
        )


def _source_license_findings(
    sub: Submission, declared: str | None, found: str | None, origin: str
) -> Iterator[Finding]:
    where = sub.where(_source_key(sub))
    if found is None and not origin:
        yield Finding(
            "license.missing",
            "the source carries no licence (no LICENSE or COPYING file, no licence metadata)",
            where,
            hint="the project must ship a licence file (MIT, Apache-2.0, …)",
        )
        return
    if found is None:
        yield Finding(
            "license.not-permissive",
            f"the licence in {origin} is not one mcpkit recognises as permissive",
            where,
            hint="a registry maintainer must review this licence by hand",
        )
        return
    verdict = licenses.evaluate(found)
    shown = verdict.expression or found
    if not verdict.permissive:
        yield Finding(
            "license.not-permissive",
            f"the source is licensed under {shown} (read from {origin}), which is not permissive",
            where,
            hint="the registry accepts permissive licences only (MIT, Apache-2.0, BSD, ISC, …)",
        )
    if declared and not licenses.equivalent(declared, found):
        both_ok = verdict.permissive and licenses.evaluate(declared).permissive
        yield Finding(
            "license.mismatch",
            f"the submission declares {declared} but the source says {shown} (read from {origin})",
            sub.where("license"),
            severity="warning" if both_ok else "error",
            hint=f"declare the licence the source states: license: {shown}",
        )
