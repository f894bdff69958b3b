"""`gomon probe check | list | new` and the /api/probes they rest on.

`test_probe_new_builds_checks_and_loads` is the expensive test of the suite: it uses the
session fixture `template_probes`, which runs `cargo build --release` of a crate made by
`gomon probe new` (~30-60 s on a fresh machine, once per session).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from e2e_helpers import (
    API_PROBE_FIELDS,
    BUILTIN_PROBES,
    DEFAULT_FILE_GRANTS,
    PROBE_ERROR_KINDS,
    GomonProcess,
    api_probes,
    describe_cli,
    example_probe_wasm,
    hostile_probe_wasm,
    install_probe,
    run_gomon_cli,
    wait_for_log,
    wait_for_scrape,
    wait_until,
    write_config,
)

# key -> (probe name, needs, --config text or None)
EXAMPLES = {
    "cpu-ratios": ("cpu-ratios", "system", None),
    "threshold-alert": ("threshold-alert", "system",
                        '[probe.threshold-alert]\nsettings = { metric = "load1", above = "2.0" }\n'),
    # SLOW-ish: compiling the 18 MB CPython component takes ~8 s on 2 cores.
    "python-load": ("python-load", "system", None),
}


def check(*args: str, cwd: Path, timeout: float = 120):
    return run_gomon_cli(*args, cwd=cwd, timeout=timeout)


def fields(stdout: str) -> dict[str, str]:
    """`key:   value` lines of `gomon probe check` (first occurrence of each key)."""
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        m = re.match(r"([a-z]+):\s+(.*)$", line)
        if m and m.group(1) not in out:
            out[m.group(1)] = m.group(2).strip()
    return out


def assert_refused(proc, *needles: str) -> None:
    assert proc.returncode in (1, 2), f"want exit 1 or 2\n{describe_cli(proc)}"
    assert "panicked" not in proc.stderr, describe_cli(proc)
    message = [line for line in proc.stderr.splitlines() if line.strip()]
    assert message, describe_cli(proc)
    for needle in needles:
        assert needle in proc.stderr, f"stderr does not say {needle!r}\n{describe_cli(proc)}"
    assert proc.stdout.strip().splitlines()[-1:] != ["ok"], describe_cli(proc)


# ---------------------------------------------------------------------------- probe check


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_check_example(key, tmp_path):
    name, needs, config = EXAMPLES[key]
    wasm = example_probe_wasm(key)
    args = ["probe", "check", str(wasm)]
    if config:
        args = ["--config", str(write_config(tmp_path / "gomon.toml", config)), *args]
    proc = check(*args, cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    f = fields(proc.stdout)
    assert f.get("file", "").startswith(str(wasm)), f
    assert f.get("contract", "").startswith("gomon:probe@0.2.0"), f
    assert f.get("world") == "gomon:probe/measure@0.2.0", f
    assert re.match(rf"{re.escape(name)} \d+\.\d+\.\d+ — \S", f.get("probe", "")), f
    assert f.get("needs") == needs, f
    assert re.match(r"\d+(\.\d+)? ms", f.get("load", "")), f
    assert proc.stdout.strip().splitlines()[-1] == "ok", describe_cli(proc)


def test_check_without_required_settings_is_sound_but_says_so(tmp_path):
    proc = check("probe", "check", str(example_probe_wasm("threshold-alert")), cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    assert "setting `metric` is missing" in proc.stdout, describe_cli(proc)
    assert proc.stdout.strip().splitlines()[-1].startswith("ok (the component is sound"), describe_cli(proc)


def test_check_wrong_contract_version(tmp_path):
    wasm = hostile_probe_wasm("wrong-version")
    proc = check("probe", "check", str(wasm), cwd=tmp_path)
    assert_refused(proc, str(wasm), "0.2.0", "0.3.0")


def test_check_garbage(tmp_path):
    wasm = tmp_path / "garbage.wasm"
    wasm.write_bytes(b"definitely not wasm\n" * 50)
    assert_refused(check("probe", "check", str(wasm), cwd=tmp_path), str(wasm), "not a WebAssembly file")


def test_check_core_module(tmp_path):
    wasm = tmp_path / "core.wasm"
    wasm.write_bytes(b"\0asm\x01\0\0\0")  # an empty core module
    assert_refused(check("probe", "check", str(wasm), cwd=tmp_path), str(wasm),
                   "is a core WebAssembly module, not a component")


def test_check_component_without_the_world(tmp_path):
    wasm = tmp_path / "empty-component.wasm"
    wasm.write_bytes(b"\0asm\x0d\0\x01\0")  # an empty component: no imports, no exports
    assert_refused(check("probe", "check", str(wasm), cwd=tmp_path), str(wasm), "exports no gomon probe world")


def test_check_missing_file(tmp_path):
    wasm = tmp_path / "nowhere.wasm"
    assert_refused(check("probe", "check", str(wasm), cwd=tmp_path), str(wasm))


# ---------------------------------------------------------------------------- probe list, /api/probes


@pytest.fixture
def gomon_with_cpu_ratios(tmp_path, gomon_factory) -> tuple[GomonProcess, Path]:
    probe_dir = tmp_path / "probes"
    wasm = install_probe(example_probe_wasm("cpu-ratios"), probe_dir, "cpu-ratios.wasm")
    g = gomon_factory("--probe-dir", str(probe_dir))
    wait_for_scrape(g, lambda s: s.get("gomon_probe_up", probe="cpu-ratios") == 1, 10, "cpu-ratios up")
    return g, wasm


def list_args(g: GomonProcess) -> list[str]:
    return ["--listen", f"127.0.0.1:{g.port}", "--state-dir", str(g.state_dir)]


def test_probe_list_table(gomon_with_cpu_ratios, tmp_path):
    g, wasm = gomon_with_cpu_ratios
    proc = run_gomon_cli("probe", "list", *list_args(g), cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["PROBE", "VERSION", "STATE"], lines[0]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith(" ")}
    assert set(rows) >= {*BUILTIN_PROBES, "cpu-ratios"}, f"rows: {sorted(rows)}\n{proc.stdout}"
    for probe in BUILTIN_PROBES:
        assert rows[probe].split()[2] == "ok" and rows[probe].endswith("built-in"), rows[probe]
    assert rows["cpu-ratios"].split()[2] == "ok" and rows["cpu-ratios"].endswith(str(wasm)), rows["cpu-ratios"]


def test_probe_list_json_matches_api(gomon_with_cpu_ratios, tmp_path):
    g, _ = gomon_with_cpu_ratios
    proc = run_gomon_cli("probe", "list", "--json", *list_args(g), cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    listed = json.loads(proc.stdout)
    api = api_probes(g)
    assert [p["name"] for p in listed] == [p["name"] for p in api]
    # Counters move between the two requests; the identity does not.
    stable = ("name", "version", "source", "needs", "grants", "description")
    assert [{k: p[k] for k in stable} for p in listed] == [{k: p[k] for k in stable} for p in api]


def test_probe_list_without_a_running_gomon(tmp_path, free_port, gomon):
    # A real state dir (with a certificate) but nothing listening on the port.
    port = free_port()
    proc = run_gomon_cli("probe", "list", "--listen", f"127.0.0.1:{port}", "--state-dir", str(gomon.state_dir),
                         cwd=tmp_path)
    assert_refused(proc, f"127.0.0.1:{port}")


def test_api_probes_fields(gomon_with_cpu_ratios):
    g, wasm = gomon_with_cpu_ratios
    # Wait for a second call of cpu-ratios, so that calls and means are from real calls.
    wait_until(lambda: next((p for p in api_probes(g) if p["name"] == "cpu-ratios" and p["calls"] >= 2), None),
               10, "two calls of cpu-ratios in /api/probes", describe=g.describe)
    entries = api_probes(g)
    names = [p["name"] for p in entries]
    assert set(BUILTIN_PROBES) <= set(names) and "cpu-ratios" in names, names
    assert len(set(names)) == len(names), f"a probe is listed twice: {names}"
    # Probes called once per sample cycle; others (a graph probe) are called on demand.
    per_cycle = {*BUILTIN_PROBES, "cpu-ratios"}
    scrape = g.scrape()
    for p in entries:
        assert set(p) == API_PROBE_FIELDS, f"{p['name']}: fields {sorted(p)}"
        assert isinstance(p["version"], str) and re.match(r"\d+\.\d+\.\d+", p["version"]), p
        assert isinstance(p["description"], str) and p["description"], p
        assert p["state"] == "ok", p
        assert set(p["errors"]) == PROBE_ERROR_KINDS and all(v == 0 for v in p["errors"].values()), p
        assert p["last_error"] is None, p
        assert isinstance(p["calls"], int) and p["calls"] >= 0, p
        assert isinstance(p["series"], int) and p["series"] >= 0, p
        assert 0 <= p["mean_call_seconds"] < 0.5, p
        assert 0 < p["memory_bytes"] <= 64 * 2**20, p
        assert 0 < p["load_seconds"] < 60, p
        assert isinstance(p["cached"], bool), p
        assert set(p["needs"]) <= set(p["grants"]), p
        assert math.isclose(scrape.value("gomon_probe_load_seconds", probe=p["name"]), p["load_seconds"])
        if p["name"] in per_cycle:
            assert p["calls"] >= 1 and p["mean_call_seconds"] > 0 and p["series"] >= 1, p
            assert scrape.value("gomon_probe_up", probe=p["name"]) == 1
    by_name = {p["name"]: p for p in entries}
    for probe in BUILTIN_PROBES:
        assert by_name[probe]["source"] == "built-in", by_name[probe]
        assert by_name[probe]["grants"] == by_name[probe]["needs"], by_name[probe]
    cpu = by_name["cpu-ratios"]
    assert cpu["source"] == str(wasm), cpu
    assert cpu["needs"] == ["system"] and sorted(cpu["grants"]) == sorted(DEFAULT_FILE_GRANTS), cpu
    # From its second call on, cpu-ratios returns the same series every time.
    assert cpu["series"] == scrape.value("gomon_probe_series", probe="cpu-ratios") == 3 + len(
        scrape.series("gomon_cpu_utilisation_ratio")), (cpu, scrape.series("gomon_probe_series"))


# ---------------------------------------------------------------------------- probe new


def test_probe_new_refuses_bad_names_and_existing_dirs(tmp_path):
    for bad in ("My-Probe", "1probe", "has_underscore", "x" * 65, ""):
        proc = run_gomon_cli("probe", "new", bad, "--dir", str(tmp_path), cwd=tmp_path)
        assert proc.returncode in (1, 2) and "panicked" not in proc.stderr, describe_cli(proc)
        if bad:
            assert "invalid probe name" in proc.stderr, describe_cli(proc)
    proc = run_gomon_cli("probe", "new", "taken", "--dir", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    proc = run_gomon_cli("probe", "new", "taken", "--dir", str(tmp_path), cwd=tmp_path)
    assert_refused(proc, str(tmp_path / "taken"), "already exists")


@pytest.mark.timeout(600)  # SLOW: the template_probes fixture builds the crate (~30-60 s) if no test did yet
def test_probe_new_builds_checks_and_loads(template_probes, tmp_path, gomon_factory):
    crate = template_probes.my_probe_crate
    for rel in ("Cargo.toml", "src/lib.rs", ".cargo/config.toml", "README.md", "gomon-probe/Cargo.toml",
                "gomon-probe/wit/probe.wit"):
        assert (crate / rel).is_file(), f"`gomon probe new` did not write {rel}"
    print(f"cargo build --release of the new crate took {template_probes.my_probe_build_seconds:.1f}s")

    proc = run_gomon_cli("probe", "check", str(template_probes.my_probe_wasm), cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    f = fields(proc.stdout)
    assert f.get("probe", "").startswith("my-probe 0.1.0"), f
    assert f.get("needs") == "system", f
    assert proc.stdout.strip().splitlines()[-1] == "ok", describe_cli(proc)

    probe_dir = tmp_path / "probes"
    install_probe(template_probes.my_probe_wasm, probe_dir)
    g = gomon_factory("--probe-dir", str(probe_dir))
    wait_for_log(g, "Probe loaded. probe=my-probe", 10)
    s, _ = wait_for_scrape(g, lambda s: s if "my_probe_uptime_seconds" in s.names() else None, 10,
                           "my_probe_uptime_seconds on /metrics")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(s.value("my_probe_uptime_seconds") - uptime) < 5, (s.value("my_probe_uptime_seconds"), uptime)
    assert s.value("gomon_probe_up", probe="my-probe") == 1
    assert s.value("gomon_probe_info", probe="my-probe", version="0.1.0", source="file") == 1
