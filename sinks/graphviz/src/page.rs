//! The `/gomon` HTML page around the SVG.

use std::fmt::Write;

use crate::escape::{js_string, xml};
use crate::style::SVG_CSS;

/// What the page shows around the SVG.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageOptions {
    /// The `<title>` and heading.
    pub title: String,
    /// The focused process, if any: shown with a link back to the overview.
    pub focus_pid: Option<u32>,
    /// The focused process's name (its node title), shown as `name[pid]`.
    pub focus_name: Option<String>,
    /// The overview page (`/gomon`).
    pub overview_url: String,
    /// Where the bare SVG is served (`/gomon/svg`); the page's own query string
    /// (`?pid=N`) is appended when refreshing.
    pub svg_url: String,
    /// Seconds between live refreshes; 0 turns them off.
    pub refresh_secs: u32,
    /// A line shown above the graph, e.g. why the built-in layout is used.
    pub notice: Option<String>,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            title: "gomon: connections".into(),
            focus_pid: None,
            focus_name: None,
            overview_url: "/gomon".into(),
            svg_url: "/gomon/svg".into(),
            refresh_secs: 15,
            notice: None,
        }
    }
}

/// The `<svg …>…</svg>` element of an SVG document: whatever precedes the root element
/// (`<?xml …?>`, `<!DOCTYPE …>`, comments), which HTML has no use for, is cut off.
/// Text without an `<svg` element comes back empty.
pub fn svg_body(svg: &str) -> &str {
    let mut from = 0;
    while let Some(at) = svg[from..].find("<svg") {
        let start = from + at;
        match svg[start + 4..].chars().next() {
            Some(c) if c.is_ascii_whitespace() || c == '>' || c == '/' => return svg[start..].trim_end(),
            _ => from = start + 4,
        }
    }
    ""
}

/// The whole `/gomon` page: heading, focused pid with a link to the overview, the SVG
/// inline, light and dark themes (`prefers-color-scheme`, and a toggle remembered in
/// `localStorage`), and live refresh of the SVG in place every
/// [`refresh_secs`](PageOptions::refresh_secs), paused while the tab is hidden (a
/// `<noscript>` meta refresh without JavaScript). Self-contained: inline CSS and
/// script, no external assets.
///
/// `svg` is trusted markup (from `dot` or [`layout_svg`](crate::layout_svg)); its prolog
/// is stripped. Every option is escaped.
pub fn page_html(svg: &str, opts: &PageOptions) -> String {
    let body = svg_body(svg);
    let mut out = String::with_capacity(body.len() + 8192);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    let _ = writeln!(out, "<title>{}</title>", xml(&page_title(opts)));
    if opts.refresh_secs > 0 {
        let _ = writeln!(out, "<noscript><meta http-equiv=\"refresh\" content=\"{}\"></noscript>", opts.refresh_secs);
    }
    // Before the CSS applies, so a stored choice shows no flash of the other theme.
    out.push_str(
        "<script>try{var t=localStorage.getItem(\"gomon-theme\");\
         if(t===\"light\"||t===\"dark\")document.documentElement.dataset.theme=t}catch(e){}</script>\n",
    );
    out.push_str("<style>\n");
    out.push_str(PAGE_CSS);
    out.push_str(SVG_CSS);
    out.push_str("</style>\n</head>\n<body>\n<header>\n");
    let _ = writeln!(out, "<h1>{}</h1>", xml(&opts.title));
    if let Some(pid) = opts.focus_pid {
        let name = opts.focus_name.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "<span class=\"focus\">Process <b>{}[{pid}]</b> · <a href=\"{}\">all processes</a></span>",
            xml(name),
            xml(&opts.overview_url)
        );
    } else {
        out.push_str("<span class=\"focus\">All processes · click a process to focus on it</span>\n");
    }
    out.push_str("<span id=\"status\" aria-live=\"polite\"></span>\n");
    out.push_str(
        "<button id=\"theme\" type=\"button\" title=\"Switch between light and dark\" \
         >Light/dark</button>\n</header>\n",
    );
    if let Some(notice) = &opts.notice {
        let _ = writeln!(out, "<p class=\"notice\">{}</p>", xml(notice));
    }
    out.push_str("<main id=\"graph\">\n");
    if body.is_empty() {
        out.push_str("<p class=\"notice\">No graph to show.</p>\n");
    } else {
        out.push_str(body);
        out.push('\n');
    }
    out.push_str("</main>\n<script>\n");
    let _ = writeln!(
        out,
        "var GOMON_SVG_URL = {}, GOMON_REFRESH_MS = {};",
        js_string(&opts.svg_url),
        u64::from(opts.refresh_secs) * 1000
    );
    out.push_str(PAGE_JS);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

