"""A Grafana-like client of gomon's plugin mode, independent of the Rust code: it does
what Grafana's go-plugin client does (spawn with the magic cookie, read the handshake
line `1|2|unix|<socket>|grpc|<cert>`, dial gRPC on that unix socket, health-check
service "plugin") and decodes frames with pyarrow. With `auto_mtls=True` it does what
go-plugin's AutoMTLS client does: a self-signed P-521 CA certificate (made with the
openssl command) in `PLUGIN_CLIENT_CERT`, TLS to the socket trusting only the server
certificate the handshake's sixth field carries, presenting its own.

- `stubs()`: Python modules generated at run time by grpc_tools.protoc from the same
  vendored host/proto files the Rust build compiles (backend_pb2, backend_pb2_grpc,
  grpc_controller_pb2, grpc_controller_pb2_grpc).
- `PluginProcess`: one `gomon` in plugin mode with its own state dir; `.context(...)`
  builds a PluginContext for a data source instance; `.query(...)`, `.check_health()`,
  `.resource(...)`, `.stream(...)`, `.shutdown()`.
- `decode_frame(bytes)`: an Arrow IPC file as a `Frame` (schema metadata, fields with
  their Arrow types, labels, config and values).

Used by test_plugin.py and bench/plugin.py.
"""

from __future__ import annotations

import atexit
import base64
import importlib
import json
import os
import re
import selectors
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e_helpers import REPO_ROOT, gomon_bin, strip_ansi

PROTO_DIR = REPO_ROOT / "host" / "proto"
PLUGIN_ID = "gomon-host-datasource"
HANDSHAKE = re.compile(r"^1\|2\|unix\|(/[^|]+)\|grpc\|([A-Za-z0-9+/]*)$")

# go-plugin dials `grpc.Dial("unused", WithContextDialer(...))`, so its `:authority` is
# "unused"; grpc Python would send the socket's path, which is no valid authority.
CHANNEL_OPTIONS = [("grpc.default_authority", "unused")]
TLS_CHANNEL_OPTIONS = [*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", "localhost")]

_stubs: Any = None


def stubs():
    """The generated modules, built once per process into a temporary directory."""
    global _stubs
    if _stubs is None:
        from grpc_tools import protoc

        out = Path(tempfile.mkdtemp(prefix="gomon-proto-"))
        atexit.register(shutil.rmtree, out, True)
        args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_python_out={out}",
                "backend.proto", "grpc_controller.proto"]
        rc = protoc.main(args)
        assert rc == 0, f"grpc_tools.protoc failed ({rc}) on {PROTO_DIR}"
        sys.path.insert(0, str(out))

        class Stubs:
            pb = importlib.import_module("backend_pb2")
            rpc = importlib.import_module("backend_pb2_grpc")
            ctl = importlib.import_module("grpc_controller_pb2")
            ctl_rpc = importlib.import_module("grpc_controller_pb2_grpc")

        _stubs = Stubs
    return _stubs


# --------------------------------------------------------------------------- frames


@dataclass
class FrameField:
    name: str
    type: pa.DataType
    nullable: bool
    labels: dict[str, str]
    config: dict[str, Any]
    values: list  # timestamps as integer nanoseconds


@dataclass
class Frame:
    name: str
    ref_id: str
    meta: dict[str, Any]
    fields: list[FrameField]
    size: int = 0

    def field(self, name: str) -> FrameField:
        for f in self.fields:
            if f.name == name:
                return f
        raise AssertionError(f"frame {self.name!r} has no field {name!r}; it has {[f.name for f in self.fields]}")

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def rows(self) -> int:
        return len(self.fields[0].values) if self.fields else 0


