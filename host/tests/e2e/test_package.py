"""The Debian package, installed and run as an operator would.

`cargo deb -p gomon` (./run-tests runs it) builds target/debian/gomon_<version>_<arch>.deb
and the gomon-dbgsym .ddeb beside it. This module installs the .deb with `dpkg -i`, checks
its files, user and modes, verifies and rates the hardened unit with `systemd-analyze`, then,
there being no systemd as PID 1 here, starts the unit's ExecStart as user gomon with exactly
the unit's capabilities (setpriv; package_helpers.py) and shows that other users' processes
and connections, process events and kernel messages all arrive; then drops one capability at
a time and checks that gomon names it; upgrades over a spooled Loki outage and shows nothing
lost; removes (state kept) and purges (state gone). Whatever happens, the module fixture
purges the package at the end and removes the gomon user if it created it.

Needs root, dpkg, setpriv and systemd-analyze (./run-tests runs as root on Debian).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pwd
import grp
import re
import select
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from e2e_helpers import Scrape, free_port, wait_until, workspace_version
from loki_receiver import LokiReceiver
from package_helpers import (
    CONFFILE,
    STATE_DIR,
    UNIT,
    Installation,
    ServiceRun,
    dbgsym_path,
    deb_path,
    package_installed,
    rss_bytes,
    run,
    service_config,
    unit_capabilities,
    unit_settings,
    wait_for_log,
    world_readable_dir,
)

# The capabilities the unit grants (agent/privileges.rs ALL; a Rust test keeps the unit equal to it).
CAPABILITIES = {"CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_NET_ADMIN", "CAP_SYSLOG"}
# Which features each one enables (the gauge's `feature` label).
FEATURES = {
    "CAP_SYS_PTRACE": {"process-connections", "process-io", "process-details"},
    "CAP_DAC_READ_SEARCH": {"process-connections", "process-io", "log-files", "file-events"},
    "CAP_NET_ADMIN": {"process-events"},
    "CAP_SYSLOG": {"kernel-messages"},
}
# CAP_SYSLOG is needed (and kernel-messages reported) only while kernel.dmesg_restrict = 1.
if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() == "0":
    FEATURES["CAP_SYSLOG"] = set()
MAX_BINARY_BYTES = 40 * 1000 * 1000
# Every process in /metrics, so the test's processes are there whatever their CPU use.
ALL_PROCESSES = '\n[probe.process]\nsettings = { top = "100000" }\n'

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installs a Debian package: needs root")


@pytest.fixture(scope="module")
def installed():
    for tool in ("dpkg", "dpkg-deb", "setpriv", "systemd-analyze", "adduser"):
        assert shutil.which(tool), f"{tool} is not installed (./run-tests installs it)"
    with Installation(deb_path()) as installation:
        yield installation


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return world_readable_dir(tmp_path / "service")


def nobody_process(script: str, *args: str) -> subprocess.Popen:
    """A Python process of user nobody (not the service's user), reading its stdin until the
    test closes it."""
    return subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
         "--", sys.executable if sys.executable.startswith("/usr/") else "/usr/bin/python3", "-c", script, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")


def read_line(proc: subprocess.Popen, timeout: float = 15) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no line from {proc.args} within {timeout} s"
    line = proc.stdout.readline().strip()
    assert line, f"{proc.args} closed its output (exit {proc.poll()})"
    return line


# The server reads 1 MiB first: its I/O counters (/proc/<pid>/io rchar) say so only to a
# reader with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH.
READ_BYTES = 1 << 20
SERVER = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"gm-pkg-server", 0, 0, 0)
with open("/dev/zero", "rb") as zero:
    zero.read(1 << 20)
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
print("accepted", flush=True)
sys.stdin.read()
"""
CLIENT = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"gm-pkg-client", 0, 0, 0)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("connected", flush=True)
sys.stdin.read()
sys.exit(7)
"""


def observations() -> list[dict]:
    """The service's local observation file (Loki off), parsed."""
    path = STATE_DIR / "observations" / "observations.ndjson"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def health(service: ServiceRun) -> dict[str, dict]:
    r = service.get("/api/health")
    assert r.status_code in (200, 503), f"/api/health -> {r.status_code}: {r.text[:300]}"
    return {c["name"]: c for c in r.json()}


def scrape(service: ServiceRun) -> Scrape:
    r = service.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    return Scrape.parse(r.text)


def capability_line(status: str, name: str) -> int:
    match = re.search(rf"^{name}:\s+([0-9a-f]+)$", status, re.M)
    assert match, f"no {name} in {status!r}"
    return int(match.group(1), 16)


