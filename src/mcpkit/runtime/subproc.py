"""Run an installer or fetcher (uv, pip, npm) as a child, bounded, and capture its output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence

from mcpkit.errors import InstallError

#: What an installer (uv, pip, npm) gets from the user's environment: config, proxies, CAs.
_PASS_EXACT = frozenset(
    {
        "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
        "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    }
)  # fmt: skip
_PASS_PREFIXES = ("PIP_", "UV_", "NPM_CONFIG_", "npm_config_")
#: Passed variables whose values cannot be credentials, so errors may show them.
_PLAIN = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR"})


def installer_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` an installer needs (never the whole environment)."""
    env = {k: v for k, v in environ.items() if k in _PASS_EXACT or k.startswith(_PASS_PREFIXES)}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    return env


def output_tail(text: str, env: Mapping[str, str], lines: int = 12) -> str:
    """The last lines of an installer's output, indented, with passed values (tokens in
    registry settings, proxy passwords) replaced by ``***``."""
    for key, value in env.items():
        if key not in _PLAIN and len(value) >= 4:
            text = text.replace(value, "***")
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"  {line}" for line in kept)


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
