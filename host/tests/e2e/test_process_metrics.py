"""The `process` probe's families against /proc, for a child with known CPU and memory use.

The child (children.py, role `busy`) allocates and touches 96 MiB, burns >= 1.5 s of CPU
and then blocks for good. Blocked, everything gomon reports about it from
/proc/<pid>/stat (CPU ticks, rss, vsize, threads, state, start time) stays constant,
so the test can read /proc itself right after a scrape and compare closely. The
probe reports the top 20 processes by CPU used in the last interval; the child blocks
late in an interval (see children.py), so the first sample after it blocked counts
~0.6 s of CPU for it and reports it. The test takes the first scrape whose sample was
provably taken after the child blocked (by `gomon_sample_age_seconds`).

The summary families (`gomon_processes`, `gomon_threads`, `gomon_processes_by_state`)
are compared with the test's own count of /proc/[0-9]* taken just after a fresh sample.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from children import Children
from e2e_helpers import GomonProcess, Scrape, wait_until

MIB = 96
CPU_SECONDS = 1.5
INTERVAL = 1.0
TICK = 1.0 / os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# /proc/<pid>/stat state letters -> gomon's state label values (proc(5)).
STATES = {"R": "running", "S": "sleeping", "D": "disk_sleep", "T": "stopped", "t": "tracing_stop",
          "Z": "zombie", "X": "dead", "I": "idle"}


def read_stat(pid: int) -> dict:
    """The fields of /proc/<pid>/stat the test compares (proc(5) numbering)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    comm = text[text.index("(") + 1 : text.rindex(")")]
    f = text[text.rindex(")") + 2 :].split()  # f[0] is field 3
    return {
        "comm": comm,
        "state": f[0],  # field 3: state
        "utime": int(f[11]),  # field 14: utime, clock ticks
        "stime": int(f[12]),  # field 15: stime, clock ticks
        "nice": int(f[16]),  # field 19: nice
        "threads": int(f[17]),  # field 20: num_threads
        "starttime": int(f[19]),  # field 22: starttime, clock ticks after boot
        "vsize": int(f[20]),  # field 23: vsize, bytes
        "rss": int(f[21]),  # field 24: rss, pages
    }


def read_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def kib(value: str) -> int:
    """A `NNN kB` value of /proc/<pid>/status, in bytes."""
    number, unit = value.split()
    assert unit == "kB", value
    return int(number) * 1024


def btime() -> int:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])  # /proc/stat btime: boot time, seconds since the epoch
    raise AssertionError("/proc/stat has no btime line")


def series_of(scrape: Scrape, name: str, pid: int) -> list[tuple[dict, float]]:
    return scrape.series(name, pid=str(pid))


