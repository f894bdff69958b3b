"""The vendored protocol definitions in host/proto are the upstream files, byte for byte.

`host/proto/README.md` records, for each vendored `.proto`, the sha256 of the upstream
original; each vendored file is that original below a header, and the header is everything
up to and including the file's first empty line. The build compiles these files into the
plugin-mode server and `test_plugin.py` generates its client stubs from them, so an edit here
would change both sides at once and no other test would notice: this one compares them with
the recorded upstream digests.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from e2e_helpers import REPO_ROOT

PROTO_DIR = REPO_ROOT / "host" / "proto"
README = PROTO_DIR / "README.md"


class Drift(AssertionError):
    """A vendored file differs from its recorded upstream original."""


def recorded_digests(readme: str) -> dict[str, str]:
    """{file name: sha256} from the README's table rows `| \\`name.proto\\` | … sha256 … \\`<hex>\\` | …`."""
    out = {}
    for line in readme.splitlines():
        m = re.match(r"\|\s*`([\w.-]+\.proto)`\s*\|(.*)", line)
        if not m:
            continue
        digests = re.findall(r"sha256 of the original `([0-9a-f]{64})`", m.group(2))
        assert len(digests) == 1, f"README row for {m.group(1)} records {len(digests)} sha256 digests: {line}"
        out[m.group(1)] = digests[0]
    return out


def strip_header(content: bytes, name: str) -> bytes:
    """The original below the header: everything after the first empty line."""
    end = content.find(b"\n\n")
    if end < 0:
        raise Drift(f"{name} has no empty line ending its header")
    header = content[: end + 1].decode("utf-8", errors="replace")
    if not all(line.startswith("//") for line in header.splitlines()):
        raise Drift(f"{name}: the header (up to the first empty line) is not all `//` comments:\n{header}")
    if "Vendored unchanged below this header" not in header.replace("\n// ", " "):
        raise Drift(f"{name}: the header does not say the file is vendored unchanged below it:\n{header}")
    return content[end + 2 :]


def check(path: Path, digest: str) -> None:
    original = strip_header(path.read_bytes(), path.name)
    actual = hashlib.sha256(original).hexdigest()
    if actual != digest:
        raise Drift(
            f"{path} below its header has sha256 {actual}, but host/proto/README.md "
            f"records the upstream original as {digest}: the vendored file drifted (or was refreshed "
            f"without recording the new digest)")


def test_every_vendored_proto_has_a_recorded_digest():
    recorded = recorded_digests(README.read_text())
    present = {p.name for p in PROTO_DIR.glob("*.proto")}
    assert present, f"no .proto files in {PROTO_DIR}"
    assert present == set(recorded), (
        f"vendored files without a recorded digest: {sorted(present - set(recorded))}; "
        f"recorded digests without a file: {sorted(set(recorded) - present)}")


@pytest.mark.parametrize("name", sorted(recorded_digests(README.read_text())))
def test_vendored_proto_matches_its_upstream_digest(name):
    check(PROTO_DIR / name, recorded_digests(README.read_text())[name])


def test_the_check_fails_on_drift(tmp_path):
    """One changed byte below the header, or a header without its empty line, is caught."""
    digests = recorded_digests(README.read_text())
    source = PROTO_DIR / "backend.proto"
    content = source.read_bytes()
    edited = tmp_path / "backend.proto"
    edited.write_bytes(content.replace(b"package pluginv2;", b"package pluginv3;", 1))
    assert edited.read_bytes() != content
    with pytest.raises(Drift, match="drifted"):
        check(edited, digests["backend.proto"])

    # A comment added below the header changes the original too.
    added = tmp_path / "added.proto"
    added.write_bytes(content + b"// local note\n")
    with pytest.raises(Drift, match="drifted"):
        check(added, digests["backend.proto"])

    # The header glued to the original: nothing may be guessed.
    glued = tmp_path / "glued.proto"
    end = content.index(b"\n\n")
    glued.write_bytes(content[:end] + b"\n" + content[end + 2 :])
    with pytest.raises(Drift):
        check(glued, digests["backend.proto"])
