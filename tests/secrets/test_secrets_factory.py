"""open_store: the settings pick the backend and where it keeps things."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from keyring.backends import fail
from secret_store_kit import make_plaintext_keyring

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.command_store import CommandStore
from mcpkit.secrets.env_store import EnvStore
from mcpkit.secrets.factory import open_store
from mcpkit.secrets.file_store import PASSPHRASE_ENV, EncryptedFileStore
from mcpkit.secrets.keyring_store import KeyringStore
from mcpkit.settings import SecretsSettings


def _open(tmp_path: Path, settings: SecretsSettings, **kwargs: object) -> object:
    return open_store(
        settings,
        data_dir=tmp_path / "data",
        config_dir=tmp_path / "config",
        environ={"MCPKIT_SECRET_GITHUB__TOKEN": "from-env", PASSPHRASE_ENV: "pass phrase"},
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_default_is_the_encrypted_file_in_the_data_dir(tmp_path: Path) -> None:
    store = _open(tmp_path, SecretsSettings(), keyring_backend=fail.Keyring())
    assert isinstance(store, EncryptedFileStore)
    assert store.path == tmp_path / "data" / "secrets.enc"
    assert store.keyfile == tmp_path / "config" / "secrets.key"
    assert not store.path.exists()  # opening creates nothing
    store.set("global/github.token", "value-1")
    # auto, no secure keyring, a passphrase in the injected environment
    assert '"key_source": "passphrase"' in store.path.read_text()


def test_the_key_source_setting_reaches_the_file_store(tmp_path: Path) -> None:
    store = _open(tmp_path, SecretsSettings(key_source="keyfile"))
    assert isinstance(store, EncryptedFileStore)
    store.set("global/github.token", "value-1")
    assert (tmp_path / "config" / "secrets.key").exists()


def test_the_keyring_store_uses_the_injected_backend(tmp_path: Path) -> None:
    backend = make_plaintext_keyring(tmp_path / "keyring.cfg")
    store = _open(tmp_path, SecretsSettings(store="keyring"), keyring_backend=backend)
    assert isinstance(store, KeyringStore)
    store.set("global/github.token", "value-1")
    assert backend.get_password("mcpkit", "global/github.token") == "value-1"


def test_the_env_store_reads_the_injected_environment(tmp_path: Path) -> None:
    store = _open(tmp_path, SecretsSettings(store="env"))
    assert isinstance(store, EnvStore)
    assert store.get("global/github.token") == "from-env"


def test_the_command_store_gets_its_templates_from_the_settings(tmp_path: Path) -> None:
    echo = [sys.executable, "-c", "import sys; print(sys.argv[1])", "{name}"]
    store = _open(tmp_path, SecretsSettings(store="command", get_command=echo))
    assert isinstance(store, CommandStore)
    assert store.read_only
    assert store.get("global/github.token") == "global/github.token"


def test_a_command_store_without_a_get_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="get_command is not set") as info:
        _open(tmp_path, SecretsSettings(store="command"))
    assert info.value.hint


def test_the_keyring_backend_named_in_the_injected_environment_is_used(tmp_path: Path) -> None:
    environ = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    store = open_store(
        SecretsSettings(), data_dir=tmp_path / "data", config_dir=tmp_path / "c", environ=environ
    )
    # keyring.get_keyring() is never called (the autouse guard would fail the test):
    # the named backend is insecure, so auto falls back to a key file.
    store.set("global/github.token", "value-1")
    assert (tmp_path / "c" / "secrets.key").exists()
    keyring_store = open_store(
        SecretsSettings(store="keyring"),
        data_dir=tmp_path / "data",
        config_dir=tmp_path / "c",
        environ=environ,
    )
    with pytest.raises(SecretStoreError, match="no OS keyring"):
        keyring_store.get("global/github.token")


def test_an_unknown_keyring_backend_name_is_an_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="names no usable keyring backend") as info:
        open_store(
            SecretsSettings(store="keyring"),
            data_dir=tmp_path / "data",
            config_dir=tmp_path / "config",
            environ={"PYTHON_KEYRING_BACKEND": "no.such.Backend"},
        )
    assert "PYTHON_KEYRING_BACKEND" in (info.value.hint or "")
