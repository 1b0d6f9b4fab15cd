"""Pure checks of already-fetched signatures and attestations against a policy's needs.

Each check returns a :class:`Check` whose ``detail`` says what was found in words a user
can act on; nothing here raises on bad material or does I/O. A malformed signature or
envelope is a failed check that carries the reason. The caller (registry fetch, gateway,
``trust verify``) gathers the checks of one image into a :class:`Verdict`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcpkit.errors import VerificationError
from mcpkit.trust.dsse import open_envelope
from mcpkit.trust.keys import PublicKey
from mcpkit.trust.simplesign import parse_payload
from mcpkit.trust.statements import PROVENANCE_PREDICATE, SBOM_PREDICATE, same_source

SBOM_PREDICATES = frozenset(
    {SBOM_PREDICATE, "https://spdx.dev/Document", "https://spdx.dev/Document/v2.3"}
)
_DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class Check:
    """One verified (or failed) property of an image."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """Every check of one subject (an image reference)."""

    subject: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Whether every check passed (true when nothing was required)."""
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        """The checks that failed, in order."""
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        """One line: what was verified, or what failed and why."""
        if not self.checks:
            return f"{self.subject}: nothing to verify"
        failed = self.failures()
        if not failed:
            return f"{self.subject}: verified ({', '.join(c.name for c in self.checks)})"
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        return f"{self.subject}: {len(failed)} of {len(self.checks)} checks failed: {reasons}"


