"""Shared by the hostile-probe suites (test_hostile*.py): a probe directory of hostile
components, a config file, and a watch over a running gomon that scrapes until every
hostile probe has failed the expected way while the built-ins keep serving fresh data.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from e2e_helpers import (
    BUILTIN_PROBES,
    PROMETHEUS_ACCEPT,
    GomonProcess,
    Scrape,
    hostile_probe_wasm,
    require_tool,
    rss_bytes,
)

RSS_LIMIT = 512 * 1024 * 1024
MIN_CYCLES = 4  # sample cycles (one per --interval 1s) each run must survive
DEADLINE = 30.0  # seconds for a run to show every expected error
MAX_SERIES = 50_000  # a flood must not end up on /metrics


def builtin_families() -> list[str]:
    names = [
        "gomon_memory_total_bytes",
        "gomon_cpu_seconds_total",
        "gomon_filesystem_size_bytes",
        "gomon_network_receive_bytes_total",
    ]
    if any(not re.match(r"(loop|ram|zram)\d+$", d.name) for d in Path("/sys/block").iterdir()):
        names.append("gomon_disk_reads_completed_total")
    return names


@dataclass
class Run:
    gomon: GomonProcess
    interval: float = 1.0  # the gomon's --interval, in seconds
    scrapes: int = 0
    cycles: float = 0
    max_rss: int = 0
    max_series: int = 0
    # Largest gomon_sample_age_seconds seen after the first cycles.
    max_sample_age: float = 0.0
    # probe -> kind -> list of observed values, in order
    errors: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    missing_builtin: list[tuple[int, list[str]]] = field(default_factory=list)


def write_config(path: Path, text: str) -> list[str]:
    """Writes a gomon TOML config; returns the --config arguments."""
    path.write_text(textwrap.dedent(text))
    return ["--config", str(path)]


def probe_dir_with(tmp_path: Path, keys: list[str], name: str = "probes") -> Path:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    for key in keys:
        shutil.copy(hostile_probe_wasm(key), d / f"{key}.wasm")
    return d


def observe(g: GomonProcess, expected: dict[str, set[str]], interval: float = 1.0,
            deadline: float = DEADLINE) -> Run:
    """Scrape repeatedly over at least MIN_CYCLES sample cycles and until every probe in
    `expected` shows an error of an expected kind (or `deadline` seconds pass). `interval`
    is the gomon's --interval."""
    run = Run(g, interval)
    families = builtin_families()
    calls0 = None
    start = time.monotonic()
    while True:
        assert g.alive(), f"gomon died\n{g.describe()}"
        run.max_rss = max(run.max_rss, rss_bytes(g.pid))
        resp = g.get("/metrics", timeout=10)
        assert resp.status_code == 200, f"/metrics -> {resp.status_code}\n{g.describe()}"
        scrape = Scrape.parse(resp.text)
        run.scrapes += 1
        run.max_series = max(run.max_series, len(scrape.samples))
        names = scrape.names()
        missing = [f for f in families if f not in names]
        if missing:
            run.missing_builtin.append((run.scrapes, missing))
        calls = scrape.get("gomon_probe_calls_total", probe="system")
        if calls is not None:
            calls0 = calls if calls0 is None else calls0
            run.cycles = calls - calls0
        age = scrape.get("gomon_sample_age_seconds")
        if age is not None and run.cycles >= 1:
            run.max_sample_age = max(run.max_sample_age, age)
        for probe in expected:
            for labels, value in scrape.series("gomon_probe_errors_total", probe=probe):
                run.errors.setdefault(probe, {}).setdefault(labels.get("kind", "?"), []).append(value)
        done = run.cycles >= MIN_CYCLES and all(
            any(increased(run.errors.get(p, {}).get(k, [])) for k in kinds)
            for p, kinds in expected.items()
        )
        if done or time.monotonic() - start > deadline:
            return run
        time.sleep(0.25)


def increased(values: list[float]) -> bool:
    """The counter failed again while we watched (so the instance was recycled and
    called anew after a failure), and it has counted at least two failures."""
    return len(values) >= 2 and values[-1] > values[0] and values[-1] >= 2


def summary(seen: dict[str, list[float]]) -> dict[str, str]:
    return {k: f"{v[0]:g} -> {v[-1]:g} over {len(v)} scrapes" for k, v in seen.items() if v}


def check_run(run: Run, expected: dict[str, set[str]]) -> None:
    g = run.gomon
    assert run.cycles >= MIN_CYCLES, (
        f"only {run.cycles} sample cycles (gomon_probe_calls_total{{probe=\"system\"}}) while watched"
        f"\n{g.describe()}")
    # After the first complete sample, every scrape carries every built-in family...
    late_missing = [m for m in run.missing_builtin if m[0] > 2]
    assert not late_missing, f"built-in families missing from scrapes: {late_missing}"
    # ...and what it carries is fresh: sampled within the last two intervals.
    assert run.max_sample_age < 2 * run.interval, (
        f"gomon_sample_age_seconds reached {run.max_sample_age:.2f} s (interval {run.interval} s)\n{g.describe()}")
    assert run.max_rss < RSS_LIMIT, f"gomon RSS reached {run.max_rss / 2**20:.0f} MiB"
    assert run.max_series < MAX_SERIES, f"{run.max_series} series on /metrics"
    for probe, kinds in expected.items():
        seen = run.errors.get(probe, {})
        assert any(increased(seen.get(k, [])) for k in kinds), (
            f"gomon_probe_errors_total{{probe=\"{probe}\",kind=~\"{'|'.join(sorted(kinds))}\"}} "
            f"did not increase to >= 2 while watched; seen {summary(seen)}\n{g.describe()}")
        for kind, values in seen.items():
            assert values == sorted(values), f"{probe}/{kind} counter went down: {values}"
        failures = [line for line in g.stderr_text().splitlines() if probe in line and "Probe call failed" in line]
        assert failures, f"no log line says a call of {probe} failed\n{g.describe()}"
    # The built-in probes kept working beside the hostile ones.
    final = g.scrape()
    for probe in BUILTIN_PROBES:
        assert final.value("gomon_probe_up", probe=probe) == 1, f"built-in probe {probe} not up"


def check_exposition_parses(g: GomonProcess) -> tuple[str, str]:
    """Both formats of /metrics pass the independent parsers: Python's text parser (via
    Scrape, which also refuses duplicate series) and `promtool check metrics` (a text
    format parser and linter) on the text format, Python's OpenMetrics parser on
    OpenMetrics. Returns (text, openmetrics) bodies."""
    text = g.get("/metrics").text
    Scrape.parse(text)
    r = g.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert r.status_code == 200
    om = r.text
    list(openmetrics_families(om))  # raises on any OpenMetrics violation
    promtool = require_tool("promtool")
    proc = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert proc.returncode == 0, (
        f"promtool check metrics exited {proc.returncode}:\n{proc.stdout.decode()}{proc.stderr.decode()}")
    return text, om


def type_lines(body: str) -> dict[str, list[str]]:
    """`# TYPE` lines by family name (more than one is a broken exposition)."""
    out: dict[str, list[str]] = {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out.setdefault(name, []).append(kind)
    return out
