"""Observations end to end: process, file and log events through the observe
probes to an independent Loki receiver (loki_receiver.py decodes protobuf +
raw snappy and JSON on its own), or to the local NDJSON file without Loki.

Each gomon here watches a temporary root and tails a temporary log file
(kmsg and the journal off, so only the test's own lines are logs); the
proc connector (root) reports the test's child processes.

Delivery is at-least-once: `test_outage_and_restart_lose_nothing` proves no
entry is lost and the order per stream is kept across a 30 s outage with a
restart in the middle, and reports the duplicates it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from e2e_helpers import GomonProcess, example_probe_wasm, install_probe, require_tool, wait_until
from loki_receiver import LokiReceiver

HOSTNAME = Path("/proc/sys/kernel/hostname").read_text().strip()


def write_config(workdir: Path, loki: dict | None, extra: str = "", process: bool = True) -> tuple[Path, Path, Path]:
    """A config watching <workdir>/watch and tailing <workdir>/logs/*.log; returns
    (config, watch dir, log file). `process = False` leaves out the machine's
    process events, so that the batches hold only the test's own lines."""
    watch = workdir / "watch"
    logs = workdir / "logs"
    watch.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log_file = logs / "app.log"
    log_file.touch()
    text = f"""
[observe]
process = {"true" if process else "false"}
lag_interval = "1s"
batch_max_wait = "100ms"
[observe.files]
roots = [{json.dumps(str(watch))}]
[observe.logs]
files = [{json.dumps(str(logs / "*.log"))}]
kmsg = false
journal = "off"
"""
    if loki is not None:
        text += "[loki]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in loki.items() if not isinstance(v, dict))
        for k, v in loki.items():
            if isinstance(v, dict):
                text += f"[loki.{k}]\n" + "".join(f"{kk} = {json.dumps(vv)}\n" for kk, vv in v.items())
    config = workdir / "gomon.toml"
    config.write_text(text + extra)
    return config, watch, log_file


def loki_settings(rx: LokiReceiver, **over) -> dict:
    settings = {
        "url": rx.url,
        "tenant": "t1",
        "batch_max_wait": "200ms",
        "min_backoff": "100ms",
        "max_backoff": "1s",
        "static_labels": {"job": "gomon"},
    }
    settings.update(over)
    return settings


def append(path: Path, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def find(rx: LokiReceiver, **want) -> list:
    """Entries whose labels (source, event) and metadata match `want`
    (`line_has` matches a substring of the line)."""
    line_has = want.pop("line_has", None)
    meta = want.pop("meta", {})
    out = []
    for e in rx.entries():
        if any(e.labels.get(k) != v for k, v in want.items()):
            continue
        if any(e.metadata.get(k) != v for k, v in meta.items()):
            continue
        if line_has is not None and line_has not in e.line:
            continue
        out.append(e)
    return out


@pytest.fixture
def receiver():
    rx = LokiReceiver(tenant="t1").start()
    yield rx
    rx.stop()


def start_gomon(gomon_factory, tmp_path: Path, loki: dict | None, extra: str = "", process: bool = True,
                **kw) -> tuple[GomonProcess, Path, Path]:
    workdir = tmp_path / "g"
    config, watch, log_file = write_config(workdir, loki, extra, process)
    g = gomon_factory("--config", str(config), workdir=workdir, **kw)
    return g, watch, log_file


def test_process_file_and_log_events_reach_loki(gomon_factory, tmp_path, receiver):
    g, watch, log_file = start_gomon(gomon_factory, tmp_path, loki_settings(receiver))
    # Wait for the observers to be up: the file observer's first canary round.
    wait_until(lambda: g.scrape().get("gomon_observation_lag_seconds", source="file") is not None, 20,
               "the first file lag canary", describe=g.describe)

    # The child waits for a line on stdin, so it is still there when gomon reads
    # its name at the exec event; then it exits with 3.
    child = subprocess.Popen(["/bin/sh", "-c", "read line; exit 3"], stdin=subprocess.PIPE)
    wait_until(lambda: find(receiver, source="process", event="exec", meta={"pid": str(child.pid)}), 20,
               "the child's exec", describe=g.describe)
    child.communicate(b"go\n", timeout=10)
    assert child.returncode == 3
    (watch / "new.conf").write_text("x")
    os.rename(watch / "new.conf", watch / "renamed.conf")
    (watch / "renamed.conf").unlink()
    append(log_file, "2026-11-27T10:00:00.123Z ERROR disk on fire")
    append(log_file, "Nov 27 10:00:01 web1 sshd[812]: Accepted publickey for alice")

    pid = str(child.pid)
    expected = {
        "exec": dict(source="process", event="exec", meta={"pid": pid, "name": "sh"}),
        "exit": dict(source="process", event="exit", meta={"pid": pid, "exit_code": "3"}),
        "create": dict(source="file", event="create", meta={"path": str(watch / "new.conf")}),
        "rename": dict(source="file", event="rename",
                       meta={"path": str(watch / "renamed.conf"), "old_path": str(watch / "new.conf")}),
        "delete": dict(source="file", event="delete", meta={"path": str(watch / "renamed.conf")}),
        "iso log": dict(source="logs", event="error", line_has="disk on fire", meta={"origin": str(log_file)}),
        "syslog": dict(source="logs", event="info", line_has="Accepted publickey for alice",
                       meta={"process": "sshd", "pid": "812"}),
    }

    def all_arrived():
        return all(find(receiver, **dict(want)) for want in expected.values())

    def missing():
        return "missing: " + ", ".join(k for k, w in expected.items() if not find(receiver, **dict(w))) + \
            f"\nreceived {len(receiver.entries())} entries; problems: {receiver.problems()}\n" + g.describe()

    wait_until(all_arrived, 20, "every expected observation in Loki", describe=missing)
    assert not receiver.problems(), receiver.problems()

    for e in receiver.entries():
        # Few stream labels, the same everywhere; detail is structured metadata.
        assert set(e.labels) == {"host", "source", "event", "job"}, e.labels
        assert e.labels["host"] == HOSTNAME and e.labels["job"] == "gomon"
        # Canary events never leave gomon.
        assert "/observe/canary/" not in e.line and "gomon-lag-canary" not in e.line, e
    exit_entry = find(receiver, **dict(expected["exit"]))[0]
    assert exit_entry.line == f"sh[{pid}] exited with code 3"
    iso = find(receiver, **dict(expected["iso log"]))[0]
    assert iso.time_nanos == 1795773600123000000, "the line's own timestamp"
    rename = find(receiver, **dict(expected["rename"]))[0]
    assert rename.line == f"{watch / 'new.conf'} -> {watch / 'renamed.conf'}"

    # Every source measured its own lag, and the counters saw the traffic (by
    # the next cycle: the exposition is computed once per interval).
    def counted():
        s = g.scrape()
        return s.value("gomon_loki_sent_entries_total") >= len(expected) and all(
            s.get("gomon_observation_lag_seconds", source=source) is not None
            and s.value("gomon_observations_delivered_total", source=source) >= 1
            for source in ("process", "file", "logs"))

    wait_until(counted, 10, "lag and delivery counters for every source", describe=g.describe)
    s = g.scrape()
    assert s.value("gomon_observer_process_mode", mode="connector") == 1

    # The observation and Loki families pass promtool's lint too.
    body = g.get("/metrics").text
    assert "gomon_loki_spool_segments" in body and "gomon_observation_lag_seconds" in body
    proc = subprocess.run([require_tool("promtool"), "check", "metrics"], input=body.encode(), capture_output=True)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        f"promtool check metrics exited {proc.returncode}:\n{proc.stdout.decode()}{proc.stderr.decode()}")


def test_json_body(gomon_factory, tmp_path, receiver):
    g, _, log_file = start_gomon(gomon_factory, tmp_path, loki_settings(receiver, format="json-gzip"))
    append(log_file, "2026-11-27T10:00:00Z WARN json please")
    wait_until(lambda: find(receiver, source="logs", event="warn", line_has="json please"), 20,
               "the line, JSON-encoded", describe=g.describe)
    assert any(r.content_type == "application/json" and r.content_encoding == "gzip"
               for r in receiver.requests()), [(r.content_type, r.content_encoding) for r in receiver.requests()]


def wait_metric(g: GomonProcess, name: str, at_least: float, **labels: str) -> None:
    """Waits for a self-metric to reach a value (it is refreshed once per cycle)."""
    wait_until(lambda: (g.scrape().get(name, **labels) or 0) >= at_least, 10, f"{name}{labels} >= {at_least}",
               describe=g.describe)


def statuses(rx: LokiReceiver) -> list[int]:
    return [r.status for r in rx.requests()]


def test_429_is_retried_400_is_not(gomon_factory, tmp_path, receiver):
    # No process events: each batch holds only the test's own line.
    g, _, log_file = start_gomon(gomon_factory, tmp_path, loki_settings(receiver), process=False)
    receiver.script([429, 204])
    append(log_file, "2026-11-27T10:00:00Z ERROR retry me")
    wait_until(lambda: find(receiver, line_has="retry me"), 20, "the 429'd line after a retry", describe=g.describe)
    assert statuses(receiver) == [429, 204], "one 429, then the retry"
    wait_metric(g, "gomon_loki_retries_total", 1)

    receiver.script([400])
    append(log_file, "2026-11-27T10:00:01Z ERROR reject me")
    wait_until(lambda: 400 in statuses(receiver), 20, "the request with the rejected line")
    # A later line goes through (every answer after the 400 is 204, so a retry
    # of the rejected batch would have been accepted and recorded).
    append(log_file, "2026-11-27T10:00:02Z ERROR after the rejection")
    wait_until(lambda: find(receiver, line_has="after the rejection"), 20, "the next line", describe=g.describe)
    assert not find(receiver, line_has="reject me"), "a 400 is not retried"
    assert statuses(receiver) == [429, 204, 400, 204], statuses(receiver)
    wait_metric(g, "gomon_loki_dropped_entries_total", 1, reason="rejected")
    wait_metric(g, "gomon_loki_requests_total", 1, outcome="rejected")


def test_outage_and_restart_lose_nothing(gomon_factory, tmp_path, receiver):
    """Loki down for 30 s, gomon restarted once in the middle of it: every line
    written meanwhile arrives once Loki is back, in order per stream."""
    settings = loki_settings(receiver)
    g, _, log_file = start_gomon(gomon_factory, tmp_path, settings, process=False)
    append(log_file, "2026-11-27T09:59:59Z INFO before the outage")
    wait_until(lambda: find(receiver, line_has="before the outage"), 20, "the first line", describe=g.describe)

    receiver.stop()
    outage_started = time.monotonic()
    n = 60
    restarted = None
    for i in range(n):
        # Lines with increasing stamps, two per second over 30 s.
        append(log_file, f"2026-11-27T10:{i // 60:02d}:{i % 60:02d}Z INFO outage line {i:03d}")
        if i == n // 2:
            # The restart: SIGTERM, then the same state dir (spool, offsets) again.
            assert g.stop() == 0, g.describe()
            restarted = gomon_factory("--config", str(tmp_path / "g" / "gomon.toml"), workdir=tmp_path / "g")
        time.sleep(max(0.0, outage_started + (i + 1) * 0.5 - time.monotonic()))
    assert restarted is not None
    assert time.monotonic() - outage_started >= 30
    wait_metric(restarted, "gomon_loki_spool_entries", 1)  # entries wait in the spool
    receiver.start()

    def got_all():
        return len({e.line for e in find(receiver, line_has="outage line")}) == n

    wait_until(got_all, 60, "every outage line after Loki came back", describe=lambda: (
        f"have {len({e.line for e in find(receiver, line_has='outage line')})}/{n}\n" + restarted.describe()))
    entries = find(receiver, line_has="outage line")
    numbers = [int(e.line.rsplit(" ", 1)[1]) for e in entries]
    # Order kept: the first arrival of each line is in write order.
    first_seen = []
    for k in numbers:
        if k not in first_seen:
            first_seen.append(k)
    assert first_seen == list(range(n)), first_seen
    duplicates = len(numbers) - n
    print(f"outage test: {n} lines, {duplicates} duplicates (at-least-once)")
    assert restarted.scrape().value("gomon_loki_dropped_entries_total", reason="spool_full") == 0


def test_without_loki_observations_go_to_a_local_file(gomon_factory, tmp_path):
    g, _, log_file = start_gomon(gomon_factory, tmp_path, None)
    append(log_file, "2026-11-27T10:00:00Z ERROR to the file")
    path = g.state_dir / "observations" / "observations.ndjson"

    def lines():
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if "to the file" in line]

    wait_until(lines, 20, f"the line in {path}", describe=g.describe)
    record = lines()[0]
    assert record["labels"] == {"host": HOSTNAME, "source": "logs", "event": "error"}
    assert record["time"].startswith("2026-11-27T10:00:00")
    assert record["metadata"]["origin"] == str(log_file)


def test_operator_probe_redacts_after_the_builtin(gomon_factory, tmp_path, receiver):
    extra = '\n[probe.redact]\ngrants = ["observations"]\nsettings = { drop = "noisy" }\n'
    workdir = tmp_path / "g"
    install_probe(example_probe_wasm("redact"), workdir / "state" / "probes", "redact.wasm")
    g, _, log_file = start_gomon(gomon_factory, tmp_path, loki_settings(receiver), extra)
    wait_until(lambda: any(p["name"] == "redact" for p in g.get("/api/probes").json()), 20,
               "the redact probe loaded", describe=g.describe)
    append(log_file, "Nov 27 10:00:01 web1 noisy[1]: spam spam")
    append(log_file, "Nov 27 10:00:02 web1 app[2]: login password=hunter2 ok")
    wait_until(lambda: find(receiver, line_has="login"), 20, "the redacted line", describe=g.describe)
    assert find(receiver, line_has="login")[0].line == "app[2]: login password=[REDACTED] ok"
    # `noisy` wrote first; its line would have arrived no later than this one.
    assert not find(receiver, line_has="spam"), "the noisy process was dropped"
