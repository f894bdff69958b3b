#!/usr/bin/env python3
"""The fleet view's cost for 3, 10 and 30 simulated hosts, both ways (docs/fleet.md):

    .venv/bin/python bench/fleet.py [--hosts 3,10,30] [--requests 20] [--listeners 20] [--outbound 50]

Simulated hosts: one small HTTP server per host on loopback (all in this process), serving
what an agent serves: `GET /api/endpoints` (the endpoint table as JSON, pids included) and
`GET /metrics` (the `[fleet] export` series). Each host has `--listeners` listening sockets
and `--outbound` outbound aggregates, 70 % of them to a listener of another simulated host and
30 % to addresses outside the fleet (seeded, so every run draws the same fleet).

(A) peers: a real gomon with `[fleet] peers` = the simulated hosts; (B) prometheus: a real
Prometheus scraping their `/metrics` every second and a real gomon with
`[fleet] prometheus_url`. For each, the latency of `GET /api/graph?scope=fleet` (the whole
view: fetch, join, JSON) over --requests requests, and the requests and bytes the view
fetched (its `stats`). The baseline, measured in the same run: one host's graph, `GET
/api/graph` of the viewer gomon itself (a real host: a socket discovery at most once per
interval, the graph probe, JSON), and the bytes of its `/api/endpoints` and `/api/nodegraph`.

Then the extrapolation to 100 and 1,000 hosts from the measured per-host figures (printed
with its assumptions). A benchmark, not a test: it prints tables and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests" / "e2e"))

from e2e_helpers import GomonProcess, ServiceProcess, free_port, http_get, require_tool, wait_until  # noqa: E402


def address_of(i: int) -> str:
    return f"10.{i // 250}.{i % 250}.1"


def fleet_model(hosts: int, listeners: int, outbound: int, seed: int = 14) -> list[dict]:
    """One endpoint table per simulated host (the /api/endpoints JSON)."""
    rng = random.Random(seed)
    tables = []
    for i in range(hosts):
        listening = [{"address": "0.0.0.0", "port": 22, "protocol": "tcp", "process": "sshd", "pid": 500},
                     {"address": "0.0.0.0", "port": 1234, "protocol": "tcp", "process": "gomon", "pid": 600}]
        for k in range(max(0, listeners - 2)):
            listening.append({"address": "0.0.0.0", "port": 8000 + k, "protocol": "tcp", "process": f"svc{k}",
                              "pid": 1000 + k})
        tables.append({"hostname": f"sim{i}", "addresses": [{"address": address_of(i), "interface": "eth0"}],
                       "listening": listening, "connections": []})
    for i, table in enumerate(tables):
        rows = {}
        for _ in range(outbound):
            process, pid = (f"app{rng.randrange(5)}", 2000 + rng.randrange(5))
            if hosts > 1 and rng.random() < 0.7:
                j = rng.choice([h for h in range(hosts) if h != i])
                target = rng.choice(tables[j]["listening"])
                remote, port = address_of(j), target["port"]
            else:
                remote, port = f"203.0.113.{rng.randrange(1, 255)}", rng.choice([443, 53, 5432, 6379])
            key = (process, pid, remote, port)
            rows[key] = rows.get(key, 0) + rng.randrange(1, 9)
        table["connections"] = [{"process": p, "pid": pid, "remoteAddress": r, "remotePort": port, "protocol": "tcp",
                                 "count": n} for (p, pid, r, port), n in sorted(rows.items())]
    return tables


def exposition(table: dict) -> str:
    """The /metrics body an agent with `[fleet] export = true` serves (by process name)."""
    lines = ["# TYPE gomon_host_address_info gauge"]
    lines += [f'gomon_host_address_info{{address="{a["address"]}",interface="{a["interface"]}"}} 1'
              for a in table["addresses"]]
    lines.append("# TYPE gomon_endpoint_listening gauge")
    lines += [f'gomon_endpoint_listening{{address="{l["address"]}",port="{l["port"]}",protocol="{l["protocol"]}",'
              f'process="{l["process"]}"}} 1' for l in table["listening"]]
    by_name: dict[tuple, int] = {}
    for c in table["connections"]:
        key = (c["process"], c["remoteAddress"], c["remotePort"], c["protocol"])
        by_name[key] = by_name.get(key, 0) + c["count"]
    lines.append("# TYPE gomon_endpoint_connections gauge")
    lines += [f'gomon_endpoint_connections{{process="{p}",remote_address="{r}",remote_port="{port}",'
              f'protocol="{proto}"}} {n}' for (p, r, port, proto), n in sorted(by_name.items())]
    lines.append("# TYPE gomon_endpoint_dropped_series gauge")
    lines += [f'gomon_endpoint_dropped_series{{family="{f}"}} 0' for f in
              ("gomon_host_address_info", "gomon_endpoint_listening", "gomon_endpoint_connections")]
    lines.append("# TYPE gomon_host_info gauge")
    lines.append(f'gomon_host_info{{hostname="{table["hostname"]}",kernel_release="6.1.0"}} 1')
    return "\n".join(lines) + "\n"


class SimulatedHost:
    def __init__(self, table: dict) -> None:
        self.endpoints = json.dumps(table).encode()
        self.metrics = exposition(table).encode()
        self.series = sum(1 for line in self.metrics.decode().splitlines() if line and not line.startswith("#"))
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: without TCP_NODELAY the body waits for the
            # client's delayed ACK (40 ms), which an agent (hyper, nodelay) never does.
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802
                body = {"/api/endpoints": host.endpoints, "/metrics": host.metrics}.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if body is host.endpoints else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed_gets(g: GomonProcess, path: str, params: dict, n: int) -> tuple[list[float], dict | None, int]:
    """Latencies (ms) of n GETs after one warm-up; the last JSON answer and its size."""
    r = g.get(path, params=params, timeout=60)
    assert r.status_code == 200, r.text
    times, answer, size = [], None, 0
    for _ in range(n):
        start = time.perf_counter()
        r = g.get(path, params=params, timeout=60)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.text
        size = len(r.content)
        answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
    return times, answer, size


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(body: str, name: str, **labels: str) -> float:
    for line in body.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def export_cost(work: Path, seconds: float) -> dict:
    """CPU per sampling cycle and the socket discovery's duration, export off and on (1 s interval)."""
    out = {}
    for export in (False, True):
        g = viewer(work / f"export-{export}", f"export = {'true' if export else 'false'}\n", interval="1s")
        try:
            time.sleep(2)  # past the first cycles (the probes' first calls)
            body = g.get("/metrics").text
            cpu0, cycles0 = cpu_seconds(g.pid), sum(metric(body, "gomon_samples_total", trigger=t)
                                                    for t in ("interval", "scrape", "reload"))
            time.sleep(seconds)
            body = g.get("/metrics").text
            cycles = sum(metric(body, "gomon_samples_total", trigger=t) for t in ("interval", "scrape", "reload"))
            out[export] = {"cpu_ms_per_cycle": (cpu_seconds(g.pid) - cpu0) * 1000 / max(1.0, cycles - cycles0),
                           "sockets_ms": metric(body, "gomon_collector_duration_seconds", collector="sockets") * 1000,
                           "cycle_ms": metric(body, "gomon_sample_duration_seconds") * 1000,
                           "series": sum(1 for line in body.splitlines()
                                         if line.startswith(("gomon_endpoint_", "gomon_host_address_info")))}
        finally:
            g.stop()
    return out


