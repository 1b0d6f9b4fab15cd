"""OCI distribution: references, and a client for manifests, blobs, artifacts and referrers.

``Reference.parse`` reads references the way docker does; :class:`RegistryClient` pushes and
pulls artifacts with the user's docker credentials, verifying every digest it downloads.
"""

from mcpkit.oci.client import MAX_MANIFEST_SIZE, RegistryClient
from mcpkit.oci.media import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    EMPTY_CONFIG_MEDIA_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Layer,
    Manifest,
)
from mcpkit.oci.reference import Reference, check_digest, fallback_tag

__all__ = [
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "EMPTY_CONFIG_MEDIA_TYPE",
    "MAX_MANIFEST_SIZE",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Layer",
    "Manifest",
    "Reference",
    "RegistryClient",
    "check_digest",
    "fallback_tag",
]
