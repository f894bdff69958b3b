"""The example probes (probes/examples) loaded together from the probe directory: their
families on /metrics, with values checked against gomon's own families from the same
scrape (one snapshot feeds every probe of a cycle) and, loosely, against /proc."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest

from e2e_helpers import (
    GomonProcess,
    Scrape,
    api_probe,
    example_probe_wasm,
    install_probe,
    proc_stat_cpu_count,
    wait_for_scrape,
    write_config,
)

WINDOWS = {"1m": 0, "5m": 1, "15m": 2}  # /proc/loadavg columns
PYTHON_LOAD_DEADLINE = 120.0  # the 18 MB Python component compiles once (~8-15 s on 2 cores)


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> GomonProcess:
    work = tmp_path_factory.mktemp("examples")
    probe_dir = work / "probes"
    for key in ("cpu-ratios", "threshold-alert", "python-load"):
        install_probe(example_probe_wasm(key), probe_dir, f"{key}.wasm")
    config = write_config(work / "gomon.toml", """
        [probe.threshold-alert]
        grants = ["system"]
        settings = { metric = "cpus", above = "0", name = "has-cpus" }
        """)
    g = GomonProcess(work / "gomon", ["--probe-dir", str(probe_dir), "--config", str(config)])
    try:
        wait_for_scrape(
            g, lambda s: all(s.get("gomon_probe_up", probe=p) == 1
                             for p in ("cpu-ratios", "threshold-alert", "python-load"))
            and s.get("gomon_system_cpu_utilisation_ratio") is not None,
            PYTHON_LOAD_DEADLINE, "the three example probes up (and cpu-ratios past its first call)",
            interval=0.25)
    except BaseException:
        g.stop()
        raise
    yield g
    g.stop_and_check()


def fresh(g: GomonProcess) -> Scrape:
    """A scrape in which every example probe served its families."""
    s, _ = wait_for_scrape(
        g, lambda s: s if (s.get("gomon_system_cpu_utilisation_ratio") is not None
                           and s.series("gomon_python_load_per_cpu")
                           and s.series("gomon_threshold_exceeded")) else None,
        10, "a scrape with every example family")
    return s


@pytest.mark.timeout(300)  # the module fixture compiles the Python probe
def test_all_three_loaded_ok(examples):
    for probe in ("cpu-ratios", "threshold-alert", "python-load"):
        entry = api_probe(examples, probe)
        assert entry and entry["state"] == "ok" and entry["errors"] == {k: 0 for k in entry["errors"]}, entry
    py = api_probe(examples, "python-load")
    # CPython's linear memory: ~12 MiB at rest, inside the default 64 MiB limit.
    assert 4 * 2**20 < py["memory_bytes"] <= 64 * 2**20, py
    s = examples.scrape()
    for probe, version in (("cpu-ratios", None), ("python-load", "0.1.0")):
        infos = s.series("gomon_probe_info", probe=probe)
        assert len(infos) == 1 and infos[0][0]["source"] == "file", infos
        if version:
            assert infos[0][0]["version"] == version, infos


def test_cpu_ratios(examples):
    s = fresh(examples)
    cpus = s.value("gomon_cpus")
    assert cpus == proc_stat_cpu_count()
    per_cpu = s.series("gomon_cpu_utilisation_ratio")
    assert sorted(int(labels["cpu"]) for labels, _ in per_cpu) == list(range(int(cpus))), per_cpu
    for labels, value in per_cpu:
        assert 0 <= value <= 1, (labels, value)
    assert 0 <= s.value("gomon_system_cpu_utilisation_ratio") <= 1
    total = s.value("gomon_memory_total_bytes")
    available = s.value("gomon_memory_available_bytes")
    assert math.isclose(s.value("gomon_memory_pressure_ratio"), 1 - available / total, rel_tol=1e-9, abs_tol=1e-12)
    assert 0 <= s.value("gomon_memory_pressure_ratio") <= 1
    swap_total = s.value("gomon_swap_total_bytes")
    swap_used = s.value("gomon_swap_used_bytes")
    expected = swap_used / swap_total if swap_total else 0.0
    assert math.isclose(s.value("gomon_swap_used_ratio"), expected, rel_tol=1e-9, abs_tol=1e-12)
    assert 0 <= s.value("gomon_swap_used_ratio") <= 1


def test_system_utilisation_tracks_busy_cpu(examples):
    """Keep one CPU busy: the aggregate utilisation must rise above an idle level."""
    cpus = int(fresh(examples).value("gomon_cpus"))
    calls0 = examples.scrape().value("gomon_probe_calls_total", probe="cpu-ratios")

    def busy_and_measured():
        deadline_spin = time.monotonic() + 0.3
        while time.monotonic() < deadline_spin:
            pass  # burn one CPU between scrapes
        s = examples.scrape()
        if s.value("gomon_probe_calls_total", probe="cpu-ratios") < calls0 + 2:
            return None  # wait for a call whose whole delta was spent busy
        return s.value("gomon_system_cpu_utilisation_ratio") >= 0.5 / cpus

    wait_for_scrape(examples, lambda _: busy_and_measured(), 15,
                    f"gomon_system_cpu_utilisation_ratio >= {0.5 / cpus:.2f} with one of {cpus} CPUs busy",
                    interval=0)


def test_threshold_alert(examples):
    s = fresh(examples)
    assert s.value("gomon_threshold_exceeded", alert="has-cpus", metric="cpus") == 1
    assert s.value("gomon_threshold_value", alert="has-cpus", metric="cpus") == s.value("gomon_cpus")
    assert len(s.series("gomon_threshold_exceeded")) == 1


def test_python_load_per_cpu(examples):
    s = fresh(examples)
    cpus = s.value("gomon_cpus")
    series = s.series("gomon_python_load_per_cpu")
    assert sorted(labels["window"] for labels, _ in series) == sorted(WINDOWS), series
    loadavg = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    nproc = os.cpu_count()
    for labels, value in series:
        window = labels["window"]
        # Exactly gomon's own load average over gomon's own CPU count, from the same snapshot.
        assert math.isclose(value, s.value("gomon_load_average", window=window) / cpus, rel_tol=1e-9), (
            window, value, s.value("gomon_load_average", window=window), cpus)
        # Loosely against the kernel, read a moment later (the averages move every 5 s, by at
        # most 8 % of the distance to the run-queue length).
        assert abs(value - loadavg[WINDOWS[window]] / nproc) <= 1.0 / nproc + 0.25, (window, value, loadavg, nproc)
