"""The connection graph (/api/graph) against connections the test makes itself.

The test starts real processes (children.py) with known connections between them:

    test ─┬─ gm-tcp-server ══tcp══ gm-tcp-client       (siblings; listener kept open;
          │                                              IPv4, IPv6, and dual-stack)
          ├─ gm-tcp-client
          ├─ gm-unix-a ─fork─ gm-unix-b                 (unix stream socketpair, one end each)
          └─ gm-pipe-w ─fork─ gm-pipe-r                 (pipe: parent writes, child reads)

then starts gomon (interval 1 s) and polls /api/graph (the overview) and
/api/graph?pid=N (the view focused on each of the six children) until socket
discovery has seen them. It asserts that the edges touching those pids are *exactly*
the expected ones: the connections above, with the right endpoints and kind in
`details`, plus the process-tree (`parent:`) edge the graph probe draws from every
shown process's parent, when that is shown too (probes/graph: one edge per pair of
processes, from the shallower to the deeper, the lower pid first on a tie; `parent:`
lines first, then the connection lines sorted), and, in the view focused on the TCP
server, its listening socket as a data node. Nothing else may touch them: no host node (the TCP peers are
local processes, so the edge is process ↔ process), no pipe to the test (readiness
pipes are closed before gomon starts), no stray data node.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from children import Children
from e2e_helpers import GomonProcess

DEADLINE = 15.0  # seconds for discovery to show every expected edge


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().rstrip("\n")


class Expect:
    """The expected graph around the test's children, built from what the test knows
    (pids, names, ports, inodes), never from gomon's output."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def label(self, pid: int) -> str:
        return f"{self.names[pid]}[{pid}]"

    def tree(self, parent: int, child: int) -> tuple[tuple[str, str], list[str]]:
        return (str(parent), str(child)), [f"parent:{self.label(parent)} → {self.label(child)}"]

    def tree_and(self, kind: str, parent: int, child: int) -> tuple[tuple[str, str], list[str]]:
        """A parent → child edge that also carries a connection between the two."""
        key, lines = self.tree(parent, child)
        return key, lines + [f"{kind}:{self.label(parent)} → {self.label(child)}"]

    def siblings(self, kind: str, a: int, b: int) -> tuple[tuple[str, str], list[str]]:
        """A connection between two processes of one depth: from the lower pid."""
        lo, hi = sorted((a, b))
        return (str(lo), str(hi)), [f"{kind}:{self.label(lo)} → {self.label(hi)}"]


def edges_touching(graph: dict, pids: set[str]) -> dict[tuple[str, str], list[str]]:
    out = {}
    for e in graph["edges"]:
        if e["source"] in pids or e["target"] in pids:
            key = (e["source"], e["target"])
            assert key not in out, f"two edges {key}: {out[key]} and {e['details']}"
            out[key] = e["details"]
    return out


def fetch(g: GomonProcess, path: str) -> dict:
    r = g.get(path)
    assert r.status_code == 200, f"GET {path} -> {r.status_code}: {r.text[:300]}\n{g.describe()}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    graph = r.json()
    assert set(graph) == {"nodes", "edges"}, f"{path}: keys {sorted(graph)}"
    return graph


def poll_view(g: GomonProcess, path: str, expected: dict, pids: set[str]) -> dict:
    """Polls `path` until every expected edge is there (discovery has caught up), then
    returns that graph. Extra edges do not end the wait: the caller asserts on them."""
    deadline = time.monotonic() + DEADLINE
    while True:
        assert g.alive(), f"gomon died\n{g.describe()}"
        graph = fetch(g, path)
        have = edges_touching(graph, pids)
        missing = {k: v for k, v in expected.items() if have.get(k) != v}
        if not missing:
            return graph
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{path}: after {DEADLINE:.0f}s these expected edges are still missing or different:\n"
                f"  missing/expected: {missing}\n  edges touching the test's pids: {have}\n{g.describe()}"
            )
        time.sleep(0.2)


def assert_exactly(path: str, graph: dict, expected: dict, pids: set[str]) -> None:
    have = edges_touching(graph, pids)
    extra = {k: v for k, v in have.items() if k not in expected}
    assert not extra, f"{path}: edges touching the test's pids that should not be there: {extra}\nall: {have}"
    assert have == expected, f"{path}: edges differ\n  have:     {have}\n  expected: {expected}"


def loopback_available(host: str) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def endpoint(host: str, port: int) -> str:
    """How the graph probe writes an address and port: IPv6 in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def process_node(graph: dict, pid: int) -> dict:
    found = [n for n in graph["nodes"] if n["id"] == str(pid)]
    assert len(found) == 1, f"{len(found)} nodes with id {pid}: {found}"
    return found[0]


@pytest.fixture(params=[("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::", "127.0.0.1")],
                ids=["ipv4", "ipv6", "dual-stack"])
def tcp_addresses(request) -> tuple[str, str]:
    """(listen, connect) addresses of the TCP pair: IPv4 and IPv6 loopback (sock_diag
    dumps them separately), and an IPv6 wildcard listener reached over IPv4, whose
    accepted socket has IPv4-mapped addresses that must pair with the client's IPv4 ones."""
    for host in set(request.param):
        if not loopback_available(host):
            pytest.skip(f"{host} cannot be bound on this machine (IPv6 disabled?)")
    return request.param


