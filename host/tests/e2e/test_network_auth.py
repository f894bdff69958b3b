"""Credentials on every revealing route (issue 12, items 1-2): a route x credential
matrix against real gomons, the exporter-toolkit web config (mutual TLS, bcrypt users,
headers), the generated credential, and `[web] auth = "off"`.

Certificates for mutual TLS are made with the openssl command; bcrypt hashes with the
`bcrypt` wheel (what `htpasswd -B` makes).
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import stat
import subprocess
from pathlib import Path

import bcrypt
import pytest
import requests

from e2e_helpers import new_session, wait_for_log

PRIVATE = ["/api/probes", "/gomon", "/gomon/svg", "/api/graph", "/api/nodegraph", "/api/processes",
           "/api/series", "/api/events", "/api/health"]
OPEN = ["/", "/metrics"]
PASSWORD = "wonderland"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> Path:
    """ca.pem/ca.key, server.pem/key (127.0.0.1, localhost), client.pem/key (signed by
    the CA, SAN prometheus.example) and rogue.pem/key (signed by another CA)."""
    d.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "rogue-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN={ca}",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign", cwd=d)
    for name, ca, san, usage in (("server", "ca", "IP:127.0.0.1,DNS:localhost", "serverAuth"),
                                 ("client", "ca", "DNS:prometheus.example", "clientAuth"),
                                 ("rogue", "rogue-ca", "DNS:prometheus.example", "clientAuth")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-days", "30", "-out", f"{name}.pem", "-extfile", f"{name}.ext", cwd=d)
    return d


def web_config(d: Path, client_auth: str, users: bool = True, extra: str = "") -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(6)).decode()
    text = ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
            f"  client_auth_type: {client_auth}\n  client_ca_file: ca.pem\n"
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n")
    if users:
        text += f"basic_auth_users:\n  alice: '{hashed}'\n"
    path = d / "web.yml"
    path.write_text(text + extra)
    return path


def status(session: requests.Session, url: str, headers: dict | None = None) -> int:
    return session.get(url, headers=headers or {}, timeout=30).status_code


# --------------------------------------------------------------------------- the default


def test_route_by_credential_matrix_out_of_the_box(gomon):
    """No configuration: /metrics and / are open; every other route answers 401 with a
    Basic challenge (so a browser prompts) without the generated credential or with a
    wrong one, and 200 with it as Bearer or as basic auth user gomon."""
    token = gomon.token
    assert token and len(token) == 64, f"no generated credential at {gomon.credential_path}"
    anon = gomon.anonymous()
    credentials = {
        "none": {},
        "wrong bearer": bearer("0" * 64),
        "wrong basic": basic("gomon", "0" * 64),
        "token as another user": basic("admin", token),
        "bearer": bearer(token),
        "basic": basic("gomon", token),
    }
    results = {}
    for path in OPEN + PRIVATE:
        for name, headers in credentials.items():
            results[(path, name)] = status(anon, gomon.url(path), headers)
    wrong = []
    for (path, name), code in results.items():
        want = 200 if path in OPEN or name in ("bearer", "basic") else 401
        if code != want:
            wrong.append(f"{path} with {name}: {code} (want {want})")
    assert not wrong, "\n".join(wrong) + "\n" + gomon.describe()
    challenge = anon.get(gomon.url("/api/events"), timeout=10).headers.get("WWW-Authenticate", "")
    assert 'Basic realm="gomon"' in challenge and "Bearer" in challenge, challenge
    # The refusals are counted.
    scrape = gomon.scrape()
    assert scrape.get("gomon_http_requests_total", route="/api/events", code="401") >= 4


def test_the_credential_is_private_and_its_path_logged(gomon):
    path = gomon.credential_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    wait_for_log(gomon, str(path), 10)
    if os.geteuid() == 0:
        proc = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(path)], capture_output=True, text=True)
        assert proc.returncode != 0 and gomon.token not in proc.stdout, "nobody read the credential"


def test_the_credential_survives_a_restart(gomon_factory, tmp_path):
    state = tmp_path / "state"
    first = gomon_factory(state_dir=state)
    token = first.token
    assert first.stop() == 0
    second = gomon_factory(state_dir=state)
    assert second.token == token
    assert status(second.anonymous(), second.url("/api/health"), bearer(token)) == 200


def test_an_open_api_token_file_is_refused(gomon_factory, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o644)
    config = tmp_path / "gomon.toml"
    config.write_text(f'api_token_file = "{token_file}"\n')
    g = gomon_factory("--config", str(config), wait_ready=False)
    assert g.proc.wait(timeout=30) != 0
    g.exit_code = g.proc.returncode
    err = g.stderr_text()
    assert str(token_file) in err and "0644" in err, err


@pytest.mark.parametrize("section,key", [("loki", "bearer_token_file"), ("fleet", "token_file")])
def test_an_open_outgoing_credential_is_refused(gomon_factory, tmp_path, section, key):
    """A token gomon sends out (to Loki, to the fleet's agents) that others may read is
    another user's way in: gomon refuses to start, naming the key, the file and its mode."""
    token_file = tmp_path / "out-token"
    token_file.write_text("s3cret-token\n")
    token_file.chmod(0o640)
    config = tmp_path / "gomon.toml"
    peers = 'peers = ["https://127.0.0.1:9"]\n' if section == "fleet" else 'url = "http://127.0.0.1:9/loki/api/v1/push"\n'
    config.write_text(f'[{section}]\n{peers}{key} = "{token_file}"\n')
    g = gomon_factory("--config", str(config), wait_ready=False)
    assert g.proc.wait(timeout=30) != 0
    g.exit_code = g.proc.returncode
    err = g.stderr_text()
    assert f"[{section}] {key}" in err and str(token_file) in err and "0640" in err, err


# --------------------------------------------------------------------------- the web config


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def mtls_session(pki: Path, who: str | None) -> requests.Session:
    s = new_session(pki / "ca.pem")
    if who:
        s.cert = (str(pki / f"{who}.pem"), str(pki / f"{who}.key"))
    return s


def test_web_config_matrix_with_client_certificates_and_users(gomon_factory, pki, tmp_path):
    """VerifyClientCertIfGiven + basic_auth_users: every route, /metrics too, needs a
    credential: a verified client certificate, a bcrypt user, or the generated token."""
    config = web_config(pki, "VerifyClientCertIfGiven")
    g = gomon_factory("--web.config.file", str(config), cert=pki / "ca.pem")
    token = g.load_credential()
    assert token
    sessions = {"no cert": mtls_session(pki, None), "client cert": mtls_session(pki, "client")}
    credentials = {
        "none": {},
        "wrong user": basic("mallory", PASSWORD),
        "wrong password": basic("alice", "nope"),
        "user": basic("alice", PASSWORD),
        "bearer": bearer(token),
        "basic token": basic("gomon", token),
    }
    wrong = []
    for path in OPEN + PRIVATE:
        for session_name, session in sessions.items():
            for name, headers in credentials.items():
                if session_name == "client cert" and name != "none":
                    continue
                code = status(session, g.url(path), headers)
                ok = path == "/" or session_name == "client cert" or name in ("user", "bearer", "basic token")
                want = 200 if ok else 401
                if code != want:
                    wrong.append(f"{path} {session_name} {name}: {code} (want {want})")
    assert not wrong, "\n".join(wrong) + "\n" + g.describe()
    r = sessions["client cert"].get(g.url("/metrics"), timeout=10)
    assert r.headers.get("X-Frame-Options") == "deny" and r.headers.get("X-Content-Type-Options") == "nosniff"
    # A certificate from another CA fails the TLS handshake.
    with pytest.raises(requests.exceptions.SSLError):
        mtls_session(pki, "rogue").get(g.url("/metrics"), timeout=10)


def test_require_and_verify_client_cert_closes_the_door_without_one(gomon_factory, pki, tmp_path):
    d = tmp_path / "web"
    d.mkdir()
    for name in ("server.pem", "server.key", "ca.pem"):
        (d / name).write_bytes((pki / name).read_bytes())
    config = web_config(d, "RequireAndVerifyClientCert", users=False)
    # Readiness needs a client certificate: start without waiting, then poll with one.
    g = gomon_factory("--web.config.file", str(config), cert=pki / "ca.pem", wait_ready=False)
    g.session.cert = (str(pki / "client.pem"), str(pki / "client.key"))
    g.wait_ready(30)
    for path in OPEN + PRIVATE:
        assert status(g.session, g.url(path)) == 200, path
    with pytest.raises(requests.exceptions.SSLError):
        mtls_session(pki, None).get(g.url("/metrics"), timeout=10)


def test_a_bad_web_config_names_the_key(gomon_factory, tmp_path):
    config = tmp_path / "web.yml"
    config.write_text("basic_auth_users:\n  alice: not-a-hash\ntls_server_config:\n  cert_fil: x\n")
    g = gomon_factory("--web.config.file", str(config), wait_ready=False)
    assert g.proc.wait(timeout=30) != 0
    g.exit_code = g.proc.returncode
    err = g.stderr_text()
    assert "web.yml" in err and "cert_fil" in err, err


def test_a_flood_of_wrong_passwords_does_not_starve_scrapes(gomon_factory, pki, tmp_path):
    """bcrypt runs one at a time off the async workers; a scrape with the right password
    is served from the cache meanwhile."""
    d = tmp_path / "web"
    d.mkdir()
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    config = d / "web.yml"
    config.write_text(f"basic_auth_users:\n  alice: '{hashed}'\n")
    g = gomon_factory("--web.config.file", str(config))
    g.session.headers.update(basic("alice", PASSWORD))
    assert g.get("/metrics", timeout=30).status_code == 200  # checked once, then cached
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        flood = [pool.submit(status, g.anonymous(), g.url("/metrics"), basic("alice", f"guess{i}")) for i in range(48)]
        scrapes = [g.get("/metrics", timeout=30).status_code for _ in range(5)]
        codes = [f.result() for f in flood]
    assert scrapes == [200] * 5, scrapes
    assert set(codes) <= {401, 503}, codes
    assert 401 in codes


# --------------------------------------------------------------------------- auth off


def test_auth_off_on_a_non_loopback_address_serves_metrics_only(gomon_factory, tmp_path):
    config = tmp_path / "gomon.toml"
    config.write_text('[web]\nauth = "off"\n')
    g = gomon_factory("--config", str(config), listen_host="0.0.0.0")
    assert g.token is None and not g.credential_path.exists(), "no credential made or asked"
    wait_for_log(g, "serving /metrics only", 10)
    anon = g.anonymous()
    assert status(anon, g.url("/metrics")) == 200
    for path in PRIVATE:
        assert status(anon, g.url(path)) == 403, path


def test_auth_off_on_loopback_opens_everything_and_says_so(gomon_factory, tmp_path):
    config = tmp_path / "gomon.toml"
    config.write_text('[web]\nauth = "off"\n')
    g = gomon_factory("--config", str(config))
    wait_for_log(g, "every local user can read", 10)
    anon = g.anonymous()
    for path in OPEN + PRIVATE:
        assert status(anon, g.url(path)) == 200, path


def test_auth_off_with_web_config_users_is_refused(gomon_factory, tmp_path):
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  alice: '{hashed}'\n")
    config = tmp_path / "gomon.toml"
    config.write_text(f'[web]\nauth = "off"\nconfig_file = "{tmp_path / "web.yml"}"\n')
    g = gomon_factory("--config", str(config), wait_ready=False)
    assert g.proc.wait(timeout=30) != 0
    g.exit_code = g.proc.returncode
    assert "contradicts basic_auth_users" in g.stderr_text(), g.stderr_text()


def test_a_request_body_is_refused(gomon):
    with socket.create_connection(("127.0.0.1", gomon.port), timeout=10) as raw:
        ctx = ssl.create_default_context(cafile=str(gomon.cert))
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
