"""The container engine endpoint (DOCKER_HOST, docker contexts) and the SDK wrapper, for real."""

from __future__ import annotations

import gc
import hashlib
import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mcpkit.errors import RuntimeUnavailableError
from mcpkit.runtime.engine import (
    DEFAULT_SOCKET,
    Endpoint,
    Engine,
    EngineError,
    resolve_endpoint,
)

if TYPE_CHECKING:
    from conftest import EngineTarget

# ------------------------------------------------------------------------- docker CLI config files


def write_context(
    config_dir: Path,
    name: str,
    host: str,
    *,
    skip_tls_verify: bool = False,
    tls: bool = False,
) -> Path:
    """Write a context the way ``docker context create`` does; returns its meta.json."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config_dir / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(
        json.dumps(
            {
                "Name": name,
                "Metadata": {"Description": "made by a test"},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}},
            }
        )
    )
    if tls:
        tls_dir = config_dir / "contexts" / "tls" / digest / "docker"
        tls_dir.mkdir(parents=True)
        for pem in ("ca.pem", "cert.pem", "key.pem"):
            (tls_dir / pem).write_text("not read by resolve_endpoint\n")
    return meta


def write_config(config_dir: Path, **fields: object) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(fields))


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    """An empty docker CLI config dir (``DOCKER_CONFIG``)."""
    path = tmp_path / "docker-config"
    path.mkdir()
    return path


# ------------------------------------------------------------------------- resolve_endpoint


def test_docker_host_wins_over_every_context(docker_config: Path) -> None:
    write_context(docker_config, "remote", "tcp://10.0.0.9:2376")
    write_config(docker_config, currentContext="remote")
    endpoint = resolve_endpoint(
        {
            "DOCKER_HOST": "unix:///run/podman/podman.sock",
            "DOCKER_CONTEXT": "remote",
            "DOCKER_CONFIG": str(docker_config),
        }
    )
    assert endpoint == Endpoint("unix:///run/podman/podman.sock", "DOCKER_HOST")
    assert endpoint.is_local


def test_docker_host_with_tls_verify_takes_the_cert_path(tmp_path: Path) -> None:
    endpoint = resolve_endpoint(
        {
            "DOCKER_HOST": "tcp://engine.example:2376",
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(tmp_path),
        }
    )
    assert endpoint.url == "tcp://engine.example:2376"
    assert endpoint.tls_dir == str(tmp_path)
    assert endpoint.tls_verify
    assert not endpoint.is_local


def test_docker_context_names_a_context_in_docker_config(docker_config: Path) -> None:
    write_context(docker_config, "podman", "unix:///run/podman/podman.sock")
    endpoint = resolve_endpoint({"DOCKER_CONTEXT": "podman", "DOCKER_CONFIG": str(docker_config)})
    assert endpoint.url == "unix:///run/podman/podman.sock"
    assert endpoint.origin == "context podman"
    assert endpoint.tls_dir is None


def test_current_context_in_config_json_is_used_when_no_variable_names_one(
    docker_config: Path,
) -> None:
    write_context(docker_config, "remote", "ssh://me@build-host")
    write_config(docker_config, auths={}, currentContext="remote")
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(docker_config)})
    assert endpoint == Endpoint("ssh://me@build-host", "context remote")


def test_docker_context_overrides_current_context(docker_config: Path) -> None:
    write_context(docker_config, "a", "unix:///a.sock")
    write_context(docker_config, "b", "unix:///b.sock")
    write_config(docker_config, currentContext="a")
    endpoint = resolve_endpoint({"DOCKER_CONTEXT": "b", "DOCKER_CONFIG": str(docker_config)})
    assert endpoint.url == "unix:///b.sock"


def test_the_config_dir_defaults_to_dot_docker_under_home(tmp_path: Path) -> None:
    write_context(tmp_path / ".docker", "home-ctx", "unix:///home.sock")
    write_config(tmp_path / ".docker", currentContext="home-ctx")
    assert resolve_endpoint({"HOME": str(tmp_path)}).url == "unix:///home.sock"


def test_a_context_with_a_tls_folder_verifies_unless_told_to_skip(docker_config: Path) -> None:
    write_context(docker_config, "secure", "tcp://e:2376", tls=True)
    write_context(docker_config, "lax", "tcp://e:2376", tls=True, skip_tls_verify=True)
    secure = resolve_endpoint({"DOCKER_CONTEXT": "secure", "DOCKER_CONFIG": str(docker_config)})
    lax = resolve_endpoint({"DOCKER_CONTEXT": "lax", "DOCKER_CONFIG": str(docker_config)})
    digest = hashlib.sha256(b"secure").hexdigest()
    assert secure.tls_dir == str(docker_config / "contexts" / "tls" / digest / "docker")
    assert secure.tls_verify
    assert lax.tls_dir is not None
    assert not lax.tls_verify


def test_an_unknown_context_is_an_error_with_a_hint(docker_config: Path) -> None:
    write_context(docker_config, "other", "unix:///other.sock")
    before = sorted(p.relative_to(docker_config) for p in docker_config.rglob("*"))
    with pytest.raises(RuntimeUnavailableError) as caught:
        resolve_endpoint({"DOCKER_CONTEXT": "nowhere", "DOCKER_CONFIG": str(docker_config)})
    assert "'nowhere'" in caught.value.message
    assert "does not exist" in caught.value.message
    assert caught.value.hint is not None
    assert "docker context ls" in caught.value.hint
    assert sorted(p.relative_to(docker_config) for p in docker_config.rglob("*")) == before


def test_a_current_context_without_meta_is_an_error(docker_config: Path) -> None:
    write_config(docker_config, currentContext="deleted")
    with pytest.raises(RuntimeUnavailableError, match="'deleted' does not exist"):
        resolve_endpoint({"DOCKER_CONFIG": str(docker_config)})


def test_a_context_whose_meta_lacks_a_docker_endpoint_is_unknown(docker_config: Path) -> None:
    meta = write_context(docker_config, "broken", "unix:///x.sock")
    meta.write_text(json.dumps({"Name": "broken", "Endpoints": {}}))
    with pytest.raises(RuntimeUnavailableError, match="'broken'"):
        resolve_endpoint({"DOCKER_CONTEXT": "broken", "DOCKER_CONFIG": str(docker_config)})


def test_no_variable_and_no_config_means_the_default_socket(docker_config: Path) -> None:
    endpoint = resolve_endpoint({"DOCKER_CONFIG": str(docker_config)})
    assert endpoint == Endpoint(DEFAULT_SOCKET, "default")
    assert endpoint.is_local


def test_the_context_named_default_is_the_default_socket(docker_config: Path) -> None:
    write_config(docker_config, currentContext="default")
    endpoint = resolve_endpoint({"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": str(docker_config)})
    assert endpoint == Endpoint(DEFAULT_SOCKET, "default")


def test_a_config_json_that_is_not_json_is_ignored_like_the_cli_does(docker_config: Path) -> None:
    (docker_config / "config.json").write_text("{ not json")
    assert resolve_endpoint({"DOCKER_CONFIG": str(docker_config)}).url == DEFAULT_SOCKET
    assert (docker_config / "config.json").read_text() == "{ not json"


# ------------------------------------------------------------------------- Engine, no engine there


@pytest.mark.anyio
async def test_a_socket_path_with_nothing_behind_it_is_engine_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "missing.sock"
    engine = Engine.from_environ({"DOCKER_HOST": f"unix://{path}"})
    with pytest.raises(RuntimeUnavailableError) as caught:
        await engine.version()
    assert caught.value.code == "engine-unavailable"
    assert str(path) in caught.value.message
    assert "DOCKER_HOST" in caught.value.message
    assert caught.value.hint is not None
    assert "podman system service" in caught.value.hint
    engine.close()


@pytest.mark.anyio
async def test_a_stale_socket_file_where_nothing_listens_is_engine_unavailable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "stale.sock"
    # bound and closed: the file stays, connecting is refused (what a crashed daemon leaves)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    assert path.is_socket()
    engine = Engine.from_environ({"DOCKER_HOST": f"unix://{path}"})
    with pytest.raises(RuntimeUnavailableError) as caught:
        await engine.version()
    assert caught.value.code == "engine-unavailable"
    assert str(path) in caught.value.message
    engine.close()


# The Docker SDK (7.2, docker/transport/unixconn.py) does not close its socket when connect()
# fails; the leak surfaces as an unraisable ResourceWarning, collected here to keep it in this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_sdk_call_to_a_dead_socket_is_engine_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "dead.sock"
    engine = Engine.from_environ({"DOCKER_HOST": f"unix://{path}"})
    with pytest.raises(RuntimeUnavailableError) as caught:
        engine.call_sync(engine.api.images, what="list images")
    assert caught.value.code == "engine-unavailable"
    assert str(path) in caught.value.message
    engine.close()
    del caught
    gc.collect()


# ------------------------------------------------------------------------- Engine, real engines


@pytest.mark.anyio
async def test_version_reports_which_engine_answers(engine_target: EngineTarget) -> None:
    engine = Engine.from_environ(engine_target.environ)
    try:
        version = await engine.version()
        assert engine.product == engine_target.name
        assert version["ApiVersion"] >= "1.41"
        assert version is await engine.version()  # cached: asked once
    finally:
        engine.close()


@pytest.mark.anyio
async def test_the_test_images_resolve_by_their_bare_names(engine_target: EngineTarget) -> None:
    engine = Engine.from_environ(engine_target.environ)
    try:
        for image in (engine_target.base_image, engine_target.node_base_image):
            info = await engine.call(engine.api.inspect_image, image, what=f"inspect {image}")
            assert info["Config"]["Labels"]["mcpkit.test.inputs"]
            # podman lists its local images as localhost/<name>
            assert any(tag.removeprefix("localhost/") == image for tag in info["RepoTags"])
    finally:
        engine.close()


@pytest.mark.anyio
async def test_an_image_the_engine_lacks_is_an_engine_error_naming_it(
    engine_target: EngineTarget,
) -> None:
    engine = Engine.from_environ(engine_target.environ)
    try:
        with pytest.raises(EngineError) as caught:
            await engine.call(
                engine.api.inspect_image, "mcpkit-test/absent:never", what="inspect an image"
            )
        assert caught.value.message.startswith("the container engine refused to inspect an image")
        assert "mcpkit-test/absent" in caught.value.message
        assert caught.value.hint is not None
        assert "docker images" in caught.value.hint
    finally:
        engine.close()
