"""Reading and replacing AI clients' config files safely.

A client's file is read as bytes (its encoding, byte order mark and newlines are kept),
and replaced atomically: a temporary file in the same folder, written and fsynced, with
the old file's mode and owner, then ``os.replace``. The previous bytes are first copied to
a backup (mode 0600) under mcpkit's backup folder, of which the newest few per client and
scope are kept. A symlinked config file is edited where it points, so the link stays.
Every OS failure becomes a :class:`ClientConfigError` and leaves the file as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mcpkit.clients.edit import BOM
from mcpkit.errors import ClientConfigError

#: Backups kept per client and scope.
KEEP_BACKUPS = 5


@dataclass(frozen=True)
class ConfigFile:
    """A config file as read: where it really is, its text, and what to restore on write."""

    path: Path
    #: The file written: ``path`` itself, or what it links to.
    target: Path
    #: None when the file does not exist yet.
    raw: bytes | None
    text: str
    bom: bool
    status: os.stat_result | None

    @property
    def exists(self) -> bool:
        """Whether the file exists."""
        return self.raw is not None

    def encode(self, text: str) -> bytes:
        """``text`` as the file's bytes (the byte order mark it had is put back)."""
        return ((BOM if self.bom else "") + text).encode("utf-8")


def _oserror(path: Path, what: str, exc: OSError) -> ClientConfigError:
    reason = exc.strerror or str(exc)
    return ClientConfigError(
        f"cannot {what} {path}: {reason}",
        hint=f"check the permissions of {path} and its folder; nothing was changed",
    )


def resolve_target(path: Path) -> Path:
    """The file to edit for ``path``: the file a symlink points to, else ``path`` itself."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ClientConfigError(
            f"{path} is a symbolic link to {str(path.readlink())!r}, which does not exist",
            hint=f"fix or remove the link {path}; mcpkit edits the file a link points to",
        ) from None


def read_config(path: Path) -> ConfigFile:
    """The config file at ``path`` (empty text when it does not exist)."""
    target = resolve_target(path)
    try:
        raw = target.read_bytes()
        status = target.stat()
    except FileNotFoundError:
        return ConfigFile(path, target, None, "", bom=False, status=None)
    except IsADirectoryError:
        raise ClientConfigError(
            f"{target} is a folder, not a config file", hint=f"move {target} out of the way"
        ) from None
    except OSError as exc:
        raise _oserror(target, "read", exc) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); it was left as it was",
            hint=f"save {path} as UTF-8 in an editor, then run the command again",
        ) from None
    bom = text.startswith(BOM)
    return ConfigFile(path, target, raw, text.removeprefix(BOM), bom=bom, status=status)


def check_unchanged(config: ConfigFile) -> None:
    """Refuse to write when the file changed since it was read (the client saved it)."""
    try:
        now: bytes | None = config.target.read_bytes()
    except FileNotFoundError:
        now = None
    except OSError as exc:
        raise _oserror(config.target, "read", exc) from None
    if now != config.raw:
        raise ClientConfigError(
            f"{config.path} changed while mcpkit was editing it; nothing was written",
            hint="run the command again (close the client first if it keeps rewriting the file)",
        )


def replace_file(config: ConfigFile, data: bytes) -> None:
    """Atomically replace the config file with ``data``, keeping its mode and owner.

    A new file is created with mode 0600, with its missing parent folders.
    """
    target = config.target
    mode = stat.S_IMODE(config.status.st_mode) if config.status else 0o600
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _oserror(target, "write", exc) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            _restore_owner(fh.fileno(), config)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(mode)
        tmp.replace(target)
        _sync_folder(target.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _oserror(target, "write", exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _restore_owner(fd: int, config: ConfigFile) -> None:
    """Give the new file the old one's owner (as root editing a user's file, say)."""
    if config.status is None or not hasattr(os, "fchown"):
        return
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (config.status.st_uid, config.status.st_gid):
        os.fchown(fd, config.status.st_uid, config.status.st_gid)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); Windows has no folder handles to sync."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_file(config: ConfigFile) -> None:
    """Delete the config file (a dedicated file mcpkit created and no longer needs)."""
    try:
        config.target.unlink(missing_ok=True)
    except OSError as exc:
        raise _oserror(config.target, "remove", exc) from None


def write_backup(config: ConfigFile, backup_dir: Path, stem: str) -> Path | None:
    """Copy the file's current bytes to ``backup_dir`` (mode 0600) and prune old copies.

    The name is ``<stem>-<UTC timestamp>.<suffix>``; the newest :data:`KEEP_BACKUPS` per
    stem are kept. Returns None when there was no file to back up.
    """
    if config.raw is None:
        return None
    suffix = config.target.suffix.lstrip(".") or "bak"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    try:
        backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for n in range(100):
            extra = f"-{n}" if n else ""
            backup = backup_dir / f"{stem}-{stamp}{extra}.{suffix}"
            try:
                fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as fh:
                fh.write(config.raw)
                fh.flush()
                os.fsync(fh.fileno())
            break
        else:  # pragma: no cover - a hundred backups in the same microsecond
            raise FileExistsError(backup)
    except OSError as exc:
        raise _oserror(backup_dir, "back up the config file into", exc) from None
    prune_backups(backup_dir, stem)
    return backup


def prune_backups(backup_dir: Path, stem: str, keep: int = KEEP_BACKUPS) -> None:
    """Delete all but the newest ``keep`` backups of ``stem`` (names sort by time)."""
    old = sorted(p for p in backup_dir.glob(f"{stem}-*") if p.name[len(stem) + 1 :][:1].isdigit())
    for path in old[:-keep] if keep else old:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
