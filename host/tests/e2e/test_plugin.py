"""Grafana plugin mode, driven as Grafana drives it (plugin_harness.py): the go-plugin
handshake, gRPC health, CheckHealth, QueryData of every query type with frames decoded
by pyarrow, CallResource, RunStream, hclog on stderr, SIGTERM and Shutdown; a run
without the cookie; and agent mode (the plugin querying a second gomon over HTTPS)."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families

from e2e_helpers import free_port, gomon_bin, wait_until
from plugin_harness import HANDSHAKE, PluginProcess, plugin_env, stubs

UID = "gomon-test"
HCLOG_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
ARCS = ["arc__process", "arc__host", "arc__data", "arc__socket", "arc__kernel"]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    p = PluginProcess(tmp_path_factory.mktemp("plugin"))
    yield p
    assert p.alive(), f"the plugin died during the tests\n{p.describe()}"
    code = p.stop()
    assert code == 0, f"plugin exited {code} on SIGTERM\n{p.describe()}"


def healthy(plugin: PluginProcess, context=None):
    """CheckHealth once the collector is up (it starts behind the handshake)."""
    pb = stubs().pb

    def ok():
        r = plugin.check_health(context)
        return r if r.status == pb.CheckHealthResponse.OK else None

    return wait_until(ok, 60, "CheckHealth OK", interval=0.5,
                      describe=lambda: f"last: {plugin.check_health(context)}\n{plugin.describe()}")


def string_field(frame, name):
    f = frame.field(name)
    assert pa.types.is_string(f.type), f"{frame.name}.{name} is {f.type}, want utf8"
    return f


# --------------------------------------------------------------------------- handshake, health


def test_handshake_line_and_grpc_health(plugin):
    assert HANDSHAKE.match(plugin.handshake.rstrip("\n")), plugin.handshake
    response = plugin.health.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_check_health_runs_real_checks(plugin):
    response = healthy(plugin)
    details = json.loads(response.jsonDetails)
    checks = {c["name"]: c for c in details["checks"]}
    assert {"sampler", "probes", "capabilities"} <= set(checks), details
    assert checks["sampler"]["ok"] and "last sample" in checks["sampler"]["message"]
    assert "graph" in checks["probes"]["message"], checks["probes"]
    assert "sampler:" in response.message and "probes:" in response.message, response.message


def test_check_health_names_bad_settings(plugin):
    pb = stubs().pb
    bad = plugin.context(json_data={"agentUrl": "ftp://nowhere"})
    response = plugin.check_health(bad)
    assert response.status == pb.CheckHealthResponse.ERROR
    assert "agentUrl" in response.message and "ftp://nowhere" in response.message, response.message


def test_collect_metrics_is_the_collectors_exposition(plugin):
    healthy(plugin)
    pb = stubs().pb
    response = plugin.diagnostics.CollectMetrics(pb.CollectMetricsRequest(pluginContext=plugin.context()), timeout=10)
    text = response.metrics.prometheus.decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"gomon_build_info", "gomon_load_average", "gomon_probe_up", "gomon_samples"} <= names, sorted(names)


# --------------------------------------------------------------------------- QueryData


def test_nodegraph_frames_decode_with_pyarrow(plugin):
    healthy(plugin)
    response = plugin.query(plugin.data_query("A", "nodegraph", {"pid": 0}))
    nodes, edges = plugin.frames(response, "A")

    assert (nodes.name, edges.name) == ("nodes", "edges")
    for frame in (nodes, edges):
        assert frame.ref_id == "A"
        assert frame.meta["preferredVisualisationType"] == "nodeGraph"
    # Nodes: string ids, the label fields, five fixed-colour arcs summing to 1, details.
    assert nodes.names()[:5] == ["id", "title", "subtitle", "mainstat", "secondarystat"]
    for name in nodes.names()[:5]:
        string_field(nodes, name)
    assert nodes.names()[5:10] == ARCS
    for name in nodes.names():
        f = nodes.field(name)
        if name.startswith("arc__"):
            assert pa.types.is_float64(f.type), (name, f.type)
            assert f.config["color"]["mode"] == "fixed" and f.config["color"]["fixedColor"].startswith("#")
        elif name.startswith("detail__"):
            assert pa.types.is_string(f.type) and f.config.get("displayName"), (name, f.type, f.config)
    arcs = [nodes.field(n).values for n in nodes.names() if n.startswith("arc__")]
    for row in range(nodes.rows):
        assert abs(sum(a[row] for a in arcs) - 1.0) < 1e-9, f"arcs of node {nodes.field('id').values[row]}"
    ids = nodes.field("id").values
    assert str(plugin.pid) in ids, f"the plugin process (child of pytest) is in the overview: {ids[:50]}"
    # Data links drill down to the clicked pid on the same data source, in Explore.
    link = nodes.field("id").config["links"][0]
    assert link["internal"]["datasourceUid"] == UID
    assert link["internal"]["query"] == {"refId": "A", "queryType": "nodegraph", "pid": "${__value.raw}"}

    # Edges: string ids, sources and targets that name nodes.
    assert edges.names()[:5] == ["id", "source", "target", "mainstat", "secondarystat"]
    for name in edges.names():
        string_field(edges, name)
    assert all(n.startswith("detail__connection_") for n in edges.names()[5:])
    node_ids = set(ids)
    for s, t in zip(edges.field("source").values, edges.field("target").values):
        assert s in node_ids and t in node_ids, (s, t)
    assert edges.field("source").config["links"][0]["internal"]["datasourceUid"] == UID


def test_nodegraph_focus_on_a_pid(plugin):
    healthy(plugin)
    child = subprocess.Popen(["sleep", "60"])
    try:
        # The data link sends the pid as a string; the query editor sends a number.
        for pid in (plugin.pid, str(child.pid)):
            def focused():
                response = plugin.query(plugin.data_query("F", "nodegraph", {"pid": pid}))
                nodes, _ = plugin.frames(response, "F")
                return nodes if str(pid) in nodes.field("id").values else None

            nodes = wait_until(focused, 30, f"a graph focused on {pid}")
            assert not any("not running" in n["text"] for n in nodes.meta.get("notices", []))
        # A host or data node id is not a pid: the overview, with a notice.
        response = plugin.query(plugin.data_query("H", "nodegraph", {"pid": "host:203.0.113.7"}))
        nodes, _ = plugin.frames(response, "H")
        assert any("host:203.0.113.7 is not a process" in n["text"] for n in nodes.meta["notices"])
    finally:
        child.kill()
        child.wait()


def test_metrics_frames_honour_range_and_max_data_points(plugin):
    healthy(plugin)

    def enough():
        frames = plugin.frames(plugin.query(plugin.data_query("M", "metrics", {})), "M")
        return frames if frames and min(f.rows for f in frames) >= 6 else None

    frames = wait_until(enough, 60, "6 points of the default series (1 s interval)")
    names = {f.name for f in frames}
    assert names == {"gomon_system_cpu_seconds_total", "gomon_memory_used_bytes", "gomon_memory_available_bytes",
                     "gomon_load_average"}, names
    for frame in frames:
        assert frame.meta["type"] == "timeseries-multi"
        assert frame.names() == ["time", "value"]
        assert pa.types.is_timestamp(frame.field("time").type) and frame.field("time").type.unit == "ns"
        assert pa.types.is_float64(frame.field("value").type)
        times = frame.field("time").values
        assert times == sorted(times)
    cpu = [f for f in frames if f.name == "gomon_system_cpu_seconds_total"]
    modes = {f.field("value").labels["mode"] for f in cpu}
    assert {"user", "system", "idle"} <= modes, modes
    for f in cpu:
        assert f.field("value").config["unit"] == "percentunit", "a rate of CPU seconds"
        assert all(v >= 0 for v in f.field("value").values), "rates of counters are never negative"
    load = [f for f in frames if f.name == "gomon_load_average"]
    assert {f.field("value").labels["window"] for f in load} == {"1m", "5m", "15m"}

    # maxDataPoints: neighbouring points averaged down.
    frames = plugin.frames(plugin.query(plugin.data_query("P", "metrics", {}, max_points=3)), "P")
    assert frames and all(0 < f.rows <= 3 for f in frames), [f.rows for f in frames]

    # A range before the plugin started: no points, and a notice saying why.
    pb = stubs().pb
    query = plugin.data_query("R", "metrics", {"metric": "gomon_load_average"})
    query.timeRange.CopyFrom(pb.TimeRange(fromEpochMS=1_000_000_000_000, toEpochMS=1_000_000_060_000))
    frames = plugin.frames(plugin.query(query), "R")
    assert all(f.rows == 0 for f in frames)
    assert any("No samples in this time range" in n["text"] for f in frames for n in f.meta.get("notices", []))


def test_metrics_of_one_family_filtered_by_label_regex(plugin):
    healthy(plugin)
    family = {"metric": "gomon_process_resident_bytes"}

    def all_series():
        frames = plugin.frames(plugin.query(plugin.data_query("Q", "metrics", family)), "Q")
        return frames or None

    frames = wait_until(all_series, 60, "per-process series")
    assert {f.name for f in frames} == {"gomon_process_resident_bytes"}
    assert all(f.field("value").config["unit"] == "bytes" for f in frames)
    comms = sorted({f.field("value").labels["comm"] for f in frames})
    pattern = f"^{re.escape(comms[0])}$"
    filtered = plugin.frames(plugin.query(plugin.data_query("Q", "metrics", {**family, "filter": pattern})), "Q")
    assert filtered, f"{pattern} matches a series it came from"
    for f in filtered:
        assert any(re.search(pattern, v) for v in f.field("value").labels.values()), f.field("value").labels
    if len(comms) > 1:
        assert len(filtered) < len(frames), "the filter drops the other processes"


def test_events_is_a_logs_frame_of_recent_observations(plugin, request):
    healthy(plugin)
    response = plugin.query(plugin.data_query("E", "events", {"limit": 5}))
    (frame,) = plugin.frames(response, "E")
    assert frame.name == "events"
    assert frame.meta["type"] == "log-lines" and frame.meta["preferredVisualisationType"] == "logs"
    assert frame.names() == ["timestamp", "body", "severity", "id", "labels"]
    assert pa.types.is_timestamp(frame.field("timestamp").type)
    for name in ("body", "severity", "id"):
        string_field(frame, name)
    assert pa.types.is_binary(frame.field("labels").type)
    assert frame.rows <= 5

    # The observe pipeline runs in the plugin process: a child's exec shows up.
    # (It lives until the end of the test, so its name is read at the exec.)
    child = subprocess.Popen(["sleep", "60"])
    request.addfinalizer(lambda: (child.kill(), child.wait()))

    def child_events():
        response = plugin.query(plugin.data_query("E", "events", {"filter": str(child.pid)}))
        (frame,) = plugin.frames(response, "E")
        labels = [json.loads(raw) for raw in frame.field("labels").values]
        return (frame, labels) if any(l.get("event") == "exec" for l in labels) else None

    frame, labels = wait_until(child_events, 30, f"the exec of pid {child.pid} among the events")
    exec_row = next(i for i, l in enumerate(labels) if l["event"] == "exec")
    assert labels[exec_row]["source"] == "process" and labels[exec_row]["pid"] == str(child.pid)
    assert frame.field("severity").values[exec_row] == "info"
    assert "sleep" in frame.field("body").values[exec_row]
    times = frame.field("timestamp").values
    assert times == sorted(times, reverse=True), "newest first"
    assert len(set(frame.field("id").values)) == frame.rows


def test_query_type_comes_from_the_field_or_the_json(plugin):
    healthy(plugin)
    response = plugin.query(
        plugin.data_query("J", "", {"queryType": "events"}),
        plugin.data_query("D", "", {}),
    )
    assert [f.name for f in plugin.frames(response, "J")] == ["events"]
    assert [f.name for f in plugin.frames(response, "D")] == ["nodes", "edges"], "nodegraph is the default"


def test_bad_queries_fail_alone_and_say_why(plugin):
    healthy(plugin)
    response = plugin.query(
        plugin.data_query("A", "cpu", {}),
        plugin.data_query("B", "nodegraph", {"pid": "12ab"}),
        plugin.data_query("C", "metrics", {"filter": "("}),
        plugin.data_query("D", "metrics", {"metric": "gomon_no_such_family"}),
        plugin.data_query("E", "events", {"limit": -1}),
        plugin.data_query("OK", "nodegraph", {}),
    )
    expect = {
        "A": "unknown queryType \"cpu\"",
        "B": "pid:",
        "C": "filter \"(\" is not a valid regular expression",
        "D": "gomon_no_such_family",
        "E": "limit:",
    }
    for ref_id, needle in expect.items():
        answer = response.responses[ref_id]
        assert answer.status == 400 and needle in answer.error, (ref_id, answer.status, answer.error)
        assert not answer.frames
    assert len(plugin.frames(response, "OK")) == 2
    assert plugin.alive()


# --------------------------------------------------------------------------- CallResource


def test_resources_processes_probes_and_svg(plugin):
    healthy(plugin)
    code, headers, body = plugin.resource("processes")
    assert code == 200 and headers["Content-Type"] == "application/json"
    rows = json.loads(body)
    assert rows and set(rows[0]) == {"pid", "ppid", "comm", "cpuSeconds", "residentBytes"}
    assert [r["comm"] for r in rows] == sorted(r["comm"] for r in rows), "sorted by comm"
    mine = [r for r in rows if r["pid"] == plugin.pid]
    assert mine and mine[0]["ppid"] > 1 and mine[0]["residentBytes"] > 0, mine

    code, _, body = plugin.resource("probes")
    assert code == 200
    probes = json.loads(body)
    assert {"system", "graph"} <= {p["name"] for p in probes}
    assert {"name", "state", "calls"} <= set(probes[0])

    code, headers, body = plugin.resource("graph.svg", url=f"graph.svg?pid={plugin.pid}")
    assert code == 200 and headers["Content-Type"] == "image/svg+xml", (code, body[:200])
    text = body.decode()
    assert "<svg" in text and "</svg>" in text
    assert "gomon" in text, "the focused process is drawn"

    code, _, body = plugin.resource("graph.svg", url="graph.svg?pid=zz")
    assert code == 400 and b"pid" in body
    code, _, body = plugin.resource("nothing")
    assert code == 404 and b"graph.svg" in body, "names what exists"
    code, _, _ = plugin.resource("processes", method="POST")
    assert code == 405


# --------------------------------------------------------------------------- streaming


def test_stream_subscribe_and_run(plugin):
    healthy(plugin)
    pb = stubs().pb
    ok = plugin.streams.SubscribeStream(pb.SubscribeStreamRequest(pluginContext=plugin.context(), path="metrics"))
    assert ok.status == pb.SubscribeStreamResponse.OK
    missing = plugin.streams.SubscribeStream(pb.SubscribeStreamRequest(pluginContext=plugin.context(), path="x"))
    assert missing.status == pb.SubscribeStreamResponse.NOT_FOUND
    denied = plugin.streams.PublishStream(pb.PublishStreamRequest(pluginContext=plugin.context(), path="metrics"))
    assert denied.status == pb.PublishStreamResponse.PERMISSION_DENIED

    call = plugin.streams.RunStream(
        pb.RunStreamRequest(pluginContext=plugin.context(), path="metrics/gomon_load_average"), timeout=30)
    packets = []
    try:
        for packet in call:
            packets.append(json.loads(packet.data))
            if len(packets) == 2:
                break
    finally:
        call.cancel()
    first = packets[0]
    fields = first["schema"]["fields"]
    assert fields[0]["name"] == "time" and fields[0]["type"] == "time"
    assert {f["labels"]["window"] for f in fields[1:]} == {"1m", "5m", "15m"}
    assert all(f["typeInfo"]["frame"] == "float64" for f in fields[1:])
    values = first["data"]["values"]
    assert len(values) == len(fields) and len(values[0]) >= 1
    second_times = packets[1]["data"]["values"][0]
    assert min(second_times) > max(values[0]), "each packet carries only newer samples"


# --------------------------------------------------------------------------- logs and lifecycle


def test_stderr_is_hclog_json(plugin):
    healthy(plugin)
    lines = [line for line in plugin.stderr_text().splitlines() if line.strip()]
    assert lines, "the plugin logs something at start"
    for line in lines:
        entry = json.loads(line)
        assert {"@level", "@message", "@timestamp", "@module"} <= set(entry), line
        assert entry["@level"] in {"trace", "debug", "info", "warn", "error"}, line
        assert HCLOG_TIMESTAMP.match(entry["@timestamp"]), line
    assert any(json.loads(l)["@message"] == "Serving the Grafana plugin protocol." for l in lines)


def test_sigterm_exits_cleanly_within_5_seconds(tmp_path):
    p = PluginProcess(tmp_path)
    try:
        healthy(p)
        p.proc.send_signal(signal.SIGINT)  # ignored, as go-plugin plugins do
        p.proc.send_signal(signal.SIGTERM)
        code = p.wait(5)
        assert code == 0, f"exit code {code} (None: still running 5 s after SIGTERM)\n{p.describe()}"
        assert p.rest_of_stdout() == b"", "nothing but the handshake on stdout"
    finally:
        p.stop()


def test_grpc_controller_shutdown(tmp_path):
    p = PluginProcess(tmp_path)
    try:
        p.shutdown()
        code = p.wait(5)
        assert code == 0, f"exit code {code} after Shutdown\n{p.describe()}"
    finally:
        p.stop()


def test_the_socket_is_in_the_directory_the_client_names(tmp_path):
    """go-plugin's PLUGIN_UNIX_SOCKET_DIR: the private directory is made inside it."""
    # Short, as go-plugin's own (os.MkdirTemp("", "plugin-dir")): a socket path holds 107 bytes.
    parent = Path(tempfile.mkdtemp(prefix="gp-"))
    p = PluginProcess(tmp_path / "work", env_extra={"PLUGIN_UNIX_SOCKET_DIR": str(parent)})
    try:
        assert p.socket.parent.parent == parent, p.handshake
        assert p.health.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
    finally:
        assert p.stop() == 0
    assert not p.socket.parent.exists(), "the private directory is removed at exit"
    parent.rmdir()


