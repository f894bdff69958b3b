"""The fleet's connection graph on simulated hosts (issue #14).

Five network namespaces made here (fleet_hosts.py: one subnet, a bridge in a hub namespace,
each namespace its own address), one gomon agent in each of four (a, b, c, d) with
`[fleet] export = true` and an API token, none in the fifth (x: a host outside the fleet).
Real TCP and UDP servers and clients between them, each process naming itself:

    a: fleet-app   → b:fleet-db ×2 (bound to every address), c:fleet-cache ×1 (bound to c's
                     address), c:fleet-dns ×1 (UDP), d:fleet-queue ×1, x:fleet-ext ×1 (no agent
                     there: unmatched), 127.0.0.1:fleet-side ×1 (on a itself: loopback)
    c: fleet-worker → b:fleet-db ×1

The fleet graph must hold exactly those edges: from the agents themselves (a gomon in the
root namespace with `[fleet] peers`, pids known) and from a real Prometheus scraping the four
agents over TLS (a gomon with `[fleet] prometheus_url`, processes by name), the page and its
drill-down, Grafana's fleet scope through the plugin harness, and with agent d stopped: d is
reported, the rest still drawn, and a's connection to d becomes a host node. Trust: the fleet
scope needs the viewer's token, and drill-down asks no host outside the fleet.

Everything made is deleted in `finally` (Subnet.close).
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest

from e2e_helpers import GomonProcess, ServiceProcess, free_port, gomon_bin, new_session, require_tool, wait_until
from fleet_hosts import Subnet, TestCert
from plugin_harness import PluginProcess

AGENT_PORT = 9234
TOKEN = "fleet-test-token"

AGENT_CONFIG = """\
api_token_file = "{token}"
[loki]
url = "off"
[observe]
process = false
[observe.files]
enabled = false
[observe.logs]
files = []
kmsg = false
journal = "off"
[sample]
resolve_hosts = false
[fleet]
export = true
"""


class Agent:
    """gomon inside a host's namespace, on <address>:9234 with the shared certificate."""

    def __init__(self, host, work: Path, cert: TestCert, token_file: Path) -> None:
        self.host = host
        self.label = f"{host.address}:{AGENT_PORT}"
        self.url = f"https://{self.label}"
        work.mkdir(parents=True, exist_ok=True)
        config = work / "gomon.toml"
        config.write_text(AGENT_CONFIG.format(token=token_file))
        self.stderr_path = work / "stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = host.run([str(gomon_bin()), "--config", str(config), "--state-dir", str(work / "state"),
                              "--listen", self.label, "--interval", "2s", "--tls-cert", str(cert.cert),
                              "--tls-key", str(cert.key)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=self._stderr)
        self.session = new_session(cert.cert)
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"
        wait_until(self.ready, 60, f"the agent of {host.name} at {self.url}", describe=self.describe)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the agent of {self.host.name} exited\n{self.describe()}")
        return self.session.get(f"{self.url}/metrics", timeout=5).status_code == 200

    def describe(self) -> str:
        self._stderr.flush()
        return f"agent {self.label}:\n{self.stderr_path.read_text(errors='replace')[-3000:]}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._stderr.close()


