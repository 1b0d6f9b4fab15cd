"""``mcpkit build`` from the command line: output modes, folders, and errors as exit codes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from image_helpers import EngineTarget, SharedBuilds, mcpkit

from mcpkit.images.records import load_record


@pytest.fixture
def shared_environ(shared_builds: SharedBuilds) -> dict[str, str]:
    return dict(shared_builds.app.environ)


@pytest.fixture
def own_environ(build_environ: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return build_environ | {"MCPKIT_HOME": str(tmp_path / "mcpkit")}


def test_an_up_to_date_server_says_so_and_exits_zero(
    shared_environ: dict[str, str], shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    tag = shared_builds.time.image
    result = mcpkit(shared_environ, "build", "time", "--base", docker_target.base_image,
                    "--tag", tag)  # fmt: skip
    assert result.stdout == f"{tag} is up to date\n"
    assert "is up to date" in result.stderr


def test_json_prints_the_record_and_quiet_prints_only_the_tag(
    shared_environ: dict[str, str], shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    record = shared_builds.everything
    args = ["build", "everything", "--base", docker_target.node_base_image, "--tag", record.image]
    data = json.loads(mcpkit(shared_environ, *args, "--json").stdout)
    assert data == record.model_dump(mode="json")
    quiet = mcpkit(shared_environ, *args, "--quiet")
    assert quiet.stdout == f"{record.image}\n"
    assert quiet.stderr == ""


def test_a_folder_path_builds_with_a_tag_named_after_the_folder(
    own_environ: dict[str, str], docker_target: EngineTarget, tmp_path: Path
) -> None:
    name = f"hello-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        'ARG BASE=scratch\nFROM ${BASE}\nCOPY note.txt /note.txt\nENTRYPOINT ["cat", "/note.txt"]\n'
    )
    (folder / "note.txt").write_text("built by the CLI\n")
    tag = f"mcpkit/{name}:latest"
    docker_target.tags.add(tag)
    result = mcpkit(own_environ, "build", str(folder), "--base", docker_target.base_image)
    assert result.stdout.startswith(f"built {tag} (sha256:")
    record = load_record(Path(own_environ["MCPKIT_HOME"]) / "data", name)
    assert record is not None
    assert (record.kind, record.image) == ("dockerfile", tag)
    done = docker_target.docker("run", "--rm", "--pull", "never", "--network", "none", tag)
    assert done.stdout == "built by the CLI\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["build", "no-such-server"], 3, "error[unknown-server]: no server 'no-such-server'"),
        (["build", "github-remote"], 2, "github-remote is a remote server"),
        (["build", "github"], 2, "github is already an image"),
        (["build", "Bad Id"], 4, "is not a server id"),
        (["build", "time", "--base", "mcpkit-test/absent:none"], 3, "hint: docker pull"),
    ],
    ids=["unknown", "remote", "image", "bad-id", "missing-base"],
)
def test_what_cannot_be_built_exits_with_the_errors_code_and_hint(
    own_environ: dict[str, str], args: list[str], code: int, message: str
) -> None:
    result = mcpkit(own_environ, *args, code=code)
    assert message in result.stderr
    assert "hint:" in result.stderr
    assert result.stdout == ""


def test_a_folder_without_a_dockerfile_exits_4(own_environ: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    result = mcpkit(own_environ, "build", str(tmp_path / "src"), code=4)
    assert "holds no Dockerfile" in result.stderr


def test_a_folder_with_a_profile_is_a_usage_error(
    own_environ: dict[str, str], tmp_path: Path
) -> None:
    result = mcpkit(own_environ, "build", str(tmp_path), "--profile", "dev", code=2)
    assert "--context" in result.stderr
