"""The /gomon page in a real browser, and its two renderers.

Headless Chromium (Debian's `chromium`, driven by Playwright's Python client; never
`playwright install`) loads /gomon from a gomon serving HTTPS with its generated
self-signed certificate. The browser *trusts* that certificate rather than ignoring
errors: `--ignore-certificate-errors-spki-list` with the SHA-256 of the certificate's
public key accepts exactly that key (Chromium honours the flag only with a
`--user-data-dir`, which every run gets fresh), and `ignore_https_errors` stays off,
so any other certificate problem fails the load.

The test starts a TCP server and a client (children.py) so that it knows a process
with a peer. It checks that the overview is drawn (a screenshot that is not blank),
clicks the server's node, and checks that the browser went to /gomon?pid=N, that the
server is the focused, highlighted node and that its peer is drawn; then the
light/dark toggle (remembered across a reload) and the `prefers-color-scheme` default.
Both renderers: Graphviz `dot` (installed by ./run-tests) and the built-in layout
(gomon started with a PATH without `dot`). Without a browser, both must serve a page
and a bare SVG with the same drill-down links.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import sync_playwright

from children import Children
from e2e_helpers import GomonProcess, require_tool

# Page backgrounds (sinks/graphviz page CSS: --bg of each theme).
LIGHT_BG = (0xF8, 0xF8, 0xFC)
DARK_BG = (0x20, 0x20, 0x28)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    # Playwright adds --headless itself for headless=True.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def tcp_pair(tmp_path):
    """A TCP server and its connected client: (server pid, client pid)."""
    with Children(tmp_path / "children") as children:
        server = children.start("tcp-server", "gm-tcp-server", "127.0.0.1")
        port = server.message()["port"]
        client = children.start("tcp-client", "gm-tcp-client", "127.0.0.1", port)
        server.wait_ready()
        client.wait_ready()
        yield server.pid, client.pid


def start_gomon(gomon_factory, monkeypatch, renderer: str) -> GomonProcess:
    """gomon whose /gomon is drawn by `dot` or, with no `dot` on its PATH, the built-in
    layout. Interval 2 s: the page refreshes its SVG that often."""
    if renderer == "dot":
        require_tool("dot")
        return gomon_factory(interval="2s")
    with monkeypatch.context() as m:
        m.setenv("PATH", "/nonexistent")
        return gomon_factory(interval="2s")


def spki_sha256(cert: Path) -> str:
    """Base64 SHA-256 of the certificate's SubjectPublicKeyInfo (what Chromium's
    --ignore-certificate-errors-spki-list takes). openssl prints the public key as PEM,
    whose body is that DER structure."""
    pem = subprocess.run([require_tool("openssl"), "x509", "-in", str(cert), "-noout", "-pubkey"],
                         capture_output=True, text=True, check=True).stdout
    der = base64.b64decode("".join(line for line in pem.splitlines() if not line.startswith("-----")))
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def wait_for_connection(g: GomonProcess, server: int, client: int, timeout: float = 15) -> None:
    """Until socket discovery has seen the pair: the view focused on the server draws the
    client (the first samples may predate the children or the first discovery)."""
    deadline = time.monotonic() + timeout
    while True:
        r = g.get(f"/api/graph?pid={server}")
        if r.status_code == 200 and str(client) in {n["id"] for n in r.json()["nodes"]}:
            return
        assert time.monotonic() < deadline, f"/api/graph?pid={server} never drew its peer {client}\n{g.describe()}"
        time.sleep(0.2)


def pid_link(pid: int, within: str = "//*[local-name()='svg']//") -> str:
    """XPath of the drill-down link of process `pid` (in the inline SVG, or `within`
    another path): `href` from the built-in layout, `xlink:href` from Graphviz."""
    return f"xpath={within}*[local-name()='a'][@*[local-name()='href']='?pid={pid}']"


def image_stats(png: bytes, background: tuple[int, int, int]) -> tuple[float, int, float]:
    """(share of pixels that differ from the background by more than 8 in a channel,
    distinct colours, mean luminance) of a PNG screenshot."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    diff = ImageChops.difference(img, Image.new("RGB", img.size, background))
    r, g, b = diff.split()
    histogram = ImageChops.lighter(ImageChops.lighter(r, g), b).histogram()
    other = sum(histogram[9:])
    colours = len(img.getcolors(maxcolors=img.width * img.height) or [])
    luminance = ImageStat.Stat(img.convert("L")).mean[0]
    return other / (img.width * img.height), colours, luminance


def assert_drawn(png: bytes, background: tuple[int, int, int], what: str) -> float:
    share, colours, luminance = image_stats(png, background)
    # A blank or failed page is one flat colour; a drawn graph has text, boxes in the
    # palette's ten hues and edges: several percent of the pixels, dozens of colours.
    assert share >= 0.02, f"{what}: only {share:.2%} of the pixels differ from the background"
    assert colours >= 16, f"{what}: only {colours} distinct colours"
    return luminance


@pytest.fixture
def browser(tmp_path):
    """A fresh Chromium (persistent context in a new user-data-dir); yields a factory
    `open(cert, token) -> context` so the certificate's key can be trusted at launch and
    the browser answers gomon's basic-auth prompt with user gomon and the generated token."""
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: ./run-tests installs Debian's chromium"
    contexts = []
    with sync_playwright() as p:

        def open_context(cert: Path, token: str | None = None):
            context = p.chromium.launch_persistent_context(
                str(tmp_path / f"chromium-profile{len(contexts)}"),
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_FLAGS, f"--ignore-certificate-errors-spki-list={spki_sha256(cert)}"],
                ignore_https_errors=False,
                viewport={"width": 1400, "height": 900},
                color_scheme="light",
                http_credentials={"username": "gomon", "password": token} if token else None,
            )
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context

        try:
            yield open_context
        finally:
            for context in contexts:
                context.close()


