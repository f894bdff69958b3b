#!/usr/bin/env python3
"""The Debian package against Debian's prometheus-node-exporter, measured in one run.

    sudo .venv/bin/python bench/package.py [--warm-seconds 60]

Needs root, the package built by `cargo deb -p gomon` (target/debian/) and the release
binary (target/release/gomon). Prints:

- package size (the .deb file) and installed size (`Installed-Size` of `dpkg-deb -f`) of
  gomon and of prometheus-node-exporter (`apt-get download` into a temporary directory), and
  the ratios gomon / node_exporter;
- the binary before stripping (target/release/gomon, with line tables), after
  `strip --strip-debug` (symbols kept), and as packaged (`--strip-unneeded`);
- what the packaged binary is made of: its sections (`size -A`), and the code (`.text`) by
  crate, from `nm --print-size` of the unstripped binary with Rust names demangled, plus
  the embedded built-in probes (the components in OUT_DIR);
- the RSS of the installed service, as user gomon with the unit's capabilities
  (package_helpers.ServiceRun), warm (after --warm-seconds with a scrape every 5 s), and of
  node_exporter started the same way next to it, scraped just as often; and the ratio.

The package is installed for the RSS run and purged afterwards (refused if it is already
installed).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host" / "tests" / "e2e"))

from e2e_helpers import REPO_ROOT, free_port, http_get, wait_until  # noqa: E402
from package_helpers import (  # noqa: E402
    Installation,
    ServiceRun,
    deb_path,
    rss_bytes,
    run,
    service_config,
    world_readable_dir,
)

MB = 1e6


def deb_fields(deb: Path) -> dict[str, str]:
    out = run("dpkg-deb", "-f", str(deb)).stdout
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line and not line.startswith(" "))


def node_exporter_deb(work: Path) -> Path:
    run("apt-get", "download", "prometheus-node-exporter", cwd=work, timeout=300)
    (deb,) = work.glob("prometheus-node-exporter_*.deb")
    return deb


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


OTHERS = "(C, assembly and unattributed)"


def crate_of(symbol: str) -> str:
    """The crate of a demangled Rust symbol: `<x::Y as core::fmt::Debug>::fmt` counts for x,
    and a generic of the standard library instantiated for another crate's type
    (`core::ptr::drop_in_place<x::Y>`) for that crate too."""
    name = symbol.lstrip("<&*( ").removeprefix("dyn ").removeprefix("mut ")
    match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    if not match:
        return OTHERS
    crate = match.group(1)
    if crate in ("core", "alloc", "std") and "<" in name:
        inner = crate_of(name[name.index("<") + 1:])
        if inner != OTHERS:
            return inner
    return crate


def text_by_crate(binary: Path) -> list[tuple[str, int]]:
    out = subprocess.run(["nm", "--print-size", "--size-sort", "-C", str(binary)], capture_output=True, text=True,
                         check=True).stdout
    sizes: collections.Counter[str] = collections.Counter()
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            sizes[crate_of(parts[3])] += int(parts[1], 16)
    groups = {"wasmtime + cranelift": ("wasmtime", "cranelift", "regalloc2", "pulley", "wasmparser", "wit_", "wasm_"),
              "arrow": ("arrow",), "tonic + prost + h2 + hyper": ("tonic", "prost", "h2", "hyper", "tower", "http"),
              "rustls + ring": ("rustls", "ring", "webpki"), "gomon": ("gomon",), "std + core + alloc": ("std", "core", "alloc")}
    grouped: collections.Counter[str] = collections.Counter()
    for crate, size in sizes.items():
        group = next((g for g, prefixes in groups.items() if crate.startswith(prefixes)), crate)
        grouped[group] += size
    return grouped.most_common(12)


def builtin_probes_bytes() -> int:
    out = REPO_ROOT / "target" / "release" / "build"
    total = 0
    for generated in out.glob("gomon-*/out/builtin_probes.rs"):
        for path in re.findall(r'include_bytes!\("([^"]+)"\)', generated.read_text()):
            total += Path(path).stat().st_size
        break
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm-seconds", type=float, default=60)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/package.py installs a package: run it as root", file=sys.stderr)
        return 2

    deb = deb_path()
    work = Path(tempfile.mkdtemp(prefix="gomon-bench-package-"))
    world_readable_dir(work)
    try:
        node_deb = node_exporter_deb(work)
        g, n = deb_fields(deb), deb_fields(node_deb)
        g_inst, n_inst = int(g["Installed-Size"]) * 1024, int(n["Installed-Size"]) * 1024
        print(f"{'':34}{'gomon':>12}{'node_exporter':>16}{'ratio':>8}")
        print(f"{'package (.deb file)':34}{deb.stat().st_size / MB:>10.1f}MB{node_deb.stat().st_size / MB:>14.1f}MB"
              f"{ratio(deb.stat().st_size, node_deb.stat().st_size):>8}")
        print(f"{'installed size':34}{g_inst / MB:>10.1f}MB{n_inst / MB:>14.1f}MB{ratio(g_inst, n_inst):>8}")

        unstripped = REPO_ROOT / "target" / "release" / "gomon"
        debug_stripped = work / "gomon-strip-debug"
        run("strip", "--strip-debug", "-o", str(debug_stripped), str(unstripped))
        extracted = work / "deb"
        run("dpkg-deb", "-x", str(deb), str(extracted))
        packaged = extracted / "usr" / "bin" / "gomon"
        node_bin = work / "node"
        run("dpkg-deb", "-x", str(node_deb), str(node_bin))
        node_size = (node_bin / "usr" / "bin" / "prometheus-node-exporter").stat().st_size
        print(f"{'binary, release (line tables)':34}{unstripped.stat().st_size / MB:>10.1f}MB")
        print(f"{'binary, strip --strip-debug':34}{debug_stripped.stat().st_size / MB:>10.1f}MB")
        print(f"{'binary, packaged (--strip-unneeded)':34}{packaged.stat().st_size / MB:>10.1f}MB"
              f"{node_size / MB:>14.1f}MB{ratio(packaged.stat().st_size, node_size):>8}")

        print("\npackaged binary by section (size -A):")
        sections = run("size", "-A", str(packaged)).stdout
        rows = [line.split() for line in sections.splitlines() if line.startswith(".")]
        for name, size, *_ in sorted(rows, key=lambda r: -int(r[1]))[:6]:
            print(f"  {name:24}{int(size) / MB:>8.1f}MB")
        print(f"  built-in probe components embedded: {builtin_probes_bytes() / MB:.2f}MB")
        print("code (.text symbols) by crate, from the unstripped binary:")
        for crate, size in text_by_crate(unstripped):
            print(f"  {crate:32}{size / MB:>8.2f}MB")

        print(f"\nRSS after {args.warm_seconds:.0f} s, scraped every 5 s:")
        with Installation(deb):
            port = free_port()
            service = ServiceRun(work / "service", service_config(work / "gomon.toml", port, interval="15s"), port)
            node_port = free_port()
            node = subprocess.Popen(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                                     "/usr/bin/prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                service.wait_ready()
                wait_until(lambda: http_get(f"http://127.0.0.1:{node_port}/metrics").status_code == 200, 30,
                           "node_exporter")
                end = time.monotonic() + args.warm_seconds
                while time.monotonic() < end:
                    assert service.get("/metrics").status_code == 200
                    assert http_get(f"http://127.0.0.1:{node_port}/metrics").status_code == 200
                    time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                g_rss, n_rss = rss_bytes(service.pid), rss_bytes(node.pid)
                print(f"{'RSS (gomon as user gomon, node_exporter as nobody)':52}{g_rss / MB:>8.1f}MB"
                      f"{n_rss / MB:>8.1f}MB{ratio(g_rss, n_rss):>8}")
            finally:
                node.terminate()
                node.wait(timeout=10)
                service.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
