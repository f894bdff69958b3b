"""Observers that cannot be turned against the machine, and process events that
always carry a name.

- The log tailer, run as root, refuses a symbolic link out of its globs'
  directories to a root-only file, a link owned by another user (nobody), and a
  FIFO named like a log (which used to block the tail thread for good), says
  why once per path, and keeps reading the other files; a line longer than
  `max_line_bytes` is one observation marked `truncated="true"`.
- The inotify watch cap holds when a tree has more directories than it allows:
  the gauge stays at the cap, the counter of unwatched directories rises, and
  the cap is logged once.
- A storm of uniquely named short-lived processes: every exec and exit event
  carries its process's name (taskstats exit records name those gone before
  /proc could be read), and exits carry CPU and memory figures. (Without
  taskstats, process events still flow: host/src/observe/tests.rs.)

Observations are read from the local NDJSON file (no Loki URL configured).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

import pytest

from e2e_helpers import GomonProcess, wait_until

NOBODY = 65534


def observations(g: GomonProcess) -> list[dict]:
    """Every observation gomon wrote to its NDJSON file (rotated ones too)."""
    out = []
    directory = g.state_dir / "observations"
    for path in sorted(directory.glob("observations.ndjson*"), reverse=True):
        for line in path.read_text(errors="replace").splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def start(gomon_factory, tmp_path: Path, observe: str, **kw) -> GomonProcess:
    workdir = tmp_path / "g"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "gomon.toml"
    config.write_text('[observe]\nlag_interval = "0s"\nbatch_max_wait = "100ms"\n' + observe)
    return gomon_factory("--config", str(config), workdir=workdir, **kw)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (files of other owners, the proc connector, taskstats)")


# ----------------------------------------------------------------------------- the tailer


def test_tailer_refuses_links_and_fifos_and_cuts_long_lines(gomon_factory, tmp_path):
    require_root()
    logs = tmp_path / "logs"
    secret_dir = tmp_path / "secret"
    logs.mkdir()
    secret_dir.mkdir(mode=0o700)
    app = logs / "app.log"
    app.touch()
    g = start(gomon_factory, tmp_path, f"""process = false
[observe.files]
enabled = false
[observe.logs]
files = [{json.dumps(str(logs / "*.log"))}]
kmsg = false
journal = "off"
max_line_bytes = 1024
""")
    wait_until(lambda: g.scrape().get("gomon_observer_log_files") == 1, 20, "the tailer following app.log",
               describe=g.describe)

    # A root-only file in a directory only root reads, linked from the tailed directory.
    secret = secret_dir / "secret.log"
    secret.write_text("TOPSECRET-1 from a root-only file\n")
    secret.chmod(0o600)
    (logs / "evil.log").symlink_to(secret)
    # A root-only file beside the logs, linked by a link that nobody owns.
    root_only = logs / "root-only.txt"
    root_only.write_text("ROOTONLY-1 through nobody's link\n")
    root_only.chmod(0o600)
    (logs / "nobody.log").symlink_to(root_only)
    os.lchown(logs / "nobody.log", NOBODY, NOBODY)
    # A FIFO named like a log: opening it for reading would wait for a writer.
    os.mkfifo(logs / "x.log")

    reasons = {
        "evil.log": "outside the directories of observe.logs.files",
        "nobody.log": f"symbolic link owned by uid {NOBODY}",
        "x.log": "it is a FIFO, not a regular file",
    }

    def warned(name: str) -> list[str]:
        return [line for line in g.stderr_text().splitlines()
                if f"not tailing {logs / name}" in line and reasons[name] in line]

    wait_until(lambda: all(warned(n) for n in reasons), 30, "a warning naming each refused path and why",
               describe=g.describe)
    # After the FIFO was seen: a regular file's new line still arrives.
    with open(app, "a") as f:
        f.write("after the traps\n")
    wait_until(lambda: any("after the traps" in o["line"] for o in observations(g)), 20,
               "a line written after the FIFO was planted", describe=g.describe)

    # A 100 KiB line without its newline, then its end and one more line.
    with open(app, "a") as f:
        f.write("L" * (100 * 1024))
        f.flush()
        f.write("-the end of the long line\nnext line\n")
    wait_until(lambda: any(o["line"] == "next line" for o in observations(g)), 20, "the line after the long one",
               describe=g.describe)
    # A file that appears later is found by a later rescan: by then every
    # refused path was looked at again, and must not be logged again.
    (logs / "later.log").write_text("a later file\n")
    wait_until(lambda: any("a later file" in o["line"] for o in observations(g)), 30, "a later file's line",
               describe=g.describe)

    seen = observations(g)
    lines = [o["line"] for o in seen]
    assert not any("TOPSECRET" in line or "ROOTONLY" in line for line in lines), lines
    long_rows = [o for o in seen if "LLLL" in o["line"]]
    assert len(long_rows) == 1, f"{len(long_rows)} rows for one long line"
    assert long_rows[0]["metadata"].get("truncated") == "true", long_rows[0]["metadata"]
    assert len(long_rows[0]["line"].encode()) <= 1024
    assert not any("the end of the long line" in line for line in lines), "the rest of a cut line is skipped"
    for name in reasons:
        assert len(warned(name)) == 1, f"{name} warned {len(warned(name))} times:\n{g.stderr_text()[-3000:]}"
    # app.log and later.log (the gauge is refreshed once per cycle).
    wait_until(lambda: g.scrape().get("gomon_observer_log_files") == 2, 10, "two files tailed", describe=g.describe)


# ----------------------------------------------------------------------------- the watch cap


def test_the_watch_cap_holds(gomon_factory, tmp_path):
    root = tmp_path / "watch"
    for i in range(60):
        (root / f"d{i:02d}").mkdir(parents=True)
    g = start(gomon_factory, tmp_path, f"""process = false
