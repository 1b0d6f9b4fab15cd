"""Profiles and their servers in the state database."""

from __future__ import annotations

import pytest

from mcpkit.app import App
from mcpkit.catalog.custom import SpecOptions, build_spec
from mcpkit.errors import (
    ConfigValidationError,
    ConflictError,
    InvalidInputError,
    UnknownProfileError,
    UnknownServerError,
    UsageError,
)
from mcpkit.profiles.model import DEFAULT_PROFILE


def test_the_default_profile_always_exists_and_cannot_be_removed(app: App) -> None:
    assert [p.name for p in app.profiles.list_profiles()] == [DEFAULT_PROFILE]
    with pytest.raises(UsageError) as info:
        app.profiles.remove(DEFAULT_PROFILE)
    assert info.value.hint and "profile server rm" in info.value.hint
    assert app.profiles.exists(DEFAULT_PROFILE)


def test_a_profile_is_created_with_catalog_servers_in_order(app: App) -> None:
    app.profiles.create("dev", servers=["time", "git"], description="daily")
    profile = app.profiles.get("dev")
    assert [s.id for s in profile.servers] == ["time", "git"]
    assert profile.description == "daily"


def test_creating_with_an_unknown_server_stores_nothing_and_suggests(app: App) -> None:
    with pytest.raises(UnknownServerError) as info:
        app.profiles.create("dev", servers=["time", "tmie"])
    assert info.value.hint and "time" in info.value.hint
    assert not app.profiles.exists("dev")


def test_creating_twice_is_a_conflict(app: App) -> None:
    app.profiles.create("dev")
    with pytest.raises(ConflictError):
        app.profiles.create("dev")


@pytest.mark.parametrize("name", ["Dev", "a b", "", "x" * 65, "../etc"])
def test_invalid_profile_names_are_refused(app: App, name: str) -> None:
    with pytest.raises(UsageError):
        app.profiles.create(name)


def test_the_same_server_has_separate_config_in_each_profile(app: App) -> None:
    app.profiles.create("a", servers=["git"])
    app.profiles.create("b", servers=["git"])
    app.profiles.set_config("a", "git", [("repository", "/src/a")])
    app.profiles.set_config("b", "git", [("repository", "/src/b")])
    assert app.profiles.get("a").servers[0].config == {"repository": "/src/a"}
    assert app.profiles.get("b").servers[0].config == {"repository": "/src/b"}


def test_a_bad_config_value_is_refused_and_the_old_value_kept(app: App) -> None:
    app.profiles.add_server(DEFAULT_PROFILE, "filesystem")
    app.profiles.set_config(DEFAULT_PROFILE, "filesystem", [("paths", "[/srv]")])
    with pytest.raises(ConfigValidationError):
        app.profiles.set_config(DEFAULT_PROFILE, "filesystem", [("paths", "not-a-list")])
    assert app.profiles.get(DEFAULT_PROFILE).servers[0].config == {"paths": ["/srv"]}


def test_config_of_a_server_not_in_the_profile_is_an_error(app: App) -> None:
    with pytest.raises(UnknownServerError, match="has no server 'git'"):
        app.profiles.set_config(DEFAULT_PROFILE, "git", [("repository", "/x")])
    with pytest.raises(UnknownProfileError):
        app.profiles.set_config("nope", "git", [("repository", "/x")])


def test_deleting_a_config_value_that_is_not_set_is_an_error(app: App) -> None:
    app.profiles.add_server(DEFAULT_PROFILE, "git")
    with pytest.raises(InvalidInputError, match="no config value 'repository'"):
        app.profiles.del_config(DEFAULT_PROFILE, "git", ["repository"])


def test_adding_a_server_twice_is_a_conflict(app: App) -> None:
    app.profiles.add_server(DEFAULT_PROFILE, "time")
    with pytest.raises(ConflictError):
        app.profiles.add_server(DEFAULT_PROFILE, "time")


def test_a_server_with_its_own_spec_needs_no_catalog_entry(app: App) -> None:
    spec = build_spec("mine", SpecOptions(command="python -m mine"))
    app.profiles.add_server(DEFAULT_PROFILE, "mine", spec=spec)
    server = app.profiles.get(DEFAULT_PROFILE).server("mine")
    assert server is not None and server.spec == spec
    assert app.profiles.spec_for(server) == spec


def test_tool_filters_allow_deny_only_and_reset(app: App) -> None:
    app.profiles.add_server(DEFAULT_PROFILE, "git")
    filt = app.profiles.set_tools(DEFAULT_PROFILE, "git", disable=["git_commit"])
    assert not filt.allows("git_commit") and filt.allows("git_status")
    filt = app.profiles.set_tools(DEFAULT_PROFILE, "git", only=["git_status", "git_log"])
    assert filt.allow == ["git_status", "git_log"]
    filt = app.profiles.set_tools(DEFAULT_PROFILE, "git", enable=["git_diff"], disable=["git_log"])
    assert filt.allow == ["git_status", "git_diff"]
    filt = app.profiles.set_tools(DEFAULT_PROFILE, "git", reset=True)
    assert filt.is_default


def test_an_unknown_tool_name_is_refused_when_the_catalog_lists_tools(app: App) -> None:
    app.profiles.add_server(DEFAULT_PROFILE, "git")
    with pytest.raises(InvalidInputError) as info:
        app.profiles.set_tools(DEFAULT_PROFILE, "git", disable=["git_comit"])
    assert info.value.hint and "git_commit" in info.value.hint


def test_removing_a_profile_keeps_other_profiles(app: App) -> None:
    app.profiles.create("a", servers=["time"])
    app.profiles.create("b", servers=["time"])
    app.profiles.remove("a")
    assert [p.name for p in app.profiles.list_profiles()] == ["b", DEFAULT_PROFILE]
    assert app.profiles.profiles_using("time") == ["b"]
