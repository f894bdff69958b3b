#!/usr/bin/env bash
# Builds python_load.wasm, a gomon probe component, from app.py with
# componentize-py (from PyPI, pinned). Needs python3 (3.9 or newer, with venv)
# and network access to PyPI on the first run; later runs reuse the venv.
#
#     probes/examples/python-load/build.sh     # → probes/examples/python-load/python_load.wasm
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wit="$here/../../../probes-wit/wit"
venv="$here/.venv-build"
version="0.25.1"

if [[ ! -x "$venv/bin/componentize-py" ]] || ! "$venv/bin/componentize-py" --version | grep -qF "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$version"
fi

cd "$here"
# The bindings (package `wit_world`) are generated into the component only;
# nothing is written next to app.py. `-p .` puts app.py on the path.
"$venv/bin/componentize-py" -d "$wit" -w measure componentize app -p . -o python_load.wasm
ls -l python_load.wasm
