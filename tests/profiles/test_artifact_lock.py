"""Locking a profile's images and packages, and running what the lock names.

Real pip and npm (PyPI and npm's registry), the real docker engine with the test base
image, and a real ``docker-registry`` on 127.0.0.1 for registry digests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpkit.app import App
from mcpkit.catalog.model import (
    ImageSource,
    PackageSource,
    RemoteSource,
    ServerSpec,
)
from mcpkit.errors import (
    InstallError,
    RegistryError,
    ServerError,
    UnknownServerError,
    VerificationError,
)
from mcpkit.images.records import Artifact, BuildRecord, save_record
from mcpkit.profiles.artifact_lock import LockChange, apply_pins, lock_artifacts
from mcpkit.profiles.artifact_resolve import LOCAL_IMAGE
from mcpkit.profiles.model import Pins, Profile
from mcpkit.runtime.base import LaunchPlan
from mcpkit.runtime.docker import DockerRuntime
from mcpkit.runtime.engine import Engine
from mcpkit.runtime.hardening import ContainerPolicy
from mcpkit.runtime.install import ensure_installed, env_dir_for
from registry_helpers import RunningRegistry, start_registry

pytestmark = pytest.mark.anyio

TIME = "mcp-server-time"
EVERYTHING = "@modelcontextprotocol/server-everything"
EVERYTHING_VERSION = "2026.8.31"
BASE = "mcpkit-test/base:bookworm"
ZERO = "sha256:" + "0" * 64
ONES = "sha256:" + "1" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _spec(server: str, source: Any) -> ServerSpec:
    return ServerSpec(id=server, title=server, source=source)


@pytest.fixture
def pkg_app(gateway_environ: dict[str, str]) -> Iterator[App]:
    """An App with real pip/npm settings; its docker endpoint answers nowhere."""
    instance = App({**gateway_environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    yield instance
    instance.close()


@pytest.fixture
def engine_app(gateway_environ: dict[str, str], docker_target: Any) -> Iterator[App]:
    """An App with real pip/npm settings and the real docker engine."""
    instance = App({**gateway_environ, **docker_target.environ})
    yield instance
    instance.close()


def _profile(app: App, *specs: ServerSpec, pins: dict[str, Pins] | None = None) -> Profile:
    for spec in specs:
        app.profiles.add_server("default", spec.id, spec=spec)
    profile = app.profiles.get("default")
    if pins:
        servers = [
            s.model_copy(update={"pins": pins[s.id]}) if s.id in pins else s
            for s in profile.servers
        ]
        profile = profile.model_copy(update={"servers": servers})
        app.profiles.save(profile, replace=True)
    return app.profiles.get("default")


def _by_server(changes: list[LockChange]) -> dict[str, LockChange]:
    return {c.server: c for c in changes}


def _docker(environ: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["docker", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **environ},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def _pypi_sha256s(version: str) -> set[str]:
    """Every artifact hash PyPI lists for mcp-server-time ``version`` (simple API, PEP 691)."""
    answer = httpx.get(
        f"https://pypi.org/simple/{TIME}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=30,
    )
    files = answer.raise_for_status().json()["files"]
    prefixes = tuple(f"{name}-{version}" for name in (TIME, TIME.replace("-", "_")))
    return {
        "sha256:" + f["hashes"]["sha256"]
        for f in files
        if f["filename"].startswith(prefixes)
        and f["filename"][len(prefixes[0]) :].startswith(("-", ".tar", ".zip"))
    }


def _npm_tarball() -> bytes:
    """The registry's tarball of server-everything, checked against its published integrity."""
    meta = httpx.get(f"https://registry.npmjs.org/{EVERYTHING}/{EVERYTHING_VERSION}", timeout=30)
    dist = meta.raise_for_status().json()["dist"]
    tarball = httpx.get(dist["tarball"], timeout=60).raise_for_status().content
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    assert integrity == dist["integrity"]
    return tarball


# --- locking ---------------------------------------------------------------------------


