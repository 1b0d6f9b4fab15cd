"""``mcpkit profile lock`` and ``mcpkit profile diff``: approve a profile's tools, see changes.

Both start the profile's servers the way ``mcpkit tools ls`` does (one gateway, every
server at once) and read each server's fresh tool list, never the on-disk list cache.
``lock`` also pins images by digest and packages by version and hash.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from mcpkit.app import App
from mcpkit.cli._options import (
    allow_insecure_remote_option,
    allow_unsandboxed_option,
    json_option,
    pass_app,
)
from mcpkit.cli._render import emit_json
from mcpkit.errors import ServerError, UnknownServerError, VerificationError
from mcpkit.gateway.build import build_gateway, run_options
from mcpkit.gateway.core import approve_command, review_command
from mcpkit.gateway.slot import ServerSlot
from mcpkit.gateway.upstream import UpstreamError
from mcpkit.profiles.model import DEFAULT_PROFILE, Profile
from mcpkit.profiles.toolpins import PinReport, compare, definition_diff, named_tools


@dataclass
class Observed:
    """One server's fresh tool list, or why it could not be had."""

    server: str
    tools: list[dict[str, Any]] | None = None
    error: str | None = None


@dataclass
class ServerOutcome:
    """What ``lock`` or ``diff`` found for one server."""

    server: str
    status: str
    report: PinReport = field(default_factory=PinReport)
    tools: int = 0
    error: str | None = None
    diffs: dict[str, list[str]] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        data: dict[str, Any] = {"status": self.status, "tools": self.tools}
        data.update(self.report.to_data())
        if self.error:
            data["error"] = self.error
        if self.diffs:
            data["diffs"] = {name: "\n".join(lines) for name, lines in self.diffs.items()}
        return data


_start_options = [
    click.option("--server", "-s", "servers", multiple=True, help="Only this server (repeatable)."),
    allow_unsandboxed_option,
    allow_insecure_remote_option,
]


def _with_start_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_start_options):
        func = option(func)
    return func


@click.command("lock")
@click.argument("name", default=DEFAULT_PROFILE)
@_with_start_options
@click.option("--update", is_flag=True, help="Re-approve what changed since the last lock.")
@json_option
@pass_app
def lock(
    app: App,
    name: str,
    servers: tuple[str, ...],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
    update: bool,
    as_json: bool,
) -> None:
    """Pin a profile: every tool's definition hash, image digests, package hashes.

    A server with no pins gets them recorded. A server whose tools changed since they
    were approved is reported and left as it was, unless --update re-approves it.
    """
    from mcpkit.profiles.artifact_lock import lock_artifacts

    stored = _selected(app, name, servers)
    selected = list(servers) or None
    profile, artifacts = asyncio.run(lock_artifacts(app, stored, update=update, servers=selected))
    for server, before in zip(profile.servers, stored.servers, strict=True):
        if server.pins != before.pins:
            app.profiles.set_artifact_pins(name, server.id, server.pins)
    observed = _observe(app, name, servers, allow_unsandboxed, allow_insecure_remote)
    outcomes = [_lock_one(app, profile, seen, update=update) for seen in observed]
    if as_json:
        emit_json(
            {
                "profile": name,
                "servers": {o.server: o.to_data() for o in outcomes},
                "artifacts": [dataclasses.asdict(change) for change in artifacts],
            }
        )
    else:
        for change in artifacts:
            click.echo(f"{change.server}: {change.what} {change.action}: {_pair(change)}")
            if change.action == "refused" and change.detail:
                click.echo(f"  {change.detail}")
        for outcome in outcomes:
            _print_lock(name, outcome)
    refused = [o.server for o in outcomes if o.status == "refused"]
    refused_artifacts = sorted({c.server for c in artifacts if c.action == "refused"})
    if refused or refused_artifacts:
        what = (
            f"the tools of {', '.join(refused)} changed since they were approved"
            if refused
            else f"the image or package of {', '.join(refused_artifacts)} changed"
        )
        first = (refused or refused_artifacts)[0]
        message = f"profile {name!r}: {what}; their pins were left as they were"
        if refused:
            raise VerificationError(
                message,
                hint=f"review with '{review_command(name, first)}', then re-approve with "
                f"'{approve_command(name, first)}'",
                code="tool-changed",
            )
        raise VerificationError(
            message, hint=f"if the change is expected: '{approve_command(name, first)}'"
        )
    _raise_failed(name, outcomes, "the other servers were locked")


