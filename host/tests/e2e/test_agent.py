"""The one agent: what `gomon run` and plugin mode share because both start
`host/src/agent/`.

- Plugin mode is the full agent: it serves `/metrics` and `/gomon` on its listen
  address, as the original data source did on port 1234.
- Observations go to a local Loki (`localhost:3100`) while it answers and to the local
  file while it does not; each line lands in exactly one of them.
- Connections are discovered when something asks (a graph request), not on a schedule.
- A health check right after start says "starting", never "failed".
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from e2e_helpers import free_port, new_session, wait_until
from loki_receiver import LokiReceiver
from plugin_harness import PluginProcess, stubs
from test_observations import append, start_gomon

LOCAL_LOKI_PORT = 3100


def test_plugin_mode_serves_metrics_and_the_page(tmp_path):
    port = free_port()
    p = PluginProcess(tmp_path / "plugin", config_extra=f'listen = "127.0.0.1:{port}"\n')
    try:
        cert = tmp_path / "plugin" / "state" / "tls" / "cert.pem"
        wait_until(cert.is_file, 60, "the plugin's generated certificate", describe=p.describe)
        session = new_session(cert)

        def metrics():
            r = session.get(f"https://127.0.0.1:{port}/metrics", timeout=5)
            return r.status_code == 200 and "gomon_cpu_seconds_total" in r.text and r.text

        text = wait_until(metrics, 60, "the plugin's /metrics", describe=p.describe)
        assert "gomon_build_info" in text
        page = session.get(f"https://127.0.0.1:{port}/gomon", timeout=30)
        assert page.status_code == 200 and "<svg" in page.text, page.text[:500]
        # The same agent answers gRPC: the node graph holds the plugin's own process.
        nodes, _ = p.frames(p.query(p.data_query("A", "nodegraph", {})), "A")
        assert str(p.pid) in nodes.field("id").values
    finally:
        assert p.stop() == 0


def test_plugin_without_a_local_agent_serves_nothing_of_its_own(tmp_path):
    port = free_port()
    p = PluginProcess(tmp_path / "plugin", config_extra=f'listen = "127.0.0.1:{port}"\n[plugin]\nlocal_agent = false\n')
    try:
        wait_until(lambda: "no local agent" in p.stderr_text(), 30, "the no-agent notice", describe=p.describe)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens on the configured address"
        assert not (tmp_path / "plugin" / "state").exists(), "no state directory is made"
    finally:
        assert p.stop() == 0


def test_check_health_right_after_start_is_never_a_failure(tmp_path):
    p = PluginProcess(tmp_path / "plugin")
    try:
        pb = stubs().pb
        response = p.check_health()  # at once: the agent is still starting behind the handshake
        assert response.status in (pb.CheckHealthResponse.OK, pb.CheckHealthResponse.UNKNOWN), response.message
        if response.status == pb.CheckHealthResponse.UNKNOWN:
            assert response.message.startswith("gomon is still starting"), response.message
    finally:
        assert p.stop() == 0


def test_connections_are_discovered_when_a_graph_asks(gomon_factory):
    g = gomon_factory()
    wait_until(lambda: (g.scrape().get("gomon_samples_total", trigger="interval") or 0) >= 3, 30,
               "three cycles", describe=g.describe)
    threads = [p.read_text().strip() for p in Path(f"/proc/{g.pid}/task").glob("*/comm")]
    assert "gomon-sockets" not in threads, threads
    scrape = g.scrape()
    assert scrape.get("gomon_collector_duration_seconds", collector="sockets") is None, \
        "no probe measures connections, so no cycle discovered them"
    # A graph request discovers them: gomon's own listening socket links its process to a socket.
    with socket.create_connection(("127.0.0.1", g.port)) as client:
        graph = g.get("/api/graph", timeout=30).json()
        edges = [e for e in graph["edges"] if str(g.pid) in (e["source"], e["target"])]
        assert edges, f"no connection of gomon[{g.pid}] in the graph: {json.dumps(graph)[:2000]}"
        client.getsockname()


@pytest.fixture
def local_loki_port_free():
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", LOCAL_LOKI_PORT))
        except OSError as e:
            pytest.fail(f"port {LOCAL_LOKI_PORT} is in use ({e}): this test plays the local Loki there")


def test_observations_follow_the_local_loki(gomon_factory, tmp_path, local_loki_port_free):
    """No Loki URL: lines go to the file, then to the Loki that starts answering on
    localhost:3100, then to the file again when it stops: each line exactly once."""
    g, _, log_file = start_gomon(gomon_factory, tmp_path, {"ready_interval": "500ms"}, process=False)
    path = g.state_dir / "observations" / "observations.ndjson"

    def in_file(tag: str) -> list[str]:
        if not path.exists():
            return []
        return [json.loads(line)["line"] for line in path.read_text().splitlines() if tag in line]

    def write(tag: str) -> list[str]:
        lines = [f"{tag} line {i}" for i in range(5)]
        for line in lines:
            append(log_file, line)
        return lines

    before = write("before-loki")
    wait_until(lambda: len(in_file("before-loki")) == 5, 30, "the first lines in the file", describe=g.describe)

    rx = LokiReceiver(port=LOCAL_LOKI_PORT).start()
    try:
        wait_until(lambda: "observations now go to Loki" in g.stderr_text(), 30, "the switch to Loki",
                   describe=g.describe)
        during = write("with-loki")
        wait_until(lambda: len([e for e in rx.entries() if "with-loki" in e.line]) == 5, 30,
                   "the second lines in Loki", describe=g.describe)
        health = g.get("/api/health").json()
        outlet = next(c for c in health if c["name"] == "observations")
        assert "local Loki" in outlet["message"], outlet
    finally:
        rx.stop()
    wait_until(lambda: "observations now go to the local file" in g.stderr_text(), 30, "the switch back",
               describe=g.describe)
    after = write("after-loki")
    wait_until(lambda: len(in_file("after-loki")) == 5, 30, "the third lines in the file", describe=g.describe)

    in_loki = [e.line for e in rx.entries() if "-loki line" in e.line]
    file_lines = in_file("-loki line")
    assert sorted(in_loki) == sorted(during), "Loki got exactly the lines written while it answered"
    assert sorted(file_lines) == sorted(before + after), "the file got exactly the others"
    assert not rx.problems(), rx.problems()
