"""The gomon command line: version, effective config, error messages an operator can
act on, certificates (given or generated), logs and signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tomllib
from pathlib import Path

import pytest

from e2e_helpers import (
    GomonProcess,
    describe_cli,
    gomon_bin,
    require_tool,
    run_gomon_cli,
    wait_until,
    workspace_version,
)


def run_gomon(*args: str, timeout: float = 20, **kw) -> subprocess.CompletedProcess:
    """Run gomon to completion; a gomon that does not exit within `timeout` fails the test."""
    try:
        return subprocess.run([str(gomon_bin()), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"gomon {' '.join(args)} still running after {timeout}s (expected it to exit)\n"
            f"stderr: {exc.stderr!r}"
        ) from None


def assert_failed_naming(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode not in (0, None), (
        f"exit code {proc.returncode}, want non-zero\nstderr: {proc.stderr}\nstdout: {proc.stdout}")
    assert proc.returncode in (1, 2), f"exit code {proc.returncode}, want 1 or 2 (not a crash)"
    assert "panicked" not in proc.stderr, f"gomon panicked:\n{proc.stderr}"
    for needle in needles:
        assert needle in proc.stderr, f"stderr does not name {needle!r}:\n{proc.stderr}"


def served_certificate_der(port: int) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def make_cert(directory: Path, cn: str = "gomon-e2e") -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    cert, key = directory / "my-cert.pem", directory / "my-key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


# ---------------------------------------------------------------------------- version and config


def test_version():
    proc = run_gomon("--version")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\b\d+\.\d+\.\d+\b", proc.stdout), proc.stdout
    assert workspace_version() in proc.stdout, f"{proc.stdout!r} lacks {workspace_version()}"


def test_config_prints_defaults_as_toml(tmp_path):
    proc = run_gomon("config", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'listen = "127.0.0.1:1234"' in proc.stdout, proc.stdout
    assert 'interval = "15s"' in proc.stdout, proc.stdout
    tomllib.loads(proc.stdout)  # it is TOML


def test_config_output_round_trips(tmp_path):
    """What `gomon config` prints is a config file gomon accepts and prints back the same."""
    first = run_gomon("config", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "gomon.toml"
    path.write_text(first.stdout)
    second = run_gomon("config", "--config", str(path), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert tomllib.loads(second.stdout) == tomllib.loads(first.stdout)


def test_config_file_and_flags_override_defaults(tmp_path):
    path = tmp_path / "gomon.toml"
    path.write_text('listen = "127.0.0.1:4321"\ninterval = "7s"\n')
    proc = run_gomon("config", "--config", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'listen = "127.0.0.1:4321"' in proc.stdout, proc.stdout
    assert 'interval = "7s"' in proc.stdout, proc.stdout
    proc = run_gomon("config", "--config", str(path), "--listen", "127.0.0.1:5555", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'listen = "127.0.0.1:5555"' in proc.stdout, "a flag must override the config file"
    assert 'interval = "7s"' in proc.stdout, proc.stdout


@pytest.mark.parametrize("command", [[], ["config"]])
def test_unknown_config_key_is_an_error(tmp_path, free_port, command):
    path = tmp_path / "gomon.toml"
    path.write_text('listen = "127.0.0.1:1"\nfrobnicate_widgets = true\n')
    args = [*command, "--config", str(path)]
    if not command:
        args += ["--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{free_port()}"]
    proc = run_gomon(*args, cwd=tmp_path)
    assert_failed_naming(proc, "frobnicate_widgets")


def test_missing_config_file_is_an_error(tmp_path):
    missing = tmp_path / "nope" / "gomon.toml"
    assert_failed_naming(run_gomon("config", "--config", str(missing), cwd=tmp_path), str(missing))


# ---------------------------------------------------------------------------- start-up errors


def test_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        proc = run_gomon("--state-dir", str(tmp_path / "state"), "--listen", addr, cwd=tmp_path)
    assert_failed_naming(proc, addr)


def test_missing_certificate_file(tmp_path, free_port):
    cert, key = make_cert(tmp_path)
    missing = tmp_path / "does-not-exist" / "cert.pem"
    proc = run_gomon("--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{free_port()}",
                     "--tls-cert", str(missing), "--tls-key", str(key), cwd=tmp_path)
    assert_failed_naming(proc, str(missing))


def test_unparsable_certificate_file(tmp_path, free_port):
    _, key = make_cert(tmp_path)
    bad = tmp_path / "garbage-cert.pem"
    bad.write_text("this is not a certificate\n")
    proc = run_gomon("--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{free_port()}",
                     "--tls-cert", str(bad), "--tls-key", str(key), cwd=tmp_path)
    assert_failed_naming(proc, str(bad))


def test_missing_key_file(tmp_path, free_port):
    cert, _ = make_cert(tmp_path)
    missing = tmp_path / "nokey.pem"
    proc = run_gomon("--state-dir", str(tmp_path / "state"), "--listen", f"127.0.0.1:{free_port()}",
                     "--tls-cert", str(cert), "--tls-key", str(missing), cwd=tmp_path)
    assert_failed_naming(proc, str(missing))


# ---------------------------------------------------------------------------- certificates


def test_given_certificate_is_served(tmp_path, gomon_factory):
    cert, key = make_cert(tmp_path)
    g = gomon_factory("--tls-cert", str(cert), "--tls-key", str(key), cert=cert)
    assert served_certificate_der(g.port) == ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert not (g.state_dir / "tls" / "cert.pem").exists(), "generated a cert although one was given"


def test_generated_certificate_has_sans_and_is_reused(tmp_path, gomon_factory):
    state = tmp_path / "state"
    g1 = gomon_factory(state_dir=state)
    cert_path = state / "tls" / "cert.pem"
    key_path = state / "tls" / "key.pem"
    assert key_path.is_file(), "no key.pem beside the generated cert.pem"
    assert key_path.stat().st_mode & 0o077 == 0, (
        f"private key {key_path} is readable by others: mode {oct(key_path.stat().st_mode)}")
    first = cert_path.read_bytes()
    assert served_certificate_der(g1.port) == ssl.PEM_cert_to_DER_cert(first.decode())

    sans = subprocess.run(
        [require_tool("openssl"), "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert_path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    for wanted in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                   f"DNS:{socket.gethostname()}"):
        assert wanted in sans, f"{wanted} missing from subjectAltName: {sans}"

    g1.stop_and_check()
    g2 = gomon_factory(state_dir=state)
    assert cert_path.read_bytes() == first, "certificate was regenerated on restart"
    assert served_certificate_der(g2.port) == ssl.PEM_cert_to_DER_cert(first.decode())


# ---------------------------------------------------------------------------- logs and signals


def test_start_logs_certificate_path_and_url(gomon):
    text = gomon.stderr_text()
    assert str(gomon.cert) in text, f"cert path not logged on stderr:\n{text}"
    assert f"https://127.0.0.1:{gomon.port}" in text, f"URL not logged on stderr:\n{text}"


def test_json_log_format(gomon_factory):
    g = gomon_factory("--log-format", "json")
    lines = [line for line in g.stderr_text().splitlines() if line.strip()]
    assert lines, "no log lines on stderr"
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    assert any(str(g.cert) in line for line in lines), "cert path not in the JSON logs"


def test_sigint_exits_cleanly(gomon):
    rc = gomon.stop(signal.SIGINT)
    assert rc == 0, f"exit code {rc} after SIGINT\n{gomon.describe()}"


def test_sigterm_exits_cleanly_and_promptly(gomon):
    # The fixture's teardown checks SIGTERM too; here also that it happens while serving.
    assert gomon.get("/metrics").status_code == 200
    rc = gomon.stop(signal.SIGTERM, timeout=5)
    assert rc == 0, f"exit code {rc} after SIGTERM\n{gomon.describe()}"
    wait_until(lambda: _port_closed(gomon.port), 5, "the port to be released")


def _port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


# --------------------------------------------------------------------------- the credential and probe list


def test_probe_list_uses_the_generated_credential(gomon, tmp_path):
    """`gomon probe list` reads the token from the state directory and gets through;
    with another state directory's token it is refused, naming the credential file."""
    args = ["--listen", f"127.0.0.1:{gomon.port}", "--state-dir", str(gomon.state_dir)]
    proc = run_gomon_cli("probe", "list", "--json", *args, cwd=tmp_path)
    assert proc.returncode == 0, describe_cli(proc)
    assert {"system", "graph"} <= {p["name"] for p in json.loads(proc.stdout)}, proc.stdout
    # Another state directory: its own (different) token, and the served certificate.
    other = tmp_path / "other-state"
    (other / "credentials").mkdir(parents=True, mode=0o700)
    os.chmod(other, 0o700)
    (other / "credentials" / "token").write_text("f" * 64 + "\n")
    os.chmod(other / "credentials" / "token", 0o600)
    (other / "tls").mkdir()
    (other / "tls" / "cert.pem").write_bytes(gomon.cert.read_bytes())
    proc = run_gomon_cli("probe", "list", "--listen", f"127.0.0.1:{gomon.port}", "--state-dir", str(other),
                         cwd=tmp_path)
    assert proc.returncode != 0, describe_cli(proc)
    assert "refused the credential" in proc.stderr and str(other / "credentials" / "token") in proc.stderr, proc.stderr
