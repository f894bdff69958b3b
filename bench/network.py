#!/usr/bin/env python3
"""Scrapes under siege, and /gomon under 50 viewers, as ratios to a quiet baseline
measured in the same run (issue 12).

1. Scrape latency: N scrapes of /metrics (a new TLS connection each, from 127.0.0.1) on
   a quiet gomon, then the same N while 600 idle connections and 100 slow readers
   (pipelined requests, never read) are held from other loopback addresses
   (host/tests/e2e/hostile_clients.py). Reports p50 and p99 of each and the siege/quiet
   ratio (target: p99 <= 2x), failed scrapes, gomon's RSS quiet and under siege, and the
   kernel's TCP memory (/proc/net/sockstat, pages).
2. /gomon: the page's latency for one viewer, then p50 across 50 concurrent viewers,
   and their ratio; `dot` runs per distinct picture.

Run from the repository root after `cargo build --release -p gomon`:

    .venv/bin/python bench/network.py [-n 60] [--seconds 10]

A benchmark, not a test: it prints a table and exits 0.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests" / "e2e"))

from e2e_helpers import GomonProcess, new_session, require_tool, rss_bytes  # noqa: E402
from hostile_clients import Siege  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def tcp_mem_pages() -> int:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1])
    return 0


def scrapes(g: GomonProcess, n: int) -> tuple[list[float], int, int]:
    """Latencies (s) of n scrapes, one a second at most... as fast as they come, each on a
    new connection; failures; peak RSS."""
    times, failed, peak = [], 0, 0
    for _ in range(n):
        with new_session(g.cert) as s:
            t0 = time.perf_counter()
            try:
                r = s.get(g.url("/metrics"), timeout=30)
                ok = r.status_code == 200
            except Exception:  # noqa: BLE001
                ok = False
            if ok:
                times.append(time.perf_counter() - t0)
            else:
                failed += 1
        peak = max(peak, rss_bytes(g.pid))
        time.sleep(0.1)
    return times, failed, peak


def page_times(g: GomonProcess, viewers: int, seconds: float) -> list[float]:
    until = time.monotonic() + seconds

    def one(_):
        out = []
        with new_session(g.cert) as s:
            s.headers["Authorization"] = f"Bearer {g.token}"
            while time.monotonic() < until:
                t0 = time.perf_counter()
                r = s.get(g.url("/gomon"), timeout=60)
                if r.status_code == 200:
                    out.append(time.perf_counter() - t0)
        return out

    with concurrent.futures.ThreadPoolExecutor(max_workers=viewers) as pool:
        return [t for ts in pool.map(one, range(viewers)) for t in ts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=60, help="scrapes per pass")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per /gomon pass")
    args = parser.parse_args()
    require_tool("dot")
    work = Path(tempfile.mkdtemp(prefix="gomon-bench-network-"))
    counter = work / "dot-runs"
    counter.touch()
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "dot").write_text(f'#!/bin/sh\necho x >> "{counter}"\nexec "{require_tool("dot")}" "$@"\n')
    (bindir / "dot").chmod(0o755)
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    g = GomonProcess(work / "gomon", interval="15s")
    try:
        scrapes(g, 5)  # warm
        quiet, quiet_failed, quiet_rss = scrapes(g, args.n)
        mem_quiet = tcp_mem_pages()
        siege = Siege(g.port, g.cert, idle=600, slow=100).start()
        try:
            held = siege.held()
            attacked, attacked_failed, attacked_rss = scrapes(g, args.n)
            mem_siege = tcp_mem_pages()
            held_after = siege.held()
        finally:
            siege.stop()

        one = page_times(g, 1, args.seconds)
        runs0 = len(counter.read_text().splitlines())
        many = page_times(g, 50, args.seconds)
        runs = len(counter.read_text().splitlines()) - runs0
    finally:
        g.stop()

    def row(name, a, b, unit=""):
        ratio = b / a if a else float("nan")
        print(f"{name:<34} {a:>12.4g}{unit:<3} {b:>12.4g}{unit:<3} {ratio:>8.2f}x")

    print(f"{'':<34} {'quiet':>15} {'under siege':>15} {'ratio':>9}")
    row("scrape p50 (ms)", percentile(quiet, 50) * 1e3, percentile(attacked, 50) * 1e3)
    row("scrape p99 (ms)", percentile(quiet, 99) * 1e3, percentile(attacked, 99) * 1e3)
    print(f"{'failed scrapes':<34} {quiet_failed:>12}    {attacked_failed:>12}")
    row("gomon peak RSS (MiB)", quiet_rss / 2**20, attacked_rss / 2**20)
    row("kernel TCP memory (pages)", mem_quiet, mem_siege)
    print(f"siege held (idle, slow): at start {held}, at end {held_after}; opened {siege.opened}, failed {siege.failed}")
    print()
    print(f"{'':<34} {'1 viewer':>15} {'50 viewers':>15} {'ratio':>9}")
    row("/gomon p50 (ms)", percentile(one, 50) * 1e3, percentile(many, 50) * 1e3)
    print(f"/gomon requests by 50 viewers: {len(many)}; dot runs meanwhile: {runs}")


if __name__ == "__main__":
    main()