# --------------------------------------------------------------------------- the package


def test_package_metadata_and_debug_symbols():
    info = run("dpkg-deb", "-f", str(deb_path())).stdout
    fields = dict(line.split(": ", 1) for line in info.splitlines() if ": " in line and not line.startswith(" "))
    assert fields["Package"] == "gomon" and fields["Version"] == workspace_version(), fields
    assert "adduser" in fields["Depends"] and "libc6" in fields["Depends"], fields["Depends"]
    # The debug info lives in the -dbgsym package, named by the binary's build id.
    ddeb = dbgsym_path()
    assert ddeb.is_file(), f"{ddeb} is missing (cargo-deb's dbgsym = true writes it)"
    listing = run("dpkg-deb", "-c", str(ddeb)).stdout
    debug_files = re.findall(r"\./usr/lib/debug/\.build-id/([0-9a-f]{2})/([0-9a-f]+)\.debug", listing)
    assert debug_files, listing
    extracted = Path(run("mktemp", "-d").stdout.strip())
    try:
        run("dpkg-deb", "-x", str(deb_path()), str(extracted))
        notes = run("readelf", "-n", str(extracted / "usr/bin/gomon")).stdout
        build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
        assert (build_id[:2], build_id[2:]) in debug_files, (build_id, debug_files)
    finally:
        shutil.rmtree(extracted)


def test_installs_files_user_and_modes(installed):
    listing = set(run("dpkg", "-L", "gomon").stdout.split())
    for path in ["/usr/bin/gomon", "/etc/gomon/gomon.toml", "/usr/share/man/man1/gomon.1.gz",
                 "/usr/share/bash-completion/completions/gomon", "/usr/share/zsh/vendor-completions/_gomon",
                 "/usr/share/fish/vendor_completions.d/gomon.fish", "/usr/share/doc/gomon/README.md"]:
        assert path in listing, f"{path} is not in the package: {sorted(listing)}"
        assert Path(path).is_file(), path
    assert listing & {"/lib/systemd/system/gomon.service", "/usr/lib/systemd/system/gomon.service"}, sorted(listing)
    assert UNIT.is_file()

    binary = Path("/usr/bin/gomon").stat()
    assert (binary.st_uid, binary.st_gid, stat.S_IMODE(binary.st_mode)) == (0, 0, 0o755)
    sections = run("readelf", "-S", "-W", "/usr/bin/gomon").stdout
    assert not re.search(r"\.debug_(info|line|str|abbrev|ranges|rnglists|loclists)\b", sections), "the installed binary is stripped (debug info is in gomon-dbgsym)"
    assert binary.st_size <= MAX_BINARY_BYTES, f"/usr/bin/gomon is {binary.st_size} bytes"
    print(f"installed /usr/bin/gomon: {binary.st_size / 1e6:.1f} MB")

    conf = CONFFILE.stat()
    assert (conf.st_uid, stat.S_IMODE(conf.st_mode)) == (0, 0o644)
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "gomon").stdout
    assert str(CONFFILE) in conffiles, f"{CONFFILE} is not a conffile: {conffiles!r}"
    effective = run("/usr/bin/gomon", "--config", str(CONFFILE), "config").stdout
    assert 'state_dir = "/var/lib/gomon"' in effective and 'listen = "127.0.0.1:1234"' in effective, effective

    # The man pages and completions are what this binary generates: gomon.1 and one page per
    # subcommand, as its SUBCOMMANDS section names them.
    man = gzip.decompress(Path("/usr/share/man/man1/gomon.1.gz").read_bytes())
    assert man == subprocess.run(["/usr/bin/gomon", "man"], capture_output=True, check=True).stdout
    assert b".TH gomon 1" in man
    pages = Path(run("mktemp", "-d").stdout.strip())
    try:
        run("/usr/bin/gomon", "man", "--dir", str(pages))
        for page in sorted(pages.iterdir()):
            installed = Path("/usr/share/man/man1") / f"{page.name}.gz"
            assert installed.is_file() and gzip.decompress(installed.read_bytes()) == page.read_bytes(), installed
        assert (pages / "gomon-plugin-package.1").is_file()
    finally:
        shutil.rmtree(pages)
    for shell, path in [("bash", "/usr/share/bash-completion/completions/gomon"),
                        ("zsh", "/usr/share/zsh/vendor-completions/_gomon"),
                        ("fish", "/usr/share/fish/vendor_completions.d/gomon.fish")]:
        generated = subprocess.run(["/usr/bin/gomon", "completions", shell], capture_output=True, check=True).stdout
        assert Path(path).read_bytes() == generated, f"{path} differs from `gomon completions {shell}`"

    # The system user and group, and the private state directory.
    user = pwd.getpwnam("gomon")
    assert user.pw_uid < 1000 and user.pw_dir == "/var/lib/gomon", user
    assert user.pw_shell in ("/usr/sbin/nologin", "/bin/false"), user
    assert grp.getgrgid(user.pw_gid).gr_name == "gomon"
    journal = [g for g in grp.getgrall() if g.gr_name == "systemd-journal"]
    if journal:
        assert "gomon" in journal[0].gr_mem, "gomon reads the journal through the group systemd-journal"
    state = STATE_DIR.stat()
    assert (state.st_uid, state.st_gid, stat.S_IMODE(state.st_mode)) == (user.pw_uid, user.pw_gid, 0o700)


