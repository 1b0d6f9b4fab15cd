"""Provenance and SBOM statements made from build records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from trust_helpers import (
    IMAGE_DIGEST,
    REPOSITORY,
    WHEEL_SHA,
    digest_of,
    dockerfile_record,
    npm_record,
    pypi_record,
)

from mcpkit import __version__
from mcpkit.errors import InvalidInputError
from mcpkit.images.records import BuildRecord
from mcpkit.trust.statements import (
    PROVENANCE_PREDICATE,
    SBOM_PREDICATE,
    image_purl,
    package_purl,
    provenance_statement,
    same_source,
    sbom_document,
    sbom_statement,
    source_uri,
)

HEX = IMAGE_DIGEST.split(":")[1]


def provenance(record: BuildRecord) -> dict[str, Any]:
    return provenance_statement(
        REPOSITORY,
        IMAGE_DIGEST,
        record,
        started="2026-01-02T03:04:00Z",
        finished="2026-01-02T03:04:05Z",
    )


def test_sources_are_package_urls_or_the_context_digest() -> None:
    assert source_uri(pypi_record()) == "pkg:pypi/mcp-server-time@2026.1.0"
    assert source_uri(npm_record()) == "pkg:npm/%40example/server-files@1.2.3"
    assert source_uri(dockerfile_record()) == "file:" + digest_of("context tree")


@pytest.mark.parametrize(
    ("args", "purl"),
    [
        (("pypi", "Mcp_Server.Time", "1.0"), "pkg:pypi/mcp-server-time@1.0"),
        (("npm", "@scope/name", None), "pkg:npm/%40scope/name"),
        (("npm", "plain", "2.0.0"), "pkg:npm/plain@2.0.0"),
    ],
)
def test_package_urls_follow_the_purl_spec(args: tuple[str, str, str | None], purl: str) -> None:
    assert package_purl(*args) == purl


@pytest.mark.parametrize(
    ("declared", "attested", "same"),
    [
        ("pkg:pypi/x@1", "pkg:pypi/x@1", True),
        ("pkg:pypi/X_y@1", "pkg:pypi/x-y@1", True),
        ("pkg:pypi/x", "pkg:pypi/x@1", True),
        ("pkg:pypi/zope.interface@1", "pkg:pypi/zope-interface@1", True),
        ("pkg:pypi/x@2", "pkg:pypi/x@1", False),
        ("pkg:pypi/x@1", "pkg:pypi/y@1", False),
        ("pkg:npm/x@1", "pkg:pypi/x@1", False),
        ("git+https://github.com/o/r@abc", "git+https://github.com/o/r@abc", True),
        ("git+https://github.com/o/r@abc", "git+https://github.com/o/r@abd", False),
    ],
)
def test_sources_compare_as_canonical_package_urls(
    declared: str, attested: str, same: bool
) -> None:
    assert same_source(declared, attested) is same


@pytest.mark.parametrize(
    ("reference", "purl"),
    [
        ("mcpkit-test/base:bookworm", "pkg:docker/mcpkit-test/base@bookworm"),
        ("127.0.0.1:5000/mcp/time:1", "pkg:docker/mcp/time@1?repository_url=127.0.0.1:5000"),
        ("debian", "pkg:docker/debian"),
        (f"ghcr.io/o/r@{IMAGE_DIGEST}", f"pkg:docker/o/r@{IMAGE_DIGEST}?repository_url=ghcr.io"),
    ],
)
def test_image_references_become_docker_package_urls(reference: str, purl: str) -> None:
    assert image_purl(reference) == purl


def test_provenance_is_an_in_toto_v1_statement_about_the_image() -> None:
    statement = provenance(pypi_record())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": REPOSITORY, "digest": {"sha256": HEX}}]
    assert statement["predicateType"] == PROVENANCE_PREDICATE == "https://slsa.dev/provenance/v1"


def test_provenance_says_what_the_build_took_and_who_built_it() -> None:
    record = pypi_record()
    predicate = provenance(record)["predicate"]
    definition = predicate["buildDefinition"]
    assert definition["buildType"] == "https://mcpkit.dev/build/v1"
    assert definition["externalParameters"] == {
        "source": "pkg:pypi/mcp-server-time@2026.1.0",
        "server": record.server,
        "kind": "pypi",
        "base": "mcpkit-test/base:bookworm",
    }
    assert definition["internalParameters"] == {"engine": record.engine, "inputs": record.inputs}
    own, base = definition["resolvedDependencies"]  # the dependency wheel is the SBOM's business
    assert own == {
        "uri": "pkg:pypi/mcp-server-time@2026.1.0",
        "name": "mcp_server_time-2026.1.0-py3-none-any.whl",
        "digest": {"sha256": WHEEL_SHA.split(":")[1]},
    }
    assert base["uri"] == "pkg:docker/mcpkit-test/base@bookworm"
    assert base["digest"] == {"sha256": record.base_id.split(":")[1]}
    run = predicate["runDetails"]
    assert run["builder"] == {
        "id": "https://mcpkit.dev/builder/local",
        "version": {"mcpkit": __version__},
    }
    assert run["metadata"]["startedOn"] == "2026-01-02T03:04:00Z"
    assert run["metadata"]["finishedOn"] == "2026-01-02T03:04:05Z"
    assert run["metadata"]["invocationId"].startswith("urn:uuid:")


def test_npm_provenance_names_the_tarball_and_the_lock_integrity() -> None:
    deps = provenance(npm_record())["predicate"]["buildDefinition"]["resolvedDependencies"]
    own = [d for d in deps if d["uri"] == "pkg:npm/%40example/server-files@1.2.3"]
    assert [d["name"] for d in own] == [
        "example-server-files-1.2.3.tgz",
        "@example/server-files@1.2.3",
    ]
    assert own[0]["digest"] == {"sha256": digest_of("tarball").split(":")[1]}
    assert set(own[1]["digest"]) == {"sha512"}
    assert deps[-1]["uri"] == "pkg:docker/library/node@20-slim?repository_url=docker.io"


def test_dockerfile_provenance_names_the_dockerfile_and_context_and_no_base() -> None:
    definition = provenance(dockerfile_record())["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["source"] == "file:" + digest_of("context tree")
    assert [d["uri"] for d in definition["resolvedDependencies"]] == [
        "file:Dockerfile",
        "file:" + digest_of("context tree"),
    ]


@pytest.mark.parametrize("digest", ["latest", "sha256:abc", "md5:" + "0" * 32])
def test_a_subject_that_is_not_a_digest_is_refused(digest: str) -> None:
    with pytest.raises(InvalidInputError, match="not a sha256 digest") as caught:
        sbom_statement(REPOSITORY, digest, pypi_record())
    assert caught.value.hint


@pytest.mark.parametrize("record", [pypi_record(), npm_record(), dockerfile_record()])
def test_the_sbom_is_valid_cyclonedx_1_6(record: BuildRecord) -> None:
    document = sbom_document(record)
    assert document["specVersion"] == "1.6"
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert errors is None


def test_the_sbom_lists_every_artifact_with_its_purl_version_and_hash() -> None:
    document = sbom_document(pypi_record())
    assert document["metadata"]["component"]["type"] == "container"
    assert document["metadata"]["component"]["name"] == "mcpkit/io.github.example-time:2026.1.0"
    by_purl = {c.get("purl"): c for c in document["components"]}
    own = by_purl["pkg:pypi/mcp-server-time@2026.1.0"]
    assert own["version"] == "2026.1.0"
    assert own["hashes"] == [{"alg": "SHA-256", "content": WHEEL_SHA.split(":")[1]}]
    assert (
        by_purl["pkg:pypi/pydantic@2.9.0"]["hashes"][0]["content"]
        == (digest_of("pydantic").split(":")[1])
    )
    assert by_purl["pkg:docker/mcpkit-test/base@bookworm"]["type"] == "container"
    assert len(document["components"]) == 3


def test_an_npm_sbom_merges_the_tarball_into_its_package_and_keeps_the_scope() -> None:
    document = sbom_document(npm_record())
    own = next(c for c in document["components"] if c.get("group") == "@example")
    assert own["name"] == "server-files"
    assert {h["alg"] for h in own["hashes"]} == {"SHA-256", "SHA-512"}
    assert {c.get("purl") for c in document["components"]} >= {"pkg:npm/zod@3.23.8"}


def test_the_same_record_gives_the_same_sbom() -> None:
    assert sbom_document(npm_record()) == sbom_document(npm_record())


def test_the_sbom_statement_wraps_the_document() -> None:
    statement = sbom_statement(REPOSITORY, IMAGE_DIGEST, pypi_record())
    assert statement["predicateType"] == SBOM_PREDICATE == "https://cyclonedx.org/bom"
    assert statement["predicate"] == sbom_document(pypi_record())
    assert statement["subject"][0]["digest"] == {"sha256": HEX}