@pytest.mark.parametrize("renderer", ["dot", "builtin"])
def test_page_in_chromium(renderer, tcp_pair, gomon_factory, monkeypatch, browser, tmp_path):
    server, client = tcp_pair
    g = start_gomon(gomon_factory, monkeypatch, renderer)
    wait_for_connection(g, server, client)
    page = browser(g.cert, g.token).new_page()

    # The overview.
    response = page.goto(g.url("/gomon"))
    assert response is not None and response.ok, f"/gomon -> {response and response.status}"
    assert response.url.startswith("https://"), response.url
    page.wait_for_selector("#graph svg")
    assert page.title() == "gomon: connections"
    notice = page.locator(".notice").all_inner_texts()
    if renderer == "dot":
        assert not any("Built-in layout" in n for n in notice), notice
    else:
        assert any("Built-in layout" in n for n in notice), f"no built-in layout notice: {notice}"
    png = page.screenshot(full_page=False)
    (tmp_path / f"overview-{renderer}.png").write_bytes(png)
    light = assert_drawn(png, LIGHT_BG, f"overview ({renderer})")

    # Drill down: click the server's node.
    page.locator(pid_link(server)).first.click()
    page.wait_for_url(re.compile(rf"/gomon\?pid={server}$"))
    page.wait_for_selector("#graph svg")
    header = page.locator("header .focus").inner_text()
    assert f"gm-tcp-server[{server}]" in header, header
    assert page.title() == f"gomon: connections · gm-tcp-server[{server}]"
    focused = page.locator("svg g.node.focus")
    assert focused.count() == 1, f"{focused.count()} focused nodes"
    assert focused.locator(pid_link(server, within=".//")).count() == 1, "the focused node is not the server"
    assert "gm-tcp-server" in (focused.text_content() or "")
    # Highlighted: the page's CSS draws the focused node's outline 3 px wide (others 1).
    outline = "(g) => getComputedStyle(g.querySelector('polygon, path, rect')).strokeWidth"
    assert focused.evaluate(outline) == "3px", focused.evaluate(outline)
    assert page.locator("svg g.node.process:not(.focus)").first.evaluate(outline) != "3px"
    peer = page.locator(pid_link(client))
    assert peer.count() == 1, "the server's peer (the client) is not drawn in the focused view"
    peer_node = page.locator("svg g.node", has=page.locator(pid_link(client, within=".//")))
    assert "gm-tcp-client" in (peer_node.text_content() or "")
    assert page.locator("svg g.edge.ipc").count() >= 1, "no process-to-process edge in the focused view"
    focused.scroll_into_view_if_needed()  # the graph scrolls sideways past the ancestors
    png = page.screenshot(full_page=False)
    (tmp_path / f"focused-{renderer}.png").write_bytes(png)
    assert_drawn(png, LIGHT_BG, f"focused view ({renderer})")

    # Dark theme: the toggle, remembered across a reload.
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(248, 248, 252)"
    page.click("#theme")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate(background) == "rgb(32, 32, 40)"
    png = page.screenshot(full_page=False)
    (tmp_path / f"focused-dark-{renderer}.png").write_bytes(png)
    dark = assert_drawn(png, DARK_BG, f"dark focused view ({renderer})")
    assert dark < light - 100, f"the dark theme is not dark: mean luminance {dark:.0f} vs light {light:.0f}"
    page.reload()
    page.wait_for_selector("#graph svg")
    assert page.evaluate(background) == "rgb(32, 32, 40)", "the dark choice was not remembered"

    # With no stored choice, the system's preference decides.
    page.evaluate("localStorage.removeItem('gomon-theme')")
    page.emulate_media(color_scheme="dark")
    page.reload()
    page.wait_for_selector("#graph svg")
    assert page.evaluate("document.documentElement.dataset.theme || ''") == ""
    assert page.evaluate(background) == "rgb(32, 32, 40)", "prefers-color-scheme: dark is not followed"


@pytest.mark.parametrize("renderer", ["dot", "builtin"])
def test_both_renderers_serve_the_page(renderer, tcp_pair, gomon_factory, monkeypatch):
    server, client = tcp_pair
    g = start_gomon(gomon_factory, monkeypatch, renderer)
    wait_for_connection(g, server, client)
    href = re.compile(r'(?:xlink:)?href="\?pid=(\d+)"')

    page = g.get("/gomon")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html"), page.headers
    html = page.text
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html, html[:300]
    assert ("Built-in layout" in html) == (renderer == "builtin"), re.findall(r'class="notice">[^<]*', html)
    assert ('class="fallback"' in html) == (renderer == "builtin")
    assert {str(server), str(client)} <= set(href.findall(html)), "the children have no drill-down links"

    svg = g.get("/gomon/svg")
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml", svg.headers
    assert svg.text.startswith("<svg"), svg.text[:200]
    assert str(server) in href.findall(svg.text)

    focused = g.get(f"/gomon?pid={server}").text
    assert f"<b>gm-tcp-server[{server}]</b>" in focused
    nodes = re.findall(r'<g id="node\d+" class="([^"]*)">', focused)
    assert sum("focus" in c.split() for c in nodes) == 1, nodes
    assert {str(server), str(client)} <= set(href.findall(focused))

    bad = g.get("/gomon?pid=abc")
    assert bad.status_code == 400, bad.status_code
