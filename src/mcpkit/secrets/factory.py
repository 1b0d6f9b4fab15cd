"""Pick and open the secret store the settings name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import keyring.core
from keyring.backend import KeyringBackend

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.base import SecretStore
from mcpkit.secrets.command_store import CommandStore
from mcpkit.secrets.env_store import EnvStore
from mcpkit.secrets.file_store import EncryptedFileStore
from mcpkit.secrets.keyring_store import KeyringStore
from mcpkit.settings import SecretsSettings

#: The encrypted store's file name in the data directory.
SECRETS_FILE = "secrets.enc"
#: The key file's name in the config directory (key_source ``keyfile``).
KEY_FILE = "secrets.key"
#: The ``keyring`` library's own variable naming a backend class; honoured from the
#: injected environment rather than from ``os.environ``.
KEYRING_BACKEND_ENV = "PYTHON_KEYRING_BACKEND"


def open_store(
    settings: SecretsSettings,
    *,
    data_dir: Path,
    config_dir: Path,
    environ: Mapping[str, str],
    keyring_backend: KeyringBackend | None = None,
) -> SecretStore:
    """The store ``settings.store`` names, set up from the other settings.

    Nothing is created or asked of the OS keyring here: stores do that on first use.
    ``environ`` is what the env store reads, the passphrase comes from, and command
    providers run with. ``keyring_backend`` defaults to the class named by
    ``PYTHON_KEYRING_BACKEND`` in ``environ`` when set, else to ``keyring.get_keyring()``
    resolved when first needed.

    Raises :class:`~mcpkit.errors.SecretStoreError` when the command store is chosen
    without a usable ``get_command``, or ``PYTHON_KEYRING_BACKEND`` names no usable
    backend.
    """
    uses_keyring = settings.store == "keyring" or (
        settings.store == "file" and settings.key_source in ("auto", "keyring")
    )
    if keyring_backend is None and uses_keyring and environ.get(KEYRING_BACKEND_ENV):
        keyring_backend = _load_backend(environ[KEYRING_BACKEND_ENV])
    if settings.store == "keyring":
        return KeyringStore(keyring_backend)
    if settings.store == "env":
        return EnvStore(environ)
    if settings.store == "command":
        return CommandStore(
            get_command=settings.get_command,
            set_command=settings.set_command,
            delete_command=settings.delete_command,
            list_command=settings.list_command,
            environ=environ,
        )
    return EncryptedFileStore(
        data_dir / SECRETS_FILE,
        keyfile=config_dir / KEY_FILE,
        environ=environ,
        key_source=settings.key_source,
        keyring_backend=keyring_backend,
    )


def _load_backend(name: str) -> KeyringBackend:
    try:
        return keyring.core.load_keyring(name)
    except (ImportError, AttributeError, ValueError, RuntimeError) as exc:
        # RuntimeError is how keyring says a backend is not viable on this machine.
        raise SecretStoreError(
            f"{KEYRING_BACKEND_ENV}={name!r} names no usable keyring backend: {exc}",
            hint=f"unset {KEYRING_BACKEND_ENV}, or name a backend that 'keyring --list-backends'"
            " shows",
            code="secret-store-unavailable",
        ) from exc
