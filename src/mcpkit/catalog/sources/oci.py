"""A catalog kept as an OCI artifact (``mcpkit catalog push``, or Docker's catalogs).

The location is a reference (``127.0.0.1:5000/team/catalog:v1``, an ``oci://`` prefix
is allowed). A fetch resolves the reference first: the manifest digest is the
validator, so an unchanged catalog costs one HEAD request. A changed one is pulled,
its signature is checked by the ``verify`` hook (the trust policy's rule for the
catalog: ``enforce`` refuses, keeping the previous copy), and it is parsed as ours
or Docker's catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mcpkit.catalog.document import MAX_DOCUMENT_BYTES
from mcpkit.catalog.sources.base import FetchResult, Validators, parsed_result
from mcpkit.oci.client import Manifest, RegistryClient
from mcpkit.oci.reference import Reference

#: Checks a pulled catalog's manifest; raises to refuse it, returns warnings otherwise.
Verifier = Callable[[Reference, Manifest], list[str]]

SCHEME = "oci://"


def strip_scheme(location: str) -> str:
    """The reference part of an ``oci://`` location."""
    return location[len(SCHEME) :] if location.startswith(SCHEME) else location


@dataclass
class OciSource:
    """A catalog artifact in an OCI registry."""

    location: str
    client: Callable[[], RegistryClient]
    verify: Verifier | None = None
    kind: str = "oci"

    def fetch(self, validators: Validators) -> FetchResult:
        """Pull the catalog unless its manifest digest is the one parsed last time."""
        from mcpkit.catalog.artifact import read_catalog_artifact

        ref = Reference.parse(strip_scheme(self.location))
        client = self.client()
        digest = client.resolve(ref).digest
        new = Validators(content_hash=digest)
        if validators.content_hash == digest:
            return FetchResult(document=None, validators=new)
        pinned = ref.with_digest(digest)
        manifest, blobs = client.pull_artifact(pinned, max_size=MAX_DOCUMENT_BYTES)
        warnings = self.verify(ref, manifest) if self.verify is not None else []
        document = read_catalog_artifact(manifest, blobs, origin=str(pinned))
        result = parsed_result(document, new)
        result.warnings.extend(warnings)
        return result
