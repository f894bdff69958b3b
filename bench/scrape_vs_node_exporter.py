#!/usr/bin/env python3
"""Scrape cost of gomon against Debian's prometheus-node-exporter, side by side.

Starts the release gomon and prometheus-node-exporter on loopback, scrapes each
`/metrics` N times, interleaved, with one keep-alive `requests.Session` per target and
Prometheus' own request headers, and reports gomon / node_exporter ratios from the same
run: latency p50 and p99, CPU seconds per scrape, RSS, series count and body size. Also
gomon's RSS on a first start (empty state dir; the built-in probes come precompiled from the
binary) and on a second start with the same state dir, and the CPU of one sampling cycle, added to gomon's CPU per scrape for a like-for-like
comparison with node_exporter (which collects on every scrape).

Run from the repository root after `./run-tests` (or `cargo build --release -p gomon`
and creating .venv):

    .venv/bin/python bench/scrape_vs_node_exporter.py [-n 500]

A benchmark, not a test: it prints a table and exits 0. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests" / "e2e"))

from e2e_helpers import (  # noqa: E402
    PROMETHEUS_ACCEPT,
    GomonProcess,
    Scrape,
    ServiceProcess,
    cpu_seconds,
    free_port,
    new_session,
    rss_bytes,
    wait_until,
)

SCRAPE_HEADERS = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def series_count(body: str) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith("#"))


class Target:
    def __init__(self, name: str, url: str, pid: int, session) -> None:
        self.name, self.url, self.pid, self.session = name, url, pid, session
        self.latencies: list[float] = []
        self.content_type = ""
        self.wire_bytes = 0

    def scrape(self) -> None:
        start = time.perf_counter()
        r = self.session.get(self.url, headers=SCRAPE_HEADERS, timeout=30, stream=True)
        raw = r.raw.read(decode_content=False)
        # Gunzip the whole body, as Prometheus does.
        body = gzip.decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw
        elapsed = time.perf_counter() - start
        if r.status_code != 200 or not body:
            raise RuntimeError(f"{self.name}: {self.url} -> {r.status_code}")
        self.latencies.append(elapsed)
        self.content_type = r.headers.get("Content-Type", "") + (
            " (gzip)" if r.headers.get("Content-Encoding") == "gzip" else "")
        self.wire_bytes = len(raw)

    def text_body(self) -> str:
        r = self.session.get(self.url, headers={"Accept": "text/plain"}, timeout=30)
        r.raise_for_status()
        return r.text


def run_pass(label: str, gomon: GomonProcess, node: Target, n: int, warmup: int,
             cycle_cpu: float | None = None) -> dict:
    g = Target("gomon", gomon.url(), gomon.pid, gomon.session)
    node.latencies = []
    for _ in range(warmup):
        g.scrape()
        node.scrape()
    g.latencies = []
    node.latencies = []

    samples0 = Scrape.parse(g.text_body()).series("gomon_samples_total")
    cpu0 = {t.name: cpu_seconds(t.pid) for t in (g, node)}
    wall0 = time.monotonic()
    for i in range(n):
        # Alternate who goes first, so neither always runs on a just-woken CPU.
        order = (g, node) if i % 2 == 0 else (node, g)
        for t in order:
            t.scrape()
    wall = time.monotonic() - wall0
    cpu = {t.name: (cpu_seconds(t.pid) - cpu0[t.name]) / n for t in (g, node)}
    g_text = Scrape.parse(g.text_body())
    samples1 = g_text.series("gomon_samples_total")
    cycles = sum(v for _, v in samples1) - sum(v for _, v in samples0)
    cycle_seconds = g_text.get("gomon_sample_duration_seconds")

    rows = []

    def row(metric: str, gv: float, nv: float, fmt: str) -> None:
        ratio = gv / nv if nv else float("nan")
        rows.append((metric, fmt.format(gv), fmt.format(nv), f"{ratio:.2f}"))

    row("latency p50 (ms)", percentile(g.latencies, 50) * 1e3, percentile(node.latencies, 50) * 1e3, "{:.3f}")
    row("latency p99 (ms)", percentile(g.latencies, 99) * 1e3, percentile(node.latencies, 99) * 1e3, "{:.3f}")
    row("latency mean (ms)", statistics.fmean(g.latencies) * 1e3, statistics.fmean(node.latencies) * 1e3, "{:.3f}")
    row("CPU per scrape (ms)", cpu["gomon"] * 1e3, cpu["node"] * 1e3, "{:.3f}")
    if cycle_cpu is not None:
        # node_exporter collects on every scrape; gomon's scrape serves a cached sample, so
        # add one whole sampling cycle to compare like with like.
        row("CPU per scrape + 1 cycle (ms)", (cpu["gomon"] + cycle_cpu) * 1e3, cpu["node"] * 1e3, "{:.3f}")
        row("1 cycle vs 1 node_exporter scrape (ms)", cycle_cpu * 1e3, cpu["node"] * 1e3, "{:.3f}")
    row("RSS after run (MiB)", rss_bytes(g.pid) / 2**20, rss_bytes(node.pid) / 2**20, "{:.1f}")
    row("peak RSS (MiB)", vm_hwm(g.pid) / 2**20, vm_hwm(node.pid) / 2**20, "{:.1f}")
    node_text = node.text_body()
    row("series (non-comment lines)", series_count(g_text.body), series_count(node_text), "{:.0f}")
    row("text body (KiB)", len(g_text.body.encode()) / 1024, len(node_text.encode()) / 1024, "{:.1f}")
    row("wire body (KiB)", g.wire_bytes / 1024, node.wire_bytes / 1024, "{:.1f}")
    return {
        "label": label,
        "rows": rows,
        "wall": wall,
        "cycles": cycles,
        "cycle_seconds": cycle_seconds,
        "content_types": (g.content_type, node.content_type),
    }


def print_pass(result: dict, n: int) -> None:
    print()
    print(f"## {result['label']}  (N={n} scrapes each, interleaved, {result['wall']:.1f}s wall)")
    print()
    print(f"| {'metric':<29} | {'gomon':>12} | {'node_exporter':>13} | {'gomon/node':>10} |")
    print(f"|{'-' * 31}|{'-' * 14}|{'-' * 15}|{'-' * 12}|")
    for metric, gv, nv, ratio in result["rows"]:
        print(f"| {metric:<29} | {gv:>12} | {nv:>13} | {ratio:>10} |")
    print()
    print(f"served as: gomon {result['content_types'][0]!r}; node_exporter {result['content_types'][1]!r}")
    cs = result["cycle_seconds"]
    print(
        f"gomon ran {result['cycles']:.0f} sampling cycle(s) during the pass"
        + (f"; its last cycle took {cs * 1e3:.3f} ms (gomon_sample_duration_seconds)" if cs is not None else "")
    )


def settle_rss(gomon: GomonProcess, scrapes: int) -> tuple[int, int]:
    """RSS and peak RSS of gomon after `scrapes` scrapes."""
    for _ in range(scrapes):
        r = gomon.get("/metrics", headers=SCRAPE_HEADERS, timeout=30)
        r.raise_for_status()
    return rss_bytes(gomon.pid), vm_hwm(gomon.pid)


def measure_rss_cold_and_warm(tmp: Path, state: Path, interval: str, scrapes: int) -> dict:
    """gomon's RSS on a first start (empty state dir: the built-in probes are compiled)
    and on a second start with the same state dir (the compile cache is warm: the
    steady state of an installed gomon). Leaves `state` with a warm cache."""
    out = {}
    for phase in ("cold", "warm"):
        g = GomonProcess(tmp / f"rss-{phase}", state_dir=state, interval=interval)
        try:
            origins = [line for line in g.stderr_text().splitlines() if "Probe loaded." in line]
            out[phase] = (*settle_rss(g, scrapes), origins)
        finally:
            g.stop()
    return out


def samples_total(g: GomonProcess) -> float:
    s = Scrape.parse(g.get("/metrics", headers={"Accept": "text/plain"}, timeout=30).text)
    return sum(v for _, v in s.series("gomon_samples_total"))


def measure_cycle_cpu(tmp: Path, state: Path, seconds: float) -> dict:
    """CPU seconds of one sampling cycle: gomon at --interval 100ms with no scrapes for
    `seconds`, its CPU time divided by the cycles it ran (gomon_samples_total). Also the
    same at --interval 1h (no cycles) for gomon's idle background, subtracted per cycle."""
    result = {}
    for label, interval in (("idle", "1h"), ("100ms", "100ms")):
        g = GomonProcess(tmp / f"cycle-{label}", state_dir=state, interval=interval)
        try:
            # Start-up (the probe directory is read on a background thread) is over first.
            wait_until(lambda: "Watching the probe directory" in g.stderr_text(), 30,
                       "gomon to watch its probe directory", describe=g.describe)
            n0 = samples_total(g)
            c0, t0 = cpu_seconds(g.pid), time.monotonic()
            time.sleep(seconds)
            c1, t1 = cpu_seconds(g.pid), time.monotonic()
            n1 = samples_total(g)
        finally:
            g.stop()
        result[label] = {"cpu": c1 - c0, "wall": t1 - t0, "cycles": n1 - n0}
    idle_rate = result["idle"]["cpu"] / result["idle"]["wall"]
    busy = result["100ms"]
    cycles = max(busy["cycles"], 1)
    result["per_cycle_raw"] = busy["cpu"] / cycles
    result["per_cycle"] = max(busy["cpu"] - idle_rate * busy["wall"], 0.0) / cycles
    result["idle_rate"] = idle_rate
    return result