def test_the_unit_verifies_and_is_hardened(installed):
    # verify also runs `man` on Documentation=man:gomon(1): it must find the installed page.
    man = [] if shutil.which("man") else ["--man=no"]
    verify = run("systemd-analyze", "verify", *man, str(UNIT), check=False)
    assert verify.returncode == 0 and "gomon.service" not in verify.stderr, verify.stderr
    security = run("systemd-analyze", "security", "--offline=true", str(UNIT))
    match = re.search(r"Overall exposure level for gomon\.service: ([0-9.]+) (\w+)", security.stdout)
    assert match, security.stdout[-2000:]
    score, verdict = float(match.group(1)), match.group(2)
    print(f"systemd-analyze security --offline=true: exposure {score} {verdict}")
    assert score < 3.0 and verdict == "OK", security.stdout

    settings = unit_settings()
    assert set(unit_capabilities(settings)) == CAPABILITIES
    for key, value in [("User", "gomon"), ("Group", "gomon"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("ReadWritePaths", "/var/lib/gomon"), ("ProtectHome", "read-only"), ("PrivateTmp", "yes"),
                       ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"),
                       ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"),
                       ("StateDirectory", "gomon"), ("StateDirectoryMode", "0700")]:
        assert value in settings.get(key, []), f"{key}={value} is not in the unit: {settings.get(key)}"
    assert "@system-service" in settings["SystemCallFilter"]


# --------------------------------------------------------------------------- run as the service


@pytest.mark.timeout(240)
def test_runs_as_gomon_and_sees_other_users_processes_events_and_kernel_messages(installed, workdir):
    # A `dot` that records the capabilities it was started with, then renders: programs gomon
    # starts must get none of the service's.
    fakebin = world_readable_dir(workdir / "bin")
    records = workdir / "records"
    records.mkdir()
    os.chown(records, pwd.getpwnam("gomon").pw_uid, -1)
    dot = shutil.which("dot")
    assert dot, "graphviz is not installed (./run-tests installs it)"
    (fakebin / "dot").write_text(f"#!/bin/sh\ngrep '^Cap' /proc/self/status > {records}/dot-caps.$$\nexec {dot} \"$@\"\n")
    (fakebin / "dot").chmod(0o755)

    port = free_port()
    config = service_config(workdir / "gomon.toml", port, extra=ALL_PROCESSES)
    service = ServiceRun(workdir, config, port, path_prefix=fakebin).wait_ready()
    server = client = None
    try:
        status = Path(f"/proc/{service.pid}/status").read_text()
        assert re.search(r"^Uid:\s+(\d+)", status, re.M).group(1) == str(pwd.getpwnam("gomon").pw_uid)
        bits = {"CAP_DAC_READ_SEARCH": 2, "CAP_NET_ADMIN": 12, "CAP_SYS_PTRACE": 19, "CAP_SYSLOG": 34}
        want = sum(1 << bits[c] for c in CAPABILITIES)
        assert capability_line(status, "CapEff") == want, status
        assert capability_line(status, "CapAmb") == 0, "gomon clears its ambient set so that children get nothing"

        # Nothing is missing: the log says nothing, the check and the gauge agree.
        checks = wait_until(lambda: health(service), 30, "/api/health", describe=service.describe)
        assert checks["capabilities"]["ok"], checks["capabilities"]
        assert "every enabled feature" in checks["capabilities"]["message"], checks["capabilities"]
        assert "Without CAP_" not in service.log_text(), service.describe()
        gauge = scrape(service).series("gomon_capability_missing")
        assert gauge and all(value == 0 for _, value in gauge), gauge
        assert {labels["capability"] for labels, _ in gauge} >= CAPABILITIES, gauge

        # Another user's processes, with a TCP connection between them.
        server = nobody_process(SERVER)
        server_port = read_line(server)
        client = nobody_process(CLIENT, server_port)
        assert read_line(client) == "connected" and read_line(server) == "accepted"
        pids = {str(server.pid), str(client.pid)}

        def connected():
            graph = service.get("/api/graph").json()
            edges = [e for e in graph["edges"] if {e["source"], e["target"]} == pids]
            return edges and any(d.startswith("tcp") for e in edges for d in e["details"])

        wait_until(connected, 30, "the TCP connection between nobody's processes in /api/graph",
                   describe=service.describe)

        def io_counters():
            read = scrape(service).get("gomon_process_syscall_read_bytes_total", pid=str(server.pid))
            return read is not None and read >= READ_BYTES

        wait_until(io_counters, 30, "nobody's process with its I/O counters (>= 1 MiB read) in /metrics",
                   describe=service.describe)

        # Process events from the proc connector: the exit carries its status.
        client.stdin.close()
        assert client.wait(timeout=15) == 7

        def exit_event():
            return [o for o in observations() if o["labels"].get("event") == "exit"
                    and o["metadata"].get("pid") == str(client.pid) and o["metadata"].get("exit_code") == "7"]

        wait_until(exit_event, 30, "the client's exit with code 7 in the observations", describe=service.describe)

        # Kernel messages.
        token = f"gomon-package-test-{uuid.uuid4().hex}"
        with open("/dev/kmsg", "w") as kmsg:
            kmsg.write(f"<4>{token}\n")

        def kernel_message():
            return [o for o in observations() if token in o["line"] and o["metadata"].get("origin") == "kmsg"]

        wait_until(kernel_message, 30, "the kernel message in the observations", describe=service.describe)

        # The /gomon page, rendered by `dot` started without capabilities.
        assert service.get("/gomon").status_code == 200
        caps = wait_until(lambda: sorted(records.glob("dot-caps.*")), 30, "dot to run")
        recorded = caps[0].read_text()
        # (The inheritable set stays: it empowers only a program with inheritable file
        # capabilities, and clearing it would need capset, which the unit's filter forbids.)
        for name in ("CapPrm", "CapEff", "CapAmb"):
            assert capability_line(recorded, name) == 0, f"dot ran with {name} set:\n{recorded}"

        print(f"service RSS (as gomon, warm): {rss_bytes(service.pid) / 1e6:.1f} MB")
    finally:
        for p in (server, client):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        assert service.stop() == 0, service.describe()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("dropped", sorted(CAPABILITIES))
def test_a_missing_capability_is_named_once(installed, workdir, dropped):
    port = free_port()
    config = service_config(workdir / "gomon.toml", port)
    rest = [c for c in unit_capabilities(unit_settings()) if c != dropped]
    service = ServiceRun(workdir, config, port, capabilities=rest).wait_ready()
    try:
        if FEATURES[dropped]:
            line = wait_for_log(service, f"Without {dropped}")
            assert "AmbientCapabilities=" in line and "setcap" in line, line
        others = CAPABILITIES - {dropped}
        assert not any(f"Without {c}," in service.log_text() for c in others), service.describe()

        s = scrape(service)
        missing = {labels["feature"] for labels, value in s.series("gomon_capability_missing", capability=dropped)
                   if value == 1}
        assert missing == FEATURES[dropped], (missing, s.series("gomon_capability_missing"))
        for c in others:
            assert all(v == 0 for _, v in s.series("gomon_capability_missing", capability=c))

        check = health(service)["capabilities"]
        if FEATURES[dropped]:
            assert dropped in check["message"] and "degraded" in check["message"], check
        for c in others:
            assert f"without {c}" not in check["message"], check

        # Said once, not every cycle: count after a few more cycles.
        def cycles() -> float:
            return sum(value for _, value in scrape(service).series("gomon_samples_total"))

        start = cycles()
        wait_until(lambda: cycles() >= start + 3, 30, "three more cycles", describe=service.describe)
        count = sum(1 for line in service.log_text().splitlines() if f"Without {dropped}" in line)
        assert count == len(FEATURES[dropped]), service.describe()
    finally:
        assert service.stop() == 0, service.describe()


# --------------------------------------------------------------------------- upgrade, remove, purge


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_files() -> dict[str, str]:
    """Every regular file of the state directory but the compile cache and the logs of
    observations, with its digest."""
    out = {}
    for path in sorted(STATE_DIR.rglob("*")):
        rel = str(path.relative_to(STATE_DIR))
        if path.is_file() and not rel.startswith(("cache/", "observe/canary")):
            out[rel] = digest(path)
    return out


def version_b(deb: Path, out: Path) -> tuple[Path, str]:
    """The same package with a newer version: what an upgrade installs over it."""
    tree = out / "tree"
    run("dpkg-deb", "-R", str(deb), str(tree))
    control = tree / "DEBIAN" / "control"
    version = f"{workspace_version()}+upgrade1"
    text, n = re.subn(r"^Version: .*$", f"Version: {version}", control.read_text(), flags=re.M)
    assert n == 1
    control.write_text(text)
    newer = out / f"gomon_{version}.deb"
    run("dpkg-deb", "-Zgzip", "-z1", "--build", "--root-owner-group", str(tree), str(newer), timeout=300)
    return newer, version


@pytest.mark.timeout(300)
def test_an_upgrade_keeps_state_and_loses_no_observation(installed, workdir, tmp_path):
    receiver = LokiReceiver().start()
    loki_url = receiver.url
    receiver.stop()  # the outage: nothing listens there
    logs = world_readable_dir(workdir / "logs")
    log_file = logs / "app.log"
    log_file.touch()
    log_file.chmod(0o640)  # root-only, as /var/log's are: tailing it needs CAP_DAC_READ_SEARCH
    port = free_port()
    config = service_config(workdir / "gomon.toml", port, loki_url=loki_url, log_files=[str(logs / "*.log")],
                            only_logs=True)
    service = ServiceRun(workdir, config, port).wait_ready()
    messages = [f"upgrade line {i:02d}" for i in range(30)]
    lines = [f"2026-12-01T10:00:{i:02d}Z WARN {m}" for i, m in enumerate(messages)]
    try:
        wait_for_log(service, "tailing")
        with open(log_file, "a") as f:
            for line in lines:
                f.write(line + "\n")

        def spooled():  # the tailed file is the only source of observations here
            s = scrape(service)
            return (s.get("gomon_loki_spool_entries", default=0) or 0) >= len(lines)

        wait_until(spooled, 60, "the lines in the Loki spool during the outage", describe=service.describe)
    finally:
        assert service.stop() == 0, service.describe()

    before = state_files()
    for must in ("tls/cert.pem", "tls/key.pem"):
        assert must in before, f"no {must} in the state dir: {sorted(before)}"
    assert any(k.startswith("loki-spool/") for k in before), f"nothing spooled: {sorted(before)}"
    assert any(k.startswith("observe/") for k in before), f"no tail positions: {sorted(before)}"

    newer, version = version_b(deb_path(), tmp_path)
    installed.install(newer)
    assert run("dpkg-query", "-W", "-f=${Version}", "gomon").stdout == version
    after = state_files()
    assert after == before, "the upgrade changed the state directory"
    assert stat.S_IMODE(STATE_DIR.stat().st_mode) == 0o700

    receiver.start()
    service = ServiceRun(workdir, config, port).wait_ready()
    try:
        def all_arrived():  # a Loki line is the parsed message
            got = [e.line for e in receiver.entries()]
            return all(any(m in g for g in got) for m in messages)

        wait_until(all_arrived, 60, "every line written during the outage at Loki after the upgrade",
                   describe=lambda: f"{len(receiver.entries())} entries\n{service.describe()}")
        assert digest(STATE_DIR / "tls" / "cert.pem") == before["tls/cert.pem"], "the certificate is kept"
        assert "Generated a self-signed TLS certificate" not in service.log_text()
    finally:
        assert service.stop() == 0, service.describe()
        receiver.stop()


def test_remove_keeps_state_and_purge_deletes_it(installed):
    assert STATE_DIR.is_dir()
    run("dpkg", "--remove", "gomon")
    assert not Path("/usr/bin/gomon").exists() and not UNIT.exists()
    assert STATE_DIR.is_dir(), "remove keeps the state directory"
    assert CONFFILE.exists(), "remove keeps the conffile"
    run("dpkg", "--purge", "gomon")
    assert not package_installed()
    for gone in (STATE_DIR, CONFFILE.parent, Path("/usr/share/doc/gomon"), Path("/usr/share/man/man1/gomon.1.gz")):
        assert not gone.exists(), f"{gone} is still there after purge"
    # Debian's convention: the system user stays after purge (the fixture removes it when
    # this test created it).
    assert pwd.getpwnam("gomon")
