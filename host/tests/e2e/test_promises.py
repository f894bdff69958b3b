"""Promises of the README that no other test would notice breaking.

- Stale scrapes: "a scrape that finds the last sample older than 1.5 intervals triggers a
  fresh sample and waits for it", never two samples at once: gomon is frozen (SIGSTOP) past
  1.5 intervals with scrapes waiting, then let go.
- The state directory is created mode 0700 and the generated TLS key 0600, whatever the
  umask, so another local user can read neither (checked as `nobody`).
- Shutdown drains: a response in flight when SIGTERM arrives is delivered whole before gomon
  exits 0; a client that never reads does not keep gomon from exiting.
- Reverse DNS end to end: a TCP connection to a host elsewhere (a server in another network
  namespace, over a veth pair) shows in /api/graph as a host node titled by the name
  /etc/hosts gives its address; with `resolve_hosts = false` it keeps the address.

Orders of events are asserted, never durations.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from e2e_helpers import GomonProcess, Scrape, require_tool, wait_until

# --------------------------------------------------------------------------- stale scrapes

STALE_INTERVAL = 3.0  # seconds; a sample is stale after 1.5 of them


def all_threads_stopped(pid: int) -> bool:
    """Whether every thread of `pid` is in state T (stopped), per /proc/<pid>/task/*/stat."""
    states = []
    for stat_file in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat_file.read_text()
        except FileNotFoundError:
            continue  # a thread that ended
        states.append(text[text.rindex(")") + 2])  # field 3, state, after the last ')'
    return bool(states) and all(state in "Tt" for state in states)


def sample_counts(body: str) -> dict[str, float]:
    """gomon_samples_total by trigger."""
    return {labels["trigger"]: v for labels, v in Scrape.parse(body).series("gomon_samples_total")}


def test_stale_scrapes_wait_for_one_fresh_sample(gomon_factory, tmp_path):
    """gomon is frozen (SIGSTOP) for two intervals with N scrapes sent to it on open
    connections, then let go: the sample it holds is older than 1.5 intervals. Every scrape
    gets the same new sample, never the stale one and never N different ones; the N stale
    scrapes cause at most one on-demand cycle, counted under trigger="scrape".

    Which cycle serves them is a race gomon cannot avoid: its interval tick fell due during the
    freeze too, so the new sample is counted under "scrape" (the scrapes asked first) or under
    "interval" (the tick came first and the scrapes, asking during that cycle, waited for it;
    the cycle that answers them spends their request, so no extra cycle runs after it)."""
    n = 6
    g = gomon_factory(interval=f"{STALE_INTERVAL:g}s", workdir=tmp_path / "g")
    ctx = ssl.create_default_context(cafile=str(g.cert))
    conns = []
    for _ in range(n):  # connected and past TLS now: while frozen, gomon could not accept them
        c = http.client.HTTPSConnection("127.0.0.1", g.port, context=ctx, timeout=60)
        c.request("GET", "/metrics")
        c.getresponse().read()
        conns.append(c)
    before = sample_counts(g.get("/metrics").text)

    g.proc.send_signal(signal.SIGSTOP)
    try:
        # Every thread stopped before the scrapes go out (a stop signal takes effect
        # asynchronously), so none of them can be answered before the sample is stale.
        wait_until(lambda: all_threads_stopped(g.pid), 30, "gomon's threads to stop", interval=0.01)
        frozen_at = time.monotonic()
        for c in conns:
            c.request("GET", "/metrics")  # sent; gomon reads them when it runs again
        # Not a sleep for luck: the condition is "two intervals have passed", on this clock.
        while time.monotonic() - frozen_at < 2 * STALE_INTERVAL:
            time.sleep(2 * STALE_INTERVAL - (time.monotonic() - frozen_at))
    finally:
        g.proc.send_signal(signal.SIGCONT)

    answers: list = [None] * n

    def read(k: int) -> None:
        r = conns[k].getresponse()
        answers[k] = (r.status, r.read().decode())

    threads = [threading.Thread(target=read, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(a is not None and a[0] == 200 for a in answers), f"stale scrapes failed: {answers}\n{g.describe()}"
    counts = [sample_counts(body) for _, body in answers]
    assert all(c == counts[0] for c in counts), f"the {n} stale scrapes got different samples: {counts}"
    served = counts[0]
    assert sum(served.values()) > sum(before.values()), (
        f"the stale scrapes were answered with the sample from before the freeze: {before} -> {served}")

    # After the next regular tick any cycle the scrapes caused has run (it runs right after
    # the one that served them).
    def after_next_tick():
        c = sample_counts(g.get("/metrics").text)
        return c if c["interval"] > served["interval"] else None

    after = wait_until(after_next_tick, 30, "the next interval tick", describe=g.describe)
    on_demand = after["scrape"] - before["scrape"]
    assert on_demand <= 1, (
        f"{n} concurrent stale scrapes caused {on_demand} on-demand cycles (never more than one): "
        f"before {before}, served {served}, after {after}")
    assert on_demand == 1 or served["interval"] > before["interval"], (
        f"the stale scrapes were served by no cycle of theirs and no tick: before {before}, served {served}")
    assert after["scrape"] == served["scrape"], (
        f"a leftover request ran another on-demand cycle after the one that served the scrapes: "
        f"served {served}, after {after}")
    for c in conns:
        c.close()


# --------------------------------------------------------------------------- the state directory


def runuser(user: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("runuser"), "-u", user, "--", *args], capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def world_traversable_dir():
    """A directory any local user can traverse (pytest's tmp_path is 0700, which would hide
    everything below it from `nobody` and prove nothing)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: runs a check as the nobody user")
    d = Path(tempfile.mkdtemp(prefix="gomon-state-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_fresh_state_directory_and_key_are_private(gomon_factory, tmp_path, world_traversable_dir):
    """Created fresh (parents included) under umask 000: the state dir is 0700, the key 0600,
    and `nobody` can neither list the directory nor read the key, while it can read a
    world-readable file beside them (the check can fail)."""
    state = world_traversable_dir / "parent" / "state"
    control = world_traversable_dir / "readable.txt"
    control.write_text("anyone may read this\n")
    control.chmod(0o644)
    old = os.umask(0)
    try:
        g = gomon_factory(state_dir=state, workdir=tmp_path / "g")
    finally:
        os.umask(old)
    key = state / "tls" / "key.pem"
    wait_until(key.is_file, 30, "the generated key", describe=g.describe)

    assert stat.S_IMODE(state.stat().st_mode) == 0o700, oct(state.stat().st_mode)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600, oct(key.stat().st_mode)
    assert state.stat().st_uid == os.geteuid()

    assert runuser("nobody", "cat", str(control)).returncode == 0, "nobody cannot read a 0644 file: bad setup"
    for args in (("ls", str(state)), ("cat", str(key)), ("cat", str(state / "tls" / "cert.pem"))):
        r = runuser("nobody", *args)
        assert r.returncode != 0 and "Permission denied" in r.stderr, (args, r.returncode, r.stdout, r.stderr)
    assert g.alive(), g.describe()


# --------------------------------------------------------------------------- reverse DNS end to end

REMOTE_SERVER = textwrap.dedent("""\
    import socket, sys
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], 0))
    s.listen(8)
    print(s.getsockname()[1], flush=True)
    held = []
    while True:
        held.append(s.accept()[0])
""")


class RemoteHost:
    """A TCP server in its own network namespace, reached over a veth pair: to gomon (in the
    root namespace) its address is a host elsewhere, not a local peer."""

    def __init__(self, tag: str) -> None:
        self.ip = require_tool("ip")
        n = os.getpid() % 250 + 1
        net = ipaddress.ip_network(f"198.18.{n}.0/30")  # RFC 2544 benchmarking range
        self.local, self.address = str(net[1]), str(net[2])
        self.ns = f"gomon-{tag}-{os.getpid()}"
        self.veth = (f"gm{tag[:4]}{n}a", f"gm{tag[:4]}{n}b")
        self.server: subprocess.Popen | None = None
        try:
            self._ip("netns", "add", self.ns)
            self._ip("link", "add", self.veth[0], "type", "veth", "peer", "name", self.veth[1], "netns", self.ns)
            self._ip("addr", "add", f"{self.local}/30", "dev", self.veth[0])
            self._ip("link", "set", self.veth[0], "up")
            self._ip("-n", self.ns, "addr", "add", f"{self.address}/30", "dev", self.veth[1])
            self._ip("-n", self.ns, "link", "set", self.veth[1], "up")
            self._ip("-n", self.ns, "link", "set", "lo", "up")
            self.server = subprocess.Popen(
                [self.ip, "netns", "exec", self.ns, sys.executable, "-c", REMOTE_SERVER, self.address],
                stdout=subprocess.PIPE, text=True)
            line = self.server.stdout.readline()
            assert line.strip().isdigit(), f"the server in {self.ns} did not start: {line!r}"
            self.port = int(line)
        except BaseException:
            self.close()
            raise

    def _ip(self, *args: str) -> None:
        r = subprocess.run([self.ip, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"ip {' '.join(args)}: {r.stderr}"

    def connect(self) -> socket.socket:
        return socket.create_connection((self.address, self.port), timeout=10)

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait(timeout=10)
        subprocess.run([self.ip, "netns", "del", self.ns], capture_output=True, timeout=30)
        subprocess.run([self.ip, "link", "del", self.veth[0]], capture_output=True, timeout=30)


@pytest.fixture
def named_remote_host():
    """(RemoteHost, the name /etc/hosts gives its address); /etc/hosts is restored byte for byte."""
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and /etc/hosts")
    remote = RemoteHost("rdns")
    hosts = Path("/etc/hosts")
    original = hosts.read_bytes()
    name = f"gomon-rdns-{os.getpid()}.invalid"
    try:
        hosts.write_bytes(original + (b"" if original.endswith(b"\n") else b"\n")
                          + f"{remote.address} {name}\n".encode())
        yield remote, name
    finally:
        hosts.write_bytes(original)
        remote.close()


def host_node(g: GomonProcess, address: str) -> dict | None:
    r = g.get("/api/graph")
    assert r.status_code == 200, r.text
    return next((n for n in r.json()["nodes"] if n["id"] == f"host:{address}"), None)


def samples_total(g: GomonProcess) -> float:
    s = g.scrape()
    return sum(v for _, v in s.series("gomon_samples_total"))


def test_reverse_dns_names_a_remote_host_in_the_graph(gomon_factory, tmp_path, named_remote_host):
    remote, name = named_remote_host
    resolving = gomon_factory(workdir=tmp_path / "resolving")
    config = tmp_path / "no-resolve.toml"
    config.write_text("[sample]\nresolve_hosts = false\n")
    silent = gomon_factory("--config", str(config), workdir=tmp_path / "silent")
    with remote.connect():

        def named():
            node = host_node(resolving, remote.address)
            return node if node and node["title"] == name else None

        node = wait_until(named, 30, f"host:{remote.address} titled {name!r} in /api/graph",
                          describe=lambda: f"node: {host_node(resolving, remote.address)}\n{resolving.describe()}")
        assert node["subtitle"] == remote.address, node
        # It is this test's connection: an edge between the host and this process.
        edges = resolving.get("/api/graph").json()["edges"]
        ends = {node["id"], str(os.getpid())}
        assert any({e["source"], e["target"]} == ends for e in edges), f"no edge {ends}: {edges}"

        # The same connection, seen by a gomon told not to resolve: the address stays the title,
        # after as many discoveries as the resolving one needed (two samples after it saw the host).
        wait_until(lambda: host_node(silent, remote.address), 30, "the host node without resolving",
                   describe=silent.describe)
        seen = samples_total(silent)
        wait_until(lambda: samples_total(silent) >= seen + 2, 30, "two more samples", describe=silent.describe)
        unnamed = host_node(silent, remote.address)
        assert unnamed is not None and unnamed["title"] == remote.address, unnamed


# --------------------------------------------------------------------------- shutdown drains in-flight requests

# A `dot` that says it started, then waits for the test's word before running the real one:
# a /gomon/svg request can be held in flight for as long as the test needs.
HELD_DOT = """#!/bin/sh
touch "{started}"
while [ ! -e "{release}" ]; do sleep 0.02; done
exec "{dot}" "$@"
"""


def shutting_down(g: GomonProcess) -> bool:
    return "Shutting down." in g.stderr_text()


def test_sigterm_lets_an_in_flight_request_finish(gomon_factory, tmp_path):
    """Order of events: the request is inside `dot` -> SIGTERM -> gomon says it is shutting
    down -> the test lets `dot` finish -> the response arrives whole, drawn by `dot` -> gomon
    exits 0. A gomon that did not drain would be gone before the response."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    started, release = tmp_path / "dot-started", tmp_path / "dot-release"
    fake = bin_dir / "dot"
    fake.write_text(HELD_DOT.format(started=started, release=release, dot=require_tool("dot")))
    fake.chmod(0o755)
    env_path = f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    old = os.environ["PATH"]
    os.environ["PATH"] = env_path  # gomon inherits it: its `dot` is the held one
    try:
        g = gomon_factory(workdir=tmp_path / "g")
    finally:
        os.environ["PATH"] = old

    answer: dict = {}

    def request():
        try:
            r = g.session.get(g.url("/gomon/svg"), timeout=60)
            answer["response"] = (r.status_code, r.text)
        except Exception as exc:  # noqa: BLE001 - reported below
            answer["error"] = repr(exc)

    client = threading.Thread(target=request)
    client.start()
    try:
        wait_until(started.exists, 30, "the /gomon/svg request to reach dot", describe=g.describe)
        g.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: shutting_down(g), 30, "gomon to start shutting down", describe=g.describe)
        assert g.alive(), f"gomon exited with a request in flight\n{g.describe()}"
    finally:
        release.touch()
        client.join(timeout=60)
    assert "response" in answer, f"the in-flight request failed: {answer.get('error')}\n{g.describe()}"
    status, body = answer["response"]
    assert status == 200 and body.lstrip().startswith("<svg") and 'class="graph gomon"' in body, (status, body[:300])
    assert g.stop() == 0, g.describe()


def test_a_request_that_never_completes_does_not_hold_shutdown(gomon_factory, tmp_path):
    """A client that sends half a request and waits: gomon drains it for at most its bound
    (5 s) and exits 0 well before the 30 s header timeout would have closed it."""
    g = gomon_factory(workdir=tmp_path / "g")
    raw = socket.create_connection(("127.0.0.1", g.port), timeout=60)
    ctx = ssl.create_default_context(cafile=str(g.cert))
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        g.proc.send_signal(signal.SIGTERM)
        try:
            code = g.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"gomon still running 20 s after SIGTERM: a half request holds it\n{g.describe()}")
        assert code == 0, g.describe()
        # The request was still unfinished when gomon left: the connection is closed under it.
        try:
            rest = s.recv(100)
        except (OSError, ssl.SSLError):
            rest = b""
        assert rest == b"", f"gomon answered a request it never fully received: {rest!r}"
    g.stop()