def print_rss(rss: dict) -> None:
    print()
    print("## gomon RSS: first start vs a start with a warm compile cache")
    print()
    print(f"| {'start':<44} | {'RSS (MiB)':>9} | {'peak RSS (MiB)':>14} |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 16}|")
    names = {"cold": "first start (empty state dir)", "warm": "second start (same state dir)"}
    for phase in ("cold", "warm"):
        rss_b, hwm, origins = rss[phase]
        print(f"| {names[phase]:<44} | {rss_b / 2**20:>9.1f} | {hwm / 2**20:>14.1f} |")
    print()
    def count(phase: str, origin: str) -> int:
        return sum(f'origin="{origin}"' in line for line in rss[phase][2])

    print("built-in probes loaded from the binary (precompiled at build time) / compiled at start: "
          f"first start {count('cold', 'embedded')} / {count('cold', 'compiled')}, "
          f"second start {count('warm', 'embedded')} / {count('warm', 'compiled')}; "
          "both passes below run with the second start's state dir.")


def print_cycle(cycle: dict, seconds: float) -> None:
    busy, idle = cycle["100ms"], cycle["idle"]
    print()
    print("## gomon CPU per sampling cycle (no scrapes)")
    print()
    print(f"- --interval 100ms for {busy['wall']:.1f} s: {busy['cpu'] * 1e3:.0f} ms CPU over {busy['cycles']:.0f} cycles "
          f"= {cycle['per_cycle_raw'] * 1e3:.3f} ms per cycle")
    print(f"- idle background (--interval 1h for {idle['wall']:.1f} s, {idle['cycles']:.0f} cycles: epoch ticker, "
          f"probe-directory watch): {cycle['idle_rate'] * 1e3:.3f} ms CPU per second")
    print(f"- one sampling cycle, idle background subtracted: {cycle['per_cycle'] * 1e3:.3f} ms "
          "(added to gomon's CPU per scrape in the row 'CPU per scrape + 1 cycle')")


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=500, help="scrapes per target per pass (default 500)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured scrapes first (default 20)")
    ap.add_argument("--gomon", default=os.environ.get("GOMON_BIN", root / "target/release/gomon"))
    ap.add_argument("--node-exporter", default="/usr/bin/prometheus-node-exporter")
    ap.add_argument("--interval", default="15s", help="gomon --interval (default 15s, its default)")
    ap.add_argument("--cycle-seconds", type=float, default=20,
                    help="how long to run gomon at --interval 100ms (and idle) to measure one cycle's CPU "
                         "(default 20; CPU time is read in 10 ms clock ticks)")
    ap.add_argument("--extra-processes", type=int, default=0,
                    help="idle `sleep` processes to start first and hold through every measurement (default 0)")
    args = ap.parse_args()
    os.environ["GOMON_BIN"] = str(args.gomon)
    sleepers = spawn_sleepers(args.extra_processes)
    try:
        return measure(args)
    finally:
        for proc in sleepers:
            proc.kill()
        for proc in sleepers:
            proc.wait()


