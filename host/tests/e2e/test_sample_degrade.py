"""Sampling degrades per file: gomon sampling a copy of the samplers' fixture tree
with files removed keeps every series those files do not feed, counts each loss in
`gomon_sample_errors_total{collector,file,kind}` (clean under promtool), and says
so at WARN once per file and kind, not once per cycle."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from e2e_helpers import Scrape, log_lines, require_tool, wait_for_scrape, write_config

FIXTURES = Path(__file__).resolve().parents[2] / "sample" / "tests" / "fixtures"


def fixture_tree(root: Path, remove: list[str]) -> Path:
    """A copy of the fixture proc and sys trees under `root`, without `remove` (paths
    under proc)."""
    shutil.copytree(FIXTURES / "proc", root / "proc", symlinks=True)
    shutil.copytree(FIXTURES / "sys", root / "sys", symlinks=True)
    for rel in remove:
        (root / "proc" / rel).unlink()
    return root


def fixture_value(rel: str, key: str) -> int:
    for line in (FIXTURES / "proc" / rel).read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in {rel}")


def test_missing_files_lose_only_their_series_and_are_counted(gomon_factory, tmp_path):
    tree = fixture_tree(tmp_path / "tree", ["uptime", "sys/fs/file-max", "4242/status"])
    config = write_config(tmp_path / "gomon.toml", f"""
[sample]
proc_root = "{tree / 'proc'}"
sys_root = "{tree / 'sys'}"
resolve_hosts = false
""")
    g = gomon_factory("--config", str(config), plain_http=True, interval="1s")

    def uptime_missed_three_times(s: Scrape):
        n = s.get("gomon_sample_errors_total", collector="system", file="/proc/uptime", kind="missing")
        return s if n is not None and n >= 3 else None

    scrape, _ = wait_for_scrape(g, uptime_missed_three_times, 30, "three cycles counting /proc/uptime missing")
    names = scrape.names()
    # What the removed files fed is gone ...
    assert "gomon_uptime_seconds" not in names
    # ... and what they did not feed is there, with the fixture's values.
    assert scrape.value("gomon_memory_total_bytes") == fixture_value("meminfo", "MemTotal:") * 1024
    assert scrape.value("gomon_context_switches_total") == fixture_value("stat", "ctxt")
    assert scrape.value("gomon_load_average", window="1m") == 2.18
    assert scrape.value("gomon_boot_time_seconds") == fixture_value("stat", "btime")
    assert scrape.value("gomon_collector_success", collector="system") == 1.0
    # file-max is missing: the maximum comes from file-nr's third field.
    file_nr = (FIXTURES / "proc/sys/fs/file-nr").read_text().split()
    assert scrape.value("gomon_file_descriptors_maximum") == int(file_nr[2])
    assert scrape.value("gomon_file_descriptors_allocated") == int(file_nr[0])
    # The process without status is kept (stat's values), only its status values go.
    assert scrape.get("gomon_process_resident_bytes", pid="4242") is not None
    assert scrape.get("gomon_process_peak_resident_bytes", pid="4242") is None
    assert scrape.get("gomon_process_peak_resident_bytes", pid="4400") is not None
    # Each loss counted, with bounded labels.
    for file in ("/proc/sys/fs/file-max", "/proc/<pid>/status"):
        kind = "missing"
        assert scrape.value("gomon_sample_errors_total", file=file, kind=kind) >= 1, file
    assert not any("4242" in dict(labels).get("file", "")
                   for (name, labels) in scrape.samples if name == "gomon_sample_errors_total")

    # A counter that only grows, the family clean under promtool.
    body = g.get("/metrics").text
    assert "# TYPE gomon_sample_errors_total counter" in body
    proc = subprocess.run([require_tool("promtool"), "check", "metrics"], input=body.encode(),
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()

    # WARN once per (file, kind), not once per cycle.
    warned = [line for line in log_lines(g, "Sampling lost part of a sample") if "/proc/uptime" in line]
    assert len(warned) == 1, warned
    assert "WARN" in warned[0], warned[0]


def test_without_net_dev_interfaces_come_from_sysfs(gomon_factory, tmp_path):
    tree = fixture_tree(tmp_path / "tree", ["net/dev"])
    # Statistics as the kernel keeps them, for the fixture's eth0 and lo.
    counters = {"eth0": {"rx_bytes": 197665564, "tx_bytes": 567029}, "lo": {"rx_bytes": 3193, "tx_bytes": 3193}}
    files = ["rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "rx_missed_errors", "rx_fifo_errors",
             "rx_length_errors", "rx_over_errors", "rx_crc_errors", "rx_frame_errors", "rx_compressed",
             "multicast", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped", "tx_fifo_errors", "collisions",
             "tx_carrier_errors", "tx_aborted_errors", "tx_window_errors", "tx_heartbeat_errors", "tx_compressed"]
    for nic, values in counters.items():
        stats = tree / "sys/class/net" / nic / "statistics"
        stats.mkdir()
        for f in files:
            (stats / f).write_text(f"{values.get(f, 3 if f == 'rx_crc_errors' else 0)}\n")
    config = write_config(tmp_path / "gomon.toml", f"""
[sample]
proc_root = "{tree / 'proc'}"
sys_root = "{tree / 'sys'}"
resolve_hosts = false
""")
    g = gomon_factory("--config", str(config), plain_http=True, interval="1s")
    scrape, _ = wait_for_scrape(g, lambda s: s if s.get("gomon_network_receive_bytes_total", device="eth0") else None,
                                30, "eth0's counters from sysfs")
    assert scrape.value("gomon_network_receive_bytes_total", device="eth0") == 197665564
    assert scrape.value("gomon_network_transmit_bytes_total", device="lo") == 3193
    # net/dev's "frame" column sums rx_length, rx_over, rx_crc and rx_frame errors.
    assert scrape.value("gomon_network_receive_frame_total", device="eth0") == 3
    # ifb0 and ifb1 have no statistics in this tree: left out, and counted.
    assert scrape.get("gomon_network_receive_bytes_total", device="ifb0") is None
    assert scrape.value("gomon_network_up", device="eth0") == 1.0
    assert scrape.value("gomon_sample_errors_total", collector="network", file="/proc/net/dev", kind="missing") >= 1
    assert scrape.value("gomon_sample_errors_total", collector="network",
                        file="/sys/class/net/<device>/statistics/rx_bytes", kind="missing") >= 1
    assert scrape.value("gomon_collector_success", collector="network") == 1.0
