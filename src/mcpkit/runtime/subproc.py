"""Run an installer or fetcher (uv, pip, npm) as a child, bounded, and capture its output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence

from mcpkit.errors import InstallError


async def run_captured(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    doing: str,
    timeout: float,  # noqa: ASYNC109 - a bound for the child, not the caller's deadline
    hint: str,
) -> tuple[int, bytes, bytes]:
    """Run ``argv`` in a session of its own; its status, stdout and stderr.

    ``doing`` completes "could not run X to …" ("install foo with uv"). On a timeout, or when
    the caller is cancelled, the child's whole process group is killed.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        raise InstallError(
            f"could not run {argv[0]} to {doing}: {exc.strerror}", hint=hint
        ) from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(proc.wait()), 5)
        if isinstance(exc, TimeoutError):
            raise InstallError(
                f"{argv[0]} did not finish within {timeout:.0f} s (trying to {doing})",
                hint="check the network ('mcpkit doctor'), then try again",
            ) from None
        raise
    return proc.returncode or 0, out, err
