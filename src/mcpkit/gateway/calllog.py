"""The call log: one JSON line per ``tools/call``, without argument values.

Each record says who called what and how it went, and the *shape* of the arguments
(their keys and JSON types), never their values, so the log can be kept and shared
without becoming a second copy of every secret and document that passed through::

    {"ts": "2026-01-02T03:04:05.678901Z", "profile": "dev", "server": "github",
     "tool": "github__create_issue", "original_tool": "create_issue", "session": null,
     "shape": {"owner": "string", "labels": ["string", 2]}, "duration_ms": 41.207,
     "outcome": "ok", "error": null}

``outcome`` is ``ok``, ``error`` (the tool answered ``isError: true``), ``blocked`` (an
interceptor refused; ``error`` is the rule id) or ``failed`` (no result: ``error`` is the
failure's code or exception class, or ``cancelled``).

The file is opened with ``O_APPEND`` and mode 0600, and each record is written with one
``write`` call. POSIX makes appends atomic with respect to the file offset, so records
from several gateway processes never overwrite each other; lines up to ``PIPE_BUF``
(4 KiB on Linux) are also never interleaved on pipes, and on local file systems a single
``write`` of a regular file is not split in practice. Records are small (the shape is
bounded), so one record is one intact line. The file is rotated at 10 MiB, keeping three
old files (``calls.jsonl.1`` … ``.3``).

Writes are synchronous: a ~10 µs ``write`` is cheaper than handing the line to a thread,
and a record is never lost to a cancelled task.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from mcpkit.errors import InvalidInputError
from mcpkit.gateway.interceptors import CallContext

log = logging.getLogger(__name__)

#: Rotate the file when the next record would take it past this size.
MAX_BYTES = 10 * 1024 * 1024
#: Old files kept by rotation (``.1`` is the newest).
KEEP = 3
#: Nesting levels described by :func:`shape_of`; deeper values are just "object"/"array".
MAX_DEPTH = 4
#: Keys described per object; the rest are summarised under the key ``"…"``.
MAX_KEYS = 50

#: The type names a shape is made of.
TYPE_NAMES = frozenset(
    {"string", "integer", "number", "boolean", "null", "object", "array", "truncated"}
)


def shape_of(value: Any, *, depth: int = MAX_DEPTH) -> Any:
    """The shape of a JSON value: keys and types, never a value.

    Objects map each key to the shape of its value (at most :data:`MAX_KEYS` keys, then
    ``"…": "truncated"``); an array is ``[shape of its first item, length]`` (``[]`` when
    empty); a scalar is its JSON type name (``"string"``, ``"integer"``, ``"number"``,
    ``"boolean"``, ``"null"``). Below ``depth`` levels an object is ``"object"`` and an
    array ``"array"``. Keys are kept: they are names from the tool's input schema.
    """
    name = _SCALARS.get(type(value))
    if name is not None:
        return name
    if isinstance(value, dict):
        return _object_shape(value, depth) if depth > 0 else "object"
    if isinstance(value, list | tuple):
        if depth <= 0:
            return "array"
        return [shape_of(value[0], depth=depth - 1), len(value)] if value else []
    # Not a JSON type (the gateway only passes parsed JSON); its class name is no value.
    return _SCALARS.get(type(value).__mro__[1], type(value).__name__)


_SCALARS: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def _object_shape(value: dict[Any, Any], depth: int) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for index, (key, child) in enumerate(value.items()):
        if index == MAX_KEYS:
            shape["…"] = "truncated"
            break
        shape[str(key)] = shape_of(child, depth=depth - 1)
    return shape


class CallLog:
    """Writes call records as JSON lines to a file (rotated) and/or a text stream.

    ``path`` None and ``stream`` None makes a log that records nothing (but still
    counts as configured; pass ``call_log=None`` to the chain to skip logging).
    """

    def __init__(self, path: Path | None, *, stream: TextIO | None = None) -> None:
        self.path = path
        self._stream = stream
        self._fd: int | None = None
        self._size = 0
        # Rotation renames files; two threads rotating at once would lose a file.
        self._lock = threading.Lock()
        if path is not None:
            self._open()

    def record(
        self,
        ctx: CallContext,
        arguments: Any,
        *,
        duration: float,
        outcome: str,
        error: str | None = None,
    ) -> None:
        """Write one record; ``duration`` is in seconds. Never raises for I/O failures."""
        line = orjson.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "profile": ctx.profile,
                "server": ctx.server,
                "tool": ctx.tool,
                "original_tool": ctx.original_tool,
                "session": ctx.session,
                "shape": shape_of(arguments),
                "duration_ms": round(duration * 1000, 3),
                "outcome": outcome,
                "error": error,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        if self._fd is not None:
            self._write(line)
        if self._stream is not None:
            try:
                self._stream.write(line.decode())
                self._stream.flush()
            except (OSError, ValueError) as exc:
                # ValueError: the stream was closed under us. Losing a log line must not
                # fail the call it describes.
                log.warning("call log stream failed: %s", exc)

    def close(self) -> None:
        """Close the file (idempotent); the stream belongs to the caller."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _open(self) -> None:
        assert self.path is not None  # noqa: S101 - only called with a path
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._size = os.fstat(fd).st_size
        except OSError as exc:
            raise InvalidInputError(
                f"cannot open the call log {self.path}: {exc.strerror}",
                hint="choose a writable path for the call log, or turn it off",
            ) from exc
        self._fd = fd

    def _write(self, line: bytes) -> None:
        with self._lock:
            try:
                if self._size + len(line) > MAX_BYTES:
                    self._rotate(len(line))
                if self._fd is None:
                    return
                os.write(self._fd, line)
                self._size += len(line)
            except (OSError, InvalidInputError) as exc:
                log.warning("call log %s: cannot write: %s", self.path, exc)

    def _rotate(self, incoming: int) -> None:
        assert self.path is not None  # noqa: S101 - only called with a path
        assert self._fd is not None  # noqa: S101
        try:
            current = self.path.stat()
        except FileNotFoundError:
            current = None
        mine = os.fstat(self._fd)
        if current is None or (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
            # Another gateway process rotated (or someone removed) the file: follow it.
            self._reopen()
            if self._size + incoming <= MAX_BYTES:
                return
        for index in range(KEEP, 0, -1):
            newer = (
                self.path if index == 1 else self.path.with_name(f"{self.path.name}.{index - 1}")
            )
            try:
                newer.replace(self.path.with_name(f"{self.path.name}.{index}"))
            except FileNotFoundError:
                continue
        self._reopen()

    def _reopen(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._open()
