"""The sandbox's promises, attacked by purpose-built probes (probes/hostile/*):

- wall time is bounded whatever the probe does: `hostile-sleep` blocks inside WASI
  (a clock subscription and `poll`, `pollable.block`, or `std::thread::sleep`) for 30 s;
  the call must end at its deadline, counted as a `timeout`, and be backed off;
- the memory limit covers tables: `hostile-tables` has a 9-million-slot table;
- a string that is not UTF-8 is a counted trap (`hostile-utf8`);
- nothing leaks out: `hostile-escape` tries files, directories, the environment,
  sockets, DNS, processes, fine clocks and stdio, and reports each attempt; every one
  must fail, and its stdout/stderr must not reach gomon's.
"""

from __future__ import annotations

import re
import uuid

import pytest

from e2e_helpers import api_probe, free_port, wait_for_log, wait_for_scrape, wait_until
from hostile_helpers import check_run, observe, probe_dir_with, write_config

# What the escape probe tries (hostile_escape_succeeded{what=...}); every one must be 0.
ESCAPE_ATTEMPTS = {
    "read /etc/passwd", "list /", "list .", "environment", "arguments", "working directory",
    "tcp listen", "udp", "dns lookup", "spawn", "stdin", "monotonic clock resolution",
    "monotonic clock step", "wall clock resolution", "wall clock step",
}


@pytest.mark.parametrize("how", ["poll", "block", "sleep"])
def test_a_probe_blocked_in_wasi_is_stopped_at_its_deadline(how, tmp_path, gomon_factory):
    config = write_config(tmp_path / "gomon.toml", f"""
        [probe.hostile-sleep.settings]
        how = "{how}"
    """)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["sleep"])), *config)
    expected = {"hostile-sleep": {"timeout"}}
    check_run(observe(g, expected), expected)
    # It was stopped in the host's WASI, not by the epoch (no guest code ran).
    line = wait_for_log(g, "Probe call failed", 5)
    if how in ("poll", "block"):
        assert re.search(rf"call blocked in wasi:io/poll\.(poll|pollable\.block) until its deadline", line), line
    assert "deadline (500ms)" in line, line
    # Backed off like a spinning probe.
    wait_until(lambda: api_probe(g, "hostile-sleep")["state"] == "backed-off", 30,
               "hostile-sleep backed off", describe=g.describe)
    assert g.scrape().get("hostile_sleep_woke") is None, "the probe slept to the end"


def test_tables_count_against_the_memory_limit(tmp_path, gomon_factory):
    # Under the default 64 MiB: refused at load, the table named.
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["tables"])))
    line = wait_for_log(g, "memory limit of 67108864 bytes exceeded", 30)
    assert "tables.wasm" in line, line
    assert re.search(r"a table asked to grow from 0 to 9\d{6} slots \(7\d{7} bytes\)", line), line
    assert g.scrape().get("gomon_probe_up", probe="hostile-tables") is None
    g.stop_and_check()

    # Under 256 MiB it loads, and its memory metric shows the table (72 MB at 8 bytes a slot).
    config = write_config(tmp_path / "gomon.toml", """
        [probe.hostile-tables]
        memory_limit_bytes = 268435456
    """)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["tables"], "probes2")), *config)
    scrape, _ = wait_for_scrape(g, lambda s: s if s.get("hostile_tables_calls") == 1 else None, 30,
                                "hostile_tables_calls served")
    memory = scrape.value("gomon_probe_memory_bytes", probe="hostile-tables")
    assert memory >= 9_000_000 * 8, f"gomon_probe_memory_bytes{{probe=\"hostile-tables\"}} = {memory}"


def test_a_string_that_is_not_utf8_is_a_counted_trap(tmp_path, gomon_factory):
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["utf8"])))
    expected = {"hostile-utf8": {"trap"}}
    check_run(observe(g, expected), expected)
    line = wait_for_log(g, "Probe call failed", 5)
    assert "invalid utf-8" in line.lower(), line
    assert not g.scrape().series("hostile_utf8"), "the family with the bad string was served"


def test_every_escape_attempt_fails(tmp_path, gomon_factory):
    marker = f"ESCAPE-{uuid.uuid4().hex}"
    written = tmp_path / "escaped"
    state = tmp_path / "g" / "state"
    secrets = [state / "tls" / "key.pem", state / "cache" / "probes" / "key", tmp_path / "gomon.toml"]
    # The probe aims at gomon's own port: a connection there would be a real escape.
    port = free_port()
    config = write_config(tmp_path / "gomon.toml", f"""
        [probe.hostile-escape.settings]
        paths = "{','.join(map(str, secrets))}"
        write = "{written}"
        connect = "127.0.0.1:{port}"
        marker = "{marker}"
    """)
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["escape"])), *config,
                      workdir=tmp_path / "g", port=port)
    scrape, _ = wait_for_scrape(g, lambda s: s if s.series("hostile_escape_succeeded") else None, 30,
                                "hostile_escape_succeeded served")
    attempts = {labels["what"]: value for labels, value in scrape.series("hostile_escape_succeeded")}
    expected = ESCAPE_ATTEMPTS | {f"read {p}" for p in secrets} | {f"write {written}",
                                                                  f"tcp connect 127.0.0.1:{port}"}
    assert set(attempts) == expected, f"attempts reported: {sorted(attempts)}"
    got_through = sorted(what for what, value in attempts.items() if value != 0)
    assert not got_through, f"escape attempts that succeeded: {got_through}\n{g.describe()}"
    # The host says so, attempt by attempt, in the probe's name.
    log = g.stderr_text()
    for what in expected:
        assert re.search(rf"escape attempt {re.escape(what)}: refused", log), f"no log line for {what}"
    assert re.search(r"\d+ attempts, 0 got through", log), log[-2000:]
    # What the sandbox does give: random numbers, a 1 ms monotonic clock.
    provided = {labels["what"]: value for labels, value in scrape.series("hostile_escape_provided")}
    assert provided == {"random": 1, "monotonic clock": 1}, provided
    # Nothing reached the disk or gomon's own output (stdout is plugin mode's handshake channel).
    assert not written.exists(), f"{written} was written"
    g.stop_and_check()
    assert marker not in g.stdout_text(), "the probe's stdout reached gomon's stdout"
    assert marker not in g.stderr_text(), "the probe's stderr reached gomon's stderr"
