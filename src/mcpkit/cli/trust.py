"""``mcpkit trust``: signing keys, signatures and their verification."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json, table
from mcpkit.errors import ConflictError, SigningKeyError, UsageError, VerificationError

if TYPE_CHECKING:
    from mcpkit.trust.checks import Verdict

# The trust modules (cryptography, cyclonedx, oras) are imported inside the commands:
# every mcpkit command registers this group, and they would slow each start.


def passphrase_prompt(*, confirm: bool = False) -> Callable[[], bytes] | None:
    """A prompt for the signing key's passphrase, when there is a terminal to ask on."""
    if not sys.stdin.isatty():
        return None

    def ask() -> bytes:
        value: str = click.prompt(
            "passphrase of the signing key",
            hide_input=True,
            confirmation_prompt=confirm,
            err=True,
        )
        return value.encode()

    return ask


@click.group("trust")
def command() -> None:
    """Sign images and artifacts, and verify them against the trust policy.

    Signatures use cosign's key-based format, so `cosign verify --key` checks ours and
    mcpkit checks cosign's. The policy is <config dir>/trust.toml.
    """


@command.command("keygen")
@click.option("--force", is_flag=True, help="Replace an existing signing key.")
@pass_app
def keygen(app: App, force: bool) -> None:
    """Create this machine's signing key (ECDSA P-256, encrypted with a passphrase).

    The passphrase comes from MCPKIT_SIGNING_PASSPHRASE (or COSIGN_PASSWORD), else a
    prompt. The public key is also trusted for verification, as 'self'.
    """
    from mcpkit.trust import service
    from mcpkit.trust.keys import PublicKey, passphrase_from_env, write_key_pair

    where = service.paths(app)
    passphrase = passphrase_from_env(app.environ)
    if passphrase is None:
        ask = passphrase_prompt(confirm=True)
        if ask is None:
            raise SigningKeyError(
                "a passphrase is needed to encrypt the signing key",
                hint="set MCPKIT_SIGNING_PASSPHRASE, or run 'mcpkit trust keygen' in a terminal",
            )
        passphrase = ask()
    if where.signing_key.exists() and not force:
        raise ConflictError(
            f"a signing key exists already at {where.signing_key}",
            hint="keep it, or replace it with 'mcpkit trust keygen --force' "
            "(signatures made with the old key stay verifiable with its .pub)",
        )
    private, public = write_key_pair(where.directory, "signing", passphrase, force=force)
    key = PublicKey.from_pem(public.read_bytes(), origin=str(public))
    service.add_trusted_key(app, service.SELF_KEY, key.pem, origin=str(public), replace=True)
    click.echo(f"private key: {private} (encrypted)")
    click.echo(f"public key:  {public}")
    click.echo(f"key id:      {key.keyid}")
    click.echo(
        "share the public key with those who verify your artifacts: "
        "mcpkit trust key add NAME signing.pub (or cosign verify --key signing.pub)"
    )


@command.group("key")
def key() -> None:
    """Public keys trusted for verification (<config dir>/trust/keys)."""


@key.command("ls")
@json_option
@pass_app
def key_ls(app: App, as_json: bool) -> None:
    """Trusted public keys and their ids."""
    from mcpkit.trust import service

    keys = service.trusted_keys(app)
    if as_json:
        emit_json([{"name": n, "keyid": k.keyid} for n, k in keys.items()])
        return
    if not keys:
        click.echo("no trusted keys (add one with 'mcpkit trust key add NAME FILE')")
        return
    table(["NAME", "KEY ID"], [[n, k.keyid] for n, k in keys.items()])


@key.command("add")
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Replace a key of the same name.")
@pass_app
def key_add(app: App, name: str, file: Path, replace: bool) -> None:
    """Trust the public key in FILE under NAME (policy rules refer to keys by name)."""
    from mcpkit.trust import service

    try:
        pem = file.read_bytes()
    except OSError as exc:
        raise SigningKeyError(
            f"cannot read {file}: {exc.strerror or exc}", hint="pass the path of a .pub file"
        ) from exc
    target = service.add_trusted_key(app, name, pem, origin=str(file), replace=replace)
    click.echo(f"trusted {name} ({target})")


