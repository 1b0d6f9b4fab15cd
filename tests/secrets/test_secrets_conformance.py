"""The secret store conformance kit: one set of behaviours every backend passes.

The ``harness`` fixture (conftest.py) runs each test against every backend: the
encrypted file with each key source, the OS keyring (a real ``keyrings.alt`` file
keyring), a real external provider program, and the read-only environment. Tests
that write skip read-only stores; those read what ``harness.seed`` put in place.
"""

from __future__ import annotations

import pytest
from secret_store_kit import Harness

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.base import MAX_VALUE_BYTES, SecretStore

VALUES = {
    "ascii": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "unicode": "pâsswörd-密码-🔑",
    "multiline": "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----",
    "spaces": "  leading and trailing spaces  ",
    "largest-ascii": "x" * MAX_VALUE_BYTES,
    "largest-unicode": "é" * (MAX_VALUE_BYTES // 2),
}
INVALID_KEYS = ["", "global/", "/global/x", "global//x", "global/../x", "global/-rf", "a b", "é/x"]


def _skip_if_read_only(store: SecretStore) -> None:
    if store.read_only:
        pytest.skip(f"the {store.name} store is read-only")


def test_every_backend_satisfies_the_secret_store_protocol(harness: Harness) -> None:
    assert isinstance(harness.store, SecretStore)
    assert harness.store.name in {"file", "keyring", "env", "command"}
    assert isinstance(harness.store.read_only, bool)


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_a_stored_value_reads_back_unchanged(harness: Harness, kind: str) -> None:
    value = VALUES[kind]
    harness.seed("global/github.token", value)
    assert harness.store.get("global/github.token") == value


def test_reading_a_missing_key_gives_none(harness: Harness) -> None:
    assert harness.store.get("global/never.set") is None
    harness.seed("global/other.key", "value-1")
    assert harness.store.get("global/never.set") is None


def test_global_and_profile_keys_hold_separate_values(harness: Harness) -> None:
    harness.seed("global/github.token", "global-value")
    harness.seed("profile/dev/github.token", "dev-value")
    harness.seed("profile/prod/github.token", "prod-value")
    assert harness.store.get("global/github.token") == "global-value"
    assert harness.store.get("profile/dev/github.token") == "dev-value"
    assert harness.store.get("profile/prod/github.token") == "prod-value"


def test_setting_a_key_again_replaces_its_value(harness: Harness) -> None:
    _skip_if_read_only(harness.store)
    harness.store.set("global/github.token", "first-value")
    harness.store.set("global/github.token", "second-value")
    assert harness.store.get("global/github.token") == "second-value"


def test_delete_removes_a_key_and_reports_whether_it_was_there(harness: Harness) -> None:
    _skip_if_read_only(harness.store)
    harness.store.set("global/github.token", "value-1")
    harness.store.set("global/keep.me", "value-2")
    assert harness.store.delete("global/github.token") is True
    assert harness.store.get("global/github.token") is None
    assert harness.store.delete("global/github.token") is False
    assert harness.store.get("global/keep.me") == "value-2"


def test_deleting_from_an_empty_store_reports_nothing_removed(harness: Harness) -> None:
    _skip_if_read_only(harness.store)
    assert harness.store.delete("global/never.set") is False


def test_keys_lists_every_stored_key_when_the_backend_can_enumerate(harness: Harness) -> None:
    stored = ["global/github.token", "global/slack.bot_token", "profile/dev/github.token"]
    for i, key in enumerate(stored):
        harness.seed(key, f"value-{i}")
    keys = harness.store.keys()
    if keys is None:
        pytest.skip(f"the {harness.store.name} store cannot enumerate")
    assert set(stored) <= set(keys)
    assert keys == sorted(keys)


def test_deleted_keys_are_no_longer_listed(harness: Harness) -> None:
    _skip_if_read_only(harness.store)
    harness.store.set("global/a.b", "value-1")
    harness.store.set("global/c.d", "value-2")
    harness.store.delete("global/a.b")
    keys = harness.store.keys()
    if keys is None:
        pytest.skip(f"the {harness.store.name} store cannot enumerate")
    assert "global/a.b" not in keys
    assert "global/c.d" in keys


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_rejected_and_nothing_changes(harness: Harness, key: str) -> None:
    harness.seed("global/github.token", "value-1")
    with pytest.raises(SecretStoreError, match="invalid secret storage key") as info:
        harness.store.get(key)
    assert info.value.hint
    if not harness.store.read_only:
        with pytest.raises(SecretStoreError, match="invalid secret storage key"):
            harness.store.set(key, "value-2")
        with pytest.raises(SecretStoreError, match="invalid secret storage key"):
            harness.store.delete(key)
    assert harness.store.get("global/github.token") == "value-1"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "non-empty"),
        ("x" * (MAX_VALUE_BYTES + 1), "more than"),
        ("é" * (MAX_VALUE_BYTES // 2) + "x", "more than"),
        ("broken \ud800 surrogate", "not valid Unicode"),
    ],
    ids=["empty", "too-long-ascii", "too-long-unicode", "lone-surrogate"],
)
def test_invalid_values_are_rejected_and_the_old_value_is_kept(
    harness: Harness, value: str, why: str
) -> None:
    _skip_if_read_only(harness.store)
    harness.store.set("global/github.token", "old-value")
    with pytest.raises(SecretStoreError, match=why) as info:
        harness.store.set("global/github.token", value)
    assert info.value.hint
    assert harness.store.get("global/github.token") == "old-value"


def test_a_read_only_store_refuses_writes_with_a_hint(harness: Harness) -> None:
    if not harness.store.read_only:
        pytest.skip(f"the {harness.store.name} store is writable")
    harness.seed("global/github.token", "value-1")
    with pytest.raises(SecretStoreError, match="read-only") as info:
        harness.store.set("global/github.token", "value-2")
    assert info.value.hint
    with pytest.raises(SecretStoreError, match="read-only"):
        harness.store.delete("global/github.token")
    assert harness.store.get("global/github.token") == "value-1"


def test_values_never_appear_in_describe_or_in_error_messages(harness: Harness) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    harness.seed("global/github.token", secret)
    texts = [harness.store.describe()]
    attempts = [
        lambda: harness.store.set("not a key", secret),
        lambda: harness.store.set("global/github.token", secret + "x" * MAX_VALUE_BYTES),
        lambda: harness.store.delete("global/bad key"),
    ]
    if harness.store.read_only:
        attempts.append(lambda: harness.store.set("global/github.token", secret))
    for attempt in attempts:
        with pytest.raises(SecretStoreError) as info:
            attempt()
        texts += [str(info.value), info.value.hint or "", repr(info.value.to_dict())]
    for text in texts:
        assert secret not in text
    assert harness.store.describe()
