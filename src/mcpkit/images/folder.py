"""Build context folders on disk: what goes in, its digest, and the tarball the engine gets.

Both kinds of context pass through here: the folder mcpkit fills for a package server
(wheels or ``app/`` plus a generated Dockerfile) and a user's Dockerfile folder. A
user's folder is checked first (:func:`scan_folder`): it must hold a Dockerfile, its
``.dockerignore`` decides which files are sent, and its size is bounded, because the
engine receives the whole context as one tarball. The digest over names, modes and
contents (not times) is what tells a later build whether anything changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from mcpkit.errors import InvalidInputError

#: A context folder above this size gets a warning (it is sent to the engine whole).
WARN_CONTEXT_BYTES = 200 * 1024 * 1024
#: ... and above this one it is refused.
MAX_CONTEXT_BYTES = 2 * 1024 * 1024 * 1024


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def walk(root: Path) -> list[str]:
    """Every path under ``root`` (relative, POSIX, sorted), directories included."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for name in [*dirnames, *sorted(filenames)]:
            found.append((rel / name).as_posix())
    return sorted(found)


def tree_digest(root: Path, paths: Sequence[str]) -> tuple[str, int]:
    """A digest over the names, modes and contents of ``paths``, and their total size."""
    digest = hashlib.sha256()
    size = 0
    for rel in sorted(paths):
        path = root / rel
        info = path.lstat()
        digest.update(f"{rel}\0{stat.S_IMODE(info.st_mode):o}\0".encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(str(path.readlink()).encode())
        elif stat.S_ISREG(info.st_mode):
            digest.update(file_sha256(path).encode())
            size += info.st_size
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest(), size


def write_tar(root: Path, paths: Sequence[str], out: IO[bytes], *, world_readable: bool) -> None:
    """Tar ``paths`` (relative to ``root``) into ``out``, owned by root.

    ``world_readable`` adds read (and directory search) permission for all, so that a
    server running as an unprivileged user can read what mcpkit put in its image.
    """
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(paths):
            info = tar.gettarinfo(str(root / rel), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if world_readable and not info.issym():
                info.mode |= 0o555 if info.isdir() or info.mode & 0o100 else 0o444
            if info.isreg():
                with (root / rel).open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    out.seek(0)


@contextlib.contextmanager
def packed(root: Path, paths: list[str], *, world_readable: bool) -> Iterator[Any]:
    """``paths`` of ``root`` as a tarball in a temporary file, rewound for reading."""
    with tempfile.TemporaryFile(prefix="mcpkit-context-") as out:
        try:
            write_tar(root, paths, out, world_readable=world_readable)
        except OSError as exc:
            raise InvalidInputError(
                f"could not pack the build context {root}: {exc}",
                hint="check that every file in it is readable",
            ) from exc
        yield out


def scan_folder(folder: Path) -> tuple[list[str], str, int]:
    """Check a Dockerfile folder; its paths, their digest and their total size."""
    if not folder.is_dir():
        raise InvalidInputError(
            f"{folder} is not a folder", hint="pass a folder that holds a Dockerfile"
        )
    if not (folder / "Dockerfile").is_file():
        raise InvalidInputError(
            f"{folder} holds no Dockerfile",
            hint="add a Dockerfile there, or pass the folder that has one",
        )
    paths = context_paths(folder)
    tree, size = tree_digest(folder, paths)
    if size > MAX_CONTEXT_BYTES:
        raise InvalidInputError(
            f"the build context {folder} holds {size / 2**20:.0f} MB, over the "
            f"{MAX_CONTEXT_BYTES / 2**20:.0f} MB mcpkit sends to an engine",
            hint="list what the image does not need (data, .git, build output) in "
            f"{folder / '.dockerignore'}",
        )
    return paths, tree, size


def context_paths(folder: Path) -> list[str]:
    """The files of ``folder`` the engine gets: all but those .dockerignore excludes."""
    from docker.utils.build import exclude_paths

    patterns: list[str] = []
    ignore = folder / ".dockerignore"
    if ignore.is_file():
        patterns = [
            line.strip()
            for line in ignore.read_text(errors="replace").splitlines()
            if line.strip() and not line.startswith("#")
        ]
    included = exclude_paths(str(folder), patterns, dockerfile="Dockerfile")
    return sorted(str(p) for p in included)
