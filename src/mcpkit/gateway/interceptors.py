"""Call interceptors: code that sees (and may refuse or rewrite) every ``tools/call``.

An :class:`Interceptor` has two halves. ``before`` gets the arguments the client sent and
returns the arguments to forward (the same dict, or a rewritten one); ``after`` gets the
server's ``CallToolResult`` dict and returns the result to give back. Either half refuses
by raising :class:`CallBlocked`. An :class:`InterceptorChain` runs them like onion layers:
every ``before`` in order, the upstream call, every ``after`` in reverse order, then one
call-log record. Built-in interceptors: :class:`~mcpkit.gateway.leaks.LeakBlocker`
(secret-leak blocking) and :class:`~mcpkit.gateway.hooks.ExternalHook` (a command or an
HTTP endpoint). The recommended order is ``[LeakBlocker, *hooks]``: a hook never sees a
secret the client sent, and the leak blocker has the last word on what the client gets,
including a result a hook rewrote.

When nothing is configured, :attr:`InterceptorChain.empty` is true and the gateway skips
the chain entirely, so an unconfigured gateway pays nothing on its hot path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from mcpkit.errors import McpkitError

if TYPE_CHECKING:
    from mcpkit.gateway.calllog import CallLog

#: The arguments the current call sent upstream (after every ``before`` rewrite). Set by
#: :meth:`InterceptorChain.call` for the duration of the call, so that an ``after`` half
#: (an after-hook's request document) can show them without widening the protocol.
current_arguments: ContextVar[dict[str, Any] | None] = ContextVar(
    "mcpkit_current_arguments", default=None
)

#: What the upstream call sends: the arguments in, the ``CallToolResult`` dict out.
Send = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class CallContext:
    """Which call this is: the profile, the server and both names of the tool."""

    profile: str
    #: The server id in the profile.
    server: str
    #: The tool's name as the client sees it (prefixed or renamed by the gateway).
    tool: str
    #: The tool's name as the server gives it.
    original_tool: str
    #: The client session id, if the front has one.
    session: str | None = None


class CallBlocked(Exception):  # noqa: N818 - a decision, not a failure: "the call was blocked"
    """An interceptor refused a call (before it was sent) or its result (after).

    ``reason`` is fit to show the client and to log: it says what was refused and why,
    and never contains the offending value. ``rule`` is a stable id of what fired
    (``github-token``, ``hook:audit``) or None.
    """

    def __init__(self, reason: str, *, rule: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


class Interceptor(Protocol):
    """Sees every call; may rewrite the arguments or the result, or refuse either."""

    async def before(self, ctx: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments to forward (possibly rewritten); raises :class:`CallBlocked`."""
        ...

    async def after(self, ctx: CallContext, result: dict[str, Any]) -> dict[str, Any]:
        """The ``CallToolResult`` dict to return (possibly rewritten); may raise CallBlocked."""
        ...


def blocked_result(exc: CallBlocked) -> dict[str, Any]:
    """The ``CallToolResult`` the gateway should answer a blocked call with.

    A blocked call is answered with a normal result whose ``isError`` is true, not with a
    JSON-RPC error. MCP reserves JSON-RPC errors for protocol problems (unknown tool,
    malformed request) and reports tool execution failures in the result, where the
    model can read them: a model told "argument `token` looks like a GitHub token; the
    call was blocked" can retry without the secret, while a JSON-RPC error usually ends
    the turn with an opaque failure shown only to the user. The reason never holds the
    secret, so it is safe to show.
    """
    return {"content": [{"type": "text", "text": exc.reason}], "isError": True}


class InterceptorChain:
    """Runs interceptors and the call log around one upstream call."""

    __slots__ = ("_after", "_before", "_call_log")

    def __init__(self, interceptors: Sequence[Interceptor], call_log: CallLog | None) -> None:
        self._before = tuple(interceptors)
        self._after = tuple(reversed(self._before))
        self._call_log = call_log

    async def aclose(self) -> None:
        """Release what the interceptors hold (hook HTTP clients, the log file)."""
        for interceptor in self._before:
            close = getattr(interceptor, "aclose", None)
            if close is not None:
                await close()
        if self._call_log is not None:
            self._call_log.close()

    @property
    def empty(self) -> bool:
        """True when there is nothing to run: the gateway then calls upstream directly."""
        return not self._before and self._call_log is None

    async def call(self, ctx: CallContext, arguments: dict[str, Any], send: Send) -> dict[str, Any]:
        """Run every ``before``, ``send``, every ``after`` (reversed), and log the call.

        Outcomes in the log: ``ok``; ``error`` when the result has ``isError`` true;
        ``blocked`` when an interceptor raised :class:`CallBlocked`; ``failed`` when
        ``send`` (or an interceptor) raised anything else, or the call was cancelled.
        Every exception propagates after the record is written. The gateway should turn
        :class:`CallBlocked` into :func:`blocked_result` (see there for why).
        """
        started = time.perf_counter()
        outcome = "failed"
        error: str | None = None
        token = None
        try:
            sent = arguments
            for interceptor in self._before:
                sent = await interceptor.before(ctx, sent)
            token = current_arguments.set(sent)
            result = await send(sent)
            for interceptor in self._after:
                result = await interceptor.after(ctx, result)
        except CallBlocked as exc:
            outcome = "blocked"
            error = exc.rule or "blocked"
            raise
        else:
            outcome = "error" if result.get("isError") is True else "ok"
            return result
        finally:
            if token is not None:
                current_arguments.reset(token)
            if outcome == "failed":
                error = _failure_code(sys.exc_info()[1])
            if self._call_log is not None:
                self._call_log.record(
                    ctx,
                    arguments,
                    duration=time.perf_counter() - started,
                    outcome=outcome,
                    error=error,
                )


def _failure_code(exc: BaseException | None) -> str:
    """A short, value-free code for what made a call fail."""
    if exc is None:
        return "failed"
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    if isinstance(exc, McpkitError):
        return exc.code
    return type(exc).__name__
