"""Hot reload of the probe directory, observed end to end through /metrics.

gomon runs with `--interval 30s` and every change is made at least a few seconds away
from a 30 s wall-clock boundary (`avoid_interval_boundary`), so no scheduled sample can
fall inside the deadline: a family that appears (or disappears) within it can only come
from the reload itself and the sample the host takes at once after a change.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from e2e_helpers import (
    BUILTIN_PROBES,
    GomonProcess,
    Scrape,
    api_probe,
    api_probes,
    avoid_interval_boundary,
    example_probe_wasm,
    install_probe,
    log_lines,
    wait_for_log,
    wait_for_scrape,
    wait_until,
    with_custom_section,
)

INTERVAL = "30s"
INTERVAL_S = 30.0
# Most a change may take to show on /metrics: two 500 ms polls of the directory, the
# load (a small component compiles in well under 100 ms) and one sample, with slack
# for a busy 2-core CI machine.
DEADLINE = 3.0
# Margin before the next scheduled sample when a change is made.
QUIET = DEADLINE + 1.0

REJECTED = "Rejected a new version of a probe; the previous version keeps running: probe "


def start(gomon_factory, probe_dir: Path, *extra: str) -> GomonProcess:
    probe_dir.mkdir(exist_ok=True)
    g = gomon_factory("--probe-dir", str(probe_dir), *extra, interval=INTERVAL)
    # The directory is first read on a background thread; once it is watched, changes count.
    wait_for_log(g, "Watching the probe directory", 10)
    return g


def samples_of(s: Scrape, probe: str = "system") -> float:
    """How many times `probe` was called: one per sample cycle."""
    value = s.get("gomon_probe_calls_total", probe=probe)
    assert value is not None, f"no gomon_probe_calls_total{{probe=\"{probe}\"}} on /metrics"
    return value


def cpu_ratios_served(s: Scrape) -> bool:
    return (s.get("gomon_probe_up", probe="cpu-ratios") == 1
            and "gomon_memory_pressure_ratio" in s.names())


def info_versions(s: Scrape, probe: str) -> list[tuple[str, str]]:
    return sorted((labels.get("version", "?"), labels.get("source", "?"))
                  for labels, v in s.series("gomon_probe_info", probe=probe) if v == 1)


def test_add_reject_replace_remove(tmp_path, gomon_factory):
    probe_dir = tmp_path / "probes"
    g = start(gomon_factory, probe_dir)
    original = example_probe_wasm("cpu-ratios").read_bytes()
    target = probe_dir / "cpu-ratios.wasm"

    # --- add: loaded, then sampled at once (no scheduled sample can explain it)
    avoid_interval_boundary(INTERVAL_S, QUIET)
    before = g.scrape()
    assert not before.series("gomon_probe_up", probe="cpu-ratios"), "cpu-ratios is up before it was added"
    assert "gomon_memory_pressure_ratio" not in before.names()
    cycles0 = samples_of(before)
    install_probe(example_probe_wasm("cpu-ratios"), probe_dir, target.name)
    added, waited = wait_for_scrape(g, lambda s: s if cpu_ratios_served(s) else None, DEADLINE,
                                    "gomon_probe_up{probe=\"cpu-ratios\"} 1 and gomon_memory_pressure_ratio "
                                    f"within {DEADLINE}s of adding the file")
    assert samples_of(added) > cycles0, (
        "cpu-ratios' families appeared without a new sample cycle of the built-ins")
    assert added.value("gomon_samples_total", trigger="reload") > before.value(
        "gomon_samples_total", trigger="reload"), "the change ran a cycle counted as trigger=reload"
    assert 0 <= added.value("gomon_memory_pressure_ratio") <= 1
    versions = info_versions(added, "cpu-ratios")
    assert len(versions) == 1 and versions[0][1] == "file", f"gomon_probe_info of cpu-ratios: {versions}"
    load_seconds = added.value("gomon_probe_load_seconds", probe="cpu-ratios")
    entry = api_probe(g, "cpu-ratios")
    assert entry and entry["source"] == str(target) and entry["state"] == "ok", entry
    print(f"add -> served in {waited:.2f}s")

    # --- replace with garbage, written in place: rejected, the old version keeps running
    avoid_interval_boundary(INTERVAL_S, QUIET)
    with open(target, "wb") as f:
        f.write(b"this is not a WebAssembly component\n" * 100)
    line = wait_for_log(g, REJECTED, DEADLINE + 2)
    assert str(target) in line and "not a WebAssembly file" in line, line
    after_garbage = g.scrape()
    assert cpu_ratios_served(after_garbage), "cpu-ratios' families are gone after a rejected replacement"
    assert info_versions(after_garbage, "cpu-ratios") == versions
    assert after_garbage.value("gomon_probe_load_seconds", probe="cpu-ratios") == load_seconds, (
        "gomon_probe_load_seconds changed: something was loaded from the garbage")
    entry = api_probe(g, "cpu-ratios")
    assert entry and entry["state"] == "ok" and entry["source"] == str(target), entry
    assert "Probe removed." not in g.stderr_text(), "a rejected replacement unloaded the probe"

    # --- replace with a different good build (same probe, another file: compiled anew)
    avoid_interval_boundary(INTERVAL_S, QUIET)
    variant = tmp_path / "cpu-ratios-rebuilt.wasm"
    variant.write_bytes(with_custom_section(original, "gomon-e2e", b"another build"))
    install_probe(variant, probe_dir, target.name)
    wait_for_log(g, "Probe replaced.", DEADLINE)
    replaced, waited = wait_for_scrape(
        g, lambda s: s if (cpu_ratios_served(s) and s.get("gomon_probe_load_seconds", probe="cpu-ratios")
                           not in (None, load_seconds)) else None,
        DEADLINE, "cpu-ratios served with a new gomon_probe_load_seconds after the replacement")
    assert info_versions(replaced, "cpu-ratios") == versions
    entry = api_probe(g, "cpu-ratios")
    assert entry and entry["cached"] is False, f"a never-seen build was reported as cached: {entry}"
    print(f"replace -> reloaded in {waited:.2f}s")

    # --- and back to the first build: loads again, now from the compile cache
    avoid_interval_boundary(INTERVAL_S, QUIET)
    install_probe(example_probe_wasm("cpu-ratios"), probe_dir, target.name)
    wait_for_log(g, "Probe replaced.", DEADLINE, count=2)
    wait_until(lambda: (api_probe(g, "cpu-ratios") or {}).get("cached") is True, DEADLINE,
               "/api/probes to report the first build again, loaded from the compile cache",
               describe=g.describe)
    assert cpu_ratios_served(g.scrape())
    assert len(log_lines(g, REJECTED)) == 1, "the rejection was logged more than once (retried?)"

    # --- remove: unloaded, its families gone, the built-ins untouched
    avoid_interval_boundary(INTERVAL_S, QUIET)
    target.unlink()
    gone, waited = wait_for_scrape(
        g, lambda s: s if (not s.series("gomon_probe_up", probe="cpu-ratios")
                           and "gomon_memory_pressure_ratio" not in s.names()) else None,
        DEADLINE, f"cpu-ratios to disappear from /metrics within {DEADLINE}s of removing its file")
    wait_for_log(g, "Probe removed.", 1)
    assert api_probe(g, "cpu-ratios") is None
    for probe in BUILTIN_PROBES:
        assert gone.value("gomon_probe_up", probe=probe) == 1, f"built-in {probe} not up"
    print(f"remove -> gone in {waited:.2f}s")


def test_slow_copy_is_not_loaded_half_written(tmp_path, gomon_factory):
    """A file that keeps growing is not loaded until it has stopped changing."""
    probe_dir = tmp_path / "probes"
    g = start(gomon_factory, probe_dir)
    data = example_probe_wasm("cpu-ratios").read_bytes()
    target = probe_dir / "slow.wasm"
    chunks = 20  # written 0.1 s apart: every 500 ms poll sees the file change
    step = -(-len(data) // chunks)
    with open(target, "wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i:i + step])
            f.flush()
            time.sleep(0.1)
    wait_for_scrape(g, lambda s: cpu_ratios_served(s), DEADLINE, "cpu-ratios served after the slow copy")
    bad = [line for line in log_lines(g, str(target)) if "ERROR" in line or "WARN" in line]
    assert not bad, "a half-written file was loaded:\n" + "\n".join(bad)
    assert len(log_lines(g, "Probe loaded. probe=cpu-ratios")) == 1


def test_two_files_with_one_probe_name(tmp_path, gomon_factory):
    """Two files naming the same probe: the first is loaded, the second refused with a log
    line naming it and the file that already provides the name."""
    probe_dir = tmp_path / "probes"
    g = start(gomon_factory, probe_dir)
    first = install_probe(example_probe_wasm("cpu-ratios"), probe_dir, "a.wasm")
    wait_for_scrape(g, cpu_ratios_served, DEADLINE, "cpu-ratios from a.wasm")
    second = install_probe(example_probe_wasm("cpu-ratios"), probe_dir, "b.wasm")
    line = wait_until(lambda: next((ln for ln in g.stderr_text().splitlines()
                                    if str(second) in ln and ("ERROR" in ln or "WARN" in ln)), None),
                      DEADLINE + 2, f"a log line refusing {second}", describe=g.describe)
    assert "cpu-ratios" in line and str(first) in line, line
    entries = [p for p in api_probes(g) if p["name"] == "cpu-ratios"]
    assert len(entries) == 1 and entries[0]["source"] == str(first), entries
    assert cpu_ratios_served(g.scrape())


@pytest.mark.timeout(600)  # the template_probes fixture may build crates first (~30-60 s)
def test_file_probe_shadows_builtin_and_removal_restores_it(tmp_path, gomon_factory, template_probes):
    probe_dir = tmp_path / "probes"
    g = start(gomon_factory, probe_dir)
    base = g.scrape()
    assert [src for _, src in info_versions(base, "system")] == ["builtin"], info_versions(base, "system")
    assert "gomon_memory_total_bytes" in base.names()
    assert "system_uptime_seconds" not in base.names()

    # --- drop a file probe named `system`: it replaces the built-in
    avoid_interval_boundary(INTERVAL_S, QUIET)
    target = install_probe(template_probes.system_wasm, probe_dir, "my-system.wasm")
    shadowed, waited = wait_for_scrape(
        g, lambda s: s if ("system_uptime_seconds" in s.names()
                           and "gomon_memory_total_bytes" not in s.names()) else None,
        DEADLINE, "system_uptime_seconds (file probe `system`) instead of the built-in's families")
    assert [src for _, src in info_versions(shadowed, "system")] == ["file"], info_versions(shadowed, "system")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(shadowed.value("system_uptime_seconds") - uptime) < 5, (
        f"system_uptime_seconds {shadowed.value('system_uptime_seconds')} vs /proc/uptime {uptime}")
    assert shadowed.value("gomon_probe_up", probe="system") == 1
    for family in ("gomon_network_receive_bytes_total", "gomon_filesystem_size_bytes"):
        assert family in shadowed.names(), f"{family} (another built-in) vanished"
    entry = api_probe(g, "system")
    assert entry and entry["source"] == str(target), entry
    print(f"shadow -> served in {waited:.2f}s")

    # --- remove it: the built-in comes back
    avoid_interval_boundary(INTERVAL_S, QUIET)
    target.unlink()
    restored, waited = wait_for_scrape(
        g, lambda s: s if ("gomon_memory_total_bytes" in s.names()
                           and "system_uptime_seconds" not in s.names()) else None,
        DEADLINE, "the built-in `system` families back after removing the file probe")
    assert [src for _, src in info_versions(restored, "system")] == ["builtin"], info_versions(restored, "system")
    assert restored.value("gomon_probe_up", probe="system") == 1
    entry = api_probe(g, "system")
    assert entry and entry["source"] == "built-in", entry
    print(f"restore -> served in {waited:.2f}s")
