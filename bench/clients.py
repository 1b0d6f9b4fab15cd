"""Lean JSON-RPC clients for the benchmark: the same work on every path.

* :class:`StdioClient` drives a child over its pipes (a backend served directly, or the
  gateway's stdio front). Many outstanding requests are pipelined on the one pipe and
  matched back by id.
* :class:`RawHttpClient` speaks just enough HTTP/1.1 (keep-alive, Content-Length or
  chunked bodies, a JSON or SSE answer) over one asyncio socket per worker. It exists
  because httpx spends more CPU per request than the gateway does, on a machine where
  client, gateway and backend share two cores (see the README for the numbers).
* :class:`HttpxClient` is the same exchange through ``httpx.AsyncClient`` (HTTP/1.1
  keep-alive, a pool sized to the concurrency), measured for comparison.

Every client exposes ``call(method, params) -> dict`` and is safe to use from many
concurrent tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import orjson

HANDSHAKE = "2025-11-25"
INIT_PARAMS: dict[str, Any] = {
    "protocolVersion": HANDSHAKE,
    "capabilities": {},
    "clientInfo": {"name": "mcpkit-bench", "version": "1.0"},
}


class RpcError(Exception):
    """The peer answered with a JSON-RPC error (or not at all)."""


def _result(msg: dict[str, Any]) -> dict[str, Any]:
    if "error" in msg:
        raise RpcError(str(msg["error"]))
    result = msg.get("result")
    if not isinstance(result, dict):
        raise RpcError(f"no result in {msg!r}")
    return result


class StdioClient:
    """Newline-delimited JSON-RPC over a child's stdin/stdout, pipelined."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc = proc
        self._writer = proc.stdin
        self._reader = proc.stdout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def spawn(cls, argv: Sequence[str], env: dict[str, str] | None = None) -> StdioClient:
        """Start ``argv`` with pipes (stderr discarded) and wrap it."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            limit=64 * 1024 * 1024,
        )
        return cls(proc)

    async def initialize(self) -> dict[str, Any]:
        """The handshake: ``initialize`` then ``notifications/initialized``."""
        result = await self.call("initialize", INIT_PARAMS)
        self._writer.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        await self._writer.drain()
        return result

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send one request and wait for its result."""
        rid = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self._writer.write(orjson.dumps(msg) + b"\n")
        await self._writer.drain()
        return _result(await future)

    async def _read(self) -> None:
        while True:
            line = await self._reader.readline()
            if not line:
                break
            msg = orjson.loads(line)
            if isinstance(msg, dict) and "method" not in msg:
                future = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                if future is not None and not future.done():
                    future.set_result(msg)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RpcError("the child closed its stdout"))

    async def aclose(self) -> None:
        """Close stdin and wait (bounded) for the child to exit."""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._writer.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class _Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, head: bytes, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        self.writer.write(head + body)
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding") == b"chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(data[:-2])
            payload = b"".join(chunks)
        else:
            payload = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        return status, headers, payload


class RawHttpClient:
    """Streamable HTTP (handshake era) over raw sockets; one connection per concurrent task."""

    def __init__(self, host: str, port: int, token: str | None) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.session_id: str | None = None
        self._ids = itertools.count(1)
        self._idle: list[_Conn] = []
        self._all: list[_Conn] = []

    def _head(self, length: int) -> bytes:
        lines = [
            b"POST /mcp HTTP/1.1",
            f"Host: {self.host}:{self.port}".encode(),
            b"Content-Type: application/json",
            b"Accept: application/json, text/event-stream",
            f"Content-Length: {length}".encode(),
        ]
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}".encode())
        if self.session_id:
            lines.append(f"Mcp-Session-Id: {self.session_id}".encode())
            lines.append(f"Mcp-Protocol-Version: {HANDSHAKE}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _post(self, msg: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
        conn = self._idle.pop() if self._idle else None
        if conn is None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            conn = _Conn(reader, writer)
            self._all.append(conn)
        body = orjson.dumps(msg)
        answer = await conn.exchange(self._head(len(body)), body)
        self._idle.append(conn)
        return answer

    async def initialize(self) -> dict[str, Any]:
        """Open a session (its id is sent on every later request)."""
        msg = {"jsonrpc": "2.0", "id": next(self._ids), "method": "initialize"}
        status, headers, payload = await self._post({**msg, "params": INIT_PARAMS})
        if status != 200:
            raise RpcError(f"initialize: HTTP {status}: {payload[:200]!r}")
        self.session_id = headers[b"mcp-session-id"].decode()
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return _result(orjson.loads(payload))

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """One request, one response (JSON, or the last message of an SSE stream)."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            msg["params"] = params
        status, headers, payload = await self._post(msg)
        if status != 200:
            raise RpcError(f"{method}: HTTP {status}: {payload[:200]!r}")
        return _result(_decode(headers.get(b"content-type", b""), payload))

    async def aclose(self) -> None:
        """Close every connection."""
        for conn in self._all:
            conn.writer.close()
            with contextlib.suppress(ConnectionError):
                await conn.writer.wait_closed()
        self._all.clear()
        self._idle.clear()


class HttpxClient:
    """The same exchange as :class:`RawHttpClient`, through ``httpx.AsyncClient``."""

    def __init__(self, host: str, port: int, token: str | None, pool: int) -> None:
        import httpx

        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        self.url = f"http://{host}:{port}/mcp"
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(limits=limits, timeout=30.0)
        self._ids = itertools.count(1)

    async def initialize(self) -> dict[str, Any]:
        """Open a session (its id is sent on every later request)."""
        msg = {"jsonrpc": "2.0", "id": next(self._ids), "method": "initialize"}
        response = await self._client.post(
            self.url, content=orjson.dumps({**msg, "params": INIT_PARAMS}), headers=self.headers
        )
        self.headers["Mcp-Session-Id"] = response.headers["mcp-session-id"]
        self.headers["Mcp-Protocol-Version"] = HANDSHAKE
        note = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await self._client.post(self.url, content=note, headers=self.headers)
        content_type = response.headers.get("content-type", "").encode()
        return _result(_decode(content_type, response.content))

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """One request, one response."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            msg["params"] = params
        response = await self._client.post(
            self.url, content=orjson.dumps(msg), headers=self.headers
        )
        if response.status_code != 200:
            raise RpcError(f"{method}: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "").encode()
        return _result(_decode(content_type, response.content))

    async def aclose(self) -> None:
        """Close the pool."""
        await self._client.aclose()


def _decode(content_type: bytes, payload: bytes) -> dict[str, Any]:
    if content_type.startswith(b"text/event-stream"):
        data = [line[5:].strip() for line in payload.split(b"\n") if line.startswith(b"data:")]
        payload = data[-1]
    msg = orjson.loads(payload)
    if not isinstance(msg, dict):
        raise RpcError(f"not a JSON-RPC response: {payload[:200]!r}")
    return msg