fn page_title(opts: &PageOptions) -> String {
    match (opts.focus_pid, &opts.focus_name) {
        (Some(pid), Some(name)) if !name.is_empty() => format!("{} · {name}[{pid}]", opts.title),
        (Some(pid), _) => format!("{} · pid {pid}", opts.title),
        _ => opts.title.clone(),
    }
}

const PAGE_CSS: &str = r#":root { --bg: #F8F8FC; --fg: #000000; --cluster: #4169E1; --stroke: #505060; --muted: #5A5A66; --link: #1F4FCC; color-scheme: light; }
@media (prefers-color-scheme: dark) {
  :root:not([data-theme="light"]) { --bg: #202028; --fg: #FFFFFF; --cluster: #6A8CFF; --stroke: #A0A0B0; --muted: #A8A8B8; --link: #8FB0FF; color-scheme: dark; }
}
:root[data-theme="dark"] { --bg: #202028; --fg: #FFFFFF; --cluster: #6A8CFF; --stroke: #A0A0B0; --muted: #A8A8B8; --link: #8FB0FF; color-scheme: dark; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.4 Helvetica, Arial, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.4em 1.2em; padding: 0.6em 1em; border-bottom: 1px solid var(--stroke); }
h1 { font-size: 1.1em; margin: 0; }
a { color: var(--link); }
#status { color: var(--muted); font-size: 0.85em; }
#theme { margin-left: auto; font: inherit; color: var(--fg); background: transparent; border: 1px solid var(--stroke); border-radius: 4px; padding: 0.1em 0.6em; cursor: pointer; }
.notice { margin: 0.6em 1em; color: var(--muted); }
#graph { overflow: auto; padding: 0.5em; }
#graph > svg { display: block; max-width: none; height: auto; }
"#;

/// Theme toggle and live refresh. `GOMON_SVG_URL` and `GOMON_REFRESH_MS` are set just
/// before it.
const PAGE_JS: &str = r#"(function () {
  var root = document.documentElement;
  document.getElementById("theme").addEventListener("click", function () {
    var dark = root.dataset.theme ? root.dataset.theme === "dark"
      : window.matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
    try { localStorage.setItem("gomon-theme", root.dataset.theme); } catch (e) {}
  });
  if (!GOMON_REFRESH_MS || !window.fetch || !window.DOMParser) return;
  var box = document.getElementById("graph"), status = document.getElementById("status");
  var timer = null, busy = false;
  function refresh() {
    if (busy) return Promise.resolve();
    busy = true;
    return fetch(GOMON_SVG_URL + location.search, { cache: "no-store", headers: { Accept: "image/svg+xml" } })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "image/svg+xml"), svg = doc.documentElement;
        if (svg.localName !== "svg" || doc.getElementsByTagName("parsererror").length) throw new Error("not SVG");
        box.replaceChildren(document.importNode(svg, true));
        status.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (e) { status.textContent = "refresh failed: " + e.message; })
      .then(function () { busy = false; });
  }
  function stop() { if (timer !== null) { clearTimeout(timer); timer = null; } }
  function schedule() {
    stop();
    if (!document.hidden) timer = setTimeout(function () { refresh().then(schedule); }, GOMON_REFRESH_MS);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { stop(); status.textContent = "paused"; }
    else refresh().then(schedule);
  });
  schedule();
})();
"#;
