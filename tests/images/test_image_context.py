"""Build contexts: wheel selection for the image's Python, npm bins, Dockerfiles, the tarball."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from mcpkit.catalog.model import PackageSource
from mcpkit.errors import InstallError, InvalidInputError
from mcpkit.images import context as ctx
from mcpkit.images import fetch, folder
from mcpkit.images.records import Artifact

PROBE_OUTPUT = json.dumps(
    {
        "version": [3, 11],
        "implementation": "cpython",
        "libc": ["glibc", "2.36"],
        "machine": "x86_64",
    }
)


def test_the_probe_output_selects_wheels_for_the_base_images_python() -> None:
    target = fetch.PythonTarget.parse("noise\n" + PROBE_OUTPUT + "\n", "base")
    args = target.pip_args()
    assert args[:3] == ["--only-binary=:all:", "--python-version", "3.11"]
    assert args[args.index("--abi") : args.index("--abi") + 2] == ["--abi", "cp311"]
    platforms = [args[i + 1] for i, a in enumerate(args) if a == "--platform"]
    assert platforms[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in platforms
    assert "manylinux2014_x86_64" in platforms
    assert platforms[-1] == "any"
    assert not any(p.startswith("musllinux") for p in platforms)


def test_a_base_without_glibc_gets_musllinux_wheels() -> None:
    output = PROBE_OUTPUT.replace('["glibc", "2.36"]', '["", ""]').replace("x86_64", "aarch64")
    target = fetch.PythonTarget.parse(output, "alpine")
    assert target.platforms() == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "any"]


@pytest.mark.parametrize(
    "output", ["", "Python 3.11.2", '{"version": [3]}'], ids=["empty", "text", "short"]
)
def test_an_unreadable_probe_is_an_input_error_naming_the_base(output: str) -> None:
    with pytest.raises(InvalidInputError, match="could not tell which Python the base image b"):
        fetch.PythonTarget.parse(output, "b")


def test_an_old_or_non_cpython_interpreter_is_refused_with_a_base_hint() -> None:
    old = fetch.PythonTarget(3, 8, "cpython", "glibc", (2, 31), "x86_64")
    with pytest.raises(InvalidInputError, match=r"CPython 3\.10 or newer") as caught:
        old.check("python:3.8")
    assert caught.value.hint is not None
    assert "--base" in caught.value.hint
    with pytest.raises(InvalidInputError):
        fetch.PythonTarget(3, 11, "pypy", "glibc", (2, 36), "x86_64").check("pypy")


def test_the_requirements_file_pins_every_wheel_by_version_and_hash() -> None:
    text = ctx.requirements_txt(
        [
            Artifact(name="mcp_server_time-1.2-py3-none-any.whl", sha256="sha256:" + "a" * 64),
            Artifact(name="tzdata-2026.6-py2.py3-none-any.whl", sha256="sha256:" + "b" * 64),
        ]
    )
    assert text.splitlines() == [
        f"mcp_server_time==1.2 --hash=sha256:{'a' * 64}",
        f"tzdata==2026.6 --hash=sha256:{'b' * 64}",
    ]


def test_the_pypi_dockerfile_runs_the_venv_as_nobody_with_no_pip_left() -> None:
    text = ctx.pypi_dockerfile("base:1", "mcp-server-time", "n1", {"io.mcpkit.server": "time"})
    assert text.startswith("FROM base:1 AS build\n")
    assert "--no-index --find-links /tmp/wheels --require-hashes" in text
    assert "pip uninstall --yes" in text
    final = text.split("\nFROM base:1\n", 1)[1]
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert "USER 65534:65534" in final
    assert 'ENTRYPOINT ["/opt/venv/bin/mcp-server-time"]' in final
    assert "/tmp/wheels" not in final


def test_labels_are_one_instruction_and_cannot_expand_variables() -> None:
    line = ctx.label_line({"b": 'say "$HOME"', "a": "x"})
    assert line == 'LABEL a="x" b="say \\"\\$HOME\\""'


@pytest.mark.parametrize(
    ("bins", "entrypoint", "expected"),
    [
        ("./dist/index.js", None, "dist/index.js"),
        ({"mcp-server-everything": "dist/index.js"}, None, "dist/index.js"),
        ({"a": "a.js", "server-everything": "main.js"}, None, "main.js"),
        ({"a": "a.js", "mcp-server-everything": "dist/e.js"}, "mcp-server-everything", "dist/e.js"),
    ],
    ids=["string-bin", "only-bin", "named-like-package", "entrypoint"],
)
def test_the_npm_bin_is_the_entrypoint_the_only_bin_or_the_one_named_like_the_package(
    bins: object, entrypoint: str | None, expected: str
) -> None:
    source = PackageSource(
        registry="npm", name="@modelcontextprotocol/server-everything", entrypoint=entrypoint
    )
    assert fetch.npm_bin({"bin": bins}, source) == expected


@pytest.mark.parametrize(
    ("bins", "entrypoint", "message"),
    [
        ({"a": "a.js", "b": "b.js"}, None, "has no bin 'pkg' (it has: a, b)"),
        ({"a": "a.js"}, "nope", "has no bin 'nope' (it has: a)"),
        (None, None, "it has: none"),
        ({"pkg": "../../etc/passwd"}, None, "points outside the package"),
    ],
    ids=["ambiguous", "missing-entrypoint", "no-bin", "escaping-path"],
)
def test_an_npm_package_without_a_usable_bin_is_an_install_error(
    bins: object, entrypoint: str | None, message: str
) -> None:
    source = PackageSource(registry="npm", name="pkg", entrypoint=entrypoint)
    with pytest.raises(InstallError) as caught:
        fetch.npm_bin({"bin": bins}, source)
    assert message in caught.value.message


def test_the_context_tarball_is_owned_by_root_and_readable_by_the_server_user(
    tmp_path: Path,
) -> None:
    (tmp_path / "app" / "bin").mkdir(parents=True)
    (tmp_path / "app" / "secret.txt").write_text("x")
    (tmp_path / "app" / "secret.txt").chmod(0o600)
    (tmp_path / "app" / "bin" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "app" / "bin" / "run").chmod(0o700)
    (tmp_path / "app" / "link").symlink_to("bin/run")
    out = io.BytesIO()
    folder.write_tar(tmp_path, folder.walk(tmp_path), out, world_readable=True)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["app", "app/bin", "app/bin/run", "app/link", "app/secret.txt"]
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["app/secret.txt"].mode & 0o444 == 0o444
    assert members["app/bin/run"].mode & 0o555 == 0o555
    assert members["app/link"].issym()
    assert members["app/link"].linkname == "bin/run"


def test_the_tree_digest_changes_with_content_but_not_with_time(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("one")
    first, size = folder.tree_digest(tmp_path, ["f"])
    assert size == 3
    (tmp_path / "f").write_text("one")
    assert folder.tree_digest(tmp_path, ["f"])[0] == first
    (tmp_path / "f").write_text("two")
    assert folder.tree_digest(tmp_path, ["f"])[0] != first


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": "1.0; rm -rf /"}, "is not an exact version"),
        ({"hashes": ["sha256:" + "a" * 64]}, "pins hashes but no version"),
    ],
    ids=["bad-version", "hashes-without-version"],
)
def test_a_package_source_that_cannot_be_fetched_exactly_is_refused(
    fields: dict[str, object], message: str
) -> None:
    source = PackageSource.model_validate({"registry": "pypi", "name": "x"} | fields)
    with pytest.raises(InvalidInputError, match=message):
        ctx.check_version(source)


def test_the_default_tag_names_the_server_and_a_tag_safe_version() -> None:
    from mcpkit.images.build import default_tag

    assert default_tag("time", "2026.10.19") == "mcpkit/time:2026.10.19"
    assert default_tag("io.github.acme/weather", "1.0+local") == (
        "mcpkit/io.github.acme-weather:1.0_local"
    )
    assert default_tag("hello", None) == "mcpkit/hello:latest"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tag", ["Upper/case:1", "name:bad tag", "name@sha256:abc", "a:b:c/d"], ids=str
)
async def test_an_invalid_tag_is_refused_before_anything_is_built(tag: str, tmp_path: Path) -> None:
    from mcpkit.app import App
    from mcpkit.images.build import BuildRequest, build_image

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    app = App({"MCPKIT_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)})
    try:
        with pytest.raises(InvalidInputError, match="is not a valid image tag") as caught:
            await build_image(app, BuildRequest("hello", tag=tag, context=tmp_path))
    finally:
        app.close()
    assert caught.value.hint is not None
    assert "--tag" in caught.value.hint