class Fleet:
    """The simulated fleet: hosts, processes with known connections, agents, expected edges."""

    def __init__(self, work: Path) -> None:
        self.subnet = Subnet("fleet")
        self.agents: dict[str, Agent] = {}
        try:
            hosts = {name: self.subnet.add_host(name) for name in ("a", "b", "c", "d", "x")}
            self.hosts = hosts
            self.cert = TestCert(work / "tls", [h.address for h in hosts.values()])
            self.token_file = work / "token"
            self.token_file.write_text(TOKEN + "\n")
            self.token_file.chmod(0o600)
            a, b, c, d, x = (hosts[n] for n in "abcdx")
            self.pids: dict[str, int] = {}
            db, db_port = b.server("fleet-db")
            cache, cache_port = c.server("fleet-cache", bind=c.address)
            dns, dns_port = c.server("fleet-dns", proto="udp")
            queue, queue_port = d.server("fleet-queue")
            ext, ext_port = x.server("fleet-ext")
            side, side_port = a.server("fleet-side", bind="127.0.0.1")
            app = a.client("fleet-app", [("tcp", b.address, db_port, 2), ("tcp", c.address, cache_port, 1),
                                         ("udp", c.address, dns_port, 1), ("tcp", d.address, queue_port, 1),
                                         ("tcp", x.address, ext_port, 1), ("tcp", "127.0.0.1", side_port, 1)])
            worker = c.client("fleet-worker", [("tcp", b.address, db_port, 1)])
            self.pids = {"db": db.pid, "cache": cache.pid, "dns": dns.pid, "queue": queue.pid, "ext": ext.pid,
                         "side": side.pid, "app": app.pid, "worker": worker.pid}
            self.ports = {"db": db_port, "cache": cache_port, "dns": dns_port, "queue": queue_port,
                          "ext": ext_port, "side": side_port}
            for name in "abcd":
                self.agents[name] = Agent(hosts[name], work / f"agent-{name}", self.cert, self.token_file)
        except BaseException:
            self.close()
            raise

    def label(self, host: str) -> str:
        return self.agents[host].label

    def expected(self, by_pid: bool, without: str = "") -> set[tuple[str, str, str]]:
        """(source, target, main stat) of every edge the fleet graph must hold."""
        def node(host: str, process: str, name: str) -> str:
            return f"{self.label(host)}/{self.pids[process]}" if by_pid else f"{self.label(host)}/name:{name}"

        app = node("a", "app", "fleet-app")
        edges = {
            (app, node("b", "db", "fleet-db"), "2 connections"),
            (app, node("c", "cache", "fleet-cache"), "1 connection"),
            (app, node("c", "dns", "fleet-dns"), "1 connection"),
            (app, node("d", "queue", "fleet-queue"), "1 connection"),
            (app, f"host:{self.hosts['x'].address}:{self.ports['ext']}", "1 connection"),
            (app, node("a", "side", "fleet-side"), "1 connection"),
            (node("c", "worker", "fleet-worker"), node("b", "db", "fleet-db"), "1 connection"),
        }
        if without == "d":
            edges.discard((app, node("d", "queue", "fleet-queue"), "1 connection"))
            edges.add((app, f"host:{self.hosts['d'].address}:{self.ports['queue']}", "1 connection"))
        return edges

    def close(self) -> None:
        for agent in self.agents.values():
            agent.stop()
        self.subnet.close()


def edges_of(graph: dict) -> set[tuple[str, str, str]]:
    return {(e["source"], e["target"], e["mainStat"]) for e in graph["edges"]}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces")
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def peers_viewer(fleet, tmp_path_factory):
    """A gomon in the root namespace whose fleet view asks the four agents."""
    work = tmp_path_factory.mktemp("viewer-peers")
    config = work / "gomon.toml"
    peers = ", ".join(f'"{a.url}"' for a in fleet.agents.values())
    config.write_text(textwrap.dedent(f"""\
        api_token_file = "{fleet.token_file}"
        [loki]
        url = "off"
        [fleet]
        peers = [{peers}]
        tls_ca_file = "{fleet.cert.cert}"
        token_file = "{fleet.token_file}"
        timeout = "3s"
        """))
    g = GomonProcess(work, ["--config", str(config)], interval="2s")
    g.session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield g
    g.stop_and_check()


@pytest.fixture(scope="module")
def prometheus_viewer(fleet, tmp_path_factory):
    """A real Prometheus scraping the four agents (job `fleet`), and a gomon whose fleet view asks it."""
    binary = require_tool("prometheus")
    work = tmp_path_factory.mktemp("fleet-prometheus")
    port = free_port()
    targets = ", ".join(f"'{a.label}'" for a in fleet.agents.values())
    (work / "prometheus.yml").write_text(textwrap.dedent(f"""\
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
        scrape_configs:
          - job_name: fleet
            scheme: https
            tls_config:
              ca_file: {fleet.cert.cert}
            static_configs:
              - targets: [{targets}]
        """))
    prom = ServiceProcess("prometheus", [binary, f"--config.file={work / 'prometheus.yml'}",
                                         f"--storage.tsdb.path={work / 'data'}",
                                         f"--web.listen-address=127.0.0.1:{port}"], work)
    config = work / "gomon.toml"
    config.write_text(textwrap.dedent(f"""\
        [loki]
        url = "off"
        [fleet]
        prometheus_url = "http://127.0.0.1:{port}"
        job = "fleet"
        tls_ca_file = "{fleet.cert.cert}"
        token_file = "{fleet.token_file}"
        timeout = "3s"
        """))
    g = None
    try:
        prom.wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        g = GomonProcess(work / "viewer", ["--config", str(config)], interval="2s")
        g.prometheus_port = port
        yield g
    finally:
        if g is not None:
            g.stop_and_check()
        prom.stop()


