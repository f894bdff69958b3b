"""`gomon plugin package DIR`: the Grafana plugin directory, laid out exactly as Grafana loads it.

Grafana reads `plugin.json` and `module.js` from the plugin directory and starts the backend as
`<executable>_<os>_<arch>` (`executable` from plugin.json, Go's architecture names). The frontend
comes from assets/plugin/dist, which ./run-tests builds with npm before this suite.
"""

from __future__ import annotations

import filecmp
import json
import os
import platform
import stat
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import (
    REPO_ROOT,
    describe_cli,
    free_port,
    gomon_bin,
    http_get,
    run_gomon_cli,
    wait_until,
    workspace_version,
)

DIST = REPO_ROOT / "assets" / "plugin" / "dist"
PLUGIN_ID = "gomon-host-datasource"
# Go's GOARCH for this machine: Grafana looks for <executable>_linux_<GOARCH>.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
FRONTEND_FILES = {"plugin.json", "module.js", "module.js.map", "img/logo.svg", "README.md", "LICENSE"}


@pytest.fixture(scope="module")
def frontend() -> Path:
    if not (DIST / "module.js").is_file():
        raise AssertionError(
            f"the plugin frontend is not built ({DIST} has no module.js): run `npm ci && npm run build` "
            "in assets/plugin (./run-tests does)")
    return DIST


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def package(out: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_gomon_cli("plugin", "package", str(out), *args, cwd=cwd, timeout=120)


def test_lays_out_the_plugin_as_grafana_loads_it(frontend: Path, tmp_path: Path):
    out = tmp_path / "plugins" / PLUGIN_ID
    proc = package(out, "--frontend", str(frontend))
    assert proc.returncode == 0, describe_cli(proc)

    manifest = json.loads((out / "plugin.json").read_text())
    assert manifest["id"] == PLUGIN_ID
    executable = f"{manifest['executable']}_linux_{GOARCH}"
    assert manifest["executable"] == "gpx_gomon"
    assert tree(out) == FRONTEND_FILES | {executable}, describe_cli(proc)

    # The frontend files are the build's, byte for byte.
    for name in FRONTEND_FILES:
        assert filecmp.cmp(frontend / name, out / name, shallow=False), f"{name} differs from {frontend / name}"
    # The executable is this gomon, mode 0755, and runs.
    exe = out / executable
    assert filecmp.cmp(gomon_bin(), exe, shallow=False), f"{exe} is not a copy of {gomon_bin()}"
    mode = stat.S_IMODE(exe.stat().st_mode)
    assert mode == 0o755, f"{exe} has mode {mode:o}, want 755"
    assert not exe.stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and workspace_version() in version.stdout, version

    # It says what it wrote, and how to allow the unsigned plugin.
    for name in FRONTEND_FILES | {executable}:
        assert name in proc.stdout, f"{name} not listed\n{describe_cli(proc)}"
    assert f"GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={PLUGIN_ID}" in proc.stdout


def test_default_frontend_is_assets_plugin_dist_of_the_current_directory(frontend: Path, tmp_path: Path):
    out = tmp_path / "from-repo-root"
    proc = package(out, cwd=REPO_ROOT)
    assert proc.returncode == 0, describe_cli(proc)
    assert filecmp.cmp(frontend / "module.js", out / "module.js", shallow=False)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = package(tmp_path / "out2", cwd=elsewhere)
    assert proc.returncode != 0, describe_cli(proc)
    assert "assets/plugin/dist does not exist" in proc.stderr and "npm run build" in proc.stderr, describe_cli(proc)
    assert not (tmp_path / "out2").exists(), "nothing is written when the frontend is missing"


def test_names_a_frontend_that_is_not_a_build(tmp_path: Path):
    fake = tmp_path / "not-a-build"
    fake.mkdir()
    (fake / "plugin.json").write_text(json.dumps({"id": PLUGIN_ID, "executable": "gpx_gomon"}))
    proc = package(tmp_path / "out", "--frontend", str(fake))
    assert proc.returncode != 0, describe_cli(proc)
    assert f"{fake} has no module.js" in proc.stderr, describe_cli(proc)


def test_names_a_plugin_json_without_executable(frontend: Path, tmp_path: Path):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(frontend), str(broken)], check=True)
    manifest = json.loads((broken / "plugin.json").read_text())
    del manifest["executable"]
    (broken / "plugin.json").write_text(json.dumps(manifest))
    proc = package(tmp_path / "out", "--frontend", str(broken))
    assert proc.returncode != 0, describe_cli(proc)
    assert "no string field `executable`" in proc.stderr and str(broken / "plugin.json") in proc.stderr, describe_cli(proc)


def test_refuses_a_non_empty_directory_unless_forced(frontend: Path, tmp_path: Path):
    out = tmp_path / "plugin"
    out.mkdir()
    keep = out / "notes.txt"
    keep.write_text("mine")
    proc = package(out, "--frontend", str(frontend))
    assert proc.returncode != 0, describe_cli(proc)
    assert f"{out} is not empty" in proc.stderr and "--force" in proc.stderr, describe_cli(proc)
    assert tree(out) == {"notes.txt"}, "a refused run writes nothing"

    proc = package(out, "--frontend", str(frontend), "--force")
    assert proc.returncode == 0, describe_cli(proc)
    assert tree(out) == FRONTEND_FILES | {f"gpx_gomon_linux_{GOARCH}", "notes.txt"}
    assert keep.read_text() == "mine"


def test_replaces_the_executable_while_grafana_runs_it(frontend: Path, tmp_path: Path):
    """Grafana keeps the backend running; writing over a running executable fails with ETXTBSY
    unless the new one is renamed into place."""
    out = tmp_path / "plugin"
    assert package(out, "--frontend", str(frontend)).returncode == 0
    exe = out / f"gpx_gomon_linux_{GOARCH}"
    port = free_port()
    running = subprocess.Popen(
        [str(exe), "--plain-http", "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state"),
         "--interval", "1s"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: running.poll() is None and http_get(f"http://127.0.0.1:{port}/metrics").status_code == 200,
                   30, "the packaged executable to serve /metrics")
        before = exe.stat().st_ino
        proc = package(out, "--frontend", str(frontend), "--force")
        assert proc.returncode == 0, describe_cli(proc)
        assert exe.stat().st_ino != before, "the executable was renamed into place"
        assert filecmp.cmp(gomon_bin(), exe, shallow=False)
        assert running.poll() is None, "the running copy is untouched"
    finally:
        running.terminate()
        running.wait(timeout=10)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary file is left behind"


def test_package_help_names_the_layout():
    proc = run_gomon_cli("plugin", "package", "--help")
    assert proc.returncode == 0, describe_cli(proc)
    for word in ("plugin.json", "module.js", "--frontend", "--force"):
        assert word in proc.stdout, describe_cli(proc)
    assert os.access(gomon_bin(), os.X_OK)
