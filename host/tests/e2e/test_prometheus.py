"""gomon cross-checked by independent implementations: a real Prometheus server
scraping it over TLS, /proc itself, and node_exporter reading the same kernel files."""

from __future__ import annotations

from e2e_helpers import (
    Scrape,
    fetch_metrics,
    new_session,
    proc_stat_btime,
    proc_stat_cpu_count,
    read_meminfo,
    wait_until,
)

UP_DEADLINE = 30  # seconds; Prometheus scrapes every second


def wait_gomon_up(prometheus) -> None:
    def up():
        return prometheus.scalar('up{job="gomon"}') == 1.0

    wait_until(up, UP_DEADLINE, 'Prometheus to report up{job="gomon"} == 1',
               interval=0.25, describe=prometheus.describe)


def scrape_count(prometheus) -> float:
    """How many scrapes of gomon Prometheus has stored so far."""
    return prometheus.scalar('count_over_time(up{job="gomon"}[1h])') or 0.0


def test_prometheus_reports_gomon_up(prometheus):
    wait_gomon_up(prometheus)
    targets = prometheus.targets("gomon")
    assert len(targets) == 1, targets
    assert targets[0]["health"] == "up", prometheus.describe()
    assert targets[0]["lastError"] == "", prometheus.describe()
    # It ingested real samples, not an empty page.
    samples = prometheus.scalar('scrape_samples_scraped{job="gomon"}')
    assert samples and samples > 50, f"scrape_samples_scraped = {samples}"
    # Control: the harness' own target comes up as well.
    wait_until(lambda: prometheus.scalar('up{job="prometheus"}') == 1.0, UP_DEADLINE,
               'Prometheus to report its own target up (harness control)',
               interval=0.25, describe=lambda: prometheus.describe("prometheus"))


def test_memory_total_via_prometheus_matches_proc_meminfo(prometheus):
    wait_gomon_up(prometheus)
    value = wait_until(lambda: prometheus.scalar('gomon_memory_total_bytes{job="gomon"}'),
                       10, "gomon_memory_total_bytes in Prometheus", describe=prometheus.describe)
    assert value == read_meminfo()["MemTotal"], "gomon_memory_total_bytes != MemTotal × 1024"


def test_cpu_seconds_non_decreasing_across_scrapes(prometheus):
    wait_gomon_up(prometheus)
    expr = 'gomon_cpu_seconds_total{job="gomon"}'

    def snapshot() -> dict[tuple, float]:
        return {
            (r["metric"].get("cpu"), r["metric"].get("mode")): float(r["value"][1])
            for r in prometheus.query(expr)
        }

    first = wait_until(snapshot, 10, f"{expr} in Prometheus", describe=prometheus.describe)
    n0 = scrape_count(prometheus)
    # Wait for three more scrapes (and so at least two new gomon samples at --interval 1s).
    wait_until(lambda: scrape_count(prometheus) >= n0 + 3, 15,
               "three more scrapes of gomon", describe=prometheus.describe)
    second = snapshot()

    assert set(first) == set(second), "the set of (cpu, mode) series changed between scrapes"
    cpus = {cpu for cpu, _ in first}
    assert len(cpus) == proc_stat_cpu_count(), f"cpu labels {sorted(cpus)} vs /proc/stat"
    modes = {mode for _, mode in first}
    for mode in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"):
        assert mode in modes, f"mode {mode!r} missing from gomon_cpu_seconds_total: {sorted(modes)}"
    went_down = {k: (first[k], second[k]) for k in first if second[k] < first[k]}
    assert not went_down, f"counters decreased: {went_down}"
    # Time passes on every CPU, so the total over all modes must have grown.
    assert sum(second.values()) > sum(first.values()), "gomon_cpu_seconds_total did not advance"


# ---------------------------------------------------------------------------- vs /proc


def test_boot_time_and_cpus_match_proc(shared_gomon):
    scrape = shared_gomon.scrape()
    assert scrape.value("gomon_boot_time_seconds") == proc_stat_btime()
    assert scrape.value("gomon_cpus") == proc_stat_cpu_count()


# ---------------------------------------------------------------------------- vs node_exporter


def scrape_both(shared_gomon, node_exporter) -> tuple[Scrape, Scrape]:
    """gomon first, node_exporter second: node's counters are never older than gomon's."""
    g = shared_gomon.scrape()
    n = fetch_metrics(new_session(), node_exporter.url)
    return g, n


def test_cpu0_idle_matches_node_exporter(shared_gomon, node_exporter):
    g, n = scrape_both(shared_gomon, node_exporter)
    ours = g.value("gomon_cpu_seconds_total", cpu="0", mode="idle")
    theirs = n.value("node_cpu_seconds_total", cpu="0", mode="idle")
    # Same /proc/stat field; gomon serves a sample at most one interval (1s) old, and
    # idle time grows by at most one second per second on one CPU.
    assert ours <= theirs + 0.011, f"gomon {ours} is ahead of node_exporter {theirs}"
    assert theirs - ours <= max(3.0, 0.01 * theirs), f"gomon {ours} vs node_exporter {theirs}"


def test_root_filesystem_size_matches_node_exporter(shared_gomon, node_exporter):
    g, n = scrape_both(shared_gomon, node_exporter)
    theirs = n.series("node_filesystem_size_bytes", mountpoint="/")
    assert theirs, "node_exporter reports no filesystem at / (harness problem)"
    ours = g.series("gomon_filesystem_size_bytes", mountpoint="/")
    assert ours, "gomon reports no gomon_filesystem_size_bytes{mountpoint=\"/\"}"
    assert ours[0][1] == theirs[0][1], f"gomon {ours} vs node_exporter {theirs}"
    assert ours[0][0].get("fstype") == theirs[0][0].get("fstype"), (ours, theirs)
    assert ours[0][0].get("device") == theirs[0][0].get("device"), (ours, theirs)


def test_loopback_receive_bytes_not_ahead_of_node_exporter(shared_gomon, node_exporter):
    g, n = scrape_both(shared_gomon, node_exporter)
    ours = g.value("gomon_network_receive_bytes_total", device="lo")
    theirs = n.value("node_network_receive_bytes_total", device="lo")
    assert ours > 0, "no traffic counted on lo, although this very test talks over it"
    assert ours <= theirs, f"gomon {ours} > node_exporter {theirs} read later"


def test_memory_total_matches_node_exporter(shared_gomon, node_exporter):
    g, n = scrape_both(shared_gomon, node_exporter)
    assert g.value("gomon_memory_total_bytes") == n.value("node_memory_MemTotal_bytes")


def test_boot_time_matches_node_exporter(shared_gomon, node_exporter):
    g, n = scrape_both(shared_gomon, node_exporter)
    assert g.value("gomon_boot_time_seconds") == n.value("node_boot_time_seconds")


def test_load_average_windows(shared_gomon, node_exporter):
    g, n = scrape_both(shared_gomon, node_exporter)
    windows = {labels["window"] for labels, _ in g.series("gomon_load_average")}
    assert windows == {"1m", "5m", "15m"}, windows
    # The 15-minute average moves slowly; both read /proc/loadavg within a second.
    ours = g.value("gomon_load_average", window="15m")
    theirs = n.value("node_load15")
    assert abs(ours - theirs) <= 0.05 + 0.05 * theirs, f"gomon {ours} vs node_exporter {theirs}"
