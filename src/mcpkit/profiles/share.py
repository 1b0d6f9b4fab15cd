"""Sharing profiles through OCI registries: push (locked, scanned, signed) and pull (verified).

A pushed profile is the export document (server ids, config, tool filters, carried
specs, the *names* of the secrets it needs) plus its lock: every server's pins
(image digest; package version and hashes; tool hashes). Before anything leaves,
the bytes are scanned for every secret value and OAuth token the profile's servers
would get on this machine; a hit refuses the push (a secret pasted into a config
value would otherwise be published). With a key, the pushed manifest is signed in
cosign's format.

A pulled profile is verified (signature by a trusted key, lock complete) according
to the trust policy's rule for it, then stored; the caller shows which secrets and
authorizations it still needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from mcpkit.app import App
from mcpkit.catalog.model import ServerSpec
from mcpkit.errors import InvalidInputError, VerificationError
from mcpkit.oci.client import RegistryClient
from mcpkit.oci.reference import Reference
from mcpkit.profiles.artifact import PulledProfile, profile_layers, read_profile_artifact
from mcpkit.profiles.artifact_lock import is_locked
from mcpkit.profiles.io import to_document
from mcpkit.profiles.model import Profile
from mcpkit.trust.artifacts import signature_check
from mcpkit.trust.checks import Check, Verdict
from mcpkit.trust.keys import PublicKey, SigningKey
from mcpkit.trust.policy import Mode
from mcpkit.trust.registry import sign

#: Values shorter than this are not scanned for (too many false hits, e.g. "1").
_MIN_SECRET = 6


@dataclass
class Pushed:
    """Where a profile went."""

    reference: Reference
    signed_at: Reference | None = None
    unlocked: list[str] = field(default_factory=list)


@dataclass
class Pulled:
    """A pulled profile, stored, and what its verification said."""

    pulled: PulledProfile
    reference: Reference
    verdict: Verdict
    mode: Mode


def unlocked_servers(profile: Profile, specs: dict[str, ServerSpec]) -> list[str]:
    """Servers whose artifact is not pinned (image by digest; package version + hashes)."""
    return [
        server.id
        for server in profile.servers
        if (spec := specs.get(server.id)) is None or not is_locked(spec, server.pins)
    ]


def secret_values(app: App, profile: Profile, specs: dict[str, ServerSpec]) -> list[str]:
    """Every secret value and OAuth token the profile's servers get on this machine."""
    values: set[str] = set()
    for server in profile.servers:
        spec = specs.get(server.id)
        for ref in spec.secrets if spec else []:
            value = app.secrets.resolve(ref.name, profile=profile.name)
            if value:
                values.add(value)
        if spec is not None and spec.source.type == "remote":
            found = app.oauth_credentials.resolve(server.id, profile.name)
            if found is not None:
                _scope, token = found
                values.update(v for v in (token.access_token, token.refresh_token) if v)
    return sorted(v for v in values if len(v) >= _MIN_SECRET)


def scan(blob: bytes, values: Iterable[str]) -> bool:
    """True when any of ``values`` appears in ``blob`` (raw or JSON-escaped)."""
    for value in values:
        forms = {value.encode(), json.dumps(value)[1:-1].encode()}
        if any(form in blob for form in forms):
            return True
    return False


def push(
    app: App,
    name: str,
    ref: Reference,
    client: RegistryClient,
    *,
    key: SigningKey | None,
    allow_unlocked: bool = False,
) -> Pushed:
    """Push profile ``name`` to ``ref``; sign it with ``key`` when given."""
    profile = app.profiles.get(name)
    specs = {s.id: spec for s in profile.servers if (spec := app.profiles.find_spec(s))}
    unlocked = unlocked_servers(profile, specs)
    if unlocked and not allow_unlocked:
        raise VerificationError(
            f"profile {name} is not locked: {', '.join(unlocked)} "
            "(a pushed profile pins every image by digest and every package by version and hash)",
            hint=f"mcpkit profile lock {name}, then push again",
            code="profile-unlocked",
        )
    doc = to_document(profile, specs)
    artifact_type, layers, annotations = profile_layers(doc)
    values = secret_values(app, profile, specs)
    blobs = [layer.data for layer in layers] + [json.dumps(annotations).encode()]
    if any(scan(blob, values) for blob in blobs):
        raise VerificationError(
            f"profile {name} holds the value of a secret or token set on this machine; "
            "nothing was pushed",
            hint="move the value into the secret store ('mcpkit secret set NAME') and refer "
            "to it by name; check 'mcpkit profile show' for config values",
            code="secret-in-profile",
        )
    pushed = client.push_artifact(
        ref, artifact_type=artifact_type, layers=layers, annotations=annotations
    )
    result = Pushed(ref.with_digest(pushed.digest), unlocked=unlocked)
    if key is not None:
        result.signed_at = sign(client, result.reference, key).stored_at
    return result


def pull(
    app: App,
    ref: Reference,
    client: RegistryClient,
    *,
    keys: list[PublicKey],
    mode: Mode,
    name: str | None = None,
    replace: bool = False,
) -> Pulled:
    """Fetch, verify and store the profile at ``ref``.

    In ``enforce`` a failed check stores nothing and raises; in ``warn`` the profile is
    stored and the verdict says what failed.
    """
    manifest, blobs = client.pull_artifact(ref)
    pulled = read_profile_artifact(manifest, blobs, origin=str(ref), name=name)
    checks: list[Check] = []
    if mode != "off":
        checks.append(signature_check(client, ref, manifest.descriptor.digest, keys))
        missing = unlocked_servers(pulled.profile, _all_specs(app, pulled))
        checks.append(
            Check(
                "lock",
                not missing,
                "every server is pinned" if not missing else f"not pinned: {', '.join(missing)}",
            )
        )
    verdict = Verdict(str(ref.with_digest(manifest.descriptor.digest)), tuple(checks))
    if mode == "enforce" and not verdict.ok:
        raise VerificationError(
            f"profile {ref}: {verdict.summary()}; nothing was stored",
            hint="'mcpkit trust verify REF' explains the signature; ask its author to "
            "'mcpkit profile lock' and push it signed, or trust their key with "
            "'mcpkit trust key add NAME FILE'",
        )
    _check_specs(app, pulled)
    app.profiles.save(pulled.profile, replace=replace)  # an existing name needs replace
    return Pulled(pulled, ref.with_digest(manifest.descriptor.digest), verdict, mode)


def _all_specs(app: App, pulled: PulledProfile) -> dict[str, ServerSpec]:
    specs = dict(pulled.specs)
    for server in pulled.profile.servers:
        if server.id not in specs:
            spec = server.spec or app.profiles.find_spec(server)
            if spec is not None:
                specs[server.id] = spec
    return specs


def _check_specs(app: App, pulled: PulledProfile) -> None:
    """Every server must be known: carried by the profile or in a catalog here."""
    unknown = [
        s.id
        for s in pulled.profile.servers
        if s.spec is None and s.id not in pulled.specs and app.catalog.find(s.id) is None
    ]
    if unknown:
        raise InvalidInputError(
            f"the pulled profile uses servers no catalog here has: {', '.join(unknown)}; "
            "nothing was stored",
            hint="add the catalog they come from ('mcpkit catalog pull REF' or "
            "'mcpkit catalog add'), then pull again",
            code="unknown-servers",
        )
