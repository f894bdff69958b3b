"""Fixtures of the gomon end-to-end suite.

- `free_port`: a factory of free loopback ports (bind to port 0).
- `state_dir`: a fresh temporary state directory.
- `gomon`: gomon started with `--state-dir <tmp> --listen 127.0.0.1:<port> --interval 1s`,
  ready once `<state>/tls/cert.pem` exists and `/metrics` answers over HTTPS verified
  with that certificate; SIGTERM on teardown must end it with exit code 0.
- `gomon_factory`: the same, with extra arguments, as many as a test needs.
- `shared_gomon`: one such gomon for a whole module (read-only tests).
- `prometheus`: Debian's Prometheus scraping `shared_gomon` over https with
  `tls_config.ca_file` = the generated certificate, every second.
- `node_exporter`: Debian's prometheus-node-exporter on another loopback port.
- `template_probes`: probes made by `gomon probe new` and built with cargo, once per
  session (slow: ~30-60 s of cargo on a fresh machine; see the fixture).

With `GOMON_REQUIRE_ALL=1` (./run-tests sets it: it installs everything a test needs) a test
that skips itself fails instead, so a machine lacking something cannot pass silently.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_helpers import (
    GomonProcess,
    ServiceProcess,
    cargo_bin,
    free_port as _free_port,
    gomon_bin,
    http_get,
    require_tool,
)


def _require_all() -> bool:
    return os.environ.get("GOMON_REQUIRE_ALL", "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under GOMON_REQUIRE_ALL, a skip is a failure (with the skip's reason)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _require_all() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but GOMON_REQUIRE_ALL is set (./run-tests installs what every test needs): {reason}"


@pytest.fixture
def free_port():
    """Factory: `free_port()` returns a loopback TCP port that was free a moment ago."""
    return _free_port


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    return d


@pytest.fixture
def gomon_factory(tmp_path: Path):
    """Factory: `gomon_factory(*args, **kw)` starts a GomonProcess (see e2e_helpers);
    every one still running at teardown must exit 0 on SIGTERM."""
    started: list[GomonProcess] = []
    counter = iter(range(1000))

    def start(*extra_args: str, **kw) -> GomonProcess:
        workdir = kw.pop("workdir", None) or tmp_path / f"gomon{next(counter)}"
        g = GomonProcess(workdir, extra_args, **kw)
        started.append(g)
        return g

    yield start
    errors = []
    for g in started:
        if g.exit_code is not None:  # the test stopped it itself and checked the result
            continue
        try:
            g.stop_and_check()
        except AssertionError as exc:
            errors.append(str(exc))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def gomon(gomon_factory) -> GomonProcess:
    return gomon_factory()


@pytest.fixture(scope="module")
def shared_gomon(tmp_path_factory) -> GomonProcess:
    g = GomonProcess(tmp_path_factory.mktemp("shared-gomon"))
    yield g
    g.stop_and_check()


class Prometheus:
    def __init__(self, service: ServiceProcess, port: int) -> None:
        self.service = service
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list[dict]:
        """Instant query; returns the `result` vector (fails on a Prometheus error)."""
        r = http_get(f"{self.url}/api/v1/query", params={"query": expr})
        body = r.json()
        assert r.status_code == 200 and body.get("status") == "success", f"query {expr!r}: {body}"
        return body["data"]["result"]

    def scalar(self, expr: str) -> float | None:
        """Value of a query expected to yield at most one series (None if none yet)."""
        result = self.query(expr)
        assert len(result) <= 1, f"query {expr!r} returned {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def targets(self, job: str) -> list[dict]:
        r = http_get(f"{self.url}/api/v1/targets")
        return [t for t in r.json()["data"]["activeTargets"] if t["labels"].get("job") == job]

    def describe(self, job: str = "gomon") -> str:
        try:
            targets = self.targets(job)
        except Exception as exc:  # noqa: BLE001
            targets = f"<targets unavailable: {exc!r}>"
        return f"Prometheus targets for job {job}: {targets}\n{self.service.describe()}"


@pytest.fixture(scope="module")
def prometheus(shared_gomon: GomonProcess, tmp_path_factory) -> Prometheus:
    binary = require_tool("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    port = _free_port()
    config = work / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: gomon
                scheme: https
                tls_config:
                  ca_file: {shared_gomon.cert}
                static_configs:
                  - targets: ['127.0.0.1:{shared_gomon.port}']
              # Control: Prometheus scraping itself shows the harness works when gomon's target does not.
              - job_name: prometheus
                static_configs:
                  - targets: ['127.0.0.1:{port}']
            """
        )
    )
    service = ServiceProcess(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        work,
    )
    try:
        service.wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        yield Prometheus(service, port)
    finally:
        service.stop()