def short_digest(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits, for messages."""
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:12]}…" if hex_part else digest[:19]


def repository_name(reference: str) -> str:
    """``registry/repository`` of an image reference, Docker Hub names made canonical.

    cosign records the repository as its registry spells it (``index.docker.io/library/x``);
    comparing canonical forms keeps such spellings equal.
    """
    name = reference.partition("@")[0]
    slash = name.rfind("/")
    if ":" in name[slash + 1 :]:
        name = name.rpartition(":")[0]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first.lower(), rest
    else:
        registry, repository = "docker.io", name
    if registry in _DOCKER_HUB:
        registry = "docker.io"
        if "/" not in repository:
            repository = f"library/{repository}"
    return f"{registry}/{repository}"


def _keys_text(keys: Sequence[PublicKey]) -> str:
    return ", ".join(k.short_id for k in keys)


# --- signatures ------------------------------------------------------------------------


def check_signatures(
    signatures: Sequence[tuple[bytes, str]],
    keys: Sequence[PublicKey],
    *,
    digest: str,
    reference: str,
) -> Check:
    """Whether one of the (payload, base64 signature) pairs is a valid signature of the image.

    It must verify with an accepted key *and* its payload must name ``digest`` and the
    repository of ``reference`` (so a signature cannot be replayed for another image).
    """
    name = "signature"
    if not keys:
        return Check(name, False, "no key is accepted for this image; add one to the trust policy")
    if not signatures:
        return Check(name, False, f"not signed: no signature found for {short_digest(digest)}")
    wanted = repository_name(reference)
    mismatches: list[str] = []
    malformed: list[str] = []
    for index, (payload, encoded) in enumerate(signatures, 1):
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            malformed.append(f"signature {index} is not base64")
            continue
        key = next((k for k in keys if k.verify(signature, payload)), None)
        if key is None:
            continue
        try:
            signed = parse_payload(payload)
        except VerificationError as exc:
            mismatches.append(f"signature {index} by {key.short_id}: {exc.message}")
            continue
        if signed.manifest_digest != digest:
            mismatches.append(
                f"signature is for {short_digest(signed.manifest_digest)} "
                f"not {short_digest(digest)}"
            )
        elif repository_name(signed.docker_reference) != wanted:
            mismatches.append(
                f"signature is for the repository {signed.docker_reference}, not {wanted}"
            )
        else:
            return Check(name, True, f"signed by {key.short_id} for {wanted}")
    if mismatches:
        detail = "; ".join(mismatches)
    else:
        detail = (
            f"no signature by an accepted key ({len(signatures)} signature"
            f"{'s' if len(signatures) != 1 else ''}, accepted keys: {_keys_text(keys)})"
        )
    if malformed:
        detail += f"; {'; '.join(malformed)}"
    return Check(name, False, detail)


# --- attestations ----------------------------------------------------------------------


def _subject_digests(statement: dict[str, Any]) -> list[str]:
    found = []
    for subject in statement.get("subject") or []:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict) and isinstance(digests.get("sha256"), str):
            found.append(f"sha256:{digests['sha256']}")
    return found


@dataclass
class _Opened:
    statements: list[tuple[dict[str, Any], PublicKey]]
    rejected: list[str]
    other_images: list[str]
    total: int

    def of_type(self, types: frozenset[str]) -> list[tuple[dict[str, Any], PublicKey]]:
        return [(s, k) for s, k in self.statements if s.get("predicateType") in types]

    def context(self) -> str:
        if not self.total:
            return "no attestations found"
        notes = list(dict.fromkeys(self.rejected))
        if self.other_images:
            others = ", ".join(short_digest(d) for d in dict.fromkeys(self.other_images))
            notes.append(f"attestation subject is another image ({others})")
        head = f"{self.total} attestation{'s' if self.total != 1 else ''}"
        return f"{head}: {'; '.join(notes)}" if notes else head


def _open_all(envelopes: Sequence[bytes], keys: Sequence[PublicKey], digest: str) -> _Opened:
    opened = _Opened(statements=[], rejected=[], other_images=[], total=len(envelopes))
    for envelope in envelopes:
        try:
            statement, key = open_envelope(envelope, keys)
        except VerificationError as exc:
            opened.rejected.append(exc.message)
            continue
        subjects = _subject_digests(statement)
        if digest in subjects:
            opened.statements.append((statement, key))
        else:
            opened.other_images.extend(subjects or ["none"])
    return opened


def _provenance_sources(predicate: object) -> list[str]:
    if not isinstance(predicate, dict):
        return []
    definition = predicate.get("buildDefinition")
    if not isinstance(definition, dict):
        return []
    sources = []
    external = definition.get("externalParameters")
    if isinstance(external, dict) and isinstance(external.get("source"), str):
        sources.append(external["source"])
    for dependency in definition.get("resolvedDependencies") or []:
        if isinstance(dependency, dict) and isinstance(dependency.get("uri"), str):
            sources.append(dependency["uri"])
    return sources


def _provenance_hashes(predicate: object) -> set[str]:
    definition = predicate.get("buildDefinition") if isinstance(predicate, dict) else None
    found = set()
    if isinstance(definition, dict):
        for dependency in definition.get("resolvedDependencies") or []:
            digests = dependency.get("digest") if isinstance(dependency, dict) else None
            if isinstance(digests, dict):
                found |= {f"{alg}:{value}" for alg, value in digests.items()}
    return found


def _source_checks(
    provenances: list[tuple[dict[str, Any], PublicKey]],
    expected_source: str | None,
    expected_hashes: Sequence[str],
) -> list[Check]:
    checks = []
    predicates = [s.get("predicate") for s, _ in provenances]
    if expected_source is not None:
        attested = [src for p in predicates for src in _provenance_sources(p)]
        if not provenances:
            checks.append(
                Check("source", False, f"no provenance to compare with {expected_source}")
            )
        elif any(same_source(expected_source, src) for src in attested):
            checks.append(Check("source", True, f"built from {expected_source}"))
        elif attested:
            checks.append(
                Check(
                    "source",
                    False,
                    f"provenance source {attested[0]} does not match the catalog's "
                    f"{expected_source}",
                )
            )
        else:
            checks.append(Check("source", False, "the provenance names no source"))
    if expected_hashes:
        hashes = set().union(*(_provenance_hashes(p) for p in predicates)) if predicates else set()
        pinned = ", ".join(short_digest(h) for h in expected_hashes)
        if hashes & set(expected_hashes):
            checks.append(Check("hashes", True, "the provenance names a pinned artifact"))
        elif not provenances:
            checks.append(Check("hashes", False, f"no provenance to compare with {pinned}"))
        else:
            checks.append(
                Check(
                    "hashes",
                    False,
                    f"the provenance's artifacts include none of the pinned hashes ({pinned})",
                )
            )
    return checks


def _sbom_detail(statement: dict[str, Any], key: PublicKey) -> str | None:
    """A description of a usable SBOM, or None when its predicate is not one."""
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        return None
    if statement.get("predicateType") == SBOM_PREDICATE:
        if predicate.get("bomFormat") != "CycloneDX":
            return None
        count = len(predicate.get("components") or [])
        version = predicate.get("specVersion", "?")
        return f"CycloneDX {version} SBOM of {count} components, signed by {key.short_id}"
    return f"SPDX SBOM, signed by {key.short_id}"


def check_attestations(
    envelopes: Sequence[bytes],
    keys: Sequence[PublicKey],
    *,
    digest: str,
    provenance: bool,
    sbom: bool,
    expected_source: str | None,
    expected_hashes: Sequence[str] = (),
) -> list[Check]:
    """Checks of the image's attestations: the required ones, each found and matching.

    ``provenance`` and ``sbom`` say which are required; ``expected_source`` (a package
    URL, or None not to compare) must match the provenance's source, and one of
    ``expected_hashes`` (``sha256:…``) must be among its resolved artifacts.
    """
    opened = _open_all(envelopes, keys, digest)
    checks: list[Check] = []
    provenances = opened.of_type(frozenset({PROVENANCE_PREDICATE}))
    if provenance:
        if provenances:
            statement, key = provenances[0]
            predicate = statement.get("predicate")
            builder = "an unknown builder"
            if isinstance(predicate, dict):
                details = predicate.get("runDetails")
                if isinstance(details, dict) and isinstance(details.get("builder"), dict):
                    builder = str(details["builder"].get("id", builder))
            checks.append(
                Check("provenance", True, f"built by {builder}, signed by {key.short_id}")
            )
        else:
            checks.append(
                Check("provenance", False, f"no provenance attestation ({opened.context()})")
            )
    checks.extend(_source_checks(provenances, expected_source, expected_hashes))
    if sbom:
        found = [
            d for s, k in opened.of_type(SBOM_PREDICATES) if (d := _sbom_detail(s, k)) is not None
        ]
        if found:
            checks.append(Check("sbom", True, found[0]))
        elif opened.of_type(SBOM_PREDICATES):
            checks.append(Check("sbom", False, "the SBOM attestation holds no SBOM document"))
        else:
            checks.append(Check("sbom", False, f"no SBOM attestation ({opened.context()})"))
    return checks
