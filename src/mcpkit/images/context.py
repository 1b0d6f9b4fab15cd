"""What mcpkit writes into a package server's build context: requirements and Dockerfiles.

The generated Dockerfiles only copy and install files that were fetched on the host
(:mod:`mcpkit.images.fetch`), so the engine builds them with no network: a PyPI
server becomes a venv installed from a hash-pinned wheelhouse in a build stage, an
npm server the ``app/`` folder ``npm install`` filled. Both run as an unprivileged
user and carry their labels in one ``LABEL`` step. :func:`check_source` refuses,
before anything is fetched, a source whose name, entrypoint or version would not be
safe to put into a requirement, a path or a Dockerfile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from mcpkit.catalog.model import PackageSource
from mcpkit.errors import InvalidInputError
from mcpkit.images.records import Artifact

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
_ENTRY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PYPI_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_NPM_NAME_RE = re.compile(r"^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")


def requirements_txt(artifacts: Iterable[Artifact]) -> str:
    """A fully pinned, hashed requirements file for exactly the downloaded wheels."""
    lines = []
    for art in artifacts:
        name, version = art.name.split("-")[:2]
        lines.append(f"{name}=={version} --hash={art.sha256}")
    return "\n".join(lines) + "\n"


def label_line(labels: Mapping[str, str]) -> str:
    """One ``LABEL`` instruction (one layer-less step) setting every label."""
    pairs = []
    for key, value in sorted(labels.items()):
        quoted = json.dumps(value, ensure_ascii=False).replace("$", "\\$")
        pairs.append(f"{key}={quoted}")
    return "LABEL " + " ".join(pairs)


def pypi_dockerfile(base: str, entrypoint: str, stage_label: str, labels: Mapping[str, str]) -> str:
    """Two stages: a venv from the wheelhouse, then only the venv on a fresh base."""
    entry = json.dumps([f"/opt/venv/bin/{entrypoint}"])
    return f"""\
FROM {base} AS build
LABEL io.mcpkit.stage="{stage_label}"
COPY wheels /tmp/wheels
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/python -m pip install --no-input --disable-pip-version-check \\
      --no-index --find-links /tmp/wheels --require-hashes -r /tmp/requirements.txt \\
 && /opt/venv/bin/python -m pip uninstall --yes --disable-pip-version-check pip setuptools \\
 && test -x /opt/venv/bin/{entrypoint}

FROM {base}
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65534:65534
ENTRYPOINT {entry}
{label_line(labels)}
"""


def npm_dockerfile(base: str, package: str, bin_path: str, labels: Mapping[str, str]) -> str:
    """The installed ``app/`` folder on a Node.js base."""
    entry = json.dumps(["node", f"/app/node_modules/{package}/{bin_path}"])
    return f"""\
FROM {base}
COPY app /app
USER 65534:65534
ENTRYPOINT {entry}
{label_line(labels)}
"""


def check_source(source: PackageSource) -> None:
    """Refuse a package source whose name, entrypoint or version cannot go into a context."""
    name_re = _PYPI_NAME_RE if source.registry == "pypi" else _NPM_NAME_RE
    if not name_re.fullmatch(source.name):
        raise InvalidInputError(
            f"{source.name!r} is not a valid {source.registry} package name",
            hint="fix the server's package source in its catalog entry",
        )
    if source.entrypoint is not None and not _ENTRY_RE.fullmatch(source.entrypoint):
        raise InvalidInputError(
            f"entrypoint {source.entrypoint!r} must be a plain executable name",
            hint="fix the server's package source in its catalog entry",
        )
    check_version(source)


def check_version(source: PackageSource) -> None:
    """Refuse a version string that is not a plain exact version."""
    if source.version is not None and not _VERSION_RE.fullmatch(source.version):
        raise InvalidInputError(
            f"{source.version!r} is not an exact version of {source.name}",
            hint="fix the server's package source in its catalog entry",
        )
    if source.hashes and not source.version:
        raise InvalidInputError(
            f"{source.name} pins hashes but no version",
            hint="fix the server's package source in its catalog entry",
        )
