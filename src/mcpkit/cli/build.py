"""``mcpkit build``: a local image for a package server or a folder with a Dockerfile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json
from mcpkit.errors import UsageError
from mcpkit.images.build import BuildRequest, build_image, folder_server_id
from mcpkit.images.records import BuildRecord, load_record, utc_now
from mcpkit.runtime.base import Progress

if TYPE_CHECKING:
    from mcpkit.images.publish import Published
    from mcpkit.trust.keys import SigningKey


def _is_folder(target: str) -> bool:
    # Server ids may contain '/', so only an existing folder or an explicit path counts.
    return (
        target.startswith(("./", "../", "/", "~"))
        or target in (".", "..")
        or (Path(target).is_dir())
    )


@click.command("build")
@click.argument("target", metavar="SERVER|DIR")
@click.option(
    "--base",
    metavar="IMAGE",
    help="Base image (default python:3.12-slim for PyPI, node:22-slim for npm; for a "
    "folder, passed as --build-arg BASE). Never pulled unless --pull.",
)
@click.option("--tag", metavar="NAME:TAG", help="Image tag (default mcpkit/<server>:<version>).")
@click.option(
    "--context",
    "context",
    type=click.Path(path_type=Path),
    help="Build SERVER from this folder's Dockerfile instead of its package.",
)
@click.option(
    "--profile", "-p", default=None, help="Profile to find SERVER in (default: 'default')."
)
@click.option("--rebuild", is_flag=True, help="Build even when the image is up to date.")
@click.option("--pull", is_flag=True, help="Pull the base image first.")
@click.option(
    "--build-network",
    type=click.Choice(["none", "host"]),
    default="none",
    show_default=True,
    help="Network for a Dockerfile folder's steps (host is slower and less reproducible).",
)
@click.option(
    "--push",
    is_flag=True,
    help="Push the image to the registry its --tag names (e.g. 127.0.0.1:5000/mcp/x:1).",
)
@click.option(
    "--sign",
    is_flag=True,
    help="Push, then sign it and attach a signed SLSA provenance and CycloneDX SBOM.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key for --sign (default: the one 'mcpkit trust keygen' made).",
)
@json_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the image tag.")
@pass_app
def command(
    app: App,
    target: str,
    base: str | None,
    tag: str | None,
    context: Path | None,
    profile: str | None,
    rebuild: bool,
    pull: bool,
    build_network: str,
    push: bool,
    sign: bool,
    key_file: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Build a local image for SERVER (a PyPI or npm package server), or for DIR.

    Packages are fetched on the host and the image is built with no network. The
    image is tagged mcpkit/<server>:<version> and recorded, so profiles run it with
    the docker runtime. An up-to-date image is not built again (--rebuild forces it).
    """
    server = target
    if context is None and _is_folder(target):
        context = Path(target)
        server = folder_server_id(context)
        if profile is not None:
            raise UsageError(
                "--profile names where SERVER is found; a folder needs none",
                hint=f"mcpkit build SERVER --context {target}",
            )
    request = BuildRequest(
        server=server,
        profile=profile,
        base=base,
        tag=tag,
        context=context,
        rebuild=rebuild,
        pull=pull,
        build_network=build_network,
    )
    previous = load_record(app.locations.data_dir, server)

    def progress(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    if key_file is not None and not sign:
        raise UsageError("--key is the key --sign uses", hint="add --sign")
    from mcpkit.images.publish import names_registry

    if (push or sign) and (tag is None or not names_registry(tag)):
        raise UsageError(
            f"--push and --sign need a --tag that names a registry, not {tag or 'the default'}",
            hint=f"mcpkit build {target} --tag 127.0.0.1:5000/{server.replace('/', '-')}:TAG "
            + ("--sign" if sign else "--push"),
        )
    key = None
    if sign:
        from mcpkit.cli.trust import passphrase_prompt
        from mcpkit.trust import service

        # Unlock the key first: a wrong passphrase must not cost a build.
        key = service.signing_key(app, key_file, passphrase_prompt())
    started = utc_now()
    record = asyncio.run(build_image(app, request, progress=progress))
    published = None
    if push or sign:
        published = asyncio.run(_publish(app, record, key, started, progress))
    _report(record, previous, published, as_json=as_json, quiet=quiet)


def _report(
    record: BuildRecord,
    previous: BuildRecord | None,
    published: Published | None,
    *,
    as_json: bool,
    quiet: bool,
) -> None:
    if as_json:
        data = record.model_dump(mode="json")
        if published is not None:
            data["pushed"] = str(published.reference)
            data["attached"] = published.attached
        emit_json(data)
        return
    if quiet:
        click.echo(str(published.reference) if published else record.image)
        return
    if record == previous:
        click.echo(f"{record.image} is up to date")
    else:
        what = f" from {record.package} {record.version}" if record.package else ""
        click.echo(f"built {record.image} ({record.image_id[:19]}){what}")
    if published is not None:
        click.echo(f"pushed {published.reference}")
        for where in published.attached:
            click.echo(f"attached {where}")


async def _publish(
    app: App, record: BuildRecord, key: SigningKey | None, started: str, progress: Progress
) -> Published:
    from mcpkit.images.publish import publish
    from mcpkit.runtime.engine import Engine
    from mcpkit.trust import service

    return await publish(
        record,
        engine=Engine.from_environ(app.environ),
        client=service.registry_client(app),
        key=key,
        started=started,
        progress=progress,
    )