@pytest.fixture
def connected(tmp_path, tcp_addresses):
    """The children of the module docstring, ready, with what they reported."""
    listen, connect = tcp_addresses
    with Children(tmp_path / "children") as children:
        server = children.start("tcp-server", "gm-tcp-server", listen)
        port = server.message()["port"]
        client = children.start("tcp-client", "gm-tcp-client", connect, port)
        pair = children.start("unix-pair", "gm-unix-a", "gm-unix-b")
        pipe = children.start("pipe-parent", "gm-pipe-w", "gm-pipe-r")
        info = {c.name: c.wait_ready() for c in (server, client, pair, pipe)}
        assert info["gm-tcp-server"]["peer_port"] == info["gm-tcp-client"]["local_port"], info
        yield info


def test_graph_shows_exactly_the_known_connections(connected, tcp_addresses, gomon_factory):
    listen = tcp_addresses[0]
    me = os.getpid()
    server, client = connected["gm-tcp-server"], connected["gm-tcp-client"]
    pair, pipe = connected["gm-unix-a"], connected["gm-pipe-w"]
    S, C = server["pid"], client["pid"]
    A, B = pair["pid"], pair["child"]
    P, Q = pipe["pid"], pipe["child"]
    names = {me: comm(me), S: "gm-tcp-server", C: "gm-tcp-client", A: "gm-unix-a", B: "gm-unix-b",
             P: "gm-pipe-w", Q: "gm-pipe-r"}
    for pid in (S, C, A, B, P, Q):  # the children really are who the test thinks
        assert comm(pid) == names[pid], f"pid {pid}: comm {comm(pid)!r}, expected {names[pid]!r}"
    x = Expect(names)
    ours = {str(p) for p in (S, C, A, B, P, Q)}
    listener = f"data:tcp:{server['listener_inode']}"

    tcp = x.siblings("tcp", S, C)
    unix = x.tree_and("unix-stream", A, B)
    pipe_edge = x.tree_and("pipe", P, Q)
    overview = dict([x.tree(me, S), x.tree(me, C), x.tree(me, A), x.tree(me, P), tcp, unix, pipe_edge])
    focused = {
        S: dict([x.tree(me, S), x.tree(me, C), tcp,
                 ((str(S), listener), [f"gm-tcp-server[{S}] → tcp:{endpoint(listen, server['port'])}"])]),
        C: dict([x.tree(me, S), x.tree(me, C), tcp]),
        A: dict([x.tree(me, A), unix]),
        B: dict([x.tree(me, A), unix]),
        P: dict([x.tree(me, P), pipe_edge]),
        Q: dict([x.tree(me, P), pipe_edge]),
    }

    # Started only now: every discovery it makes sees the final state (no readiness pipe).
    g = gomon_factory()

    graph = poll_view(g, "/api/graph", overview, ours)
    assert_exactly("/api/graph", graph, overview, ours)
    assert not [n for n in graph["nodes"] if n["kind"] == "data"], "the overview has data nodes"
    assert not [n for n in graph["nodes"] if n["id"] in ("host:127.0.0.1", "host:::1")], (
        "a loopback host node: the local TCP connection was not paired process ↔ process")
    depth = process_node(graph, me)["depth"]
    for pid in (S, C, A, B, P, Q):
        node = process_node(graph, pid)
        assert (node["kind"], node["title"]) == ("process", names[pid]), node
        assert node["depth"] == depth + (2 if pid in (B, Q) else 1), (node, depth)
        assert ["pid", str(pid)] in node["details"], node["details"]

    for pid, expected in focused.items():
        path = f"/api/graph?pid={pid}"
        graph = poll_view(g, path, expected, ours)
        assert_exactly(path, graph, expected, ours)
        assert not [n for n in graph["nodes"] if n["kind"] == "host"], f"{path}: host nodes"
        data = sorted(n["id"] for n in graph["nodes"] if n["kind"] == "data")
        assert data == ([listener] if pid == S else []), f"{path}: data nodes {data}"
        process_node(graph, pid)

    # The listening socket's node says what it is.
    graph = fetch(g, f"/api/graph?pid={S}")
    node = [n for n in graph["nodes"] if n["id"] == listener][0]
    details = dict(map(tuple, node["details"]))
    assert node["title"] == f"TCP:{server['port']}", node
    assert details["role"] == "listening" and details["state"] == "listen", details
    assert details["local"] == endpoint(listen, server["port"]), details
    assert details["held by"] == f"gm-tcp-server[{S}]", details

    # A pid that is not a process draws the overview, not an error.
    gone = fetch(g, "/api/graph?pid=4294967295")
    assert {n["id"] for n in gone["nodes"]} >= ours, "an unknown pid did not draw the overview"
