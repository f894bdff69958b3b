"""Purpose-built hostile probes (probes/hostile/*) prove the host survives each:
an endless loop, endless allocation, a panic, a million series, and a component built
against another contract version."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from e2e_helpers import BUILTIN_PROBES, GomonProcess, Scrape, hostile_probe_wasm, rss_bytes

# key -> (probe name, error kinds that count as the right one)
HOSTILE = {
    "spin": ("hostile-spin", {"timeout"}),
    "hog": ("hostile-hog", {"memory"}),
    "panic": ("hostile-panic", {"trap"}),
    "flood": ("hostile-flood", {"contract", "memory"}),
}
# A generous per-call deadline for the probes that must fail some other way: on a busy
# 2-core machine, building (flood) or growing to (hog) the limit can take longer than the
# default 500 ms, and the failure is then rightly counted as a timeout instead.
SLOW_MACHINE_TIMEOUT = "2s"
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
    scrapes: int = 0
    cycles: float = 0
    max_rss: int = 0
    max_series: int = 0
    # probe -> kind -> list of observed values, in order
    errors: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    missing_builtin: list[tuple[int, list[str]]] = field(default_factory=list)


def config_args(tmp_path: Path, call_timeout: str = SLOW_MACHINE_TIMEOUT) -> list[str]:
    """--config with a longer per-call deadline."""
    path = tmp_path / "gomon.toml"
    path.write_text(f'[probes]\ncall_timeout = "{call_timeout}"\n')
    return ["--config", str(path)]


def probe_dir_with(tmp_path: Path, keys: list[str]) -> Path:
    d = tmp_path / "probes"
    d.mkdir()
    for key in keys:
        src = hostile_probe_wasm(key)
        shutil.copy(src, d / f"{key}.wasm")
    return d


def observe(g: GomonProcess, expected: dict[str, set[str]]) -> Run:
    """Scrape repeatedly over at least MIN_CYCLES sample cycles and until every probe in
    `expected` shows an error of an expected kind (or the deadline passes)."""
    run = Run(g)
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
        for probe in expected:
            for labels, value in scrape.series("gomon_probe_errors_total", probe=probe):
                run.errors.setdefault(probe, {}).setdefault(labels.get("kind", "?"), []).append(value)
        done = run.cycles >= MIN_CYCLES and all(
            any(increased(run.errors.get(p, {}).get(k, [])) for k in kinds)
            for p, kinds in expected.items()
        )
        if done or time.monotonic() - start > DEADLINE:
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
        f"only {run.cycles} sample cycles (gomon_probe_calls_total{{probe=\"system\"}}) in "
        f"{DEADLINE}s\n{g.describe()}")
    # After the first complete sample, every scrape carries every built-in family.
    late_missing = [m for m in run.missing_builtin if m[0] > 2]
    assert not late_missing, f"built-in families missing from scrapes: {late_missing}"
    assert run.max_rss < RSS_LIMIT, f"gomon RSS reached {run.max_rss / 2**20:.0f} MiB"
    assert run.max_series < MAX_SERIES, f"{run.max_series} series on /metrics"
    for probe, kinds in expected.items():
        seen = run.errors.get(probe, {})
        assert any(increased(seen.get(k, [])) for k in kinds), (
            f"gomon_probe_errors_total{{probe=\"{probe}\",kind=~\"{'|'.join(sorted(kinds))}\"}} "
            f"did not increase to >= 2 while watched; seen {summary(seen)}\n{g.describe()}")
        for kind, values in seen.items():
            assert values == sorted(values), f"{probe}/{kind} counter went down: {values}"
        assert probe in g.stderr_text(), f"no log line names {probe}\n{g.describe()}"
    # The built-in probes kept working beside the hostile ones.
    final = g.scrape()
    for probe in BUILTIN_PROBES:
        assert final.value("gomon_probe_up", probe=probe) == 1, f"built-in probe {probe} not up"


def check_wrong_version_refused(g: GomonProcess) -> None:
    log = g.stderr_text()
    lines = [line for line in log.splitlines() if "0.1.0" in line and "0.2.0" in line]
    assert lines, f"no stderr line names both contract versions 0.1.0 and 0.2.0\n{g.describe()}"
    up = g.scrape().series("gomon_probe_up")
    loaded = [labels for labels, v in up if "wrong" in labels.get("probe", "") and v == 1]
    assert not loaded, f"the wrong-version probe is reported up: {loaded}"


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_host_survives_hostile_probe(key, tmp_path, gomon_factory):
    probe, kinds = HOSTILE[key]
    # The spin run is about the default deadline itself.
    extra = [] if key == "spin" else config_args(tmp_path)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, [key])), *extra)
    expected = {probe: kinds}
    check_run(observe(g, expected), expected)


def test_wrong_contract_version_is_refused(tmp_path, gomon_factory):
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["wrong-version"])))
    run = observe(g, {})
    check_run(run, {})
    check_wrong_version_refused(g)


def test_host_survives_all_hostile_probes_at_once(tmp_path, gomon_factory):
    # 1 s: long enough for flood and hog to fail their own way, short enough for spin.
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, [*sorted(HOSTILE), "wrong-version"])),
                      *config_args(tmp_path, "1s"))
    expected = {probe: kinds for probe, kinds in HOSTILE.values()}
    check_run(observe(g, expected), expected)
    check_wrong_version_refused(g)