def viewer(work: Path, fleet_toml: str, interval: str = "15s") -> GomonProcess:
    work.mkdir(parents=True, exist_ok=True)
    config = work / "gomon.toml"
    config.write_text(f"[loki]\nurl = \"off\"\n[observe.files]\nenabled = false\n[fleet]\n{fleet_toml}")
    return GomonProcess(work, ["--config", str(config)], interval=interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="3,10,30")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--outbound", type=int, default=50)
    parser.add_argument("--export-seconds", type=float, default=20)
    args = parser.parse_args()
    sizes = [int(n) for n in args.hosts.split(",")]
    prometheus_bin = require_tool("prometheus")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gomon-fleet-bench-") as tmp:
        work = Path(tmp)
        # The baseline: one (real) host's graph, on a gomon that is also a viewer.
        base = viewer(work / "baseline", "")
        try:
            one, graph, one_size = timed_gets(base, "/api/graph", {}, args.requests)
            endpoints = base.get("/api/endpoints", timeout=30)
            nodegraph = base.get("/api/nodegraph", timeout=30)
            baseline = {"p50": statistics.median(one), "p90": percentile(one, 90), "bytes": one_size,
                        "nodes": len(graph["nodes"]), "endpoints_bytes": len(endpoints.content),
                        "nodegraph_bytes": len(nodegraph.content)}
        finally:
            base.stop()
        export = export_cost(work, args.export_seconds)
        for n in sizes:
            tables = fleet_model(n, args.listeners, args.outbound)
            hosts = [SimulatedHost(t) for t in tables]
            try:
                peers = ", ".join(f'"http://127.0.0.1:{h.port}"' for h in hosts)
                g = viewer(work / f"peers-{n}", f"peers = [{peers}]\ntimeout = \"10s\"\n")
                try:
                    times, answer, size = timed_gets(g, "/api/graph", {"scope": "fleet"}, args.requests)
                    assert not answer["missing"], answer["missing"]
                    rows.append(("peers", n, times, answer["stats"], size, len(answer["nodes"]), len(answer["edges"]),
                                 sum(h.series for h in hosts)))
                finally:
                    g.stop()
                port = free_port()
                pwork = work / f"prometheus-{n}"
                pwork.mkdir()
                targets = ", ".join(f"'127.0.0.1:{h.port}'" for h in hosts)
                (pwork / "prometheus.yml").write_text(textwrap.dedent(f"""\
                    global:
                      scrape_interval: 1s
                    scrape_configs:
                      - job_name: sim
                        static_configs:
                          - targets: [{targets}]
                    """))
                prom = ServiceProcess("prometheus", [prometheus_bin, f"--config.file={pwork / 'prometheus.yml'}",
                                                     f"--storage.tsdb.path={pwork / 'data'}",
                                                     f"--web.listen-address=127.0.0.1:{port}"], pwork)
                try:
                    prom.wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=60)

                    def all_up():
                        r = http_get(f"http://127.0.0.1:{port}/api/v1/query",
                                     params={"query": 'count(gomon_endpoint_dropped_series{job="sim"})'})
                        result = r.json()["data"]["result"]
                        return result and int(float(result[0]["value"][1])) == 3 * n
                    wait_until(all_up, 60, f"Prometheus to scrape the {n} simulated hosts")
                    g = viewer(work / f"viewer-prom-{n}", f'prometheus_url = "http://127.0.0.1:{port}"\njob = "sim"\n')
                    try:
                        times, answer, size = timed_gets(g, "/api/graph", {"scope": "fleet"}, args.requests)
                        assert not answer["missing"], answer["missing"]
                        rows.append(("prometheus", n, times, answer["stats"], size, len(answer["nodes"]),
                                     len(answer["edges"]), sum(h.series for h in hosts)))
                    finally:
                        g.stop()
                finally:
                    prom.stop()
            finally:
                for h in hosts:
                    h.close()

    print(f"Baseline, one host's graph (GET /api/graph on a real host, {baseline['nodes']} nodes): "
          f"p50 {baseline['p50']:.1f} ms, p90 {baseline['p90']:.1f} ms, {baseline['bytes']} bytes; "
          f"its /api/endpoints {baseline['endpoints_bytes']} bytes, /api/nodegraph {baseline['nodegraph_bytes']} bytes")
    print(f"Simulated hosts: {args.listeners} listeners and {args.outbound} outbound aggregates each "
          f"(70 % to another host's listener)\n")
    header = ("source", "hosts", "p50 ms", "p90 ms", "× one host", "requests", "bytes fetched", "× one host",
              "bytes/host", "answer bytes", "nodes", "edges", "series")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    per_host = {}
    for source, n, times, stats, size, nodes, edges, series in rows:
        p50 = statistics.median(times)
        per_host.setdefault(source, []).append((n, stats["bytes"] / n, p50))
        print(" | ".join(str(x) for x in (
            source, n, f"{p50:.1f}", f"{percentile(times, 90):.1f}", f"{p50 / baseline['p50']:.2f}",
            stats["requests"], stats["bytes"], f"{stats['bytes'] / baseline['nodegraph_bytes']:.2f}",
            f"{stats['bytes'] / n:.0f}", size, nodes, edges, series)))
    off, on = export[False], export[True]
    print(f"\nThe export's cost on a real host (1 s interval, {args.export_seconds:.0f} s each): CPU per cycle "
          f"{off['cpu_ms_per_cycle']:.2f} ms off, {on['cpu_ms_per_cycle']:.2f} ms on "
          f"(× {on['cpu_ms_per_cycle'] / max(off['cpu_ms_per_cycle'], 1e-9):.2f}); last cycle {off['cycle_ms']:.2f} ms off, "
          f"{on['cycle_ms']:.2f} ms on; socket discovery {on['sockets_ms']:.2f} ms; {on['series']} endpoint series")
    print("\nExtrapolation (bytes per host from the largest run; latency by a straight line through the runs):")
    for source, points in per_host.items():
        n_max, bytes_per_host, _ = points[-1]
        if len(points) > 1:
            (n0, _, t0), (n1, _, t1) = points[0], points[-1]
            slope = (t1 - t0) / (n1 - n0)
        else:
            slope, t0, n0 = 0.0, points[0][2], points[0][0]
        for n in (100, 1000):
            requests = n if source == "peers" else 2
            print(f"  {source}: {n} hosts: {requests} requests, {bytes_per_host * n / 1e6:.1f} MB fetched per view, "
                  f"~{t0 + slope * (n - n0):.0f} ms (linear)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
