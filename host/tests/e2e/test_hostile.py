"""Purpose-built hostile probes (probes/hostile/*) prove the host survives each: an
endless loop, endless allocation, a panic, a million series, a sleep inside a WASI call,
a string that is not UTF-8, and a component built against another contract version.
Every run also checks that the built-in families keep being served, fresh (sampled
within two intervals), and that the failing probe's calls are logged as failures."""

from __future__ import annotations

import pytest

from e2e_helpers import GomonProcess
from hostile_helpers import check_run, observe, probe_dir_with, write_config

# key -> (probe name, error kinds that count as the right one)
HOSTILE = {
    "spin": ("hostile-spin", {"timeout"}),
    "hog": ("hostile-hog", {"memory"}),
    "panic": ("hostile-panic", {"trap"}),
    "flood": ("hostile-flood", {"contract", "memory"}),
    "sleep": ("hostile-sleep", {"timeout"}),
    "utf8": ("hostile-utf8", {"trap"}),
}
# A generous per-call deadline for the probes that must fail some other way: on a busy
# 2-core machine, building (flood) or growing to (hog) the limit can take longer than the
# default 500 ms, and the failure is then rightly counted as a timeout instead. The
# interval is 2 s for those runs, so that a cycle with a probe at its deadline still
# ends within it and samples stay fresh.
SLOW_MACHINE_TIMEOUT = "1500ms"
SLOW_MACHINE_INTERVAL = "2s"


def config_args(tmp_path, call_timeout: str = SLOW_MACHINE_TIMEOUT) -> list[str]:
    """--config with a longer per-call deadline."""
    return write_config(tmp_path / "gomon.toml", f'[probes]\ncall_timeout = "{call_timeout}"\n')


def check_wrong_version_refused(g: GomonProcess) -> None:
    log = g.stderr_text()
    lines = [line for line in log.splitlines() if "0.2.0" in line and "0.3.0" in line]
    assert lines, f"no stderr line names both contract versions 0.2.0 and 0.3.0\n{g.describe()}"
    up = g.scrape().series("gomon_probe_up")
    loaded = [labels for labels, v in up if "wrong" in labels.get("probe", "") and v == 1]
    assert not loaded, f"the wrong-version probe is reported up: {loaded}"


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_host_survives_hostile_probe(key, tmp_path, gomon_factory):
    probe, kinds = HOSTILE[key]
    # The spin and sleep runs are about the default deadline itself.
    if key in ("spin", "sleep", "panic", "utf8"):
        g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, [key])))
        interval = 1.0
    else:
        g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, [key])), *config_args(tmp_path),
                          interval=SLOW_MACHINE_INTERVAL)
        interval = 2.0
    expected = {probe: kinds}
    check_run(observe(g, expected, interval), expected)


def test_wrong_contract_version_is_refused(tmp_path, gomon_factory):
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["wrong-version"])))
    run = observe(g, {})
    check_run(run, {})
    check_wrong_version_refused(g)


def test_host_survives_all_hostile_probes_at_once(tmp_path, gomon_factory):
    # 1 s: long enough for flood and hog to fail their own way, short enough for spin;
    # 2 s interval: one probe at its deadline per cycle still ends within it.
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, [*sorted(HOSTILE), "wrong-version"])),
                      *config_args(tmp_path, "1s"), interval=SLOW_MACHINE_INTERVAL)
    expected = {probe: kinds for probe, kinds in HOSTILE.values()}
    check_run(observe(g, expected, 2.0, deadline=90.0), expected)
    check_wrong_version_refused(g)