@key.command("rm")
@click.argument("name")
@pass_app
def key_rm(app: App, name: str) -> None:
    """Stop trusting the key NAME."""
    from mcpkit.trust import service

    service.remove_trusted_key(app, name)
    click.echo(f"removed trusted key {name}")


@command.command("sign")
@click.argument("ref")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key (default: the one 'mcpkit trust keygen' made).",
)
@click.option(
    "--annotation",
    "-a",
    "annotations",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra claim in the signed payload's 'optional' part (repeatable).",
)
@json_option
@pass_app
def sign(
    app: App, ref: str, key_file: Path | None, annotations: tuple[str, ...], as_json: bool
) -> None:
    """Sign the image or artifact REF in its registry (cosign's .sig layout)."""
    from mcpkit.oci.reference import Reference
    from mcpkit.trust import service
    from mcpkit.trust.registry import sign as sign_ref

    optional: dict[str, Any] = {}
    for item in annotations:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--annotation {item!r} is not KEY=VALUE", hint="-a team=platform")
        optional[name] = value
    reference = Reference.parse(ref)
    signing = service.signing_key(app, key_file, passphrase_prompt())
    signed = sign_ref(service.registry_client(app), reference, signing, optional=optional or None)
    if as_json:
        emit_json(
            {
                "subject": str(signed.subject),
                "signature": str(signed.stored_at),
                "keyid": signing.public.keyid,
            }
        )
        return
    click.echo(f"signed {signed.subject}")
    click.echo(f"signature: {signed.stored_at}")


@command.command("verify")
@click.argument("ref")
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Accept only this public key (repeatable; default: what the policy accepts).",
)
@click.option(
    "--require",
    "required",
    multiple=True,
    type=click.Choice(["provenance", "sbom"]),
    help="Also require this attestation (repeatable; default: what the policy requires).",
)
@click.option(
    "--source",
    metavar="URI",
    help="The source the provenance must name (pkg:pypi/NAME@VERSION, …).",
)
@json_option
@pass_app
def verify(
    app: App,
    ref: str,
    key_files: tuple[Path, ...],
    required: tuple[str, ...],
    source: str | None,
    as_json: bool,
) -> None:
    """Run the checks the gateway runs on REF, and explain each one.

    Without --key/--require the policy decides (the rule matching REF as an image).
    Exits 13 when a check fails.
    """
    from mcpkit.oci.reference import Reference
    from mcpkit.trust import service
    from mcpkit.trust.keys import PublicKey
    from mcpkit.trust.policy import Subject
    from mcpkit.trust.registry import verify as verify_ref

    reference = Reference.parse(ref)
    needs = service.policy(app).requirements(
        Subject(server="", catalog=None, publisher=None, image=ref, package=None)
    )
    keys = (
        [PublicKey.from_pem(f.read_bytes(), origin=str(f)) for f in key_files]
        if key_files
        else list(needs.keys)
    )
    verdict = verify_ref(
        service.registry_client(app),
        reference,
        keys,
        provenance="provenance" in required or (not required and needs.provenance),
        sbom="sbom" in required or (not required and needs.sbom),
        expected_source=source,
    )
    show_verdict(verdict, as_json=as_json, rule=None if key_files else needs.rule)
    if not verdict.ok:
        raise VerificationError(
            f"{ref}: {verdict.summary()}",
            hint="sign it with 'mcpkit trust sign REF', or trust the signer's key "
            "with 'mcpkit trust key add NAME FILE'",
        )


def show_verdict(verdict: Verdict, *, as_json: bool, rule: str | None = None) -> None:
    """Print each check of ``verdict`` (✓/✗ and why)."""
    if as_json:
        emit_json(
            {
                "subject": verdict.subject,
                "ok": verdict.ok,
                "rule": rule,
                "checks": [
                    {"name": c.name, "ok": c.ok, "detail": c.detail} for c in verdict.checks
                ],
            }
        )
        return
    click.echo(verdict.subject + (f" (policy rule: {rule})" if rule else ""))
    for check in verdict.checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"  {mark} {check.name}: {check.detail}")
