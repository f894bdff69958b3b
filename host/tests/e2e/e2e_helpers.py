"""Shared helpers for the gomon end-to-end suite.

Everything here talks to real processes: the gomon binary under test, Debian's
Prometheus and node_exporter. Waits are polls against a bounded deadline, never
fixed sleeps "for luck".
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import requests
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[3]

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# What Prometheus 2.42 sends on every scrape (field notes B.1, verified on Debian).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

BUILTIN_PROBES = ("system", "filesystem", "io", "network")

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------- paths


def gomon_bin() -> Path:
    """The binary under test: $GOMON_BIN or target/release/gomon."""
    path = Path(os.environ.get("GOMON_BIN", REPO_ROOT / "target" / "release" / "gomon"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise AssertionError(
            f"gomon binary not found at {path}: build it with `cargo build --release -p gomon` "
            "(./run-tests does) or point GOMON_BIN at it"
        )
    return path


def workspace_version() -> str:
    """The version in the workspace Cargo.toml (what `gomon --version` should print)."""
    data = tomllib.loads((REPO_ROOT / "Cargo.toml").read_text())
    return data["workspace"]["package"]["version"]


def hostile_probe_wasm(key: str) -> Path:
    """Path of the built hostile probe `key` (spin, hog, panic, flood, wrong-version).

    The crate is found under probes/hostile/*/Cargo.toml by directory or package
    name; the component is where `cargo build --target wasm32-wasip2 --release`
    puts it (or under $HOSTILE_PROBES_DIR).
    """
    want = key.replace("_", "-")
    out_dir = Path(
        os.environ.get(
            "HOSTILE_PROBES_DIR",
            REPO_ROOT / "probes" / "target" / "wasm32-wasip2" / "release",
        )
    )
    manifests = sorted((REPO_ROOT / "probes" / "hostile").glob("*/Cargo.toml"))
    for manifest in manifests:
        data = tomllib.loads(manifest.read_text())
        package = data.get("package", {}).get("name", "")
        lib = data.get("lib", {}).get("name", package)
        names = {manifest.parent.name.replace("_", "-"), package.replace("_", "-")}
        if want in names or f"hostile-{want}" in names:
            wasm = out_dir / f"{lib.replace('-', '_')}.wasm"
            if not wasm.is_file():
                raise AssertionError(
                    f"hostile probe {key!r} ({manifest}) is not built: {wasm} missing; run "
                    f"cargo build --release --target wasm32-wasip2 --manifest-path "
                    f"probes/Cargo.toml -p {package}"
                )
            return wasm
    raise AssertionError(
        f"no hostile probe crate for {key!r} under probes/hostile/ "
        f"(found: {[str(m.parent.name) for m in manifests]})"
    )


# --------------------------------------------------------------------------- small utilities


def new_session(verify: str | Path | bool = True) -> requests.Session:
    """A requests session that ignores the environment: REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE would otherwise override `verify`, and *_PROXY would route loopback
    traffic elsewhere."""
    s = requests.Session()
    s.trust_env = False
    s.verify = str(verify) if isinstance(verify, Path) else verify
    return s


def http_get(url: str, **kw) -> requests.Response:
    kw.setdefault("timeout", 5)
    with new_session() as s:
        return s.get(url, **kw)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.1,
    describe: Callable[[], str] | None = None,
) -> Any:
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass.

    Exceptions from the predicate count as "not yet"; the last one (and the
    optional `describe()` text) is put in the AssertionError raised on timeout.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_exc!r}" if last_exc else ""
            extra = f"\n{describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}{extra}")
        time.sleep(interval)


def read_meminfo() -> dict[str, int]:
    """/proc/meminfo as {field: value in bytes} (the file gives kB = KiB)."""
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, rest = line.split(":", 1)
        parts = rest.split()
        value = int(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            value *= 1024
        out[key] = value
    return out


def proc_stat_btime() -> int:
    """Boot time in seconds since the epoch: /proc/stat `btime`."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    raise AssertionError("/proc/stat has no btime line")


def proc_stat_cpu_count() -> int:
    """Number of `cpuN` lines in /proc/stat."""
    return sum(
        1 for line in Path("/proc/stat").read_text().splitlines() if re.match(r"cpu\d+ ", line)
    )


def rss_bytes(pid: int) -> int:
    """VmRSS of a live process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"/proc/{pid}/status has no VmRSS line")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process in seconds, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


# --------------------------------------------------------------------------- exposition parsing


