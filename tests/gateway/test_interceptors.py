"""The interceptor chain: order, rewrites, blocking, outcomes in the call log."""

from __future__ import annotations

import io
from typing import Any

import anyio
import orjson
import pytest

from mcpkit.errors import ServerError
from mcpkit.gateway.calllog import CallLog
from mcpkit.gateway.interceptors import (
    CallBlocked,
    CallContext,
    Interceptor,
    InterceptorChain,
    blocked_result,
    current_arguments,
)
from mcpkit.gateway.leaks import LeakBlocker, LeakScanner

pytestmark = pytest.mark.anyio

CTX = CallContext("dev", "time", "time__now", "now", None)
OK: dict[str, Any] = {"content": [{"type": "text", "text": "12:00"}], "isError": False}


class Recorder:
    """An interceptor that notes the order of calls and can tag what passes through."""

    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self.events = events

    async def before(self, ctx: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        self.events.append(f"before:{self.name}")
        return {**arguments, "seen": [*arguments.get("seen", []), self.name]}

    async def after(self, ctx: CallContext, result: dict[str, Any]) -> dict[str, Any]:
        self.events.append(f"after:{self.name}")
        return {**result, "trail": [*result.get("trail", []), self.name]}


def log_records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_a_chain_with_nothing_configured_is_empty() -> None:
    assert InterceptorChain([], None).empty
    assert not InterceptorChain([], CallLog(None)).empty
    assert not InterceptorChain([Recorder("a", [])], None).empty


async def test_befores_run_in_order_and_afters_in_reverse() -> None:
    events: list[str] = []
    stream = io.StringIO()
    chain = InterceptorChain(
        [Recorder("a", events), Recorder("b", events)], CallLog(None, stream=stream)
    )
    sent: list[dict[str, Any]] = []

    async def send(arguments: dict[str, Any]) -> dict[str, Any]:
        events.append("send")
        sent.append(arguments)
        assert current_arguments.get() == arguments
        return OK

    result = await chain.call(CTX, {"tz": "UTC"}, send)
    assert events == ["before:a", "before:b", "send", "after:b", "after:a"]
    assert sent == [{"tz": "UTC", "seen": ["a", "b"]}]
    assert result["trail"] == ["b", "a"]
    assert current_arguments.get() is None
    (record,) = log_records(stream)
    assert record["outcome"] == "ok"
    # The log shows what the client sent, not the rewrite.
    assert record["shape"] == {"tz": "string"}
    assert record["duration_ms"] >= 0


async def test_a_tool_error_result_is_logged_as_error() -> None:
    stream = io.StringIO()
    chain = InterceptorChain([], CallLog(None, stream=stream))

    async def send(arguments: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": "no such zone"}], "isError": True}

    result = await chain.call(CTX, {}, send)
    assert result["isError"] is True
    assert [r["outcome"] for r in log_records(stream)] == ["error"]


async def test_a_secret_in_arguments_is_blocked_before_sending_and_logged() -> None:
    token = "gh" + "p_" + "a1B2c3D4e5" * 4
    stream = io.StringIO()
    chain = InterceptorChain([LeakBlocker(LeakScanner())], CallLog(None, stream=stream))
    calls: list[dict[str, Any]] = []

    async def send(arguments: dict[str, Any]) -> dict[str, Any]:
        calls.append(arguments)
        return OK

    with pytest.raises(CallBlocked) as caught:
        await chain.call(CTX, {"token": token}, send)
    assert calls == []
    assert token not in caught.value.reason
    (record,) = log_records(stream)
    assert (record["outcome"], record["error"]) == ("blocked", "github-token")
    assert token not in stream.getvalue()
    answer = blocked_result(caught.value)
    assert answer["isError"] is True
    assert answer["content"][0]["text"] == caught.value.reason


async def test_a_secret_in_the_result_never_reaches_the_caller() -> None:
    key = "AI" + "za" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
    stream = io.StringIO()
    events: list[str] = []
    chain = InterceptorChain(
        [LeakBlocker(LeakScanner()), Recorder("hook", events)], CallLog(None, stream=stream)
    )

    async def send(arguments: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": f"GOOGLE_API_KEY={key}"}]}

    with pytest.raises(CallBlocked) as caught:
        await chain.call(CTX, {}, send)
    assert caught.value.rule == "google-api-key"
    # The inner hook saw the result first; the leak blocker, outermost, had the last word.
    assert events == ["before:hook", "after:hook"]
    assert log_records(stream)[0]["outcome"] == "blocked"


async def test_a_failing_send_is_logged_then_propagates() -> None:
    stream = io.StringIO()
    chain = InterceptorChain([], CallLog(None, stream=stream))

    async def broken(arguments: dict[str, Any]) -> dict[str, Any]:
        raise ServerError("server `time` exited")

    async def crashing(arguments: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionResetError("peer went away")

    with pytest.raises(ServerError):
        await chain.call(CTX, {}, broken)
    with pytest.raises(ConnectionResetError):
        await chain.call(CTX, {}, crashing)
    assert [(r["outcome"], r["error"]) for r in log_records(stream)] == [
        ("failed", "server-failed"),
        ("failed", "ConnectionResetError"),
    ]


async def test_a_cancelled_call_is_logged_as_failed_cancelled() -> None:
    stream = io.StringIO()
    chain = InterceptorChain([], CallLog(None, stream=stream))
    started = anyio.Event()

    async def hang(arguments: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await anyio.Event().wait()
        return OK

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(chain.call, CTX, {}, hang)
            await started.wait()
            tg.cancel_scope.cancel()
    assert [(r["outcome"], r["error"]) for r in log_records(stream)] == [("failed", "cancelled")]


async def test_a_chain_without_a_log_still_runs_interceptors() -> None:
    events: list[str] = []
    chain: InterceptorChain = InterceptorChain([Recorder("a", events)], None)

    async def send(arguments: dict[str, Any]) -> dict[str, Any]:
        return OK

    await chain.call(CTX, {}, send)
    assert events == ["before:a", "after:a"]


def test_builtin_interceptors_satisfy_the_protocol() -> None:
    interceptor: Interceptor = LeakBlocker(LeakScanner())
    assert callable(interceptor.before)
