"""ProcessChannel and StderrDrain over real child processes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from mcpkit.runtime.base import Channel, ChannelClosed
from mcpkit.transport.stdio_client import MAX_MESSAGE, ProcessChannel, StderrDrain

pytestmark = pytest.mark.anyio

ECHO = """
import sys
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _spawn(code: str, limit: int = MAX_MESSAGE) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=limit,
    )


def _channel(proc: asyncio.subprocess.Process) -> ProcessChannel:
    assert proc.stdin is not None
    assert proc.stdout is not None
    return ProcessChannel(proc.stdout, proc.stdin)


@pytest.fixture
async def echo() -> AsyncIterator[ProcessChannel]:
    proc = await _spawn(ECHO)
    channel = _channel(proc)
    yield channel
    await channel.aclose()
    await asyncio.wait_for(proc.wait(), 10)


async def test_a_message_goes_out_and_comes_back_without_its_newline(
    echo: ProcessChannel,
) -> None:
    message = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})

    await echo.send(message)

    assert await asyncio.wait_for(echo.receive(), 10) == message
    assert isinstance(echo, Channel)


async def test_a_ten_megabyte_message_fits_in_one_line(echo: ProcessChannel) -> None:
    message = orjson.dumps({"id": 2, "result": {"text": "x" * (10 * 1024 * 1024)}})

    await echo.send(message)

    assert await asyncio.wait_for(echo.receive(), 30) == message


async def test_many_messages_keep_their_order(echo: ProcessChannel) -> None:
    messages = [orjson.dumps({"id": i}) for i in range(500)]

    async def write_all() -> None:
        for message in messages:
            await echo.send(message)

    writer = asyncio.create_task(write_all())
    received = [await asyncio.wait_for(echo.receive(), 10) for _ in messages]
    await writer

    assert received == messages


async def test_lines_that_are_not_json_are_skipped_and_remembered() -> None:
    code = r"""
import sys
sys.stdout.write("Server starting on stdio...\n\n   \n")
sys.stdout.write('  {"id": 1}\n')
sys.stdout.write("\x1b[32mready\x1b[0m\n")
sys.stdout.write('[{"id": 2}]\n')
"""
    proc = await _spawn(code)
    channel = _channel(proc)

    first = await asyncio.wait_for(channel.receive(), 10)
    second = await asyncio.wait_for(channel.receive(), 10)

    assert first == b'{"id": 1}'
    assert second == b'[{"id": 2}]'
    assert channel.garbage == ["Server starting on stdio...", "\x1b[32mready\x1b[0m"]
    await channel.aclose()
    await asyncio.wait_for(proc.wait(), 10)


async def test_the_end_of_stdout_closes_the_channel_after_the_last_message() -> None:
    proc = await _spawn(r"""import sys; sys.stdout.write('{"id": 1}')""")  # no newline
    channel = _channel(proc)

    assert await asyncio.wait_for(channel.receive(), 10) == b'{"id": 1}'
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(channel.receive(), 10)
    await asyncio.wait_for(proc.wait(), 10)


async def test_sending_to_a_process_that_exited_raises_channel_closed() -> None:
    proc = await _spawn("import sys; sys.stdin.close()")
    channel = _channel(proc)
    await asyncio.wait_for(proc.wait(), 10)
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(channel.receive(), 10)

    async def send_a_few() -> None:
        # The first write may still fit in the pipe's buffer before the loss is seen.
        for _ in range(3):
            await asyncio.wait_for(channel.send(b'{"id": 1}'), 10)

    with pytest.raises(ChannelClosed):
        await send_a_few()


async def test_a_line_longer_than_the_limit_is_dropped_and_the_channel_goes_on() -> None:
    code = r"""
import sys
sys.stdout.write('{"big": "' + "y" * 5000 + '"}\n')
sys.stdout.write('{"id": 3}\n')
"""
    proc = await _spawn(code, limit=1024)
    channel = _channel(proc)

    assert await asyncio.wait_for(channel.receive(), 10) == b'{"id": 3}'
    assert channel.garbage
    assert channel.garbage[-1].startswith("<dropped a message longer than")
    await asyncio.wait_for(proc.wait(), 10)


async def test_closing_the_channel_ends_stdin_and_is_idempotent(echo: ProcessChannel) -> None:
    await echo.aclose()
    await echo.aclose()

    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(echo.receive(), 10)
    with pytest.raises(ChannelClosed):
        await echo.send(b"{}")


async def test_stderr_keeps_the_last_lines_with_secrets_redacted(tmp_path: Path) -> None:
    key = "-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----"
    code = r"""
import sys
for i in range(10):
    print(f"line {i}", file=sys.stderr)
print("using token hunter2-token-value now", file=sys.stderr)
print("AAAABBBBCCCC", file=sys.stderr)
sys.stderr.write("no newline at the end")
"""
    proc = await _spawn(code)
    assert proc.stderr is not None
    log_file = tmp_path / "server.log"
    drain = StderrDrain(["hunter2-token-value", key, ""], keep=4, log_file=log_file)

    drain.start(proc.stderr)
    await asyncio.wait_for(drain.wait(), 10)
    await asyncio.wait_for(proc.wait(), 10)

    assert drain.tail(10) == [
        "line 9",
        "using token *** now",
        "***",
        "no newline at the end",
    ]
    assert drain.tail(1) == ["no newline at the end"]
    logged = log_file.read_text()
    assert "hunter2" not in logged
    assert "AAAABBBBCCCC" not in logged
    assert logged.splitlines()[0] == "line 0"
    await drain.aclose()
