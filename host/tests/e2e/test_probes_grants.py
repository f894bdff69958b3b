"""Per-probe configuration ([probe.NAME] in --config): grants, enabled, settings, and
`gomon snapshot`, which shows what a set of grants lets a probe see."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from e2e_helpers import (
    BUILTIN_PROBES,
    DEFAULT_FILE_GRANTS,
    api_probe,
    api_probes,
    describe_cli,
    example_probe_wasm,
    install_probe,
    log_lines,
    run_gomon_cli,
    wait_for_log,
    wait_for_scrape,
    write_config,
)

SNAPSHOT_KEYS = {"taken_at_seconds", "system", "filesystems", "disks", "interfaces", "processes", "connections"}


def probe_dir_with(tmp_path: Path, *keys: str) -> Path:
    d = tmp_path / "probes"
    d.mkdir(parents=True, exist_ok=True)
    for key in keys:
        install_probe(example_probe_wasm(key), d, f"{key}.wasm")
    return d


def start_with(gomon_factory, tmp_path: Path, config: str, *keys: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = write_config(tmp_path / "gomon.toml", config)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, *keys)), "--config", str(cfg),
                      workdir=tmp_path / "gomon")
    wait_for_log(g, "Watching the probe directory", 10)
    return g


def real_disks() -> bool:
    return any(not re.match(r"(loop|ram|zram)\d+$", d.name) for d in Path("/sys/block").iterdir())


# ---------------------------------------------------------------------------- grants


def test_probe_without_a_needed_grant_is_refused(tmp_path, gomon_factory):
    # threshold-alert, granted `system` explicitly, is the control: the directory was read
    # and a probe with the grant it needs loads beside the refused one.
    g = start_with(gomon_factory, tmp_path, """
        [probe.cpu-ratios]
        grants = ["network"]

        [probe.threshold-alert]
        grants = ["system"]
        settings = { metric = "cpus", above = "0" }
        """, "cpu-ratios", "threshold-alert")
    line = wait_for_log(g, "needs `system`, which is not granted to it", 10)
    assert "ERROR" in line and "cpu-ratios" in line, line
    wait_for_scrape(g, lambda s: s.get("gomon_threshold_exceeded", alert="cpus", metric="cpus") == 1, 10,
                    "the control probe threshold-alert to report")
    names = [p["name"] for p in api_probes(g)]
    assert "cpu-ratios" not in names, f"a refused probe is listed in /api/probes: {names}"
    assert "threshold-alert" in names
    assert api_probe(g, "threshold-alert")["grants"] == ["system"]
    s = g.scrape()
    assert not s.series("gomon_probe_up", probe="cpu-ratios")
    assert not s.series("gomon_probe_info", probe="cpu-ratios")
    assert "gomon_memory_pressure_ratio" not in s.names()
    assert len(log_lines(g, "needs `system`")) == 1, "the refusal was logged more than once"


def test_file_probe_gets_default_grants(tmp_path, gomon_factory):
    g = start_with(gomon_factory, tmp_path, "", "cpu-ratios")
    wait_for_scrape(g, lambda s: s.get("gomon_probe_up", probe="cpu-ratios") == 1, 10, "cpu-ratios up")
    entry = api_probe(g, "cpu-ratios")
    assert sorted(entry["grants"]) == sorted(DEFAULT_FILE_GRANTS), entry
    assert entry["needs"] == ["system"], entry
    for probe in BUILTIN_PROBES:
        builtin = api_probe(g, probe)
        assert builtin["grants"] == builtin["needs"], f"built-in {probe} granted beyond its needs: {builtin}"


def test_disabled_builtin_is_not_loaded(tmp_path, gomon_factory):
    g = start_with(gomon_factory, tmp_path, """
        [probe.io]
        enabled = false
        """)
    wait_for_log(g, "Built-in probe disabled by configuration", 10)
    s = g.scrape()
    disk = sorted(n for n in s.names() if n.startswith("gomon_disk_"))
    assert not disk, f"gomon_disk_* families served with io disabled: {disk}"
    assert not s.series("gomon_probe_up", probe="io")
    assert "io" not in [p["name"] for p in api_probes(g)]
    for probe in ("system", "filesystem", "network"):
        assert s.value("gomon_probe_up", probe=probe) == 1
    if real_disks():
        # Control: on this machine the io probe does serve disk families.
        control = start_with(gomon_factory, tmp_path / "control", "")
        assert any(n.startswith("gomon_disk_") for n in control.scrape().names()), (
            "no gomon_disk_* families even with io enabled: the check above proves nothing")


def test_disabled_file_probe_is_not_loaded(tmp_path, gomon_factory):
    g = start_with(gomon_factory, tmp_path, """
        [probe.cpu-ratios]
        enabled = false

        [probe.threshold-alert]
        settings = { metric = "cpus", above = "0" }
        """, "cpu-ratios", "threshold-alert")
    # The control probe loaded from the same directory: the directory was read.
    wait_for_scrape(g, lambda s: s.get("gomon_probe_up", probe="threshold-alert") == 1, 10, "threshold-alert up")
    assert "cpu-ratios" not in [p["name"] for p in api_probes(g)]
    assert "gomon_memory_pressure_ratio" not in g.scrape().names()


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize("above, fires", [("0", True), ("100000", False)])
def test_threshold_alert_settings(above, fires, tmp_path, gomon_factory):
    g = start_with(gomon_factory, tmp_path, f"""
        [probe.threshold-alert]
        settings = {{ metric = "cpus", above = "{above}", name = "wide" }}
        """, "threshold-alert")
    # Two calls of the probe, so that "emits nothing" is about a probe that ran.
    s, _ = wait_for_scrape(
        g, lambda s: s if (s.get("gomon_probe_calls_total", probe="threshold-alert") or 0) >= 2 else None,
        10, "two calls of threshold-alert")
    assert s.value("gomon_probe_up", probe="threshold-alert") == 1
    alerts = s.series("gomon_threshold_exceeded") + s.series("gomon_threshold_value")
    if fires:
        assert s.value("gomon_threshold_exceeded", alert="wide", metric="cpus") == 1
        assert s.value("gomon_threshold_value", alert="wide", metric="cpus") == s.value("gomon_cpus")
        assert len(alerts) == 2, alerts
    else:
        assert not alerts, f"threshold-alert emitted with the value below the threshold: {alerts}"
        assert "gomon_threshold_exceeded" not in s.body


@pytest.mark.parametrize("settings, needle", [
    (None, "setting `metric` is missing"),
    ('{ metric = "cpus" }', "setting `above`"),
    ('{ metric = "cpus", above = "x" }', "setting `above`: \"x\" is not a number"),
    ('{ metric = "cpus", above = "1", colour = "red" }', "colour"),
])
def test_threshold_alert_refuses_bad_settings(settings, needle, tmp_path, gomon_factory):
    config = "" if settings is None else f"[probe.threshold-alert]\nsettings = {settings}\n"
    g = start_with(gomon_factory, tmp_path, config, "threshold-alert")
    line = wait_for_log(g, "configure refused the settings", 10)
    assert "ERROR" in line and "threshold-alert" in line and needle in line, line
    assert "threshold-alert" not in [p["name"] for p in api_probes(g)]
    assert not g.scrape().series("gomon_probe_up", probe="threshold-alert")


# ---------------------------------------------------------------------------- gomon snapshot


def snapshot(*args: str, cwd: Path) -> dict:
    proc = run_gomon_cli(*args, cwd=cwd)
    assert proc.returncode == 0, describe_cli(proc)
    data = json.loads(proc.stdout)
    assert set(data) == SNAPSHOT_KEYS, f"snapshot keys {sorted(data)}"
    return data


def test_snapshot_with_network_grant_only(tmp_path):
    data = snapshot("snapshot", "--grants", "network", cwd=tmp_path)
    assert data["system"] is None
    assert data["filesystems"] == [] and data["disks"] == []
    assert data["processes"] == [] and data["connections"] == []
    names = [i["name"] for i in data["interfaces"]]
    assert "lo" in names, f"interfaces {names}"
    assert sorted(names) == sorted(p.name for p in Path("/sys/class/net").iterdir())


def test_snapshot_without_grants_shows_every_part(tmp_path):
    data = snapshot("snapshot", cwd=tmp_path)
    assert data["system"] is not None and len(data["system"]["cpus"]) >= 1
    assert data["interfaces"] and data["filesystems"]
    assert abs(data["taken_at_seconds"] - time.time()) < 60


def test_snapshot_for_a_configured_probe(tmp_path):
    cfg = write_config(tmp_path / "gomon.toml", '[probe.cpu-ratios]\ngrants = ["system", "disks"]\n')
    data = snapshot("--config", str(cfg), "snapshot", "--probe", "cpu-ratios", cwd=tmp_path)
    assert data["system"] is not None
    assert data["interfaces"] == [] and data["filesystems"] == []
    if real_disks():
        assert data["disks"], "disks granted but empty"


def test_snapshot_rejects_unknown_part(tmp_path):
    proc = run_gomon_cli("snapshot", "--grants", "network,bogus", cwd=tmp_path)
    assert proc.returncode in (1, 2), describe_cli(proc)
    assert "bogus" in proc.stderr and "panicked" not in proc.stderr, describe_cli(proc)