async def test_a_lock_pins_a_local_image_and_packages_and_a_second_lock_changes_nothing(
    engine_app: App, docker_target: Any
) -> None:
    image_id = _docker(docker_target.environ, "image", "inspect", "-f", "{{.Id}}", BASE)
    profile = _profile(
        engine_app,
        _spec("base", ImageSource(image=BASE)),
        _spec("time", PackageSource(registry="pypi", name=TIME)),
        _spec(
            "everything", PackageSource(registry="npm", name=EVERYTHING, version=EVERYTHING_VERSION)
        ),
        _spec("remote", RemoteSource(url="https://mcp.example.com/mcp")),
    )

    locked, changes = await lock_artifacts(engine_app, profile, update=False)

    found = _by_server(changes)
    assert set(found) == {"base", "time", "everything"}  # a remote server has nothing to lock
    assert [c.action for c in changes] == ["added"] * 3
    # Adding a server pins what its catalog entry pins (here the npm version) already.
    assert [c.old for c in changes] == [None, None, f"{EVERYTHING}@{EVERYTHING_VERSION}"]
    # The base image was imported here, never pulled: no registry digest, so its id.
    assert found["base"].new == image_id
    assert found["base"].detail == LOCAL_IMAGE
    time_pins = locked.servers[1].pins
    assert time_pins.package_version
    assert time_pins.package_hashes
    assert set(time_pins.package_hashes) <= _pypi_sha256s(time_pins.package_version)
    assert found["time"].new == f"{TIME}=={time_pins.package_version} {time_pins.package_hashes[0]}"
    npm_pins = locked.servers[2].pins
    assert npm_pins.package_version == EVERYTHING_VERSION
    tarball = _npm_tarball()
    assert npm_pins.package_hashes == ["sha256:" + hashlib.sha256(tarball).hexdigest()]
    assert locked.servers[3].pins == Pins()
    assert engine_app.profiles.get("default") == profile  # the caller saves, not the lock

    engine_app.profiles.save(locked, replace=True)
    again, second = await lock_artifacts(
        engine_app, engine_app.profiles.get("default"), update=False
    )

    assert [c.action for c in second] == ["unchanged"] * 3
    assert again == locked


async def test_a_package_republished_with_another_hash_is_refused_until_update(
    pkg_app: App,
) -> None:
    source = PackageSource(registry="pypi", name=TIME)
    version = _latest(TIME)
    profile = _profile(
        pkg_app,
        _spec("time", source),
        pins={"time": Pins(package_version=version, package_hashes=[ZERO], tools={"t": "x"})},
    )

    kept, refused = await lock_artifacts(pkg_app, profile, update=False)

    [change] = refused
    assert change.action == "refused"
    assert change.old == f"{TIME}=={version} {ZERO}"
    assert change.new is not None and change.new.startswith(f"{TIME}=={version} sha256:")
    assert "mcpkit profile lock default --server time --update" in change.detail
    assert kept == profile  # nothing changed, and nothing was stored
    assert pkg_app.profiles.get("default") == profile

    updated, taken = await lock_artifacts(pkg_app, profile, update=True, servers=["time"])

    assert [c.action for c in taken] == ["changed"]
    pins = updated.servers[0].pins
    assert pins.package_version == version
    assert set(pins.package_hashes) <= _pypi_sha256s(version)
    assert pins.tools == {"t": "x"}  # tool pins are not the artifact lock's business


def _latest(name: str) -> str:
    answer = httpx.get(f"https://pypi.org/pypi/{name}/json", timeout=30)
    answer.raise_for_status()
    return str(answer.json()["info"]["version"])


async def test_a_catalog_version_that_moved_is_refused_until_update(pkg_app: App) -> None:
    new = _latest(TIME)
    source = PackageSource(registry="pypi", name=TIME, version=new)
    profile = _profile(
        pkg_app,
        _spec("time", source),
        pins={"time": Pins(package_version="2026.10.10", package_hashes=[ONES])},
    )

    _, refused = await lock_artifacts(pkg_app, profile, update=False)
    updated, changed = await lock_artifacts(pkg_app, profile, update=True)

    assert [c.action for c in refused] == ["refused"]
    assert f"{TIME}=={new}" in refused[0].detail
    assert [c.action for c in changed] == ["changed"]
    assert changed[0].old == f"{TIME}==2026.10.10 {ONES}"
    assert updated.servers[0].pins.package_version == new


