"""gomon's Loki sink (sinks/loki) against the independent Python receiver.

The sink is driven through its example binary `loki_push` (NDJSON entries on
stdin, pushed through LokiSink, flushed at EOF), so these tests run before the
host is wired to the sink. The receiver (loki_receiver.py) decodes the bodies
with its own protobuf reader, cramjam's raw snappy and gzip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from e2e_helpers import REPO_ROOT, cargo_bin
from loki_receiver import LokiReceiver, Reply, basic_auth, decode_body, format_selector, free_port, parse_selector

import cramjam

# Short backoff so retries happen within a test.
FAST = ["--min-backoff", "50ms", "--max-backoff", "500ms", "--batch-max-wait", "100ms", "--timeout", "5s"]


@pytest.fixture(scope="session")
def loki_push() -> Path:
    """The example binary: $LOKI_PUSH_BIN, else built (a no-op when up to date)."""
    if os.environ.get("LOKI_PUSH_BIN"):
        return Path(os.environ["LOKI_PUSH_BIN"])
    subprocess.run(
        [cargo_bin(), "build", "--release", "-q", "-p", "gomon-sink-loki", "--example", "loki_push"],
        cwd=REPO_ROOT,
        check=True,
        timeout=900,
    )
    path = REPO_ROOT / "target" / "release" / "examples" / "loki_push"
    assert path.is_file(), f"{path} was not built"
    return path


class Pusher:
    """One run of loki_push; stdout/stderr go to files in `workdir`."""

    def __init__(self, binary: Path, workdir: Path, url: str, lines: list[dict], *args: str, name: str = "push"):
        workdir.mkdir(parents=True, exist_ok=True)
        self.stats_file = workdir / f"{name}.stats.json"
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        stdin = workdir / f"{name}.stdin"
        stdin.write_text("".join(json.dumps(line) + "\n" for line in lines))
        with open(stdin, "rb") as i, open(self.stdout_path, "wb") as o, open(self.stderr_path, "wb") as e:
            self.proc = subprocess.Popen(
                [str(binary), "--url", url, "--stats-file", str(self.stats_file), *args], stdin=i, stdout=o, stderr=e
            )

    def stats(self) -> dict:
        try:
            return json.loads(self.stats_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_stats(self, predicate, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats and predicate(stats):
                return stats
            if self.proc.poll() is not None and not (stats and predicate(stats)):
                raise AssertionError(f"loki_push exited {self.proc.returncode} before {what}: {self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; stats {stats}; stderr {self.stderr()}")
            time.sleep(0.02)

    def finish(self, timeout: float = 60) -> dict:
        """Waits for the exit; the final stats (stdout)."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"loki_push did not finish in {timeout}s: {self.stderr()}")
        out = self.stdout_path.read_text().strip()
        assert code == 0, f"loki_push exited {code}: stdout {out!r} stderr {self.stderr()}"
        return json.loads(out.splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-3000:]