def spawn_sleepers(n: int) -> list[subprocess.Popen]:
    """`n` idle children (`sleep 3600`), each killed with this bench (SIGKILL on its death)."""
    if n:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft < n + 1000:
            resource.setrlimit(resource.RLIMIT_NPROC, (min(n + 1000, hard) if hard != resource.RLIM_INFINITY else n + 1000, hard))
    procs = []
    for _ in range(n):
        procs.append(subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      preexec_fn=die_with_parent))
    if n:
        print(f"- {n} extra idle processes (sleep 3600) held through the run")
    return procs


def die_with_parent() -> None:
    import ctypes
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def measure(args) -> int:

    print("# gomon vs prometheus-node-exporter: /metrics scrape cost on loopback")
    print()
    print("- gomon samples on its interval and every scrape serves the cached sample (re-sampling")
    print("  only when the sample is older than 1.5 intervals); node_exporter reads /proc and /sys")
    print("  on every scrape. So 'CPU per scrape' for gomon is encoding + TLS + the background")
    print("  cycles that fell inside the run, spread over N; for node_exporter it is a full collection.")
    print("- gomon has no mode that samples on every scrape; the CPU of one sampling cycle is")
    print("  measured separately (--interval 100ms, no scrapes) and added to gomon's CPU per scrape")
    print("  in the row 'CPU per scrape + 1 cycle', the like-for-like figure against node_exporter.")
    print("- RSS is reported for a first start (empty state dir) and a second start with the same")
    print("  state dir; the built-ins come precompiled from the binary in both. The passes run with")
    print("  the second start's state dir, as an installed gomon does.")
    print("- Both get Prometheus' Accept and Accept-Encoding: gzip headers; gomon over HTTPS")
    print("  (one TLS handshake, then keep-alive) in pass 1, plain HTTP in pass 2; node_exporter")
    print("  always plain HTTP with Debian's default collectors (it exposes far more series).")

    with tempfile.TemporaryDirectory(prefix="gomon-bench-") as tmp:
        tmp = Path(tmp)
        node_port = free_port()
        node_service = ServiceProcess(
            "node_exporter", [args.node_exporter, f"--web.listen-address=127.0.0.1:{node_port}"], tmp
        )
        try:
            node_url = f"http://127.0.0.1:{node_port}/metrics"
            node_service.wait_http(node_url, timeout=30)
            node = Target("node", node_url, node_service.proc.pid, new_session())
            state = tmp / "state"
            rss = measure_rss_cold_and_warm(tmp, state, args.interval, args.warmup)
            print_rss(rss)
            cycle = measure_cycle_cpu(tmp, state, args.cycle_seconds)
            print_cycle(cycle, args.cycle_seconds)
            for label, extra in (("pass 1: gomon over HTTPS", {}), ("pass 2: gomon --plain-http", {"plain_http": True})):
                gomon = GomonProcess(tmp / label.split(":")[0].replace(" ", ""), interval=args.interval,
                                     state_dir=state, **extra)
                try:
                    result = run_pass(label, gomon, node, args.n, args.warmup, cycle["per_cycle"])
                finally:
                    gomon.stop()
                print_pass(result, args.n)
        finally:
            node_service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
