"""The catalog service against real sources: update, precedence, failures keep the copy."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mcpkit.catalog.service import CatalogService
from mcpkit.catalog.sources import make_source
from mcpkit.errors import CatalogFormatError, ConflictError, SourceError, UsageError
from mcpkit.store import Database

if TYPE_CHECKING:
    from conftest import CatalogServer, Run

TEAM_V2 = b"""\
version: 1
name: team
servers:
  - id: time
    title: Team time
    source: {type: command, command: team-time}
  - id: notes
    title: Notes
    source: {type: remote, url: "https://notes.example.com/mcp"}
"""


@pytest.fixture
def service(tmp_path: Path) -> CatalogService:
    # Short timeouts so the "slow source" case ends quickly; the sources are the real ones.
    return CatalogService(
        Database(tmp_path / "state.db"), source_factory=functools.partial(make_source, timeout=1.0)
    )


def test_a_url_source_overrides_the_bundled_entry_and_updates_conditionally(
    service: CatalogService, catalog_server: CatalogServer
) -> None:
    outcome = service.add_source("team", catalog_server.url("/catalog.yaml"))
    assert outcome is not None and outcome.status == "updated"
    assert service.get("time").source == "team"
    assert service.update(["team"])[0].status == "unchanged"
    sent = catalog_server.requests[-1].headers
    assert sent.get("if-none-match") == '"v1"'
    catalog_server.catalog, catalog_server.etag = TEAM_V2, '"v2"'
    assert service.update()[0].status == "updated"
    assert service.get("time").spec.title == "Team time"
    assert service.get("notes").spec.is_remote
    assert service.search("notes")[0].spec.id == "notes"


@pytest.mark.parametrize("path", ["/error", "/garbage", "/html", "/slow", "/redirect-loop"])
def test_a_broken_source_keeps_its_previous_copy(
    service: CatalogService, catalog_server: CatalogServer, path: str
) -> None:
    service.add_source("team", catalog_server.url("/plain.yaml"))
    with service._db.write() as conn:  # point the stored source elsewhere
        conn.execute(
            "UPDATE catalog_sources SET location = ? WHERE name = 'team'",
            (catalog_server.url(path),),
        )
    outcome = service.update(["team"])[0]
    assert outcome.status == "failed"
    assert isinstance(outcome.error, SourceError)
    assert catalog_server.url(path) in outcome.error.message
    assert outcome.error.hint
    assert service.get("time").source == "team"  # the previous copy still serves
    assert service.source("team").last_error == outcome.error.message


def test_a_source_whose_first_fetch_fails_is_not_added(
    service: CatalogService, catalog_server: CatalogServer
) -> None:
    with pytest.raises(SourceError):
        service.add_source("team", catalog_server.url("/error"))
    assert "team" not in [s.name for s in service.sources()]


def test_a_registry_source_maps_packages_and_remotes(
    service: CatalogService, catalog_server: CatalogServer
) -> None:
    outcome = service.add_source("official", catalog_server.url("/v0/servers"))
    assert outcome is not None and outcome.servers > 0
    kinds = {e.spec.source.type for e in service.entries() if e.source == "official"}
    assert {"package", "remote"} <= kinds
    assert any("nuget" in w for w in outcome.warnings)


def test_a_folder_source_reads_server_yaml_files(service: CatalogService, tmp_path: Path) -> None:
    folder = tmp_path / "registry" / "servers" / "dice"
    folder.mkdir(parents=True)
    (folder / "server.yaml").write_text(
        "name: dice\nimage: mcp/dice\ntype: server\nabout: {title: Dice, description: Roll}\n"
        "meta: {category: games}\n"
    )
    service.add_source("reg", str(tmp_path / "registry"))
    entry = service.get("dice")
    assert entry.source == "reg" and entry.spec.source.type == "image"
    assert service.update(["reg"])[0].status == "unchanged"


def test_priority_decides_between_sources(service: CatalogService, tmp_path: Path) -> None:
    low, high = tmp_path / "low.yaml", tmp_path / "high.yaml"
    for path, title in ((low, "Low"), (high, "High")):
        path.write_text(
            f"version: 1\nservers:\n  - id: x\n    title: {title}\n"
            "    source: {type: command, command: x}\n"
        )
    service.add_source("high", str(high), priority=100)
    service.add_source("low", str(low), priority=50)
    assert service.get("x").spec.title == "High"
    service.remove_source("high")
    assert service.get("x").spec.title == "Low"


def test_names_are_checked_and_unique(service: CatalogService, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        service.create_catalog("Bad Name")
    service.create_catalog("mine")
    with pytest.raises(ConflictError):
        service.create_catalog("mine")


def test_a_malformed_file_source_fails_and_adds_nothing(
    service: CatalogService, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nservers:\n  - id: a\n    title: A\n    source: {type: image}\n")
    with pytest.raises(CatalogFormatError) as info:
        service.add_source("bad", str(bad))
    assert "servers[0]" in info.value.message and "source.image" in info.value.message
    assert "bad" not in [s.name for s in service.sources()]


def test_catalog_update_on_the_cli_exits_6_when_a_source_fails(
    run: Run, catalog_server: CatalogServer, tmp_path: Path
) -> None:
    good = tmp_path / "good.yaml"
    good.write_bytes(TEAM_V2)
    run("catalog", "source", "add", "good", str(good))
    run("catalog", "source", "add", "team", catalog_server.url("/catalog.yaml"))
    catalog_server.etag = '"changed"'
    catalog_server.catalog = b"servers: [oops"
    result = run("catalog", "update", code=6)
    assert "team: FAILED, kept the previous copy" in result.stderr
    assert "good: unchanged" in result.stdout
    ids = {i["id"]: i["catalog"] for i in json.loads(run("catalog", "ls", "--json").stdout)}
    assert ids["notes"] == "good"
    assert "last update failed" in run("catalog", "source", "ls").stdout
