#!/usr/bin/env python3
"""Probe runtime figures: load time (cold compile vs compile cache), per-call overhead,
and the time from dropping a file into the probe directory to its first metric.

    .venv/bin/python bench/probes.py [--reps 5] [--no-python]

(a) load: gomon_probe_load_seconds of every built-in probe (precompiled at build time and
    loaded from the binary on every start) and of the 18 MB Python example probe, on a
    first start with an empty state dir (cold: the Python probe is compiled) and on a
    second start with the same state dir (compile cache), --reps times.
(b) call: mean duration of one call (gomon_probe_call_duration_seconds _sum/_count,
    per ~1 s window, median over windows; the first call, which instantiates, is left
    out) of a near-trivial probe (the `gomon probe new` template: needs `system`, one
    gauge) and an empty one (needs nothing, returns nothing), beside the built-ins,
    against the size of the snapshot part each is handed.
(c) drop-to-metric: gomon --interval 30s; copy the trivial probe into the probe
    directory (atomic rename) and poll /metrics every 20 ms until its family appears;
    then delete it and poll until it is gone. The first drop compiles, later ones hit
    the compile cache. Drops are made away from the 30 s sample boundaries.

Targets: cached load <= 5 ms, empty call <= 5 us, drop-to-metric <= 2 s.

A benchmark, not a test: it prints tables and exits 0. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests" / "e2e"))

from e2e_helpers import (  # noqa: E402
    BUILTIN_PROBES,
    GomonProcess,
    Scrape,
    api_probes,
    avoid_interval_boundary,
    cargo_bin,
    example_probe_wasm,
    install_probe,
    rss_bytes,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]

EMPTY_PROBE_SRC = """\
//! A probe that needs nothing and returns nothing: the fixed cost of one call.
use gomon_probe::{Capability, MetricFamily, Probe, ProbeInfo, Snapshot};

#[derive(Default)]
struct BenchEmpty;

impl Probe for BenchEmpty {
    fn info() -> ProbeInfo {
        ProbeInfo::new("bench-empty", env!("CARGO_PKG_VERSION"), "Returns nothing.", Vec::<Capability>::new())
    }

    fn measure(&mut self, _now: &Snapshot) -> Result<Vec<MetricFamily>, String> {
        Ok(Vec::new())
    }
}

