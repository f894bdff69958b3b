"""Names are the host's to give: `hostile-names` returns gomon's own families, the
built-in probes' families, a counter `hostile_dup` beside a gauge `hostile_dup_total`,
the same family twice, HELP and label injection, and invalid families. Each offending
family is dropped, counted in gomon_probe_families_dropped_total{probe,reason} and
logged once; the rest is served; and the exposition, with every hostile probe loaded
at once, passes Python's text and OpenMetrics parsers, `promtool check metrics` and a
real Prometheus scrape (`up == 1`)."""

from __future__ import annotations

import textwrap

import pytest

from conftest import Prometheus
from e2e_helpers import (
    Scrape,
    ServiceProcess,
    free_port,
    log_lines,
    require_tool,
    wait_for_scrape,
    wait_until,
)
from hostile_helpers import check_exposition_parses, probe_dir_with, type_lines, write_config

# From probes/hostile/names/src/lib.rs.
INJECTED_HELP = "line one\n# TYPE hostile_injection counter\nhostile_injection 666\n\"quoted\" back\\slash"
INJECTED_LABELS = {"a": "a\"b", "b": "x}\ny=\"z", "c": "# TYPE hostile_injection counter"}
HOST_SPOOFS = ["gomon_probe_up", "gomon_observer_file_watches", "process_open_fds", "gomon_samples",
               "gomon_http_requests_total"]
BUILTIN_SPOOFS = ["gomon_cpu_seconds", "gomon_memory_total_bytes"]
ALL_BUILTINS = ["system", "filesystem", "io", "network", "graph", "process", "observe"]


def dropped(scrape, reason: str) -> float:
    return scrape.get("gomon_probe_families_dropped_total", 0.0, probe="hostile-names", reason=reason)


def served(g):
    return wait_for_scrape(g, lambda s: s if s.get("hostile_names_ok") is not None and dropped(s, "reserved") else None,
                           30, "hostile_names_ok served")[0]


def test_spoofed_and_clashing_names_are_dropped_and_counted(tmp_path, gomon_factory):
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["names"])))
    first = served(g)
    # Let a few more cycles run: the verdicts hold cycle after cycle.
    calls = first.value("gomon_probe_calls_total", probe="hostile-names")
    scrape, _ = wait_for_scrape(
        g, lambda s: s if s.value("gomon_probe_calls_total", probe="hostile-names") >= calls + 3 else None, 30,
        "three more calls of hostile-names")
    text, om = check_exposition_parses(g)
    types = type_lines(text)
    assert all(len(kinds) == 1 for kinds in types.values()), {n: k for n, k in types.items() if len(k) > 1}

    # gomon's own families hold gomon's values.
    assert scrape.value("gomon_probe_up", probe="system") == 1
    assert scrape.value("process_open_fds") > 0
    assert scrape.value("gomon_observer_file_watches") >= 0
    assert types["gomon_samples_total"] == ["counter"] and types["gomon_http_requests_total"] == ["counter"]
    # The built-ins' families are theirs: system's CPU counter has every CPU and mode, with
    # real (positive) idle time, not the spoofed single zero.
    cpu = scrape.series("gomon_cpu_seconds_total")
    assert len(cpu) > 1 and all(v >= 0 for _, v in cpu), cpu[:3]
    assert sum(v for labels, v in cpu if labels.get("mode") == "idle") > 0
    assert scrape.value("gomon_memory_total_bytes") > 1
    # The first of the clashing pair wins: the counter.
    assert types["hostile_dup_total"] == ["counter"]
    assert scrape.value("hostile_dup_total") == 1
    assert scrape.value("hostile_names_ok") == 1
    # Injection is escaped: the parsers read back exactly what the probe sent.
    family = next(f for f in Scrape.parse(text).families if f.name == "hostile_injection")
    assert family.documentation == INJECTED_HELP
    assert [s.labels for s in family.samples] == [INJECTED_LABELS]
    assert types["hostile_injection"] == ["gauge"]
    assert "hostile_injection 666" not in text.splitlines()
    # Invalid families are not served.
    assert "hostile_bad_help" not in types and "hostile_bad_label" not in types

    # Counted by reason, per call: 5 host + 2 built-in names reserved; dup_total and the
    # second hostile_names_ok taken; 2 invalid.
    n = scrape.value("gomon_probe_calls_total", probe="hostile-names")
    assert dropped(scrape, "reserved") == 7 * n, (dropped(scrape, "reserved"), n)
    assert dropped(scrape, "taken") == 2 * n
    assert dropped(scrape, "invalid") == 2 * n
    # The call itself succeeded: dropping a family is not a failure of the probe.
    assert scrape.value("gomon_probe_up", probe="hostile-names") == 1
    # Logged once per family, not once per cycle.
    for name in [*HOST_SPOOFS, *BUILTIN_SPOOFS, "hostile_dup_total", "hostile_bad_help"]:
        lines = [line for line in log_lines(g, "Dropped a family") if f"family `{name}`" in line]
        assert len(lines) == 1, f"{len(lines)} log lines for {name}: {lines}"
    reserved = [line for line in log_lines(g, "Dropped a family") if "gomon_cpu_seconds" in line]
    assert "belongs to the built-in probe `system`" in reserved[0], reserved


