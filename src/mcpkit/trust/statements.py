"""in-toto statements about a built image: SLSA provenance and a CycloneDX SBOM.

Both are made from the :class:`~mcpkit.images.records.BuildRecord` that ``mcpkit build``
writes, so they say what the build really installed: the resolved version and the hash of
every artifact, the base image and its id, and the build's input hash.

Sources are named by package URLs (``pkg:pypi/name@version``, ``pkg:npm/%40scope/name@1.0``)
so that a verifier can compare the provenance's source with the source a catalog declares
(:func:`package_purl`, :func:`same_source`). A Dockerfile build's source is its context,
named ``file:sha256:<tree digest>``.

Provenance (predicate :data:`PROVENANCE_PREDICATE`)::

    buildDefinition:
      buildType: https://mcpkit.dev/build/v1
      externalParameters: {source, server, kind, base}
      internalParameters: {engine, inputs}
      resolvedDependencies: [the package's own artifacts, the base image]
    runDetails:
      builder: {id: https://mcpkit.dev/builder/local, version: {mcpkit: <version>}}
      metadata: {invocationId, startedOn, finishedOn}
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from mcpkit import __version__
from mcpkit.errors import InvalidInputError
from mcpkit.images.records import Artifact, BuildRecord
from mcpkit.trust.dsse import STATEMENT_V1

PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v1"
SBOM_PREDICATE = "https://cyclonedx.org/bom"
BUILD_TYPE = "https://mcpkit.dev/build/v1"
BUILDER_ID = "https://mcpkit.dev/builder/local"

_DIGEST_RE = re.compile(r"^sha256:([0-9a-f]{64})$")
_SRI_ALGORITHMS = {
    "sha1": HashAlgorithm.SHA_1,
    "sha256": HashAlgorithm.SHA_256,
    "sha384": HashAlgorithm.SHA_384,
    "sha512": HashAlgorithm.SHA_512,
}


# --- names -----------------------------------------------------------------------------


def package_purl(registry: str, name: str, version: str | None = None) -> str:
    """The package URL of a PyPI or npm package (``pkg:npm/%40scope/name@1.0``)."""
    if registry == "npm" and name.startswith("@") and "/" in name:
        scope, _, short = name.partition("/")
        return PackageURL(type="npm", namespace=scope, name=short, version=version).to_string()
    if registry == "pypi":
        name = _normal(name)  # PEP 503; the purl spec alone would keep dots
    return PackageURL(type=registry, name=name, version=version).to_string()


def source_uri(record: BuildRecord) -> str:
    """What the image was built from: a package URL, or the Dockerfile context's digest."""
    if record.kind == "dockerfile" or not record.package:
        context = next((a.sha256 for a in record.artifacts if a.name == "context"), None)
        return f"file:{context or record.inputs}"
    return package_purl(record.kind, record.package, record.version)


def same_source(declared: str, attested: str) -> bool:
    """Whether an attested source is the declared one.

    Package URLs are compared in canonical form; a declared purl without a version
    (the catalog did not pin one) matches any version of that package.
    """
    if declared == attested:
        return True
    try:
        want = PackageURL.from_string(declared)
        got = PackageURL.from_string(attested)
    except ValueError:
        return False
    if want.version is None:
        got = got._replace(version=None)
    return _canonical(want) == _canonical(got)


def _canonical(purl: PackageURL) -> str:
    if purl.type == "pypi":
        purl = purl._replace(name=_normal(purl.name))
    return str(purl.to_string())


def image_purl(reference: str, version: str | None = None) -> str:
    """The ``pkg:docker`` URL of an image reference; ``version`` overrides its tag/digest."""
    rest, _, digest = reference.partition("@")
    first, slash, remainder = rest.partition("/")
    registry = None
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    tag = None
    last_slash = rest.rfind("/")
    if ":" in rest[last_slash + 1 :]:
        rest, _, tag = rest.rpartition(":")
    namespace, _, name = rest.rpartition("/")
    return PackageURL(
        type="docker",
        namespace=namespace or None,
        name=name,
        version=version or digest or tag,
        qualifiers={"repository_url": registry} if registry else None,
    ).to_string()


