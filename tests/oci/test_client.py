"""The OCI client against a real registry (distribution 2.8): artifacts, digests, referrers."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from mcpkit.errors import InvalidInputError, RegistryError, UnknownReferenceError
from mcpkit.oci import (
    EMPTY_CONFIG_MEDIA_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    Descriptor,
    Layer,
    Reference,
    RegistryClient,
    fallback_tag,
)
from mcpkit.oci.media import canonical_json, sha256_digest
from registry_helpers import RunningRegistry, require_registry

pytestmark = pytest.mark.usefixtures("_needs_registry")

ART = "application/vnd.mcpkit.test.v1+json"
LAYER = Layer(b'{"hello":"world"}', "application/vnd.mcpkit.test.layer.v1+json", {"k": "v"})


@pytest.fixture(scope="module")
def _needs_registry() -> None:
    require_registry()


def _ref(registry: RunningRegistry, repo: str, tag: str | None = "v1") -> Reference:
    return Reference.parse(registry.reference(repo, tag))


def _push(client: RegistryClient, ref: Reference, **kw: object) -> Descriptor:
    return client.push_artifact(ref, artifact_type=ART, layers=[LAYER], **kw)  # type: ignore[arg-type]


def test_push_and_pull_keep_artifact_type_annotations_subject_and_media_types(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    base = _push(client, _ref(registry, repo_name, "base"))
    second = Layer(b"\x00binary\xff", "application/octet-stream")
    ref = _ref(registry, repo_name)
    desc = client.push_artifact(
        ref,
        artifact_type=ART,
        layers=[LAYER, second],
        annotations={"org.opencontainers.image.title": "t"},
        subject=base,
    )
    manifest, blobs = client.pull_artifact(ref)
    assert manifest.descriptor == desc
    assert desc.media_type == OCI_MANIFEST and desc.artifact_type == ART
    assert manifest.artifact_type == ART
    assert manifest.annotations == {"org.opencontainers.image.title": "t"}
    assert manifest.subject == Descriptor(base.media_type, base.digest, base.size)
    assert [layer.media_type for layer in manifest.layers] == [LAYER.media_type, second.media_type]
    assert manifest.layers[0].annotations == {"k": "v"}
    assert blobs == [LAYER.data, second.data]
    config = manifest.config
    assert config is not None and config.media_type == EMPTY_CONFIG_MEDIA_TYPE
    assert client.get_blob(ref, config) == b"{}"
    assert manifest.raw == canonical_json(manifest.data)


def test_the_same_input_always_gives_the_same_digest(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    first = _push(client, _ref(registry, repo_name, "a"), annotations={"x": "1", "y": "2"})
    again = _push(client, _ref(registry, repo_name, "b"), annotations={"y": "2", "x": "1"})
    by_digest = _push(client, _ref(registry, repo_name, None), annotations={"x": "1", "y": "2"})
    assert first.digest == again.digest == by_digest.digest
    assert sorted(client.tags(_ref(registry, repo_name))) == ["a", "b"]
    manifest = client.get_manifest(_ref(registry, repo_name, None).with_digest(first.digest))
    assert sha256_digest(manifest.raw) == first.digest


def test_a_config_given_replaces_the_empty_config(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    config = Layer(b'{"architecture":"amd64"}', "application/vnd.oci.image.config.v1+json")
    ref = _ref(registry, repo_name)
    _push(client, ref, config=config)
    manifest = client.get_manifest(ref)
    assert manifest.config == Descriptor(config.media_type, sha256_digest(config.data), 24)
    assert manifest.artifact_type == ART


def test_resolve_names_the_manifest_and_an_index_stays_an_index(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    one = _push(client, _ref(registry, repo_name, "one"))
    two = client.push_artifact(
        _ref(registry, repo_name, "two"), artifact_type=ART, layers=[Layer(b"2", "text/plain")]
    )
    assert client.resolve(_ref(registry, repo_name, "one")) == Descriptor(
        OCI_MANIFEST, one.digest, one.size
    )
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {**one.to_dict(), "platform": {"os": "linux", "architecture": "amd64"}},
            {**two.to_dict(), "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    }
    index_ref = _ref(registry, repo_name, "multi")
    pushed = client.put_manifest(index_ref, index, OCI_INDEX)
    resolved = client.resolve(index_ref)
    assert (resolved.media_type, resolved.digest, resolved.size) == (
        OCI_INDEX,
        pushed.digest,
        pushed.size,
    )
    assert client.resolve(index_ref.with_digest(pushed.digest)).digest == pushed.digest
    fetched = client.get_manifest(index_ref)
    assert fetched.is_index and [m.digest for m in fetched.manifests] == [one.digest, two.digest]
    with pytest.raises(InvalidInputError, match="image index"):
        client.pull_artifact(index_ref)


def test_a_blob_tampered_on_the_registry_disk_is_refused(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    # Blobs are shared across repositories: tamper only with content of this test's own.
    content = Layer(f'{{"hello":"{repo_name}"}}'.encode(), LAYER.media_type)
    client.push_artifact(ref, artifact_type=ART, layers=[content])
    layer = client.get_manifest(ref).layers[0]
    path = registry.blob_path(layer.digest)
    original = path.read_bytes()
    path.write_bytes(original.replace(b"hello", b"hallo"))  # same size, other bytes
    try:
        with pytest.raises(RegistryError) as caught:
            client.get_blob(ref, layer)
        assert caught.value.code == "digest-mismatch"
        assert registry.host in caught.value.message and layer.digest in caught.value.message
        with pytest.raises(RegistryError, match="something other than what was asked"):
            client.pull_artifact(ref)
    finally:
        path.write_bytes(original)
    assert client.get_blob(ref, layer) == content.data


def test_a_manifest_tampered_on_disk_is_refused_by_tag_and_by_digest(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    desc = _push(client, ref, annotations={"test": repo_name})
    path = registry.blob_path(desc.digest)
    original = path.read_bytes()
    path.write_bytes(original.replace(b'"k":"v"', b'"k":"w"'))
    try:
        for target in (ref, ref.with_digest(desc.digest)):
            with pytest.raises(RegistryError) as caught:
                client.get_manifest(target)
            assert caught.value.code == "digest-mismatch"
    finally:
        path.write_bytes(original)
    assert client.get_manifest(ref).descriptor.digest == desc.digest


def test_a_blob_larger_than_the_limit_is_not_downloaded(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    _push(client, ref)
    layer = client.get_manifest(ref).layers[0]
    with pytest.raises(RegistryError, match="over the limit of 4"):
        client.get_blob(ref, layer, max_size=4)
    with pytest.raises(RegistryError, match="over the limit"):
        client.pull_artifact(ref, max_size=4)
    lying = Descriptor(layer.media_type, layer.digest, 3)
    with pytest.raises(RegistryError) as caught:
        client.get_blob(ref, lying)
    assert caught.value.code == "digest-mismatch"


def test_referrers_fall_back_to_the_tag_schema(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    image = _push(client, _ref(registry, repo_name))
    other = client.push_artifact(
        _ref(registry, repo_name, "other"), artifact_type=ART, layers=[Layer(b"o", "text/plain")]
    )
    sig_type = "application/vnd.dev.cosign.simplesigning.v1+json"
    sig = client.push_artifact(
        _ref(registry, repo_name, fallback_tag(image.digest, "sig")),
        artifact_type=sig_type,
        layers=[Layer(b"payload", sig_type, {"dev.cosignproject.cosign/signature": "MEUC"})],
        subject=image,
    )
    # Like cosign's own: no subject, an image config; the tag names the digest it belongs to.
    cosign_like = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": client.push_blob(_ref(registry, repo_name), b"{}").to_dict()
        | {"mediaType": "application/vnd.oci.image.config.v1+json"},
        "layers": [],
    }
    att = client.put_manifest(
        _ref(registry, repo_name, fallback_tag(image.digest, "att")), cosign_like, OCI_MANIFEST
    )
    # Under our digest's tag, but its subject is another manifest: not ours.
    client.push_artifact(
        _ref(registry, repo_name, fallback_tag(image.digest, "sbom")),
        artifact_type="application/vnd.cyclonedx+json",
        layers=[Layer(b"{}", "application/vnd.cyclonedx+json")],
        subject=other,
    )
    # A signature of the other manifest.
    other_sig = client.push_artifact(
        _ref(registry, repo_name, fallback_tag(other.digest, "sig")),
        artifact_type=sig_type,
        layers=[Layer(b"other payload", sig_type)],
        subject=other,
    )
    found = client.referrers(_ref(registry, repo_name), image.digest)
    assert {d.digest for d in found} == {sig.digest, att.digest}
    by_digest = {d.digest: d for d in found}
    assert by_digest[sig.digest].artifact_type == sig_type
    assert by_digest[att.digest].artifact_type == "application/vnd.oci.image.config.v1+json"
    only_sigs = client.referrers(_ref(registry, repo_name), image.digest, artifact_type=sig_type)
    assert [d.digest for d in only_sigs] == [sig.digest]
    assert [d.digest for d in client.referrers(_ref(registry, repo_name), other.digest)] == [
        other_sig.digest
    ]
    assert client.referrers(_ref(registry, repo_name), "sha256:" + "1" * 64) == []


def test_referrers_read_an_oci_fallback_index(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    image = _push(client, _ref(registry, repo_name))
    referrer = client.push_artifact(
        _ref(registry, repo_name, None),
        artifact_type="application/vnd.example.sbom",
        layers=[Layer(b"sbom", "text/plain")],
        subject=image,
    )
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [referrer.to_dict()],
    }
    client.put_manifest(_ref(registry, repo_name, fallback_tag(image.digest, "")), index, OCI_INDEX)
    found = client.referrers(_ref(registry, repo_name), image.digest)
    assert found == [referrer]


def test_referrers_of_a_repository_that_does_not_exist_are_none(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    assert client.referrers(_ref(registry, repo_name), "sha256:" + "2" * 64) == []


def test_tags_lists_every_tag_and_an_unknown_repository_is_not_found(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    for tag in ("v1", "v2", "latest"):
        _push(client, _ref(registry, repo_name, tag))
    assert sorted(client.tags(_ref(registry, repo_name))) == ["latest", "v1", "v2"]
    with pytest.raises(UnknownReferenceError) as caught:
        client.tags(_ref(registry, repo_name + "-missing"))
    assert registry.host in caught.value.message


def test_delete_removes_the_manifest(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    keep = client.push_artifact(
        _ref(registry, repo_name, "keep"), artifact_type=ART, layers=[Layer(b"k", "text/plain")]
    )
    _push(client, ref)
    client.delete_manifest(ref)
    with pytest.raises(UnknownReferenceError):
        client.get_manifest(ref)
    assert client.tags(ref) == ["keep"]
    assert client.resolve(_ref(registry, repo_name, "keep")).digest == keep.digest
    with pytest.raises(UnknownReferenceError):
        client.delete_manifest(ref.with_digest("sha256:" + "3" * 64))


def test_what_is_not_there_is_an_unknown_reference(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    _push(client, ref)
    missing = _ref(registry, repo_name, "nope")
    for call in (client.get_manifest, client.resolve, client.pull_artifact):
        with pytest.raises(UnknownReferenceError) as caught:
            call(missing)
        assert str(missing) in caught.value.message and registry.host in caught.value.message
        assert caught.value.hint
    with pytest.raises(UnknownReferenceError):
        client.get_blob(ref, Descriptor("text/plain", "sha256:" + "4" * 64, 1))


def test_a_registry_that_is_not_running_is_a_registry_error_with_a_hint(
    client: RegistryClient,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ref = Reference.parse(f"127.0.0.1:{port}/some/repo:v1")
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(ref)
    assert time.monotonic() - started < 5  # no retry loop with sleeps
    assert caught.value.code == "registry"
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "connection refused" in caught.value.message
    assert caught.value.hint == f"is the registry running at http://127.0.0.1:{port}?"


def _loopback_alias() -> str | None:
    """A host name that resolves to 127.0.0.1 but is not a loopback literal (e.g. the host's)."""
    for name in (socket.gethostname(), "vm", "runsc"):
        try:
            if name and socket.gethostbyname(name) == "127.0.0.1" and name != "localhost":
                return name
        except OSError:
            continue
    return None


def test_tls_failure_hints_at_insecure_and_insecure_hosts_use_plain_http(
    registry: RunningRegistry, client_environ: dict[str, str], repo_name: str
) -> None:
    alias = _loopback_alias()
    if alias is None:
        pytest.skip("no host name resolves to 127.0.0.1 here besides localhost")
    port = registry.host.rsplit(":", 1)[1]
    ref = Reference.parse(f"{alias}:{port}/{repo_name}:v1")
    with RegistryClient(environ=client_environ, timeout=10) as strict:
        with pytest.raises(RegistryError) as caught:
            strict.push_artifact(ref, artifact_type=ART, layers=[LAYER])
        assert "TLS" in caught.value.message and "[registry] insecure" in (caught.value.hint or "")
    with RegistryClient(environ=client_environ, insecure=[f"{alias}:{port}"]) as lenient:
        desc = lenient.push_artifact(ref, artifact_type=ART, layers=[LAYER])
        assert lenient.resolve(ref).digest == desc.digest


def test_bad_arguments_are_refused_before_anything_is_sent(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    with pytest.raises(InvalidInputError, match="not a media type"):
        client.push_artifact(ref, artifact_type="json", layers=[LAYER])
    with pytest.raises(InvalidInputError, match="not a JSON object"):
        client.put_manifest(ref, b"[1]", OCI_MANIFEST)
    wrong = _ref(registry, repo_name, None).with_digest("sha256:" + "5" * 64)
    with pytest.raises(InvalidInputError, match="whose digest is"):
        client.put_manifest(wrong, {"schemaVersion": 2}, OCI_MANIFEST)
    with pytest.raises(InvalidInputError):
        client.referrers(ref, "sha256:short")
    with pytest.raises(UnknownReferenceError):
        client.tags(ref)  # nothing was pushed


def test_put_manifest_sends_bytes_as_they_are(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    ref = _ref(registry, repo_name)
    config = client.push_blob(ref, b"{}")
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": EMPTY_CONFIG_MEDIA_TYPE, "digest": config.digest, "size": 2},
            "layers": [],
        },
        indent=2,
    ).encode()
    desc = client.put_manifest(ref, raw, OCI_MANIFEST)
    assert desc.digest == sha256_digest(raw)
    assert client.get_manifest(ref).raw == raw


def test_a_manifest_over_4_mib_is_refused_before_sending(
    registry: RunningRegistry, client: RegistryClient, repo_name: str
) -> None:
    big = {"schemaVersion": 2, "annotations": {"pad": "x" * (4 << 20)}}
    with pytest.raises(InvalidInputError, match="over the 4194304 limit"):
        client.put_manifest(_ref(registry, repo_name), big, OCI_MANIFEST)


class _ReferrersApi(BaseHTTPRequestHandler):
    """An OCI 1.1 registry's referrers endpoint. distribution 2.8 has none and no newer
    registry is installed here, so this stand-in serves the one answer the branch needs."""

    index: ClassVar[bytes] = b""
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", OCI_INDEX)
        self.send_header("Content-Length", str(len(self.index)))
        self.end_headers()
        self.wfile.write(self.index)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_the_oci_referrers_api_is_used_when_the_registry_has_it(client: RegistryClient) -> None:
    sig = Descriptor(OCI_MANIFEST, "sha256:" + "6" * 64, 100, "application/x-sig", {"a": "b"})
    sbom = Descriptor(OCI_MANIFEST, "sha256:" + "7" * 64, 200, "application/x-sbom")
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [sig.to_dict(), sbom.to_dict()],
    }
    _ReferrersApi.index = json.dumps(body).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReferrersApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ref = Reference.parse(f"127.0.0.1:{server.server_address[1]}/team/image:v1")
        subject = "sha256:" + "8" * 64
        assert client.referrers(ref, subject) == [sig, sbom]
        assert client.referrers(ref, subject, artifact_type="application/x-sig") == [sig]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert _ReferrersApi.paths[-1] == (
        f"/v2/team/image/referrers/{subject}?artifactType=application%2Fx-sig"
    )
