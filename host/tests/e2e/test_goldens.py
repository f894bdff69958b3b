"""The golden files, judged from outside.

The Rust golden tests (`sinks/prometheus/tests/golden.rs`, `sinks/graphviz/tests/golden.rs`)
compare an encoder's output with a file that the same encoder wrote
(`GOMON_UPDATE_GOLDEN=1`): they catch a change, not a wrong byte. Here every golden file is
handed to implementations that are not gomon's:

- Prometheus text 0.0.4 (`sinks/prometheus/tests/golden/*.prom`): `promtool check metrics`
  (the Go parser and its lint rules: any message fails), `prometheus_client`'s text parser
  (through `sinks/prometheus/tests/parse_check.py`), and a real Prometheus server scraping it;
- OpenMetrics 1.0 (`*.om`): `prometheus_client`'s OpenMetrics parser and a real Prometheus
  scraping it with the OpenMetrics content type (Prometheus' own OpenMetrics parser;
  `promtool check metrics` reads only the text format);
- each `.prom`/`.om` pair: both Python parsers must find the same series and values;
- DOT (`sinks/graphviz/tests/golden/*.dot`): Graphviz `dot -Tsvg` must accept it without a
  warning and produce an SVG document.

A file of another kind in those directories fails the run (it would go unchecked). Each
checker is itself tested: a deliberately broken copy in a temporary directory must be
rejected, so a checker that accepts anything cannot pass.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import textwrap
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from e2e_helpers import REPO_ROOT, ServiceProcess, free_port, http_get, require_tool, wait_until

PROM_GOLDEN = REPO_ROOT / "sinks" / "prometheus" / "tests" / "golden"
DOT_GOLDEN = REPO_ROOT / "sinks" / "graphviz" / "tests" / "golden"
PARSE_CHECK = REPO_ROOT / "sinks" / "prometheus" / "tests" / "parse_check.py"

# Extension -> (format, Content-Type a server of that format sends).
PROM_KINDS = {
    ".prom": ("text", "text/plain; version=0.0.4; charset=utf-8"),
    ".om": ("openmetrics", "application/openmetrics-text; version=1.0.0; charset=utf-8"),
}


def prom_goldens() -> list[Path]:
    return sorted(p for p in PROM_GOLDEN.iterdir() if p.is_file())


def dot_goldens() -> list[Path]:
    return sorted(p for p in DOT_GOLDEN.iterdir() if p.is_file())


def golden_id(path: Path) -> str:
    return path.name


# --------------------------------------------------------------------------- the checkers


class Rejected(AssertionError):
    """An outside implementation refused a file."""


def run(args: list[str], *, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)


def promtool_check(path: Path) -> None:
    """`promtool check metrics < path`: exit 0 and not a word of lint output."""
    promtool = require_tool("promtool")
    r = run([promtool, "check", "metrics"], stdin=path.read_bytes())
    messages = (r.stdout + r.stderr).decode(errors="replace").strip()
    if r.returncode != 0 or messages:
        raise Rejected(f"promtool check metrics rejects {path} (exit {r.returncode}):\n{messages}")


def python_parse(path: Path, fmt: str) -> None:
    """prometheus_client's parser of `fmt` ("text" or "openmetrics") over `path`."""
    r = run([sys.executable, str(PARSE_CHECK), f"--{fmt}", str(path)])
    if r.returncode != 0:
        raise Rejected(f"prometheus_client's {fmt} parser rejects {path}:\n{r.stdout.decode()}{r.stderr.decode()}")


def python_compare(text: Path, openmetrics: Path) -> None:
    """Both Python parsers find the same series with the same values in the pair."""
    r = run([sys.executable, str(PARSE_CHECK), "--text", str(text), "--openmetrics", str(openmetrics), "--compare"])
    if r.returncode != 0:
        raise Rejected(f"{text} and {openmetrics} disagree:\n{r.stdout.decode()}{r.stderr.decode()}")