def _hex(digest: str, what: str) -> str:
    match = _DIGEST_RE.match(digest)
    if match is None:
        raise InvalidInputError(
            f"{what} {digest!r} is not a sha256 digest",
            hint="give the image's manifest digest, sha256:<64 hex digits>",
        )
    return match.group(1)


def statement(
    subject_name: str, subject_digest: str, predicate_type: str, predicate: dict[str, Any]
) -> dict[str, Any]:
    """An in-toto Statement v1 about one image."""
    return {
        "_type": STATEMENT_V1,
        "subject": [
            {"name": subject_name, "digest": {"sha256": _hex(subject_digest, "the subject")}}
        ],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


# --- artifacts -------------------------------------------------------------------------


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _artifact_package(record: BuildRecord, artifact: Artifact) -> tuple[str, str | None] | None:
    """(name, version) of the package an artifact is, when it is one."""
    filename = artifact.name
    if record.kind == "pypi":
        if filename.endswith(".whl"):
            parts = filename.split("-")
            if len(parts) >= 5:
                return parts[0], parts[1]
        for suffix in (".tar.gz", ".zip"):
            if filename.endswith(suffix):
                name, _, version = filename.removesuffix(suffix).rpartition("-")
                return (name, version) if name else None
        return None
    if record.kind == "npm":
        if filename.endswith(".tgz") and record.package:
            # The tarball `npm pack` fetched for a pinned package is the package itself.
            return record.package, record.version
        name, at, version = filename.rpartition("@")
        if at and name:
            return name, version or None
    return None


def _is_own(record: BuildRecord, package: tuple[str, str | None] | None) -> bool:
    return (
        package is not None
        and record.package is not None
        and _normal(package[0]) == _normal(record.package)
    )


def _sri_hashes(integrity: str | None) -> dict[str, str]:
    """Subresource Integrity strings (``sha512-<base64>``…) as {algorithm: hex}."""
    found: dict[str, str] = {}
    for item in (integrity or "").split():
        algorithm, _, value = item.partition("-")
        if algorithm in _SRI_ALGORITHMS:
            try:
                found[algorithm] = base64.b64decode(value, validate=True).hex()
            except (binascii.Error, ValueError):
                continue
    return found


def _digests(artifact: Artifact) -> dict[str, str]:
    digests = _sri_hashes(artifact.integrity)
    if artifact.sha256 and (match := _DIGEST_RE.match(artifact.sha256)):
        digests["sha256"] = match.group(1)
    return digests


# --- provenance ------------------------------------------------------------------------


def _resolved_dependencies(record: BuildRecord) -> list[dict[str, Any]]:
    deps: list[dict[str, Any]] = []
    for artifact in record.artifacts:
        package = _artifact_package(record, artifact)
        if record.kind == "dockerfile":
            uri = source_uri(record) if artifact.name == "context" else f"file:{artifact.name}"
        elif _is_own(record, package):
            uri = source_uri(record)
        else:
            continue
        deps.append({"uri": uri, "name": artifact.name, "digest": _digests(artifact)})
    if record.base:
        base: dict[str, Any] = {"uri": image_purl(record.base), "name": record.base}
        if match := _DIGEST_RE.match(record.base_id):
            base["digest"] = {"sha256": match.group(1)}
            base["annotations"] = {"digestOf": "image-id"}
        deps.append(base)
    return deps


def provenance_statement(
    subject_name: str,
    subject_digest: str,
    record: BuildRecord,
    *,
    started: str,
    finished: str,
) -> dict[str, Any]:
    """A SLSA provenance v1 statement saying how ``record``'s image was built."""
    invocation = uuid.uuid5(uuid.NAMESPACE_URL, f"{BUILD_TYPE}#{record.inputs}@{started}")
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": source_uri(record),
                "server": record.server,
                "kind": record.kind,
                "base": record.base,
            },
            "internalParameters": {"engine": record.engine, "inputs": record.inputs},
            "resolvedDependencies": _resolved_dependencies(record),
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"mcpkit": __version__}},
            "metadata": {
                "invocationId": f"urn:uuid:{invocation}",
                "startedOn": started,
                "finishedOn": finished,
            },
        },
    }
    return statement(subject_name, subject_digest, PROVENANCE_PREDICATE, predicate)