def host_family_names(gomon_factory, tmp_path) -> list[str]:
    """The families a gomon with every built-in disabled serves: gomon's own."""
    config = write_config(tmp_path / "nobuiltins.toml",
                          "".join(f"[probe.{p}]\nenabled = false\n" for p in ALL_BUILTINS))
    g = gomon_factory(*config, workdir=tmp_path / "bare")
    scrape, _ = wait_for_scrape(g, lambda s: s if s.get("gomon_samples_total", trigger="interval") else None, 30,
                                "a first sample")
    g.stop_and_check()
    names = sorted({f.name for f in scrape.families})
    assert len(names) >= 20, names
    return names


def test_every_family_of_gomons_own_is_reserved(tmp_path, gomon_factory):
    host = host_family_names(gomon_factory, tmp_path)
    # The spoofer returns each as a gauge (value -1) and as a counter.
    config = write_config(tmp_path / "gomon.toml", f"""
        [probe.hostile-names.settings]
        names = "{','.join(host)}"
    """)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["names"])), *config)
    scrape = served(g)
    text, _ = check_exposition_parses(g)
    n = scrape.value("gomon_probe_calls_total", probe="hostile-names")
    assert dropped(scrape, "reserved") == (7 + 2 * len(host)) * n, (dropped(scrape, "reserved"), n, len(host))
    spoofed = [name for (name, _), value in scrape.samples.items() if value == -1]
    assert not spoofed, f"spoofed values served: {spoofed}"
    types = type_lines(text)
    assert all(len(kinds) == 1 for kinds in types.values())


@pytest.fixture
def prometheus_for(tmp_path):
    """Starts Debian's Prometheus scraping one gomon over HTTPS every second."""
    started = []

    def start(g) -> Prometheus:
        binary = require_tool("prometheus")
        work = tmp_path / "prometheus"
        work.mkdir()
        port = free_port()
        config = work / "prometheus.yml"
        config.write_text(textwrap.dedent(f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: gomon
                scheme: https
                tls_config:
                  ca_file: {g.cert}
                static_configs:
                  - targets: ['127.0.0.1:{g.port}']
            """))
        service = ServiceProcess("prometheus", [binary, f"--config.file={config}",
                                                f"--storage.tsdb.path={work / 'data'}",
                                                f"--web.listen-address=127.0.0.1:{port}"], work)
        started.append(service)
        service.wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        return Prometheus(service, port)

    yield start
    for service in started:
        service.stop()


def test_exposition_parses_with_every_hostile_probe_loaded(tmp_path, gomon_factory, prometheus_for):
    keys = ["names", "escape", "spin", "hog", "panic", "flood", "sleep", "utf8", "tables", "wrong-version",
            "observe"]
    config = write_config(tmp_path / "gomon.toml", """
        [probes]
        call_timeout = "1s"
        [probe.hostile-flood.settings]
        series = 20000
    """)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, keys)), *config, interval="2s")
    served(g)
    prom = prometheus_for(g)
    wait_until(lambda: prom.scalar('up{job="gomon"}') == 1 and prom.scalar("hostile_names_ok") == 1, 60,
               "Prometheus scraping gomon (up == 1) with hostile_names_ok", describe=prom.describe)
    # Several scrapes, each parsed by every parser, while the hostile probes fail.
    for _ in range(3):
        calls = g.scrape().value("gomon_probe_calls_total", probe="system")
        wait_for_scrape(g, lambda s: s.value("gomon_probe_calls_total", probe="system") > calls, 30, "a new cycle")
        check_exposition_parses(g)
    # Prometheus stored one series for gomon_probe_up{probe="system"}, gomon's.
    assert prom.scalar('gomon_probe_up{probe="system"}') == 1
    assert prom.scalar('up{job="gomon"}') == 1
    failed = prom.query('scrape_samples_scraped{job="gomon"}')
    assert failed and float(failed[0]["value"][1]) > 100, failed
