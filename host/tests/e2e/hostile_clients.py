"""Hostile network clients for the connection-bounds test and bench/network.py.

`Siege(port, cert, idle=600, slow=100)` holds, in a background thread, `idle` TCP
connections that never send a byte and `slow` TLS connections that pipeline requests
and never read the answers, from many loopback source addresses (127.0.0.0/8 is all
loopback on Linux: idle ones from 127.0.0.2-13, slow ones from 127.0.1.1-4), replacing
each one the server closes, at most `top_up` per round. A slow reader's receive buffer is
kept small (SO_RCVBUF) so that the attacker's own kernel memory stays sane on this one
machine. Every loop is bounded in time: `stop()` ends it, and it ends by itself after
`max_seconds`.
"""

from __future__ import annotations

import resource
import socket
import ssl
import struct
import threading
import time
from pathlib import Path

TCP_ESTABLISHED = 1
PIPELINED = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: identity\r\n\r\n" * 200


def raise_fd_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def established(sock: socket.socket) -> bool:
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except OSError:
        return False
    return struct.unpack("B", info[:1])[0] == TCP_ESTABLISHED


class Siege:
    def __init__(self, port: int, cert: Path, idle: int = 600, slow: int = 100, top_up: int = 200,
                 max_seconds: float = 300) -> None:
        self.port = port
        self.ctx = ssl.create_default_context(cafile=str(cert))
        self.want_idle, self.want_slow, self.top_up = idle, slow, top_up
        self.idle: list[socket.socket] = []
        self.slow: list[socket.socket] = []
        self.opened = 0
        self.failed = 0
        self.errors: list[str] = []
        self.deadline = time.monotonic() + max_seconds
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="siege", daemon=True)
        raise_fd_limit(4 * (idle + slow) + 256)

    def _connect(self, source: str) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.bind((source, 0))
        s.connect(("127.0.0.1", self.port))
        return s

    def _open_idle(self, i: int) -> socket.socket:
        return self._connect(f"127.0.0.{2 + i % 12}")

    def _open_slow(self, i: int) -> socket.socket:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        raw.settimeout(5)
        raw.bind((f"127.0.1.{1 + i % 4}", 0))
        raw.connect(("127.0.0.1", self.port))
        s = self.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        s.setblocking(False)
        try:
            s.send(PIPELINED)
        except (ssl.SSLWantWriteError, BlockingIOError):
            pass
        return s

    def _refill(self, pool: list[socket.socket], want: int, opener) -> None:
        alive = []
        for s in pool:
            if established(s):
                alive.append(s)
            else:
                s.close()
        pool[:] = alive
        budget = self.top_up
        while len(pool) < want and budget > 0 and not self._stop.is_set():
            budget -= 1
            try:
                pool.append(opener(self.opened))
                self.opened += 1
            except (OSError, ssl.SSLError) as e:
                self.failed += 1
                if len(self.errors) < 20:
                    self.errors.append(repr(e))

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            self._refill(self.idle, self.want_idle, self._open_idle)
            self._refill(self.slow, self.want_slow, self._open_slow)
            if len(self.idle) >= self.want_idle and len(self.slow) >= self.want_slow:
                self._ready.set()
            self._stop.wait(0.5)
        self._ready.set()

    def start(self, ready_timeout: float = 60) -> "Siege":
        self._thread.start()
        self._ready.wait(ready_timeout)
        return self

    def held(self) -> tuple[int, int]:
        return len(self.idle), len(self.slow)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for s in self.idle + self.slow:
            s.close()
        self.idle.clear()
        self.slow.clear()