# --- SBOM ------------------------------------------------------------------------------


def _built_at(record: BuildRecord) -> datetime | None:
    try:
        return datetime.fromisoformat(record.built_at.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _component(record: BuildRecord, artifact: Artifact) -> Component:
    hashes = [
        HashType(alg=_SRI_ALGORITHMS[alg], content=value)
        for alg, value in sorted(_digests(artifact).items())
    ]
    package = _artifact_package(record, artifact)
    if package is None or record.kind not in ("pypi", "npm"):
        return Component(
            name=artifact.name,
            type=ComponentType.FILE,
            hashes=hashes,
            bom_ref=f"file:{artifact.name}",
        )
    name, version = package
    purl = PackageURL.from_string(package_purl(record.kind, name, version))
    group, _, short = name.rpartition("/")  # CycloneDX puts an npm scope in `group`
    return Component(
        name=short,
        group=group or None,
        version=version,
        type=ComponentType.LIBRARY,
        purl=purl,
        hashes=hashes,
        bom_ref=purl.to_string(),
        properties=[Property(name="mcpkit:artifact", value=artifact.name)],
    )


def _merge(into: Component, other: Component) -> None:
    known = {h.alg for h in into.hashes}
    into.hashes.update(h for h in other.hashes if h.alg not in known)
    into.properties.update(other.properties)


def sbom_document(record: BuildRecord) -> dict[str, Any]:
    """A CycloneDX 1.6 SBOM (JSON document) of everything ``record`` says went in."""
    image_properties = [
        Property(name="mcpkit:server", value=record.server),
        Property(name="mcpkit:image-id", value=record.image_id),
    ]
    root = Component(
        name=record.image,
        type=ComponentType.CONTAINER,
        purl=PackageURL.from_string(image_purl(record.image)),
        bom_ref="mcpkit:image",
        properties=image_properties,
    )
    components: dict[str, Component] = {}
    for artifact in record.artifacts:
        component = _component(record, artifact)
        ref = str(component.bom_ref.value)
        if ref in components:
            _merge(components[ref], component)  # an npm tarball and its lock entry
        else:
            components[ref] = component
    if record.base:
        base_hashes = []
        if match := _DIGEST_RE.match(record.base_id):
            base_hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=match.group(1)))
        components["mcpkit:base"] = Component(
            name=record.base,
            type=ComponentType.CONTAINER,
            purl=PackageURL.from_string(image_purl(record.base)),
            bom_ref="mcpkit:base",
            hashes=base_hashes,
            properties=[Property(name="mcpkit:role", value="base image")],
        )
    # Deterministic: the same record gives the same document, byte for byte.
    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"mcpkit-sbom:{record.image_id}"))
    bom.metadata.component = root
    built_at = _built_at(record)
    if built_at is not None:
        bom.metadata.timestamp = built_at
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="mcpkit", version=__version__)
    )
    for component in components.values():
        bom.components.add(component)
    bom.register_dependency(root, components.values())
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    return document


def sbom_statement(subject_name: str, subject_digest: str, record: BuildRecord) -> dict[str, Any]:
    """The SBOM of ``record`` as an in-toto statement about the image."""
    return statement(subject_name, subject_digest, SBOM_PREDICATE, sbom_document(record))
