"""assets/dashboard.json and the Grafana provisioning files in assets/provisioning/.

The dashboard must work on any Grafana without editing: data sources only through its template
variables (the original hard-coded three uids), Linux interface/disk/mount-point variables (the
original hard-coded macOS en0/lo0), units that match what each expression computes (the original's
process CPU panel used `percent` for a fraction of one CPU), and only metric names gomon really
exposes: every PromQL expression is checked against a live gomon's /metrics and run on a real
Prometheus scraping it, and every panel must show data: the gomon under test pushes its
observations to an independent Loki receiver (loki_receiver.py), so the Loki figures exist and
the events panel's stream selector is matched against the streams really pushed.

The original's panels are all here (its README's dashboard): boot time beside uptime, one CPU
usage figure and memory used as a share of the total (both yellow from 75 %, red from 90 %),
"System and process I/O" and "Prometheus and Loki collections" (gomon's own sampling and push
figures).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e_helpers import REPO_ROOT, GomonProcess, http_get, proc_stat_btime, wait_until
from loki_receiver import LokiReceiver

ASSETS = REPO_ROOT / "assets"
DASHBOARD_PATH = ASSETS / "dashboard.json"
DASHBOARD = json.loads(DASHBOARD_PATH.read_text())
PLUGIN_ID = json.loads((ASSETS / "plugin" / "src" / "plugin.json").read_text())["id"]
PROVISIONING = ASSETS / "provisioning"

# Data-source variable name -> the plugin type it selects.
DATASOURCE_VARIABLES = {"prometheus": "prometheus", "loki": "loki", "gomon": PLUGIN_ID}

# The unit of every panel, by title. A panel added without an entry here fails
# test_every_panel_has_the_unit_of_its_table_entry.
UNITS = {
    "Uptime": "dtdurations",
    # gomon_boot_time_seconds * 1000: dateTimeAsIso reads milliseconds since the epoch.
    "Boot time": "dateTimeAsIso",
    "CPUs": "none",
    # busy CPU seconds / all CPU seconds: a fraction.
    "CPU usage": "percentunit",
    "Memory": "bytes",
    # used bytes / total bytes: a fraction.
    "Memory used": "percentunit",
    "Processes": "none",
    # rate(cpu seconds) / CPUs: a fraction of all CPUs.
    "CPU by mode": "percentunit",
    "Load": "short",
    "Filesystem usage": "percentunit",
    "Filesystem available": "bytes",
    # rate() of *_bytes_total: bytes per second.
    "Disk I/O": "Bps",
    # rate() of *_bytes_total * 8: bits per second.
    "Network": "bps",
    # rate() of a process's cpu seconds: a fraction of ONE CPU (the original said "percent": 100x off).
    "Top processes by CPU": "percentunit",
    "Process resident memory": "bytes",
    # rate() of *_bytes_total, disks and processes.
    "System and process I/O": "Bps",
    # rate() of counters of cycles, entries and requests: per second.
    "Prometheus and Loki collections": "ops",
}
# The only unit overrides allowed: panel title -> {refId: unit}. The cycle duration is a gauge
# in seconds drawn beside per-second rates.
UNIT_OVERRIDES = {
    "Prometheus and Loki collections": {"D": "s"},
}
# Stat panels of a fraction with the original's thresholds: yellow from 75 %, red from 90 %.
THRESHOLD_PANELS = ("CPU usage", "Memory used")
# The original dashboard's panels (original-README), by the titles they have here.
ORIGINAL_PANELS = {
    "System (boot time, uptime)": ("Boot time", "Uptime"),
    "Memory (total, used, percent)": ("Memory", "Memory used"),
    "CPU (count, usage)": ("CPUs", "CPU usage"),
    "Load Averages": ("Load",),
    "Prometheus and Loki Collections": ("Prometheus and Loki collections",),
    "Network and Device I/O": ("Disk I/O", "Network"),
    "Process CPU Usage": ("Top processes by CPU",),
    "System and Process I/O": ("System and process I/O",),
    "Process Resident Memory": ("Process resident memory",),
    "File, Log, and Process Event Stream": ("Events",),
}
# Panels without a unit: what they show is not a number.
UNITLESS_TYPES = {"nodeGraph", "logs"}

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset", "inf", "nan"}
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>\w+)\s*\)\s*$")


# --------------------------------------------------------------------------- helpers


def walk(node, path="$"):
    """Every (path, dict) in a JSON tree."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def panels() -> list[dict]:
    """Every panel, including those inside rows."""
    out = []
    for p in DASHBOARD["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def panel(title: str) -> dict:
    found = [p for p in panels() if p.get("title") == title]
    assert len(found) == 1, f"{len(found)} panels titled {title!r}"
    return found[0]


def variables() -> dict[str, dict]:
    return {v["name"]: v for v in DASHBOARD["templating"]["list"]}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords, labels or variables)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery windows
    s = re.sub(r"\$\{?\w+\}?", " ", s)  # dashboard variables
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)  # label lists
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if m.group(0).lower() in PROMQL_KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def promql_expressions() -> list[tuple[str, str]]:
    """(where, expression) for every Prometheus target and query variable."""
    out = []
    for p in panels():
        for t in p.get("targets", []):
            if t.get("datasource", p.get("datasource", {})).get("type") == "prometheus":
                out.append((f"panel {p['title']!r} target {t['refId']}", t["expr"]))
    for name, v in variables().items():
        if v["type"] == "query":
            m = LABEL_VALUES.match(v["query"])
            assert m, f"variable {name}: {v['query']!r} is not label_values(selector, label)"
            out.append((f"variable {name}", m["selector"]))
    return out


