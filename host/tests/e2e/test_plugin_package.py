"""`gomon plugin package DIR`: the Grafana plugin directory, laid out exactly as Grafana loads it;
`gomon plugin package --zip FILE`: the same as the archive `grafana cli --pluginUrl FILE plugins
install` unpacks.

Grafana reads `plugin.json` and `module.js` from the plugin directory and starts the backend as
`<executable>_<os>_<arch>` (`executable` from plugin.json, Go's architecture names). The frontend
comes from assets/plugin/dist, which ./run-tests builds with npm before this suite.
"""

from __future__ import annotations

import filecmp
import json
import os
import platform
import re
import stat
import subprocess
import zipfile
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
FRONTEND_FILES = {"plugin.json", "module.js", "module.js.map", "img/logo.svg", "README.md", "LICENSE", "CHANGELOG.md"}


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


# --------------------------------------------------------------------------- the zip archive

# Grafana's rules for plugin.json that its loader enforces (pkg/plugins: the id pattern, the
# types, a backend's executable) and the schema's formats (semver, dates), restated; the
# frontend's vitest (assets/plugin/src/test/pluginJson.ts) checks the full set on the source.
PLUGIN_ID_PATTERN = re.compile(r"^[0-9a-z]+-([0-9a-z]+-)?(app|panel|datasource|secretsmanager)$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def plugin_json_problems(manifest: dict, names: set[str], top: str) -> list[str]:
    problems = []
    if not PLUGIN_ID_PATTERN.match(manifest.get("id", "")):
        problems.append(f"id {manifest.get('id')!r} does not match {PLUGIN_ID_PATTERN.pattern}")
    if manifest.get("type") not in {"app", "datasource", "panel", "renderer", "secretsmanager"}:
        problems.append(f"type {manifest.get('type')!r}")
    if not manifest.get("name"):
        problems.append("no name")
    if manifest.get("backend") is True and not manifest.get("executable"):
        problems.append("backend without executable")
    info = manifest.get("info", {})
    if not SEMVER.match(info.get("version", "")):
        problems.append(f"info.version {info.get('version')!r} is not semver")
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", info.get("updated", "")):
        problems.append(f"info.updated {info.get('updated')!r}")
    for size in ("small", "large"):
        logo = info.get("logos", {}).get(size)
        if not logo or f"{top}/{logo}" not in names:
            problems.append(f"info.logos.{size} {logo!r} is not in the archive")
    if not re.match(r"^(>=|\^|~)?\d+\.\d+\.\d+", manifest.get("dependencies", {}).get("grafanaDependency", "")):
        problems.append("dependencies.grafanaDependency")
    return problems


def package_zip(out: Path, *args: str) -> subprocess.CompletedProcess:
    return run_gomon_cli("plugin", "package", "--zip", str(out), *args, timeout=180)


def test_zip_unpacks_as_grafana_installs_and_loads_it(frontend: Path, tmp_path: Path):
    archive = tmp_path / "gomon.zip"
    proc = package_zip(archive, "--frontend", str(frontend))
    assert proc.returncode == 0, describe_cli(proc)
    assert f"GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={PLUGIN_ID}" in proc.stdout, proc.stdout
    assert f"grafana cli --pluginUrl {archive} plugins install {PLUGIN_ID}" in proc.stdout, proc.stdout

    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None, "every entry's CRC checks"
        infos = {i.filename: i for i in z.infolist()}
        names = set(infos)
        # One top folder, named after the plugin id; no entry escapes it.
        tops = {n.split("/", 1)[0] for n in names}
        assert tops == {PLUGIN_ID}, tops
        assert not any(".." in n.split("/") or n.startswith("/") for n in names), names
        files = {n[len(PLUGIN_ID) + 1:] for n, i in infos.items() if not i.is_dir()}
        executable = f"gpx_gomon_linux_{GOARCH}"
        assert files == FRONTEND_FILES | {executable}, files
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos.values() if not i.is_dir())

        manifest = json.loads(z.read(f"{PLUGIN_ID}/plugin.json"))
        assert manifest["id"] == PLUGIN_ID
        assert plugin_json_problems(manifest, names, PLUGIN_ID) == []
        assert manifest["info"]["version"] == workspace_version()
        # The executable Grafana starts: <executable>_<os>_<arch>, executable bit in the Unix mode.
        assert re.fullmatch(rf"{re.escape(manifest['executable'])}_linux_(amd64|arm64)", executable)
        exe_info = infos[f"{PLUGIN_ID}/{executable}"]
        mode = exe_info.external_attr >> 16
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o755, oct(mode)
        for name in FRONTEND_FILES:
            assert stat.S_IMODE(infos[f"{PLUGIN_ID}/{name}"].external_attr >> 16) == 0o644, name
            assert z.read(f"{PLUGIN_ID}/{name}") == (frontend / name).read_bytes(), name
        z.extractall(tmp_path / "plugins")

    # Unpacked (restoring the mode, as Grafana's installer does), the executable is a
    # stripped gomon of this version, far smaller than the binary with its debug info.
    exe = tmp_path / "plugins" / PLUGIN_ID / executable
    exe.chmod(stat.S_IMODE(exe_info.external_attr >> 16))
    sections = subprocess.run(["readelf", "-S", "-W", str(exe)], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"\.debug_(info|line|str|abbrev|ranges|rnglists|loclists)\b", sections), "the packaged executable is stripped"
    assert exe.stat().st_size < gomon_bin().stat().st_size
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and workspace_version() in version.stdout, version
    print(f"plugin zip: {archive.stat().st_size / 1e6:.1f} MB; executable {exe.stat().st_size / 1e6:.1f} MB "
          f"(gomon under test {gomon_bin().stat().st_size / 1e6:.1f} MB)")


def test_zip_is_reproducible_and_refuses_to_overwrite(frontend: Path, tmp_path: Path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    assert package_zip(first, "--frontend", str(frontend)).returncode == 0
    assert package_zip(second, "--frontend", str(frontend)).returncode == 0
    assert first.read_bytes() == second.read_bytes(), "the same inputs give the same archive"
    proc = package_zip(first, "--frontend", str(frontend))
    assert proc.returncode != 0 and f"{first} exists" in proc.stderr and "--force" in proc.stderr, describe_cli(proc)
    assert package_zip(first, "--frontend", str(frontend), "--force").returncode == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file is left behind"


def test_zip_refuses_a_plugin_id_that_is_not_a_folder_name(frontend: Path, tmp_path: Path):
    hostile = tmp_path / "hostile"
    subprocess.run(["cp", "-r", str(frontend), str(hostile)], check=True)
    manifest = json.loads((hostile / "plugin.json").read_text())
    manifest["id"] = "../../etc"
    (hostile / "plugin.json").write_text(json.dumps(manifest))
    out = tmp_path / "x.zip"
    proc = package_zip(out, "--frontend", str(hostile))
    assert proc.returncode != 0 and '"../../etc" is not a plugin id' in proc.stderr, describe_cli(proc)
    assert not out.exists()
