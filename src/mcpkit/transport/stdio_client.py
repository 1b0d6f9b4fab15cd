"""The client side of MCP's stdio transport: JSON-RPC over a child process's pipes.

Framing is one JSON document per line (UTF-8, ``\\n``-terminated, no embedded newlines).
This is the gateway's hot path, so a message is never parsed here: a line is passed on
when its first byte opens a JSON object or array, and anything else (a banner or a log
line a server printed to stdout by mistake) is dropped into a small ring that health
reports can show, instead of breaking the session.

:class:`StderrDrain` keeps reading the child's stderr so the child never blocks on a full
pipe, keeps the last lines with every secret value redacted, and can append them to a log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from mcpkit.runtime.base import ChannelClosed

#: The StreamReader limit to create child processes with: the largest message accepted.
MAX_MESSAGE = 64 * 1024 * 1024
#: Messages this long or longer are written without first joining them to the newline.
_JOIN_LIMIT = 64 * 1024
_JSON_START = frozenset(b"{[")
_SPACE = frozenset(b" \t\r")
_GARBAGE_KEEP = 200  # characters of each dropped line kept for diagnostics


class LineWriter(Protocol):
    """What :class:`ProcessChannel` writes to: an ``asyncio.StreamWriter`` or an adapter."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


class ProcessChannel:
    """A :class:`~mcpkit.runtime.base.Channel` over a child's stdin and stdout.

    Create the child with ``limit=MAX_MESSAGE`` so large results fit in one line.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: LineWriter, *, garbage: int = 20
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._garbage: deque[str] = deque(maxlen=garbage)
        self._closed = False

    @property
    def garbage(self) -> list[str]:
        """The last lines that were not JSON messages (possibly shortened), oldest first."""
        return list(self._garbage)

    async def send(self, message: bytes) -> None:
        """Write one message and its newline, waiting while the pipe is full."""
        writer = self._writer
        if self._closed or writer.is_closing():
            raise ChannelClosed("the server's stdin is closed")
        try:
            if len(message) < _JOIN_LIMIT:
                writer.write(message + b"\n")
            else:
                writer.write(message)
                writer.write(b"\n")
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed("the server closed its stdin") from exc

    async def receive(self) -> bytes:
        """The next JSON message; raises :class:`ChannelClosed` at the end of stdout."""
        reader = self._reader
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                line = exc.partial  # the last line may lack its newline
                if not line:
                    raise ChannelClosed("the server closed its output") from None
            except asyncio.LimitOverrunError as exc:
                await self._drop_long_line(exc.consumed)
                continue
            first = line[0]
            if first in _JSON_START:
                return line[:-1] if line[-1] == 10 else line
            if first in _SPACE or first == 10:
                stripped = line.strip()
                if not stripped:
                    continue
                if stripped[0] in _JSON_START:
                    return stripped
            self._garbage.append(line[:_GARBAGE_KEEP].decode(errors="replace").rstrip())

    async def aclose(self) -> None:
        """Close the child's stdin (its signal to exit); idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await self._writer.wait_closed()

    async def _drop_long_line(self, consumed: int) -> None:
        # The buffer holds `consumed` bytes of a line longer than the limit: skip them and
        # the rest of that line, and keep the channel usable.
        reader = self._reader
        with contextlib.suppress(asyncio.IncompleteReadError):
            await reader.readexactly(consumed)
            while True:
                try:
                    await reader.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as exc:
                    await reader.readexactly(exc.consumed)
        self._garbage.append(f"<dropped a message longer than {consumed} bytes>")


class StderrDrain:
    """Reads a child's stderr to the end, keeping the last lines with secrets redacted."""

    def __init__(
        self, secrets: Iterable[str] = (), *, keep: int = 200, log_file: Path | None = None
    ) -> None:
        values: set[str] = set()
        for secret in secrets:
            if secret:
                values.add(secret)
                # A multi-line secret (a PEM key) reaches the log one line at a time.
                values.update(part for part in secret.splitlines() if len(part) >= 4)
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted(values, key=len, reverse=True)
        self._lines: deque[str] = deque(maxlen=keep)
        self._log_file = log_file
        self._task: asyncio.Task[None] | None = None

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def start(self, stream: asyncio.StreamReader) -> None:
        """Start draining ``stream`` in a task of the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._drain(stream))

    def tail(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines, redacted."""
        if lines <= 0:
            return []
        return list(self._lines)[-lines:]

    async def wait(self) -> None:
        """Wait until the stream has ended (the child closed stderr)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Stop draining; idempotent."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            if len(pending) > 65536:  # a line without end: keep what we have of it
                complete.append(pending)
                pending = b""
            self._add(complete)
        if pending:
            self._add([pending])

    def _add(self, raw_lines: list[bytes]) -> None:
        lines = [self.redact(raw.decode(errors="replace").rstrip("\r"))[:2000] for raw in raw_lines]
        self._lines.extend(lines)
        if self._log_file is not None and lines:
            try:
                with self._log_file.open("a", encoding="utf-8") as log:
                    log.write("".join(f"{line}\n" for line in lines))
            except OSError:
                self._log_file = None  # a full disk must not stop the drain
