"""A failing probe is backed off over real intervals, and a replaced probe's counters
carry over.

Back-off: after its first failure a probe is retried at the next cycle; after the
second it skips 1 cycle, then 2, then 4 (up to five minutes). Watched here on
`hostile-panic` (fails every call) with --interval 1s by reading, after each cycle,
gomon_probe_calls_total of the probe and of the built-in `system` (called every cycle):
the cycles in which the panicking probe was called must be c, c+1, c+3, c+6, c+11.
No wall-clock duration is asserted; only which cycles called it.
"""

from __future__ import annotations

import shutil
import time

from e2e_helpers import (
    api_probe,
    hostile_probe_wasm,
    install_probe,
    log_lines,
    wait_for_log,
    wait_until,
    with_custom_section,
)
from hostile_helpers import probe_dir_with

CALL_GAPS = [1, 2, 3, 5]  # cycles between successive calls: retry, then skip 1, 2, 4


def cycle_calls(g, probe: str, cycles: int, timeout: float) -> tuple[list[tuple[float, float]], set[str]]:
    """Scrapes until `cycles` new cycles have been seen; returns, per cycle (system's call
    count), the probe's call count, and the /api/probes states seen for it."""
    seen: dict[float, float] = {}
    states: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        assert g.alive(), g.describe()
        s = g.scrape()
        system = s.value("gomon_probe_calls_total", probe="system")
        seen[system] = s.value("gomon_probe_calls_total", probe=probe)
        states.add(api_probe(g, probe)["state"])
        if len(seen) > cycles or time.monotonic() > deadline:
            return sorted(seen.items()), states
        time.sleep(0.1)


def test_a_failing_probe_is_skipped_for_1_2_4_cycles(tmp_path, gomon_factory):
    g = gomon_factory("--probe-dir", str(probe_dir_with(tmp_path, ["panic"])))
    wait_until(lambda: g.scrape().get("gomon_probe_calls_total", probe="hostile-panic"), 30,
               "hostile-panic called", describe=g.describe)
    # 1 + 2 + 3 + 5 = 11 cycles after the first call, and a few more.
    seen, states = cycle_calls(g, "hostile-panic", 16, timeout=60)
    cycles = [c for c, _ in seen]
    assert cycles == list(range(int(cycles[0]), int(cycles[0]) + len(cycles))), (
        f"a cycle was missed between scrapes (scraping every 0.1 s at a 1 s interval): {seen}")
    # The cycles in which the probe's call count went up.
    called = [c for (c, n), (_, before) in zip(seen[1:], seen) if n > before]
    calls = [n for _, n in seen]
    assert all(b - a <= 1 for a, b in zip(calls, calls[1:])), f"two calls in one cycle: {seen}"
    # Where in the sequence the watch started: with k calls made before it, the first
    # call seen is call k + 1, and the gaps seen start with CALL_GAPS[k].
    first_count = int(seen[0][1])
    gaps = [b - a for a, b in zip(called, called[1:])]
    expected = CALL_GAPS[first_count:]
    assert gaps[:len(expected)] == expected[:len(gaps)] and len(gaps) >= min(3, len(expected)), (
        f"calls in cycles {called} (gaps {gaps}), expected gaps {expected}; per cycle: {seen}")
    assert "backed-off" in states, states
    errors = g.scrape().value("gomon_probe_errors_total", probe="hostile-panic", kind="trap")
    assert errors == calls[-1], "every call failed and was counted"


def test_counters_never_decrease_when_a_probe_is_replaced(tmp_path, gomon_factory):
    probes = tmp_path / "probes"
    original = hostile_probe_wasm("panic").read_bytes()
    install_probe(hostile_probe_wasm("panic"), probes, "panic.wasm")
    g = gomon_factory("--probe-dir", str(probes))
    series = [("gomon_probe_calls_total", {}), ("gomon_probe_errors_total", {"kind": "trap"}),
              ("gomon_probe_call_duration_seconds_count", {})]
    history: list[tuple[float, ...]] = []

    def record():
        s = g.scrape()
        values = tuple(s.get(name, None, probe="hostile-panic", **labels) for name, labels in series)
        if None not in values:
            history.append(values)
        return values

    wait_until(lambda: None not in record() and record()[1] >= 2, 30, "two failures counted", describe=g.describe)
    for version in range(1, 4):
        # Another build of the same probe (a custom section appended: new bytes, new version).
        build = tmp_path / f"panic-{version}.wasm"
        build.write_bytes(with_custom_section(original, "gomon-test-build", str(version).encode()))
        install_probe(build, probes, "panic.wasm")
        wait_for_log(g, "Probe replaced.", 30, count=version)
        before = history[-1]
        wait_until(lambda: record() and history[-1][0] > before[0] + 1, 30,
                   "calls of the replacement counted", describe=g.describe)
    for earlier, later in zip(history, history[1:]):
        for (name, _), a, b in zip(series, earlier, later):
            assert b >= a, f"{name} went down from {a} to {b} across a replacement: {history}"
    assert len(log_lines(g, "Probe replaced.")) == 3