def decode_frame(data: bytes) -> Frame:
    """Decode one `DataResponse.frames` entry: an Arrow IPC *file*."""
    assert data[:6] == b"ARROW1", f"frame does not start with the Arrow file magic: {data[:8]!r}"
    reader = pa.ipc.open_file(pa.py_buffer(data))
    table = reader.read_all()
    schema = reader.schema
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    fields = []
    for i, f in enumerate(schema):
        fmeta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        assert fmeta.get("name") == f.name, f"field {f.name!r}: metadata name {fmeta.get('name')!r}"
        column = table.column(i)
        if pa.types.is_timestamp(f.type):
            column = column.cast(pa.int64())  # nanoseconds; Python's datetime stops at microseconds
        column = column.to_pylist()
        fields.append(FrameField(
            name=f.name,
            type=f.type,
            nullable=f.nullable,
            labels=json.loads(fmeta["labels"]) if "labels" in fmeta else {},
            config=json.loads(fmeta["config"]) if "config" in fmeta else {},
            values=column,
        ))
    return Frame(
        name=meta.get("name", ""),
        ref_id=meta.get("refId", ""),
        meta=json.loads(meta["meta"]) if "meta" in meta else {},
        fields=fields,
        size=len(data),
    )


# --------------------------------------------------------------------------- the plugin process


def read_line(stream, timeout: float) -> bytes:
    """One line from a pipe, or what arrived before the deadline."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    data = b""
    fd = stream.fileno()
    try:
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                break
            chunk = os.read(fd, 1)
            if not chunk:
                break
            data += chunk
    finally:
        sel.unregister(stream)
    return data


def plugin_env(config_path: Path | None, **extra: str) -> dict[str, str]:
    """Grafana's environment for a backend plugin (plus gomon's config file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("grafana_", "PLUGIN_", "GOMON_"))}
    env.update({"grafana_plugin_type": "datasource", "PLUGIN_PROTOCOL_VERSIONS": "2"})
    if config_path is not None:
        env["GOMON_CONFIG"] = str(config_path)
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def go_plugin_client_cert(directory: Path) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) as go-plugin's AutoMTLS client makes them: a self-signed
    ECDSA P-521 CA certificate for localhost, for client and server auth."""
    key, cert = directory / "client-key.pem", directory / "client-cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "3650", "-subj", "/O=HashiCorp/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=digitalSignature,keyEncipherment,keyAgreement,keyCertSign",
         "-addext", "extendedKeyUsage=clientAuth,serverAuth"],
        check=True, capture_output=True)
    return cert.read_bytes(), key.read_bytes()


def server_cert_pem(field: str) -> bytes:
    """The handshake's sixth field (base64 DER without padding) as PEM."""
    der = base64.b64decode(field + "=" * (-len(field) % 4))
    return ssl.DER_cert_to_PEM_cert(der).encode()


