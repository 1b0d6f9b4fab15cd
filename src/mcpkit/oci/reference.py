"""OCI image references, parsed the way docker parses them.

``[registry/]repository[:tag][@digest]``: the first path component is a registry host when
it contains ``.`` or ``:``, is ``localhost``, or has upper-case letters (docker's rule);
otherwise the reference is on Docker Hub, written ``docker.io`` with official images under
``library/``. Repository paths are lower-case; tags follow docker's tag grammar; digests are
``sha256:<64 lower-case hex>``, the only algorithm mcpkit verifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mcpkit.errors import InvalidInputError

#: The canonical name of Docker Hub in references (what ``docker`` prints).
DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io"})

_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_PATH_PART = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ANY_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-zA-Z=_-]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_NAME = 255

_FORM_HINT = (
    "a reference looks like registry.example.com/team/server:1.0, "
    "127.0.0.1:5000/mcp/time@sha256:<64 hex digits>, or mcp/time:latest (Docker Hub)"
)


def _bad(text: str, why: str, hint: str = _FORM_HINT) -> InvalidInputError:
    return InvalidInputError(f"invalid OCI reference {text!r}: {why}", hint=hint)


def _digest_problem(digest: str) -> str | None:
    if _DIGEST.fullmatch(digest):
        return None
    algorithm = digest.split(":", 1)[0]
    if _ANY_DIGEST.fullmatch(digest) and algorithm.lower() != "sha256":
        return f"only sha256 digests are supported, not {algorithm!r}"
    return "a digest is 'sha256:' followed by 64 lower-case hex digits"


def check_digest(digest: str, *, what: str = "digest") -> str:
    """Return ``digest`` when it is ``sha256:<64 lower-case hex>``; raise InvalidInputError."""
    problem = _digest_problem(digest)
    if problem is None:
        return digest
    raise InvalidInputError(
        f"invalid {what} {digest!r}: {problem}",
        hint="copy the digest as the registry printed it, e.g. from `docker inspect` or a push",
    )


def fallback_tag(digest: str, suffix: str) -> str:
    """The tag-schema tag of an artifact attached to ``digest``: ``sha256-<hex>.<suffix>``.

    ``suffix`` is ``sig``, ``att``, ``sbom``…; an empty suffix gives ``sha256-<hex>``, the
    OCI 1.1 fallback tag that holds an index of referrers.
    """
    check_digest(digest)
    base = digest.replace(":", "-", 1)
    suffix = suffix.lstrip(".")
    return f"{base}.{suffix}" if suffix else base


@dataclass(frozen=True)
class Reference:
    """A parsed, canonical OCI reference. Construct with :meth:`parse` (or validated fields)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        text = self.__str__()
        if not _DOMAIN.fullmatch(self.registry):
            raise _bad(text, f"{self.registry!r} is not a registry host[:port]")
        _check_repository(text, self.repository)
        if len(self.name) > _MAX_NAME:
            raise _bad(text, f"the name is longer than {_MAX_NAME} characters")
        if self.tag is not None and not _TAG.fullmatch(self.tag):
            raise _bad(
                text,
                f"{self.tag!r} is not a valid tag (letters, digits, '_', '.', '-'; at most 128, "
                "not starting with '.' or '-')",
            )
        if self.digest is not None:
            check_digest(self.digest)

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``[registry/]repository[:tag][@digest]`` as docker does.

        Raises :class:`InvalidInputError` with a hint when ``text`` is not a reference.
        """
        if not text or text != text.strip() or any(c.isspace() for c in text):
            raise _bad(text, "it is empty or contains whitespace")
        name, at, digest = text.partition("@")
        if at:
            if not digest or "@" in digest:
                raise _bad(text, "expected one '@' followed by a digest")
            problem = _digest_problem(digest)
            if problem is not None:
                raise _bad(text, problem)
        tag: str | None = None
        slash = name.rfind("/")
        colon = name.rfind(":")
        if colon > slash:
            name, tag = name[:colon], name[colon + 1 :]
            if not tag:
                raise _bad(text, "the tag after ':' is empty")
        if not name:
            raise _bad(text, "the repository name is missing")
        registry, repository = _split_domain(name)
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
            if "/" not in repository:
                repository = f"library/{repository}"
        if registry == DOCKER_HUB and _HEX64.fullmatch(repository.removeprefix("library/")):
            raise _bad(text, "a 64-hex-digit string is an image id, not a repository name")
        return cls(registry, repository, tag, digest or None)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> Reference:
        """The same repository (and tag) pinned to ``digest``."""
        return replace(self, digest=check_digest(digest))

    def with_tag(self, tag: str) -> Reference:
        """The same repository at ``tag``, without a digest."""
        return replace(self, tag=tag, digest=None)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first.lower() != first):
        return first, rest
    return DOCKER_HUB, name


def _check_repository(text: str, repository: str) -> None:
    if not repository:
        raise _bad(text, "the repository name is missing")
    if repository.lower() != repository:
        raise _bad(
            text,
            "repository names must be lower-case",
            hint=f"use {repository.lower()!r}; a registry host with capitals needs a '.' or ':'",
        )
    for part in repository.split("/"):
        if not _PATH_PART.fullmatch(part):
            raise _bad(
                text,
                f"{part!r} is not a valid path component (lower-case letters and digits, "
                "separated by '.', '_', '__' or '-')",
            )