class NotYet(Exception):
    """An answer that a poll may retry (wait_until re-raises AssertionErrors at once)."""


def fleet_graph(viewer: GomonProcess, **params) -> dict:
    r = viewer.get("/api/graph", params={"scope": "fleet", **params}, timeout=20)
    if r.status_code != 200:
        raise NotYet(f"{r.status_code}: {r.text}")
    return r.json()


def test_agents_export_endpoint_series_that_promtool_accepts(fleet):
    b = fleet.agents["b"]
    body = b.session.get(f"{b.url}/metrics", timeout=10).text
    db = fleet.ports["db"]
    line = f'gomon_endpoint_listening{{address="0.0.0.0",port="{db}",protocol="tcp",process="fleet-db"}} 1'
    assert line in body, "\n".join(l for l in body.splitlines() if "endpoint" in l)
    assert f'gomon_host_address_info{{address="{fleet.hosts["b"].address}",interface="eth0"}} 1' in body
    promtool = require_tool("promtool")
    families = "\n".join(l for l in body.splitlines() if "gomon_endpoint" in l or "gomon_host_address" in l)
    r = subprocess.run([promtool, "check", "metrics"], input=families + "\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr

    a = fleet.agents["a"]

    def connections():
        text = a.session.get(f"{a.url}/metrics", timeout=10).text
        return re.findall(r'gomon_endpoint_connections\{process="fleet-app",remote_address="([^"]+)",'
                          r'remote_port="(\d+)",protocol="(\w+)"\} (\d+)', text)

    want = {(fleet.hosts["b"].address, str(db), "tcp", "2"), (fleet.hosts["x"].address, str(fleet.ports["ext"]), "tcp", "1"),
            (fleet.hosts["c"].address, str(fleet.ports["dns"]), "udp", "1"), ("127.0.0.1", str(fleet.ports["side"]), "tcp", "1")}
    found = wait_until(lambda: want <= set(connections()) and connections(), 30, "fleet-app's outbound series")
    # The local ephemeral port is never a label: one series per remote endpoint.
    assert len(found) == 6, found


def test_the_endpoint_api_needs_the_token_and_lists_pids(fleet):
    a = fleet.agents["a"]
    anonymous = new_session(fleet.cert.cert)
    assert anonymous.get(f"{a.url}/api/endpoints", timeout=10).status_code == 401
    table = a.session.get(f"{a.url}/api/endpoints", timeout=10).json()
    assert {"address": fleet.hosts["a"].address, "interface": "eth0"} in table["addresses"]
    rows = [c for c in table["connections"] if c["process"] == "fleet-app"]
    assert {c["pid"] for c in rows} == {fleet.pids["app"]}, rows
    side = [l for l in table["listening"] if l["process"] == "fleet-side"]
    assert side == [{"address": "127.0.0.1", "port": fleet.ports["side"], "protocol": "tcp", "process": "fleet-side",
                     "pid": fleet.pids["side"]}]


def test_the_fleet_graph_from_the_agents_holds_exactly_the_connections(fleet, peers_viewer):
    want = fleet.expected(by_pid=True)
    graph = wait_until(lambda: (g := fleet_graph(peers_viewer)) and edges_of(g) == want and g, 30,
                       "the fleet graph from the peers",
                       describe=lambda: json.dumps(edges_of_or_error(peers_viewer), indent=1, default=list))
    assert graph["missing"] == [] and graph["stats"]["hosts"] == 4, graph
    assert graph["stats"]["requests"] == 4 and graph["stats"]["bytes"] > 0
    nodes = {n["id"]: n for n in graph["nodes"]}
    db = nodes[f"{fleet.label('b')}/{fleet.pids['db']}"]
    assert (db["title"], db["subtitle"]) == ("fleet-db", fleet.label("b"))
    ext = nodes[f"host:{fleet.hosts['x'].address}:{fleet.ports['ext']}"]
    assert ext["kind"] == "host"
    assert any(k == "unmatched" and "no agent" in v for k, v in ext["details"]), ext
    assert any("matched no agent" in n["text"] for n in graph["notices"]), graph["notices"]
    edge = next(e for e in graph["edges"] if e["target"] == db["id"] and "app" in e["details"][0])
    assert edge["details"] == [f"tcp:fleet-app[{fleet.pids['app']}]@{fleet.label('a')} → "
                               f"{fleet.hosts['b'].address}:{fleet.ports['db']} fleet-db[{fleet.pids['db']}]@"
                               f"{fleet.label('b')} (2 connections)"]


def edges_of_or_error(viewer) -> object:
    try:
        return sorted(edges_of(fleet_graph(viewer)))
    except AssertionError as e:
        return str(e)


def test_the_fleet_scope_needs_the_token_and_drills_down_only_into_the_fleet(fleet, peers_viewer):
    anonymous = new_session(peers_viewer.cert)
    r = anonymous.get(peers_viewer.url("/api/graph"), params={"scope": "fleet"}, timeout=10)
    assert r.status_code == 401, r.text
    r = anonymous.get(peers_viewer.url("/gomon"), params={"scope": "fleet"}, timeout=10)
    assert r.status_code == 401
    # Drill-down: one host's graph from its agent, ids prefixed, focused on the process.
    node = f"{fleet.label('a')}/{fleet.pids['app']}"
    drilled = fleet_graph(peers_viewer, pid=node)
    ids = {n["id"] for n in drilled["nodes"]}
    assert node in ids and drilled["host"] == fleet.label("a"), ids
    assert all(i.startswith(fleet.label("a") + "/") for i in ids), ids
    # A host outside the fleet is never asked (the viewer holds credentials).
    r = peers_viewer.get("/api/graph", params={"scope": "fleet", "pid": "127.0.0.1:22/1"}, timeout=10)
    assert r.status_code == 400 and "not an agent of the fleet" in r.text, r.text
    assert peers_viewer.get("/api/graph", params={"scope": "planet"}).status_code == 400


def test_the_fleet_page_groups_hosts_and_links_drill_down(fleet, peers_viewer):
    wait_until(lambda: edges_of(fleet_graph(peers_viewer)) == fleet.expected(by_pid=True), 30, "the fleet graph")
    r = peers_viewer.get("/gomon", params={"scope": "fleet"}, timeout=20)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
    page = r.text
    for name in "abcd":
        assert f"Host {fleet.label(name)}" in page, name
    app_link = f"?scope=fleet&amp;pid={fleet.hosts['a'].address}%3A{AGENT_PORT}%2F{fleet.pids['app']}"
    assert app_link in page, re.findall(r'href="[^"]*scope=fleet[^"]*"', page)[:5]
    r = peers_viewer.get("/gomon/svg", params={"scope": "fleet", "pid": f"{fleet.label('a')}/{fleet.pids['app']}"},
                         timeout=20)
    assert r.status_code == 200 and r.text.startswith("<svg"), r.text[:200]
    svg = html.unescape(r.text)
    assert f"Host: {fleet.label('a')} · Process: fleet-app[{fleet.pids['app']}]" in svg, svg[:1500]
    # Links on a host's graph stay on that host.
    side = f"?scope=fleet&pid={fleet.hosts['a'].address}%3A{AGENT_PORT}%2F{fleet.pids['side']}"
    assert side in svg, re.findall(r'href="[^"]*"', svg)[:5]


def test_the_fleet_graph_from_prometheus_holds_exactly_the_connections(fleet, prometheus_viewer):
    want = fleet.expected(by_pid=False)
    graph = wait_until(lambda: (g := fleet_graph(prometheus_viewer)) and edges_of(g) == want and g, 60,
                       "the fleet graph from Prometheus",
                       describe=lambda: json.dumps(edges_of_or_error(prometheus_viewer), indent=1, default=list))
    assert graph["stats"]["source"] == "prometheus" and graph["stats"]["requests"] == 2, graph["stats"]
    assert graph["missing"] == [], graph["missing"]
    # Drill-down by name asks that host's agent (the instance is a target of the job).
    drilled = fleet_graph(prometheus_viewer, pid=f"{fleet.label('b')}/name:fleet-db")
    assert f"{fleet.label('b')}/{fleet.pids['db']}" in {n["id"] for n in drilled["nodes"]}, drilled["notices"]


def test_grafana_fleet_scope_through_the_plugin(fleet, tmp_path):
    plugin = PluginProcess(tmp_path / "plugin", config_extra="[plugin]\nlocal_agent = false\n")
    try:
        context = plugin.context(json_data={"fleetPeers": [a.url for a in fleet.agents.values()]},
                                 secure={"agentCaCert": fleet.cert.cert.read_text(), "agentToken": TOKEN})
        want = fleet.expected(by_pid=True)

        def frames():
            response = plugin.query(plugin.data_query("A", "nodegraph", {"scope": "fleet"}), context=context)
            nodes, edges = plugin.frames(response, "A")
            got = set(zip(edges.field("source").values, edges.field("target").values, edges.field("mainstat").values))
            return (nodes, edges) if got == want else None

        nodes, edges = wait_until(frames, 30, "the fleet frames", describe=plugin.describe)
        link = nodes.field("id").config["links"][0]["internal"]["query"]
        assert link["scope"] == "fleet" and link["pid"] == "${__value.raw}", link
        titles = dict(zip(nodes.field("id").values, nodes.field("subtitle").values))
        assert titles[f"{fleet.label('c')}/{fleet.pids['worker']}"] == fleet.label("c")
        # The data link's query: one host's graph.
        node = f"{fleet.label('c')}/{fleet.pids['worker']}"
        response = plugin.query(plugin.data_query("B", "nodegraph", {"scope": "fleet", "pid": node}), context=context)
        drilled, _ = plugin.frames(response, "B")
        assert node in drilled.field("id").values
    finally:
        plugin.stop()


class HostilePeers:
    """Two peers on loopback: one accepts and never answers, one answers 200 with garbage."""

    def __init__(self) -> None:
        self.hang = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.garbage = socket.create_server(("127.0.0.1", 0))
        self.stopping = False
        threading.Thread(target=self._hold, daemon=True).start()
        threading.Thread(target=self._garble, daemon=True).start()

    def _hold(self) -> None:
        while not self.stopping:
            try:
                self.held.append(self.hang.accept()[0])
            except OSError:
                return

    def _garble(self) -> None:
        while not self.stopping:
            try:
                conn = self.garbage.accept()[0]
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n"
                             b"Connection: close\r\n\r\nnot json!")

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.hang.getsockname()[1]}", f"http://127.0.0.1:{self.garbage.getsockname()[1]}"]

    def close(self) -> None:
        self.stopping = True
        self.hang.close()
        self.garbage.close()
        for conn in self.held:
            conn.close()