async def test_an_unknown_server_is_refused_and_nothing_is_resolved(pkg_app: App) -> None:
    profile = _profile(pkg_app, _spec("time", PackageSource(registry="pypi", name=TIME)))

    with pytest.raises(UnknownServerError) as err:
        await lock_artifacts(pkg_app, profile, update=False, servers=["nope"])

    assert "'nope'" in err.value.message
    assert err.value.hint == "mcpkit profile show default"
    assert pkg_app.profiles.get("default") == profile


# --- images in a registry ---------------------------------------------------------------


def _tiny_image(environ: dict[str, str], tag: str, content: bytes) -> str:
    """Import a one-file image (no network, no base) as ``tag``; its id."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return _docker(environ, "import", "-", tag, stdin=buffer.getvalue())


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    """A real registry of this test's own on 127.0.0.1 (skipped without the binary)."""
    running = start_registry(tmp_path / "registry")
    yield running
    running.stop()


async def test_an_image_tag_that_moved_in_the_registry_is_refused_until_update(
    engine_app: App, docker_target: Any, registry: RunningRegistry
) -> None:
    env = docker_target.environ
    tag = f"{registry.host}/lock-test/tiny:1"
    ids = [_tiny_image(env, tag, b"first")]
    try:
        _docker(env, "push", tag)
        first = _docker(env, "image", "inspect", "-f", "{{index .RepoDigests 0}}", tag)
        profile = _profile(engine_app, _spec("tiny", ImageSource(image=tag)))

        locked, added = await lock_artifacts(engine_app, profile, update=False)

        assert [(c.action, c.new) for c in added] == [("added", first.partition("@")[2])]
        assert registry.host in added[0].detail
        ids.append(_tiny_image(env, tag, b"second"))
        _docker(env, "push", tag)
        second = _docker(env, "image", "inspect", "-f", "{{index .RepoDigests 0}}", tag)

        kept, refused = await lock_artifacts(engine_app, locked, update=False)
        updated, changed = await lock_artifacts(engine_app, locked, update=True)

        assert [c.action for c in refused] == ["refused"]
        assert kept == locked
        assert "--server tiny --update" in refused[0].detail
        assert [(c.action, c.old, c.new) for c in changed] == [
            ("changed", first.partition("@")[2], second.partition("@")[2])
        ]
        pinned = apply_pins(
            _spec("tiny", ImageSource(image=tag)), updated.servers[0].pins, profile="default"
        )
        assert pinned.source == ImageSource(image=second)

        registry.stop()  # unreachable: the digest the engine pulled (pushed) it by stands
        _, offline = await lock_artifacts(engine_app, updated, update=False)

        assert [c.action for c in offline] == ["unchanged"]
        assert "no registry" in offline[0].detail
    finally:
        for image_id in ids:
            _docker(env, "rmi", "-f", image_id)


async def test_an_image_neither_the_engine_nor_a_registry_has_cannot_be_locked(
    engine_app: App,
) -> None:
    image = "127.0.0.1:9/lock-test/nowhere:1"  # the discard port: nothing listens
    profile = _profile(engine_app, _spec("gone", ImageSource(image=image)))

    with pytest.raises(RegistryError) as err:
        await lock_artifacts(engine_app, profile, update=False)

    assert image in err.value.message
    assert "container engine does not have it" in err.value.message
    assert err.value.hint is not None and "docker pull" in err.value.hint
    assert engine_app.profiles.get("default") == profile


# --- apply_pins ----------------------------------------------------------------------------

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def test_without_pins_the_spec_runs_as_the_catalog_says() -> None:
    spec = _spec("x", ImageSource(image="mcp/x:1"))

    assert apply_pins(spec, Pins(), profile="dev") is spec


