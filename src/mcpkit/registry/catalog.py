"""``mcpkit registry catalog``: a catalog of every accepted server of a registry folder.

Each submission is linted (and, when asked, tested); the ones without an error become
catalog entries, the others are listed with their reasons. A server built from git
becomes an image entry named ``<image prefix>/<name>`` (the image the registry
publishes), with the source its provenance must name; package servers keep their
pinned version and hashes, so a profile made from the catalog is already locked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpkit.app import App
from mcpkit.catalog.document import dump_catalog
from mcpkit.catalog.model import Attestation, ImageSource, ServerSpec
from mcpkit.errors import InvalidInputError
from mcpkit.registry.findings import Finding
from mcpkit.registry.lint import lint_submission
from mcpkit.registry.submission import Submission, load_submission, submission_folders

IMAGE_PREFIX_DEFAULT = "mcp"


@dataclass
class CatalogBuild:
    """The catalog document and what happened to each submission."""

    document: dict[str, Any]
    accepted: list[str] = field(default_factory=list)
    #: name → the reasons it was left out.
    rejected: dict[str, list[str]] = field(default_factory=dict)
    #: Warnings of accepted servers, ``name: rule: message``.
    warnings: list[str] = field(default_factory=list)


def catalog_spec(sub: Submission, *, image_prefix: str = IMAGE_PREFIX_DEFAULT) -> ServerSpec:
    """The catalog entry of an accepted submission."""
    if sub.spec is None:
        raise InvalidInputError(
            f"{sub.folder} has no usable server spec",
            hint=f"mcpkit registry lint {sub.folder}",
        )
    spec = sub.spec
    if sub.git is not None:
        prefix = image_prefix.rstrip("/")
        image = f"{prefix}/{sub.name}" if prefix else sub.name
        command = spec.source.command if isinstance(spec.source, ImageSource) else []
        attestation = spec.attestation or Attestation()
        source = f"git+{sub.git.url}@{sub.git.commit}"
        spec = spec.model_copy(
            update={
                "source": ImageSource(image=image, command=command),
                "attestation": attestation.model_copy(update={"source": source}),
            }
        )
    return spec


async def build_catalog(
    app: App,
    path: Path,
    *,
    name: str,
    description: str = "",
    image_prefix: str = IMAGE_PREFIX_DEFAULT,
    offline: bool = False,
    test: bool = False,
    reports: Path | None = None,
    base: str | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the submission test's own limit
    progress: Callable[[str], None] | None = None,
) -> CatalogBuild:
    """Lint every submission under ``path`` and collect the accepted ones.

    With ``test`` each is also tested; with ``reports``, the reports a ``registry test
    --report`` run wrote there decide instead (a server without one is left out).
    """
    folders = submission_folders(path)
    root = path if len(folders) > 1 or folders[0] != path else path.parent
    specs: list[ServerSpec] = []
    result = CatalogBuild(document={})
    for folder in folders:
        sub = load_submission(folder, root=root)
        if progress is not None:
            progress(f"checking {sub.name}…")
        findings = await lint_submission(sub, environ=app.environ, offline=offline)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            result.rejected[sub.name] = [_reason(f) for f in errors]
            continue
        if reports is not None:
            verdict = report_verdict(reports, sub.name)
            if verdict:
                result.rejected[sub.name] = verdict
                continue
        if test:
            from mcpkit.registry.harness import test_submission

            report = await test_submission(
                app, sub, base=base, timeout=timeout, offline=offline, progress=progress
            )
            if report.verdict != "accepted":
                result.rejected[sub.name] = list(report.reasons)
                continue
        result.warnings += [f"{sub.name}: {_reason(f)}" for f in findings]
        specs.append(catalog_spec(sub, image_prefix=image_prefix))
        result.accepted.append(sub.name)
    result.document = dump_catalog(name, description, specs)
    return result


def _reason(finding: Finding) -> str:
    return f"{finding.rule}: {finding.message} ({finding.where})"


def report_verdict(folder: Path, server: str) -> list[str]:
    """Why ``server`` is left out by its report in ``folder`` (empty when it was accepted)."""
    path = folder / f"{server}.json"
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return [f"no test report {path} (run 'mcpkit registry test PATH --report {folder}')"]
    except (OSError, ValueError) as exc:
        return [f"unreadable test report {path}: {exc}"]
    if not isinstance(data, dict) or data.get("server") != server:
        return [f"{path} is not the test report of {server}"]
    if data.get("verdict") == "accepted":
        return []
    reasons = data.get("reasons")
    return [str(r) for r in reasons] if isinstance(reasons, list) and reasons else ["rejected"]
