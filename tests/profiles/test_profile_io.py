"""Profile export and import documents."""

from __future__ import annotations

import json

import pytest
import yaml

from mcpkit.app import App
from mcpkit.catalog.custom import SpecOptions, build_spec
from mcpkit.errors import (
    ConfigValidationError,
    ConflictError,
    ProfileFormatError,
    UnknownServerError,
)
from mcpkit.profiles import io


def _export(app: App, name: str, fmt: io.Format = "yaml") -> str:
    profile = app.profiles.get(name)
    specs = {s.id: app.profiles.spec_for(s) for s in profile.servers}
    return io.render(io.to_document(profile, specs), fmt)


def test_an_exported_profile_imports_back_unchanged(app: App) -> None:
    app.profiles.create("dev", servers=["git", "github"], description="work")
    app.profiles.set_config("dev", "git", [("repository", "/src")])
    app.profiles.set_tools("dev", "git", disable=["git_commit"])
    app.profiles.add_server("dev", "mine", spec=build_spec("mine", SpecOptions(command="run-me")))
    for fmt in ("yaml", "json"):
        text = _export(app, "dev", fmt)  # type: ignore[arg-type]
        copy = io.from_text(text, origin="dev", name=f"dev-{fmt}")
        app.profiles.save(copy)
        again = app.profiles.get(f"dev-{fmt}")
        assert again.model_dump(exclude={"name"}) == app.profiles.get("dev").model_dump(
            exclude={"name"}
        )


def test_the_export_lists_needed_secret_names_and_never_values(app: App) -> None:
    app.profiles.create("dev", servers=["github"])
    app.secrets.set("github.token", "ghp_NeverExportMe1234567890")
    text = _export(app, "dev")
    assert "ghp_NeverExportMe" not in text
    assert yaml.safe_load(text)["secrets"] == ["github.token"]
    assert text.startswith("# mcpkit profile.")
    assert json.loads(_export(app, "dev", "json"))["kind"] == "mcpkit/profile"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just a string", "must be a mapping"),
        ("name: [unclosed", "not valid YAML"),
        ("version: 9\nname: x\nservers: []", "version 9 is not supported"),
        ("kind: other\nname: x", "is not 'mcpkit/profile'"),
        ("name: x\nservers: {id: a}", "'servers' must be a list"),
        ("name: Bad Name\nservers: []", "name"),
        ("name: x\nservers: [{id: time, bogus: 1}]", "servers.0.bogus"),
    ],
)
def test_malformed_documents_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ProfileFormatError, match=message.replace("[", r"\[")):
        io.from_text(text, origin="p.yaml")


def test_the_short_tools_form_is_an_allowlist() -> None:
    profile = io.from_text("name: x\nservers: [{id: git, tools: [git_log]}]", origin="p")
    assert profile.servers[0].tools.allow == ["git_log"]


def test_import_does_not_overwrite_without_replace(app: App) -> None:
    app.profiles.create("dev", servers=["time"])
    incoming = io.from_text("name: dev\nservers: [{id: git}]", origin="p")
    with pytest.raises(ConflictError):
        app.profiles.save(incoming)
    assert [s.id for s in app.profiles.get("dev").servers] == ["time"]
    app.profiles.save(incoming, replace=True)
    assert [s.id for s in app.profiles.get("dev").servers] == ["git"]


def test_import_with_an_unknown_server_or_bad_config_stores_nothing(app: App) -> None:
    with pytest.raises(UnknownServerError):
        app.profiles.save(io.from_text("name: dev\nservers: [{id: nope}]", origin="p"))
    with pytest.raises(ConfigValidationError):
        app.profiles.save(
            io.from_text("name: dev\nservers: [{id: git, config: {repository: 5}}]", origin="p")
        )
    assert not app.profiles.exists("dev")