def test_a_locked_image_runs_by_digest_with_its_command() -> None:
    spec = _spec("x", ImageSource(image="127.0.0.1:5000/mcp/x:1", command=["serve"]))

    pinned = apply_pins(spec, Pins(image_digest=DIGEST_A), profile="dev")

    assert pinned.source == ImageSource(image=f"127.0.0.1:5000/mcp/x@{DIGEST_A}", command=["serve"])
    assert pinned.model_copy(update={"source": spec.source}) == spec


def test_a_catalog_digest_that_differs_from_the_lock_is_refused() -> None:
    spec = _spec("x", ImageSource(image=f"mcp/x@{DIGEST_A}"))

    assert apply_pins(spec, Pins(image_digest=DIGEST_A), profile="dev") == spec
    with pytest.raises(VerificationError) as err:
        apply_pins(spec, Pins(image_digest=DIGEST_B), profile="dev")

    assert err.value.message == (
        f"server x: the catalog now pins {DIGEST_A} but profile dev is locked to {DIGEST_B}"
    )
    assert err.value.hint == "mcpkit profile lock dev --server x --update"
    assert err.value.code == "lock-mismatch"


@pytest.mark.parametrize(
    ("source", "pins", "words"),
    [
        (
            PackageSource(registry="pypi", name=TIME, version="2.0"),
            Pins(package_version="1.0", package_hashes=[ZERO]),
            f"pins {TIME}==2.0 but profile dev is locked to {TIME}==1.0",
        ),
        (
            PackageSource(registry="npm", name=EVERYTHING, version="1.0", hashes=[ONES]),
            Pins(package_version="1.0", package_hashes=[ZERO]),
            f"pins {ONES} but profile dev is locked to {ZERO}",
        ),
    ],
)
def test_a_catalog_package_pin_that_differs_from_the_lock_is_refused(
    source: PackageSource, pins: Pins, words: str
) -> None:
    with pytest.raises(VerificationError) as err:
        apply_pins(_spec("x", source), pins, profile="dev")

    assert words in err.value.message
    assert err.value.hint == "mcpkit profile lock dev --server x --update"


@pytest.mark.parametrize(
    "pins",
    [
        Pins(image_digest="latest"),
        Pins(package_hashes=[ZERO]),
        Pins(package_version="1.0", package_hashes=["md5:x"]),
    ],
)
def test_a_malformed_lock_is_refused(pins: Pins) -> None:
    source = (
        ImageSource(image="mcp/x")
        if pins.image_digest
        else PackageSource(registry="pypi", name=TIME)
    )

    with pytest.raises(VerificationError) as err:
        apply_pins(_spec("x", source), pins, profile="dev")

    assert err.value.code == "lock-invalid"
    assert "profile dev's lock" in err.value.message


def test_a_locked_package_gets_the_locked_version_and_the_hashes_both_allow() -> None:
    source = PackageSource(registry="pypi", name=TIME, hashes=[ZERO, ONES], entrypoint="t")

    pinned = apply_pins(
        _spec("x", source),
        Pins(package_version="1.0", package_hashes=[ONES, DIGEST_A]),
        profile="dev",
    )

    assert pinned.source == PackageSource(
        registry="pypi", name=TIME, version="1.0", hashes=[ONES], entrypoint="t"
    )


# --- enforcement ---------------------------------------------------------------------------


async def test_the_installer_installs_the_lock_and_refuses_an_artifact_not_in_it(
    pkg_app: App, tmp_path: Path
) -> None:
    profile = _profile(
        pkg_app,
        _spec("time", PackageSource(registry="pypi", name=TIME)),
        _spec(
            "everything", PackageSource(registry="npm", name=EVERYTHING, version=EVERYTHING_VERSION)
        ),
    )
    locked, _ = await lock_artifacts(pkg_app, profile, update=False)
    time_spec, npm_spec = (
        apply_pins(pkg_app.profiles.spec_for(s), s.pins, profile="default") for s in locked.servers
    )
    assert isinstance(time_spec.source, PackageSource)
    assert isinstance(npm_spec.source, PackageSource)
    cache = tmp_path / "cache"

    done = await ensure_installed(time_spec.source, cache, None, pkg_app.environ)

    assert done.version == locked.servers[0].pins.package_version
    assert done.executable.is_file()
    wrong = [s.model_copy(update={"hashes": [ZERO]}) for s in (time_spec.source, npm_spec.source)]
    other = tmp_path / "other-cache"
    for source in wrong:
        with pytest.raises(InstallError) as err:
            await ensure_installed(source, other, None, pkg_app.environ)
        assert err.value.hint is not None and "do not remove the hash" in err.value.hint
        assert not env_dir_for(source, other).exists()  # nothing half-installed is left


