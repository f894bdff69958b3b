"""The README's metric tables match what a running gomon serves, in both directions.

Every family named in the `gomon` column of a table under the README's "## Metrics" is served
by a running gomon, and every family a running gomon serves is named in one, so the tables
cannot drift from the code again. The gomon under test runs what serves every family: the
built-in probes (`process` and the `graph` probe that asks for connections included), the
observers with quick lag canaries, and a Loki URL (the independent receiver of
loki_receiver.py), so the `gomon_loki_*` families are there.

Families that need a condition this machine may lack are in CONDITIONAL with the reason; they
are required whenever the condition holds here. And each original (gomon-datasource) name maps
to one new name: it appears in the `original` column of one row only.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path

import pytest

from e2e_helpers import REPO_ROOT, GomonProcess, wait_until
from loki_receiver import LokiReceiver

README = REPO_ROOT / "README.md"


def has_block_devices() -> bool:
    """A disk in /proc/diskstats (gomon reports every device there)."""
    return any(line.split()[2:3] for line in Path("/proc/diskstats").read_text().splitlines())


# family -> (why it may be missing, whether the condition holds on this machine).
CONDITIONAL: dict[str, tuple[str, bool]] = {
    **{f: ("needs a block device in /proc/diskstats", has_block_devices()) for f in (
        "gomon_disk_reads_completed_total", "gomon_disk_read_bytes_total", "gomon_disk_read_time_seconds_total",
        "gomon_disk_writes_completed_total", "gomon_disk_written_bytes_total", "gomon_disk_write_time_seconds_total",
        "gomon_disk_reads_merged_total", "gomon_disk_writes_merged_total", "gomon_disk_io_now",
        "gomon_disk_io_time_seconds_total", "gomon_disk_io_time_weighted_seconds_total",
        "gomon_disk_discards_completed_total", "gomon_disk_discards_merged_total", "gomon_disk_discarded_bytes_total",
        "gomon_disk_discard_time_seconds_total", "gomon_disk_flush_requests_total",
        "gomon_disk_flush_requests_time_seconds_total")},
}


# --------------------------------------------------------------------------- the README's tables


def metrics_section(text: str) -> str:
    start = text.index("\n## Metrics\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def tables(section: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, header cells, rows of cells) of every Markdown table, `\\|` kept inside cells."""
    out = []
    heading = ""
    lines = section.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s|:-]+\|$", lines[i + 1]):
            header = split_row(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(split_row(lines[i]))
                i += 1
            out.append((heading, header, rows))
            continue
        i += 1
    return out


def split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip() for c in cells]


def expand(token: str) -> list[str]:
    """`gomon_a_{b,c}_d{label}` -> [gomon_a_b_d, gomon_a_c_d]: brace groups inside a name (after
    a `_`, or followed by more of the name) are alternatives; one right after a complete name is
    its labels."""
    token = token.replace("\\|", "|")
    parts = re.split(r"(\{[^}]*\})", token)
    choices = []
    for k, part in enumerate(parts):
        if part.startswith("{"):
            follows = parts[k + 1] if k + 1 < len(parts) else ""
            inside_name = bool(re.match(r"\w", follows)) or parts[k - 1].endswith("_")
            choices.append(part[1:-1].split(",") if inside_name else [" "])
        else:
            choices.append([part])
    return ["".join(c) for c in itertools.product(*choices)]


NAME = re.compile(r"(?<![\w.])((?:gomon|process)_[A-Za-z0-9_]+)")


def names_in_cell(cell: str) -> set[str]:
    """The metric names in the backticked parts of a cell (expressions give their operands)."""
    out = set()
    for token in re.findall(r"`([^`]+)`", cell):
        for expanded in expand(token):
            out.update(NAME.findall(expanded))
    return out


def column(header: list[str], name: str) -> int | None:
    for k, cell in enumerate(header):
        if cell.split(" (")[0].strip().lower() == name:
            return k
    return None


def readme_families(text: str) -> dict[str, str]:
    """{family: the table heading it is under} of the `gomon` columns."""
    out: dict[str, str] = {}
    for heading, header, rows in tables(metrics_section(text)):
        k = column(header, "gomon")
        if k is None:
            continue
        for row in rows:
            for name in names_in_cell(row[k]):
                out.setdefault(name, heading)
    return out