@click.command("diff")
@click.argument("name", default=DEFAULT_PROFILE)
@_with_start_options
@json_option
@pass_app
def diff(
    app: App,
    name: str,
    servers: tuple[str, ...],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
    as_json: bool,
) -> None:
    """Show how each server's tools differ from the approved ones.

    Exits 0 when nothing changed and 1 when something did (a changed, new or removed
    tool, or a server with no pins yet), like 'git diff --exit-code'; 10 when a server
    could not be started.
    """
    profile = _selected(app, name, servers)
    observed = _observe(app, name, servers, allow_unsandboxed, allow_insecure_remote)
    outcomes = [_diff_one(app, profile, seen) for seen in observed]
    changed = any(o.status in ("changed", "unpinned") for o in outcomes)
    if as_json:
        emit_json(
            {
                "profile": name,
                "changed": changed,
                "servers": {o.server: o.to_data() for o in outcomes},
            }
        )
    else:
        for outcome in outcomes:
            _print_diff(name, outcome)
    _raise_failed(name, outcomes, "the other servers were compared")
    if changed:
        raise click.exceptions.Exit(1)


# -- starting the servers ----------------------------------------------------------------


def _selected(app: App, name: str, servers: Sequence[str]) -> Profile:
    """The profile, once every ``--server`` is known to be in it (before anything starts)."""
    profile = app.profiles.get(name)
    unknown = [s for s in servers if profile.server(s) is None]
    if unknown:
        raise UnknownServerError(
            f"profile {name!r} has no server {unknown[0]!r}",
            hint=f"see its servers with 'mcpkit profile show {name}'",
        )
    return profile


def _observe(
    app: App,
    name: str,
    servers: Sequence[str],
    allow_unsandboxed: bool | None,
    allow_insecure_remote: bool | None,
) -> list[Observed]:
    """Start the servers through a gateway and read each one's fresh tool list."""
    opts = run_options(
        app,
        profile=name,
        servers=list(servers),
        allow_unsandboxed=allow_unsandboxed,
        allow_insecure_remote=allow_insecure_remote,
        tool_pinning=False,
    )
    gateway = build_gateway(
        app, opts, progress=lambda line: click.echo(f"mcpkit: {line}", err=True)
    )

    async def one(slot: ServerSlot) -> Observed:
        try:
            await slot.connect(None)
        except UpstreamError as exc:
            return Observed(slot.id, error=slot.error or exc.message)
        if slot.lists is None or slot.lists_from_cache:
            return Observed(slot.id, error=slot.error or "its tools could not be listed")
        return Observed(slot.id, tools=list(slot.lists.tools))

    async def go() -> list[Observed]:
        try:
            return list(await asyncio.gather(*(one(s) for s in gateway.slots.values())))
        finally:
            await gateway.aclose()

    return asyncio.run(go())


def _raise_failed(name: str, outcomes: Sequence[ServerOutcome], others: str) -> None:
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        names = ", ".join(o.server for o in failed)
        raise ServerError(
            f"profile {name!r}: {names} could not be started ({failed[0].error}); {others}",
            hint=f"see 'mcpkit tools ls --profile {name}' and 'mcpkit doctor'",
        )


# -- lock --------------------------------------------------------------------------------


