"""`catalog push|pull` through a real registry, as a source `catalog update` refreshes."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from mcpkit.app import App
from mcpkit.catalog.artifact import DOCKER_CATALOG_ARTIFACT_TYPE
from mcpkit.oci.client import Layer, RegistryClient
from mcpkit.oci.reference import Reference


@pytest.fixture
def team(run: Any, environ: dict[str, str]) -> Any:
    environ["MCPKIT_SIGNING_PASSPHRASE"] = "catalog signing passphrase"
    run("trust", "keygen")
    run("catalog", "create", "team")
    run("catalog", "server", "add", "team", "team-notes", "--command", "notes-server")
    return run


def _ref(registry: Any) -> str:
    return registry.reference(f"team/catalog-{secrets.token_hex(4)}", "v1")


def _policy(environ: dict[str, str], text: str) -> None:
    app = App(environ)
    try:
        path = app.locations.config_dir / "trust.toml"
    finally:
        app.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_pushed_catalog_is_pulled_as_a_source_and_updates_by_digest(
    team: Any, oci_registry: Any
) -> None:
    run = team
    ref = _ref(oci_registry)
    pushed = json.loads(run("catalog", "push", "team", ref, "--sign", "--json").stdout)
    assert pushed["servers"] == 1
    assert pushed["unpinned"] == []  # a command server has no artifact to pin
    assert pushed["signature"].endswith(".sig")

    out = run("catalog", "pull", ref, "--name", "shared")
    assert "added catalog shared (1 servers)" in out.stdout
    sources = {s["name"]: s for s in json.loads(run("catalog", "source", "ls", "--json").stdout)}
    assert sources["shared"]["kind"] == "oci"
    entries = json.loads(run("catalog", "ls", "--json").stdout)
    assert any(e["id"] == "team-notes" for e in entries)

    update = run("catalog", "update", "shared")
    assert "unchanged" in update.stdout + update.stderr

    run("catalog", "server", "add", "team", "team-todo", "--command", "todo-server")
    run("catalog", "push", "team", ref, "--sign")
    update = run("catalog", "update", "shared")
    assert "updated" in update.stdout + update.stderr
    ids = {e["id"] for e in json.loads(run("catalog", "ls", "--json").stdout)}
    assert {"team-notes", "team-todo"} <= ids


def test_an_unsigned_catalog_is_refused_under_enforce_and_nothing_is_added(
    team: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = team
    ref = _ref(oci_registry)
    run("catalog", "push", "team", ref)
    _policy(environ, 'mode = "enforce"\n')
    result = run("catalog", "pull", ref, "--name", "shared", code=13)
    assert "no signature" in result.stderr or "signature" in result.stderr
    names = {s["name"] for s in json.loads(run("catalog", "source", "ls", "--json").stdout)}
    assert "shared" not in names

    _policy(environ, 'mode = "warn"\n')
    warned = run("catalog", "pull", ref, "--name", "shared")
    assert "trust policy: warn" in warned.stderr


def test_a_signed_catalog_whose_tag_moves_to_unsigned_content_keeps_the_previous_copy(
    team: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run = team
    ref = _ref(oci_registry)
    run("catalog", "push", "team", ref, "--sign")
    _policy(environ, 'mode = "enforce"\n')
    run("catalog", "pull", ref, "--name", "shared")
    run("catalog", "server", "add", "team", "team-evil", "--command", "evil")
    run("catalog", "push", "team", ref)  # same tag, new content, not signed
    update = run("catalog", "update", "shared", code=6)
    assert "signature" in update.stdout + update.stderr
    # The source kept its signed copy: the new entry is only in the local 'team' catalog.
    winners = {e["id"]: e["catalog"] for e in json.loads(run("catalog", "ls", "--json").stdout)}
    assert winners["team-notes"] == "shared"
    assert winners["team-evil"] == "team"


def test_pushing_a_catalog_names_its_unpinned_entries(run: Any, oci_registry: Any) -> None:
    run("catalog", "create", "loose")
    run("catalog", "server", "add", "loose", "loose-time", "--pypi", "mcp-server-time")
    result = run("catalog", "push", "loose", _ref(oci_registry))
    assert "note: not pinned: loose-time" in result.stderr


def test_a_docker_catalog_artifact_is_pulled(run: Any, oci_registry: Any) -> None:
    ref = _ref(oci_registry)
    catalog = {
        "title": "Docker team catalog",
        "servers": [
            {
                "type": "remote",
                "endpoint": "https://mcp.example.com/mcp",
                "snapshot": {
                    "server": {
                        "name": "example-remote",
                        "title": "Example",
                        "type": "remote",
                        "remote": {"url": "https://mcp.example.com/mcp", "transport_type": "http"},
                    }
                },
            }
        ],
    }
    RegistryClient(environ={"HOME": "/nonexistent"}).push_artifact(
        Reference.parse(ref),
        artifact_type=DOCKER_CATALOG_ARTIFACT_TYPE,
        layers=[Layer(json.dumps(catalog).encode(), "application/json")],
    )
    out = run("catalog", "pull", ref, "--name", "docker-team")
    assert "(1 servers)" in out.stdout
    ids = {e["id"] for e in json.loads(run("catalog", "ls", "--json").stdout)}
    assert "example-remote" in ids


def test_a_profile_artifact_is_not_taken_for_a_catalog(
    run: Any, environ: dict[str, str], oci_registry: Any
) -> None:
    run("profile", "create", "p")
    ref = _ref(oci_registry)
    run("profile", "push", "p", ref)
    result = run("catalog", "pull", ref, "--name", "wrong", code=4)
    assert "profile pull" in result.stderr
