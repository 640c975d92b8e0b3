#!/usr/bin/env bash
# Installs what the dashboard's browser tests need (idempotent; fast when present):
#   - Debian's headless Chromium (`apt-get install chromium`), launched by path by the tests
#   - the Python `playwright` package comes with the test extras (scripts/setup.sh); it never
#     downloads a browser of its own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1)
set -euo pipefail

step() { printf '\n==> %s\n' "$*"; }

if command -v chromium >/dev/null 2>&1; then
    echo "chromium: $(command -v chromium)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "the browser tests need Chromium: install it with your system's package manager" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo -n)   # never prompts: CI has no standard input
fi
export DEBIAN_FRONTEND=noninteractive
step "installing Debian's chromium for the dashboard's browser tests (about 100 MB)"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y --no-install-recommends chromium fonts-dejavu-core
echo "chromium: $(command -v chromium)"