@dataclass
class Scrape:
    """One parsed text-format exposition: {(sample name, labels): value}."""

    body: str
    families: list = field(default_factory=list)
    samples: dict[tuple[str, frozenset], float] = field(default_factory=dict)

    @classmethod
    def parse(cls, body: str) -> "Scrape":
        families = list(text_string_to_metric_families(body))
        samples: dict[tuple[str, frozenset], float] = {}
        for fam in families:
            for s in fam.samples:
                key = (s.name, frozenset(s.labels.items()))
                assert key not in samples, f"duplicate series {s.name}{s.labels}"
                samples[key] = s.value
        return cls(body=body, families=families, samples=samples)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def series(self, name: str, **labels: str) -> list[tuple[dict, float]]:
        """All series of sample `name` whose labels include `labels`."""
        out = []
        for (n, lbls), value in self.samples.items():
            d = dict(lbls)
            if n == name and all(d.get(k) == v for k, v in labels.items()):
                out.append((d, value))
        return out

    def value(self, name: str, **labels: str) -> float:
        """The single series of `name` matching `labels`; fails if absent or ambiguous."""
        found = self.series(name, **labels)
        assert found, f"no series {name}{labels} in scrape (have {sorted(self.names())[:200]})"
        assert len(found) == 1, f"{len(found)} series match {name}{labels}: {found}"
        return found[0][1]

    def get(self, name: str, default: float | None = None, **labels: str) -> float | None:
        found = self.series(name, **labels)
        return found[0][1] if len(found) == 1 else default


def fetch_metrics(session: requests.Session, url: str, timeout: float = 5.0, **kw) -> Scrape:
    resp = session.get(url, timeout=timeout, **kw)
    assert resp.status_code == 200, f"GET {url} -> {resp.status_code}: {resp.text[:300]}"
    return Scrape.parse(resp.text)


# --------------------------------------------------------------------------- processes