gomon_probe::export_probe!(BenchEmpty);
"""


def median(values):
    return statistics.median(values) if values else float("nan")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- building the bench probes


def build_bench_probes(gomon: Path, build_dir: Path) -> dict[str, Path]:
    """`gomon probe new bench-trivial` (the template as is) and `bench-empty` (template
    with its lib.rs replaced), built with cargo into one target dir. Re-used when present."""
    build_dir.mkdir(parents=True, exist_ok=True)
    target = build_dir / "target"
    out = {}
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO_BUILD_TARGET", "RUSTFLAGS")}
    env["CARGO_TARGET_DIR"] = str(target)
    for name in ("bench-trivial", "bench-empty"):
        crate = build_dir / name
        if not crate.exists():
            subprocess.run([str(gomon), "probe", "new", name, "--dir", str(build_dir)], check=True,
                           capture_output=True)
            if name == "bench-empty":
                (crate / "src" / "lib.rs").write_text(EMPTY_PROBE_SRC)
        wasm = target / "wasm32-wasip2" / "release" / f"{name.replace('-', '_')}.wasm"
        if not wasm.is_file():
            log(f"building {name} (cargo build --release in {crate}; ~30-60 s the first time)")
            subprocess.run([cargo_bin(), "build", "--release", "--quiet"], cwd=crate, env=env, check=True)
        out[name] = wasm
    return out


# ---------------------------------------------------------------------------- (a) load


def wait_loaded(g: GomonProcess, names: list[str], timeout: float) -> list[dict]:
    def loaded():
        entries = api_probes(g)
        return entries if all(n in {e["name"] for e in entries} for n in names) else None

    return wait_until(loaded, timeout, f"probes {names} loaded", interval=0.2, describe=g.describe)


def builtin_names(entries: list[dict]) -> list[str]:
    return [e["name"] for e in entries if e["source"] == "built-in"]


def bench_load(tmp: Path, reps: int, python: bool) -> tuple[dict, Path]:
    """Every built-in probe (and python-load) on cold and cached starts."""
    extra = ["python-load"] if python else []
    probe_dir = tmp / "load-probes"
    probe_dir.mkdir()
    if python:
        install_probe(example_probe_wasm("python-load"), probe_dir, "python-load.wasm")
    results = {"cold": defaultdict(list), "cached": defaultdict(list)}
    serve = {"cold": [], "cached": []}
    rss = {"cold": [], "cached": []}
    names: list[str] = []
    last_state = tmp
    for rep in range(reps):
        state = tmp / f"load-state{rep}"
        for phase in ("cold", "cached"):
            start = time.monotonic()
            g = GomonProcess(tmp / f"load{rep}-{phase}", ["--probe-dir", str(probe_dir)], state_dir=state,
                             interval="30s", start_timeout=60)
            serve[phase].append(time.monotonic() - start)
            try:
                entries = wait_loaded(g, [*BUILTIN_PROBES, *extra], 600)
                names = names or builtin_names(entries) + extra
                scrape = g.scrape()
                for e in entries:
                    if e["name"] not in names:
                        continue
                    # Built-ins come precompiled from the binary on every start.
                    if e["cached"] != (phase == "cached" or e["source"] == "built-in"):
                        log(f"warning: {e['name']} cached={e['cached']} on the {phase} start")
                    results[phase][e["name"]].append(scrape.value("gomon_probe_load_seconds", probe=e["name"]))
                rss[phase].append(rss_bytes(g.pid))
            finally:
                g.stop()
        log(f"load rep {rep + 1}/{reps} done")
        last_state = state
    return {"results": results, "serve": serve, "rss": rss, "names": names}, last_state


def print_load(data: dict, reps: int) -> None:
    print()
    print(f"## (a) load time: gomon_probe_load_seconds, median of {reps} starts (cold = empty state dir;"
          " the built-ins come precompiled from the binary on both)")
    print()
    print(f"| {'probe':<12} | {'cold (ms)':>10} | {'cached (ms)':>11} | {'cold/cached':>11} | {'cached min..max (ms)':>21} |")
    print(f"|{'-' * 14}|{'-' * 12}|{'-' * 13}|{'-' * 13}|{'-' * 23}|")
    for name in data["names"]:
        cold = data["results"]["cold"][name]
        cached = data["results"]["cached"][name]
        mc, mw = median(cold) * 1e3, median(cached) * 1e3
        spread = f"{min(cached) * 1e3:.2f}..{max(cached) * 1e3:.2f}" if cached else "-"
        print(f"| {name:<12} | {mc:>10.2f} | {mw:>11.2f} | {mc / mw if mw else float('nan'):>11.1f} | {spread:>21} |")
    print()
    for phase in ("cold", "cached"):
        print(f"- {phase}: start to first /metrics answer (built-ins loaded, certificate "
              f"{'generated' if phase == 'cold' else 're-used'}): median {median(data['serve'][phase]) * 1e3:.0f} ms; "
              f"RSS once every probe is loaded: median {median(data['rss'][phase]) / 2**20:.1f} MiB")
    cached_builtin = [median(data["results"]["cached"][n]) for n in data["names"] if n != "python-load"]
    worst = max(cached_builtin) * 1e3
    print(f"- target: cached load <= 5 ms per built-in: worst median {worst:.2f} ms -> "
          f"{'met' if worst <= 5 else 'NOT met'}")


# ---------------------------------------------------------------------------- (b) per call


def snapshot_sizes(gomon: Path) -> dict[str, int]:
    """Bytes of compact JSON of the snapshot restricted to each part (what a probe that
    needs only that part is handed), and of the whole snapshot."""
    sizes = {}
    for label, args in (("(nothing)", ["--grants", "observations"]), ("system", ["--grants", "system"]),
                        ("filesystems", ["--grants", "filesystems"]), ("disks", ["--grants", "disks"]),
                        ("network", ["--grants", "network"]), ("processes", ["--grants", "processes"]),
                        ("connections", ["--grants", "connections"]), ("all", [])):
        out = subprocess.run([str(gomon), "snapshot", *args], capture_output=True, text=True, check=True).stdout
        sizes[label] = len(json.dumps(json.loads(out), separators=(",", ":")))
    return sizes


def bench_calls(tmp: Path, state: Path, probes: dict[str, Path], seconds: float, python: bool) -> dict:
    probe_dir = tmp / "call-probes"
    for name, wasm in probes.items():
        install_probe(wasm, probe_dir, f"{name}.wasm")
    extra = [*probes] + (["python-load"] if python else [])
    if python:
        install_probe(example_probe_wasm("python-load"), probe_dir, "python-load.wasm")
    g = GomonProcess(tmp / "calls", ["--probe-dir", str(probe_dir)], state_dir=state, interval="100ms")
    try:
        entries = wait_loaded(g, [*BUILTIN_PROBES, *extra], 600)
        # Skip the first calls (the first one instantiates the component).
        wait_until(lambda: all((g.scrape().get("gomon_probe_calls_total", probe=n) or 0) >= 3 for n in extra),
                   30, "three calls of every bench probe", describe=g.describe)
        # Built-ins called once per cycle (a graph probe is called on demand only).
        first = g.scrape()
        names = [n for n in builtin_names(entries)
                 if (first.get("gomon_probe_calls_total", probe=n) or 0) >= 3] + extra
        windows = {n: [] for n in names}
        prev = g.scrape()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(1.0)  # one measurement window (~10 calls at --interval 100ms)
            cur = g.scrape()
            for n in names:
                ds = cur.value("gomon_probe_call_duration_seconds_sum", probe=n) - prev.value(
                    "gomon_probe_call_duration_seconds_sum", probe=n)
                dc = cur.value("gomon_probe_call_duration_seconds_count", probe=n) - prev.value(
                    "gomon_probe_call_duration_seconds_count", probe=n)
                if dc > 0:
                    windows[n].append(ds / dc)
            prev = cur
        needs = {e["name"]: e["needs"] for e in api_probes(g)}
        series = {n: prev.value("gomon_probe_series", probe=n) for n in names}
        calls = {n: prev.value("gomon_probe_call_duration_seconds_count", probe=n) for n in names}
    finally:
        g.stop()
    return {"windows": windows, "needs": needs, "series": series, "calls": calls, "names": names}


def print_calls(data: dict, sizes: dict[str, int], seconds: float) -> None:
    print()
    print(f"## (b) per-call cost: gomon_probe_call_duration_seconds, --interval 100ms for {seconds:.0f} s; "
          "median over ~1 s windows of sum/count")
    print()
    print("A call's duration is measured by the host around the component call: handing over (lowering)")
    print("the snapshot parts the probe needs, the guest's work, and lifting the families it returns.")
    print()
    print(f"| {'probe':<14} | {'needs':<22} | {'part JSON (KiB)':>15} | {'series':>6} | {'call median (us)':>16} | "
          f"{'min..max window (us)':>21} | {'calls':>6} |")
    print(f"|{'-' * 16}|{'-' * 24}|{'-' * 17}|{'-' * 8}|{'-' * 18}|{'-' * 23}|{'-' * 8}|")
    for n in data["names"]:
        w = data["windows"][n]
        needs = data["needs"].get(n, [])
        part = sum(sizes.get(p, 0) - sizes["(nothing)"] for p in needs) + sizes["(nothing)"]
        spread = f"{min(w) * 1e6:.1f}..{max(w) * 1e6:.1f}" if w else "-"
        print(f"| {n:<14} | {','.join(needs) or '(nothing)':<22} | {part / 1024:>15.1f} | {data['series'][n]:>6.0f} | "
              f"{median(w) * 1e6:>16.1f} | {spread:>21} | {data['calls'][n]:>6.0f} |")
    print()
    print(f"- snapshot JSON (compact) by part: " + ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in sizes.items()))
    empty = median(data["windows"].get("bench-empty", [])) * 1e6
    trivial = median(data["windows"].get("bench-trivial", [])) * 1e6
    print(f"- empty call {empty:.1f} us (target <= 5 us: {'met' if empty <= 5 else 'NOT met'}); "
          f"near-trivial (system part, one gauge) {trivial:.1f} us")


# ---------------------------------------------------------------------------- (c) drop to metric


def bench_drop(tmp: Path, wasm: Path, family: str, drops: int) -> dict:
    probe_dir = tmp / "drop-probes"
    probe_dir.mkdir()
    # A fresh state dir: the first drop compiles, the later ones hit the cache.
    g = GomonProcess(tmp / "drop", ["--probe-dir", str(probe_dir)], interval="30s")
    appear, vanish = [], []
    try:
        wait_until(lambda: "Watching the probe directory" in g.stderr_text(), 10, "the directory watch",
                   describe=g.describe)
        for i in range(drops):
            avoid_interval_boundary(30.0, 3.5)
            t0 = time.monotonic()
            install_probe(wasm, probe_dir, "dropped.wasm")
            while family not in Scrape.parse(g.get(timeout=5).text).names():
                if time.monotonic() - t0 > 20:
                    raise RuntimeError(f"{family} did not appear within 20 s\n{g.describe()}")
                time.sleep(0.02)
            appear.append(time.monotonic() - t0)
            avoid_interval_boundary(30.0, 3.5)
            t0 = time.monotonic()
            (probe_dir / "dropped.wasm").unlink()
            while family in Scrape.parse(g.get(timeout=5).text).names():
                if time.monotonic() - t0 > 20:
                    raise RuntimeError(f"{family} did not disappear within 20 s\n{g.describe()}")
                time.sleep(0.02)
            vanish.append(time.monotonic() - t0)
            log(f"drop {i + 1}/{drops}: appeared after {appear[-1]:.3f} s, gone {vanish[-1]:.3f} s after removal")
    finally:
        g.stop()
    return {"appear": appear, "vanish": vanish}


def print_drop(data: dict, drops: int) -> None:
    a, v = data["appear"], data["vanish"]
    print()
    print(f"## (c) file drop to first metric on /metrics (--interval 30s, polled every 20 ms, {drops} drops)")
    print()
    print(f"| {'event':<40} | {'median (s)':>10} | {'min (s)':>8} | {'max (s)':>8} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 10}|{'-' * 10}|")
    print(f"| {'first drop (compiles)':<40} | {a[0]:>10.3f} | {a[0]:>8.3f} | {a[0]:>8.3f} |")
    if len(a) > 1:
        print(f"| {'later drops (compile cache)':<40} | {median(a[1:]):>10.3f} | {min(a[1:]):>8.3f} | {max(a[1:]):>8.3f} |")
    print(f"| {'removal to family gone':<40} | {median(v):>10.3f} | {min(v):>8.3f} | {max(v):>8.3f} |")
    print()
    print("The watcher polls every 500 ms and loads a file once it is unchanged across two polls, so")
    print("0.5-1.0 s of every figure is the stability wait, by design.")
    print(f"- target: drop-to-metric <= 2 s: median {median(a):.3f} s, worst {max(a):.3f} s -> "
          f"{'met' if max(a) <= 2 else 'NOT met'}")


# ---------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="cold/cached start pairs for (a) (default 5)")
    ap.add_argument("--no-python", action="store_true", help="leave the 18 MB Python probe out (fast)")
    ap.add_argument("--call-seconds", type=float, default=20, help="measurement time for (b) (default 20)")
    ap.add_argument("--drops", type=int, default=8, help="file drops for (c) (default 8)")
    ap.add_argument("--gomon", default=os.environ.get("GOMON_BIN", ROOT / "target/release/gomon"))
    ap.add_argument("--build-dir", type=Path, default=Path(tempfile.gettempdir()) / "gomon-bench-probes",
                    help="where the bench probes are generated and built (kept for re-runs)")
    args = ap.parse_args()
    os.environ["GOMON_BIN"] = str(args.gomon)
    gomon = Path(args.gomon)
    python = not args.no_python

    probes = build_bench_probes(gomon, args.build_dir)
    sizes = snapshot_sizes(gomon)
    print("# gomon probe runtime: load, call, reload")
    print()
    print(f"- machine: {os.cpu_count()} CPUs; gomon {subprocess.run([str(gomon), '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"- bench probes: {', '.join(f'{k} ({v.stat().st_size / 1024:.0f} KiB)' for k, v in probes.items())}"
          + (f"; python-load ({example_probe_wasm('python-load').stat().st_size / 2**20:.1f} MiB)" if python else ""))

    with tempfile.TemporaryDirectory(prefix="gomon-bench-probes-") as tmp:
        tmp = Path(tmp)
        load, state = bench_load(tmp, args.reps, python)
        print_load(load, args.reps)
        calls = bench_calls(tmp, state, probes, args.call_seconds, python)
        print_calls(calls, sizes, args.call_seconds)
        drop = bench_drop(tmp, probes["bench-trivial"], "bench_trivial_uptime_seconds", args.drops)
        print_drop(drop, args.drops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
