"""Verifying shared artifacts (catalogs, profiles) under the trust policy.

The policy rule is matched with the artifact's reference as ``image`` (so a rule
``image = "127.0.0.1:5000/team/*"`` covers what a team pushes there) and, for a
catalog source, its name as ``catalog``. ``enforce`` refuses an artifact that no
accepted key signed; ``warn`` lets it through with a warning; ``off`` checks nothing.
With no policy file at all, shared artifacts are checked in ``warn``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcpkit.app import App
from mcpkit.catalog.sources.oci import Verifier
from mcpkit.errors import VerificationError
from mcpkit.oci.client import Manifest, RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.trust import service
from mcpkit.trust.checks import Check, check_signatures
from mcpkit.trust.keys import PublicKey
from mcpkit.trust.policy import Requirements, Subject
from mcpkit.trust.registry import signatures


def requirements_for(app: App, ref: Reference, *, catalog: str | None = None) -> Requirements:
    """The policy's requirements for the artifact at ``ref``.

    Without a policy file, shared artifacts are checked in ``warn``: pulling one is a new
    act (unlike a gateway start, which must not change for someone who never wrote a
    policy), so its verification is always shown, and an unsigned one is pointed out.
    """
    subject = Subject(server="", catalog=catalog, publisher=None, image=str(ref), package=None)
    rules = service.policy(app)
    if rules.path is None:
        rules = rules.with_mode("warn")
    return rules.requirements(subject)


def signature_check(
    client: RegistryClient, ref: Reference, digest: str, keys: Sequence[PublicKey]
) -> Check:
    """Whether one of ``keys`` signed the manifest ``digest`` of ``ref``'s repository."""
    subject = ref.with_digest(digest)
    return check_signatures(signatures(client, subject), keys, digest=digest, reference=ref.name)


def catalog_verifier(app: App, client: RegistryClient, *, catalog: str | None) -> Verifier:
    """The ``verify`` hook of an OCI catalog source."""

    def verify(ref: Reference, manifest: Manifest) -> list[str]:
        needs = requirements_for(app, ref, catalog=catalog)
        if needs.mode == "off":
            return []
        check = signature_check(client, ref, manifest.descriptor.digest, needs.keys)
        if check.ok:
            return []
        text = f"catalog {ref}: {check.detail}"
        if needs.mode == "enforce":
            raise VerificationError(
                text + f" (trust policy rule: {needs.rule}); the previous copy is kept",
                hint="ask its publisher to sign it ('mcpkit catalog push NAME REF --sign'), "
                "or trust their key with 'mcpkit trust key add NAME FILE'",
            )
        return [text + " (trust policy: warn)"]

    return verify