def expand_env(text: str, env: dict[str, str]) -> str:
    """$VAR and ${VAR}, as Grafana expands them in provisioning files; unknown ones fail."""

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        assert name in env, f"provisioning refers to ${name}, which the documented set-up does not define"
        return env[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", sub, text)


# --------------------------------------------------------------------------- the dashboard alone


def test_dashboard_identity_and_schema_version():
    assert isinstance(DASHBOARD.get("schemaVersion"), int) and DASHBOARD["schemaVersion"] >= 36
    assert DASHBOARD["uid"] and DASHBOARD["title"]
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"


def test_no_hard_coded_data_source_uids():
    """Every datasource reference is {type, uid: "${var}"} for a data-source variable of that type;
    the data-source variables themselves have none."""
    declared = variables()
    refs = 0
    for path, node in walk(DASHBOARD):
        if "datasource" not in node:
            continue
        ref = node["datasource"]
        assert isinstance(ref, dict), f"{path}.datasource is {ref!r}: a name or uid string, not a variable reference"
        m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", ref.get("uid", ""))
        assert m, f"{path}.datasource.uid is {ref.get('uid')!r}, not a ${{variable}}"
        var = m.group(1) or m.group(2)
        assert var in DATASOURCE_VARIABLES and declared.get(var, {}).get("type") == "datasource", (
            f"{path}.datasource refers to ${var}, which is not a data-source variable")
        assert ref.get("type") == DATASOURCE_VARIABLES[var], f"{path}.datasource: type {ref.get('type')!r} for ${var}"
        refs += 1
    assert refs >= len(panels()), "every panel names its data source"
    for path, node in walk(DASHBOARD):
        if "uid" in node and path != "$":
            assert re.fullmatch(r"\$\{\w+\}|\$\w+", node["uid"]), f"{path}.uid is the literal {node['uid']!r}"


def test_variables():
    v = variables()
    for name, plugin in DATASOURCE_VARIABLES.items():
        assert v[name]["type"] == "datasource" and v[name]["query"] == plugin, v.get(name)
        assert "datasource" not in v[name]
    expected = {
        "host": ("gomon_host_info", "instance"),
        "interface": ("gomon_network_receive_bytes_total", "device"),
        "device": ("gomon_disk_read_bytes_total", "device"),
        "mountpoint": ("gomon_filesystem_size_bytes", "mountpoint"),
    }
    for name, (family, label) in expected.items():
        assert v[name]["type"] == "query", v[name]
        assert v[name]["datasource"] == {"type": "prometheus", "uid": "${prometheus}"}
        m = LABEL_VALUES.match(v[name]["query"])
        assert m and metric_names(m["selector"]) == {family} and m["label"] == label, v[name]["query"]
    for name in ("interface", "device", "mountpoint"):
        assert v[name]["multi"] and v[name]["includeAll"] and v[name]["allValue"] == ".*", v[name]


def test_panels_filter_by_their_variables():
    """Network panels select interfaces with $interface, disk panels disks with $device, filesystem
    panels mount points with $mountpoint, and every one the host with $host — no literal names."""
    rules = [
        (r"gomon_network_\w+", r'device=~"\$interface"'),
        (r"gomon_disk_\w+", r'device=~"\$device"'),
        (r"gomon_filesystem_\w+", r'mountpoint=~"\$mountpoint"'),
        (r"gomon_\w+|process_\w+", r'instance=~"\$host"'),
    ]
    for where, expr in promql_expressions():
        if where.startswith("variable"):
            continue
        for selector in re.finditer(r"(?P<name>[A-Za-z_:][\w:]*)\{(?P<matchers>[^}]*)\}", expr):
            for family, matcher in rules:
                if re.fullmatch(family, selector["name"]):
                    assert re.search(matcher, selector["matchers"]), f"{where}: {selector[0]} lacks {matcher}"
                    break
        for name in metric_names(expr):
            assert re.search(re.escape(name) + r"\{", expr), f"{where}: {name} has no label matchers: {expr}"


def test_every_panel_has_the_unit_of_its_table_entry():
    seen = set()
    for p in panels():
        if p["type"] == "row":
            continue
        if p["type"] in UNITLESS_TYPES:
            continue
        assert p["title"] in UNITS, f"panel {p['title']!r} has no entry in UNITS"
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit == UNITS[p["title"]], f"panel {p['title']!r}: unit {unit!r}, want {UNITS[p['title']]!r}"
        overridden = {}
        for o in p["fieldConfig"].get("overrides", []):
            for prop in o.get("properties", []):
                if prop["id"] == "unit":
                    assert o["matcher"]["id"] == "byFrameRefID", f"{p['title']}: unit override by {o['matcher']}"
                    overridden[o["matcher"]["options"]] = prop["value"]
        assert overridden == UNIT_OVERRIDES.get(p["title"], {}), f"{p['title']}: unit overrides {overridden}"
        refs = {t["refId"] for t in p.get("targets", [])}
        assert set(overridden) <= refs, f"{p['title']}: overrides name queries it lacks: {set(overridden) - refs}"
        seen.add(p["title"])
    assert seen == set(UNITS), f"UNITS names panels the dashboard lacks: {set(UNITS) - seen}"


def test_the_original_dashboards_panels_are_all_here():
    titles = {p["title"] for p in panels()}
    missing = {orig: [t for t in ours if t not in titles] for orig, ours in ORIGINAL_PANELS.items()}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"the original's panels without their counterpart here: {missing}"


def test_fraction_stats_have_the_originals_thresholds():
    for title in THRESHOLD_PANELS:
        p = panel(title)
        defaults = p["fieldConfig"]["defaults"]
        assert p["type"] == "stat" and defaults["unit"] == "percentunit", p
        assert (defaults.get("min"), defaults.get("max")) == (0, 1), f"{title}: min/max {defaults}"
        steps = defaults["thresholds"]["steps"]
        assert defaults["thresholds"]["mode"] == "absolute"
        assert [(s["color"], s["value"]) for s in steps] == [("green", None), ("yellow", 0.75), ("red", 0.9)], steps
        (target,) = p["targets"]
        assert target.get("instant"), f"{title}: a stat of the current value is an instant query"


def test_unit_conversions_in_expressions():
    """dateTimeAsIso takes milliseconds; the duration override is on a `_seconds` gauge, not a rate."""
    (boot,) = panel("Boot time")["targets"]
    assert metric_names(boot["expr"]) == {"gomon_boot_time_seconds"} and boot["expr"].rstrip().endswith("* 1000")
    (duration,) = [t for t in panel("Prometheus and Loki collections")["targets"] if t["refId"] == "D"]
    assert metric_names(duration["expr"]) == {"gomon_sample_duration_seconds"} and "rate(" not in duration["expr"]


def test_process_cpu_is_a_ratio_of_one_cpu():
    """The original's bug: rate(process cpu seconds) is a fraction of one CPU; percentunit shows
    0.5 as 50 %, `percent` would show 0.5 %."""
    p = panel("Top processes by CPU")
    (expr,) = [t["expr"] for t in p["targets"]]
    assert "rate(gomon_process_cpu_seconds_total" in expr and "* 100" not in expr, expr
    assert p["fieldConfig"]["defaults"]["unit"] == "percentunit"


def test_node_graph_panel_on_the_plugin():
    (p,) = [p for p in panels() if p["type"] == "nodeGraph"]
    ref = {"type": PLUGIN_ID, "uid": "${gomon}"}
    assert p["datasource"] == ref
    assert p["targets"] and all(t["queryType"] == "nodegraph" and t["datasource"] == ref for t in p["targets"])


def test_events_panel_on_loki():
    (p,) = [p for p in panels() if p["type"] == "logs"]
    ref = {"type": "loki", "uid": "${loki}"}
    assert p["datasource"] == ref
    (t,) = p["targets"]
    assert t["datasource"] == ref
    assert re.search(r'source=~"\.\+"', t["expr"]) and re.search(r'host=~"\$\w+"', t["expr"]), t["expr"]
    host_var = re.search(r'host=~"\$(\w+)"', t["expr"])[1]
    assert host_var in variables(), f"the events panel filters on ${host_var}, which is not declared"


def test_metric_name_extraction():
    """The extractor the next tests rely on finds names and nothing else."""
    assert metric_names('sum by (instance, mode) (rate(a_total{x="y", mode!="idle"}[$__rate_interval]))'
                        " / on (instance) group_left b") == {"a_total", "b"}
    assert metric_names('topk(10, sum by (pid, comm) (rate(c{instance=~"$host"}[5m]))) * 1e3 offset 5m') == {"c"}
    assert metric_names("-rate(d[1m]) * 8 > bool 0 and e unless f") == {"d", "e", "f"}


# --------------------------------------------------------------------------- against gomon and Prometheus


@pytest.fixture(scope="module")
def loki():
    """The independent Loki receiver the module's gomon pushes its observations to."""
    rx = LokiReceiver().start()
    yield rx
    rx.stop()


@pytest.fixture(scope="module")
def shared_gomon(tmp_path_factory, loki) -> GomonProcess:
    """Overrides conftest's: the same gomon, pushing observations to `loki`, so the Loki
    figures of "Prometheus and Loki collections" and the events panel have data. An exec
    makes sure there is something to push."""
    g = GomonProcess(tmp_path_factory.mktemp("dashboard-gomon"), ["--loki-url", loki.url])
    subprocess.run(["/bin/true"], check=True)
    yield g
    g.stop_and_check()


def test_every_metric_name_exists_in_gomon(shared_gomon):
    """A panel that names a metric gomon does not expose fails here. (Polled: the process families
    appear once the process probe has run.)"""
    used = {}
    for where, expr in promql_expressions():
        names = metric_names(expr)
        assert names, f"{where}: no metric name found in {expr!r}"
        for name in names:
            used.setdefault(name, []).append(where)
    missing: dict[str, list[str]] = {}

    def all_exposed():
        exposed = shared_gomon.scrape().names()
        missing.clear()
        missing.update({name: wheres for name, wheres in used.items() if name not in exposed})
        return not missing

    wait_until(all_exposed, 30, "gomon to expose every metric the dashboard uses",
               describe=lambda: "not in gomon's /metrics:\n" + "\n".join(
                   f"  {name} (used by {', '.join(wheres)})" for name, wheres in sorted(missing.items())))


def test_every_expression_returns_series_from_prometheus(prometheus, shared_gomon):
    """Each expression, with the variables set as a user would (this host, all devices), parses and
    returns data on a real Prometheus scraping gomon every second."""
    instance = f"127.0.0.1:{shared_gomon.port}"
    values = {"host": instance, "interface": ".*", "device": ".*", "mountpoint": ".*",
              "__rate_interval": "5s"}

    def resolve(expr: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)

    pending = {where: resolve(expr) for where, expr in promql_expressions() if not where.startswith("variable")}

    def all_answered():
        for where in list(pending):
            if prometheus.query(pending[where]):
                del pending[where]
        return not pending

    wait_until(all_answered, 60, "every dashboard expression to return series",
               describe=lambda: f"still empty: {pending}\n{prometheus.describe()}")

    for name, v in variables().items():
        if v["type"] != "query":
            continue
        m = LABEL_VALUES.match(v["query"])
        r = http_get(f"{prometheus.url}/api/v1/label/{m['label']}/values", params={"match[]": resolve(m["selector"])})
        assert r.status_code == 200 and r.json()["data"], f"variable {name}: {v['query']} -> {r.text}"
        if name == "host":
            assert instance in r.json()["data"]


def resolved_targets(shared_gomon, title: str) -> dict[str, str]:
    """{refId: expression} of a panel, with the variables set as in the test above."""
    values = {"host": f"127.0.0.1:{shared_gomon.port}", "interface": ".*", "device": ".*", "mountpoint": ".*",
              "__rate_interval": "5s"}
    return {t["refId"]: re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], t["expr"])
            for t in panel(title)["targets"]}


