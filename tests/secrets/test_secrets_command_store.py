"""The command store, driving a real provider program (a Python script in tmp_path)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from secret_store_kit import Provider

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.command_store import CommandStore

VALUE = "xoxb-value-that-must-never-be-in-argv"


def test_the_value_goes_on_stdin_never_in_argv_or_environment(provider: Provider) -> None:
    store = provider.store()
    store.set("global/slack.bot_token", VALUE)
    assert store.get("global/slack.bot_token") == VALUE
    calls = provider.calls()
    assert [c["argv"][2] for c in calls] == ["set", "get"]  # type: ignore[index]
    for call in calls:
        assert VALUE not in repr(call["argv"])
        assert VALUE not in repr(call["env"])


def test_the_key_is_substituted_as_one_argv_element(provider: Provider) -> None:
    store = provider.store(get_command=provider.argv("get", "{name}"))
    store.get("profile/dev/github.token")
    argv = provider.calls()[-1]["argv"]
    assert argv[-1] == "profile/dev/github.token"  # type: ignore[index]


def test_a_placeholder_inside_an_element_is_replaced_in_place_without_a_shell() -> None:
    echo = [sys.executable, "-c", "import sys; print(repr(sys.argv[1:]))"]
    store = CommandStore(get_command=[*echo, "mcpkit/{name}", "$(id) `id` {name};"])
    assert store.get("global/x") == "['mcpkit/global/x', '$(id) `id` global/x;']"


def test_one_trailing_newline_is_stripped_and_no_more(tmp_path: Path) -> None:
    printer = [sys.executable, "-c", "import sys; sys.stdout.write('line1\\nline2\\n\\n')"]
    store = CommandStore(get_command=[*printer, "{name}"])
    assert store.get("global/x") == "line1\nline2\n"


def test_a_non_zero_exit_on_get_means_not_found_and_stderr_is_logged(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    store = provider.store()
    with caplog.at_level(logging.DEBUG, logger="mcpkit.secrets.command_store"):
        assert store.get("global/missing.key") is None
    assert "provider: no such entry" in caplog.text
    assert "exited 1" in caplog.text


def test_without_a_set_command_the_store_is_read_only(provider: Provider) -> None:
    store = CommandStore(get_command=provider.argv("get", "{name}"))
    assert store.read_only
    with pytest.raises(SecretStoreError, match="read-only") as info:
        store.set("global/github.token", VALUE)
    assert "set_command" in (info.value.hint or "")
    with pytest.raises(SecretStoreError, match="read-only"):
        store.delete("global/github.token")
    assert "(read-only)" in store.describe()
    assert provider.calls() == []


def test_delete_without_a_delete_command_is_an_error_with_a_hint(provider: Provider) -> None:
    store = provider.store(delete_command=[])
    store.set("global/github.token", VALUE)
    with pytest.raises(SecretStoreError, match="delete_command is not configured") as info:
        store.delete("global/github.token")
    assert "delete_command" in (info.value.hint or "")
    assert store.get("global/github.token") == VALUE


def test_a_failing_set_reports_the_provider_error_with_the_value_redacted(
    provider: Provider,
) -> None:
    # The "fail" provider echoes its stdin (the value) into its error message.
    store = provider.store(set_command=provider.argv("fail", "{name}"))
    with pytest.raises(SecretStoreError, match="exited with status 3") as info:
        store.set("global/github.token", VALUE)
    assert VALUE not in str(info.value)
    assert "provider: **** rejected" in str(info.value)
    assert info.value.hint
    assert store.get("global/github.token") is None


def test_a_failing_set_of_a_short_value_withholds_the_output(provider: Provider) -> None:
    store = provider.store(set_command=provider.argv("fail", "{name}"))
    with pytest.raises(SecretStoreError, match="withheld") as info:
        store.set("global/pin.code", "123")
    assert "123" not in str(info.value)


def test_keys_come_from_the_list_command_skipping_invalid_lines(provider: Provider) -> None:
    store = provider.store()
    store.set("global/b.key", "value-1")
    store.set("profile/dev/a.key", "value-2")
    assert store.keys() == ["global/b.key", "profile/dev/a.key"]
    assert provider.store(list_command=[]).keys() is None


def test_a_failing_list_command_is_an_error(provider: Provider) -> None:
    store = provider.store(list_command=provider.argv("fail", "x"))
    with pytest.raises(SecretStoreError, match="cannot list secrets"):
        store.keys()


def test_a_missing_provider_program_is_an_error_with_a_hint(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-provider")
    store = CommandStore(get_command=[missing, "{name}"])
    with pytest.raises(SecretStoreError, match="was not found") as info:
        store.get("global/github.token")
    assert "install" in (info.value.hint or "")
    assert info.value.code == "secret-store-unavailable"


def test_a_provider_that_is_not_executable_is_an_error(tmp_path: Path) -> None:
    script = tmp_path / "provider.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o600)
    with pytest.raises(SecretStoreError, match="could not be started"):
        CommandStore(get_command=[str(script), "{name}"]).get("global/x")


def test_a_provider_that_hangs_is_stopped_after_the_timeout(provider: Provider) -> None:
    store = CommandStore(get_command=provider.argv("hang", "{name}"), timeout=0.5)
    with pytest.raises(SecretStoreError, match=r"did not finish within 0\.5 s") as info:
        store.get("global/github.token")
    assert info.value.code == "secret-store-timeout"
    assert info.value.__cause__ is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"get_command": []}, "get_command is not set"),
        ({"get_command": ["pass", "show"]}, "has no {name} placeholder"),
        (
            {"get_command": ["pass", "show", "{name}"], "set_command": ["pass", "insert"]},
            "set_command",
        ),
    ],
    ids=["no-get", "get-without-name", "set-without-name"],
)
def test_unusable_command_settings_are_rejected_up_front(
    settings: dict[str, list[str]], message: str
) -> None:
    with pytest.raises(SecretStoreError, match=message.replace("{", r"\{")) as info:
        CommandStore(**settings)
    assert info.value.code == "secret-store-config"
    assert info.value.hint


def test_the_provider_runs_with_the_injected_environment(provider: Provider) -> None:
    store = CommandStore(
        get_command=provider.argv("get", "{name}"),
        environ={"PATH": "/usr/bin:/bin", "PROVIDER_TOKEN_DIR": "/somewhere"},
    )
    store.get("global/github.token")
    env = provider.calls()[-1]["env"]
    assert env["PROVIDER_TOKEN_DIR"] == "/somewhere"  # type: ignore[index]
    assert "HOME" not in env  # type: ignore[operator]
