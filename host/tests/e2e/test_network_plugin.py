"""Plugin mode is private to the Grafana that started it (issue 12, item 5).

The plugin serves gRPC on a unix socket in a new 0700 directory (go-plugin's network
`unix`), checks every connection's peer uid (`SO_PEERCRED`: the plugin's own or root),
and with go-plugin AutoMTLS (`PLUGIN_CLIENT_CERT`) speaks TLS that accepts exactly the
client certificate it was given.

Another local user is played by `runuser -u nobody` running the system Python (stdlib
only: the venv's interpreter may be out of nobody's reach) with a raw HTTP/2 client:
it connects, sends the client preface and a SETTINGS frame, and reports whether the
server answered with its own SETTINGS frame (any gRPC call, CallResource or
GRPCController.Shutdown, needs that first).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from e2e_helpers import wait_until
from plugin_harness import CHANNEL_OPTIONS, TLS_CHANNEL_OPTIONS, PluginProcess, go_plugin_client_cert, stubs

# Connects to a unix socket as whoever runs it, speaks the HTTP/2 client preface and
# prints what happened as JSON: {"connect": "ok" | error, "after": error after connecting,
# "reply": hex of the first bytes}.
RAW_H2_CLIENT = r'''
import json, socket, sys
out = {"connect": "ok", "after": "", "reply": ""}
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    out["connect"] = type(e).__name__ + ": " + str(e)
    print(json.dumps(out))
    sys.exit(0)
try:
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    data = b""
    while len(data) < 9:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    out["reply"] = data.hex()
except OSError as e:
    out["after"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
'''


def raw_h2(socket_path: Path, as_nobody: bool) -> dict:
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    cmd = [python, "-c", RAW_H2_CLIENT, str(socket_path)]
    if as_nobody:
        cmd = ["runuser", "-u", "nobody", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc
    return json.loads(proc.stdout)


def is_settings_frame(reply_hex: str) -> bool:
    data = bytes.fromhex(reply_hex)
    return len(data) >= 9 and data[3] == 0x04  # the frame type of SETTINGS


def needs_root_and_runuser():
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as nobody")
    if not shutil.which("runuser"):
        pytest.skip("runuser (util-linux) is not installed")


def test_the_socket_is_private(tmp_path):
    p = PluginProcess(tmp_path)
    try:
        directory = p.socket.parent
        st = directory.stat()
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), oct(st.st_mode)
        assert stat.S_ISSOCK(p.socket.stat().st_mode)
        assert p.handshake.rstrip("\n").endswith("|grpc|"), "no AutoMTLS asked: empty certificate field"
    finally:
        assert p.stop() == 0


def test_another_user_cannot_reach_the_socket(tmp_path):
    needs_root_and_runuser()
    p = PluginProcess(tmp_path)
    try:
        # Control: the plugin's own user (root here) gets the server's SETTINGS.
        assert is_settings_frame(raw_h2(p.socket, as_nobody=False)["reply"])
        attempt = raw_h2(p.socket, as_nobody=True)
        assert attempt["connect"].startswith("PermissionError"), attempt
        # Nothing happened to the plugin: it answers and did not shut down.
        code, _, body = p.resource("processes")
        assert code == 200 and json.loads(body), "the plugin's own client still reads the process list"
        assert p.alive()
    finally:
        assert p.stop() == 0


def test_a_peer_of_another_uid_is_refused_even_when_the_socket_is_open(tmp_path):
    """Permissions loosened by mistake (directory 0755, socket 0777): the SO_PEERCRED check
    still closes nobody's connection before any gRPC (no CallResource, no Shutdown)."""
    needs_root_and_runuser()
    p = PluginProcess(tmp_path)
    try:
        os.chmod(p.socket.parent, 0o755)
        os.chmod(p.socket, 0o777)
        attempt = raw_h2(p.socket, as_nobody=True)
        assert attempt["connect"] == "ok", f"nobody could not even connect, so this proves nothing: {attempt}"
        assert not is_settings_frame(attempt["reply"]), f"the server spoke HTTP/2 to nobody: {attempt}"
        wait_until(lambda: "refused a connection from uid 65534" in p.stderr_text(), 10,
                   "the refusal in the plugin's log", describe=p.describe)
        # Root (the control) still gets an answer, and the plugin keeps serving.
        assert is_settings_frame(raw_h2(p.socket, as_nobody=False)["reply"])
        assert p.health.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING
        assert p.alive()
    finally:
        assert p.stop() == 0


def test_auto_mtls_accepts_exactly_the_given_client_certificate(tmp_path):
    """go-plugin AutoMTLS: a P-521 self-signed CA client certificate in PLUGIN_CLIENT_CERT,
    the server's certificate in the handshake's sixth field."""
    p = PluginProcess(tmp_path / "plugin", auto_mtls=True)
    try:
        assert len(p.server_cert) > 50, p.handshake
        code, _, body = p.resource("processes")
        assert code == 200 and json.loads(body)
        # Another certificate, made the same way, is refused by the TLS handshake.
        other_cert, other_key = go_plugin_client_cert(tmp_path)
        stranger = grpc.secure_channel(p.address, p.tls_credentials(other_cert, other_key),
                                       options=TLS_CHANNEL_OPTIONS)
        with pytest.raises(grpc.RpcError) as refused:
            stubs().rpc.ResourceStub(stranger).CallResource(
                stubs().pb.CallResourceRequest(pluginContext=p.context(), path="processes", method="GET",
                                               url="processes"), timeout=5).__next__()
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
        stranger.close()
        # Plain gRPC (no TLS) on the TLS socket gets nowhere either.
        plain = grpc.insecure_channel(p.address, options=CHANNEL_OPTIONS)
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(plain).result(timeout=3)
        plain.close()
        assert "TLS handshake refused" in p.stderr_text(), p.describe()
        assert p.alive()
    finally:
        assert p.stop() == 0


def test_grpc_messages_are_bounded(tmp_path):
    """A 5 MiB request (over the 4 MiB decoding limit) is refused (OUT_OF_RANGE, naming the limit);
    the plugin keeps serving."""
    p = PluginProcess(tmp_path)
    try:
        pb = stubs().pb
        huge = pb.CallResourceRequest(pluginContext=p.context(), path="processes", method="GET", url="processes",
                                      body=b"x" * (5 << 20))
        channel = grpc.insecure_channel(p.address, options=[*CHANNEL_OPTIONS, ("grpc.max_send_message_length", 64 << 20)])
        with pytest.raises(grpc.RpcError) as refused:
            list(stubs().rpc.ResourceStub(channel).CallResource(huge, timeout=10))
        assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE and "4194304" in refused.value.details(), refused.value
        channel.close()
        code, _, _ = p.resource("processes")
        assert code == 200
    finally:
        assert p.stop() == 0
