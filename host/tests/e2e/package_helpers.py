"""The Debian package as an operator meets it: find the .deb `cargo deb -p gomon` built,
install and purge it, read the installed unit, and run the unit's `ExecStart` the way
systemd would (there is no systemd as PID 1 on the test machines): as the unit's `User=`
and `Group=` with its supplementary groups, `NoNewPrivileges=`, `UMask=`, and exactly its
`AmbientCapabilities=` / `CapabilityBoundingSet=`, through util-linux's `setpriv`.

Used by test_package.py and bench/package.py.
"""

from __future__ import annotations

import platform
import pwd
import re
import signal
import subprocess
from pathlib import Path

import requests

from e2e_helpers import REPO_ROOT, new_session, strip_ansi, wait_until, workspace_version

UNIT = Path("/lib/systemd/system/gomon.service")
CONFFILE = Path("/etc/gomon/gomon.toml")
STATE_DIR = Path("/var/lib/gomon")
# Debian's architecture names, as cargo-deb writes them into the file name.
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]


def deb_path() -> Path:
    """target/debian/gomon_<version>_<arch>.deb, as `cargo deb -p gomon` writes it."""
    path = REPO_ROOT / "target" / "debian" / f"gomon_{workspace_version()}_{DEB_ARCH}.deb"
    if not path.is_file():
        raise AssertionError(f"{path} is missing: build it with `cargo deb -p gomon` (./run-tests does)")
    return path


def dbgsym_path() -> Path:
    """The debug-symbols package cargo-deb writes beside the .deb."""
    return deb_path().with_name(f"gomon-dbgsym_{workspace_version()}_{DEB_ARCH}.ddeb")


