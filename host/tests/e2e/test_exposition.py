"""The /metrics exposition, checked by independent parsers (promtool, Python's
prometheus_client) and against the kernel's own files; HTTP behaviour of the server,
including hostile clients."""

from __future__ import annotations

import gzip
import os
import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from e2e_helpers import (
    OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_ACCEPT,
    TEXT_CONTENT_TYPE,
    Scrape,
    http_get,
    new_session,
    read_meminfo,
    require_tool,
    workspace_version,
)


def text_body(gomon) -> str:
    r = gomon.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    return r.text


def type_lines(body: str) -> dict[str, str]:
    """{family name: type} from the `# TYPE` lines of a text exposition."""
    out = {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            assert name not in out, f"two TYPE lines for {name}"
            out[name] = typ.strip()
    return out


def has_disks() -> bool:
    """A block device that is not loop/ram/zram, i.e. one node_exporter would list too."""
    return any(
        not re.match(r"(loop|ram|zram)\d+$", d.name) for d in Path("/sys/block").iterdir()
    )


# ---------------------------------------------------------------------------- independent parsers


def test_promtool_check_metrics_accepts_text(shared_gomon):
    promtool = require_tool("promtool")
    body = text_body(shared_gomon)
    proc = subprocess.run([promtool, "check", "metrics"], input=body.encode(),
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, (
        f"promtool check metrics exited {proc.returncode}:\n"
        f"{proc.stdout.decode()}{proc.stderr.decode()}"
    )


def test_python_parser_reads_text(shared_gomon):
    scrape = Scrape.parse(text_body(shared_gomon))
    assert len(scrape.families) >= 20, [f.name for f in scrape.families]
    assert len(scrape.samples) >= 50


def test_openmetrics_with_prometheus_accept_header(shared_gomon):
    r = shared_gomon.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == OPENMETRICS_CONTENT_TYPE
    body = r.text
    assert body.endswith("# EOF\n") or body.endswith("# EOF"), f"ends with {body[-60:]!r}"
    assert body.count("# EOF") == 1
    families = list(openmetrics_families(body))  # raises on any OpenMetrics violation
    names = {f.name for f in families}
    assert "gomon_cpu_seconds" in names, "counter family gomon_cpu_seconds (samples *_total) missing"
    counters = [f for f in families if f.type == "counter"]
    assert counters, "no counter families in the OpenMetrics output"
    for fam in counters:
        for s in fam.samples:
            assert s.name in (fam.name + "_total", fam.name + "_created"), (fam.name, s.name)


def test_text_and_openmetrics_carry_the_same_samples(shared_gomon):
    text = Scrape.parse(text_body(shared_gomon))
    r = shared_gomon.get("/metrics", headers={"Accept": PROMETHEUS_ACCEPT})
    om = {s.name for f in openmetrics_families(r.text) for s in f.samples}
    om = {n for n in om if not n.endswith("_created")}
    assert om == text.names(), f"only in OpenMetrics: {om - text.names()}; only in text: {text.names() - om}"


@pytest.mark.parametrize(
    "accept, expected",
    [
        (None, TEXT_CONTENT_TYPE),
        ("*/*", TEXT_CONTENT_TYPE),
        ("text/plain", TEXT_CONTENT_TYPE),
        ("text/plain;version=0.0.4", TEXT_CONTENT_TYPE),
        ("application/openmetrics-text;version=1.0.0", OPENMETRICS_CONTENT_TYPE),
        ("application/openmetrics-text", OPENMETRICS_CONTENT_TYPE),
        (PROMETHEUS_ACCEPT, OPENMETRICS_CONTENT_TYPE),
        # q-values are honoured: text preferred over OpenMetrics here.
        ("application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9",
         TEXT_CONTENT_TYPE),
    ],
)
def test_content_type_negotiation(shared_gomon, accept, expected):
    headers = {"Accept": accept} if accept else {}
    if accept is None:
        s = new_session(shared_gomon.cert)
        s.headers.pop("Accept", None)
        r = s.get(shared_gomon.url(), timeout=5)
    else:
        r = shared_gomon.get("/metrics", headers=headers)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == expected
    if expected == OPENMETRICS_CONTENT_TYPE:
        assert r.text.rstrip("\n").endswith("# EOF")
    else:
        assert "# EOF" not in r.text


@pytest.mark.parametrize("accept", [None, PROMETHEUS_ACCEPT])
def test_gzip_when_asked(shared_gomon, accept):
    headers = {"Accept-Encoding": "gzip"}
    if accept:
        headers["Accept"] = accept
    r = shared_gomon.get("/metrics", headers=headers, stream=True)
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == "gzip"
    raw = r.raw.read(decode_content=False)
    assert raw[:2] == b"\x1f\x8b", f"body is not gzip: {raw[:20]!r}"
    body = gzip.decompress(raw).decode()
    if accept:
        assert r.headers["Content-Type"] == OPENMETRICS_CONTENT_TYPE
        list(openmetrics_families(body))
    else:
        assert r.headers["Content-Type"] == TEXT_CONTENT_TYPE
        assert "gomon_cpu_seconds_total" in Scrape.parse(body).names()


def test_no_gzip_unless_asked(shared_gomon):
    r = shared_gomon.get("/metrics", headers={"Accept-Encoding": "identity"}, stream=True)
    assert r.status_code == 200
    assert "Content-Encoding" not in r.headers or r.headers["Content-Encoding"] == "identity"
    raw = r.raw.read(decode_content=False)
    assert raw.startswith(b"#") or raw[:1].isalpha(), raw[:40]


# ---------------------------------------------------------------------------- naming conventions


def test_every_family_is_prefixed(shared_gomon):
    types = type_lines(text_body(shared_gomon))
    assert types, "no # TYPE lines"
    bad = [n for n in types if not (n.startswith("gomon_") or n.startswith("process_"))]
    assert not bad, f"families without gomon_/process_ prefix: {bad}"


def test_counters_end_in_total(shared_gomon):
    types = type_lines(text_body(shared_gomon))
    counters = [n for n, t in types.items() if t == "counter"]
    assert counters, "no counters at all"
    bad = [n for n in counters if not n.endswith("_total")]
    assert not bad, f"counters without _total: {bad}"
    # ... and nothing that is not a counter pretends to be one.
    fake = [n for n, t in types.items() if n.endswith("_total") and t != "counter"]
    assert not fake, f"non-counters named *_total: {fake}"


def test_every_sample_has_help_and_type(shared_gomon):
    body = text_body(shared_gomon)
    helped = {line.split()[2] for line in body.splitlines() if line.startswith("# HELP ")}
    types = type_lines(body)
    assert set(types) == helped, f"TYPE without HELP: {set(types) - helped}; HELP without TYPE: {helped - set(types)}"


# ---------------------------------------------------------------------------- content


SYSTEM_FAMILIES = [
    "gomon_cpu_seconds_total", "gomon_system_cpu_seconds_total", "gomon_cpus",
    "gomon_boot_time_seconds", "gomon_uptime_seconds",
    "gomon_memory_total_bytes", "gomon_memory_free_bytes", "gomon_memory_available_bytes",
    "gomon_memory_used_bytes", "gomon_memory_buffers_bytes", "gomon_memory_cached_bytes",
    "gomon_memory_shared_bytes",
    "gomon_swap_total_bytes", "gomon_swap_free_bytes", "gomon_swap_used_bytes",
    "gomon_swap_cached_bytes",
    "gomon_load_average", "gomon_context_switches_total", "gomon_forks_total",
    "gomon_interrupts_total", "gomon_file_descriptors_maximum",
    "gomon_file_descriptors_allocated", "gomon_rlimit_open_files",
]
FILESYSTEM_FAMILIES = [
    "gomon_filesystem_size_bytes", "gomon_filesystem_free_bytes",
    "gomon_filesystem_available_bytes", "gomon_filesystem_used_bytes",
    "gomon_filesystem_files", "gomon_filesystem_files_free", "gomon_filesystem_readonly",
    "gomon_filesystem_device_error",
]
DISK_FAMILIES = [
    "gomon_disk_reads_completed_total", "gomon_disk_read_bytes_total",
    "gomon_disk_written_bytes_total", "gomon_disk_read_time_seconds_total",
    "gomon_disk_writes_completed_total", "gomon_disk_io_time_seconds_total",
]
NETWORK_FAMILIES = [
    "gomon_network_receive_bytes_total", "gomon_network_transmit_bytes_total",
    "gomon_network_receive_packets_total", "gomon_network_transmit_packets_total",
]
SELF_FAMILIES = [
    "gomon_build_info", "gomon_collector_duration_seconds", "gomon_collector_success",
    "gomon_probe_up", "gomon_probe_calls_total", "gomon_probe_memory_bytes",
    "gomon_probe_call_duration_seconds_bucket", "gomon_probe_call_duration_seconds_sum",
    "gomon_probe_call_duration_seconds_count",
    "process_resident_memory_bytes", "process_cpu_seconds_total",
]


def test_documented_families_are_present(shared_gomon):
    names = shared_gomon.scrape().names()
    expected = SYSTEM_FAMILIES + FILESYSTEM_FAMILIES + NETWORK_FAMILIES + SELF_FAMILIES
    if has_disks():
        expected += DISK_FAMILIES
    missing = [n for n in expected if n not in names]
    assert not missing, f"missing sample names: {missing}"


def test_builtin_probes_are_up_and_called(shared_gomon):
    scrape = shared_gomon.scrape()
    for probe in ("system", "filesystem", "io", "network"):
        assert scrape.value("gomon_probe_up", probe=probe) == 1, probe
        assert scrape.value("gomon_probe_calls_total", probe=probe) >= 1, probe
        assert scrape.value("gomon_probe_call_duration_seconds_count", probe=probe) >= 1, probe
        assert scrape.value("gomon_probe_call_duration_seconds_bucket", probe=probe, le="+Inf") == \
            scrape.value("gomon_probe_call_duration_seconds_count", probe=probe)
    successes = scrape.series("gomon_collector_success")
    assert successes, "no gomon_collector_success series"
    failed = [labels for labels, v in successes if v != 1]
    assert not failed, f"collectors failing on a healthy machine: {failed}"


def test_build_info_names_the_version(shared_gomon):
    scrape = shared_gomon.scrape()
    series = scrape.series("gomon_build_info")
    assert len(series) == 1, series
    labels, value = series[0]
    assert value == 1
    assert labels.get("version") == workspace_version(), labels


def test_memory_and_kernel_limits_match_proc(shared_gomon):
    scrape = shared_gomon.scrape()
    mem = read_meminfo()
    assert scrape.value("gomon_memory_total_bytes") == mem["MemTotal"]
    assert scrape.value("gomon_swap_total_bytes") == mem["SwapTotal"]
    file_max = int(Path("/proc/sys/fs/file-nr").read_text().split()[2])
    assert scrape.value("gomon_file_descriptors_maximum") == file_max


def test_uptime_tracks_proc_uptime(shared_gomon):
    ours = shared_gomon.scrape().value("gomon_uptime_seconds")
    theirs = float(Path("/proc/uptime").read_text().split()[0])
    # gomon's sample is at most one interval (1s) old.
    assert theirs - 3.0 <= ours <= theirs + 0.5, f"gomon {ours} vs /proc/uptime {theirs}"


def test_self_rss_is_gomons_own(shared_gomon):
    ours = shared_gomon.scrape().value("process_resident_memory_bytes")
    status = Path(f"/proc/{shared_gomon.pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    assert 0.5 * rss <= ours <= 2 * rss, f"process_resident_memory_bytes {ours} vs VmRSS {rss}"


# ---------------------------------------------------------------------------- HTTP behaviour


def test_index_page(shared_gomon):
    r = shared_gomon.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "/metrics" in r.text


@pytest.mark.parametrize("path", ["/nonexistent", "/metrics/extra", "/metricsx"])
def test_unknown_path_is_404(shared_gomon, path):
    assert shared_gomon.get(path).status_code == 404


def test_other_methods_are_refused(shared_gomon):
    r = shared_gomon.session.post(shared_gomon.url(), data=b"x", timeout=5)
    assert r.status_code in (405, 404), r.status_code
    assert "gomon_" not in r.text


def test_head_has_headers_but_no_body(shared_gomon):
    r = shared_gomon.session.head(shared_gomon.url(), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == TEXT_CONTENT_TYPE
    assert r.content == b""


def tls_context(gomon) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(gomon.cert))
    return ctx


def tls_connect(gomon, timeout: float = 5.0) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", gomon.port), timeout=timeout)
    return tls_context(gomon).wrap_socket(raw, server_hostname="127.0.0.1")


def assert_still_serving(gomon) -> None:
    assert gomon.alive(), gomon.describe()
    r = gomon.get("/metrics", timeout=5)
    assert r.status_code == 200 and "gomon_cpu_seconds_total" in r.text


def still_open(sock) -> bool:
    """Whether the peer has neither closed nor reset `sock` (nothing to read counts as open)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        data = sock.recv(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except (OSError, ssl.SSLError):
        return False
    finally:
        sock.settimeout(timeout)
    return bool(data)


def read_until_closed(sock, limit: int = 1 << 16) -> bytes:
    data = b""
    try:
        while len(data) < limit:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError):
        pass
    return data


def test_garbage_instead_of_tls_handshake(shared_gomon):
    with socket.create_connection(("127.0.0.1", shared_gomon.port), timeout=5) as s:
        s.sendall(os.urandom(4096))
        read_until_closed(s)
    assert_still_serving(shared_gomon)


def test_garbage_inside_tls(shared_gomon):
    with tls_connect(shared_gomon) as s:
        s.sendall(b"\x00\xff" * 512 + b"\r\n\r\n")
        reply = read_until_closed(s)
    assert not reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert_still_serving(shared_gomon)


def test_huge_header(shared_gomon):
    with tls_connect(shared_gomon) as s:
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                      + b"a" * (4 << 20) + b"\r\n\r\n")
        except OSError:
            pass  # the server hung up on us mid-way: fine
        reply = read_until_closed(s)
    assert not reply.startswith(b"HTTP/1.1 200"), "a 4 MiB header was accepted"
    assert_still_serving(shared_gomon)


def test_slowloris_does_not_block_others(shared_gomon):
    """Half-open connections (no TLS handshake, or half a request) must not stop
    other clients from being served."""
    silent, partial = [], []
    try:
        for _ in range(16):
            silent.append(socket.create_connection(("127.0.0.1", shared_gomon.port), timeout=5))
        for _ in range(16):
            s = tls_connect(shared_gomon)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            partial.append(s)
        assert_still_serving(shared_gomon)
        # Served while the slow ones were still held open: had the server waited for them
        # to time out before answering, they would be closed by now.
        closed = [k for k, s in enumerate(silent + partial) if not still_open(s)]
        assert not closed, f"the server closed slow connections {closed} before serving another client"
    finally:
        for s in silent + partial:
            s.close()
    assert_still_serving(shared_gomon)


def test_plain_http_to_https_port_is_refused(shared_gomon):
    try:
        r = http_get(f"http://127.0.0.1:{shared_gomon.port}/metrics")
    except requests.exceptions.RequestException:
        pass  # the connection was dropped: TLS only
    else:
        assert r.status_code != 200 and "gomon_" not in r.text, "metrics served over plain HTTP"
    assert_still_serving(shared_gomon)


def test_plain_http_mode(gomon_factory):
    g = gomon_factory(plain_http=True)
    r = http_get(g.url())
    assert r.status_code == 200
    assert r.headers["Content-Type"] == TEXT_CONTENT_TYPE
    assert "gomon_cpu_seconds_total" in Scrape.parse(r.text).names()
    # ... and then it does not speak TLS.
    with pytest.raises((ssl.SSLError, OSError)):
        with socket.create_connection(("127.0.0.1", g.port), timeout=5) as raw:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