[observe.files]
roots = [{json.dumps(str(root))}]
max_watches = 20
[observe.logs]
files = []
kmsg = false
journal = "off"
""")

    def figures():
        s = g.scrape()
        return (s.get("gomon_observer_file_watches"), s.get("gomon_observer_file_max_watches"),
                s.get("gomon_observer_file_unwatched_directories_total"))

    wait_until(lambda: figures()[0] == 20 and figures()[1] == 20 and (figures()[2] or 0) >= 1, 20,
               "the watches at the cap and directories counted as unwatched", describe=g.describe)
    first = figures()[2]
    # Directories created later, at the cap: counted too, never watched.
    for i in range(30):
        (root / f"late{i:02d}").mkdir()
    wait_until(lambda: figures()[2] >= first + 30, 20, "the late directories counted", describe=g.describe)
    assert figures()[0] == 20
    cap_lines = [line for line in g.stderr_text().splitlines() if "max_watches (20) reached" in line]
    assert len(cap_lines) == 1, cap_lines
    assert "WARN" in cap_lines[0], cap_lines[0]


# ----------------------------------------------------------------------------- process names


def storm(directory: Path, n: int) -> list[tuple[int, str]]:
    """Runs `n` short processes one after another, each /bin/true under a name of
    its own (a symbolic link: the kernel names a process after the path it
    exec'd); returns (pid, name) of each."""
    tag = secrets.token_hex(2)
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"g{tag}{i:05d}" for i in range(n)]
    for name in names:
        (directory / name).symlink_to("/bin/true")
    out = []
    for name in names:
        pid = os.posix_spawn(str(directory / name), [name], {})
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        out.append((pid, name))
    return out


PROCESS_ONLY = """process = true
[observe.files]
enabled = false
[observe.logs]
files = []
kmsg = false
journal = "off"
"""


def test_a_storm_of_short_processes_is_named(gomon_factory, tmp_path):
    require_root()
    g = start(gomon_factory, tmp_path, PROCESS_ONLY)
    wait_until(lambda: g.scrape().get("gomon_observer_process_taskstats") == 1, 20, "taskstats registered",
               describe=g.describe)
    spawned = storm(tmp_path / "names", 3000)
    ours = {pid for pid, _ in spawned}

    def index():
        found = {}
        for o in observations(g):
            event = o["labels"].get("event")
            pid = o.get("metadata", {}).get("pid")
            if event in ("exec", "exit") and pid is not None and int(pid) in ours:
                found.setdefault((event, int(pid)), []).append(o)
        return found

    def missing(found):
        return [(e, pid, name) for pid, name in spawned for e in ("exec", "exit")
                if not any(o["metadata"].get("name") == name for o in found.get((e, pid), []))]

    wait_until(lambda: not missing(index()), 120, "a named exec and exit of every process",
               describe=lambda: f"missing {len(missing(index()))}, e.g. {missing(index())[:5]}\n{g.describe()}")
    found = index()
    nameless = [o for events in found.values() for o in events if not o["metadata"].get("name")]
    assert not nameless, f"{len(nameless)} events without a name, e.g. {nameless[:3]}"
    exits = [o for (e, _), events in found.items() if e == "exit" for o in events]
    assert len(exits) >= len(spawned)
    for o in exits:
        m = o["metadata"]
        assert m["exit_code"] == "0", m
        assert float(m["cpu_user_seconds"]) >= 0 and float(m["cpu_system_seconds"]) >= 0, m
        assert int(m["max_rss_bytes"]) > 0, m