def _record(server: str, version: str, sha256: str, image: str) -> BuildRecord:
    wheel = f"{TIME.replace('-', '_')}-{version}-py3-none-any.whl"
    return BuildRecord(
        server=server,
        image=image,
        image_id="sha256:" + "c" * 64,
        kind="pypi",
        package=TIME,
        version=version,
        artifacts=[
            Artifact(name=wheel, sha256=sha256),
            Artifact(name="dep-1-py3-none-any.whl", sha256=ZERO),
        ],
        base=BASE,
        base_id="sha256:" + "d" * 64,
        inputs="sha256:" + "e" * 64,
        engine="unix:///var/run/docker.sock",
    )


def _plan(spec: ServerSpec) -> LaunchPlan:
    command = spec.source.command if isinstance(spec.source, ImageSource) else []
    return LaunchPlan(server=spec.id, spec=spec, args=tuple(command))


async def test_a_build_record_supplies_the_hash_and_the_docker_runtime_runs_its_image(
    engine_app: App, docker_target: Any
) -> None:
    data_dir = engine_app.locations.data_dir
    save_record(data_dir, _record("time", "2026.10.10", DIGEST_A, BASE))
    spec = _spec("time", PackageSource(registry="pypi", name=TIME))
    profile = _profile(engine_app, spec)

    locked, [change] = await lock_artifacts(engine_app, profile, update=False)

    pins = locked.servers[0].pins
    assert (pins.package_version, pins.package_hashes) == ("2026.10.10", [DIGEST_A])
    assert "image built for it" in change.detail
    engine = Engine.from_environ(engine_app.environ)
    runtime = DockerRuntime(engine, engine_app.locations, ContainerPolicy())
    try:
        pinned = apply_pins(spec, pins, profile="default")
        assert runtime.image_ref(_plan(pinned)) == BASE
        save_record(data_dir, _record("time", "2026.10.10", DIGEST_B, BASE))  # rebuilt: other wheel
        with pytest.raises(ServerError) as err:
            runtime.image_ref(_plan(pinned))
    finally:
        engine.close()
    assert "does not hold the pinned" in err.value.message
    assert DIGEST_A in err.value.message
    assert err.value.hint == "mcpkit build time --profile default"


async def test_a_local_image_locked_by_id_runs_by_id_while_tagged_in_its_repository(
    engine_app: App, docker_target: Any
) -> None:
    image_id = _docker(docker_target.environ, "image", "inspect", "-f", "{{.Id}}", BASE)
    spec = _spec("base", ImageSource(image=BASE, command=["cat"]))
    pinned = apply_pins(spec, Pins(image_digest=image_id), profile="default")
    assert pinned.source == ImageSource(image=f"mcpkit-test/base@{image_id}", command=["cat"])
    engine = Engine.from_environ(engine_app.environ)
    runtime = DockerRuntime(engine, engine_app.locations, ContainerPolicy())
    try:
        instance = await runtime.start(_plan(pinned))
        try:
            container = engine.call_sync(
                engine.api.inspect_container, instance.container_id, what="inspect"
            )
            assert container["Image"] == image_id
        finally:
            await instance.stop()
        other = apply_pins(
            _spec("other", ImageSource(image="mcpkit-test/other:1")),
            Pins(image_digest=image_id),
            profile="default",
        )
        with pytest.raises(ServerError) as err:
            await runtime.start(_plan(other))
    finally:
        await runtime.aclose()
    assert err.value.code == "image-missing"
    assert f"mcpkit-test/other@{image_id}" in err.value.message
    assert err.value.hint is not None
    assert "mcpkit profile lock default --server other --update" in err.value.hint