def test_busy_child_matches_proc(tmp_path, gomon_factory):
    g = gomon_factory(interval=f"{INTERVAL:g}s")
    with Children(tmp_path / "children") as children:
        child = children.start("busy", "gm-busy", MIB, CPU_SECONDS, INTERVAL)
        # 1.5 s of CPU takes longer on a loaded 2-core machine: a generous deadline.
        ready = child.wait_ready(timeout=60)
        pid = child.pid
        assert ready["cpu_seconds"] >= CPU_SECONDS, ready
        # End-of-file came just before the child's last statement, pause(): it is blocked
        # once /proc says it sleeps (its only sleep from here on).
        wait_until(lambda: read_stat(pid)["state"] == "S", 10, f"the busy child {pid} to block in pause()", interval=0.01)
        blocked_at = time.monotonic()

        # The first scrape whose sample was taken after the child blocked. A scrape at
        # monotonic time t (taken before the request) of a sample aged `age` (measured by
        # gomon later than t) proves the sample started after t - age.
        deadline = time.monotonic() + 15
        while True:
            assert g.alive(), f"gomon died\n{g.describe()}"
            asked = time.monotonic()
            scrape = g.scrape()
            stat, status = read_stat(pid), read_status(pid)
            age = scrape.value("gomon_sample_age_seconds")
            if asked - age > blocked_at:
                break
            assert time.monotonic() < deadline, f"no sample newer than the child's block after 15s\n{g.describe()}"
            time.sleep(0.05)

        cpu = series_of(scrape, "gomon_process_cpu_seconds_total", pid)
        assert cpu, (
            f"the busy child {pid} is not among the processes the `process` probe reported in the first "
            f"sample after it used {ready['cpu_seconds']:.2f}s of CPU; reported: "
            f"{sorted({(d['pid'], d['comm']) for d, _ in scrape.series('gomon_process_cpu_seconds_total')})}")

        # Labels: the comm the child gave itself, the pid.
        assert {d["comm"] for d, _ in cpu} == {"gm-busy"} == {stat["comm"]}, cpu
        by_mode = {d["mode"]: v for d, v in cpu}
        assert set(by_mode) == {"user", "system"}, cpu

        # CPU: gomon reads the same ticks and divides by the same USER_HZ, so they agree
        # up to float rounding; one tick of slack for the microseconds the child ran
        # between its ready message and blocking in pause(), which the kernel may
        # account a tick after gomon's read (a blocked process's ticks never move).
        assert abs(by_mode["user"] - stat["utime"] * TICK) <= TICK + 1e-9, (by_mode, stat)
        assert abs(by_mode["system"] - stat["stime"] * TICK) <= TICK + 1e-9, (by_mode, stat)
        # And the total against the child's own clock (CLOCK_PROCESS_CPUTIME_ID, in ns)
        # when it reported: /proc truncates user and system time to ticks separately,
        # so up to two ticks less; a tick more for its last microseconds (above).
        total = sum(by_mode.values())
        assert ready["cpu_seconds"] - 2 * TICK - 1e-9 <= total <= ready["cpu_seconds"] + TICK + 1e-9, (total, ready)

        # Memory: gomon's resident bytes are stat rss x page size; VmRSS in status is the
        # same three counters (anon, file, shmem pages) in kB. Since Linux 6.2 they are
        # per-CPU counters, and stat reads only their shared total while status (6.16+)
        # adds the per-CPU deltas too; each CPU may hold up to one batch,
        # max(32, 2 x CPUs) pages, per counter. That is the slack (768 KiB on 2 CPUs).
        cpus = os.cpu_count() or 1
        slack = 3 * cpus * max(32, 2 * cpus) * PAGE
        resident = scrape.value("gomon_process_resident_bytes", pid=str(pid))
        assert abs(resident - kib(status["VmRSS"])) <= slack, (resident, status["VmRSS"], slack)
        assert abs(resident - stat["rss"] * PAGE) <= slack, (resident, stat, slack)
        assert resident >= MIB << 20, f"resident {resident} < {MIB} MiB: the touched buffer is not counted"
        assert scrape.value("gomon_process_virtual_bytes", pid=str(pid)) == stat["vsize"], stat
        assert scrape.value("gomon_process_peak_resident_bytes", pid=str(pid)) >= MIB << 20

        # Threads, state, nice, start time.
        assert scrape.value("gomon_process_threads", pid=str(pid)) == stat["threads"] == int(status["Threads"]) == 1
        states = series_of(scrape, "gomon_process_state", pid)
        assert stat["state"] == "S", f"the blocked child is in state {stat['state']!r}, expected S"
        assert [(d["state"], v) for d, v in states] == [(STATES[stat["state"]], 1.0)], states
        assert scrape.value("gomon_process_nice", pid=str(pid)) == stat["nice"]
        start = btime() + stat["starttime"] * TICK
        assert abs(scrape.value("gomon_process_start_time_seconds", pid=str(pid)) - start) < 1e-3, start


def count_proc() -> tuple[int, int, dict[str, int]]:
    """(processes, threads, processes by state label) from /proc/[0-9]*/stat; processes
    that exit while being read are left out, as gomon leaves them out."""
    processes = threads = 0
    by_state: dict[str, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = read_stat(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
        processes += 1
        threads += stat["threads"]
        state = STATES.get(stat["state"], "other")
        by_state[state] = by_state.get(state, 0) + 1
    return processes, threads, by_state


def fresh_scrape(g: GomonProcess, max_age: float = 0.2, timeout: float = 10) -> Scrape:
    """A scrape of a sample younger than `max_age` seconds (polls until the next one)."""
    deadline = time.monotonic() + timeout
    while True:
        scrape = g.scrape()
        if scrape.value("gomon_sample_age_seconds") <= max_age:
            return scrape
        assert time.monotonic() < deadline, f"no sample younger than {max_age}s within {timeout}s\n{g.describe()}"
        time.sleep(0.02)


def test_summary_matches_proc(gomon_factory):
    g = gomon_factory(interval=f"{INTERVAL:g}s")
    scrape = fresh_scrape(g)
    processes, threads, by_state = count_proc()
    total = scrape.value("gomon_processes")
    # The two walks are < 0.3 s apart; on a machine that is building things some
    # processes start or exit in between: 3 processes or 2 %, whichever is more.
    slack = max(3, processes * 0.02)
    assert abs(total - processes) <= slack, f"gomon_processes {total}, /proc has {processes} (slack {slack})"
    # Threads come and go faster (thread pools): 10 or 5 %.
    gomon_threads = scrape.value("gomon_threads")
    assert abs(gomon_threads - threads) <= max(10, threads * 0.05), (gomon_threads, threads)
    assert gomon_threads >= total, "fewer threads than processes"

    # One series per state, summing to the total (an exact, internal check).
    states = {d["state"]: v for d, v in scrape.series("gomon_processes_by_state")}
    assert set(states) == set(STATES.values()) | {"other"}, states
    assert sum(states.values()) == total, (states, total)
    # Sleeping and idle are where nearly all processes are; they move between running
    # and sleeping all the time, so compare the sum of the quiet states with slack.
    quiet = states["sleeping"] + states["idle"]
    proc_quiet = by_state.get("sleeping", 0) + by_state.get("idle", 0)
    assert abs(quiet - proc_quiet) <= slack + 2, (states, by_state)

    # started/exited are counters that only grow.
    later = fresh_scrape(g)
    for name in ("gomon_processes_started_total", "gomon_processes_exited_total"):
        assert later.value(name) >= scrape.value(name) >= 0, name
