"""The secret store seam: a small key/value interface every backend implements.

A :class:`SecretStore` keeps secret *values* under opaque *storage keys*. It knows
nothing about secret names, scopes or profiles: the secrets service maps those to
storage keys such as ``global/github.token`` or ``profile/dev/github.token``.

Storage keys
    One or more segments joined by ``/``, from the charset ``[A-Za-z0-9._/-]``, at
    most 255 characters. Each segment matches ``[A-Za-z0-9][A-Za-z0-9._-]*``: starting
    with a letter or digit means a key can never contain ``..`` as a path part (path
    traversal in a file-based provider such as ``pass``) nor be read as an option when
    a command store puts it into an argv.

Values
    Non-empty ``str`` whose UTF-8 encoding is at most 64 KiB (:data:`MAX_VALUE_BYTES`).

Errors
    Every failure is a :class:`~mcpkit.errors.SecretStoreError` with a hint. No error
    message, hint or ``describe()`` text ever contains a secret value; backends that
    quote a foreign error text pass it through :class:`~mcpkit.secrets.redact.Redactor`
    first.

Backends: ``file`` (:mod:`.file_store`, AES-256-GCM encrypted file, the default),
``keyring`` (:mod:`.keyring_store`, the OS keyring), ``env`` (:mod:`.env_store`,
read-only environment variables) and ``command`` (:mod:`.command_store`, an external
provider such as ``pass``). :func:`mcpkit.secrets.factory.open_store` picks one from
the settings.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from mcpkit.errors import SecretStoreError

#: The service name under which mcpkit stores entries in the OS keyring.
KEYRING_SERVICE = "mcpkit"
#: The largest value a store accepts, in bytes of UTF-8.
MAX_VALUE_BYTES = 64 * 1024
#: The longest storage key.
MAX_KEY_LENGTH = 255

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")


@runtime_checkable
class SecretStore(Protocol):
    """Stores secret values under opaque storage keys."""

    @property
    def name(self) -> str:
        """The backend's name: ``file``, ``keyring``, ``env`` or ``command``."""
        ...

    @property
    def read_only(self) -> bool:
        """True when :meth:`set` and :meth:`delete` always raise."""
        ...

    def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None when there is none."""
        ...

    def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any previous value.

        Raises :class:`~mcpkit.errors.SecretStoreError` when the store is read-only.
        """
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; True if something was removed, False if it was not there."""
        ...

    def keys(self) -> list[str] | None:
        """Every stored key, sorted; None when the backend cannot enumerate."""
        ...

    def describe(self) -> str:
        """One line for people: which backend, where, and how it is protected."""
        ...


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid storage key, else raise ``SecretStoreError``."""
    if not isinstance(key, str) or not key:
        raise SecretStoreError(
            "invalid secret storage key: it is empty",
            hint="storage keys look like 'global/github.token' or 'profile/dev/github.token'",
            code="secret-key-invalid",
        )
    if len(key) > MAX_KEY_LENGTH or not _KEY_RE.fullmatch(key):
        shown = key if len(key) <= 80 else key[:77] + "..."
        raise SecretStoreError(
            f"invalid secret storage key {shown!r}: use segments of letters, digits,"
            f" '.', '_' and '-' joined by '/', each starting with a letter or digit, at most"
            f" {MAX_KEY_LENGTH} characters",
            hint="storage keys look like 'global/github.token' or 'profile/dev/github.token'",
            code="secret-key-invalid",
        )
    return key


def validate_value(value: str) -> bytes:
    """Check ``value`` and return its UTF-8 encoding; raise ``SecretStoreError`` if unusable.

    The message never quotes the value.
    """
    if not isinstance(value, str) or not value:
        raise SecretStoreError(
            "invalid secret value: it must be a non-empty string",
            hint="pass the value on standard input, e.g. 'mcpkit secret set NAME < file'",
            code="secret-value-invalid",
        )
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SecretStoreError(
            "invalid secret value: it is not valid Unicode text (lone surrogate)",
            hint="store text, or base64-encode binary secrets first",
            code="secret-value-invalid",
        ) from exc
    if len(data) > MAX_VALUE_BYTES:
        raise SecretStoreError(
            f"invalid secret value: {len(data)} bytes is more than the"
            f" {MAX_VALUE_BYTES} bytes a secret may hold",
            hint="store a path to a file readable only by you instead of the content",
            code="secret-value-invalid",
        )
    return data


def read_only_error(store: str, *, hint: str) -> SecretStoreError:
    """The error a read-only store raises from ``set`` and ``delete``."""
    return SecretStoreError(
        f"the {store} secret store is read-only",
        hint=hint,
        code="secret-store-read-only",
    )
