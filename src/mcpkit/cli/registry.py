"""``mcpkit registry``: the gate for catalog submissions (lint, test, catalog)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
import yaml

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json
from mcpkit.errors import SubmissionRejectedError
from mcpkit.settings import atomic_write

if TYPE_CHECKING:
    from mcpkit.registry.findings import Finding
    from mcpkit.registry.report import Report

_path_argument = click.argument(
    "path", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="PATH"
)
_offline_option = click.option(
    "--offline",
    is_flag=True,
    help="Do not fetch the source: the licence is checked as declared only (a warning).",
)


@click.group("registry")
def command() -> None:
    """Check submissions to a server registry (servers/<name>/server.yaml) before they land.

    PATH is one submission folder, or a registry folder holding servers/<name>/.
    Both mcpkit's server.yaml and docker/mcp-registry's are understood.
    """


def _say(line: str) -> None:
    click.echo(line, err=True)


def _root_of(path: Path, folders: list[Path]) -> Path:
    return path if len(folders) > 1 or folders[0] != path else path.parent


@command.command("lint")
@_path_argument
@_offline_option
@click.option("--strict", is_flag=True, help="Warnings reject a submission too.")
@json_option
@pass_app
def lint(app: App, path: Path, offline: bool, strict: bool, as_json: bool) -> None:
    """Check server.yaml (and tools.json, the icon, the source's licence) against the rules."""
    from mcpkit.registry.lint import lint_submission
    from mcpkit.registry.submission import load_submission, submission_folders

    folders = submission_folders(path)
    root = _root_of(path, folders)
    results: list[tuple[str, list[Finding]]] = []
    for folder in folders:
        sub = load_submission(folder, root=root)
        findings = asyncio.run(lint_submission(sub, environ=app.environ, offline=offline))
        results.append((sub.name, findings))
    rejected = [
        name for name, findings in results if any(f.severity == "error" or strict for f in findings)
    ]
    if as_json:
        emit_json(
            [
                {
                    "server": name,
                    "verdict": "rejected" if name in rejected else "accepted",
                    "findings": [f.to_dict() for f in findings],
                }
                for name, findings in results
            ]
        )
    else:
        for name, findings in results:
            for finding in findings:
                click.echo(
                    f"{finding.where}: {finding.severity}[{finding.rule}]: {finding.message}"
                )
                if finding.hint:
                    click.echo(f"  hint: {finding.hint}")
            verdict = "rejected" if name in rejected else "ok"
            errors = sum(f.severity == "error" for f in findings)
            warnings = len(findings) - errors
            click.echo(f"{name}: {verdict} ({errors} errors, {warnings} warnings)")
    if rejected:
        raise SubmissionRejectedError(
            f"{len(rejected)} of {len(results)} submissions failed lint: {', '.join(rejected)}",
            hint="fix each finding above (the rule id names what to change), then lint again",
        )


@command.command("test")
@_path_argument
@click.option(
    "--base",
    metavar="IMAGE",
    help="Base image for package builds (as 'mcpkit build --base'); never pulled.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds for start, initialize, tools and calls (default: the submission's, or 60).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write <name>.json and <name>.md reports into this folder.",
)
@click.option("--markdown", is_flag=True, help="Print the Markdown report(s) on stdout.")
@click.option(
    "--build-network",
    type=click.Choice(["none", "host"]),
    default="none",
    show_default=True,
    help="Network for a git source's Dockerfile steps (most 'RUN pip install' need host); "
    "the server itself always runs with none.",
)
@_offline_option
@json_option
@pass_app
def test(
    app: App,
    path: Path,
    base: str | None,
    timeout: float | None,
    report_dir: Path | None,
    markdown: bool,
    build_network: str,
    offline: bool,
    as_json: bool,
) -> None:
    """Build each submission in an ephemeral container, start it, and check it answers.

    Lint, build from the pinned source, start with the example config and secrets,
    initialize, list tools, run the declared read-only smoke calls, check stdout
    carries only JSON-RPC; the container and image are removed afterwards.
    """
    from mcpkit.registry.harness import test_submission
    from mcpkit.registry.submission import load_submission, submission_folders

    folders = submission_folders(path)
    root = _root_of(path, folders)
    reports: list[Report] = []
    for folder in folders:
        sub = load_submission(folder, root=root)
        _say(f"testing {sub.name}…")
        report = asyncio.run(
            test_submission(
                app,
                sub,
                base=base,
                timeout=timeout,
                offline=offline,
                progress=_say,
                build_network=build_network,
            )
        )
        reports.append(report)
        if report_dir is not None:
            _write_report(report_dir, report)
        if not as_json and not markdown:
            _echo_report(report)
    if as_json:
        emit_json([r.to_dict() for r in reports])
    elif markdown:
        click.echo("\n\n".join(r.to_markdown() for r in reports))
    rejected = [r.server for r in reports if r.verdict != "accepted"]
    if rejected:
        raise SubmissionRejectedError(
            f"{len(rejected)} of {len(reports)} submissions rejected: {', '.join(rejected)}",
            hint="each report lists the failing checks; "
            "fix them and run 'mcpkit registry test' again",
        )


def _write_report(folder: Path, report: Report) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    atomic_write(folder / f"{report.server}.json", data.encode())
    atomic_write(folder / f"{report.server}.md", report.to_markdown().encode())


def _echo_report(report: Report) -> None:
    for check in report.checks:
        line = f"  {check.status:<4}  {check.name:<16} {check.seconds:6.2f}s"
        if check.detail:
            line += f"  {check.detail}"
        click.echo(line)
    if report.tools:
        click.echo(f"  tools: {', '.join(str(t.get('name')) for t in report.tools)}")
    click.echo(f"{report.server}: {report.verdict} ({report.seconds:.1f}s)")
    for reason in report.reasons:
        click.echo(f"  - {reason}")


@command.command("catalog")
@_path_argument
@click.option("--name", default="registry", show_default=True, help="The catalog's name.")
@click.option("--description", default="", help="The catalog's description.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the catalog here (YAML) instead of stdout.",
)
@click.option(
    "--add",
    is_flag=True,
    help="Also store it as custom catalog NAME here, ready for 'mcpkit catalog push NAME REF'.",
)
@click.option(
    "--image-prefix",
    default="mcp",
    show_default=True,
    help="Image repository prefix of servers built from git (<prefix>/<name>).",
)
@click.option("--test", "run_tests", is_flag=True, help="Also test each server (slow).")
@click.option(
    "--reports",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep only servers whose report here (from 'registry test --report') accepted them.",
)
@click.option("--base", metavar="IMAGE", help="Base image for --test package builds.")
@_offline_option
@pass_app
def catalog(
    app: App,
    path: Path,
    name: str,
    description: str,
    output: Path | None,
    add: bool,
    image_prefix: str,
    run_tests: bool,
    reports: Path | None,
    base: str | None,
    offline: bool,
) -> None:
    """Build a catalog of every accepted server under PATH (the rejected are listed)."""
    from mcpkit.registry.catalog import build_catalog

    built = asyncio.run(
        build_catalog(
            app,
            path,
            name=name,
            description=description,
            image_prefix=image_prefix,
            offline=offline,
            test=run_tests,
            reports=reports,
            base=base,
            progress=_say,
        )
    )
    for warning in built.warnings:
        _say(f"warning: {warning}")
    for server, reasons in built.rejected.items():
        _say(f"left out {server}:")
        for reason in reasons:
            _say(f"  - {reason}")
    text = yaml.safe_dump(built.document, sort_keys=False, allow_unicode=True)
    if output is not None:
        atomic_write(output, text.encode())
    elif not add:
        click.echo(text, nl=False)
    if add:
        app.catalog.import_catalog(name, text.encode(), origin=str(path))
    summary = f"catalog {name}: {len(built.accepted)} servers"
    if built.rejected:
        summary += f", {len(built.rejected)} left out"
    if output is not None:
        summary += f", written to {output}"
    if add:
        summary += f"; stored (push it with 'mcpkit catalog push {name} REGISTRY/REPO:TAG --sign')"
    _say(summary)
