"""The bwrap command line and the sandbox probe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcpkit.catalog.model import NetworkPolicy
from mcpkit.errors import ServerError
from mcpkit.runtime.base import Mount
from mcpkit.runtime.sandbox import (
    bwrap_argv,
    network_warning,
    probe_sandbox,
    sandbox_environ,
)

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)


def _binds(argv: list[str]) -> list[tuple[str, str, str]]:
    """(option, source, target) of every bind, in order."""
    found = []
    for i, word in enumerate(argv):
        if word in ("--bind", "--ro-bind", "--ro-bind-try"):
            found.append((word, argv[i + 1], argv[i + 2]))
    return found


def _index_of_target(argv: list[str], target: str) -> int:
    for i, word in enumerate(argv):
        if word in ("--bind", "--ro-bind") and argv[i + 2] == target:
            return i
    raise AssertionError(f"{target} is not bound")


def test_tmpfs_comes_before_every_bind_below_tmp(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env_dir = tmp_path / "cache" / "env"
    argv = bwrap_argv(["x"], ro_paths=[env_dir], state_dir=state, network=NetworkPolicy())

    tmpfs = argv.index("--tmpfs")
    assert argv[tmpfs + 1] == "/tmp"
    assert _index_of_target(argv, str(state)) > tmpfs
    assert _index_of_target(argv, str(env_dir)) > tmpfs


def test_state_dir_is_writable_and_everything_else_read_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    argv = bwrap_argv(["x"], ro_paths=[tmp_path / "env"], state_dir=state, network=NetworkPolicy())

    writable = [target for option, _, target in _binds(argv) if option == "--bind"]
    assert writable == [str(state)]
    assert ("--ro-bind", "/usr", "/usr") in _binds(argv)
    assert argv[argv.index("--chdir") + 1] == str(state)


def test_a_read_only_parent_is_bound_before_its_writable_child(tmp_path: Path) -> None:
    parent = tmp_path / "data"
    child = parent / "inner"
    child.mkdir(parents=True)
    mounts = [Mount(str(child), "/data/inner", read_only=False), Mount(str(parent), "/data")]
    argv = bwrap_argv(["x"], plan_mounts=mounts, state_dir=tmp_path, network=NetworkPolicy())

    assert _index_of_target(argv, "/data") < _index_of_target(argv, "/data/inner")
    assert ("--bind", str(child), "/data/inner") in _binds(argv)
    assert ("--ro-bind", str(parent), "/data") in _binds(argv)


def test_no_network_unshares_it_and_binds_no_resolver_files(tmp_path: Path) -> None:
    argv = bwrap_argv(["x"], state_dir=tmp_path, network=NetworkPolicy(mode="none"))

    assert "--unshare-all" in argv
    assert "--share-net" not in argv
    assert "/etc/resolv.conf" not in argv
    assert network_warning(NetworkPolicy(mode="none")) is None


def test_any_network_is_shared_with_the_resolver_files(tmp_path: Path) -> None:
    argv = bwrap_argv(["x"], state_dir=tmp_path, network=NetworkPolicy(mode="any"))

    assert argv.index("--share-net") > argv.index("--unshare-all")
    assert ("--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf") in _binds(argv)
    assert network_warning(NetworkPolicy(mode="any")) is None


def test_a_host_list_shares_the_network_and_says_it_cannot_be_enforced(tmp_path: Path) -> None:
    policy = NetworkPolicy(mode="hosts", hosts=["api.github.com"])
    argv = bwrap_argv(["x"], state_dir=tmp_path, network=policy)

    assert "--share-net" in argv
    warning = network_warning(policy)
    assert warning is not None
    assert "api.github.com" in warning
    assert "whole network" in warning


def test_secret_files_come_from_descriptors_not_from_argv(tmp_path: Path) -> None:
    argv = bwrap_argv(
        ["server"], state_dir=tmp_path, network=NetworkPolicy(), files={"/run/secrets/token": 7}
    )

    i = argv.index("--ro-bind-data")
    assert argv[i + 1 : i + 3] == ["7", "/run/secrets/token"]
    # The root is sealed read-only only after every file and mount point was made.
    assert argv.index("--remount-ro") > i


def test_the_environment_is_not_on_the_command_line(tmp_path: Path) -> None:
    env = sandbox_environ({"TOKEN": "s3cret-value"}, home=tmp_path, lang="C.UTF-8")
    argv = bwrap_argv(["server"], state_dir=tmp_path, network=NetworkPolicy())

    assert not any("s3cret-value" in word for word in argv)
    assert "--setenv" not in argv
    assert "--clearenv" not in argv  # bwrap passes on its own environment: exactly `env`
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "TOKEN": "s3cret-value",
    }


def test_the_server_runs_as_nobody_without_capabilities(tmp_path: Path) -> None:
    argv = bwrap_argv(["server", "--flag"], state_dir=tmp_path, network=NetworkPolicy())

    assert argv[argv.index("--uid") + 1] == "65534"
    assert argv[argv.index("--gid") + 1] == "65534"
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert {"--die-with-parent", "--new-session", "--unshare-user"} <= set(argv)
    assert argv[-3:] == ["--", "server", "--flag"]


def test_a_mount_whose_source_is_missing_is_refused_with_a_hint(tmp_path: Path) -> None:
    missing = tmp_path / "nope"

    with pytest.raises(ServerError) as err:
        bwrap_argv(
            ["x"],
            plan_mounts=[Mount(str(missing), "/data")],
            state_dir=tmp_path,
            network=NetworkPolicy(),
        )

    assert str(missing) in err.value.message
    assert "/data" in err.value.message
    assert err.value.hint
    assert not missing.exists()


def test_probe_without_bwrap_on_path_says_how_to_install_it(tmp_path: Path) -> None:
    status = probe_sandbox({"PATH": str(tmp_path)})

    assert not status.available
    assert "not installed" in status.reason
    assert status.hint is not None
    assert "apt-get install bubblewrap" in status.hint
    assert "--allow-unsandboxed" in status.hint


@needs_bwrap
def test_probe_finds_a_working_bwrap() -> None:
    status = probe_sandbox({"PATH": "/usr/local/bin:/usr/bin:/bin"})

    assert status.available, status.reason
    assert status.bwrap is not None
    assert Path(status.bwrap).name == "bwrap"


def test_usr_merged_links_are_recreated_as_links(tmp_path: Path) -> None:
    argv = bwrap_argv(["x"], state_dir=tmp_path, network=NetworkPolicy())

    if Path("/bin").is_symlink():
        i = argv.index("/bin")
        assert argv[i - 2] == "--symlink"
        assert argv[i - 1] == str(Path("/bin").readlink())
    else:
        assert ("--ro-bind", "/bin", "/bin") in _binds(argv)
