"""An independent fake Loki push receiver for the end-to-end suite.

It implements `POST /loki/api/v1/push` as Loki does (field notes B.2) and
decodes both bodies on its own, sharing no code with gomon:

- protobuf: raw (block) snappy via `cramjam`, then `logproto.PushRequest` parsed
  by the small wire-format reader below (field numbers from Loki's push.proto);
- JSON, plain or `Content-Encoding: gzip`.

It checks Content-Type / Content-Encoding, and (when told what to expect) the
`X-Scope-OrgID` and `Authorization` headers; a request failing a check gets 400
and is listed in `problems`. It records every request and the entries of the
requests it accepted, answers from a script of statuses (then 204), and can
stop and start again on the same port.

    rx = LokiReceiver(tenant="t1").start()
    rx.script([429, 204])
    ... point gomon at rx.url ...
    rx.wait_for(lambda r: len(r.entries()) >= 10, timeout=20, what="10 entries")
    rx.stop(); rx.start()          # an outage, same port
    rx.entries()                   # [Entry(labels={...}, time_nanos=..., line=..., metadata={...}), ...]
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable

import cramjam

PUSH_PATH = "/loki/api/v1/push"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Entry:
    """One accepted entry, with its stream's labels."""

    labels: dict[str, str]
    time_nanos: int
    line: str
    metadata: dict[str, str]
    received_at: float = field(compare=False, default=0.0)

    def stream_key(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self.labels.items()))


@dataclass
class Request:
    """One request as received."""

    status: int
    content_type: str | None
    content_encoding: str | None
    tenant: str | None
    authorization: str | None
    body_bytes: int
    entries: int
    problem: str | None


@dataclass
class Reply:
    """A scripted answer: `status` after holding the request `delay` seconds
    (the entries of a 2xx are recorded before the hold)."""

    status: int
    delay: float = 0.0


# --------------------------------------------------------------------------- protobuf wire format


class WireError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes")


