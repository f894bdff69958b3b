"""Observe probes: the `observations` grant, failure isolation and the chain's order,
checked in the local NDJSON observation file (<state>/observations/observations.ndjson)
with the hostile observe probe (probes/hostile/observe: drops, fails, traps on or
rewrites every batch) and the `redact` example.

- Without the `observations` grant an observe probe is refused at load, naming the
  grant; the observations go on (the dropping probe would have lost them all).
- A failing or trapping observe probe is skipped for its batch and its input passed
  on: nothing is lost.
- `[observe] chain` sets the order: the hostile probe adds `password=hunter2 token=abc`
  to each observation's metadata; `redact` redacts it only when it runs after.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from e2e_helpers import (
    api_probe,
    example_probe_wasm,
    hostile_probe_wasm,
    install_probe,
    wait_for_log,
    wait_for_scrape,
    wait_until,
)


def start(gomon_factory, tmp_path: Path, extra: str, chain: list[str] | None = None, redact: bool = False):
    """gomon tailing <workdir>/logs/app.log only (no process, file or kernel events), the
    observations to the local file, the hostile observe probe (and `redact`) in its
    probe directory; returns it and the log file."""
    workdir = tmp_path / "g"
    probes = workdir / "state" / "probes"
    install_probe(hostile_probe_wasm("observe"), probes, "hostile-observe.wasm")
    if redact:
        install_probe(example_probe_wasm("redact"), probes, "redact.wasm")
    (workdir / "watch").mkdir()
    (workdir / "logs").mkdir()
    log_file = workdir / "logs" / "app.log"
    log_file.touch()
    config = workdir / "gomon.toml"
    config.write_text(f"""
[observe]
process = false
lag_interval = "1s"
batch_max_wait = "100ms"
chain = {json.dumps(chain or [])}
[observe.files]
roots = [{json.dumps(str(workdir / "watch"))}]
[observe.logs]
files = [{json.dumps(str(workdir / "logs" / "*.log"))}]
kmsg = false
journal = "off"
{extra}""")
    g = gomon_factory("--config", str(config), workdir=workdir)
    wait_for_log(g, "hostile-observe", 30)
    return g, log_file


def append(path: Path, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")


def records(g, marker: str) -> list[dict]:
    path = g.state_dir / "observations" / "observations.ndjson"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if marker in line]


def wait_for_record(g, log_file: Path, marker: str) -> dict:
    append(log_file, f"2026-11-27T10:00:00Z ERROR {marker}")
    found = wait_until(lambda: records(g, marker), 30, f"{marker} in the observation file", describe=g.describe)
    assert len(found) == 1, found
    return found[0]


def test_an_observe_probe_without_the_grant_is_refused(tmp_path, gomon_factory):
    g, log_file = start(gomon_factory, tmp_path, "")
    line = wait_for_log(g, "Probe not loaded", 30)
    assert "is an observe probe but is not granted `observations`" in line, line
    assert 'grants = ["observations"]' in line, line
    assert api_probe(g, "hostile-observe") is None
    wait_for_record(g, log_file, f"kept-{uuid.uuid4().hex}")


@pytest.mark.parametrize("mode", ["fail", "trap"])
def test_a_failing_observe_probe_passes_its_input_on(mode, tmp_path, gomon_factory):
    # First in the chain: the built-in formats what the failing probe was handed.
    g, log_file = start(gomon_factory, tmp_path, f"""
[probe.hostile-observe]
grants = ["observations"]
settings = {{ mode = "{mode}" }}
""", chain=["hostile-observe", "observe"])
    wait_until(lambda: api_probe(g, "hostile-observe"), 30, "hostile-observe loaded", describe=g.describe)
    for _ in range(3):
        record = wait_for_record(g, log_file, f"through-{uuid.uuid4().hex}")
        assert record["labels"]["event"] == "error" and record["metadata"]["origin"] == str(log_file), record
    # And the failures were counted (the exposition is refreshed each cycle).
    kind = "probe" if mode == "fail" else "trap"
    wait_for_scrape(g, lambda s: (s.get("gomon_probe_errors_total", 0, probe="hostile-observe", kind=kind) or 0) >= 1,
                    30, f"a {kind} error of hostile-observe counted")


@pytest.mark.parametrize("chain,redacted", [
    (["observe", "hostile-observe", "redact"], True),
    (["observe", "redact", "hostile-observe"], False),
])
def test_the_chain_setting_sets_the_order(chain, redacted, tmp_path, gomon_factory):
    g, log_file = start(gomon_factory, tmp_path, f"""
[probe.hostile-observe]
grants = ["observations"]
settings = {{ mode = "inject" }}
[probe.redact]
grants = ["observations"]
""", chain=chain, redact=True)
    wait_until(lambda: api_probe(g, "hostile-observe") and api_probe(g, "redact"), 30, "both probes loaded",
               describe=g.describe)
    record = wait_for_record(g, log_file, f"order-{uuid.uuid4().hex}")
    injected = record["metadata"].get("injected")
    want = "password=[REDACTED] token=[REDACTED]" if redacted else "password=hunter2 token=abc"
    assert injected == want, f"chain {chain}: injected = {injected!r}\n{record}"
