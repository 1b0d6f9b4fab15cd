"""``build_image`` against a real engine, with real PyPI and npm downloads."""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_helpers import (
    EVERYTHING_VERSION,
    TIME_VERSION,
    TIME_WHEEL_SHA256,
    EngineTarget,
    SharedBuilds,
    everything_spec,
    time_spec,
)

from mcpkit.app import App
from mcpkit.catalog.model import CommandSource, ServerSpec
from mcpkit.errors import (
    InstallError,
    InvalidInputError,
    NotFoundError,
    RuntimeUnavailableError,
    ServerError,
    UnknownServerError,
    UsageError,
)
from mcpkit.images import folder as folder_module
from mcpkit.images.build import BuildRequest, build_image
from mcpkit.images.records import load_record, record_for, record_path

pytestmark = pytest.mark.anyio


def inspect(target: EngineTarget, image: str) -> dict[str, object]:
    done = target.docker("image", "inspect", image)
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)[0]
    return found


def image_exists(target: EngineTarget, image: str) -> bool:
    return target.docker("image", "inspect", image).returncode == 0


@pytest.fixture
def fresh_app(
    tmp_path: Path, build_environ: dict[str, str], docker_target: EngineTarget
) -> Iterator[App]:
    """An empty mcpkit home on the real engine; shares nothing with other tests."""
    app = App(build_environ | {"MCPKIT_HOME": str(tmp_path / "mcpkit")})
    yield app
    app.close()


# --- the shared real builds -------------------------------------------------------------