def fields(buf: bytes) -> Iterable[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a message: ints for varint and
    fixed types, bytes for length-delimited ones."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise WireError("truncated fixed64")
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise WireError(f"field {number}: length {length} past the end")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(buf):
                raise WireError("truncated fixed32")
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise WireError(f"field {number}: unsupported wire type {wire}")
        yield number, wire, value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _text(value, what: str) -> str:
    if not isinstance(value, bytes):
        raise WireError(f"{what} is not length-delimited")
    return value.decode("utf-8")


def decode_push_request(buf: bytes) -> list[tuple[str, list[tuple[int, str, dict[str, str]]]]]:
    """logproto.PushRequest → [(selector, [(time_nanos, line, metadata)])]."""
    streams = []
    for number, _, value in fields(buf):
        if number != 1:  # 2 = format, server-side only
            raise WireError(f"PushRequest: unexpected field {number}")
        selector, entries = None, []
        for n, _, v in fields(_bytes(value, "StreamAdapter")):
            if n == 1:
                selector = _text(v, "StreamAdapter.labels")
            elif n == 2:
                entries.append(_decode_entry(_bytes(v, "EntryAdapter")))
            elif n == 3:
                raise WireError("StreamAdapter.hash is server-internal; a client must not send it")
        if selector is None:
            raise WireError("StreamAdapter without labels")
        streams.append((selector, entries))
    return streams


def _bytes(value, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise WireError(f"{what} is not length-delimited")
    return value


def _decode_entry(buf: bytes) -> tuple[int, str, dict[str, str]]:
    seconds = nanos = 0
    line = ""
    metadata: dict[str, str] = {}
    for n, wire, v in fields(buf):
        if n == 1:
            for tn, tw, tv in fields(_bytes(v, "Timestamp")):
                if tw != 0:
                    raise WireError("Timestamp field is not a varint")
                if tn == 1:
                    seconds = _signed64(tv)
                elif tn == 2:
                    nanos = _signed64(tv)
        elif n == 2:
            line = _text(v, "EntryAdapter.line")
        elif n == 3:
            name = value = ""
            for pn, _, pv in fields(_bytes(v, "LabelPairAdapter")):
                if pn == 1:
                    name = _text(pv, "LabelPairAdapter.name")
                elif pn == 2:
                    value = _text(pv, "LabelPairAdapter.value")
            metadata[name] = value
        elif n == 4:
            raise WireError("EntryAdapter.parsed is for query responses; a client must not send it")
    if not 0 <= nanos < 1_000_000_000:
        raise WireError(f"Timestamp.nanos {nanos} out of range")
    return seconds * 1_000_000_000 + nanos, line, metadata


# --------------------------------------------------------------------------- selector text


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def parse_selector(text: str) -> dict[str, str]:
    """`{a="1", b="x\\"y"}` → {"a": "1", "b": 'x"y'} (Go-quoted values, as Loki reads them)."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"selector {text!r} is not wrapped in braces")
    body, pos, labels = text[1:-1], 0, {}
    while pos < len(body):
        while pos < len(body) and body[pos] in " ,":
            pos += 1
        if pos >= len(body):
            break
        eq = body.index("=", pos)
        name = body[pos:eq].strip()
        if not name or not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
            raise ValueError(f"bad label name {name!r} in {text!r}")
        pos = eq + 1
        if body[pos] != '"':
            raise ValueError(f"label {name}: value not quoted in {text!r}")
        pos += 1
        value = []
        while body[pos] != '"':
            c = body[pos]
            if c == "\\":
                e = body[pos + 1]
                if e in _ESCAPES:
                    value.append(_ESCAPES[e])
                    pos += 2
                elif e == "u":
                    value.append(chr(int(body[pos + 2 : pos + 6], 16)))
                    pos += 6
                elif e == "x":
                    value.append(chr(int(body[pos + 2 : pos + 4], 16)))
                    pos += 4
                else:
                    raise ValueError(f"label {name}: unknown escape \\{e}")
            else:
                value.append(c)
                pos += 1
        pos += 1
        if name in labels:
            raise ValueError(f"label {name} twice in {text!r}")
        labels[name] = "".join(value)
    return labels


# --------------------------------------------------------------------------- bodies


def decode_body(content_type: str | None, content_encoding: str | None, body: bytes) -> list[Entry]:
    """Entries of a push body; raises ValueError naming what is wrong."""
    now = time.time()
    if content_type == "application/x-protobuf":
        if content_encoding not in (None, ""):
            raise ValueError(f"protobuf body with Content-Encoding {content_encoding!r} (Loki wants none)")
        if body[:1] == b"\xff":
            raise ValueError("framed snappy (stream identifier chunk); Loki wants raw block snappy")
        try:
            raw = bytes(cramjam.snappy.decompress_raw(body))
        except Exception as exc:  # cramjam raises its own error types
            raise ValueError(f"not raw snappy: {exc}") from exc
        out = []
        for selector, entries in decode_push_request(raw):
            labels = parse_selector(selector)
            if not selector == format_selector(labels):
                raise ValueError(f"selector {selector!r} is not in canonical form {format_selector(labels)!r}")
            out.extend(Entry(labels, t, line, md, now) for t, line, md in entries)
        return out
    if content_type == "application/json":
        if content_encoding == "gzip":
            body = gzip.decompress(body)
        elif content_encoding not in (None, ""):
            raise ValueError(f"unexpected Content-Encoding {content_encoding!r}")
        doc = json.loads(body)
        out = []
        for stream in doc["streams"]:
            labels = stream["stream"]
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise ValueError("stream labels must be a flat string object")
            for value in stream["values"]:
                if not isinstance(value[0], str):
                    raise ValueError("timestamps must be strings of Unix nanoseconds")
                metadata = value[2] if len(value) > 2 else {}
                if len(value) > 3 or not isinstance(metadata, dict):
                    raise ValueError(f"bad value {value!r}")
                out.append(Entry(dict(labels), int(value[0]), value[1], dict(metadata), now))
        return out
    raise ValueError(f"unexpected Content-Type {content_type!r}")


def format_selector(labels: dict[str, str]) -> str:
    """The selector the way gomon writes it: names sorted, `, ` between pairs."""

    def quote(v: str) -> str:
        out = []
        for c in v:
            if c in '\\"':
                out.append("\\" + c)
            elif c == "\n":
                out.append("\\n")
            elif c == "\r":
                out.append("\\r")
            elif c == "\t":
                out.append("\\t")
            elif ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F:
                out.append(f"\\u{ord(c):04x}")
            else:
                out.append(c)
        return "".join(out)

    return "{" + ", ".join(f'{k}="{quote(v)}"' for k, v in sorted(labels.items())) + "}"


# --------------------------------------------------------------------------- server


class LokiReceiver:
    """A fake Loki on 127.0.0.1. Thread-safe accessors; see the module docs."""

    def __init__(self, port: int = 0, tenant: str | None = None, authorization: str | None = None):
        self.port = port
        self.expect_tenant = tenant
        self.expect_authorization = authorization
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self._requests: list[Request] = []
        self._entries: list[Entry] = []
        self._problems: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self, port: int | None = None) -> "LokiReceiver":
        """Listens (on the previous port after a stop); keeps what was recorded."""
        if self._server is not None:
            raise RuntimeError("the receiver is already running")
        if port is not None:
            self.port = port
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                receiver._handle(self)

            def do_GET(self):  # Loki's readiness probe
                ok = self.path == "/ready"
                text = b"ready\n" if ok else b"not found\n"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        deadline = time.monotonic() + 10
        while True:
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening and closes the socket (clients see connection refused)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PUSH_PATH}"

    def __enter__(self) -> "LokiReceiver":
        return self.start() if not self.running else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- scripting and results

    def script(self, replies: Iterable[int | Reply]) -> None:
        """Answers for the next requests, in order (ints are statuses); then 204."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(int(r)) for r in replies)

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def entries(self) -> list[Entry]:
        """Accepted entries, in arrival order."""
        with self._lock:
            return list(self._entries)

    def streams(self) -> dict[tuple[tuple[str, str], ...], list[Entry]]:
        """Accepted entries grouped by stream (sorted label pairs), in arrival order."""
        out: dict[tuple[tuple[str, str], ...], list[Entry]] = {}
        for e in self.entries():
            out.setdefault(e.stream_key(), []).append(e)
        return out

    def problems(self) -> list[str]:
        """Requests refused by the receiver's own checks (headers, body)."""
        with self._lock:
            return list(self._problems)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._entries.clear()
            self._problems.clear()
            self._script.clear()

    def wait_for(self, predicate: Callable[["LokiReceiver"], bool], timeout: float, what: str = "condition") -> None:
        """Polls `predicate(self)` until true; AssertionError naming `what` after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Loki receiver: timed out after {timeout}s waiting for {what}; "
                    f"{len(self.requests())} requests, {len(self.entries())} entries, problems {self.problems()}"
                )
            time.sleep(0.02)

    # -- request handling

    def _check_headers(self, h: BaseHTTPRequestHandler) -> str | None:
        if h.path.split("?")[0] != PUSH_PATH:
            return f"unexpected path {h.path}"
        tenant = h.headers.get("X-Scope-OrgID")
        if tenant != self.expect_tenant:
            return f"X-Scope-OrgID {tenant!r}, expected {self.expect_tenant!r}"
        auth = h.headers.get("Authorization")
        if auth != self.expect_authorization:
            return f"Authorization {auth!r}, expected {self.expect_authorization!r}"
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length)
        content_type = h.headers.get("Content-Type")
        content_encoding = h.headers.get("Content-Encoding")
        problem = self._check_headers(h)
        entries: list[Entry] = []
        if problem is None:
            try:
                entries = decode_body(content_type, content_encoding, body)
            except Exception as exc:  # any decoding failure is the client's fault
                problem = f"cannot decode the body: {type(exc).__name__}: {exc}"
        with self._lock:
            reply = self._script.pop(0) if self._script else Reply(204)
            status = 400 if problem else reply.status
            if problem:
                self._problems.append(problem)
            elif 200 <= status < 300 and status != 260:
                self._entries.extend(entries)
            self._requests.append(
                Request(
                    status,
                    content_type,
                    content_encoding,
                    h.headers.get("X-Scope-OrgID"),
                    h.headers.get("Authorization"),
                    len(body),
                    len(entries),
                    problem,
                )
            )
        if reply.delay and not problem:
            time.sleep(reply.delay)
        text = (problem or ("" if status < 400 else f"scripted {status}")).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(text)))
            h.end_headers()
            h.wfile.write(text)
        except OSError:
            pass  # the client went away (killed mid-request)


def basic_auth(user: str, password: str) -> str:
    """The Authorization header value for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
