"""``mcpkit build``: a local image for a package server or a folder with a Dockerfile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from mcpkit.app import App
from mcpkit.cli._options import json_option, pass_app
from mcpkit.cli._render import emit_json
from mcpkit.errors import UsageError
from mcpkit.images.build import BuildRequest, build_image, folder_server_id
from mcpkit.images.records import load_record


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

    record = asyncio.run(build_image(app, request, progress=progress))
    if as_json:
        emit_json(record.model_dump(mode="json"))
    elif quiet:
        click.echo(record.image)
    elif record == previous:
        click.echo(f"{record.image} is up to date")
    else:
        what = f" from {record.package} {record.version}" if record.package else ""
        click.echo(f"built {record.image} ({record.image_id[:19]}){what}")