@pytest.mark.parametrize("env, needle", [
    ({"PLUGIN_PROTOCOL_VERSIONS": "1"}, "protocol version 2"),
    ({"grafana_plugin_type": "app"}, "grafana_plugin_type=\"app\""),
    ({"PLUGIN_CLIENT_CERT": "not a certificate"}, "PLUGIN_CLIENT_CERT"),
])
def test_refuses_what_it_cannot_serve(tmp_path, env, needle):
    proc = subprocess.run([str(gomon_bin())], env=plugin_env(None, **env), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=30, cwd=tmp_path)
    assert proc.returncode != 0, proc
    assert proc.stdout == b"", "no handshake"
    assert needle in proc.stderr.decode(), proc.stderr


def test_without_the_cookie_it_is_the_plain_collector(gomon):
    """No handshake, no gRPC: the collector and its HTTPS server."""
    assert gomon.get("/metrics").status_code == 200
    assert "|grpc" not in gomon.stdout_text()
    assert "plugin protocol" not in gomon.stderr_text()


# --------------------------------------------------------------------------- agent mode


def test_agent_mode_queries_a_second_gomon_over_https(gomon_factory, tmp_path):
    config = tmp_path / "agent.toml"
    # The agent runs without the io probe, so its answers are told from the plugin's own.
    config.write_text("[probe.io]\nenabled = false\n")
    agent = gomon_factory("--config", str(config))
    settings = {"agentUrl": f"https://127.0.0.1:{agent.port}"}
    # The agent's generated credential, as an operator pastes it into *Agent token*.
    secure = {"agentCaCert": agent.cert.read_text(), "agentToken": agent.token}
    p = PluginProcess(tmp_path / "plugin")
    try:
        context = p.context(uid="agent-ds", name="remote", json_data=settings, secure=secure)
        response = healthy(p, context)
        checks = {c["name"]: c for c in json.loads(response.jsonDetails)["checks"]}
        assert checks["agent"]["ok"] and f"127.0.0.1:{agent.port}" in checks["agent"]["message"]
        assert "agent sampler" in checks and "agent probes" in checks, sorted(checks)

        nodes, _ = p.frames(p.query(p.data_query("A", "nodegraph", {}), context=context), "A")
        assert str(agent.pid) in nodes.field("id").values
        link = nodes.field("id").config["links"][0]["internal"]
        assert (link["datasourceUid"], link["datasourceName"]) == ("agent-ds", "remote")

        code, _, body = p.resource("probes", context=context)
        names = {probe["name"] for probe in json.loads(body)}
        assert code == 200 and "io" not in names and "graph" in names, names
        code, _, body = p.resource("probes")
        assert "io" in {probe["name"] for probe in json.loads(body)}, "the local collector has io"

        code, _, body = p.resource("processes", context=context)
        assert agent.pid in {r["pid"] for r in json.loads(body)}

        def agent_series():
            frames = p.frames(p.query(p.data_query("M", "metrics", {"metric": "gomon_load_average"}),
                                      context=context), "M")
            return frames if frames and all(f.rows >= 1 for f in frames) else None

        frames = wait_until(agent_series, 30, "series from the agent's /api/series")
        assert {f.field("value").labels["window"] for f in frames} == {"1m", "5m", "15m"}
        (events,) = p.frames(p.query(p.data_query("E", "events", {}), context=context), "E")
        assert events.name == "events"

        # Without the agent's CA the TLS handshake fails, and CheckHealth says so.
        untrusted = p.context(uid="agent-bad", json_data=settings, secure={"agentToken": agent.token})
        response = p.check_health(untrusted)
        assert response.status == stubs().pb.CheckHealthResponse.ERROR
        assert "agent" in response.message and str(agent.port) in response.message, response.message
        answer = p.query(p.data_query("X", "nodegraph", {}), context=untrusted).responses["X"]
        assert answer.error and answer.status == 502, answer
    finally:
        assert p.stop() == 0


