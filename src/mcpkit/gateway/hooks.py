"""External hooks: a command or an HTTP endpoint that sees each call and may block or rewrite it.

A hook receives one JSON document per call and phase::

    {"version": 1, "phase": "before", "profile": "dev", "server": "github",
     "tool": "github__create_issue", "original_tool": "create_issue",
     "arguments": {...}}

(``after`` adds ``"result": {...}``, the ``CallToolResult``, and ``arguments`` are the
ones sent to the server). A command hook reads it on **stdin** (never argv, which other
users can read in ``/proc``) and runs with a minimal environment (``PATH``, ``HOME``,
``LANG``), without a shell. An HTTP hook gets it as a ``POST`` with
``Content-Type: application/json``.

The reply is one JSON object: ``{"action": "allow"}``, ``{"action": "block", "reason":
"..."}``, ``{"action": "rewrite", "arguments": {...}}`` (before) or ``{"action":
"rewrite", "result": {...}}`` (after). A command that prints nothing and exits 0 allows.
A non-zero exit, a timeout (the process is killed), an HTTP status other than 2xx,
invalid JSON or an unknown action is a hook *failure*, handled by ``on_error``:
``block`` (default: fail closed) or ``allow``. Either way the reason names the hook.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
import httpx
import orjson
from anyio.abc import ByteReceiveStream, ByteSendStream

from mcpkit.errors import InvalidInputError
from mcpkit.gateway.interceptors import CallBlocked, CallContext, current_arguments

log = logging.getLogger(__name__)

#: Largest reply read from a hook (a rewritten result can be big, not unbounded).
MAX_REPLY_BYTES = 16 * 1024 * 1024
#: Environment variables a command hook inherits; nothing else (no secrets) is passed.
HOOK_ENV = ("PATH", "HOME", "LANG")
_REASON_LIMIT = 300

Phase = Literal["before", "after", "both"]
_T = TypeVar("_T")


class HookFailed(Exception):  # noqa: N818 - internal signal, turned into the on_error policy
    """A hook could not give a usable answer; the message says why (and names no value)."""


@dataclass(frozen=True, slots=True)
class HookConfig:
    """One configured hook. Exactly one of ``command`` and ``url`` is set."""

    name: str
    phase: Phase = "before"
    command: list[str] | None = None
    url: str | None = None
    #: Seconds the hook has to answer.
    timeout: float = 5.0
    #: What a failing hook means: ``block`` the call (fail closed) or ``allow`` it.
    on_error: Literal["block", "allow"] = "block"
    #: Server ids (glob patterns) the hook applies to; None means every server.
    servers: list[str] | None = None
    #: Tool names (glob patterns, matched against both names) it applies to; None = all.
    tools: list[str] | None = None


_HINT = (
    "each hook needs a name and exactly one of command (an argv list) or url (http/https);"
    ' e.g. {name: audit, phase: before, command: ["/usr/local/bin/audit-hook"]}'
)
_KEYS = {"name", "phase", "command", "url", "timeout", "on_error", "servers", "tools"}


def hooks_from_config(data: list[dict[str, Any]]) -> list[HookConfig]:
    """Validate the ``hooks`` list of the gateway config; raises InvalidInputError."""
    if not isinstance(data, list):
        raise InvalidInputError("hooks must be a list of hook tables", hint=_HINT)
    hooks: list[HookConfig] = []
    names: set[str] = set()
    for index, entry in enumerate(data):
        hook = _hook_from_entry(index, entry)
        if hook.name in names:
            raise InvalidInputError(f"hook name {hook.name!r} is used twice", hint=_HINT)
        names.add(hook.name)
        hooks.append(hook)
    return hooks


def _hook_from_entry(index: int, entry: Any) -> HookConfig:
    where = f"hook #{index + 1}"
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{where} is not a table of settings", hint=_HINT)
    name = entry.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise InvalidInputError(
            f"{where} needs a name of letters, digits, '.', '_' or '-'", hint=_HINT
        )
    where = f"hook {name!r}"
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise InvalidInputError(
            f"{where} has unknown settings: {', '.join(map(str, unknown))}",
            hint="known settings: " + ", ".join(sorted(_KEYS)),
        )
    phase = entry.get("phase", "before")
    if phase not in ("before", "after", "both"):
        raise InvalidInputError(
            f"{where}: phase must be before, after or both", hint="set phase: before"
        )
    command = entry.get("command")
    url = entry.get("url")
    if (command is None) == (url is None):
        raise InvalidInputError(f"{where} needs exactly one of command and url", hint=_HINT)
    if command is not None and (
        not isinstance(command, list)
        or not command
        or not all(isinstance(part, str) and part for part in command)
    ):
        raise InvalidInputError(
            f"{where}: command must be a non-empty list of strings (argv, no shell)",
            hint='e.g. command: ["python3", "/path/to/hook.py"]',
        )
    if url is not None and (
        not isinstance(url, str) or not re.match(r"https?://[^\s/]+", url, re.IGNORECASE)
    ):
        raise InvalidInputError(
            f"{where}: url must be an http:// or https:// URL",
            hint="e.g. url: http://127.0.0.1:8765/hook",
        )
    timeout = entry.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise InvalidInputError(
            f"{where}: timeout must be a number of seconds between 0 and 300",
            hint="e.g. timeout: 5",
        )
    on_error = entry.get("on_error", "block")
    if on_error not in ("block", "allow"):
        raise InvalidInputError(
            f"{where}: on_error must be block or allow", hint="set on_error: block"
        )
    patterns: dict[str, list[str] | None] = {}
    for key in ("servers", "tools"):
        value = entry.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(p, str) and p for p in value)
        ):
            raise InvalidInputError(
                f"{where}: {key} must be a list of names or glob patterns",
                hint=f'e.g. {key}: ["github*"]',
            )
        patterns[key] = list(value) if value is not None else None
    return HookConfig(
        name=name,
        phase=phase,
        command=list(command) if command is not None else None,
        url=url,
        timeout=float(timeout),
        on_error=on_error,
        servers=patterns["servers"],
        tools=patterns["tools"],
    )


class ExternalHook:
    """The interceptor that runs one configured hook.

    ``environ`` is the gateway's environment; only :data:`HOOK_ENV` variables of it reach
    a command hook. ``client`` is the HTTP client to share among hooks (one is created
    when needed and closed by :meth:`aclose` otherwise).
    """

    def __init__(
        self,
        config: HookConfig,
        *,
        environ: Mapping[str, str],
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = config
        self._env = {key: environ[key] for key in HOOK_ENV if key in environ}
        self._client = client
        self._own_client = client is None
        self._servers = _globs(config.servers)
        self._tools = _globs(config.tools)
        self._applies: dict[tuple[str, str, str], bool] = {}

    async def before(self, ctx: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """Ask the hook about the arguments; the (rewritten) arguments or CallBlocked."""
        if self.config.phase == "after" or not self._wanted(ctx):
            return arguments
        reply = await self._ask(ctx, "before", {"arguments": arguments})
        if reply is None:
            return arguments
        rewritten = reply.get("arguments")
        if not isinstance(rewritten, dict):
            return self._failed("replied rewrite without an `arguments` object", arguments)
        return rewritten

    async def after(self, ctx: CallContext, result: dict[str, Any]) -> dict[str, Any]:
        """Ask the hook about the result; the (rewritten) result or CallBlocked."""
        if self.config.phase == "before" or not self._wanted(ctx):
            return result
        sent = current_arguments.get()
        reply = await self._ask(ctx, "after", {"arguments": sent or {}, "result": result})
        if reply is None:
            return result
        rewritten = reply.get("result")
        if not isinstance(rewritten, dict) or not isinstance(rewritten.get("content"), list):
            return self._failed(
                "replied rewrite without a `result` object that has a `content` list", result
            )
        return rewritten

    async def aclose(self) -> None:
        """Close the HTTP client this hook created (a shared one is left to its owner)."""
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _wanted(self, ctx: CallContext) -> bool:
        key = (ctx.server, ctx.tool, ctx.original_tool)
        wanted = self._applies.get(key)
        if wanted is None:
            wanted = (self._servers is None or bool(self._servers.match(ctx.server))) and (
                self._tools is None
                or bool(self._tools.match(ctx.tool) or self._tools.match(ctx.original_tool))
            )
            if len(self._applies) < 4096:
                self._applies[key] = wanted
        return wanted

    async def _ask(
        self, ctx: CallContext, phase: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The hook's rewrite reply, or None to go on unchanged; raises CallBlocked."""
        document = orjson.dumps(
            {
                "version": 1,
                "phase": phase,
                "profile": ctx.profile,
                "server": ctx.server,
                "tool": ctx.tool,
                "original_tool": ctx.original_tool,
                **payload,
            }
        )
        try:
            raw = await (self._run(document) if self.config.command else self._post(document))
            reply = _parse_reply(raw)
        except HookFailed as exc:
            self._failed(str(exc), None)
            return None
        action = reply["action"]
        if action == "allow":
            return None
        if action == "block":
            reason = reply.get("reason")
            text = reason.strip()[:_REASON_LIMIT] if isinstance(reason, str) else ""
            raise CallBlocked(
                f"hook `{self.config.name}` blocked the call to `{ctx.tool}`"
                + (f": {text}" if text else ""),
                rule=f"hook:{self.config.name}",
            )
        return reply

    def _failed(self, why: str, unchanged: _T) -> _T:
        """Apply ``on_error``: raise CallBlocked, or log and return ``unchanged``."""
        if self.config.on_error == "block":
            raise CallBlocked(
                f"hook `{self.config.name}` {why}; the call was blocked (on_error: block)",
                rule=f"hook:{self.config.name}",
            )
        log.warning("hook %r %s; the call goes on (on_error: allow)", self.config.name, why)
        return unchanged

    async def _run(self, document: bytes) -> bytes:
        assert self.config.command is not None  # noqa: S101 - checked by the caller
        argv = self.config.command
        try:
            process = await anyio.open_process(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
            )
        except OSError as exc:
            raise HookFailed(f"could not be started ({argv[0]}: {exc.strerror})") from None
        out = bytearray()
        err = bytearray()
        try:
            with anyio.move_on_after(self.config.timeout) as scope:
                async with anyio.create_task_group() as tg:
                    assert process.stdin is not None  # noqa: S101 - PIPE was asked for
                    assert process.stdout is not None  # noqa: S101
                    assert process.stderr is not None  # noqa: S101
                    tg.start_soon(_feed, process.stdin, document)
                    tg.start_soon(_drain, process.stdout, out, MAX_REPLY_BYTES)
                    tg.start_soon(_drain, process.stderr, err, 4096)
                code = await process.wait()
            if scope.cancelled_caught:
                raise HookFailed(f"did not answer within {self.config.timeout:g} s")
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await process.aclose()
        if len(out) > MAX_REPLY_BYTES:
            raise HookFailed(f"replied more than {MAX_REPLY_BYTES} bytes")
        if code != 0:
            # stderr is the hook's own diagnostics; it may quote arguments, so it goes to
            # the debug log only, never into the reason the client sees.
            log.debug("hook %r stderr: %s", self.config.name, err.decode("utf-8", "replace"))
            raise HookFailed(f"exited with status {code}")
        return bytes(out)

    async def _post(self, document: bytes) -> bytes:
        assert self.config.url is not None  # noqa: S101 - checked by the caller
        if self._client is None:
            # trust_env=False: a hook on 127.0.0.1 must not be sent through a proxy.
            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        try:
            response = await self._client.post(
                self.config.url,
                content=document,
                headers={"Content-Type": "application/json"},
                timeout=self.config.timeout,
            )
        except httpx.TimeoutException:
            raise HookFailed(f"did not answer within {self.config.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise HookFailed(f"could not be reached ({type(exc).__name__})") from None
        if not response.is_success:
            raise HookFailed(f"answered HTTP {response.status_code}")
        if len(response.content) > MAX_REPLY_BYTES:
            raise HookFailed(f"replied more than {MAX_REPLY_BYTES} bytes")
        return response.content


def _parse_reply(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {"action": "allow"}
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HookFailed("replied with something that is not JSON") from None
    if not isinstance(reply, dict):
        raise HookFailed("replied with JSON that is not an object")
    action = reply.get("action")
    if action not in ("allow", "block", "rewrite"):
        raise HookFailed("replied with an unknown action (want allow, block or rewrite)")
    return reply


async def _feed(stream: ByteSendStream, document: bytes) -> None:
    # A hook may exit without reading its input (it decided from argv or the clock).
    try:
        await stream.send(document)
        await stream.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        return


async def _drain(stream: ByteReceiveStream, into: bytearray, limit: int) -> None:
    async for chunk in stream:
        if len(into) <= limit:
            into += chunk


def _globs(patterns: list[str] | None) -> re.Pattern[str] | None:
    if patterns is None:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