def _terminate(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
    """Send `sig` and wait; SIGKILL if still alive after `timeout`. Returns the exit code
    after `sig`, or None if it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return None


class GomonProcess:
    """A running `gomon` with its own state dir, port and captured output."""

    def __init__(
        self,
        workdir: Path,
        extra_args: Iterable[str] = (),
        *,
        plain_http: bool = False,
        cert: Path | None = None,
        interval: str = "1s",
        port: int | None = None,
        state_dir: Path | None = None,
        start_timeout: float = 30.0,
        wait_ready: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir or (self.workdir / "state")
        self.port = port or free_port()
        self.plain_http = plain_http
        # Certificate to verify against: the one given with --tls-cert, else the generated one.
        self.cert = Path(cert) if cert else self.state_dir / "tls" / "cert.pem"
        self.args = [
            str(gomon_bin()),
            "--state-dir", str(self.state_dir),
            "--listen", f"127.0.0.1:{self.port}",
            "--interval", interval,
            *(["--plain-http"] if plain_http else []),
            *extra_args,
        ]
        n = len(list(self.workdir.glob("stderr*.log")))
        self.stdout_path = self.workdir / f"stdout{n}.log"
        self.stderr_path = self.workdir / f"stderr{n}.log"
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            cwd=self.workdir,
        )
        self.session = new_session(True if plain_http else self.cert)
        self.exit_code: int | None = None
        if wait_ready:
            try:
                self.wait_ready(start_timeout)
            except BaseException:
                self.stop()  # never leak a gomon that failed to come up
                raise

    # -- addresses
    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://127.0.0.1:{self.port}"

    def url(self, path: str = "/metrics") -> str:
        return self.base_url + path

    # -- output
    def stderr_text(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return strip_ansi(self.stderr_path.read_text(errors="replace"))

    def stdout_text(self) -> str:
        if not self._stdout.closed:
            self._stdout.flush()
        return strip_ansi(self.stdout_path.read_text(errors="replace"))

    def describe(self) -> str:
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        return (
            f"gomon ({' '.join(self.args)}) is {state}\n"
            f"--- stderr (tail) ---\n{self.stderr_text()[-3000:]}\n"
            f"--- stdout (tail) ---\n{self.stdout_text()[-1500:]}"
        )

    # -- lifecycle
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float) -> None:
        def ready():
            if not self.alive():
                raise AssertionError(f"gomon exited during start-up\n{self.describe()}")
            if not self.plain_http and not self.cert.is_file():
                return False
            r = self.session.get(self.url(), timeout=2)
            return r.status_code == 200

        wait_until(ready, timeout, f"gomon to serve {self.url()}", interval=0.1, describe=self.describe)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal gomon and wait for it; returns its exit code (None: had to be SIGKILLed)."""
        if self.exit_code is None and self.proc.poll() is None:
            self.exit_code = _terminate(self.proc, sig, timeout)
        elif self.exit_code is None:
            self.exit_code = self.proc.returncode
        self.session.close()
        self._stdout.close()
        self._stderr.close()
        return self.exit_code

    def stop_and_check(self) -> None:
        """Teardown: SIGTERM must end gomon cleanly (exit 0) within the deadline."""
        was_alive = self.alive()
        rc = self.stop()
        assert was_alive, f"gomon died before teardown\n{self.describe()}"
        assert rc is not None, f"gomon did not exit within 10s of SIGTERM\n{self.describe()}"
        assert rc == 0, f"gomon exited with {rc} on SIGTERM (want 0)\n{self.describe()}"

    # -- requests
    def get(self, path: str = "/metrics", **kw) -> requests.Response:
        kw.setdefault("timeout", 5)
        return self.session.get(self.url(path), **kw)

    def scrape(self, **kw) -> Scrape:
        return fetch_metrics(self.session, self.url(), **kw)


class ServiceProcess:
    """A helper daemon (Prometheus, node_exporter) with its output in a log file."""

    def __init__(self, name: str, args: list[str], workdir: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = Path(workdir) / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=workdir
        )

    def describe(self) -> str:
        if not self._log.closed:
            self._log.flush()
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        return f"{self.name} is {state}\n--- log (tail) ---\n{self.log_path.read_text(errors='replace')[-3000:]}"

    def wait_http(self, url: str, timeout: float) -> None:
        def ok():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited during start-up\n{self.describe()}")
            return http_get(url, timeout=2).status_code == 200

        wait_until(ok, timeout, f"{self.name} at {url}", describe=self.describe)

    def stop(self) -> None:
        _terminate(self.proc, signal.SIGTERM, 10)
        self._log.close()


def require_tool(name: str) -> str:
    path = shutil.which(name) or next(
        (f"{d}/{name}" for d in ("/usr/bin", "/usr/sbin") if Path(f"{d}/{name}").exists()), None)
    if not path:
        raise AssertionError(f"{name} is not installed (./run-tests installs it with apt-get)")
    return path


# --------------------------------------------------------------------------- probes (directory, CLI, examples)

# The grants a probe from the probe directory gets when its [probe.NAME] table sets none.
DEFAULT_FILE_GRANTS = ("system", "filesystems", "disks", "network")
# The keys of one /api/probes entry.
API_PROBE_FIELDS = frozenset({
    "name", "version", "description", "source", "state", "needs", "grants", "calls", "errors",
    "last_error", "mean_call_seconds", "memory_bytes", "series", "load_seconds", "cached",
})
PROBE_ERROR_KINDS = frozenset({"trap", "timeout", "memory", "contract", "probe"})

# key -> (cargo package, probe name) of the Rust examples under probes/examples/.
RUST_EXAMPLES = {
    "cpu-ratios": ("example-cpu-ratios", "cpu-ratios"),
    "threshold-alert": ("example-threshold-alert", "threshold-alert"),
    "redact": ("example-redact", "redact"),
}


def example_probe_wasm(key: str) -> Path:
    """Path of a built example probe: `cpu-ratios`, `threshold-alert` (Rust, built by
    `cargo build --release --target wasm32-wasip2 --manifest-path probes/Cargo.toml -p
    example-<key>`, or under $HOSTILE_PROBES_DIR) or `python-load`
    (probes/examples/python-load/build.sh, or $PYTHON_PROBE_WASM)."""
    if key == "python-load":
        wasm = Path(os.environ.get(
            "PYTHON_PROBE_WASM", REPO_ROOT / "probes" / "examples" / "python-load" / "python_load.wasm"))
        if not wasm.is_file():
            raise AssertionError(
                f"the Python example probe is not built: {wasm} missing; run "
                "probes/examples/python-load/build.sh (./run-tests does)")
        return wasm
    if key not in RUST_EXAMPLES:
        raise AssertionError(f"no example probe {key!r} (have {sorted(RUST_EXAMPLES)} and 'python-load')")
    package, _ = RUST_EXAMPLES[key]
    out_dir = Path(os.environ.get(
        "HOSTILE_PROBES_DIR", REPO_ROOT / "probes" / "target" / "wasm32-wasip2" / "release"))
    wasm = out_dir / f"{package.replace('-', '_')}.wasm"
    if not wasm.is_file():
        raise AssertionError(
            f"example probe {key!r} is not built: {wasm} missing; run cargo build --release "
            f"--target wasm32-wasip2 --manifest-path probes/Cargo.toml -p {package} (./run-tests does)")
    return wasm


def run_gomon_cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Run `gomon ARGS` to completion (text output captured); one that does not exit
    within `timeout` fails the test."""
    try:
        return subprocess.run([str(gomon_bin()), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"gomon {' '.join(args)} still running after {timeout}s (expected it to exit)\n"
            f"stderr: {exc.stderr!r}") from None


def describe_cli(proc: subprocess.CompletedProcess) -> str:
    return (f"`{' '.join(map(str, proc.args))}` exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")


def write_config(path: Path, text: str) -> Path:
    """Write a gomon TOML configuration file and return its path (for --config)."""
    path.write_text(text)
    return path


def install_probe(src: Path, probe_dir: Path, name: str | None = None) -> Path:
    """Put a component into a probe directory the way an operator should: copy it to a
    temporary name without the .wasm extension, then rename it into place (atomic, so
    the watcher never sees a half-written file)."""
    probe_dir.mkdir(parents=True, exist_ok=True)
    dest = probe_dir / (name or src.name)
    tmp = probe_dir / f".{dest.name}.part"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def with_custom_section(component: bytes, name: str, payload: bytes) -> bytes:
    """The same component with a custom section appended: another file (another
    compile-cache key) with the same behaviour, i.e. a different build of one probe."""

    def leb128(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    encoded = name.encode()
    body = leb128(len(encoded)) + encoded + payload
    return component + b"\x00" + leb128(len(body)) + body


def api_probes(g: "GomonProcess") -> list[dict]:
    """GET /api/probes of a running gomon, parsed."""
    r = g.get("/api/probes")
    assert r.status_code == 200, f"/api/probes -> {r.status_code}: {r.text[:300]}\n{g.describe()}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    data = r.json()
    assert isinstance(data, list), f"/api/probes is not a JSON array: {data!r}"
    return data


def api_probe(g: "GomonProcess", name: str) -> dict | None:
    found = [p for p in api_probes(g) if p.get("name") == name]
    assert len(found) <= 1, f"/api/probes lists {name} {len(found)} times: {found}"
    return found[0] if found else None


def wait_for_log(g: "GomonProcess", needle: str, timeout: float, count: int = 1) -> str:
    """Wait until gomon's stderr has at least `count` lines containing `needle`; returns
    the last such line."""

    def found():
        lines = [line for line in g.stderr_text().splitlines() if needle in line]
        return lines[-1] if len(lines) >= count else None

    return wait_until(found, timeout, f"{count} gomon log line(s) containing {needle!r}",
                      describe=g.describe)


def log_lines(g: "GomonProcess", needle: str) -> list[str]:
    return [line for line in g.stderr_text().splitlines() if needle in line]


def wait_for_scrape(g: "GomonProcess", predicate: Callable[["Scrape"], Any], timeout: float, what: str,
                    interval: float = 0.05) -> tuple[Any, float]:
    """Scrape /metrics every `interval` s until `predicate(scrape)` is truthy; returns
    (its value, seconds waited). Fails naming `what` (and gomon's log) on timeout."""
    start = time.monotonic()
    last: list[Scrape] = []

    def check():
        assert g.alive(), f"gomon died\n{g.describe()}"
        s = g.scrape()
        last[:] = [s]
        return predicate(s)

    def describe():
        names = sorted(n for n in last[0].names() if "probe" in n or not n.startswith("gomon_")) if last else []
        return f"last scrape's probe-related and non-gomon names: {names}\n{g.describe()}"

    value = wait_until(check, timeout, what, interval=interval, describe=describe)
    return value, time.monotonic() - start


def avoid_interval_boundary(interval_s: float, margin_before: float, margin_after: float = 1.0) -> None:
    """gomon samples on wall-clock multiples of its interval. Return at a moment at least
    `margin_before` seconds before the next multiple and at least `margin_after` after
    the last one, so that a scheduled sample cannot fall inside the next
    `margin_before` seconds (waits at most margin_before + margin_after)."""
    while True:
        phase = time.time() % interval_s
        if margin_after <= phase <= interval_s - margin_before:
            return
        time.sleep(0.05)


def cargo_bin() -> str:
    """cargo from PATH, else rustup's default location."""
    path = shutil.which("cargo")
    if path:
        return path
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    if (home / "bin" / "cargo").is_file():
        return str(home / "bin" / "cargo")
    raise AssertionError("cargo not found (install Rust with rustup; ./run-tests needs it too)")
