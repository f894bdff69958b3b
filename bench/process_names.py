#!/usr/bin/env python3
"""Process names in a storm of short-lived processes: taskstats on against off.

Runs the release gomon (process events only, observations to its local NDJSON
file) twice: with `[observe] taskstats = true` (proc connector + taskstats exit
records, the default) and `false` (the proc connector alone, names read from
/proc/<pid>/stat at each event), and in each runs N short
processes one after another, each /bin/true under a name of its own (a symbolic
link). It prints, per mode, how many of their exec and exit events arrived,
how many carried no name, how many exits carried CPU and memory figures, and
gomon's CPU time over the storm; then the ratios on / off.

    sudo python3 bench/process_names.py [N]        # default 5000

GOMON_BIN overrides the binary (default target/release/gomon).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOMON = Path(os.environ.get("GOMON_BIN", ROOT / "target" / "release" / "gomon"))
CONFIG = """[observe]
lag_interval = "0s"
batch_max_wait = "100ms"
process = true
[observe.files]
enabled = false
[observe.logs]
files = []
kmsg = false
journal = "off"
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def observations(state: Path) -> list[dict]:
    out = []
    for path in sorted((state / "observations").glob("observations.ndjson*")):
        out += [json.loads(line) for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return out


def run(mode: str, n: int, work: Path) -> dict:
    state = work / mode / "state"
    state.mkdir(parents=True)
    config = work / mode / "gomon.toml"
    config.write_text(CONFIG.replace("process = true", f"process = true\ntaskstats = {'true' if mode == 'on' else 'false'}"))
    port = 20000 + secrets.randbelow(20000)
    log = open(work / mode / "stderr.log", "wb")
    g = subprocess.Popen([str(GOMON), "--config", str(config), "--state-dir", str(state),
                          "--listen", f"127.0.0.1:{port}", "--plain-http"], stdout=log, stderr=log)
    time.sleep(3)  # a bench, not a test: let the observer start
    names_dir = work / mode / "names"
    names_dir.mkdir()
    tag = secrets.token_hex(2)
    names = [f"g{tag}{i:05d}" for i in range(n)]
    for name in names:
        (names_dir / name).symlink_to("/bin/true")
    cpu0 = cpu_seconds(g.pid)
    ours = {}
    for name in names:
        pid = os.posix_spawn(str(names_dir / name), [name], {})
        os.waitpid(pid, 0)
        ours[pid] = name
    deadline = time.monotonic() + 60
    while True:
        seen = [o for o in observations(state) if o["labels"].get("event") in ("exec", "exit")
                and int(o.get("metadata", {}).get("pid", -1)) in ours]
        if len(seen) >= 2 * n or time.monotonic() > deadline:
            break
        time.sleep(1)
    cpu = cpu_seconds(g.pid) - cpu0
    g.terminate()
    g.wait(timeout=10)
    exits = [o for o in seen if o["labels"]["event"] == "exit"]
    return {
        "events": len(seen),
        "nameless": sum(1 for o in seen if not o["metadata"].get("name")),
        "right name": sum(1 for o in seen if o["metadata"].get("name") == ours[int(o["metadata"]["pid"])]),
        "exits with CPU and memory": sum(1 for o in exits if "cpu_user_seconds" in o["metadata"]),
        "gomon CPU seconds": round(cpu, 3),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    if os.geteuid() != 0:
        sys.exit("needs root (the proc connector, taskstats)")
    work = Path(tempfile.mkdtemp(prefix="gomon-names-"))
    try:
        results = {mode: run(mode, n, work) for mode in ("on", "off")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{n} processes, exec + exit events expected: {2 * n}")
    print(f"{'':28} {'taskstats on':>14} {'off':>10} {'on / off':>10}")
    for key in results["on"]:
        on, off = results["on"][key], results["off"][key]
        ratio = f"{on / off:.2f}" if off else "-"
        print(f"{key:28} {on:>14} {off:>10} {ratio:>10}")


if __name__ == "__main__":
    main()
