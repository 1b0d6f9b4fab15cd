"""Catalog sources: where catalog documents come from.

=========  ==========================================  ==============================
kind       location                                    "not modified" when
=========  ==========================================  ==============================
file       a YAML/JSON file (ours or Docker's catalog)  the bytes hash as last time
url        an http(s) URL of such a file               304, or same bytes
registry   an MCP Registry (base URL or …/v0/servers)  every page hashes as last time
folder     a docker/mcp-registry checkout              every file hashes as last time
oci        an OCI artifact (``oci://host/repo:tag``)   the manifest digest is unchanged
=========  ==========================================  ==============================
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from mcpkit.catalog.sources.base import CatalogSource, FetchResult, Validators
from mcpkit.catalog.sources.file import FileSource
from mcpkit.catalog.sources.folder import FolderSource, server_files
from mcpkit.catalog.sources.http import UrlSource
from mcpkit.catalog.sources.registry_api import RegistrySource
from mcpkit.errors import UsageError

__all__ = [
    "KINDS",
    "CatalogSource",
    "FetchResult",
    "FileSource",
    "FolderSource",
    "RegistrySource",
    "UrlSource",
    "Validators",
    "guess_kind",
    "make_source",
]

KINDS = ("file", "url", "registry", "folder", "oci")
_REGISTRY_PATH_RE = re.compile(r"/v0(\.\d+)?/servers/?$")


def guess_kind(location: str) -> str:
    """The source kind a location most likely is.

    An http(s) URL whose path ends with ``/v0/servers`` (or ``/v0.1/servers``) is a
    registry, any other http(s) URL a ``url``; a directory holding
    ``servers/*/server.yaml`` is a ``folder``; an existing file a ``file``.
    A bare registry base URL is a ``url`` here: name the kind ``registry`` for it.
    """
    if location.startswith("oci://"):
        return "oci"
    if re.match(r"^https?://", location, re.IGNORECASE):
        try:
            path = httpx.URL(location).path
        except httpx.InvalidURL as exc:
            raise UsageError(f"{location!r} is not a valid URL: {exc}") from exc
        return "registry" if _REGISTRY_PATH_RE.search(path) else "url"
    if "://" in location:
        raise UsageError(
            f"{location!r} uses a scheme mcpkit cannot fetch",
            hint="catalog URLs start with https:// (or http://), OCI artifacts with oci://; "
            "files are given as paths",
        )
    local = Path(location).expanduser()
    if local.is_dir():
        if server_files(local):
            return "folder"
        raise UsageError(
            f"{local} is a folder without servers/<name>/server.yaml",
            hint="give a catalog file, or the root of a docker/mcp-registry checkout",
        )
    if local.is_file():
        return "file"
    raise UsageError(
        f"{location!r} is neither an existing file or folder nor an http(s) URL",
        hint="check the path, or give a URL starting with https://",
    )


def make_source(
    kind: str, location: str, *, client: httpx.Client | None = None, timeout: float = 15.0
) -> CatalogSource:
    """Build the source of ``kind`` for ``location`` (``client`` is used for HTTP kinds)."""
    if kind == "file":
        return FileSource(location)
    if kind == "folder":
        return FolderSource(location)
    if kind == "url":
        return UrlSource(location, client=client, timeout=timeout)
    if kind == "registry":
        return RegistrySource(location, client=client, timeout=timeout)
    if kind == "oci":
        # Unverified: the app's source factory (App.make_source) adds the trust policy.
        import os

        from mcpkit.catalog.sources.oci import OciSource
        from mcpkit.oci.client import RegistryClient

        return OciSource(location, client=lambda: RegistryClient(environ=os.environ))
    raise UsageError(
        f"unknown catalog source kind {kind!r}",
        hint=f"use one of: {', '.join(KINDS)}",
    )