def test_a_hanging_or_lying_peer_is_reported_and_the_rest_drawn(fleet, tmp_path):
    hostile = HostilePeers()
    try:
        peers = ", ".join(f'"{u}"' for u in [fleet.agents["a"].url, *hostile.urls()])
        config = tmp_path / "gomon.toml"
        config.write_text(textwrap.dedent(f"""\
            [loki]
            url = "off"
            [fleet]
            peers = [{peers}]
            tls_ca_file = "{fleet.cert.cert}"
            token_file = "{fleet.token_file}"
            timeout = "2s"
            """))
        g = GomonProcess(tmp_path / "viewer", ["--config", str(config)], interval="2s")
        try:
            graph = fleet_graph(g)
            hang, garbage = (u.removeprefix("http://") for u in hostile.urls())
            reasons = {m["host"]: m["reason"] for m in graph["missing"]}
            assert set(reasons) == {hang, garbage}, reasons
            assert "no answer within 2s" in reasons[hang], reasons
            assert "unexpected answer" in reasons[garbage], reasons
            # a's own connections are still drawn (to hosts this viewer's fleet lacks: unmatched).
            app = f"{fleet.label('a')}/{fleet.pids['app']}"
            assert any(e["source"] == app for e in graph["edges"]), graph["edges"]
        finally:
            g.stop_and_check()
    finally:
        hostile.close()


def test_an_agent_that_is_down_is_reported_and_the_rest_drawn(fleet, peers_viewer, prometheus_viewer):
    fleet.agents["d"].stop()
    want = fleet.expected(by_pid=True, without="d")
    graph = wait_until(lambda: (g := fleet_graph(peers_viewer)) and edges_of(g) == want and g, 30,
                       "the fleet graph without d", describe=lambda: str(edges_of_or_error(peers_viewer)))
    assert [m["host"] for m in graph["missing"]] == [fleet.label("d")], graph["missing"]
    assert any(n["warning"] and fleet.label("d") in n["text"] for n in graph["notices"]), graph["notices"]
    page = peers_viewer.get("/gomon", params={"scope": "fleet"}, timeout=20).text
    assert "did not answer" in page and fleet.label("d") in page

    want = fleet.expected(by_pid=False, without="d")
    graph = wait_until(lambda: (g := fleet_graph(prometheus_viewer)) and g["missing"] and edges_of(g) == want and g,
                       60, "Prometheus to report d down", describe=lambda: str(fleet_graph(prometheus_viewer)))
    assert graph["missing"] == [{"host": fleet.label("d"), "reason": graph["missing"][0]["reason"]}]
    assert "up == 0" in graph["missing"][0]["reason"]
