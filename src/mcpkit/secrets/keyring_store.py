"""The OS keyring secret store (``secrets.store = "keyring"``).

Each secret is one keyring entry: service ``mcpkit``, username the storage key. The
backend (Secret Service, macOS Keychain, Windows Credential Locker, or anything the
``keyring`` library offers) is injected; by default ``keyring.get_keyring()`` is asked
once, on first use. Keyrings cannot list their entries, so :meth:`KeyringStore.keys`
returns None and the secrets service keeps its own index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.base import KEYRING_SERVICE, validate_key, validate_value
from mcpkit.secrets.redact import Redactor, safe_quote

_T = TypeVar("_T")

_USE_FILE_HINT = (
    "set secrets.store = \"file\" with 'mcpkit config set secrets.store file'"
    " (an encrypted file that works without a keyring)"
)

#: Backends that store entries unencrypted or not at all; see :func:`is_secure_keyring`.
_INSECURE_MODULE_PREFIXES = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")


def backend_label(backend: KeyringBackend) -> str:
    """The backend's class as ``module.Class``, for messages."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def is_secure_keyring(backend: KeyringBackend) -> bool:
    """True if ``backend`` is a real OS keyring that encrypts what it stores.

    A backend is secure when its priority is at least 1 and it is none of the
    ``keyrings.alt`` file backends (plaintext or weakly encrypted), nor
    ``keyring.backends.fail`` / ``null``. A chainer counts as its highest-priority
    member, which is where it writes.
    """
    members: list[KeyringBackend] | None = getattr(backend, "backends", None)
    if type(backend).__name__ == "ChainerBackend" and members is not None:
        return bool(members) and is_secure_keyring(members[0])
    module = type(backend).__module__
    if module.startswith(_INSECURE_MODULE_PREFIXES):
        return False
    try:
        priority = float(backend.priority)
    except (RuntimeError, TypeError, ValueError, keyring.errors.KeyringError):
        # Backends signal "not usable here" by raising from their priority.
        return False
    return priority >= 1


def translate_keyring_error(
    exc: keyring.errors.KeyringError | ValueError | TypeError,
    *,
    action: str,
    backend: KeyringBackend,
    redactor: Redactor,
) -> SecretStoreError:
    """A ``keyring`` failure as a ``SecretStoreError`` with a hint; values redacted."""
    detail = safe_quote(str(exc), redactor) or type(exc).__name__
    label = backend_label(backend)
    if isinstance(exc, keyring.errors.NoKeyringError):
        return SecretStoreError(
            f"cannot {action}: no OS keyring is available ({detail})",
            hint=_USE_FILE_HINT,
            code="secret-store-unavailable",
        )
    if isinstance(exc, keyring.errors.KeyringLocked):
        return SecretStoreError(
            f"cannot {action}: the OS keyring ({label}) is locked",
            hint="unlock your keyring (log in to the desktop session) and retry, or "
            + _USE_FILE_HINT,
            code="secret-store-locked",
        )
    if isinstance(exc, keyring.errors.InitError):
        return SecretStoreError(
            f"cannot {action}: the OS keyring ({label}) could not be opened: {detail}",
            hint="check that the keyring service is running, or " + _USE_FILE_HINT,
            code="secret-store-unavailable",
        )
    return SecretStoreError(
        f"cannot {action}: the OS keyring ({label}) failed: {detail}",
        hint="check the keyring with 'keyring diagnose', or " + _USE_FILE_HINT,
    )


class KeyringStore:
    """Secrets in the OS keyring, one entry per storage key."""

    name = "keyring"
    read_only = False

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        """The keyring backend in use (resolved on first use when not injected)."""
        if self._backend is None:
            self._backend = keyring.get_keyring()
        return self._backend

    def get(self, key: str) -> str | None:
        """The value under ``key``, or None."""
        validate_key(key)
        value = self._call(
            f"read secret {key!r}", None, lambda b: b.get_password(KEYRING_SERVICE, key)
        )
        return value or None

    def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        validate_key(key)
        validate_value(value)
        self._call(
            f"store secret {key!r}",
            value,
            lambda b: b.set_password(KEYRING_SERVICE, key, value),
        )

    def delete(self, key: str) -> bool:
        """Remove ``key``; False if it was not there."""
        if self.get(key) is None:
            return False
        try:
            self._call(
                f"delete secret {key!r}",
                None,
                lambda b: b.delete_password(KEYRING_SERVICE, key),
            )
        except SecretStoreError:
            # Another process may have deleted it between our read and our delete.
            if self.get(key) is None:
                return False
            raise
        return True

    def keys(self) -> list[str] | None:
        """None: keyrings cannot list their entries."""
        return None

    def describe(self) -> str:
        """Which keyring backend holds the secrets."""
        label = backend_label(self.backend)
        note = "" if is_secure_keyring(self.backend) else "; not a secure OS keyring"
        return f"OS keyring {label} (service {KEYRING_SERVICE!r}{note})"

    def _call(self, action: str, value: str | None, op: Callable[[KeyringBackend], _T]) -> _T:
        backend = self.backend
        try:
            return op(backend)
        except (keyring.errors.KeyringError, ValueError, TypeError) as exc:
            error = translate_keyring_error(
                exc, action=action, backend=backend, redactor=Redactor([value] if value else [])
            )
            # While a value is being stored, the foreign exception is not chained: its
            # text or arguments might hold the value and would show in a logged traceback.
            if value is not None:
                raise error from None
            raise error from exc