@pytest.fixture
def pushers(loki_push, tmp_path):
    started: list[Pusher] = []

    def start(url: str, lines: list[dict], *args: str, name: str = "push") -> Pusher:
        p = Pusher(loki_push, tmp_path, url, lines, *args, name=name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


@pytest.fixture
def receiver():
    rx = LokiReceiver()
    yield rx
    rx.stop()


def make_lines(n: int, streams: list[dict[str, str]], t0: int | None = None) -> list[dict]:
    """n entries spread round-robin over `streams`, each with metadata naming its index."""
    t0 = t0 or time.time_ns()
    return [
        {
            "labels": streams[i % len(streams)],
            "time_nanos": t0 + i * 1000,
            "line": f"entry {i:06d} \"quoted\" ünïcode",
            "metadata": {"pid": str(1000 + i), "seq": str(i)},
        }
        for i in range(n)
    ]


def stat(stats: dict, key: str, reason: str) -> int:
    return dict((k, v) for k, v in stats[key])[reason]


# --------------------------------------------------------------------------- the oracle itself


def test_receiver_decodes_hand_made_protobuf():
    """The oracle's own reader on bytes written out by hand from push.proto."""

    def ld(key: int, content: bytes) -> bytes:
        return bytes([key, len(content)]) + content

    seconds = bytes([0x08, 0x80, 0xE2, 0xCF, 0xAA, 0x06])  # 1 700 000 000
    nanos = bytes([0x10, 0x95, 0x9A, 0xEF, 0x3A])  # 123 456 789
    entry = ld(0x0A, seconds + nanos) + ld(0x12, b"exec sshd") + ld(0x1A, ld(0x0A, b"pid") + ld(0x12, b"42"))
    stream = ld(0x0A, b'{host="h1", source="process"}') + ld(0x12, entry)
    body = bytes(cramjam.snappy.compress_raw(ld(0x0A, stream)))
    [e] = decode_body("application/x-protobuf", None, body)
    assert e.labels == {"host": "h1", "source": "process"}
    assert e.time_nanos == 1_700_000_000_123_456_789
    assert e.line == "exec sshd"
    assert e.metadata == {"pid": "42"}
    with pytest.raises(ValueError, match="framed"):
        decode_body("application/x-protobuf", None, bytes(cramjam.snappy.compress(ld(0x0A, stream))))
    with pytest.raises(ValueError, match="Content-Type"):
        decode_body("text/plain", None, body)


def test_selector_round_trip():
    labels = {"b": 'say "hi"\\ \n\x01', "a": "plain"}
    text = format_selector(labels)
    assert text == '{a="plain", b="say \\"hi\\"\\\\ \\n\\u0001"}'
    assert parse_selector(text) == labels


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "fmt,auth_args,authorization",
    [
        ("protobuf", ["--bearer-token", "tok3n"], "Bearer tok3n"),
        ("json", [], None),
        ("json-gzip", ["--user", "gomon", "--password", "pa:ss"], basic_auth("gomon", "pa:ss")),
    ],
)
def test_bodies_decode_with_labels_metadata_and_order(receiver, pushers, tmp_path, fmt, auth_args, authorization):
    receiver.expect_tenant = "tenant-1"
    receiver.expect_authorization = authorization
    receiver.start()
    streams = [
        {"host": "h1", "source": "process", "event": "exec"},
        {"host": "h1", "source": "file", "event": "write"},
    ]
    lines = make_lines(60, streams)
    # Within each stream, feed the entries in reverse time order: the sink sorts each batch.
    lines = lines[::-1]
    p = pushers(
        receiver.url,
        lines,
        "--format", fmt, "--tenant", "tenant-1", "--static-label", "job=gomon",
        "--spool-dir", str(tmp_path / "spool"), *auth_args, *FAST,
        "--batch-max-wait", "5s",  # one batch: every entry reaches the sort together
    )  # fmt: skip
    stats = p.finish()
    assert receiver.problems() == []
    assert stats["sent_entries"] == 60 and stats["pushed"] == 60
    got = receiver.streams()
    assert set(got) == {tuple(sorted({**s, "job": "gomon"}.items())) for s in streams}
    for entries in got.values():
        times = [e.time_nanos for e in entries]
        assert times == sorted(times), "entries of a stream in time order"
        for e in entries:
            i = int(e.metadata["seq"])
            assert e.metadata == {"pid": str(1000 + i), "seq": str(i)}
            assert e.line == f'entry {i:06d} "quoted" ünïcode'
    ct = {"protobuf": "application/x-protobuf", "json": "application/json", "json-gzip": "application/json"}[fmt]
    ce = {"protobuf": None, "json": None, "json-gzip": "gzip"}[fmt]
    for r in receiver.requests():
        assert (r.content_type, r.content_encoding) == (ct, ce)


# --------------------------------------------------------------------------- statuses