class NodeExporter:
    def __init__(self, service: ServiceProcess, port: int) -> None:
        self.service = service
        self.port = port
        self.url = f"http://127.0.0.1:{port}/metrics"


@pytest.fixture(scope="module")
def node_exporter(tmp_path_factory) -> NodeExporter:
    binary = require_tool("prometheus-node-exporter")
    work = tmp_path_factory.mktemp("node-exporter")
    port = _free_port()
    service = ServiceProcess(
        "node_exporter",
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            # The default also excludes overlay; a container's / may be one, and we compare "/".
            "--collector.filesystem.fs-types-exclude=^(autofs|binfmt_misc|bpf|cgroup2?|configfs|"
            "debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|proc|procfs|pstore|"
            "rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
            # Debian's default excludes lo; we compare lo's counters.
            "--collector.netdev.device-exclude=^$",
        ],
        work,
    )
    try:
        service.wait_http(f"http://127.0.0.1:{port}/metrics", timeout=30)
        yield NodeExporter(service, port)
    finally:
        service.stop()


@dataclass
class TemplateProbes:
    """Crates made by `gomon probe new` and their built components.

    - `my_probe_crate`, `my_probe_wasm`: `gomon probe new my-probe`, built with a plain
      `cargo build --release` inside the crate (exactly what the README of the crate says),
      so the component is at my-probe/target/wasm32-wasip2/release/my_probe.wasm.
    - `system_wasm`: `gomon probe new system` (a probe named like the built-in `system`;
      its only family is `system_uptime_seconds`), built with CARGO_TARGET_DIR pointing at
      my-probe's target directory so it reuses the compiled dependencies (~2 s, not ~30 s).
    """

    my_probe_crate: Path
    my_probe_wasm: Path
    my_probe_build_seconds: float
    system_wasm: Path


def _cargo_env() -> dict[str, str]:
    env = dict(os.environ)
    # The generated crate must build on its own: no inherited target dir or target.
    for var in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"):
        env.pop(var, None)
    return env


def _run_checked(args: list[str], cwd: Path, env: dict[str, str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{what}: `{' '.join(args)}` still running after {timeout:.0f}s\n"
                             f"stderr: {exc.stderr!r}") from None
    assert proc.returncode == 0, (
        f"{what}: `{' '.join(args)}` (in {cwd}) exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")


@pytest.fixture(scope="session")
def template_probes(tmp_path_factory) -> TemplateProbes:
    """SLOW (the expensive part of the suite): `gomon probe new` twice and `cargo build
    --release` of the results, once per session. A failure here is a failure of `gomon
    probe new` (the generated crate must build with one command)."""
    work = tmp_path_factory.mktemp("probe-new")
    env = _cargo_env()
    cargo = cargo_bin()
    for name in ("my-probe", "system"):
        _run_checked([str(gomon_bin()), "probe", "new", name, "--dir", str(work)], work, env, 30,
                     f"gomon probe new {name}")
    crate = work / "my-probe"
    start = time.monotonic()
    _run_checked([cargo, "build", "--release"], crate, env, 600, "building the crate of `gomon probe new my-probe`")
    build_seconds = time.monotonic() - start
    my_wasm = crate / "target" / "wasm32-wasip2" / "release" / "my_probe.wasm"
    assert my_wasm.is_file(), (
        f"`cargo build --release` in {crate} succeeded but {my_wasm} is missing; have "
        f"{sorted(str(p.relative_to(crate)) for p in (crate / 'target').rglob('*.wasm'))}")
    _run_checked([cargo, "build", "--release"], work / "system", {**env, "CARGO_TARGET_DIR": str(crate / "target")},
                 600, "building the crate of `gomon probe new system`")
    system_wasm = crate / "target" / "wasm32-wasip2" / "release" / "system.wasm"
    assert system_wasm.is_file(), f"{system_wasm} missing after building the `system` crate"
    return TemplateProbes(crate, my_wasm, build_seconds, system_wasm)
