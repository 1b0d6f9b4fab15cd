"""Run the gateway benchmark: ``python bench/run.py [scenario ...] [options]``.

Scenarios: latency, throughput, lists, coldstart, rss, reference (default: all of these),
docker-coldstart, docker-latency (the docker runtime; run only when named, or with
``docker`` for both; ``--engine podman`` runs them on podman), and remote-latency (a
remote server on HTTP, direct and through the gateway; run only when named), and trust
(signing and verification against a local registry; run only when named). Results are printed as
tables and merged into ``bench/results.json`` (a scenario run alone replaces only its own
entry). See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import remote
from procs import BENCH_DIR, setup_home
from scenarios import SCENARIOS, Config

import containers
import trust

RESULTS = BENCH_DIR / "results.json"


def _default_time_server() -> str | None:
    candidate = Path(tempfile.gettempdir()) / "mcpkit-bench-time" / "bin" / "mcp-server-time"
    return str(candidate) if candidate.exists() else None


def machine() -> dict[str, Any]:
    """Where and when the numbers were taken."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(
        ["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(BENCH_DIR), "status", "--porcelain", "--", ":(top)src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, check=False)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (+ uncommitted changes in src/)" if dirty else ""),
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "backend_python": subprocess.run(
            ["/usr/bin/python3", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "bwrap": bwrap.stdout.strip(),
    }


def fmt(value: Any) -> str:
    """A table cell."""
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def tables(title: str, rows: dict[str, Any]) -> str:
    """One table of the nested rows and one of the flat rows (when a scenario has both)."""
    nested = {k: v for k, v in rows.items() if v and all(isinstance(x, dict) for x in v.values())}
    flat = {k: v for k, v in rows.items() if k not in nested}
    if not nested or not flat:
        return table(title, rows)
    return table(title, nested) + "\n\n" + table(f"{title} (other figures)", flat)


def table(title: str, rows: dict[str, Any]) -> str:
    """Rows (name -> flat dict, or name -> {sub -> flat dict}) as a Markdown table."""
    flat: dict[str, dict[str, Any]] = {}
    for name, row in rows.items():
        if row and all(isinstance(v, dict) for v in row.values()):
            for sub, data in row.items():
                flat[f"{name} @ c={sub}"] = data
        else:
            flat[name] = row
    columns: list[str] = []
    for row in flat.values():
        columns.extend(k for k in row if k not in columns and not isinstance(row[k], list))
    lines = [f"### {title}", "", "| path | " + " | ".join(columns) + " |"]
    lines.append("|---" * (len(columns) + 1) + "|")
    for name, row in flat.items():
        lines.append(f"| {name} | " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Set up a home and run the chosen scenarios."""
    import importlib.util

    loop_name = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    with tempfile.TemporaryDirectory(prefix="mcpkit-bench-") as tmp:
        home = Path(args.home or tmp)
        env = setup_home(home)
        cfg = Config(
            env=env,
            home=home,
            sandbox=args.sandbox,
            calls=args.calls,
            throughput_calls=args.throughput_calls,
            list_calls=args.list_calls,
            cold_runs=args.cold_runs,
            time_server=args.time_server,
            repeat=args.repeat,
        )
        results: dict[str, Any] = {"client_loop": loop_name}
        chosen = {
            **SCENARIOS,
            **containers.scenarios(args.engine),
            **remote.scenarios(),
            **trust.scenarios(),
        }
        for name in args.scenarios:
            print(f"running {name}…", file=sys.stderr, flush=True)
            # Docker scenarios on podman are kept beside the docker ones, not over them.
            key = f"{name} ({args.engine})" if name in containers.NAMES else name
            load = os.getloadavg()[0]
            results[key] = await chosen[name](cfg)
            # Other work on the machine skews every number: keep what the load was.
            results.setdefault("load_average_1min", {})[key] = [load, os.getloadavg()[0]]
            print(tables(key, results[key]), flush=True)
            print(flush=True)
        return results


def main() -> None:
    """Parse arguments, run, print, and merge into results.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    known = [*SCENARIOS, *containers.NAMES, *remote.NAMES, *trust.NAMES]
    parser.add_argument(
        "scenarios",
        nargs="*",
        help=f"any of {', '.join(known)}, or docker for both docker-* "
        f"(default: {', '.join(SCENARIOS)})",
    )
    parser.add_argument("--sandbox", choices=["bwrap", "none"], default="bwrap")
    parser.add_argument("--calls", type=int, default=3000, help="calls per latency path")
    parser.add_argument("--throughput-calls", type=int, default=5000)
    parser.add_argument("--list-calls", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats per path")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument(
        "--time-server",
        default=shutil.which("mcp-server-time") or _default_time_server(),
        help="mcp-server-time executable for the reference scenario",
    )
    parser.add_argument(
        "--engine",
        choices=sorted(containers.ENGINES),
        default="docker",
        help="container engine of the docker-* scenarios (podman: its Docker-compatible API)",
    )
    parser.add_argument("--home", help="MCPKIT_HOME to use (default: a fresh temp folder)")
    parser.add_argument("--no-save", action="store_true", help="do not write results.json")
    args = parser.parse_args()
    args.scenarios = args.scenarios or list(SCENARIOS)
    args.scenarios = [
        n for name in args.scenarios for n in (containers.NAMES if name == "docker" else [name])
    ]
    unknown = [name for name in args.scenarios if name not in known]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(known)}")
    if any(name in containers.NAMES for name in args.scenarios):
        problem = containers.check_engine(args.engine)
        if problem:
            parser.error(f"the docker scenarios need {args.engine}: {problem}")
    try:
        import uvloop

        results = uvloop.run(main_async(args))
    except ImportError:
        results = asyncio.run(main_async(args))
    if args.no_save:
        return
    saved: dict[str, Any] = {}
    if RESULTS.exists():
        saved = orjson.loads(RESULTS.read_bytes())
    # Per-scenario maps are merged, so running one scenario keeps the others' entries.
    loads = {**saved.get("load_average_1min", {}), **results.pop("load_average_1min", {})}
    saved.update(results)
    saved["load_average_1min"] = loads
    saved["machine"] = machine()
    taken = saved.setdefault("taken", {})
    for key in results:
        if key != "client_loop":
            taken[key] = {k: saved["machine"][k] for k in ("date", "commit")}
    RESULTS.write_bytes(orjson.dumps(saved, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
