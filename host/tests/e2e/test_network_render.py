"""One renderer at a time (issue 12, item 4): 50 concurrent /gomon viewers cost at most
one `dot` per graph generation. Before, every request spawned its own `dot` (50 clients
for 15 s started 1,619).

A `dot` wrapper first on gomon's PATH appends a line to a counter file, then runs the
real `dot`. The viewers hash the SVG of every page they get: each distinct picture is a
graph generation (a new sample, or new connections). Every `dot` run must be for a
distinct picture, never one per viewer."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import time
from pathlib import Path

from e2e_helpers import Scrape, new_session, require_tool

VIEWERS = 50
SECONDS = 8
SVG = re.compile(rb"<svg.*</svg>", re.S)


def dot_wrapper(directory: Path, counter: Path) -> Path:
    real = require_tool("dot")
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "dot"
    wrapper.write_text(f'#!/bin/sh\necho "$$" >> "{counter}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return directory


def viewer(url: str, cert: Path, token: str, until: float) -> tuple[list[str], list[int]]:
    pictures, codes = [], []
    with new_session(cert) as session:
        session.headers["Authorization"] = f"Bearer {token}"
        while time.monotonic() < until:
            r = session.get(url, timeout=30)
            codes.append(r.status_code)
            found = SVG.search(r.content)
            if r.status_code == 200 and found:
                pictures.append(hashlib.sha256(found.group(0)).hexdigest())
    return pictures, codes


def test_fifty_viewers_cost_one_dot_per_graph_generation(gomon_factory, monkeypatch, tmp_path):
    counter = tmp_path / "dot-runs"
    counter.touch()
    wrappers = dot_wrapper(tmp_path / "bin", counter)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ.get('PATH', '')}")
    g = gomon_factory(interval="1s")
    assert g.get("/gomon", timeout=30).status_code == 200  # warm: the first picture
    runs_before = len(counter.read_text().splitlines())
    assert runs_before >= 1, "gomon did not run the dot wrapper: is it first on its PATH?"
    samples_before = Scrape.parse(g.get("/metrics").text).samples
    until = time.monotonic() + SECONDS
    with concurrent.futures.ThreadPoolExecutor(max_workers=VIEWERS) as pool:
        results = list(pool.map(lambda _: viewer(g.url("/gomon"), g.cert, g.token, until), range(VIEWERS)))
    runs = len(counter.read_text().splitlines()) - runs_before
    pictures = {p for pics, _ in results for p in pics}
    requests_made = sum(len(codes) for _, codes in results)
    codes = {c for _, cs in results for c in cs}
    after = Scrape.parse(g.get("/metrics").text).samples
    samples = sum(v for (n, _), v in after.items() if n == "gomon_samples_total") - \
        sum(v for (n, _), v in samples_before.items() if n == "gomon_samples_total")
    detail = (f"{runs} dot runs, {len(pictures)} distinct pictures, {requests_made} requests by {VIEWERS} viewers, "
              f"{samples:g} samples taken")
    assert codes == {200}, f"status codes {codes}; {detail}"
    assert requests_made >= 2 * VIEWERS, f"too few requests to tell anything: {detail}"
    assert runs <= len(pictures) + 1, f"more dot runs than graph generations: {detail}"
    assert runs < requests_made / 5, detail