def dot_check(path: Path) -> None:
    """`dot -Tsvg path`: exit 0, nothing on stderr (a warning fails too), an <svg> document."""
    dot = require_tool("dot")
    r = run([dot, "-Tsvg", str(path)])
    stderr = r.stderr.decode(errors="replace").strip()
    if r.returncode != 0 or stderr:
        raise Rejected(f"dot rejects {path} (exit {r.returncode}):\n{stderr}")
    try:
        root = ET.fromstring(r.stdout)
    except ET.ParseError as e:
        raise Rejected(f"dot's output for {path} is not XML: {e}") from None
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        raise Rejected(f"dot's output for {path} is not an SVG document (root {root.tag})")


# --------------------------------------------------------------------------- Prometheus scraping files


class FileServer:
    """Serves files over plain HTTP on loopback, each with a chosen Content-Type."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                found = files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                body, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: bytes, content_type: str) -> None:
        self.files[path] = (body, content_type)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prometheus_scrape_results(tmp_path: Path, targets: dict[str, tuple[bytes, str]]) -> dict[str, dict]:
    """Starts a real Prometheus scraping each body (one job per name, served with its
    Content-Type) and returns, per name, the target's first completed scrape
    (`health` "up" or "down", `lastError`) and the samples it ingested."""
    binary = require_tool("prometheus")
    server = FileServer()
    jobs = []
    for name, (body, content_type) in targets.items():
        server.add(f"/{name}", body, content_type)
        jobs.append(
            f"""\
              - job_name: {name}
                metrics_path: /{name}
                static_configs:
                  - targets: ['127.0.0.1:{server.port}']
            """
        )
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
        + "".join(textwrap.indent(textwrap.dedent(j), "  ") for j in jobs)
    )
    service = ServiceProcess(
        "prometheus",
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path,
    )
    try:
        service.wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        results: dict[str, dict] = {}

        def all_scraped():
            active = http_get(f"http://127.0.0.1:{port}/api/v1/targets").json()["data"]["activeTargets"]
            for t in active:
                if t["health"] in ("up", "down"):
                    results[t["labels"]["job"]] = t
            return set(results) == set(targets)

        wait_until(all_scraped, 60, "Prometheus to scrape every file once", describe=service.describe)
        for name, t in results.items():
            if t["health"] == "up":
                r = http_get(f"http://127.0.0.1:{port}/api/v1/query",
                             params={"query": f'scrape_samples_scraped{{job="{name}"}}'})
                t["samples_scraped"] = [float(v["value"][1]) for v in r.json()["data"]["result"]]
        return results
    finally:
        service.stop()
        server.close()


# --------------------------------------------------------------------------- the goldens


def test_golden_directories_hold_only_checked_kinds():
    """Every file is of a kind checked below; each text golden has its OpenMetrics twin."""
    proms = prom_goldens()
    assert proms, f"no Prometheus golden files in {PROM_GOLDEN}"
    unknown = [p.name for p in proms if p.suffix not in PROM_KINDS]
    assert not unknown, f"golden files of no known format (unchecked): {unknown}; add the kind to PROM_KINDS"
    stems = {suffix: {p.stem for p in proms if p.suffix == suffix} for suffix in PROM_KINDS}
    assert stems[".prom"] == stems[".om"], f"text and OpenMetrics goldens do not pair up: {stems}"
    dots = dot_goldens()
    assert dots, f"no DOT golden files in {DOT_GOLDEN}"
    assert all(p.suffix == ".dot" for p in dots), f"non-DOT files among the DOT goldens: {dots}"


@pytest.mark.parametrize("path", [p for p in prom_goldens() if p.suffix == ".prom"], ids=golden_id)
def test_text_golden_passes_promtool(path):
    promtool_check(path)


@pytest.mark.parametrize("path", [p for p in prom_goldens() if p.suffix in PROM_KINDS], ids=golden_id)
def test_prometheus_golden_parses_in_python(path):
    python_parse(path, PROM_KINDS[path.suffix][0])


@pytest.mark.parametrize("path", [p for p in prom_goldens() if p.suffix == ".prom"], ids=golden_id)
def test_text_and_openmetrics_goldens_agree(path):
    python_compare(path, path.with_suffix(".om"))


@pytest.mark.parametrize("path", dot_goldens(), ids=golden_id)
def test_dot_golden_renders_with_graphviz(path):
    dot_check(path)


# --------------------------------------------------------------------------- broken copies: the checkers can fail


def broken_text(path: Path) -> bytes:
    """The golden with a label value that never ends."""
    return path.read_bytes() + b'gomon_broken{label="unterminated} 1\n'


def test_promtool_check_rejects_a_broken_copy(tmp_path):
    golden = PROM_GOLDEN / "exposition.prom"
    bad = tmp_path / golden.name
    bad.write_bytes(broken_text(golden))
    with pytest.raises(Rejected, match="promtool"):
        promtool_check(bad)
    # A lint problem (a counter without `_total`), not only a parse error, fails it too.
    lint = tmp_path / "lint.prom"
    lint.write_bytes(golden.read_bytes() + b"# HELP gomon_oops Oops.\n# TYPE gomon_oops counter\ngomon_oops 1\n")
    with pytest.raises(Rejected, match="_total"):
        promtool_check(lint)


def test_python_parsers_reject_broken_copies(tmp_path):
    text = PROM_GOLDEN / "exposition.prom"
    bad_text = tmp_path / "bad.prom"
    bad_text.write_bytes(broken_text(text))
    with pytest.raises(Rejected, match="text parser"):
        python_parse(bad_text, "text")

    om = PROM_GOLDEN / "exposition.om"
    content = om.read_bytes()
    assert content.endswith(b"# EOF\n"), "the OpenMetrics golden does not end with # EOF"
    bad_om = tmp_path / "bad.om"
    bad_om.write_bytes(content[: -len(b"# EOF\n")])  # OpenMetrics requires the terminator
    with pytest.raises(Rejected, match="openmetrics parser"):
        python_parse(bad_om, "openmetrics")

    # The pair check: one value changed in the OpenMetrics copy.
    changed = tmp_path / "changed.om"
    changed.write_bytes(content.replace(b"gomon_load1 0.42\n", b"gomon_load1 0.43\n", 1))
    assert changed.read_bytes() != content, "the OpenMetrics golden no longer has `gomon_load1 0.42`"
    with pytest.raises(Rejected, match="disagree"):
        python_compare(text, changed)


def test_dot_check_rejects_a_broken_copy(tmp_path):
    golden = DOT_GOLDEN / "overview.dot"
    content = golden.read_text()
    bad = tmp_path / "unclosed.dot"
    bad.write_text(content[: content.rindex("}")])  # the graph's closing brace removed
    with pytest.raises(Rejected, match="dot rejects"):
        dot_check(bad)
    # A warning fails too: an unknown attribute value Graphviz only warns about.
    warn = tmp_path / "warning.dot"
    warn.write_text("digraph { a [shape=no_such_shape] }\n")
    with pytest.raises(Rejected, match="dot rejects"):
        dot_check(warn)


def test_prometheus_scrapes_every_golden_and_refuses_broken_copies(tmp_path):
    """A real Prometheus scrapes each golden with its format's Content-Type (its own text and
    OpenMetrics parsers) and ingests every sample; the broken copies fail its scrape."""
    targets = {}
    expected_samples = {}
    for path in prom_goldens():
        fmt, content_type = PROM_KINDS[path.suffix]
        name = f"golden_{path.stem}_{fmt}"
        targets[name] = (path.read_bytes(), content_type)
        r = run([sys.executable, str(PARSE_CHECK), f"--{fmt}", str(path)])
        assert r.returncode == 0, r.stdout.decode()
        # "ok   PATH (fmt): N families, M series"
        expected_samples[name] = float(r.stdout.decode().rsplit(",", 1)[1].split()[0])
    om = (PROM_GOLDEN / "exposition.om").read_bytes()
    targets["broken_text"] = (broken_text(PROM_GOLDEN / "exposition.prom"), PROM_KINDS[".prom"][1])
    targets["broken_openmetrics"] = (om[: -len(b"# EOF\n")], PROM_KINDS[".om"][1])

    results = prometheus_scrape_results(tmp_path, targets)
    for name, want in expected_samples.items():
        t = results[name]
        assert t["health"] == "up" and not t["lastError"], f"Prometheus refuses golden {name}: {t['lastError']}"
        assert t["samples_scraped"] == [want], (
            f"Prometheus ingested {t['samples_scraped']} samples of {name}; prometheus_client found {want}")
    for name in ("broken_text", "broken_openmetrics"):
        t = results[name]
        assert t["health"] == "down" and t["lastError"], f"Prometheus accepted the broken copy {name}: {t}"
