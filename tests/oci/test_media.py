"""Descriptors and manifests as plain data: JSON forms, fallbacks, canonical bytes."""

from __future__ import annotations

from typing import Any

import pytest

from mcpkit.oci import EMPTY_CONFIG_MEDIA_TYPE, OCI_MANIFEST, Descriptor, Layer, Manifest
from mcpkit.oci.media import canonical_json, image_manifest, sha256_digest

D = "sha256:" + "ab" * 32


def test_a_descriptor_round_trips_through_oci_json() -> None:
    desc = Descriptor("text/plain", D, 3, "application/x-art", {"a": "b"})
    data = desc.to_dict()
    assert data == {
        "mediaType": "text/plain",
        "digest": D,
        "size": 3,
        "artifactType": "application/x-art",
        "annotations": {"a": "b"},
    }
    assert Descriptor.from_dict(data) == desc
    assert Descriptor("text/plain", D, 3).to_dict() == {
        "mediaType": "text/plain",
        "digest": D,
        "size": 3,
    }


@pytest.mark.parametrize(
    "data",
    [
        {"digest": D, "size": 1},
        {"mediaType": "t", "digest": D},
        {"mediaType": "t", "digest": D, "size": -1},
        {"mediaType": "t", "digest": D, "size": True},
        {"mediaType": "t", "digest": D, "size": 1, "artifactType": 5},
        {"mediaType": "t", "digest": D, "size": 1, "annotations": {"a": 1}},
    ],
)
def test_a_malformed_descriptor_is_a_value_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="descriptor"):
        Descriptor.from_dict(data)


def test_artifact_type_falls_back_to_the_config_media_type() -> None:
    config = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 2}
    data = {"schemaVersion": 2, "config": config, "layers": [], "annotations": {"x": "y", "n": 1}}
    manifest = Manifest(Descriptor(OCI_MANIFEST, D, 1), b"", data)
    assert manifest.artifact_type == "application/vnd.oci.image.config.v1+json"
    assert manifest.annotations == {"x": "y"}
    assert manifest.subject is None and manifest.layers == [] and not manifest.is_index
    with_type = Manifest(manifest.descriptor, b"", {**data, "artifactType": "application/x"})
    assert with_type.artifact_type == "application/x"


def test_manifests_serialise_the_same_whatever_the_key_order() -> None:
    layer = Layer(b"data", "text/plain", {"b": "2", "a": "1"})
    config = Layer(b"{}", EMPTY_CONFIG_MEDIA_TYPE).descriptor()
    subject = Descriptor(OCI_MANIFEST, D, 10, "application/x", {"ignored": "yes"})
    one = image_manifest(
        artifact_type="application/x",
        config=config,
        layers=[layer.descriptor()],
        annotations={"z": "1", "y": "2"},
        subject=subject,
    )
    two = image_manifest(
        artifact_type="application/x",
        config=config,
        layers=[Layer(b"data", "text/plain", {"a": "1", "b": "2"}).descriptor()],
        annotations={"y": "2", "z": "1"},
        subject=subject,
    )
    assert canonical_json(one) == canonical_json(two)
    assert one["subject"] == {"mediaType": OCI_MANIFEST, "digest": D, "size": 10}
    assert b" " not in canonical_json(one)
    assert (
        sha256_digest(b"{}")
        == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
