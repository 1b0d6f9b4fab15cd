"""Fetching a submission's pinned source: to read its licence and, for git, to build it.

- PyPI: ``pip download --no-deps --only-binary=:all:`` of exactly the pinned version
  (``--require-hashes`` when hashes are given), then the wheel's ``METADATA``
  (``License-Expression``, then ``License``, then trove classifiers). Wheels only:
  getting an sdist's metadata would run its build backend, i.e. the submitter's code.
- npm: ``npm pack --ignore-scripts`` of the pinned version, its sha256 checked against
  the hashes, then ``package/package.json``'s ``license`` (and the LICENSE file it
  points to with ``SEE LICENSE IN``).
- git: ``git init`` + ``git fetch --depth 1 <url> <commit>`` (a full fetch when the
  server refuses fetching by commit), the commit checked out, then the LICENSE /
  COPYING file at the repository root; ``path`` is the checkout's ``directory``.
- image and remote sources have nothing to read: the declared licence comes back
  with ``verified=False``.

Every child runs without a shell, bounded in time, with only the installer part of
the environment; failures are :class:`~mcpkit.errors.SourceError` showing the tool's
last lines (code ``source-hash-mismatch`` when a pinned hash does not match).
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcpkit.errors import InstallError, SourceError
from mcpkit.images.folder import file_sha256
from mcpkit.registry import licenses
from mcpkit.registry.submission import GitSource, Submission
from mcpkit.runtime.install import npm_pack_result
from mcpkit.runtime.subproc import installer_environ, output_tail, run_captured

#: How long one pip / npm / git step may run, in seconds.
FETCH_TIMEOUT = 300.0
#: Largest licence or manifest file read from a source, in bytes.
MAX_TEXT_BYTES = 1024 * 1024
#: Licence files looked for at a repository's (or package's) root, in this order.
LICENSE_FILES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "COPYING")
#: Hash mismatches get their own code so that lint can tell them from network failures.
HASH_MISMATCH = "source-hash-mismatch"
_GIT_PROTOCOLS = "file:git:http:https:ssh"
_REMOTE_URL = re.compile(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:")


@dataclass(frozen=True)
class FetchedSource:
    """What was read from a source.

    ``license_origin`` says where the licence was read; it is ``""`` when the source
    carries no licence at all (then ``license`` is ``None`` too). ``license`` is
    ``None`` with an origin when a licence file or field was found but not recognised.
    """

    license: str | None
    license_origin: str
    path: Path | None
    #: False for image and remote sources: the licence is the declared one, unchecked.
    verified: bool = True
    #: The downloaded artifact (wheel, tarball) or checked-out commit.
    artifact: str | None = None


async def fetch_source(sub: Submission, workdir: Path, environ: Mapping[str, str]) -> FetchedSource:
    """Fetch ``sub``'s pinned source into a new folder under ``workdir``.

    Raises :class:`SourceError` (with a hint) when it cannot be fetched or a pinned
    hash does not match.
    """
    declared = sub.data.get("license")
    declared_text = declared if isinstance(declared, str) else None
    if sub.git is not None:
        dest = await _fresh(workdir, "git-")
        return await _fetch_git(sub.git, dest, environ)
    spec = sub.spec
    source = sub.data.get("source")
    kind = source.get("type") if isinstance(source, Mapping) else None
    if kind == "package" and isinstance(source, Mapping):
        dest = await _fresh(workdir, "pkg-")
        registry = str(source.get("registry"))
        name = str(source.get("name") or "")
        version = source.get("version")
        hashes = [str(h) for h in source.get("hashes") or []]
        pinned = str(version) if version else None
        if registry == "npm":
            return await _fetch_npm(name, pinned, hashes, dest, environ)
        return await _fetch_pypi(name, pinned, hashes, dest, environ)
    if kind in ("image", "remote") or (spec is not None and spec.source.type != "package"):
        return FetchedSource(declared_text, "declared", None, verified=False)
    raise SourceError(
        f"{sub.where('source')}: the submission has no source mcpkit can fetch",
        hint="give source a type: package, git, image or remote",
    )


# --- PyPI ------------------------------------------------------------------------------


async def _fetch_pypi(
    name: str, version: str | None, hashes: list[str], dest: Path, environ: Mapping[str, str]
) -> FetchedSource:
    requirement = f"{name}=={version}" if version else name
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-input"]
    argv += ["--disable-pip-version-check", "--only-binary=:all:", "--dest", str(dest / "dl")]
    if hashes:
        reqs = dest / "requirements.txt"
        pins = " ".join(f"--hash={h}" for h in hashes)
        await asyncio.to_thread(reqs.write_text, f"{requirement} {pins}\n")
        argv += ["--require-hashes", "-r", str(reqs)]
    else:
        argv.append(requirement)
    env = installer_environ(environ)
    code, text = await _run(argv, env, f"download {requirement} from PyPI")
    if code != 0:
        if "DO NOT MATCH THE HASHES" in text.upper():
            raise _mismatch(requirement, text, env)
        raise SourceError(
            f"could not download {requirement} from PyPI (pip exit {code}):\n"
            f"{output_tail(text, env)}",
            hint=f"check the name and version on https://pypi.org/project/{name}/ "
            "and that it publishes a wheel (licences are read from wheels only)",
        )
    wheels = sorted((dest / "dl").glob("*.whl"))
    if not wheels:
        raise SourceError(f"pip downloaded no wheel of {requirement}", hint="publish a wheel")
    return await _checked(wheels[0], hashes, requirement, env, _wheel_license)


def _wheel_license(wheel: Path) -> tuple[str | None, str]:
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if not names:
                raise SourceError(f"{wheel.name} has no METADATA", hint="the wheel is broken")
            info = archive.getinfo(names[0])
            if info.file_size > MAX_TEXT_BYTES:
                raise SourceError(f"{wheel.name}: METADATA is too large to read")
            raw = archive.read(info)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{wheel.name} is not a readable wheel: {exc}") from exc
    meta = email.parser.BytesHeaderParser().parsebytes(raw)
    where = f"METADATA of {wheel.name}"
    expression = meta.get("License-Expression")
    if expression:
        return licenses.normalise(str(expression)) or str(expression), (
            f"License-Expression in {where}"
        )
    field = meta.get("License")
    if field:
        found = licenses.from_field(str(field))
        if found:
            return found, f"License in {where}"
    classifiers = [str(c) for c in meta.get_all("Classifier") or []]
    found = licenses.from_classifiers(classifiers)
    if found:
        return found, f"classifiers in {where}"
    if field:
        return None, f"License in {where} ({str(field).strip()[:60]!r})"
    return None, ""


# --- npm -------------------------------------------------------------------------------


async def _fetch_npm(
    name: str, version: str | None, hashes: list[str], dest: Path, environ: Mapping[str, str]
) -> FetchedSource:
    npm = shutil.which("npm", path=environ.get("PATH"))
    if npm is None:
        raise SourceError(
            f"{name} is an npm package, but npm is not on PATH",
            hint="install Node.js and npm (apt-get install nodejs npm)",
        )
    requirement = f"{name}@{version}" if version else name
    env = installer_environ(environ) | {"NPM_CONFIG_UPDATE_NOTIFIER": "false"}
    argv = [npm, "pack", requirement, "--json", "--ignore-scripts"]
    argv += ["--pack-destination", str(dest)]
    code, text = await _run(argv, env, f"download {requirement} from npm", stdout_only=True)
    if code != 0:
        raise SourceError(
            f"could not download {requirement} from npm (exit {code}):\n{output_tail(text, env)}",
            hint=f"check the name and version on https://www.npmjs.com/package/{name}",
        )
    try:
        filename, _ = npm_pack_result(text, requirement)
    except InstallError as exc:
        raise SourceError(exc.message, hint="check that npm works: npm pack --help") from exc
    return await _checked(dest / filename, hashes, requirement, env, _npm_license)


def _npm_license(tarball: Path) -> tuple[str | None, str]:
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            members = {m.name: m for m in archive.getmembers() if m.isfile()}
            top = next((n.split("/")[0] for n in members if n.endswith("/package.json")), "")
            manifest = _member_text(archive, members.get(f"{top}/package.json"))
            data: Any = json.loads(manifest) if manifest else {}
            where = f"package.json of {tarball.name}"
            declared = _npm_declared(data if isinstance(data, dict) else {})
            see = re.fullmatch(r"SEE LICEN[CS]E IN (.+)", declared or "", re.IGNORECASE)
            if declared and not see:
                found = licenses.from_field(declared)
                return (found, where) if found else (None, f"{where} ({declared!r})")
            names = [see.group(1).strip()] if see else list(LICENSE_FILES)
            for name in names:
                text = _member_text(archive, members.get(f"{top}/{name.lstrip('./')}"))
                if text is not None:
                    return licenses.recognise_text(text), f"{name} in {tarball.name}"
            if see:
                return None, f"{where} (says {declared!r}, but the package has no such file)"
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise SourceError(f"{tarball.name} is not a readable npm package: {exc}") from exc
    return None, ""


def _npm_declared(data: Mapping[str, Any]) -> str | None:
    raw = data.get("license")
    if isinstance(raw, Mapping):
        raw = raw.get("type")
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    legacy = data.get("licenses")
    if isinstance(legacy, list):
        types = [str(i.get("type")) for i in legacy if isinstance(i, Mapping) and i.get("type")]
        return " OR ".join(types) or None
    return None


def _member_text(archive: tarfile.TarFile, member: tarfile.TarInfo | None) -> str | None:
    if member is None or member.size > MAX_TEXT_BYTES:
        return None
    handle = archive.extractfile(member)
    return handle.read().decode("utf-8", errors="replace") if handle else None


# --- git -------------------------------------------------------------------------------


async def _fetch_git(git: GitSource, dest: Path, environ: Mapping[str, str]) -> FetchedSource:
    url = _git_url(git.url)
    env = installer_environ(environ) | {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": _GIT_PROTOCOLS,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    git_bin = shutil.which("git", path=env.get("PATH"))
    if git_bin is None:
        raise SourceError("git is not on PATH", hint="install git (apt-get install git)")
    base = [git_bin, "-C", str(dest), "-c", "advice.detachedHead=false"]
    await _git(base, ["init", "-q"], env, url)
    # An unpinned source (lint says so) is still fetched, at what it names or at HEAD.
    ref = git.commit or "HEAD"
    code, text = await _run([*base, "fetch", "-q", "--depth", "1", url, ref], env, f"fetch {url}")
    if code == 0:
        await _git(base, ["checkout", "-q", "--detach", "FETCH_HEAD"], env, url)
    else:
        # Some servers refuse fetching an unadvertised commit: fetch everything instead.
        refspecs = ["+refs/heads/*:refs/remotes/source/*", "+refs/tags/*:refs/tags/*"]
        await _git(base, ["fetch", "-q", url, *refspecs], env, url, first=text)
        await _git(base, ["checkout", "-q", "--detach", ref, "--"], env, url)
    _, head = await _run([*base, "rev-parse", "HEAD"], env, "read the commit", stdout_only=True)
    head = head.strip()
    if re.fullmatch(r"[0-9a-f]{40}", git.commit) and head != git.commit:
        raise SourceError(
            f"{url}: checked out {head}, not the pinned commit {git.commit}",
            hint="pin source.commit to a full 40-hex commit of the repository",
        )
    path = _inside(dest, git.directory)
    license_, origin = await asyncio.to_thread(_repo_license, dest)
    return FetchedSource(license_, origin, path, artifact=f"{url}@{head}")


def _git_url(url: str) -> str:
    if url.startswith("-") or "::" in url.split("/", 1)[0]:
        # "-…" would be read as an option; "ext::…" runs a command.
        raise SourceError(f"{url!r} is not a git URL mcpkit fetches", hint=_GIT_URL_HINT)
    if _REMOTE_URL.match(url):
        return url
    if Path(url).is_absolute():
        return url
    raise SourceError(f"{url!r} is not a git URL mcpkit fetches", hint=_GIT_URL_HINT)


_GIT_URL_HINT = "use an https:// URL (or an absolute path / file:// URL for a local repository)"


def _inside(root: Path, directory: str) -> Path:
    path = (root / directory).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_dir():
        raise SourceError(
            f"source.directory {directory!r} is not a folder inside the repository",
            hint="give the build folder relative to the repository root, e.g. 'src/time'",
        )
    return path


def _repo_license(root: Path) -> tuple[str | None, str]:
    for name in LICENSE_FILES:
        path = root / name
        if path.is_file() and not path.is_symlink():
            if path.stat().st_size > MAX_TEXT_BYTES:
                return None, f"{name} (too large to read)"
            text = path.read_text(encoding="utf-8", errors="replace")
            return licenses.recognise_text(text), name
    return None, ""


# --- running tools -----------------------------------------------------------------------


async def _run(
    argv: Sequence[str], env: Mapping[str, str], doing: str, *, stdout_only: bool = False
) -> tuple[int, str]:
    try:
        code, out, err = await run_captured(
            argv, env, doing=doing, timeout=FETCH_TIMEOUT, hint=f"check that {argv[0]} works"
        )
    except InstallError as exc:
        raise SourceError(exc.message, hint=exc.hint) from exc
    if stdout_only and code == 0:
        return code, out.decode(errors="replace")
    return code, (out + b"\n" + err).decode(errors="replace")


async def _git(
    base: list[str], args: list[str], env: Mapping[str, str], url: str, *, first: str = ""
) -> None:
    code, text = await _run([*base, *args], env, f"fetch {url}")
    if code != 0:
        earlier = f"{output_tail(first, env, 4)}\n" if first else ""
        raise SourceError(
            f"could not fetch {url} (git {args[0]} exit {code}):\n{earlier}"
            f"{output_tail(text, env)}",
            hint="check that the repository URL is reachable and source.commit exists in it",
        )


async def _checked(
    artifact: Path,
    hashes: Sequence[str],
    requirement: str,
    env: Mapping[str, str],
    read_license: Callable[[Path], tuple[str | None, str]],
) -> FetchedSource:
    """A downloaded package artifact checked against its pins, and the licence it states."""
    digest = await asyncio.to_thread(file_sha256, artifact)
    if hashes and digest not in hashes:
        raise _mismatch(requirement, f"{artifact.name} has {digest}", env)
    license_, origin = await asyncio.to_thread(read_license, artifact)
    return FetchedSource(license_, origin, None, artifact=f"{artifact.name} ({digest})")


def _mismatch(requirement: str, text: str, env: Mapping[str, str]) -> SourceError:
    return SourceError(
        f"the artifact of {requirement} does not match the pinned hashes:\n"
        f"{output_tail(text, env, 6)}",
        hint="pin the sha256 of the artifact the registry publishes (pip download / npm pack "
        "it and run sha256sum), or find out why it changed",
        code=HASH_MISMATCH,
    )


async def _fresh(workdir: Path, prefix: str) -> Path:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    return Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=prefix, dir=workdir))