def _lock_one(app: App, profile: Profile, seen: Observed, *, update: bool) -> ServerOutcome:
    if seen.tools is None:
        return ServerOutcome(seen.server, "failed", error=seen.error)
    entry = profile.server(seen.server)
    pins = entry.pins.tools if entry is not None else {}
    report = compare(pins, seen.tools)
    count = len(named_tools(seen.tools))
    if not pins:
        status, replace = "pinned", True
    elif report.approved:
        # Nothing to approve; definitions are (re)stored for pins that carried only hashes.
        status, replace = "unchanged", False
    elif update:
        status, replace = "updated", True
    else:
        return ServerOutcome(seen.server, "refused", report, count)
    app.profiles.record_tool_pins(profile.name, seen.server, seen.tools, replace=replace)
    return ServerOutcome(seen.server, status, report, count)


def _print_lock(profile: str, outcome: ServerOutcome) -> None:
    sid, report = outcome.server, outcome.report
    if outcome.status == "failed":
        click.echo(f"{sid}: not locked: {outcome.error}", err=True)
    elif outcome.status == "pinned":
        click.echo(f"{sid}: {outcome.tools} tools pinned")
    elif outcome.status == "unchanged":
        gone = f"; no longer offered: {', '.join(report.removed)}" if report.removed else ""
        click.echo(f"{sid}: {outcome.tools} tools unchanged{gone}")
    elif outcome.status == "updated":
        click.echo(f"{sid}: {outcome.tools} tools re-approved ({_summary(report)})")
    else:
        click.echo(f"{sid}: tools changed since approval, not re-approved ({_summary(report)})")
        click.echo(f"  review: {review_command(profile, sid)}")
        click.echo(f"  approve: {approve_command(profile, sid)}")


def _pair(change: Any) -> str:
    if change.old and change.new and change.old != change.new:
        return f"{change.old} -> {change.new}"
    return str(change.new or change.old or "-")


# -- diff --------------------------------------------------------------------------------


def _diff_one(app: App, profile: Profile, seen: Observed) -> ServerOutcome:
    if seen.tools is None:
        return ServerOutcome(seen.server, "failed", error=seen.error)
    entry = profile.server(seen.server)
    pins = entry.pins.tools if entry is not None else {}
    current = named_tools(seen.tools)
    if not pins:
        return ServerOutcome(seen.server, "unpinned", PinReport(added=tuple(sorted(current))))
    report = compare(pins, seen.tools)
    outcome = ServerOutcome(seen.server, "unchanged" if report.clean else "changed", report)
    outcome.tools = len(current)
    approved = app.profiles.approved_tools(profile.name, seen.server) if not report.clean else {}
    for name in (*report.changed, *report.added, *report.removed):
        before = approved.get(name)
        lines = definition_diff(name, before, current.get(name))
        if before is None and name in pins:
            lines.insert(
                0,
                f"# the approved definition of {name!r} is not stored here (pins imported "
                f"from elsewhere keep only its hash, {pins[name]})",
            )
        outcome.diffs[name] = lines
    return outcome


def _print_diff(profile: str, outcome: ServerOutcome) -> None:
    sid, report = outcome.server, outcome.report
    if outcome.status == "failed":
        click.echo(f"{sid}: not compared: {outcome.error}", err=True)
        return
    if outcome.status == "unpinned":
        click.echo(
            f"{sid}: no tool pins yet ({len(report.added)} tools); "
            f"pin them with 'mcpkit profile lock {profile} --server {sid}'"
        )
        return
    if outcome.status == "unchanged":
        click.echo(f"{sid}: {outcome.tools} tools unchanged")
        return
    click.echo(f"{sid}: {_summary(report)}")
    for kind, names in (("changed", report.changed), ("new", report.added)):
        for name in names:
            click.echo(f"{kind}: {name}")
            for line in outcome.diffs.get(name, []):
                click.echo(line)
    for name in report.removed:
        click.echo(f"removed: {name}")
        for line in outcome.diffs.get(name, []):
            click.echo(line)
    click.echo(f"  approve: {approve_command(profile, sid)}")


def _summary(report: PinReport) -> str:
    parts = [
        f"{len(names)} {label}"
        for label, names in (
            ("changed", report.changed),
            ("new", report.added),
            ("removed", report.removed),
        )
        if names
    ]
    return ", ".join(parts) or "no change"
