"""The one error tree of mcpkit.

Every error a user can cause or meet derives from :class:`McpkitError` and carries
three things: a message (what failed and why), a hint (what to do, ideally the exact
command) and a stable ``code`` that scripts and docs can rely on. The CLI prints them
once, at the edge, and exits with the class's ``exit_code``; nothing below the CLI
prints or exits.

::

    McpkitError                      exit 1   generic failure
    ├── UsageError                   exit 2   a command was called wrongly
    ├── NotFoundError                exit 3   something named does not exist
    │   ├── UnknownServerError
    │   ├── UnknownProfileError
    │   ├── UnknownCatalogError
    │   ├── UnknownSecretError
    │   └── UnknownReferenceError    an OCI reference is not in the registry
    ├── InvalidInputError            exit 4   input failed validation; nothing was stored
    │   ├── CatalogFormatError       a catalog document is malformed
    │   ├── ProfileFormatError       a profile document is malformed
    │   └── ConfigValidationError    a server config value breaks its JSON Schema
    ├── ConflictError                exit 5   the thing exists already / is in use
    ├── SourceError                  exit 6   a catalog source could not be fetched or read
    ├── SecretStoreError             exit 7   the secret store failed (locked, corrupt, read-only)
    ├── StateError                   exit 8   the state database is unusable (locked, newer schema)
    ├── RuntimeUnavailableError      exit 9   a runtime the task needs is missing (docker…)
    │   └── SandboxUnavailableError  no sandbox can be had for a server that needs one
    ├── ServerError                  exit 10  a server could not be installed, started or reached
    │   └── InstallError             installing a server's package failed
    ├── GatewayError                 exit 11  the gateway could not serve (port in use…)
    ├── RegistryError                exit 12  an OCI registry is unreachable or refused a request
    └── TrustError                   exit 13  signing or verification failed
        ├── SigningKeyError          a key is missing, unreadable, or its passphrase is wrong
        └── VerificationError        a signature, attestation, lock or tool pin does not verify

Foreign exceptions (sqlite3, httpx, yaml, OSError…) are translated into this tree where
the dependency is called, never re-raised raw to the user.
"""

from __future__ import annotations

from typing import ClassVar


class McpkitError(Exception):
    """Base of every mcpkit error: a message, a hint and a stable code."""

    exit_code: ClassVar[int] = 1
    default_code: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code or self.default_code

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """The error as plain data, for ``--json`` output."""
        return {"error": self.code, "message": self.message, "hint": self.hint}


class UsageError(McpkitError):
    """A command was called with options that do not fit together."""

    exit_code = 2
    default_code = "usage"


class NotFoundError(McpkitError):
    """Something the user named does not exist."""

    exit_code = 3
    default_code = "not-found"


class UnknownServerError(NotFoundError):
    """A server id is in no catalog (or not in the profile)."""

    default_code = "unknown-server"


class UnknownProfileError(NotFoundError):
    """A profile name does not exist."""

    default_code = "unknown-profile"


class UnknownCatalogError(NotFoundError):
    """A catalog source or custom catalog name does not exist."""

    default_code = "unknown-catalog"


class UnknownSecretError(NotFoundError):
    """A secret name is not set in the store."""

    default_code = "unknown-secret"


class UnknownReferenceError(NotFoundError):
    """An OCI reference (repository, tag or digest) is not in the registry."""

    default_code = "unknown-reference"


class InvalidInputError(McpkitError):
    """Input failed validation. Nothing was stored."""

    exit_code = 4
    default_code = "invalid-input"


class CatalogFormatError(InvalidInputError):
    """A catalog document (file, URL, registry answer) is malformed."""

    default_code = "catalog-format"


class ProfileFormatError(InvalidInputError):
    """A profile document (export file, Docker MCP Toolkit config) is malformed."""

    default_code = "profile-format"


class ConfigValidationError(InvalidInputError):
    """A server config value does not satisfy the server's config schema."""

    default_code = "config-invalid"


class ConflictError(McpkitError):
    """The thing exists already, or is still in use."""

    exit_code = 5
    default_code = "conflict"


class SourceError(McpkitError):
    """A catalog source could not be fetched or read; its previous copy is kept."""

    exit_code = 6
    default_code = "source-unavailable"


class SecretStoreError(McpkitError):
    """The secret store failed: locked, corrupt, wrong key, or read-only."""

    exit_code = 7
    default_code = "secret-store"


class StateError(McpkitError):
    """The state database cannot be used (locked for too long, written by a newer mcpkit)."""

    exit_code = 8
    default_code = "state"


class RuntimeUnavailableError(McpkitError):
    """A runtime or tool the task needs (docker, bubblewrap, uv…) is not available."""

    exit_code = 9
    default_code = "runtime-unavailable"


class SandboxUnavailableError(RuntimeUnavailableError):
    """No sandbox (bubblewrap) can be had, and running unsandboxed was not allowed."""

    default_code = "sandbox-unavailable"


class ServerError(McpkitError):
    """A server could not be installed, started or reached, or it broke the protocol."""

    exit_code = 10
    default_code = "server-failed"


class InstallError(ServerError):
    """Installing a server's package (uv, pip, npm) failed."""

    default_code = "install-failed"


class GatewayError(McpkitError):
    """The gateway could not serve: the port is taken, or the front's options do not fit."""

    exit_code = 11
    default_code = "gateway"


class RegistryError(McpkitError):
    """An OCI registry could not be reached, refused the credentials, or broke the protocol."""

    exit_code = 12
    default_code = "registry"


class TrustError(McpkitError):
    """Signing or verifying failed."""

    exit_code = 13
    default_code = "trust"


class SigningKeyError(TrustError):
    """A signing or verification key is missing or unreadable, or its passphrase is wrong."""

    default_code = "signing-key"


class VerificationError(TrustError):
    """A signature, attestation, lock or tool pin did not verify."""

    default_code = "verification-failed"


class SubmissionRejectedError(McpkitError):
    """A registry submission failed its lint rules or its tests (the report says which)."""

    exit_code = 14
    default_code = "submission-rejected"


class ClientConfigError(InvalidInputError):
    """An AI client's config file cannot be parsed or edited safely; it was left as it was."""

    default_code = "client-config"


class UnknownClientError(NotFoundError):
    """An AI client name mcpkit does not know."""

    default_code = "unknown-client"


def format_error(err: McpkitError) -> str:
    """Render an error the way the CLI prints it: ``error[code]: message`` and a hint line."""
    text = f"error[{err.code}]: {err.message}"
    if err.hint:
        text += f"\n  hint: {err.hint}"
    return text
