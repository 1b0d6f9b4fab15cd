"""Signing and verification: keys, cosign signatures, DSSE attestations, the trust policy.

The modules here are pure (no network, no registry): :mod:`~mcpkit.trust.keys` (key pairs),
:mod:`~mcpkit.trust.simplesign` (cosign's signature payload), :mod:`~mcpkit.trust.dsse`
(in-toto statements in DSSE envelopes), :mod:`~mcpkit.trust.statements` (SLSA provenance and
CycloneDX SBOM of a build), :mod:`~mcpkit.trust.policy` (the trust policy file) and
:mod:`~mcpkit.trust.checks` (verdicts over fetched material). Fetching and attaching over
an OCI registry lives in :mod:`mcpkit.trust.registry`.
"""
