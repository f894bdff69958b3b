#!/usr/bin/env python3
"""Grafana plugin mode figures, measured from a Grafana-like client
(host/tests/e2e/plugin_harness.py):

    .venv/bin/python bench/plugin.py [--spawns 20] [--idle 1000] [--queries 50]

(a) handshake: time from spawn (Popen) to the complete handshake line on stdout,
    over --spawns starts (the collector starts behind it, so this is what Grafana
    waits for). Target: p50 <= 300 ms.
(b) QueryData nodegraph with --idle extra idle processes: half of them in pairs
    joined by a pipe (an edge each), half alone; the plugin samples every 5 s. The
    latency of a whole QueryData round trip (gRPC, graph probe call on the latest
    snapshot, Arrow encoding, pyarrow decoding), --queries times, overview and focused
    on one of the idle processes. Target: overview p50 <= 50 ms.
(c) frame bytes: Arrow IPC bytes of the nodes frame per node and of the edges frame
    per edge, for the overview of (b).

A benchmark, not a test: it prints a table and exits 0. See bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests" / "e2e"))

from e2e_helpers import wait_until  # noqa: E402
from plugin_harness import PluginProcess, decode_frame, stubs  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def handshakes(work: Path, spawns: int) -> list[float]:
    times = []
    for i in range(spawns):
        p = PluginProcess(work / "handshake", connect=False)  # one state dir: a warm probe cache
        try:
            assert p.handshake.endswith("|grpc\n"), p.handshake
            times.append(p.handshake_seconds * 1000)
        finally:
            p.stop()
    return times


def idle_processes(count: int) -> list[subprocess.Popen]:
    procs = []
    for _ in range(count // 4):
        writer = subprocess.Popen(["sleep", "3600"], stdout=subprocess.PIPE)
        reader = subprocess.Popen(["sleep", "3600"], stdin=writer.stdout)
        writer.stdout.close()
        procs += [writer, reader]
    while len(procs) < count:
        procs.append(subprocess.Popen(["sleep", "3600"]))
    return procs


def timed_queries(plugin: PluginProcess, body: dict, n: int) -> tuple[list[float], list]:
    times, frames = [], []
    for _ in range(n):
        started = time.perf_counter()
        response = plugin.query(plugin.data_query("A", "nodegraph", body))
        answer = response.responses["A"]
        assert not answer.error, answer.error
        frames = [decode_frame(f) for f in answer.frames]
        times.append((time.perf_counter() - started) * 1000)
    return times, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=20)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    stubs()
    work = Path(tempfile.mkdtemp(prefix="gomon-bench-plugin-"))

    hs = handshakes(work, args.spawns)
    rows = [("handshake after spawn", f"p50 {percentile(hs, 50):.1f} ms, min {min(hs):.1f}, "
                                      f"p90 {percentile(hs, 90):.1f}, max {max(hs):.1f} (n={len(hs)})")]

    idle = idle_processes(args.idle)
    plugin = PluginProcess(work / "query", interval="5s")
    try:
        pb = stubs().pb

        def ready():
            r = plugin.check_health()
            return r.status == pb.CheckHealthResponse.OK

        wait_until(ready, 120, "the collector", interval=0.5)
        focus = idle[-1].pid

        def sampled():
            _, frames = timed_queries(plugin, {"pid": focus}, 1)
            return str(focus) in frames[0].field("id").values

        wait_until(sampled, 60, "a sample holding the idle processes", interval=0.5)
        timed_queries(plugin, {}, 3)  # warm-up
        overview, frames = timed_queries(plugin, {}, args.queries)
        nodes, edges = frames
        focused, _ = timed_queries(plugin, {"pid": focus}, args.queries)
        rows += [
            (f"nodegraph overview, {args.idle} idle processes",
             f"p50 {percentile(overview, 50):.1f} ms, p90 {percentile(overview, 90):.1f}, "
             f"max {max(overview):.1f} ({nodes.rows} nodes, {edges.rows} edges)"),
            ("nodegraph focused on one pid",
             f"p50 {percentile(focused, 50):.1f} ms, p90 {percentile(focused, 90):.1f}"),
            ("nodes frame bytes per node", f"{nodes.size / max(nodes.rows, 1):.0f} B ({nodes.size} B total)"),
            ("edges frame bytes per edge", f"{edges.size / max(edges.rows, 1):.0f} B ({edges.size} B total)"),
        ]
    finally:
        plugin.stop()
        for p in idle:
            p.kill()
        for p in idle:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"(median of {args.queries} overview queries: {statistics.median(overview):.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
