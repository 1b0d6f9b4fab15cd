"""MCP's stdio transport over a container's attach stream (Docker Engine API, Podman too).

With ``tty=False`` the engine multiplexes the container's stdout and stderr on one
connection: every frame is an 8-byte header (stream 1 = stdout, 2 = stderr; then three zero
bytes; then the payload length, big-endian) followed by the payload. Frames do not align
with lines. :func:`open_attach` splits them into two ``StreamReader``\\ s, so the container's
stdout becomes a :class:`~mcpkit.transport.stdio_client.ProcessChannel` exactly like a child
process's, and its stderr feeds a :class:`~mcpkit.transport.stdio_client.StderrDrain`.

Closing the channel half-closes the connection: with ``StdinOnce`` set on the container,
the server sees end-of-file on stdin (MCP's way to ask a stdio server to exit) while its
last output can still be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from mcpkit.transport.stdio_client import MAX_MESSAGE, ProcessChannel

_STDERR = 2


class HalfCloseWriter:
    """A ``StreamWriter`` whose ``close`` only ends the writing direction (EOF on stdin)."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._eof = False

    def write(self, data: bytes) -> None:
        """Queue ``data`` on the connection."""
        self._writer.write(data)

    async def drain(self) -> None:
        """Wait while the connection's buffer is full."""
        await self._writer.drain()

    def is_closing(self) -> bool:
        """True once stdin was closed or the connection is gone."""
        return self._eof or self._writer.is_closing()

    def close(self) -> None:
        """Send end-of-file to the container's stdin; the output keeps flowing."""
        if self._eof:
            return
        self._eof = True
        if self._writer.is_closing():
            return
        try:
            if self._writer.can_write_eof():
                self._writer.write_eof()
            else:
                self._writer.close()
        except OSError:
            self._writer.close()

    async def wait_closed(self) -> None:
        """Nothing to wait for: the connection stays open for the output."""

    def abort(self) -> None:
        """Close the whole connection at once."""
        self._eof = True
        self._writer.close()


class AttachStream:
    """The demultiplexed attach connection of one container."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stdout = asyncio.StreamReader(limit=MAX_MESSAGE)
        self.stderr = asyncio.StreamReader()
        self.writer = HalfCloseWriter(writer)
        self.channel = ProcessChannel(self.stdout, self.writer)
        self._reader = reader
        self._task = asyncio.get_running_loop().create_task(self._demux())

    async def _demux(self) -> None:
        reader, out, err = self._reader, self.stdout, self.stderr
        try:
            while True:
                header = await reader.readexactly(8)
                size = int.from_bytes(header[4:8], "big")
                if size:
                    payload = await reader.readexactly(size)
                    (err if header[0] == _STDERR else out).feed_data(payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            out.feed_eof()
            err.feed_eof()

    async def ended(self) -> None:
        """Wait until the engine closed the stream (the container's output ended)."""
        await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Close the connection (both directions) and stop reading; idempotent."""
        self.writer.abort()
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def open_attach(sock: socket.socket) -> AttachStream:
    """Wrap an upgraded attach socket (the HTTP exchange already done) in an AttachStream.

    The socket is duplicated: the caller keeps (and closes) its own object.
    """
    dup = sock.dup()
    dup.setblocking(False)
    try:
        reader, writer = await asyncio.open_connection(sock=dup, limit=MAX_MESSAGE)
    except OSError:
        dup.close()
        raise
    return AttachStream(reader, writer)