def test_a_400_is_not_retried(receiver, pushers, tmp_path):
    receiver.start()
    receiver.script([400])
    lines = make_lines(20, [{"host": "h1", "source": "logs"}])
    p = pushers(receiver.url, lines, "--spool-dir", str(tmp_path / "spool"), *FAST)
    stats = p.finish()
    assert len(receiver.requests()) == 1, "one request, no retry"
    assert receiver.requests()[0].status == 400
    assert stat(stats, "dropped", "rejected") == 20
    assert stats["retries"] == 0 and stats["sent_entries"] == 0
    assert "400" in (stats["last_error"] or "")
    assert receiver.entries() == []


def test_a_429_is_retried_then_accepted(receiver, pushers, tmp_path):
    receiver.start()
    receiver.script([429, 204])
    lines = make_lines(20, [{"host": "h1", "source": "logs"}])
    p = pushers(receiver.url, lines, "--spool-dir", str(tmp_path / "spool"), *FAST)
    stats = p.finish()
    assert [r.status for r in receiver.requests()] == [429, 204]
    assert stats["retries"] == 1 and stats["sent_entries"] == 20
    assert sorted(int(e.metadata["seq"]) for e in receiver.entries()) == list(range(20)), "each entry once"


# --------------------------------------------------------------------------- outage, kill, restart


def test_outage_with_kills_loses_nothing_and_keeps_order(receiver, pushers, tmp_path, record_property):
    """Receiver down; 2000 entries pushed and spooled; the pusher SIGKILLed. Receiver
    back, holding its first answer; a second pusher SIGKILLed while that request is in
    flight (Loki has the batch, the pusher never saw the 204). A third run replays the
    spool: every entry arrives, order per stream kept, and the batch in flight at the
    kill arrives twice — delivery is at-least-once."""
    receiver.port = free_port()  # down: nothing listens there yet
    spool = tmp_path / "spool"
    streams = [{"host": "h1", "source": "process", "event": e} for e in ("exec", "exit", "fork")]
    lines = make_lines(2000, streams)
    args = ["--spool-dir", str(spool), "--batch-max-bytes", "16384", "--drain-timeout", "60s", *FAST]

    first = pushers(receiver.url, lines, *args, name="first")
    first.wait_stats(lambda s: s["eof"] and s["spooled_entries"] == 2000, 30, "2000 entries spooled")
    first.wait_stats(lambda s: s["retries"] >= 2, 30, "retries against the absent receiver")
    first.kill()
    segments = sorted(spool.glob("*.seg"))
    assert len(segments) > 2, f"expected several spooled batches, found {len(segments)}"

    receiver.start()
    receiver.script([Reply(204, delay=20)])
    second = pushers(receiver.url, [], *args, name="second")
    receiver.wait_for(lambda r: len(r.requests()) >= 1, 30, "the first replayed batch")
    second.kill()
    held = receiver.requests()[0].entries
    assert held > 0

    third = pushers(receiver.url, [], *args, name="third")
    stats = third.finish()
    assert stats["spool_segments"] == 0 and sum(n for _, n in stats["dropped"]) == 0
    assert receiver.problems() == []

    got = receiver.entries()
    seqs = [int(e.metadata["seq"]) for e in got]
    assert set(seqs) == set(range(2000)), f"missing: {sorted(set(range(2000)) - set(seqs))[:20]}"
    duplicates = len(seqs) - 2000
    record_property("duplicates", duplicates)
    print(f"at-least-once: {len(seqs)} entries received for 2000 pushed, {duplicates} duplicates")
    assert duplicates == held, "only the batch in flight at the kill is sent twice"
    for key, entries in receiver.streams().items():
        first_seen: list[int] = []
        seen: set[int] = set()
        for e in entries:
            s = int(e.metadata["seq"])
            if s not in seen:
                seen.add(s)
                first_seen.append(s)
        assert first_seen == sorted(first_seen), f"order broken in stream {key}"
