"""``mcpkit registry test``: lint, build, start, initialize, list, call; then clean up.

:func:`test_submission` runs one submission through these checks, each timed, and
returns a :class:`~mcpkit.registry.report.Report` with the verdict:

1. ``lint``: the lint rules; any error finding rejects, and nothing else runs.
2. ``fetch`` (git sources) and ``build``, in a throwaway mcpkit home
   (:class:`~mcpkit.registry.harness_env.Workspace`): a package is fetched on the host
   and built with the network off, a git checkout is built from its Dockerfile, an image
   source must already be in the engine (never pulled), a remote has nothing to build.
3. ``start``: a hardened container with no network, with the test plan's example config
   and secrets (a remote: a guarded HTTP connection).
4. ``initialize``, 5. ``tools`` (every page; or the declared list, with ``test.tools:
   declared``), 6. ``call:<tool>`` for each smoke call, all within the plan's time limit,
   counted from the start (the build is not counted).
7. ``stdout``: anything but JSON-RPC on the server's stdout rejects.
8. ``cleanup``, whatever happened (a failure, a timeout, the caller's cancellation):
   the container, the ephemeral image and the home are removed. A cleanup failure is
   reported but does not change the verdict.

Failures of the submission become failed checks with a rule (``report.RULES``); the
tester's own problems (no engine, a missing base image) are raised as errors, after the
cleanup. Example secret values never appear in the report.
"""

# The public name test_submission is the fixed interface; it is no pytest test.
# ruff: noqa: PT028

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from mcpkit.app import App
from mcpkit.errors import UsageError
from mcpkit.registry.findings import has_errors
from mcpkit.registry.harness_run import Recorder
from mcpkit.registry.harness_steps import Steps
from mcpkit.registry.lint import lint_submission
from mcpkit.registry.report import Report
from mcpkit.registry.submission import Submission
from mcpkit.runtime.base import Progress
from mcpkit.runtime.engine import Engine


async def test_submission(
    app: App,
    sub: Submission,
    *,
    base: str | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the test plan's limit, not a call's
    offline: bool = False,
    progress: Progress | None = None,
    engine: Engine | None = None,
    allow_insecure_remote: bool = False,
    build_network: str = "none",
) -> Report:
    """Test ``sub`` as described in this module; the report holds the verdict.

    ``timeout`` overrides the plan's limit for start → initialize → tools → calls.
    ``allow_insecure_remote`` lets a remote submission use http:// or a private address
    (tests; a registry's own staging servers). ``build_network="host"`` lets a git
    source's Dockerfile download during its build (most real ones ``RUN pip/npm install``);
    the server itself always runs with no network. Raises RuntimeUnavailableError when no
    engine answers and NotFoundError when the base image is missing: those are the
    tester's to fix, not the submission's.
    """
    if build_network not in ("none", "host"):
        raise UsageError(
            f"the build network must be none or host, not {build_network!r}",
            hint="mcpkit registry test PATH --build-network host",
        )
    run = Recorder(sub, progress)
    started = time.monotonic()
    started_at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    with run.step("lint") as check:
        findings = await lint_submission(sub, environ=app.environ, offline=offline)
        errors = [f for f in findings if f.severity == "error"]
        warnings = len(findings) - len(errors)
        check.detail = f"{len(errors)} error(s), {warnings} warning(s)"
        if has_errors(findings):
            check.status = "fail"
    spec = sub.spec
    if check.status == "fail" or spec is None:
        run.skip_rest(sub, "not run: lint failed")
    else:
        limit = timeout if timeout is not None else sub.test.timeout
        own_engine = engine is None
        engine = engine or Engine.from_environ(app.environ)
        try:
            steps = Steps(app, sub, spec, run, engine, base=base, limit=limit)
            steps.allow_insecure_remote = allow_insecure_remote
            steps.build_network = build_network
            await steps.run()
        finally:
            if own_engine:
                await asyncio.to_thread(engine.close)
    return run.report(findings, started_at, time.monotonic() - started)


test_submission.__test__ = False  # type: ignore[attr-defined]  # pytest: not a test
