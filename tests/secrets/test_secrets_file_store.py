"""The encrypted file store: format, key sources, tampering, locking, concurrency."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import fail, null
from secret_store_kit import (
    FAST_SCRYPT_N,
    TEST_PASSPHRASE,
    make_plaintext_keyring,
    make_secure_keyring,
)

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.file_store import (
    KEYRING_KEY_USER,
    PASSPHRASE_ENV,
    EncryptedFileStore,
    KeySourceSetting,
)

VALUE = "ghp_not-a-real-token-but-secret-enough"


def _store(
    tmp_path: Path,
    key_source: KeySourceSetting = "keyfile",
    *,
    environ: dict[str, str] | None = None,
    **kwargs: Any,
) -> EncryptedFileStore:
    return EncryptedFileStore(
        tmp_path / "data" / "secrets.enc",
        keyfile=tmp_path / "config" / "secrets.key",
        environ=environ if environ is not None else {},
        key_source=key_source,
        **kwargs,
    )


def _doc(store: EncryptedFileStore) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(store.path.read_bytes())
    return data


def _rewrite(store: EncryptedFileStore, doc: dict[str, Any]) -> bytes:
    raw = json.dumps(doc).encode()
    store.path.write_bytes(raw)
    return raw


# -- the file on disk -----------------------------------------------------------------


def test_the_store_file_and_key_file_are_private_to_the_user(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.keyfile.stat().st_mode) == 0o600
    lock = store.path.with_name("secrets.enc.lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    store.set("global/other.key", VALUE)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_values_are_never_written_in_the_clear(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    raw = store.path.read_bytes()
    assert VALUE.encode() not in raw
    assert base64.b64encode(VALUE.encode()) not in raw
    doc = _doc(store)
    assert doc["format"] == "mcpkit-secrets"
    assert doc["key_source"] == "keyfile"
    assert list(doc["entries"]) == ["global/github.token"]


def test_each_write_uses_a_fresh_nonce(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    first = _doc(store)["entries"]["global/github.token"]
    store.set("global/github.token", VALUE)
    second = _doc(store)["entries"]["global/github.token"]
    assert first != second
    assert base64.b64decode(first)[:12] != base64.b64decode(second)[:12]


def test_writes_leave_no_temporary_files_behind(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for i in range(3):
        store.set(f"global/key.n{i}", VALUE)
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        "secrets.enc",
        "secrets.enc.lock",
    ]


def test_reading_an_absent_store_creates_nothing_and_needs_no_key(tmp_path: Path) -> None:
    store = _store(tmp_path, "passphrase")  # no passphrase in the environment
    assert store.get("global/github.token") is None
    assert store.keys() == []
    assert store.delete("global/github.token") is False
    assert not store.path.exists()
    assert not store.keyfile.exists()


def test_describe_names_the_file_and_the_key_source_but_no_value(tmp_path: Path) -> None:
    store = _store(tmp_path, environ={"HOME": str(tmp_path)})
    assert "not created yet" in store.describe()
    store.set("global/github.token", VALUE)
    text = store.describe()
    assert text == "encrypted file ~/data/secrets.enc (key in file ~/config/secrets.key)"
    assert VALUE not in text


# -- tampering and damage --------------------------------------------------------------


def test_a_tampered_ciphertext_is_detected_and_the_file_is_left_unchanged(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    store.set("global/other.key", "other-value")
    doc = _doc(store)
    blob = bytearray(base64.b64decode(doc["entries"]["global/github.token"]))
    blob[-1] ^= 0x01
    doc["entries"]["global/github.token"] = base64.b64encode(blob).decode()
    raw = _rewrite(store, doc)

    with pytest.raises(SecretStoreError, match="wrong key or the file was modified") as info:
        store.get("global/github.token")
    assert info.value.hint
    assert "global/github.token" in str(info.value)
    # A write elsewhere refuses too, so the damage is not carried on silently.
    with pytest.raises(SecretStoreError, match="wrong key or the file was modified"):
        store.set("global/new.key", VALUE)
    assert store.path.read_bytes() == raw
    assert store.get("global/other.key") == "other-value"


def test_a_damaged_entry_can_be_replaced_by_storing_it_again(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    doc = _doc(store)
    doc["entries"]["global/github.token"] = base64.b64encode(b"\0" * 40).decode()
    _rewrite(store, doc)
    store.set("global/github.token", "new-value")
    assert store.get("global/github.token") == "new-value"


def test_a_damaged_entry_can_be_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    store.set("global/other.key", "other-value")
    doc = _doc(store)
    doc["entries"]["global/github.token"] = "not base64!"
    _rewrite(store, doc)
    assert store.delete("global/github.token") is True
    assert store.keys() == ["global/other.key"]
    assert store.get("global/other.key") == "other-value"


def test_a_ciphertext_moved_to_another_key_does_not_decrypt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    store.set("global/harmless.key", "harmless")
    doc = _doc(store)
    doc["entries"]["global/harmless.key"] = doc["entries"]["global/github.token"]
    raw = _rewrite(store, doc)
    with pytest.raises(SecretStoreError, match="wrong key or the file was modified"):
        store.get("global/harmless.key")
    assert store.path.read_bytes() == raw


def test_a_modified_header_is_detected(tmp_path: Path) -> None:
    store = _store(tmp_path, "passphrase", environ={PASSPHRASE_ENV: TEST_PASSPHRASE})
    store.set("global/github.token", VALUE)
    doc = _doc(store)
    doc["kdf"]["n"] = doc["kdf"]["n"] // 2
    raw = _rewrite(store, doc)
    fresh = _store(tmp_path, "passphrase", environ={PASSPHRASE_ENV: TEST_PASSPHRASE})
    for opened in (fresh, store):  # the store that already knew the key notices too
        with pytest.raises(SecretStoreError, match="wrong key or the file was modified"):
            opened.get("global/github.token")
        with pytest.raises(SecretStoreError, match="wrong key or the file was modified"):
            opened.set("global/github.token", "other-value")
    assert store.path.read_bytes() == raw


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not an mcpkit secret store"),
        (b'{"format": "mcpkit-secrets", "version": 0}', "unknown format version"),
        (
            b'{"format": "mcpkit-secrets", "version": 1, "key_source": "magic"}',
            "unknown key source",
        ),
        (
            (
                b'{"format": "mcpkit-secrets", "version": 1, "key_source": "keyfile",'
                b' "kdf": null, "check": "x", "entries": []}'
            ),
            "missing",
        ),
        (
            (
                b'{"format": "mcpkit-secrets", "version": 1, "key_source": "passphrase",'
                b' "kdf": {"name": "scrypt", "salt": "AAAA", "n": 1073741824, "r": 8, "p": 1},'
                b' "check": "x", "entries": {}}'
            ),
            "out of range",
        ),
        (
            (
                b'{"format": "mcpkit-secrets", "version": 1, "key_source": "keyfile",'
                b' "kdf": null, "check": "x", "entries": {"../x": "AAAA"}}'
            ),
            "invalid storage key",
        ),
    ],
    ids=[
        "broken-json",
        "binary",
        "not-an-object",
        "old-version",
        "bad-source",
        "bad-entries",
        "huge-scrypt",
        "bad-entry-key",
    ],
)
def test_a_corrupt_file_is_an_error_with_a_hint_and_is_left_intact(
    tmp_path: Path, content: bytes, why: str
) -> None:
    store = _store(tmp_path, environ={PASSPHRASE_ENV: TEST_PASSPHRASE})
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(content)
    for attempt in (
        lambda: store.get("global/github.token"),
        lambda: store.set("global/github.token", VALUE),
        lambda: store.delete("global/github.token"),
        store.keys,
    ):
        with pytest.raises(SecretStoreError, match=why) as info:
            attempt()
        assert info.value.code == "secret-store-corrupt"
        assert "mv " in (info.value.hint or "")
    assert store.path.read_bytes() == content
    assert "unreadable" in store.describe()


def test_a_store_written_by_a_newer_mcpkit_asks_for_an_upgrade(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    doc = _doc(store)
    doc["version"] = 99
    raw = _rewrite(store, doc)
    with pytest.raises(SecretStoreError, match="newer mcpkit") as info:
        store.set("global/github.token", "other")
    assert "upgrade" in (info.value.hint or "")
    assert store.path.read_bytes() == raw


# -- key sources ------------------------------------------------------------------------


def test_a_passphrase_store_reopens_with_the_same_passphrase(tmp_path: Path) -> None:
    environ = {PASSPHRASE_ENV: TEST_PASSPHRASE}
    _store(tmp_path, "passphrase", environ=environ).set("global/github.token", VALUE)
    doc = json.loads((tmp_path / "data" / "secrets.enc").read_bytes())
    assert doc["key_source"] == "passphrase"
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["kdf"]["n"] == 2**17  # the real default cost
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert _store(tmp_path, "passphrase", environ=environ).get("global/github.token") == VALUE
    assert not (tmp_path / "config" / "secrets.key").exists()


def test_a_wrong_passphrase_gives_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    good = {PASSPHRASE_ENV: TEST_PASSPHRASE}
    store = _store(tmp_path, "passphrase", environ=good, scrypt_n=FAST_SCRYPT_N)
    store.set("global/github.token", VALUE)
    raw = store.path.read_bytes()
    wrong = _store(tmp_path, "passphrase", environ={PASSPHRASE_ENV: "not the passphrase"})
    for attempt in (
        lambda: wrong.get("global/github.token"),
        lambda: wrong.set("global/other.key", "x-value"),
        lambda: wrong.delete("global/github.token"),
    ):
        with pytest.raises(SecretStoreError, match="wrong key or the file was modified") as info:
            attempt()
        assert PASSPHRASE_ENV in (info.value.hint or "")
        assert "not the passphrase" not in str(info.value) + (info.value.hint or "")
    assert store.path.read_bytes() == raw


def test_a_missing_passphrase_names_the_variable_to_set(tmp_path: Path) -> None:
    environ = {PASSPHRASE_ENV: TEST_PASSPHRASE}
    _store(tmp_path, "passphrase", environ=environ, scrypt_n=FAST_SCRYPT_N).set(
        "global/github.token", VALUE
    )
    # The header decides: even a store opened with another key_source setting wants it.
    store = _store(tmp_path, "auto", environ={})
    with pytest.raises(
        SecretStoreError,
        match=f"{PASSPHRASE_ENV} is not set; this store .* was created with a passphrase",
    ) as info:
        store.get("global/github.token")
    assert f"export {PASSPHRASE_ENV}" in (info.value.hint or "")


def test_creating_a_passphrase_store_without_the_passphrase_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path, "passphrase", environ={})
    with pytest.raises(SecretStoreError, match=f"{PASSPHRASE_ENV} is not set") as info:
        store.set("global/github.token", VALUE)
    assert "key_source" in (info.value.hint or "")
    assert not store.path.exists()


def test_the_recorded_key_source_wins_over_the_setting(tmp_path: Path) -> None:
    _store(tmp_path, "keyfile").set("global/github.token", VALUE)
    reopened = _store(tmp_path, "passphrase", environ={PASSPHRASE_ENV: TEST_PASSPHRASE})
    assert reopened.get("global/github.token") == VALUE
    reopened.set("global/other.key", "other-value")
    assert _doc(reopened)["key_source"] == "keyfile"


def test_a_missing_key_file_is_an_error_and_no_new_key_is_made(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    store.keyfile.unlink()
    raw = store.path.read_bytes()
    fresh = _store(tmp_path)
    with pytest.raises(SecretStoreError, match=r"key file .* is missing") as info:
        fresh.set("global/other.key", "other")
    assert "restore" in (info.value.hint or "")
    assert not store.keyfile.exists()
    assert store.path.read_bytes() == raw


def test_a_key_file_of_another_store_is_a_wrong_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    store.keyfile.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    with pytest.raises(SecretStoreError, match="wrong key or the file was modified") as info:
        _store(tmp_path).get("global/github.token")
    assert str(store.keyfile) in (info.value.hint or "")


def test_a_malformed_key_file_is_an_error(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    store.keyfile.write_text("not base64 at all!\n")
    with pytest.raises(SecretStoreError, match="does not hold a valid key"):
        _store(tmp_path).get("global/github.token")


def test_an_existing_key_file_is_reused_for_a_new_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set("global/github.token", VALUE)
    key = store.keyfile.read_bytes()
    store.path.unlink()
    _store(tmp_path).set("global/github.token", VALUE)
    assert store.keyfile.read_bytes() == key


def test_the_keyring_source_keeps_a_random_key_in_the_keyring(tmp_path: Path) -> None:
    backend = make_plaintext_keyring(tmp_path / "keyring.cfg")
    store = _store(tmp_path, "keyring", keyring_backend=backend)
    store.set("global/github.token", VALUE)
    stored = backend.get_password("mcpkit", KEYRING_KEY_USER)
    assert stored is not None
    assert len(base64.b64decode(stored)) == 32
    assert not store.keyfile.exists()
    again = _store(tmp_path, "keyring", keyring_backend=backend)
    assert again.get("global/github.token") == VALUE
    assert "key in OS keyring keyrings.alt.file.PlaintextKeyring" in again.describe()


def test_a_key_missing_from_the_keyring_is_an_error_with_a_hint(tmp_path: Path) -> None:
    backend = make_plaintext_keyring(tmp_path / "keyring.cfg")
    store = _store(tmp_path, "keyring", keyring_backend=backend)
    store.set("global/github.token", VALUE)
    backend.delete_password("mcpkit", KEYRING_KEY_USER)
    fresh = _store(tmp_path, "keyring", keyring_backend=backend)
    with pytest.raises(SecretStoreError, match="is not in the OS keyring") as info:
        fresh.get("global/github.token")
    assert info.value.hint
    assert backend.get_password("mcpkit", KEYRING_KEY_USER) is None


def test_the_keyring_source_without_a_keyring_says_how_to_do_without(tmp_path: Path) -> None:
    store = _store(tmp_path, "keyring", keyring_backend=fail.Keyring())
    with pytest.raises(SecretStoreError, match="no OS keyring") as info:
        store.set("global/github.token", VALUE)
    assert "mcpkit config set" in (info.value.hint or "")
    assert not store.path.exists()


@pytest.mark.parametrize(
    "backend_kind", ["plaintext", "fail", "null"], ids=["keyrings-alt", "fail", "null"]
)
def test_auto_refuses_an_insecure_keyring_and_picks_the_key_file(
    tmp_path: Path, backend_kind: str
) -> None:
    keyring_file = tmp_path / "keyring.cfg"
    backend = {
        "plaintext": lambda: make_plaintext_keyring(keyring_file),
        "fail": fail.Keyring,
        "null": null.Keyring,
    }[backend_kind]()
    store = _store(tmp_path, "auto", keyring_backend=backend)
    store.set("global/github.token", VALUE)
    assert _doc(store)["key_source"] == "keyfile"
    assert store.keyfile.exists()
    assert not keyring_file.exists()


def test_auto_picks_the_passphrase_when_it_is_set_and_no_secure_keyring_answers(
    tmp_path: Path,
) -> None:
    environ = {PASSPHRASE_ENV: TEST_PASSPHRASE}
    store = _store(tmp_path, "auto", environ=environ, keyring_backend=fail.Keyring())
    store.set("global/github.token", VALUE)
    assert _doc(store)["key_source"] == "passphrase"
    assert not store.keyfile.exists()


def test_auto_picks_a_secure_keyring_that_answers(tmp_path: Path) -> None:
    backend = make_secure_keyring(tmp_path / "keyring.cfg")
    environ = {PASSPHRASE_ENV: TEST_PASSPHRASE}
    store = _store(tmp_path, "auto", environ=environ, keyring_backend=backend)
    store.set("global/github.token", VALUE)
    assert _doc(store)["key_source"] == "keyring"
    assert backend.get_password("mcpkit", KEYRING_KEY_USER) is not None
    assert not store.keyfile.exists()


# -- locking and concurrency --------------------------------------------------------------


def test_a_writer_gives_up_with_a_clear_error_when_the_lock_stays_held(tmp_path: Path) -> None:
    store = _store(tmp_path, lock_timeout=0.2)
    store.set("global/github.token", VALUE)
    raw = store.path.read_bytes()
    fd = os.open(store.path.with_name("secrets.enc.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(SecretStoreError, match="locked by another process") as info:
            store.set("global/github.token", "other-value")
        assert info.value.code == "secret-store-locked"
        assert store.get("global/github.token") == VALUE  # readers take no lock
    finally:
        os.close(fd)
    assert store.path.read_bytes() == raw


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mcpkit.secrets.file_store import EncryptedFileStore

    data, keyfile, who = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    store = EncryptedFileStore(data, keyfile=keyfile, environ={}, key_source="keyfile")
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(2)
    for i in range(50):
        store.set(f"global/{who}.key{i}", f"value-{who}-{i}")
    print("done", flush=True)
    """
)


def test_two_processes_writing_at_once_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.enc"
    keyfile = tmp_path / "config" / "secrets.key"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(keyfile), who],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("alpha", "beta")
    ]
    try:
        # Both are started and waiting before either writes: the first write of each
        # races to create the file and the key file too.
        for proc in writers:
            assert proc.stdout is not None
            readable, _, _ = select.select([proc.stdout], [], [], 60)
            assert readable, "a writer did not start within 60 s"
            assert proc.stdout.readline().strip() == "ready"
        for proc in writers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [proc.communicate(timeout=120) for proc in writers]
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    for proc, (out, err) in zip(writers, outcomes, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "done"

    store = EncryptedFileStore(path, keyfile=keyfile, environ={}, key_source="keyfile")
    keys = store.keys()
    assert keys is not None
    assert len(keys) == 100
    for who in ("alpha", "beta"):
        for i in range(50):
            assert store.get(f"global/{who}.key{i}") == f"value-{who}-{i}"
