"""Child processes with known connections and known resource use, for the end-to-end
tests of the connection graph, the process metrics and the /gomon page.

Every child is a real process: a small Python script run with this interpreter
(`sys.executable -c SCRIPT`), some of which fork a grandchild. Each one names itself
with prctl(PR_SET_NAME) (so its `comm`, and the graph's node title, is known to the
test) and asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a test that is
killed leaves nothing behind.

**Readiness.** The test hands each child the write end of a pipe of its own (the only
descriptor it inherits besides /dev/null and a log file; `close_fds` closes the rest).
The child writes JSON lines on it (its pid, its port, its inodes, its grandchild's
pid) and closes it once its connections are in their final state; a forked grandchild
closes its inherited copy once it is in its final state too. So end-of-file on that
pipe means "every process of this child is ready" and, at the same moment, the pipe
is gone: no process of the test is connected to a child except by the connections
the test made on purpose. No sleeps: the test reads with a deadline.

**Clean-up.** [`Children`] is a context manager: on exit it SIGKILLs every grandchild
(while its parent, which never reaps, still pins the pid), then every child, and
reaps them.

Roles (the script's first argument after the ready descriptor is always the name):

- `tcp-server NAME HOST`: listens on HOST (127.0.0.1, ::1, or :: dual-stack; an
  ephemeral port), reports
  `{pid, port, listener_inode}`, accepts one connection, reports
  `{accepted_inode, peer_port}`, keeps both sockets.
- `tcp-client NAME HOST PORT`: connects to HOST:PORT, reports `{pid, inode, local_port}`.
- `unix-pair NAME CHILD_NAME`: makes a unix stream socketpair and forks; parent and
  child each keep one end; reports `{pid, child, inode, child_inode}`.
- `pipe-parent NAME CHILD_NAME`: makes a pipe and forks; the parent keeps the write
  end, the child the read end (blocked reading it); reports `{pid, child, inode}`.
- `busy NAME MIB CPU_SECONDS INTERVAL`: allocates MIB MiB and touches every page,
  burns CPU until it has used CPU_SECONDS, then keeps burning until it is 0.6-0.9 of
  the way through a wall-clock multiple of INTERVAL (gomon samples on those
  multiples, so the next sample counts ~0.6 s of CPU for it in its last interval and
  the `process` probe, which ranks by that, reports it), then reports
  `{pid, cpu_seconds}` and blocks. Blocked, its CPU time, memory, threads and state
  stay constant, so the test can compare them with /proc exactly.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

# The start of every script: argv[1] is the ready descriptor, argv[2] the name.
_PRELUDE = textwrap.dedent(
    """\
    import ctypes, json, os, signal, socket, sys, time
    _libc = ctypes.CDLL(None, use_errno=True)
    _ul = ctypes.c_ulong

    def set_name(name):
        # prctl(PR_SET_NAME): becomes /proc/<pid>/comm (at most 15 bytes).
        _libc.prctl(15, ctypes.c_char_p(name.encode()[:15]), _ul(0), _ul(0), _ul(0))

    def die_with_parent():
        # prctl(PR_SET_PDEATHSIG, SIGKILL): a leftover never outlives the test.
        _libc.prctl(1, _ul(signal.SIGKILL), _ul(0), _ul(0), _ul(0))

    def report(**message):
        os.write(READY, (json.dumps(message) + "\\n").encode())

    def block():
        while True:
            signal.pause()

    READY = int(sys.argv[1])
    NAME = sys.argv[2]
    set_name(NAME)
    die_with_parent()
    """
)

SCRIPTS = {
    "tcp-server": textwrap.dedent(
        """\
        host = sys.argv[3]
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        if host == "::":  # dual-stack: IPv4 clients arrive as IPv4-mapped IPv6
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        listener.bind((host, 0))
        listener.listen(1)
        report(pid=os.getpid(), port=listener.getsockname()[1],
               listener_inode=os.fstat(listener.fileno()).st_ino)
        conn, peer = listener.accept()
        report(accepted_inode=os.fstat(conn.fileno()).st_ino, peer_port=peer[1])
        os.close(READY)
        block()
        """
    ),
    "tcp-client": textwrap.dedent(
        """\
        conn = socket.create_connection((sys.argv[3], int(sys.argv[4])))
        report(pid=os.getpid(), inode=os.fstat(conn.fileno()).st_ino, local_port=conn.getsockname()[1])
        os.close(READY)
        block()
        """
    ),
    "unix-pair": textwrap.dedent(
        """\
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        inode, child_inode = os.fstat(mine.fileno()).st_ino, os.fstat(theirs.fileno()).st_ino
        child = os.fork()
        if child == 0:
            mine.close()
            set_name(sys.argv[3])
            die_with_parent()
            os.close(READY)  # last: end-of-file tells the test this process is ready too
            block()
        theirs.close()
        report(pid=os.getpid(), child=child, inode=inode, child_inode=child_inode)
        os.close(READY)
        block()
        """
    ),
    "pipe-parent": textwrap.dedent(
        """\
        r, w = os.pipe()
        inode = os.fstat(r).st_ino
        child = os.fork()
        if child == 0:
            os.close(w)
            set_name(sys.argv[3])
            die_with_parent()
            os.close(READY)
            while os.read(r, 4096):  # blocks: the parent never closes its end
                pass
            block()
        os.close(r)
        os.write(w, b"hello\\n")
        report(pid=os.getpid(), child=child, inode=inode)
        os.close(READY)
        block()
        """
    ),
    "busy": textwrap.dedent(
        """\
        mib, cpu, interval = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
        buf = bytearray(mib << 20)  # calloc: zero pages, not yet resident
        for i in range(0, len(buf), 4096):
            buf[i] = 1  # touch every page: now they are
        while time.process_time() < cpu or not (0.6 <= (time.time() % interval) / interval < 0.9):
            pass
        report(pid=os.getpid(), cpu_seconds=time.process_time())
        os.close(READY)
        block()
        """
    ),
}


@dataclass
class Child:
    """One child process started by [`Children.start`]."""

    role: str
    name: str
    popen: subprocess.Popen
    ready_fd: int | None
    log_path: Path
    messages: list[dict] = field(default_factory=list)
    _buffer: bytes = b""
    _taken: int = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def describe(self) -> str:
        state = "running" if self.popen.poll() is None else f"exited with {self.popen.returncode}"
        log = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        return f"child {self.role} {self.name}[{self.pid}] is {state}; messages {self.messages}; stderr: {log!r}"

    def _read_some(self, deadline: float) -> bool:
        """Reads what is there; False at end-of-file. Fails at the deadline."""
        assert self.ready_fd is not None, f"{self.describe()}: ready pipe already closed"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {self.describe()}")
        readable, _, _ = select.select([self.ready_fd], [], [], remaining)
        if not readable:
            raise AssertionError(f"timed out waiting for {self.describe()}")
        chunk = os.read(self.ready_fd, 4096)
        if not chunk:
            return False
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self.messages.append(json.loads(line))
        return True

    def message(self, timeout: float = 15.0) -> dict:
        """The next message the child has not been asked for yet (waits for it)."""
        index = self._taken
        deadline = time.monotonic() + timeout
        while len(self.messages) <= index:
            if not self._read_some(deadline):
                raise AssertionError(f"{self.describe()}: closed its ready pipe before message {index}")
        self._taken = index + 1
        return self.messages[index]

    def wait_ready(self, timeout: float = 15.0) -> dict:
        """Waits for end-of-file on the ready pipe (the child and any grandchild are in
        their final state), closes it, and returns every message merged."""
        deadline = time.monotonic() + timeout
        while self._read_some(deadline):
            pass
        os.close(self.ready_fd)
        self.ready_fd = None
        assert self.popen.poll() is None, f"{self.describe()}: exited instead of getting ready"
        merged: dict = {}
        for m in self.messages:
            merged.update(m)
        assert merged.get("pid") == self.pid, f"{self.describe()}: reported pid {merged.get('pid')}"
        return merged

    @property
    def grandchild(self) -> int | None:
        for m in self.messages:
            if "child" in m:
                return int(m["child"])
        return None


class Children:
    """Starts children; kills and reaps them all on exit (see the module docs)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []

    def __enter__(self) -> "Children":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, role: str, name: str, *args: object) -> Child:
        """Starts one child in `role` named `name` (at most 15 bytes: it becomes comm)."""
        assert role in SCRIPTS, f"no child role {role!r} (have {sorted(SCRIPTS)})"
        assert len(name.encode()) <= 15, f"child name {name!r} is longer than comm allows (15 bytes)"
        r, w = os.pipe()
        log_path = self.log_dir / f"{name}.stderr"
        try:
            with open(log_path, "wb") as log:
                popen = subprocess.Popen(
                    [sys.executable, "-c", _PRELUDE + SCRIPTS[role], str(w), name, *map(str, args)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    pass_fds=(w,),
                    close_fds=True,
                )
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        child = Child(role, name, popen, r, log_path)
        self.children.append(child)
        return child

    def close(self) -> None:
        # Grandchildren first: until their parent (which never reaps) dies, their pids
        # cannot be reused, so the kill reaches the right process.
        for child in self.children:
            pid = child.grandchild
            if pid is not None and child.popen.poll() is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for child in self.children:
            if child.popen.poll() is None:
                child.popen.kill()
            try:
                child.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if child.ready_fd is not None:
                os.close(child.ready_fd)
                child.ready_fd = None
