"""The gateway's trust gate: a server is verified before it starts, alone.

:class:`VerifyingRuntime` wraps the runtime a server runs on. Its ``prepare`` first
asks the policy what the server needs (``enforce``, ``warn`` or ``off``, accepted
keys, attestations) and checks it:

- an **image** server's reference must be pinned by digest, signed by an accepted key
  (cosign's format), and carry the attestations the rule requires, whose provenance
  source must match the catalog's declared source (``attestation.source``);
- a **package** server must be locked (version and artifact hashes, from the catalog
  or ``mcpkit profile lock``); the installer then refuses any other artifact;
- a **command** server cannot be verified: ``enforce`` refuses it;
- a **remote** server runs nothing here; it passes (its transport is checked by the
  SSRF guard and TLS).

In ``enforce`` a failure raises :class:`VerificationError`: the slot reports it with
the server, the reference and the check, and the rest of the profile serves. In
``warn`` it is logged once per server and reference. Verdicts are cached per
reference, so restarts do not ask the registry again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread

from mcpkit.catalog.model import ImageSource, PackageSource, ServerSpec
from mcpkit.errors import McpkitError, VerificationError
from mcpkit.oci.client import RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.runtime.base import Instance, LaunchPlan, Progress, Runtime
from mcpkit.trust.checks import Check, Verdict
from mcpkit.trust.policy import Mode, Requirements, Subject, TrustPolicy
from mcpkit.trust.registry import verify

log = logging.getLogger(__name__)


def subject_for(spec: ServerSpec, catalog: str | None) -> Subject:
    """The policy subject of a server spec."""
    source = spec.source
    image = source.image if source.type == "image" else None
    package = f"{source.registry}:{source.name}" if source.type == "package" else None
    return Subject(
        server=spec.id,
        catalog=catalog,
        publisher=spec.publisher.name,
        image=image,
        package=package,
    )


@dataclass
class TrustGate:
    """Verifies servers against a policy; one per gateway."""

    policy: TrustPolicy
    client: Callable[[], RegistryClient]
    profile: str
    #: The catalog each server comes from (None: its spec is carried by the profile).
    catalogs: dict[str, str | None] = field(default_factory=dict)
    _verdicts: dict[str, Verdict] = field(default_factory=dict)
    _warned: set[tuple[str, str]] = field(default_factory=set)

    def requirements(self, spec: ServerSpec) -> Requirements:
        """The policy's requirements for ``spec``."""
        return self.policy.requirements(subject_for(spec, self.catalogs.get(spec.id)))

    async def check(self, spec: ServerSpec) -> None:
        """Verify ``spec``; raises :class:`VerificationError` when enforced and failing."""
        needs = self.requirements(spec)
        if needs.mode == "off":
            return
        verdict = await self.verdict(spec, needs)
        if verdict.ok:
            return
        self._fail(spec, verdict, needs.mode, needs.rule)

    async def verdict(self, spec: ServerSpec, needs: Requirements) -> Verdict:
        """Every check of ``spec`` under ``needs`` (cached per reference)."""
        source = spec.source
        if isinstance(source, ImageSource):
            cached = self._verdicts.get(source.image)
            if cached is None:
                cached = await anyio.to_thread.run_sync(self._verify_image, spec, source, needs)
                self._verdicts[source.image] = cached
            return cached
        if isinstance(source, PackageSource):
            return _package_verdict(source)
        if source.type == "remote":
            return Verdict(source.url, (Check("remote", True, "nothing runs here"),))
        return Verdict(
            spec.id,
            (
                Check(
                    "verifiable",
                    False,
                    "a local command has no signature or lock to verify",
                ),
            ),
        )

    def _verify_image(self, spec: ServerSpec, source: ImageSource, needs: Requirements) -> Verdict:
        image = source.image
        try:
            ref = Reference.parse(image)
        except McpkitError as exc:
            return Verdict(image, (Check("reference", False, exc.message),))
        expected = spec.attestation.source if spec.attestation else None
        if needs.source and expected is None:
            return Verdict(
                image,
                (Check("source", False, "the catalog declares no source to compare with"),),
            )
        try:
            return verify(
                self.client(),
                ref,
                needs.keys,
                signature=needs.signature,
                provenance=needs.provenance,
                sbom=needs.sbom,
                expected_source=expected if needs.source else None,
            )
        except McpkitError as exc:  # the registry is down, refuses us, or sent garbage
            return Verdict(image, (Check("registry", False, exc.message),))

    def _fail(self, spec: ServerSpec, verdict: Verdict, mode: Mode, rule: str) -> None:
        text = f"server {spec.id}: {verdict.subject}: {verdict.summary()}"
        if mode == "enforce":
            raise VerificationError(
                text + f" (trust policy rule: {rule})",
                hint=f"'mcpkit trust verify {verdict.subject}' explains each check"
                if spec.source.type == "image"
                else f"lock it with 'mcpkit profile lock {self.profile} --server {spec.id}'"
                if spec.source.type == "package"
                else 'a rule with mode = "off" for this server in trust.toml lets it run',
            )
        key = (spec.id, verdict.subject)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("trust (warn mode): %s; starting it anyway", text)


def _package_verdict(source: PackageSource) -> Verdict:
    # The spec the gate sees is the one the gateway runs: the profile's lock is applied.
    name = f"{source.registry}:{source.name}"
    if source.version and source.hashes:
        detail = f"{name}=={source.version}, {len(source.hashes)} artifact hash(es)"
        check = Check("locked", True, detail)
    else:
        missing = "a version" if not source.version else "artifact hashes"
        check = Check("locked", False, f"{name} is not locked ({missing} missing)")
    return Verdict(name, (check,))


class VerifyingRuntime:
    """A runtime that runs the trust gate before its inner runtime prepares a server."""

    def __init__(self, inner: Runtime, gate: TrustGate) -> None:
        self.inner = inner
        self.gate = gate
        self.name = inner.name

    def supports(self, spec: ServerSpec) -> bool:
        return self.inner.supports(spec)

    async def prepare(self, plan: LaunchPlan, progress: Progress | None = None) -> None:
        await self.gate.check(plan.spec)
        await self.inner.prepare(plan, progress)

    async def start(self, plan: LaunchPlan) -> Instance:
        return await self.inner.start(plan)

    async def aclose(self) -> None:
        closer = getattr(self.inner, "aclose", None)
        if closer is not None:
            await closer()