def original_rows(text: str) -> dict[str, list[str]]:
    """{original name: [the rows it is in]} of the `original` columns."""
    out: dict[str, list[str]] = {}
    for heading, header, rows in tables(metrics_section(text)):
        k = column(header, "original")
        if k is None:
            continue
        for row in rows:
            for token in re.findall(r"`([^`]+)`", row[k]):
                if "(" in token or " " in token:
                    continue  # an expression over new names, not an original name
                for name in expand(token):
                    name = name.strip()
                    if name.startswith("gomon_"):
                        out.setdefault(name, []).append(f"{heading}: {' | '.join(row)}")
    return out


def test_table_parser():
    assert expand("gomon_memory_{buffers,cached}_bytes") == ["gomon_memory_buffers_bytes", "gomon_memory_cached_bytes"]
    assert expand("gomon_network_receive_{bytes,drop}") == ["gomon_network_receive_bytes", "gomon_network_receive_drop"]
    assert names_in_cell('`gomon_load_average{window="1m"\\|"5m"}`, `gomon_swap_{total,free}_bytes`') == {
        "gomon_load_average", "gomon_swap_total_bytes", "gomon_swap_free_bytes"}
    assert names_in_cell("`sum(gomon_system_cpu_seconds_total)`") == {"gomon_system_cpu_seconds_total"}
    assert names_in_cell("per probe: `gomon_probe_up`, `gomon_probe_errors_total{probe,kind}`") == {
        "gomon_probe_up", "gomon_probe_errors_total"}
    assert split_row(r"| `a{x=\"1\"\|\"2\"}` | b |") == [r'`a{x=\"1\"\|\"2\"}`', "b"]


def test_readme_names_families_in_its_tables():
    families = readme_families(README.read_text())
    assert len(families) > 100, f"only {len(families)} families found in the README's tables: {sorted(families)}"


def test_each_original_name_maps_to_one_row():
    rows = original_rows(README.read_text())
    assert rows, "no original names found"
    twice = {name: where for name, where in rows.items() if len(where) > 1}
    assert not twice, "original names mapped in more than one row:\n" + "\n".join(
        f"  {name}:\n    " + "\n    ".join(where) for name, where in sorted(twice.items()))


def test_no_work_in_progress_left_in_the_tables():
    section = metrics_section(README.read_text())
    for marker in ("(in progress)", "TODO", "TBD", "coming soon"):
        assert marker not in section, f"the README's metric tables still say {marker!r}"


# --------------------------------------------------------------------------- against a running gomon


def served_families(body: str) -> set[str]:
    """The families of a text exposition, by their `# TYPE` lines (counters keep `_total`)."""
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", body, re.M)}


@pytest.fixture(scope="module")
def full_gomon(tmp_path_factory):
    """gomon with everything that serves a family: Loki (the receiver), the observers with a
    1 s lag canary, a tailed log file, the built-in probes, the fleet export."""
    rx = LokiReceiver().start()
    work = tmp_path_factory.mktemp("readme-gomon")
    logs = work / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("")
    watch = work / "watch"
    watch.mkdir()
    config = work / "gomon.toml"
    config.write_text(f"""
[observe]
lag_interval = "1s"
batch_max_wait = "100ms"
[observe.files]
roots = [{json.dumps(str(watch))}]
[observe.logs]
files = [{json.dumps(str(logs / "*.log"))}]
[loki]
url = {json.dumps(rx.url)}
batch_max_wait = "200ms"
[fleet]
export = true
""")
    g = GomonProcess(work, ["--config", str(config)])
    subprocess.run(["/bin/true"], check=True)
    try:
        yield g
    finally:
        g.stop_and_check()
        rx.stop()


def test_tables_and_served_families_agree(full_gomon):
    documented = readme_families(README.read_text())
    required = {f for f in documented if CONDITIONAL.get(f, ("", True))[1]}
    state: dict[str, set[str]] = {}

    def all_served():
        body = full_gomon.get("/metrics").text
        served = served_families(body)
        state["served"] = served
        state["missing"] = required - served
        return not state["missing"]

    wait_until(all_served, 60, "gomon to serve every family the README's tables name",
               describe=lambda: "named in the README but not served:\n" + "\n".join(
                   f"  {f} (under {documented[f]!r})" for f in sorted(state.get("missing", ()))))
    undocumented = state["served"] - set(documented)
    assert not undocumented, "served but in no README metric table:\n" + "\n".join(
        f"  {f}" for f in sorted(undocumented))
    skipped = {f: why for f, (why, holds) in CONDITIONAL.items() if not holds}
    if skipped:
        print(f"not required on this machine: {skipped}")
