"""The environment store: variable names, reads from an injected mapping, read-only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcpkit.errors import SecretStoreError
from mcpkit.secrets.env_store import EnvStore, env_var_for, key_for_env_var


@pytest.mark.parametrize(
    ("key", "var"),
    [
        ("global/github.token", "MCPKIT_SECRET_GITHUB__TOKEN"),
        ("profile/dev/github.token", "MCPKIT_SECRET_DEV___GITHUB__TOKEN"),
        ("global/brave-search.api_key", "MCPKIT_SECRET_BRAVE_SEARCH__API_KEY"),
        ("profile/team-a/x.y.z", "MCPKIT_SECRET_TEAM_A___X__Y__Z"),
        ("global/GitHub.Token", "MCPKIT_SECRET_GITHUB__TOKEN"),
    ],
)
def test_keys_map_to_documented_variable_names(key: str, var: str) -> None:
    assert env_var_for(key) == var


@pytest.mark.parametrize("key", ["global/a/b", "other/x", "profile/dev", "global"])
def test_keys_of_another_shape_have_no_variable_and_are_never_found(key: str) -> None:
    assert env_var_for(key) is None
    store = EnvStore({"MCPKIT_SECRET_A": "value-1"})
    assert store.get(key) is None


def test_values_are_read_from_the_injected_mapping_on_every_call() -> None:
    environ = {"MCPKIT_SECRET_GITHUB__TOKEN": "token-1"}
    store = EnvStore(environ)
    assert store.get("global/github.token") == "token-1"
    environ["MCPKIT_SECRET_GITHUB__TOKEN"] = "token-2"
    assert store.get("global/github.token") == "token-2"
    assert store.get("global/GitHub.Token") == "token-2"


def test_an_empty_variable_counts_as_unset() -> None:
    store = EnvStore({"MCPKIT_SECRET_GITHUB__TOKEN": ""})
    assert store.get("global/github.token") is None
    assert store.keys() == []


def test_keys_decodes_our_variables_and_ignores_the_rest() -> None:
    store = EnvStore(
        {
            "MCPKIT_SECRET_GITHUB__TOKEN": "a-value",
            "MCPKIT_SECRET_DEV___SLACK__BOT_TOKEN": "b-value",
            "MCPKIT_SECRET_lower__case": "ignored: never produced by the mapping",
            "MCPKIT_SECRET_": "ignored: no name",
            "MCPKIT_SECRET___X": "ignored: no profile",
            "MCPKIT_SECRETS_PASSPHRASE": "ignored: not a secret variable",
            "HOME": "/home/someone",
        }
    )
    assert store.keys() == ["global/github.token", "profile/dev/slack.bot_token"]


@pytest.mark.parametrize(
    ("var", "key"),
    [
        # a single underscore is read as "_", never "-"
        ("MCPKIT_SECRET_BRAVE_SEARCH__API_KEY", "global/brave_search.api_key"),
        # the first run of three underscores is the profile separator ("global/a_.b" too)
        ("MCPKIT_SECRET_A___B", "profile/a/b"),
        # decodes to "profile/a/_b", no valid key ("global/a..b" is), so it is not listed
        ("MCPKIT_SECRET_A____B", None),
    ],
)
def test_ambiguous_variables_decode_as_documented(var: str, key: str | None) -> None:
    assert key_for_env_var(var) == key
    assert EnvStore({var: "value-1"}).keys() == ([key] if key else [])


def test_get_is_exact_whatever_the_listing_says() -> None:
    store = EnvStore({"MCPKIT_SECRET_A___B": "value-1", "MCPKIT_SECRET_A____B": "value-2"})
    assert store.get("global/a_.b") == "value-1"
    assert store.get("profile/a/b") == "value-1"
    assert store.get("global/a..b") == "value-2"


_part = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)


@given(scope=st.one_of(st.none(), _part), name=_part)
def test_every_listed_key_reads_back_the_variable_it_came_from(
    scope: str | None, name: str
) -> None:
    key = f"profile/{scope}/{name}" if scope else f"global/{name}"
    var = env_var_for(key)
    assert var is not None
    listed = EnvStore({var: "value-1"}).keys()
    assert listed is not None
    assert len(listed) <= 1
    for found in listed:
        assert env_var_for(found) == var
        assert EnvStore({var: "value-1"}).get(found) == "value-1"


@pytest.mark.parametrize("op", ["set", "delete"])
def test_writes_are_refused_with_a_hint_naming_the_variable(op: str) -> None:
    environ = {"MCPKIT_SECRET_GITHUB__TOKEN": "old-value"}
    store = EnvStore(environ)
    assert store.read_only
    call = {
        "set": lambda: store.set("global/github.token", "new-secret-value"),
        "delete": lambda: store.delete("global/github.token"),
    }[op]
    with pytest.raises(SecretStoreError, match="environment secret store is read-only") as info:
        call()
    hint = info.value.hint or ""
    assert "MCPKIT_SECRET_GITHUB__TOKEN" in hint
    assert ("export" if op == "set" else "unset") in hint
    assert "new-secret-value" not in hint + str(info.value)
    assert environ == {"MCPKIT_SECRET_GITHUB__TOKEN": "old-value"}


def test_describe_says_where_values_come_from_and_that_it_is_read_only() -> None:
    text = EnvStore({"MCPKIT_SECRET_X": "value-1"}).describe()
    assert "MCPKIT_SECRET_" in text
    assert "read-only" in text
    assert "value-1" not in text
