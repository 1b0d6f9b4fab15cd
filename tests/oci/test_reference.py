"""References parse the way docker parses them; bad ones fail with a clear hint."""

from __future__ import annotations

import pytest

from mcpkit.errors import InvalidInputError
from mcpkit.oci import Reference, check_digest, fallback_tag

D = "sha256:" + "ab" * 32
D2 = "sha256:" + "0f" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "canonical"),
    [
        ("mcp/time", "docker.io", "mcp/time", None, None, "docker.io/mcp/time"),
        ("ubuntu", "docker.io", "library/ubuntu", None, None, "docker.io/library/ubuntu"),
        (
            "ubuntu:22.04",
            "docker.io",
            "library/ubuntu",
            "22.04",
            None,
            "docker.io/library/ubuntu:22.04",
        ),
        ("docker.io/ubuntu", "docker.io", "library/ubuntu", None, None, "docker.io/library/ubuntu"),
        ("index.docker.io/mcp/time:1", "docker.io", "mcp/time", "1", None, "docker.io/mcp/time:1"),
        ("ghcr.io/org/team/x:1.0", "ghcr.io", "org/team/x", "1.0", None, None),
        (f"127.0.0.1:5000/mcp/time@{D}", "127.0.0.1:5000", "mcp/time", None, D, None),
        (f"localhost:5000/x:t@{D}", "localhost:5000", "x", "t", D, None),
        ("localhost/x", "localhost", "x", None, None, None),
        ("[::1]:5000/a/b", "[::1]:5000", "a/b", None, None, None),
        ("Registry/x", "Registry", "x", None, None, None),
        (
            "example.com:443/a_b/c-d/e.f__g:T_1",
            "example.com:443",
            "a_b/c-d/e.f__g",
            "T_1",
            None,
            None,
        ),
        ("mcp/time:latest", "docker.io", "mcp/time", "latest", None, "docker.io/mcp/time:latest"),
    ],
)
def test_parse_splits_and_canonicalises_like_docker(
    text: str,
    registry: str,
    repository: str,
    tag: str | None,
    digest: str | None,
    canonical: str | None,
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert str(ref) == (canonical or text)
    assert ref.name == f"{registry}/{repository}"
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (" mcp/time", "whitespace"),
        ("mcp/ti me", "whitespace"),
        ("mcp/Time", "lower-case"),
        ("ghcr.io/Org/x", "lower-case"),
        ("x@sha256:abc", "64 lower-case hex"),
        (f"x@{D.upper()}", "64"),
        ("x@md5:" + "a" * 32, "only sha256"),
        (f"x@{D}@{D}", "one '@'"),
        ("x@", "one '@'"),
        ("x:", "tag after ':' is empty"),
        ("x:-bad", "not a valid tag"),
        ("x:" + "a" * 129, "not a valid tag"),
        ("a//b", "path component"),
        ("/x", "path component"),
        ("x/", "path component"),
        ("bad_host.io:port/x", "registry host"),
        ("a" * 64, "image id"),
        ("example.com/" + "a/" * 130 + "b", "longer than 255"),
    ],
)
def test_bad_references_are_refused_with_a_hint(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Reference.parse(text)
    assert fragment in caught.value.message
    assert caught.value.hint


def test_lower_case_hint_names_the_fixed_repository() -> None:
    with pytest.raises(InvalidInputError) as caught:
        Reference.parse("ghcr.io/Org/x")
    assert "'org/x'" in (caught.value.hint or "")


def test_with_digest_keeps_the_tag_and_with_tag_drops_the_digest() -> None:
    ref = Reference.parse("127.0.0.1:5000/a/b:v1")
    pinned = ref.with_digest(D)
    assert str(pinned) == f"127.0.0.1:5000/a/b:v1@{D}"
    assert str(pinned.with_tag("v2")) == "127.0.0.1:5000/a/b:v2"
    with pytest.raises(InvalidInputError):
        ref.with_digest("sha256:nothex")
    with pytest.raises(InvalidInputError):
        ref.with_tag(".hidden")


def test_constructing_a_reference_directly_is_validated_too() -> None:
    assert str(Reference("ghcr.io", "a/b", "t", D)) == f"ghcr.io/a/b:t@{D}"
    with pytest.raises(InvalidInputError):
        Reference("ghcr.io", "A/b")
    with pytest.raises(InvalidInputError):
        Reference("ghcr.io", "a/b", digest="sha512:" + "a" * 128)


def test_fallback_tags_follow_the_cosign_tag_schema() -> None:
    hexdigest = "ab" * 32
    assert fallback_tag(D, "sig") == f"sha256-{hexdigest}.sig"
    assert fallback_tag(D, ".att") == f"sha256-{hexdigest}.att"
    assert fallback_tag(D, "") == f"sha256-{hexdigest}"
    with pytest.raises(InvalidInputError):
        fallback_tag("sha256:short", "sig")


def test_check_digest_accepts_only_lower_case_sha256() -> None:
    assert check_digest(D2) == D2
    for bad in ("sha256:" + "A" * 64, "sha384:" + "a" * 96, "sha256-" + "a" * 64, ""):
        with pytest.raises(InvalidInputError):
            check_digest(bad)