def one_value(prometheus, expr: str, what: str) -> float:
    """The value of an expression that yields one series, once it yields it."""
    def answered():
        result = prometheus.query(expr)
        assert len(result) <= 1, f"{what}: {expr} returned {len(result)} series: {result}"
        return result

    (series,) = wait_until(answered, 60, f"{what} ({expr})", describe=prometheus.describe)
    return float(series["value"][1])


def test_new_panels_show_what_they_claim(prometheus, shared_gomon):
    """Boot time is /proc/stat's btime in milliseconds; CPU usage and memory used are fractions
    (memory used = used / total as gomon reports them)."""
    (boot,) = resolved_targets(shared_gomon, "Boot time").values()
    assert abs(one_value(prometheus, boot, "boot time") - proc_stat_btime() * 1000) <= 1000
    (cpu,) = resolved_targets(shared_gomon, "CPU usage").values()
    wait_until(lambda: prometheus.query(cpu), 60, "CPU usage", describe=prometheus.describe)
    (usage,) = prometheus.query(cpu)
    assert 0 <= float(usage["value"][1]) <= 1, usage
    (used,) = resolved_targets(shared_gomon, "Memory used").values()
    fraction = one_value(prometheus, used, "memory used")
    assert 0 < fraction < 1, fraction


def test_collections_panel_shows_sampling_and_loki_pushes(prometheus, shared_gomon, loki):
    """The panel's figures move: cycles are counted per second, and the Loki figures count the
    pushes the independent receiver really accepted (an exec per poll gives it something)."""
    exprs = resolved_targets(shared_gomon, "Prometheus and Loki collections")
    instance = f"127.0.0.1:{shared_gomon.port}"

    def positive(expr: str, **labels: str) -> bool:
        subprocess.run(["/bin/true"], check=True)
        return any(float(r["value"][1]) > 0 and all(r["metric"].get(k) == v for k, v in labels.items())
                   for r in prometheus.query(expr))

    wait_until(lambda: positive(exprs["A"]), 60, "sampling cycles per second > 0", describe=prometheus.describe)
    wait_until(lambda: positive(exprs["B"]), 60, "Loki entries sent per second > 0",
               describe=lambda: f"receiver: {len(loki.entries())} entries, problems {loki.problems()}\n"
                                + prometheus.describe())
    wait_until(lambda: positive(exprs["C"], outcome="success"), 60, "successful Loki pushes per second > 0",
               describe=prometheus.describe)
    assert loki.entries() and not loki.problems(), loki.problems()
    sent = prometheus.scalar(f'gomon_loki_sent_entries_total{{instance="{instance}"}}')
    assert sent is not None and sent <= len(loki.entries()), (sent, len(loki.entries()))
    duration = one_value(prometheus, exprs["D"], "the last cycle's duration")
    assert 0 < duration < 60, duration