def test_agent_api_token_is_required_when_configured(gomon_factory, tmp_path):
    """With `api_token_file` the agent API takes that token as well as the generated
    credential, and answers 401 without either; the plugin's *Agent token*
    (secureJsonData.agentToken) gets through."""
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o600)
    config = tmp_path / "agent.toml"
    config.write_text(f"api_token_file = {json.dumps(str(token_file))}\n")
    agent = gomon_factory("--config", str(config))
    anon = agent.anonymous()
    for path in ("/api/events", "/api/processes", "/api/series", "/api/nodegraph", "/api/health"):
        r = anon.get(agent.url(path), timeout=10)
        assert r.status_code == 401 and "Bearer" in r.headers.get("WWW-Authenticate", ""), (path, r.status_code)
        assert anon.get(agent.url(path), headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert anon.get(agent.url(path), headers={"Authorization": "Bearer s3cret-token"},
                        timeout=30).status_code == 200, path
        assert agent.get(path, timeout=30).status_code == 200, "the generated credential too"
    assert anon.get(agent.url("/metrics"), timeout=10).status_code == 200, "the scrape endpoint stays open"

    settings = {"agentUrl": f"https://127.0.0.1:{agent.port}"}
    p = PluginProcess(tmp_path / "plugin")
    try:
        good = p.context(uid="agent-tok", json_data=settings,
                         secure={"agentCaCert": agent.cert.read_text(), "agentToken": "s3cret-token"})
        code, _, body = p.resource("processes", context=good)
        assert code == 200 and agent.pid in {r["pid"] for r in json.loads(body)}
        bad = p.context(uid="agent-notok", json_data=settings, secure={"agentCaCert": agent.cert.read_text()})
        response = p.check_health(bad)
        assert response.status == stubs().pb.CheckHealthResponse.ERROR and "401" in response.message, response.message
    finally:
        assert p.stop() == 0


# --------------------------------------------------------------------------- unprivileged


def test_unprivileged_plugin_degrades_and_says_what_is_missing():
    """As Grafana's own user (here: nobody, no capabilities) the agent still runs, says
    which capabilities it lacks and what that costs, and, when the configured state
    directory is not writable, uses a private one in Grafana's data directory — never a
    predictable shared /tmp path."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the nobody user")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) is not installed")
    predictable = Path(tempfile.gettempdir()) / "gomon-plugin-65534"
    predictable_existed = predictable.exists()
    work = Path(tempfile.mkdtemp(prefix="gomon-nobody-"))
    os.chmod(work, 0o755)
    grafana_data = work / "grafana-data"
    grafana_data.mkdir(mode=0o750)
    os.chown(grafana_data, 65534, 65534)
    p = PluginProcess(work, prefix=[setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"],
                      state_dir=Path("/root/gomon-plugin-state-not-writable"),
                      env_extra={"GF_PATHS_DATA": str(grafana_data)})
    try:
        status = Path(f"/proc/{p.pid}/status").read_text()
        assert re.search(r"^Uid:\s+65534\s", status, re.M), "runs as nobody"
        response = healthy(p)
        checks = {c["name"]: c for c in json.loads(response.jsonDetails)["checks"]}
        for cap in ("CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH", "CAP_NET_ADMIN"):
            assert cap in checks["capabilities"]["message"], checks["capabilities"]
        assert "setcap" in checks["capabilities"]["message"]
        nodes, _ = p.frames(p.query(p.data_query("A", "nodegraph", {})), "A")
        assert str(p.pid) in nodes.field("id").values
        assert any("CAP_SYS_PTRACE" in n["text"] for n in nodes.meta["notices"]), nodes.meta
        warnings = [json.loads(l) for l in p.stderr_text().splitlines() if l.strip()]
        messages = [w["@message"] for w in warnings if w["@level"] == "warn"]
        assert any("CAP_SYS_PTRACE" in m and "other users' processes" in m for m in messages), messages
        assert any("gomon-plugin-state-not-writable" in m for m in messages), messages
        state = grafana_data / "gomon"
        # What the plugin keeps (the generated credential, observations, any compiled
        # operator probe) lives in the private state directory, owned by nobody.
        kept = list(state.rglob("*"))
        assert kept, "nothing kept in the private state directory"
        assert all(k.lstat().st_uid == 65534 for k in kept), [(str(k), k.lstat().st_uid) for k in kept]
        st = state.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (65534, 0o700), oct(st.st_mode)
        assert predictable_existed or not predictable.exists(), "no predictable /tmp state directory"
    finally:
        assert p.stop() == 0
        shutil.rmtree(work, ignore_errors=True)


def test_a_state_dir_planted_by_another_user_is_refused(tmp_path):
    """A state directory another local user created first (with a probe in it) is never
    used: the plugin names it, its owner and mode, and starts no agent from it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a directory as another user")
    planted = tmp_path / "planted-state"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)
    (planted / "probes").mkdir()
    # Were the directory used, the reloader would at least try this file and name it.
    (planted / "probes" / "evil.wasm").write_bytes(b"\0asm not really")
    os.chown(planted, 65534, 65534)
    p = PluginProcess(tmp_path / "work", state_dir=planted)
    try:
        def refused():
            text = p.stderr_text()
            return "planted-state" in text and "refusing it" in text
        wait_until(refused, 30, "the planted state directory refused", describe=p.describe)
        response = p.check_health()
        assert response.status != 1, response.message
        assert "evil" not in p.stderr_text()
    finally:
        assert p.stop() == 0


# --------------------------------------------------------------------------- Loki in CheckHealth


class _FakeLoki(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/ready" else 404)
        self.end_headers()
        self.wfile.write(b"ready\n")

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_check_health_checks_the_configured_loki(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeLoki)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    p = PluginProcess(tmp_path, config_extra=f'[loki]\nurl = "http://127.0.0.1:{port}/loki/api/v1/push"\n')
    try:
        response = healthy(p)
        checks = {c["name"]: c for c in json.loads(response.jsonDetails)["checks"]}
        assert checks["loki"]["ok"] and f"127.0.0.1:{port}/ready" in checks["loki"]["message"], checks["loki"]
        server.shutdown()
        server.server_close()
        response = p.check_health()
        assert response.status == stubs().pb.CheckHealthResponse.ERROR
        assert "loki:" in response.message and "unreachable" in response.message, response.message
    finally:
        server.server_close()
        assert p.stop() == 0