def run(*args: str, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run a command to completion, text output captured; fail naming it and its output."""
    proc = subprocess.run(list(args), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"`{' '.join(args)}` exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
                             f"\n--- stderr ---\n{proc.stderr[-4000:]}")
    return proc


def package_installed() -> bool:
    proc = run("dpkg-query", "-W", "-f=${Status}", "gomon", check=False)
    return proc.returncode == 0 and "installed" in proc.stdout and "not-installed" not in proc.stdout


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class Installation:
    """`dpkg -i` of the package on entry; `dpkg --purge` on exit, whatever happened, and
    the system user removed again if this installation created it (Debian's purge keeps
    system users; the test machine is left as it was found)."""

    def __init__(self, deb: Path) -> None:
        self.deb = deb
        self.user_existed = user_exists("gomon")
        self.log: list[str] = []

    def __enter__(self) -> "Installation":
        if package_installed():
            raise AssertionError("the gomon package is already installed on this machine: the test installs and "
                                 "purges its own, so it refuses to touch an existing installation (dpkg --purge gomon)")
        self.install(self.deb)
        return self

    def install(self, deb: Path) -> subprocess.CompletedProcess:
        proc = run("dpkg", "-i", str(deb))
        self.log.append(proc.stdout + proc.stderr)
        return proc

    def __exit__(self, *exc) -> None:
        self.purge()

    def purge(self) -> None:
        if package_installed() or Path("/var/lib/dpkg/info/gomon.list").exists():
            run("dpkg", "--purge", "gomon", check=False)
        if not self.user_existed and user_exists("gomon"):
            run("deluser", "--quiet", "--system", "gomon", check=False)
            run("delgroup", "--quiet", "--system", "gomon", check=False)


# --------------------------------------------------------------------------- the unit


def unit_settings(path: Path = UNIT) -> dict[str, list[str]]:
    """The unit's `Key=value` lines, by key (a key may repeat), comments left out."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_capabilities(settings: dict[str, list[str]]) -> list[str]:
    """`AmbientCapabilities=`, which the unit keeps equal to `CapabilityBoundingSet=`."""
    ambient = " ".join(settings.get("AmbientCapabilities", [])).split()
    bounding = " ".join(settings.get("CapabilityBoundingSet", [])).split()
    assert sorted(ambient) == sorted(bounding), f"AmbientCapabilities {ambient} != CapabilityBoundingSet {bounding}"
    return ambient


def exec_start(settings: dict[str, list[str]], config: Path) -> list[str]:
    """The unit's ExecStart with the test's configuration file in place of the conffile."""
    (line,) = settings["ExecStart"]
    argv = line.split()
    assert argv[:1] == ["/usr/bin/gomon"], f"ExecStart runs {argv[:1]}, not /usr/bin/gomon"
    assert "--config" in argv and argv[argv.index("--config") + 1] == str(CONFFILE), argv
    argv[argv.index("--config") + 1] = str(config)
    return argv


def setpriv_prefix(settings: dict[str, list[str]], capabilities: list[str]) -> list[str]:
    """setpriv arguments giving a command the unit's user, groups and `capabilities`
    (inheritable, ambient and bounding sets; nothing else survives the uid change)."""
    names = ",".join(f"+{c.lower().removeprefix('cap_')}" for c in capabilities)
    caps = f"-all{',' + names if names else ''}"
    prefix = ["setpriv", f"--reuid={settings['User'][0]}", f"--regid={settings['Group'][0]}", "--init-groups",
              f"--inh-caps={caps}", f"--bounding-set={caps}"]
    if names:
        prefix.append(f"--ambient-caps={caps}")
    if settings.get("NoNewPrivileges", ["no"])[0] in ("yes", "true", "1"):
        prefix.append("--no-new-privs")
    return prefix + ["--"]


class ServiceRun:
    """The unit's ExecStart started as systemd would: user, groups, umask, capabilities,
    a service's minimal environment. Serves HTTPS with the certificate in the state dir."""

    def __init__(self, workdir: Path, config: Path, port: int, capabilities: list[str] | None = None,
                 path_prefix: Path | None = None, name: str = "gomon") -> None:
        settings = unit_settings()
        self.capabilities = unit_capabilities(settings) if capabilities is None else capabilities
        self.argv = setpriv_prefix(settings, self.capabilities) + exec_start(settings, config)
        self.port = port
        self.cert = STATE_DIR / "tls" / "cert.pem"
        user = pwd.getpwnam(settings["User"][0])
        search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        env = {"PATH": f"{path_prefix}:{search}" if path_prefix else search, "HOME": user.pw_dir,
               "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": user.pw_shell, "LANG": "C.UTF-8"}
        umask = int(settings.get("UMask", ["0022"])[0], 8)
        workdir.mkdir(parents=True, exist_ok=True)
        n = len(list(workdir.glob(f"{name}*.log")))
        self.log_path = workdir / f"{name}{n}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env, cwd="/", umask=umask)
        self.session: requests.Session | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return strip_ansi(self.log_path.read_text(errors="replace"))

    def describe(self) -> str:
        state = "running" if self.proc.poll() is None else f"exited with {self.proc.returncode}"
        return f"`{' '.join(self.argv)}` is {state}\n--- log (tail) ---\n{self.log_text()[-4000:]}"

    def wait_ready(self, timeout: float = 60) -> "ServiceRun":
        def ready():
            assert self.proc.poll() is None, f"gomon exited during start-up\n{self.describe()}"
            if not self.cert.is_file():
                return False
            if self.session is None:
                self.session = new_session(self.cert)
            return self.session.get(self.url("/metrics"), timeout=3).status_code == 200

        wait_until(ready, timeout, f"the service to serve {self.url('/metrics')}", describe=self.describe)
        # Every route but / and /metrics asks for the credential the service generated
        # at its first start (as the README says: user gomon, the token as password).
        token = (STATE_DIR / "credentials" / "token").read_text().strip()
        assert token, "the service generated an empty credential"
        self.session.auth = ("gomon", token)
        return self

    def get(self, path: str, **kw) -> requests.Response:
        assert self.session is not None, "wait_ready first"
        kw.setdefault("timeout", 10)
        return self.session.get(self.url(path), **kw)

    def stop(self) -> int | None:
        """SIGTERM, as systemctl stop sends; the exit code (None: it had to be killed)."""
        rc: int | None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                rc = None
        else:
            rc = self.proc.returncode
        if self.session is not None:
            self.session.close()
        self._log.close()
        return rc


def service_config(path: Path, port: int, *, interval: str = "1s", loki_url: str = "off",
                log_files: list[str] | None = None, only_logs: bool = False, extra: str = "") -> Path:
    """The installed conffile with the test's port, interval and Loki URL (and tailed
    files; `only_logs`: no process, file or kernel events and no lag canaries, so the
    tailed files are the only observations), readable by the service user. Each replaced
    line must be in the conffile exactly once, so a change of the conffile shows up here as
    a clear failure."""
    text = CONFFILE.read_text()

    def replace(pattern: str, new: str) -> None:
        nonlocal text
        text, n = re.subn(pattern, new, text, flags=re.M)
        assert n == 1, f"{CONFFILE}: expected one line matching {pattern!r}, found {n}"

    replace(r'^listen = "127\.0\.0\.1:1234"$', f'listen = "127.0.0.1:{port}"')
    replace(r'^interval = "15s"$', f'interval = "{interval}"')
    replace(r'^# url = "https://loki\.example:3100/loki/api/v1/push"$', f'url = "{loki_url}"')
    if log_files is not None:
        replace(r'^files = \["/var/log/\*\.log", "/var/log/syslog", "/var/log/messages"\]$',
                "files = [" + ", ".join(f'"{f}"' for f in log_files) + "]")
    if only_logs:
        replace(r"^process = true$", "process = false")
        replace(r"^enabled = true$", "enabled = false")
        replace(r"^kmsg = true$", "kmsg = false")
        replace(r'^journal = "auto"$', 'journal = "off"')
        replace(r'^lag_interval = "1m"$', 'lag_interval = "0s"')
    path.write_text(text + extra)
    path.chmod(0o644)
    return path


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"/proc/{pid}/status has no VmRSS")


def world_readable_dir(path: Path) -> Path:
    """A directory the service user can enter and read (pytest's tmp dirs are 0700)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    p = path.parent
    while p != Path("/"):
        mode = p.stat().st_mode
        if not mode & 0o001:
            p.chmod(mode | 0o011)
        p = p.parent
    return path


def wait_for_log(service: ServiceRun, needle: str, timeout: float = 30) -> str:
    def found():
        lines = [line for line in service.log_text().splitlines() if needle in line]
        return lines[-1] if lines else None

    return wait_until(found, timeout, f"a log line containing {needle!r}", describe=service.describe)


def gid_of(group: str) -> int | None:
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None
