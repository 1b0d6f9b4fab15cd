"""Supply-chain scenario: what signing and verification cost against a real registry.

``trust``: against Debian's ``docker-registry`` (distribution 2.8) started on a free
127.0.0.1 port for the run: one artifact pushed and signed, with a provenance and an SBOM
statement attached; then, each with a fresh client (a new connection, as a gateway start
has), the medians of

- ``resolve`` — one manifest HEAD: the least any registry check costs (the baseline);
- ``verify signature`` — what ``gateway run --verify-signatures`` does for an image under the
  default rule (resolve, find the ``.sig`` manifest, fetch the payload, check the ECDSA
  signature and the payload's digest and identity);
- ``verify + provenance + sbom`` — a rule requiring both attestations;
- ``sign`` — ``mcpkit trust sign`` (resolve, read the old ``.sig``, push the new one);
- ``profile push`` / ``profile pull`` (a small profile, signature checked on pull).

The gateway verifies each image once per run (verdicts are cached), before the server's
own start, which takes ~1 s for a container; so the figure that matters is the verify row
against that second.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from scenarios import Config

NAMES = ("trust",)
RUNS = 30


@contextlib.contextmanager
def registry() -> Iterator[str]:
    """A docker-registry on a free loopback port; stopped by PID at the end."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    with tempfile.TemporaryDirectory(prefix="mcpkit-bench-registry-") as tmp:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = Path(tmp) / "config.yml"
        config.write_text(
            "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
            f"storage: {{filesystem: {{rootdirectory: {tmp}/data}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: 127.0.0.1:{port}}}\n"
        )
        proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def timed(fn: Callable[[], Any], runs: int = RUNS) -> dict[str, float]:
    """Median and p90 wall time of ``fn`` in milliseconds."""
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        values.append((time.perf_counter() - start) * 1000)
    values.sort()
    return {
        "p50_ms": statistics.median(values),
        "p90_ms": values[int(len(values) * 0.9) - 1],
        "runs": runs,
    }


async def trust_costs(cfg: Config) -> dict[str, Any]:
    """The table described in the module docstring."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from mcpkit.app import App
    from mcpkit.images.records import Artifact, BuildRecord
    from mcpkit.oci.client import Layer, RegistryClient
    from mcpkit.oci.reference import Reference
    from mcpkit.profiles.share import pull, push
    from mcpkit.trust.dsse import sign_statement
    from mcpkit.trust.keys import SigningKey
    from mcpkit.trust.registry import attest, sign, verify
    from mcpkit.trust.statements import (
        PROVENANCE_PREDICATE,
        SBOM_PREDICATE,
        provenance_statement,
        sbom_statement,
    )

    key = SigningKey(ec.generate_private_key(ec.SECP256R1()), origin="bench")
    environ = {"HOME": str(cfg.home)}
    rows: dict[str, Any] = {}
    with registry() as host:
        client = RegistryClient(environ=environ)
        ref = Reference.parse(f"{host}/bench/thing:1")
        client.push_artifact(
            ref,
            artifact_type="application/vnd.example.thing.v1+json",
            layers=[Layer(b'{"thing": 1}', "application/json")],
        )
        subject = sign(client, ref, key).subject
        digest = subject.digest or ""
        record = BuildRecord(
            server="bench",
            image=str(ref),
            image_id=digest,
            kind="pypi",
            package="mcp-server-time",
            version="2025.9.25",
            artifacts=[Artifact(name="mcp_server_time-2025.9.25-py3-none-any.whl", sha256=digest)],
            base="mcpkit-test/base:bookworm",
            base_id=digest,
            inputs="bench",
            engine="unix:///var/run/docker.sock",
        )
        statement = provenance_statement(ref.name, digest, record, started="x", finished="x")
        attest(client, subject, sign_statement(key, statement), PROVENANCE_PREDICATE, key.public)
        sbom = sbom_statement(ref.name, digest, record)
        attest(client, subject, sign_statement(key, sbom), SBOM_PREDICATE, key.public)

        def fresh() -> RegistryClient:
            return RegistryClient(environ=environ)

        rows["resolve (baseline)"] = timed(lambda: fresh().resolve(subject))
        rows["verify signature"] = timed(lambda: verify(fresh(), subject, [key.public]))
        rows["verify + provenance + sbom"] = timed(
            lambda: verify(fresh(), subject, [key.public], provenance=True, sbom=True)
        )
        rows["sign"] = timed(lambda: sign(fresh(), ref, key), runs=10)

        app = App({**cfg.env, "HOME": str(cfg.home)})
        try:
            if not app.profiles.exists("bench-share"):
                app.profiles.create("bench-share")
            target = Reference.parse(f"{host}/bench/profile:1")
            rows["profile push (signed)"] = timed(
                lambda: push(app, "bench-share", target, fresh(), key=key), runs=10
            )
            rows["profile pull (verified)"] = timed(
                lambda: pull(
                    app,
                    target,
                    fresh(),
                    keys=[key.public],
                    mode="enforce",
                    name="bench-pulled",
                    replace=True,
                ),
                runs=10,
            )
        finally:
            app.close()
    base = rows["resolve (baseline)"]["p50_ms"]
    for row in rows.values():
        row["p50_over_resolve_ms"] = row["p50_ms"] - base
    return rows


def scenarios() -> dict[str, Callable[[Config], Awaitable[dict[str, Any]]]]:
    """The supply-chain scenarios."""
    return {"trust": trust_costs}
