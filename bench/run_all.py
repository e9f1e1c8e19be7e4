"""Run every benchmark and write BENCHMARKS.md (`python -m bench.run_all`).

Each figure is reported with the baseline measured in the same run, on the same machine
and input, as a ratio or a rate — never as an absolute target checked by a test:

- normalize: FDR and PAN-OS normalize throughput vs the unavoidable floor (one core);
- es: the Elasticsearch sink vs raw pre-built `_bulk` bodies, on a real node started here;
- memory: peak RSS of the FDR source on a large object vs the bare interpreter and a plain
  gunzip loop (SeaweedFS + moto started here);
- syslog: panos-syslog TCP receive rate vs a bare socket reader.

Every benchmark runs in its own child process so one's memory or CPU affinity does not
leak into another. `--quick` shrinks inputs (for a smoke run); the report says which.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _child(code: str, timeout: float = 3600) -> dict[str, Any]:
    """Run python code in a child; its last stdout line is the JSON result."""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=timeout, check=False
    )
    if out.returncode != 0:
        return {"error": out.stderr.decode(errors="replace")[-1500:]}
    return dict(json.loads(out.stdout.decode().strip().splitlines()[-1]))


def bench_normalize(events: int) -> dict[str, Any]:
    return _child(
        "import json; from shippers.bench_normalize import run_normalize_bench; "
        f"print(json.dumps(run_normalize_bench(events={events}, repeat=3)))"
    )


def bench_es(events: int) -> dict[str, Any]:
    from tests.services import elasticsearch

    node = elasticsearch.start(heap="1g", normal_write_pool=True)
    try:
        return _child(
            "import json, types; from shippers.bench_es import run_es_bench; "
            f"a = types.SimpleNamespace(es={node.url!r}, events={events}, repeat=3, "
            "batch_docs=5000, max_in_flight=2); print(json.dumps(run_es_bench(a)))"
        )
    finally:
        node.destroy()


def bench_memory(size_mb: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.fdr_memory", "--size-mb", str(size_mb)],
        cwd=ROOT, capture_output=True, timeout=7200, check=False,
    )  # fmt: skip
    text = out.stdout.decode()
    result: dict[str, Any] = {"size_mb": size_mb, "exit": out.returncode, "lines": []}
    for line in text.splitlines():
        # rows look like "source    peak RSS    88.1 MB  lines  1120368  177.0s"
        mode, sep, rest = line.partition(" peak RSS ")
        if sep and mode.strip() in ("baseline", "gunzip", "source"):
            result[mode.strip()] = float(rest.split()[0])
        result["lines"].append(line)
    if out.returncode not in (0, 1):
        result["error"] = out.stderr.decode(errors="replace")[-1500:]
    return result


def bench_syslog(lines: int) -> dict[str, Any]:
    return _child(
        "import json; from shippers.bench_syslog import run_syslog_bench; "
        f"print(json.dumps(run_syslog_bench(lines={lines})))"
    )


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def render(results: dict[str, Any], command: str, quick: bool) -> str:
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated {results['when']} by `{command}`"
        + (" (quick: reduced inputs, a smoke run — not the reference figures)." if quick else "."),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}, "
        f"Python {m['python']}; load average before the run {m['load_before']}.",
        "",
        "Every figure is paired with a baseline measured in the same run on the same input.",
        "",
        "## Normalize throughput vs floor (one core)",
        "",
        "Floor — FDR: gunzip + line split + orjson.loads + orjson.dumps; PAN-OS: header regex "
        "+ quote-aware split + orjson.dumps.",
        "",
        "| family | events/s | floor events/s | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    norm = results.get("normalize", {})
    families = (
        ("falcon_fdr", "falcon_fdr", "Falcon FDR"),
        ("falcon_fdr_python", "falcon_fdr", "Falcon FDR, pure-Python mapping (fallback)"),
        ("panos", "panos", "PAN-OS"),
    )
    for key, target_key, label in families:
        r = norm.get(key)
        if r:
            if key == "falcon_fdr":
                built = r.get("native")
                label += " (compiled mapping)" if built else " (compiled mapping NOT built)"
            target = norm.get("targets", {}).get(target_key, "")
            met = "yes" if target and r["ratio"] >= target else "no"
            lines.append(
                f"| {label} | {r['events_per_s']:,} | {r['floor_events_per_s']:,} | "
                f"{r['ratio']} | >= {target} | {met} |"
            )
    if "error" in norm:
        lines.append(f"\nnormalize failed: `{norm['error'][-300:]}`")
    es = results.get("es", {})
    lines += ["", "## Elasticsearch sink vs raw `_bulk`", ""]
    if "ratio" in es:
        lines += [
            "| documents | sink docs/s | raw _bulk docs/s | ratio | target | met |",
            "|---|---|---|---|---|---|",
            f"| {es['documents']:,} | {es['sink_docs_per_s']:,} | {es['raw_bulk_docs_per_s']:,} "
            f"| {es['ratio']} | >= {es['target_ratio']} | "
            f"{'yes' if es['ratio'] >= es['target_ratio'] else 'no'} |",
        ]
    else:
        lines.append(f"not measured: `{str(es.get('error', 'skipped'))[-300:]}`")
    mem = results.get("memory", {})
    lines += ["", f"## FDR source peak RSS ({mem.get('size_mb', '?')} MiB uncompressed object)", ""]
    if "source" in mem:
        lines += [
            "| run | peak RSS MB |",
            "|---|---|",
            f"| bare interpreter + imports (baseline) | {mem.get('baseline', '?')} |",
            f"| plain gunzip loop (baseline) | {mem.get('gunzip', '?')} |",
            f"| source → pipeline → normalizer → null sink | {mem['source']} |",
            "",
            "Target: <= 256 MB. Output:",
            "",
            "```",
            *mem["lines"],
            "```",
        ]
    else:
        lines.append(f"not measured: `{str(mem.get('error', 'skipped'))[-300:]}`")
    sl = results.get("syslog", {})
    lines += ["", "## PAN-OS syslog receive rate (TCP, 127.0.0.1)", ""]
    if "source_lines_per_s" in sl:
        lines += [
            "| lines | senders | source lines/s | bare socket lines/s | ratio |",
            "|---|---|---|---|---|",
            f"| {sl['lines']:,} | {sl['senders']} | {sl['source_lines_per_s']:,} | "
            f"{sl['baseline_lines_per_s']:,} | {sl['source_vs_baseline']} |",
        ]
    else:
        lines.append(f"not measured: `{str(sl.get('error', 'skipped'))[-300:]}`")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small inputs: a smoke run")
    ap.add_argument("--only", default="normalize,es,memory,syslog", help="comma list")
    ap.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument(
        "--render", metavar="JSON", help="only re-render a saved result (the last output line)"
    )
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        Path(args.output).write_text(render(saved, saved.pop("command"), saved.pop("quick")))
        return 0
    only = set(args.only.split(","))
    q = args.quick
    results: dict[str, Any] = {
        "machine": machine(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    steps = {
        "normalize": lambda: bench_normalize(20_000 if q else 200_000),
        "es": lambda: bench_es(20_000 if q else 200_000),
        "memory": lambda: bench_memory(64 if q else 1024),
        "syslog": lambda: bench_syslog(20_000 if q else 200_000),
    }
    for name, step in steps.items():
        if name not in only:
            continue
        t0 = time.monotonic()
        try:
            results[name] = step()
        except Exception as e:  # one failed benchmark must not hide the others
            results[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"{name}: {time.monotonic() - t0:.0f}s {json.dumps(results[name])[:300]}", flush=True)
    command = "python -m bench.run_all" + (" --quick" if q else "")
    Path(args.output).write_text(render(results, command, q))
    print(json.dumps({**results, "command": command, "quick": q}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