class PluginProcess:
    """gomon started as Grafana starts a backend plugin."""

    def __init__(self, workdir: Path, *, interval: str = "1s", config_extra: str = "",
                 env_extra: dict[str, str] | None = None, handshake_timeout: float = 10.0,
                 connect: bool = True, prefix: list[str] | None = None, state_dir: Path | None = None,
                 auto_mtls: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "gomon.toml"
        self.config.write_text(
            f'state_dir = "{state_dir or self.workdir / "state"}"\ninterval = "{interval}"\n{config_extra}')
        self.stderr_path = self.workdir / "plugin-stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        env_extra = dict(env_extra or {})
        self.client_cert = self.client_key = None
        if auto_mtls:
            self.client_cert, self.client_key = go_plugin_client_cert(self.workdir)
            env_extra["PLUGIN_CLIENT_CERT"] = self.client_cert.decode()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*(prefix or []), str(gomon_bin())], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            env=plugin_env(self.config, **env_extra), cwd=self.workdir)
        self.handshake = read_line(self.proc.stdout, handshake_timeout).decode(errors="replace")
        self.handshake_seconds = time.monotonic() - self.started
        self.exit_code: int | None = None
        self.channel = None
        if not connect:
            return
        match = HANDSHAKE.match(self.handshake.rstrip("\n"))
        if not match or not self.handshake.endswith("\n"):
            self.stop()
            raise AssertionError(f"bad handshake line {self.handshake!r}\n{self.describe()}")
        self.socket = Path(match.group(1))
        self.server_cert = match.group(2)
        self.address = f"unix:{self.socket}"
        if auto_mtls:
            assert self.server_cert, f"AutoMTLS asked but no server certificate in {self.handshake!r}"
            self.channel = grpc.secure_channel(self.address, self.tls_credentials(), options=TLS_CHANNEL_OPTIONS)
        else:
            self.channel = grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        s = stubs()
        self.data = s.rpc.DataStub(self.channel)
        self.diagnostics = s.rpc.DiagnosticsStub(self.channel)
        self.resources = s.rpc.ResourceStub(self.channel)
        self.streams = s.rpc.StreamStub(self.channel)
        self.controller = s.ctl_rpc.GRPCControllerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tls_credentials(self, cert: bytes | None = None, key: bytes | None = None):
        """Client TLS trusting only the handshake's server certificate, presenting
        `cert`/`key` (default: the certificate given in PLUGIN_CLIENT_CERT)."""
        return grpc.ssl_channel_credentials(root_certificates=server_cert_pem(self.server_cert),
                                            private_key=key or self.client_key,
                                            certificate_chain=cert or self.client_cert)

    def stderr_text(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return strip_ansi(self.stderr_path.read_text(errors="replace"))

    def describe(self) -> str:
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        return f"plugin gomon (pid {self.proc.pid}) is {state}\n--- stderr (tail) ---\n{self.stderr_text()[-4000:]}"

    # -- requests

    def context(self, uid: str = "gomon-test", name: str = "gomon", json_data: dict | None = None,
                secure: dict[str, str] | None = None, updated_ms: int = 1):
        pb = stubs().pb
        return pb.PluginContext(
            orgId=1,
            pluginId=PLUGIN_ID,
            dataSourceInstanceSettings=pb.DataSourceInstanceSettings(
                id=1, uid=uid, name=name, jsonData=json.dumps(json_data or {}).encode(),
                decryptedSecureJsonData=secure or {}, lastUpdatedMS=updated_ms),
        )

    def data_query(self, ref_id: str, query_type: str = "", body: dict | None = None, *, window_s: float = 300,
                   max_points: int = 1000):
        pb = stubs().pb
        now = int(time.time() * 1000)
        payload = {"refId": ref_id, **(body or {})}
        return pb.DataQuery(refId=ref_id, maxDataPoints=max_points, intervalMS=1000,
                            timeRange=pb.TimeRange(fromEpochMS=now - int(window_s * 1000), toEpochMS=now),
                            json=json.dumps(payload).encode(), queryType=query_type)

    def query(self, *queries, context=None, timeout: float = 30):
        pb = stubs().pb
        request = pb.QueryDataRequest(pluginContext=context or self.context(), queries=list(queries))
        return self.data.QueryData(request, timeout=timeout)

    def frames(self, response, ref_id: str) -> list[Frame]:
        answer = response.responses[ref_id]
        assert not answer.error, f"query {ref_id} failed ({answer.status}): {answer.error}"
        return [decode_frame(f) for f in answer.frames]

    def check_health(self, context=None, timeout: float = 30):
        pb = stubs().pb
        return self.diagnostics.CheckHealth(pb.CheckHealthRequest(pluginContext=context or self.context()),
                                            timeout=timeout)

    def resource(self, path: str, url: str | None = None, method: str = "GET", context=None):
        """CallResource; returns (code, headers {name: first value}, body)."""
        pb = stubs().pb
        request = pb.CallResourceRequest(pluginContext=context or self.context(), path=path, method=method,
                                         url=url if url is not None else path)
        responses = list(self.resources.CallResource(request, timeout=30))
        assert len(responses) == 1, f"CallResource {path}: {len(responses)} responses"
        r = responses[0]
        return r.code, {k: v.values[0] for k, v in r.headers.items() if v.values}, r.body

    def shutdown(self) -> None:
        self.controller.Shutdown(stubs().ctl.Empty(), timeout=5)

    # -- lifecycle

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def rest_of_stdout(self) -> bytes:
        """What the plugin wrote to stdout after the handshake (only once it exited)."""
        assert not self.alive(), "stdout is read to its end only after exit"
        return self.proc.stdout.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int | None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            code = self.wait(timeout)
            if code is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.exit_code = code
        elif self.exit_code is None:
            self.exit_code = self.proc.returncode
        if not self._stderr.closed:
            self._stderr.close()
        return self.exit_code