def test_a_pypi_server_becomes_an_image_that_answers_initialize(
    shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    record = shared_builds.time
    assert record.kind == "pypi"
    assert record.package == "mcp-server-time"
    assert record.version == TIME_VERSION
    assert record.image_id.startswith("sha256:")
    assert record.entrypoint == ["/opt/venv/bin/mcp-server-time"]
    assert record.base == docker_target.base_image
    assert record.base_id == inspect(docker_target, docker_target.base_image)["Id"]
    assert record.engine == docker_target.environ["DOCKER_HOST"]
    wheels = {a.name: a.sha256 for a in record.artifacts}
    assert wheels[f"mcp_server_time-{TIME_VERSION}-py3-none-any.whl"] == TIME_WHEEL_SHA256
    assert len(wheels) > 20  # mcp and its whole tree, each with its hash
    assert all(h and h.startswith("sha256:") for h in wheels.values())
    assert inspect(docker_target, record.image)["Id"] == record.image_id
    result = docker_target.initialize(record.image)
    assert result["serverInfo"] == {"name": "mcp-time", "version": TIME_VERSION}


def test_the_pypi_image_runs_as_nobody_with_only_the_venv_and_no_pip(
    shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    record = shared_builds.time
    config = inspect(docker_target, record.image)["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "65534:65534"
    assert config["Entrypoint"] == record.entrypoint
    labels = config["Labels"]
    assert labels["io.mcpkit.server"] == "time"
    assert labels["io.mcpkit.package"] == "mcp-server-time"
    assert labels["io.mcpkit.version"] == TIME_VERSION
    assert labels["io.mcpkit.inputs"] == record.inputs
    assert labels["org.opencontainers.image.title"] == "Time"
    check = "test ! -e /tmp/wheels && test ! -e /opt/venv/bin/pip && id -u"
    done = docker_target.docker(
        "run", "--rm", "--pull", "never", "--network", "none", "--entrypoint", "/bin/sh",
        record.image, "-c", check,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "65534"), done.stderr


def test_the_build_leaves_no_stage_image_and_no_probe_container(
    shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    stages = docker_target.docker("images", "-a", "-q", "--filter", "label=io.mcpkit.stage")
    assert stages.stdout.strip() == ""
    probes = docker_target.docker("ps", "-a", "-q", "--filter", "label=io.mcpkit.probe")
    assert probes.stdout.strip() == ""
    assert any("has CPython 3.11" in line for line in shared_builds.time_progress)
    assert any(line.startswith("Step ") for line in shared_builds.time_progress)


def test_an_npm_server_becomes_an_image_that_answers_initialize(
    shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    record = shared_builds.everything
    assert record.kind == "npm"
    assert record.package == "@modelcontextprotocol/server-everything"
    assert record.version == EVERYTHING_VERSION
    assert record.entrypoint[0] == "node"
    assert record.entrypoint[1].startswith("/app/node_modules/@modelcontextprotocol/")
    names = {a.name: a.integrity for a in record.artifacts}
    assert names[f"@modelcontextprotocol/server-everything@{EVERYTHING_VERSION}"]
    assert all(i and i.startswith("sha") for i in names.values())
    config = inspect(docker_target, record.image)["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "65534:65534"
    result = docker_target.initialize(record.image)
    server_info = result["serverInfo"]
    assert isinstance(server_info, dict)
    assert server_info["name"] == "mcp-servers/everything"


async def test_an_up_to_date_image_is_not_built_again(
    shared_builds: SharedBuilds, docker_target: EngineTarget
) -> None:
    app = shared_builds.app
    lines: list[str] = []
    started = time.monotonic()
    again = await build_image(
        app,
        BuildRequest("time", base=docker_target.base_image, tag=shared_builds.time.image),
        progress=lines.append,
    )
    assert time.monotonic() - started < 5
    assert again == shared_builds.time
    assert any("is up to date" in line for line in lines)
    assert not any(line.startswith("Step ") for line in lines)


def test_record_for_finds_the_build_for_the_pinned_and_the_unpinned_spec(
    shared_builds: SharedBuilds,
) -> None:
    data_dir = shared_builds.app.locations.data_dir
    assert record_for(data_dir, time_spec()) == shared_builds.time
    assert record_for(data_dir, time_spec(version=None, hashes=[])) == shared_builds.time
    assert record_for(data_dir, time_spec(version="2025.1.1", hashes=[])) is None
    assert record_for(data_dir, everything_spec()) == shared_builds.everything


# --- Dockerfile folders --------------------------------------------------------------


def hello_folder(root: Path, run: str = "test ! -e /secret.txt") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(
        "ARG BASE=scratch\nFROM ${BASE}\nCOPY . /srv/\n"
        f'RUN {run}\nENTRYPOINT ["cat", "/srv/hello.txt"]\n'
    )
    (root / "hello.txt").write_text("hello from a folder\n")
    (root / "secret.txt").write_text("not for the image\n")
    (root / ".dockerignore").write_text("# comment\nsecret.txt\n")
    return root


async def test_a_dockerfile_folder_builds_with_the_base_as_a_build_arg(
    fresh_app: App, docker_target: EngineTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folder_module, "WARN_CONTEXT_BYTES", 10)
    folder = hello_folder(tmp_path / "hello", run="test ! -e /srv/secret.txt")
    tag = docker_target.tag("hello")
    lines: list[str] = []
    record = await build_image(
        fresh_app,
        BuildRequest("hello", base=docker_target.base_image, tag=tag, context=folder),
        progress=lines.append,
    )
    assert record.kind == "dockerfile"
    assert (record.package, record.version) == (None, None)
    assert record.image == tag
    assert record.base_id == inspect(docker_target, docker_target.base_image)["Id"]
    assert [a.name for a in record.artifacts] == ["Dockerfile", "context"]
    assert record.entrypoint == ["cat", "/srv/hello.txt"]
    assert any(line.startswith("warning: the build context") for line in lines)
    done = docker_target.docker("run", "--rm", "--pull", "never", "--network", "none", tag)
    assert done.stdout == "hello from a folder\n"
    assert load_record(fresh_app.locations.data_dir, "hello") == record


async def test_a_failed_build_keeps_the_good_record_and_tags_nothing(
    fresh_app: App, docker_target: EngineTarget, tmp_path: Path
) -> None:
    good_tag = docker_target.tag("hello")
    good = await build_image(
        fresh_app,
        BuildRequest(
            "hello", base=docker_target.base_image, tag=good_tag, context=hello_folder(tmp_path)
        ),
    )
    # The build has no network by default, so a step that reaches out fails.
    reach_out = "python3 -c \"import socket; socket.create_connection(('pypi.org', 443), 5)\""
    bad_tag = docker_target.tag("hello")
    with pytest.raises(ServerError) as caught:
        await build_image(
            fresh_app,
            BuildRequest(
                "hello",
                base=docker_target.base_image,
                tag=bad_tag,
                context=hello_folder(tmp_path / "bad", run=reach_out),
            ),
        )
    assert caught.value.code == "build-failed"
    assert "returned a non-zero code" in caught.value.message
    assert "socket.gaierror" in caught.value.message or "Errno" in caught.value.message
    assert not image_exists(docker_target, bad_tag)
    # Nor does it leave the steps that succeeded behind as dangling images.
    left = docker_target.docker("images", "-q", "--filter", "dangling=true", "--filter",
                                f"since={good_tag}")  # fmt: skip
    assert left.stdout.strip() == ""
    assert load_record(fresh_app.locations.data_dir, "hello") == good
    assert inspect(docker_target, good_tag)["Id"] == good.image_id


async def test_a_folder_without_a_dockerfile_is_refused(fresh_app: App, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(InvalidInputError, match="holds no Dockerfile"):
        await build_image(fresh_app, BuildRequest("hello", context=tmp_path / "src"))
    with pytest.raises(InvalidInputError, match="is not a folder"):
        await build_image(fresh_app, BuildRequest("hello", context=tmp_path / "nowhere"))
    assert not record_path(fresh_app.locations.data_dir, "hello").exists()


async def test_a_huge_context_is_refused_with_a_dockerignore_hint(
    fresh_app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folder_module, "MAX_CONTEXT_BYTES", 10)
    with pytest.raises(InvalidInputError, match="over the") as caught:
        await build_image(fresh_app, BuildRequest("hello", context=hello_folder(tmp_path)))
    assert caught.value.hint is not None
    assert ".dockerignore" in caught.value.hint


# --- what cannot be built ------------------------------------------------------------


async def test_an_unknown_server_is_named_with_a_search_hint(fresh_app: App) -> None:
    with pytest.raises(UnknownServerError, match="no server 'tiem'") as caught:
        await build_image(fresh_app, BuildRequest("tiem"))
    assert caught.value.hint is not None
    assert "time" in caught.value.hint


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("github-remote", "github-remote is a remote server"),
        ("github", "github is already an image"),
        ("dev", "dev is a command server"),
    ],
    ids=["remote", "image", "command"],
)  # fmt: skip
async def test_a_server_that_is_not_a_package_is_refused(
    fresh_app: App, server: str, message: str
) -> None:
    spec = ServerSpec(id="dev", title="Dev", source=CommandSource(command="./serve"))
    fresh_app.profiles.add_server("default", "dev", spec=spec)
    with pytest.raises(UsageError, match=message) as caught:
        await build_image(fresh_app, BuildRequest(server))
    assert caught.value.hint is not None
    assert "--context" in caught.value.hint


async def test_no_engine_is_a_runtime_unavailable_error(fresh_app: App, tmp_path: Path) -> None:
    fresh_app.profiles.add_server("default", "time", spec=time_spec())
    environ = {**fresh_app.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    app = App(environ)
    try:
        with pytest.raises(RuntimeUnavailableError, match="no container engine answers"):
            await build_image(app, BuildRequest("time"))
    finally:
        app.close()
    assert not record_path(fresh_app.locations.data_dir, "time").exists()


async def test_a_missing_base_is_never_pulled_and_the_hint_says_how(fresh_app: App) -> None:
    fresh_app.profiles.add_server("default", "time", spec=time_spec())
    with pytest.raises(NotFoundError) as caught:
        await build_image(fresh_app, BuildRequest("time", base="mcpkit-test/absent:none"))
    assert caught.value.code == "base-image-missing"
    assert "mcpkit-test/absent:none" in caught.value.message
    assert caught.value.hint is not None
    assert "docker pull mcpkit-test/absent:none" in caught.value.hint
    assert "--base" in caught.value.hint


async def test_a_base_without_python_is_refused_and_its_probe_removed(
    fresh_app: App, docker_target: EngineTarget, tmp_path: Path
) -> None:
    (tmp_path / "empty.txt").write_text("no python here\n")
    with tarfile.open(tmp_path / "rootfs.tar", "w") as tar:
        tar.add(tmp_path / "empty.txt", arcname="empty.txt")
    bare = docker_target.tag("bare")
    done = docker_target.docker("import", str(tmp_path / "rootfs.tar"), bare)
    assert done.returncode == 0, done.stderr
    fresh_app.profiles.add_server("default", "time", spec=time_spec())
    with pytest.raises(InvalidInputError, match="has no working python3") as caught:
        await build_image(fresh_app, BuildRequest("time", base=bare))
    assert caught.value.hint is not None
    assert "--base" in caught.value.hint
    probes = docker_target.docker("ps", "-a", "-q", "--filter", "label=io.mcpkit.probe")
    assert probes.stdout.strip() == ""


async def test_a_pip_failure_shows_pips_last_lines_and_records_nothing(
    fresh_app: App, docker_target: EngineTarget
) -> None:
    spec = time_spec(version="0.0.0.999", hashes=[])
    fresh_app.profiles.add_server("default", "time", spec=spec)
    with pytest.raises(InstallError) as caught:
        await build_image(fresh_app, BuildRequest("time", base=docker_target.base_image))
    assert "mcp-server-time==0.0.0.999 with pip failed" in caught.value.message
    assert "No matching distribution" in caught.value.message
    assert caught.value.hint is not None
    assert "pypi.org" in caught.value.hint
    assert not record_path(fresh_app.locations.data_dir, "time").exists()


async def test_a_wheel_that_breaks_its_pinned_hash_is_refused(
    fresh_app: App, docker_target: EngineTarget
) -> None:
    spec = time_spec(hashes=["sha256:" + "0" * 64])
    fresh_app.profiles.add_server("default", "time", spec=spec)
    with pytest.raises(InstallError) as caught:
        await build_image(fresh_app, BuildRequest("time", base=docker_target.base_image))
    assert "hash" in caught.value.message.lower()
    assert caught.value.hint is not None
    assert "does not match the hash the catalog pins" in caught.value.hint
    assert not record_path(fresh_app.locations.data_dir, "time").exists()


async def test_an_npm_failure_shows_npms_last_lines(
    fresh_app: App, docker_target: EngineTarget
) -> None:
    spec = everything_spec(version="0.0.999")
    fresh_app.profiles.add_server("default", "everything", spec=spec)
    with pytest.raises(InstallError) as caught:
        await build_image(fresh_app, BuildRequest("everything", base=docker_target.node_base_image))
    assert "server-everything@0.0.999 with npm failed" in caught.value.message
    assert "ETARGET" in caught.value.message or "No matching version" in caught.value.message
    assert caught.value.hint is not None
    assert "npmjs.com" in caught.value.hint
    assert not record_path(fresh_app.locations.data_dir, "everything").exists()


async def test_an_unknown_build_network_is_a_usage_error(fresh_app: App) -> None:
    with pytest.raises(UsageError, match="--build-network must be none or host"):
        await build_image(fresh_app, BuildRequest("time", build_network="bridge"))


def test_the_build_times_stay_in_budget(shared_builds: SharedBuilds) -> None:
    # Generous bounds: 2 shared cores. They catch a build that quietly lost its cache
    # or started downloading inside the engine.
    assert shared_builds.time_seconds < 90
    assert shared_builds.everything_seconds < 90