def logql_matches(selector: str, labels: dict[str, str]) -> bool:
    """Whether a LogQL stream selector `{a="x", b=~"re", c!="y", d!~"re"}` selects `labels`
    (regexes anchored at both ends, as in LogQL)."""
    body = selector.strip()
    assert body.startswith("{") and body.endswith("}"), selector
    matchers = re.findall(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?', body[1:-1])
    assert matchers, f"no matchers in {selector!r}"
    for name, op, value in matchers:
        have = labels.get(name, "")
        ok = {"=": have == value, "!=": have != value,
              "=~": re.fullmatch(value, have) is not None, "!~": re.fullmatch(value, have) is None}[op]
        if not ok:
            return False
    return True


def test_events_panel_selects_the_streams_gomon_pushes(prometheus, shared_gomon, loki):
    """The events panel's LogQL, with $hostname resolved as Grafana would (the hidden variable
    over gomon_host_info), selects the streams gomon pushed to the receiver."""
    (t,) = panel("Events")["targets"]
    hostname_var = variables()["hostname"]
    m = LABEL_VALUES.match(hostname_var["query"])
    selector = m["selector"].replace("$host", f"127.0.0.1:{shared_gomon.port}")

    def hostnames():
        r = http_get(f"{prometheus.url}/api/v1/label/{m['label']}/values", params={"match[]": selector})
        return r.json()["data"]

    (hostname,) = wait_until(hostnames, 60, "the $hostname variable's value", describe=prometheus.describe)
    expr = t["expr"].replace("$hostname", re.escape(hostname))

    def selected():
        subprocess.run(["/bin/true"], check=True)
        return [e for e in loki.entries() if logql_matches(expr, e.labels)]

    wait_until(selected, 60, f"entries selected by {expr}",
               describe=lambda: f"streams received: {sorted(loki.streams())}")
    assert not logql_matches(expr, {"host": hostname + "-other", "source": "process"})


def test_node_graph_panel_has_nodes(shared_gomon):
    """The node graph's query (`nodegraph`, overview) answers with nodes: the agent API serves
    what the plugin computes for that query."""
    def nodes():
        r = shared_gomon.get("/api/nodegraph")
        assert r.status_code == 200, r.text
        return r.json()["nodes"]

    found = wait_until(nodes, 30, "nodes in /api/nodegraph", describe=shared_gomon.describe)
    assert any(str(n.get("id")) == str(shared_gomon.pid) for n in found), "gomon itself is not in its graph"


def test_logql_matcher():
    assert logql_matches('{host=~"web1", source=~".+"}', {"host": "web1", "source": "logs"})
    assert not logql_matches('{host=~"web", source=~".+"}', {"host": "web1", "source": "logs"})
    assert not logql_matches('{host=~"web1", source=~".+"}', {"host": "web1"})
    assert logql_matches('{a="x", b!="y", c!~"z.*"}', {"a": "x", "b": "q", "c": "q"})


# --------------------------------------------------------------------------- provisioning


def load_yaml(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict) and doc.get("apiVersion") == 1, f"{path}: apiVersion 1 expected"
    return doc


def test_provisioned_data_sources():
    doc = load_yaml(PROVISIONING / "datasources" / "gomon.yaml")
    by_type = {}
    uids = [ds["uid"] for ds in doc["datasources"]]
    assert len(uids) == len(set(uids)), f"duplicate uids {uids}"
    for ds in doc["datasources"]:
        assert ds["name"] and ds["uid"] and ds["access"] == "proxy", ds
        by_type[ds["type"]] = ds
    assert set(by_type) == {"prometheus", "loki", PLUGIN_ID}, "the gomon data source type is plugin.json's id"
    assert by_type["prometheus"]["uid"] == "gomon-prometheus" and by_type["prometheus"]["url"] == "http://localhost:9090"
    assert by_type["loki"]["uid"] == "gomon-loki" and by_type["loki"]["url"] == "http://localhost:3100"
    links = by_type[PLUGIN_ID]["jsonData"]
    assert links["prometheusUid"] == by_type["prometheus"]["uid"]
    assert links["lokiUid"] == by_type["loki"]["uid"]
    # What the dashboard's data-source variables select is what is provisioned.
    for var, plugin in DATASOURCE_VARIABLES.items():
        assert variables()[var]["query"] in by_type, f"${var} selects {plugin}, which is not provisioned"


def test_provisioned_dashboard_is_assets_dashboard_json():
    doc = load_yaml(PROVISIONING / "dashboards" / "gomon.yaml")
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["name"] and provider["folder"]
    path = Path(expand_env(provider["options"]["path"], {"GOMON_ASSETS": str(ASSETS)}))
    assert path.exists(), f"the dashboard provider points at {path}, which does not exist"
    # A directory would make Grafana load every *.json under it (package.json, plugin.json, ...).
    assert path.is_file() and os.path.samefile(path, DASHBOARD_PATH), f"{path} is not assets/dashboard.json"
    assert json.loads(path.read_text())["uid"] == DASHBOARD["uid"]


def test_provisioning_files_are_all_known():
    """Nothing else in assets/provisioning that Grafana would read and this suite would not check."""
    found = {str(p.relative_to(PROVISIONING)) for p in PROVISIONING.rglob("*") if p.is_file()}
    assert found == {"datasources/gomon.yaml", "dashboards/gomon.yaml"}, found
