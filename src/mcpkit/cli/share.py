"""``profile push|pull`` and ``catalog push|pull``: sharing through OCI registries.

Registered on the ``profile`` and ``catalog`` groups by ``mcpkit.cli.main``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json
from mcpkit.errors import UsageError
from mcpkit.profiles.model import DEFAULT_PROFILE

if TYPE_CHECKING:
    from mcpkit.trust.keys import SigningKey

_KEY_HELP = "Signing key for --sign (default: the one 'mcpkit trust keygen' made)."


def _key(app: App, sign: bool, key_file: Path | None) -> SigningKey | None:
    if key_file is not None and not sign:
        raise UsageError("--key is the key --sign uses", hint="add --sign")
    if not sign:
        return None
    from mcpkit.cli.trust import passphrase_prompt
    from mcpkit.trust import service

    return service.signing_key(app, key_file, passphrase_prompt())


@click.command("push")
@click.argument("name", default=DEFAULT_PROFILE)
@click.argument("ref")
@click.option("--sign", is_flag=True, help="Sign the pushed profile (cosign's format).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), help=_KEY_HELP)
@click.option(
    "--allow-unlocked",
    is_flag=True,
    help="Push even when some images or packages are not pinned (not recommended).",
)
@json_option
@pass_app
def profile_push(
    app: App,
    name: str,
    ref: str,
    sign: bool,
    key_file: Path | None,
    allow_unlocked: bool,
    as_json: bool,
) -> None:
    """Push profile NAME to the registry at REF (e.g. 127.0.0.1:5000/team/dev:v1).

    The profile travels with its lock and the names of the secrets it needs, never
    their values: the pushed bytes are checked against every secret and token set
    here, and a hit refuses the push.
    """
    from mcpkit.oci.reference import Reference
    from mcpkit.profiles.share import push
    from mcpkit.trust.service import registry_client

    key = _key(app, sign, key_file)
    pushed = push(
        app,
        name,
        Reference.parse(ref),
        registry_client(app),
        key=key,
        allow_unlocked=allow_unlocked,
    )
    if as_json:
        emit_json(
            {
                "reference": str(pushed.reference),
                "signature": str(pushed.signed_at) if pushed.signed_at else None,
                "unlocked": pushed.unlocked,
            }
        )
        return
    click.echo(f"pushed profile {name} to {pushed.reference}")
    if pushed.signed_at is not None:
        click.echo(f"signature: {pushed.signed_at}")
    if pushed.unlocked:
        click.echo(f"warning: not locked: {', '.join(pushed.unlocked)}", err=True)


@click.command("pull")
@click.argument("ref")
@click.option("--name", help="Store it under this name instead of the one it carries.")
@click.option("--replace", is_flag=True, help="Overwrite a profile of the same name.")
@click.option(
    "--verify",
    "verify_mode",
    type=click.Choice(["policy", "enforce", "warn", "off"]),
    default="policy",
    show_default=True,
    help="How to treat a missing signature or lock (default: the trust policy's rule).",
)
@json_option
@pass_app
def profile_pull(
    app: App, ref: str, name: str | None, replace: bool, verify_mode: str, as_json: bool
) -> None:
    """Pull a profile (ours, or Docker's MCP Toolkit profile) from the registry at REF.

    Its signature and lock are verified as the trust policy says; then it lists the
    secrets and sign-ins it needs, with the commands that provide them.
    """
    from mcpkit.cli.trust import show_verdict
    from mcpkit.oci.reference import Reference
    from mcpkit.profiles.share import pull
    from mcpkit.trust.artifacts import requirements_for
    from mcpkit.trust.service import registry_client

    reference = Reference.parse(ref)
    needs = requirements_for(app, reference)
    mode = needs.mode if verify_mode == "policy" else verify_mode
    result = pull(
        app,
        reference,
        registry_client(app),
        keys=list(needs.keys),
        mode=mode,  # type: ignore[arg-type]
        name=name,
        replace=replace,
    )
    pulled = result.pulled
    if as_json:
        emit_json(
            {
                "profile": pulled.profile.name,
                "reference": str(result.reference),
                "format": pulled.format,
                "verified": result.verdict.ok if result.verdict.checks else None,
                "checks": [
                    {"name": c.name, "ok": c.ok, "detail": c.detail} for c in result.verdict.checks
                ],
                "secrets": pulled.secrets,
                "authorizations": pulled.authorizations,
                "instructions": pulled.instructions(),
                "warnings": pulled.warnings,
            }
        )
        return
    click.echo(
        f"pulled profile {pulled.profile.name} ({len(pulled.profile.servers)} servers) "
        f"from {result.reference}"
    )
    if result.verdict.checks:
        show_verdict(result.verdict, as_json=False)
        if not result.verdict.ok:
            click.echo(f"warning: stored although verification failed (mode {mode})", err=True)
    for warning in pulled.warnings:
        click.echo(f"warning: {warning}", err=True)
    steps = pulled.instructions()
    if steps:
        click.echo("it needs:")
        for line in steps:
            click.echo(f"  {line}")


@click.command("push")
@click.argument("name")
@click.argument("ref")
@click.option("--sign", is_flag=True, help="Sign the pushed catalog (cosign's format).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path), help=_KEY_HELP)
@json_option
@pass_app
def catalog_push(
    app: App, name: str, ref: str, sign: bool, key_file: Path | None, as_json: bool
) -> None:
    """Push catalog source NAME (or 'all': the effective catalog) to the registry at REF."""
    from mcpkit.catalog.artifact import ANNOTATION_CATALOG_LOCK, catalog_layers
    from mcpkit.catalog.document import parse_catalog
    from mcpkit.oci.reference import Reference
    from mcpkit.profiles.artifact_lock import is_locked
    from mcpkit.profiles.model import Pins
    from mcpkit.trust.registry import sign as sign_ref
    from mcpkit.trust.service import registry_client

    key = _key(app, sign, key_file)
    doc = app.catalog.export(None if name == "all" else name)
    artifact_type, layers, annotations = catalog_layers(doc)
    reference = Reference.parse(ref)
    client = registry_client(app)
    desc = client.push_artifact(
        reference, artifact_type=artifact_type, layers=layers, annotations=annotations
    )
    pinned = reference.with_digest(desc.digest)
    signed = sign_ref(client, pinned, key).stored_at if key is not None else None
    lock = annotations.get(ANNOTATION_CATALOG_LOCK, "")
    servers = parse_catalog(doc, origin=f"catalog {name}").servers
    unpinned = [spec.id for spec in servers if not is_locked(spec, Pins())]
    if as_json:
        emit_json(
            {
                "reference": str(pinned),
                "signature": str(signed) if signed else None,
                "servers": len(servers),
                "lock": lock,
                "unpinned": unpinned,
            }
        )
        return
    click.echo(f"pushed catalog {name} ({len(servers)} servers) to {pinned}")
    if signed is not None:
        click.echo(f"signature: {signed}")
    if unpinned:
        click.echo(
            f"note: not pinned: {', '.join(unpinned)} (they run whatever their tag or "
            "latest version is, until a profile locks them)",
            err=True,
        )


@click.command("pull")
@click.argument("ref")
@click.option("--name", help="Catalog source name (default: the reference's last path part).")
@click.option("--priority", type=int, help="Precedence (higher wins; default: above the others).")
@pass_app
def catalog_pull(app: App, ref: str, name: str | None, priority: int | None) -> None:
    """Add the catalog at REF (ours or Docker's) as a source that 'catalog update' refreshes.

    Its signature is checked as the trust policy says (enforce refuses it).
    """
    import re

    from mcpkit.catalog.sources.oci import SCHEME, strip_scheme
    from mcpkit.oci.reference import Reference

    reference = Reference.parse(strip_scheme(ref))
    if name is None:
        last = reference.repository.rsplit("/", 1)[-1]
        name = re.sub(r"[^a-z0-9_-]+", "-", last.lower()).strip("-_") or "oci"
    outcome = app.catalog.add_source(name, SCHEME + str(reference), kind="oci", priority=priority)
    # fetched: a failed first fetch raised and added nothing
    for warning in outcome.warnings if outcome else []:
        click.echo(f"warning: {warning}", err=True)
    count = outcome.servers if outcome else 0
    click.echo(f"added catalog {name} ({count} servers) from {reference}")
