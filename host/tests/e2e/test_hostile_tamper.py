"""Tampering with what decides what gomon runs (StrictModes and the authenticated
compile cache): a cached artifact copied over another probe's, a corrupted one, a
group-writable probe directory, a probe file owned by another user or writable by
others, an untrusted cache directory. Each is refused with one log line naming the
path and the fix, and gomon goes on serving; fixing the mode or owner is picked up.
(The pre-created plugin state directory is a unit test of trust::create_private_dir.)
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from e2e_helpers import (
    api_probe,
    example_probe_wasm,
    install_probe,
    log_lines,
    wait_for_log,
    wait_for_scrape,
    wait_until,
)

NOBODY = 65534
# threshold-alert refuses to load without a metric to watch.
THRESHOLD_CONFIG = '[probe.threshold-alert]\nsettings = { metric = "load1", above = "1000" }\n'


def config(tmp_path: Path) -> list[str]:
    path = tmp_path / "gomon.toml"
    path.write_text(THRESHOLD_CONFIG)
    return ["--config", str(path)]


def cache_files(state: Path) -> list[Path]:
    return sorted((state / "cache" / "probes").glob("*.cwasm"))


def loaded(g, name: str) -> bool:
    p = api_probe(g, name)
    return p is not None and p["state"] == "ok"


def start_with_examples(gomon_factory, workdir: Path):
    probes = workdir / "probes"
    install_probe(example_probe_wasm("cpu-ratios"), probes, "cpu-ratios.wasm")
    install_probe(example_probe_wasm("threshold-alert"), probes, "threshold-alert.wasm")
    g = gomon_factory("--probe-dir", str(probes), *config(workdir.parent), workdir=workdir)
    wait_until(lambda: loaded(g, "cpu-ratios") and loaded(g, "threshold-alert"), 30,
               "both example probes loaded", describe=g.describe)
    return g, probes


def test_a_cache_artifact_swapped_or_corrupted_is_refused(tmp_path, gomon_factory):
    workdir = tmp_path / "g"
    g, probes = start_with_examples(gomon_factory, workdir)
    g.stop_and_check()
    files = cache_files(g.state_dir)
    assert len(files) == 2, files
    # One probe's genuine artifact copied over the other's; then both restarted.
    victim, other = files
    shutil.copyfile(other, victim)
    g = gomon_factory("--probe-dir", str(probes), *config(tmp_path), workdir=workdir)
    line = wait_for_log(g, "Refusing a compiled probe in the cache", 30)
    assert str(victim) in line and "authentication tag does not match" in line, line
    wait_until(lambda: loaded(g, "cpu-ratios") and loaded(g, "threshold-alert"), 30,
               "both example probes loaded", describe=g.describe)
    # Each file runs its own code: the probe named by each file's describe, from that file.
    for name in ("cpu-ratios", "threshold-alert"):
        assert api_probe(g, name)["source"] == str(probes / f"{name}.wasm")
    origins = {re.search(r"probe=(\S+)", line).group(1): re.search(r'origin="(\w+)"', line).group(1)
               for line in log_lines(g, "Probe loaded.") if "source=/" in line}
    assert sorted(origins.values()) == ["cached", "compiled"], origins
    # cpu-ratios serves its families, so the right code runs.
    wait_for_scrape(g, lambda s: s.get("gomon_swap_used_ratio") is not None, 30, "cpu-ratios' family")
    g.stop_and_check()
    # The refused file was rewritten authentic: the next start loads both from the cache...
    # ...unless a byte is flipped, which is refused too.
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x40
    victim.write_bytes(bytes(data))
    g = gomon_factory("--probe-dir", str(probes), *config(tmp_path), workdir=workdir)
    line = wait_for_log(g, "Refusing a compiled probe in the cache", 30)
    assert str(victim) in line, line
    wait_until(lambda: loaded(g, "cpu-ratios") and loaded(g, "threshold-alert"), 30,
               "both example probes loaded", describe=g.describe)


def test_a_group_writable_probe_directory_is_refused_until_fixed(tmp_path, gomon_factory):
    probes = tmp_path / "probes"
    install_probe(example_probe_wasm("cpu-ratios"), probes, "cpu-ratios.wasm")
    os.chmod(probes, 0o775)
    g = gomon_factory("--probe-dir", str(probes))
    line = wait_for_log(g, "Refusing to load probes from the probe directory", 30)
    assert f"{probes} is writable by its group (owner root, mode 0775)" in line, line
    assert f"fix: chmod go-w {probes}" in line, line
    # Several cycles and directory polls later, still not loaded.
    calls = g.scrape().value("gomon_probe_calls_total", probe="system")
    wait_for_scrape(g, lambda s: s.value("gomon_probe_calls_total", probe="system") >= calls + 3, 30,
                    "three more cycles")
    assert api_probe(g, "cpu-ratios") is None
    assert len(log_lines(g, "Refusing to load probes")) == 1, "logged once, not every poll"
    os.chmod(probes, 0o755)
    wait_for_log(g, "The probe directory is trusted again", 30)
    wait_until(lambda: loaded(g, "cpu-ratios"), 30, "cpu-ratios loaded once fixed", describe=g.describe)


def test_a_probe_file_owned_by_another_user_or_writable_is_refused(tmp_path, gomon_factory):
    probes = tmp_path / "probes"
    theirs = install_probe(example_probe_wasm("cpu-ratios"), probes, "cpu-ratios.wasm")
    writable = install_probe(example_probe_wasm("redact"), probes, "redact.wasm")
    install_probe(example_probe_wasm("threshold-alert"), probes, "threshold-alert.wasm")  # control
    os.chown(theirs, NOBODY, -1)
    os.chmod(writable, 0o666)
    g = gomon_factory("--probe-dir", str(probes), *config(tmp_path))
    wait_until(lambda: loaded(g, "threshold-alert"), 30, "the control probe loaded", describe=g.describe)
    line = wait_for_log(g, f"{theirs} is owned by nobody", 30)
    assert f"fix: chown root {theirs}" in line, line
    line = wait_for_log(g, f"{writable} is writable by group and others", 30)
    assert f"fix: chmod go-w {writable}" in line, line
    assert api_probe(g, "cpu-ratios") is None and api_probe(g, "redact") is None
    # Fixed (a chown changes the inode's ctime): loaded at the next poll.
    os.chown(theirs, 0, -1)
    wait_until(lambda: loaded(g, "cpu-ratios"), 30, "cpu-ratios loaded once chowned", describe=g.describe)


def test_an_untrusted_cache_directory_is_not_used(tmp_path, gomon_factory):
    workdir = tmp_path / "g"
    cache = workdir / "state" / "cache" / "probes"
    cache.mkdir(parents=True)
    os.chmod(workdir / "state", 0o700)
    os.chmod(cache, 0o777)
    probes = tmp_path / "probes"
    install_probe(example_probe_wasm("cpu-ratios"), probes, "cpu-ratios.wasm")
    g = gomon_factory("--probe-dir", str(probes), workdir=workdir)
    wait_until(lambda: loaded(g, "cpu-ratios"), 30, "cpu-ratios loaded", describe=g.describe)
    line = wait_for_log(g, "Not using the compile cache", 10)
    assert f"{cache} is writable by group and others" in line, line
    assert list(cache.iterdir()) == [], "nothing written to a world-writable cache"
