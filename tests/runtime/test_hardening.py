"""The container lockdown as data: limits, users, mount checks and the create request."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpkit.catalog.model import NetworkPolicy, ServerSpec
from mcpkit.errors import InvalidInputError, ServerError
from mcpkit.runtime.base import LaunchPlan, Mount
from mcpkit.runtime.hardening import (
    NOBODY,
    CheckedMount,
    ContainerLimits,
    ContainerPolicy,
    check_mounts,
    container_request,
    container_user,
    parse_size,
)


def _plan(**extra: object) -> LaunchPlan:
    spec = ServerSpec.model_validate(
        {"id": "probe", "title": "Probe", "source": {"type": "image", "image": "probe:1"}}
    )
    return LaunchPlan(server="probe", spec=spec, **extra)  # type: ignore[arg-type]


def _request(plan: LaunchPlan | None = None, **extra: object) -> dict[str, object]:
    args: dict[str, object] = {
        "image": "sha256:abc",
        "image_config": {},
        "policy": ContainerPolicy(),
        "mounts": [],
        "secret_files": {},
        "labels": {"io.mcpkit.server": "probe"},
        "name": "mcpkit-default-probe-1",
    } | extra
    return container_request(plan or _plan(), **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * 1024**2), ("1g", 1024**3), ("256MiB", 256 * 1024**2), ("8388608", 8388608)],
)
def test_sizes_are_read_with_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "12q", "", "1m"])
def test_a_size_that_is_not_one_or_too_small_is_refused_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_size(text)
    assert err.value.hint


def test_limits_merge_overrides_and_keep_the_rest() -> None:
    base = ContainerLimits()
    merged = base.merged("128m", None, 64)
    assert (merged.memory, merged.cpus, merged.pids) == (128 * 1024**2, base.cpus, 64)


def test_limits_refuse_zero_cpus_and_tiny_pids() -> None:
    with pytest.raises(InvalidInputError):
        ContainerLimits(cpus=0)
    with pytest.raises(InvalidInputError):
        ContainerLimits(pids=2)


@pytest.mark.parametrize(
    ("image_user", "expected"),
    [("", NOBODY), ("root", NOBODY), ("0", NOBODY), ("0:0", NOBODY), ("1000:1000", "1000:1000")],
)
def test_a_root_or_missing_image_user_becomes_nobody(image_user: str, expected: str) -> None:
    assert container_user(image_user, ContainerPolicy()) == expected


def test_a_profile_user_override_wins() -> None:
    assert container_user("", ContainerPolicy(user="1234:1234")) == "1234:1234"


def test_the_create_request_is_hardened_by_default() -> None:
    request = _request()
    host = request["host_config"]
    assert isinstance(host, dict)
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == host["MemorySwap"] == 512 * 1024**2
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 256
    assert host["LogConfig"]["Type"] == "none"
    assert "/tmp" in host["Tmpfs"]
    assert not host.get("Privileged")
    assert not host.get("Binds")
    assert request["user"] == NOBODY
    assert request["stdin_open"] is True and request["tty"] is False
    assert request["command"] is None  # the image's own CMD


def test_only_a_spec_that_allows_network_gets_the_configured_network() -> None:
    allowed = _plan(network=NetworkPolicy(mode="any"))
    host = _request(allowed, network_mode="host")["host_config"]
    assert isinstance(host, dict) and host["NetworkMode"] == "host"


def test_image_volumes_become_private_tmpfs_not_host_volumes() -> None:
    host = _request(image_config={"Volumes": {"/data": {}}})["host_config"]
    assert isinstance(host, dict)
    assert "/data" in host["Tmpfs"]
    assert not host.get("Mounts")


def test_image_labels_add_nothing_to_the_request() -> None:
    config = {"Labels": {"io.mcpkit.mounts": "/etc:/host-etc", "io.mcpkit.env": "A=1"}}
    request = _request(image_config=config)
    host = request["host_config"]
    assert isinstance(host, dict)
    assert not host.get("Mounts") and not host.get("Binds")
    assert request["environment"] == {"HOME": "/tmp"}


def test_secret_files_are_read_only_binds_and_not_env() -> None:
    plan = _plan(env={"PLAIN": "1"})
    request = _request(plan, secret_files={"/run/secrets/token": "/dev/shm/x/0"})
    host = request["host_config"]
    assert isinstance(host, dict)
    [mount] = host["Mounts"]
    assert mount["Target"] == "/run/secrets/token" and mount["ReadOnly"] is True
    assert request["environment"] == {"PLAIN": "1", "HOME": "/tmp"}


def test_checked_mounts_become_binds_with_their_mode() -> None:
    mounts = [CheckedMount("/srv/a", "/a", True), CheckedMount("/srv/b", "/b", False)]
    host = _request(mounts=mounts)["host_config"]
    assert isinstance(host, dict)
    assert [(m["Source"], m["Target"], m["ReadOnly"]) for m in host["Mounts"]] == [
        ("/srv/a", "/a", True),
        ("/srv/b", "/b", False),
    ]


def test_a_declared_folder_is_mounted_read_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    checked, warnings = check_mounts(
        "s", [Mount(str(data), "/data")], ContainerPolicy(), tmp_path / "home"
    )
    assert checked == [CheckedMount(str(data), "/data", True)] and not warnings


def test_a_writable_mount_outside_the_allowed_roots_stays_read_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    mount = Mount(str(data), "/data", read_only=False)
    checked, warnings = check_mounts("s", [mount], ContainerPolicy(), tmp_path / "home")
    assert checked[0].read_only and "allowed root" in warnings[0]
    policy = ContainerPolicy(allowed_roots=(tmp_path,))
    checked, warnings = check_mounts("s", [mount], policy, tmp_path / "home")
    assert not checked[0].read_only and not warnings


@pytest.mark.parametrize("path", [".ssh", ".aws", ".docker", ".kube", ".gnupg", ".ssh/keys", ""])
def test_credential_folders_and_their_parents_are_refused(tmp_path: Path, path: str) -> None:
    home = tmp_path / "home"
    (home / ".ssh" / "keys").mkdir(parents=True)
    for name in (".aws", ".docker", ".kube", ".gnupg"):
        (home / name).mkdir()
    with pytest.raises(ServerError) as err:
        check_mounts("s", [Mount(str(home / path), "/x")], ContainerPolicy(), home)
    assert "no server may see" in err.value.message and err.value.hint


@pytest.mark.parametrize("path", ["/etc", "/etc/ssl", "/", "/var", "/proc/1", "/var/lib"])
def test_system_paths_and_their_parents_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ServerError):
        check_mounts("s", [Mount(path, "/x")], ContainerPolicy(), tmp_path)


def test_a_symlink_to_a_refused_path_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    link = tmp_path / "innocent"
    link.symlink_to(home / ".ssh")
    with pytest.raises(ServerError):
        check_mounts("s", [Mount(str(link), "/x")], ContainerPolicy(), home)


def test_mcpkit_state_given_as_sensitive_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "mcpkit"
    state.mkdir()
    policy = ContainerPolicy(sensitive=(state,))
    with pytest.raises(ServerError):
        check_mounts("s", [Mount(str(state), "/x")], policy, tmp_path / "home")


def test_missing_and_relative_sources_are_refused_with_a_hint(tmp_path: Path) -> None:
    for mount in (Mount(str(tmp_path / "nope"), "/x"), Mount("rel/path", "/x")):
        with pytest.raises(ServerError) as err:
            check_mounts("s", [mount], ContainerPolicy(), tmp_path)
        assert err.value.hint
