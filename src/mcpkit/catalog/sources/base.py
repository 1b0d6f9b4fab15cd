"""The seam every catalog source implements, and what a fetch returns.

A source turns a location (a path, a URL, a registry, a folder) into a
:class:`~mcpkit.catalog.document.CatalogDocument`. ``fetch`` gets what the previous
fetch left (:class:`Validators`) so a source can answer "not modified" cheaply:
HTTP conditional requests, or a hash of the bytes it parsed last time.

Errors, for every source::

    SourceError          the source could not be read, or did not give a YAML/JSON
                         catalog at all (network, HTTP status, missing file, HTML…)
    CatalogFormatError   it gave a catalog, and the catalog is invalid

Either way nothing was changed; the caller keeps the previous copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from mcpkit.catalog.document import CatalogDocument

#: The hint every source error carries, unless a more precise one applies.
SOURCE_HINT = "check the location, or remove the source with 'mcpkit catalog source rm NAME'"


@dataclass(frozen=True)
class Validators:
    """What the previous fetch left, for conditional requests."""

    etag: str | None = None
    last_modified: str | None = None
    #: ``sha256:<hex>`` of the bytes parsed last time.
    content_hash: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one fetch."""

    #: ``None`` when the source has not changed since the validators given to ``fetch``.
    document: CatalogDocument | None
    #: What to pass to the next ``fetch``.
    validators: Validators
    #: Entries skipped or changed, and why.
    warnings: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        """True when the source answered "unchanged"."""
        return self.document is None


@runtime_checkable
class CatalogSource(Protocol):
    """A place catalog documents come from."""

    #: ``"file"``, ``"url"``, ``"registry"`` or ``"folder"``.
    kind: str
    #: The path or URL, as the user gave it.
    location: str

    def fetch(self, validators: Validators) -> FetchResult:
        """Read the source; raise ``SourceError`` or ``CatalogFormatError`` on failure."""
        ...


def content_hash(chunks: Iterable[bytes]) -> str:
    """``sha256:<hex>`` over ``chunks``, each length-prefixed so boundaries count."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "big"))
        digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def parsed_result(document: CatalogDocument, validators: Validators) -> FetchResult:
    """A result for a freshly parsed document, carrying its warnings."""
    return FetchResult(document=document, validators=validators, warnings=list(document.warnings))
