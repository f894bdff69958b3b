"""Simulated hosts for the fleet tests and the fleet benchmark: network namespaces made here,
each with its own address on one subnet, joined by a bridge inside a hub namespace (so no
bridge of the machine's own, and none of its firewall, sees the traffic); the root namespace
reaches them over one more veth into the hub, with the subnet's last address.

- `Subnet`: the hub, the bridge and the root's leg; `add_host(name)` makes a namespace with
  the next address; `close()` deletes every namespace and link it made (call it in `finally`).
- `Host.run(...)`: a process inside the namespace (`ip netns exec`).
- `TestCert`: one self-signed certificate (openssl) naming every address, for the agents'
  HTTPS, Prometheus's `ca_file` and the fleet view's `tls_ca_file`.
- `SERVER`, `CLIENT`: a TCP or UDP server and a client holding connections, each naming
  itself (`/proc/self/comm`) so the graph's process names are known.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from e2e_helpers import require_tool

SERVER = textwrap.dedent("""\
    import socket, sys
    name, proto, address = sys.argv[1], sys.argv[2], sys.argv[3]
    open("/proc/self/comm", "w").write(name)
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, 0))
    if proto == "tcp":
        s.listen(64)
    print(s.getsockname()[1], flush=True)
    held = []
    while True:
        if proto == "tcp":
            held.append(s.accept()[0])
        else:
            s.recvfrom(2048)
""")

# argv: name, then "proto:address:port:count" per target; prints "ready" once connected.
CLIENT = textwrap.dedent("""\
    import socket, sys, time
    open("/proc/self/comm", "w").write(sys.argv[1])
    held = []
    for target in sys.argv[2:]:
        proto, address, port, count = target.split(":")
        for _ in range(int(count)):
            kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
            s = socket.socket(socket.AF_INET, kind)
            s.settimeout(10)
            s.connect((address, int(port)))
            if proto == "udp":
                s.send(b"x")
            held.append(s)
    print("ready", flush=True)
    sys.stdin.read()
""")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([require_tool("ip"), *args], capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, f"ip {' '.join(args)}: {r.stderr}"
    return r


@dataclass
class Host:
    name: str
    ns: str
    address: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def run(self, args: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen([require_tool("ip"), "netns", "exec", self.ns, *args], **kw)
        self.procs.append(proc)
        return proc

    def server(self, name: str, proto: str = "tcp", bind: str | None = None) -> tuple[subprocess.Popen, int]:
        """A server named `name` bound to `bind` (default: every address); (process, port)."""
        proc = self.run([sys.executable, "-c", SERVER, name, proto, bind or "0.0.0.0"],
                        stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        assert line.strip().isdigit(), f"server {name} in {self.ns} did not start: {line!r}"
        return proc, int(line)

    def client(self, name: str, targets: list[tuple[str, str, int, int]]) -> subprocess.Popen:
        """A client named `name` holding `count` connections to each (proto, address, port, count)."""
        args = [f"{p}:{a}:{port}:{n}" for p, a, port, n in targets]
        proc = self.run([sys.executable, "-c", CLIENT, name, *args], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"client {name} in {self.ns} did not connect: {line!r}"
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class Subnet:
    """A /24 of RFC 2544's benchmarking range (198.19.N.0), chosen by pid so parallel runs differ."""

    def __init__(self, tag: str, octet: int | None = None) -> None:
        self.n = octet if octet is not None else os.getpid() % 200 + 20
        self.net = ipaddress.ip_network(f"198.19.{self.n}.0/24")
        self.tag = f"{tag}{self.n}"
        self.hub = f"gomon-{self.tag}-hub"
        self.root_address = str(self.net[254])
        self.hosts: list[Host] = []
        self._root_link = f"{self.tag}r"[:15]
        try:
            _ip("netns", "add", self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            _ip("-n", self.hub, "link", "set", "lo", "up")
            _ip("link", "add", self._root_link, "type", "veth", "peer", "name", "root", "netns", self.hub)
            _ip("-n", self.hub, "link", "set", "root", "master", "br0", "up")
            _ip("addr", "add", f"{self.root_address}/24", "dev", self._root_link)
            _ip("link", "set", self._root_link, "up")
        except BaseException:
            self.close()
            raise

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 1
        ns = f"gomon-{self.tag}-{name}"
        address = str(self.net[index])
        host = Host(name, ns, address)
        self.hosts.append(host)
        _ip("netns", "add", ns)
        port = f"p{index}"
        _ip("-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        for host in self.hosts:
            host.stop()
        for host in self.hosts:
            _ip("netns", "del", host.ns, check=False)
        _ip("link", "del", self._root_link, check=False)
        _ip("netns", "del", self.hub, check=False)


class TestCert:
    """A self-signed certificate (not a CA) naming `addresses` and 127.0.0.1."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, addresses: list[str]) -> None:
        openssl = require_tool("openssl")
        directory.mkdir(parents=True, exist_ok=True)
        self.cert = directory / "cert.pem"
        self.key = directory / "key.pem"
        config = directory / "openssl.cnf"
        sans = ",".join(f"IP:{a}" for a in [*addresses, "127.0.0.1"])
        config.write_text(textwrap.dedent(f"""\
            [req]
            distinguished_name = dn
            x509_extensions = ext
            prompt = no
            [dn]
            CN = gomon fleet test
            [ext]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature
            extendedKeyUsage = serverAuth
            subjectAltName = {sans}
            """))
        r = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-days", "2", "-config", str(config), "-keyout", str(self.key),
                            "-out", str(self.cert)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"openssl req: {r.stderr}"
        self.key.chmod(0o600)
