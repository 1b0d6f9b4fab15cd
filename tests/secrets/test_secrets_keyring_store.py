"""The OS keyring store and the keyring helpers the file store shares."""

from __future__ import annotations

from pathlib import Path

import keyring.errors
import pytest
from keyring.backends import chainer, fail, null
from secret_store_kit import make_plaintext_keyring, make_secure_keyring

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.keyring_store import (
    KeyringStore,
    is_secure_keyring,
    translate_keyring_error,
)
from mcpkit.secrets.redact import Redactor


def test_entries_live_under_service_mcpkit_with_the_storage_key_as_user(tmp_path: Path) -> None:
    backend = make_plaintext_keyring(tmp_path / "keyring.cfg")
    store = KeyringStore(backend)
    store.set("profile/dev/github.token", "dev-token-value")
    assert backend.get_password("mcpkit", "profile/dev/github.token") == "dev-token-value"
    assert backend.get_password("other-service", "profile/dev/github.token") is None


def test_a_keyring_cannot_enumerate_so_keys_is_none(tmp_path: Path) -> None:
    store = KeyringStore(make_plaintext_keyring(tmp_path / "keyring.cfg"))
    store.set("global/github.token", "value-1")
    assert store.keys() is None


def test_describe_warns_when_the_keyring_is_not_a_secure_one(tmp_path: Path) -> None:
    plain = KeyringStore(make_plaintext_keyring(tmp_path / "plain.cfg")).describe()
    assert "keyrings.alt.file.PlaintextKeyring" in plain
    assert "not a secure OS keyring" in plain
    secure = KeyringStore(make_secure_keyring(tmp_path / "secure.cfg")).describe()
    assert "not a secure" not in secure


@pytest.mark.parametrize("op", ["get", "set", "delete"])
def test_no_keyring_available_says_how_to_switch_to_the_file_store(op: str) -> None:
    store = KeyringStore(fail.Keyring())
    call = {
        "get": lambda: store.get("global/github.token"),
        "set": lambda: store.set("global/github.token", "value-that-stays-hidden"),
        "delete": lambda: store.delete("global/github.token"),
    }[op]
    with pytest.raises(SecretStoreError, match="no OS keyring is available") as info:
        call()
    assert info.value.hint is not None
    assert "mcpkit config set secrets.store file" in info.value.hint
    assert info.value.code == "secret-store-unavailable"
    assert "value-that-stays-hidden" not in str(info.value)


def test_a_failure_while_storing_does_not_chain_the_foreign_exception() -> None:
    with pytest.raises(SecretStoreError) as info:
        KeyringStore(fail.Keyring()).set("global/github.token", "value-1")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("exc", "message", "hint"),
    [
        (keyring.errors.KeyringLocked("locked"), "is locked", "unlock your keyring"),
        (keyring.errors.InitError("no dbus"), "could not be opened: no dbus", "service"),
        (keyring.errors.PasswordSetError("denied"), "failed: denied", "keyring diagnose"),
    ],
    ids=["locked", "init", "other"],
)
def test_keyring_errors_become_secret_store_errors_with_hints(
    exc: keyring.errors.KeyringError, message: str, hint: str
) -> None:
    error = translate_keyring_error(
        exc, action="read secret 'global/x'", backend=null.Keyring(), redactor=Redactor()
    )
    assert message in error.message
    assert error.message.startswith("cannot read secret 'global/x'")
    assert hint in (error.hint or "")


def test_a_keyring_error_quoting_the_value_is_redacted() -> None:
    error = translate_keyring_error(
        keyring.errors.PasswordSetError("cannot store hunter2-secret-value"),
        action="store secret 'global/x'",
        backend=null.Keyring(),
        redactor=Redactor(["hunter2-secret-value"]),
    )
    assert "hunter2-secret-value" not in error.message
    assert "****" in error.message


def test_only_real_os_keyrings_count_as_secure(tmp_path: Path) -> None:
    assert not is_secure_keyring(make_plaintext_keyring(tmp_path / "k.cfg"))
    assert not is_secure_keyring(fail.Keyring())
    assert not is_secure_keyring(null.Keyring())
    assert is_secure_keyring(make_secure_keyring(tmp_path / "s.cfg"))


def test_a_chainer_is_as_secure_as_the_keyring_it_writes_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = make_plaintext_keyring(tmp_path / "k.cfg")
    secure = make_secure_keyring(tmp_path / "s.cfg")
    # ChainerBackend discovers its members from keyring's global registry; pin them
    # so the test does not depend on what is installed.
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [secure, plain])
    assert is_secure_keyring(chainer.ChainerBackend())
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [plain, secure])
    assert not is_secure_keyring(chainer.ChainerBackend())
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    assert not is_secure_keyring(chainer.ChainerBackend())
