#!/usr/bin/env bash
# Set up exelfs in .venv at the project root (created if missing). Safe to run again: it only installs
# what is missing. torch is pinned by constraints.txt to the local CPU build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[ -x .venv/bin/python ] || python3 -m venv .venv
pipargs=(-q -c constraints.txt)
[ -d /opt/wheels ] && pipargs+=(--find-links /opt/wheels)
if ! .venv/bin/python -c "import exelfs, torch, larch, exspy" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.exelfs-installed ]; then
    .venv/bin/python -m pip install "${pipargs[@]}" --upgrade pip >/dev/null
    .venv/bin/python -m pip install "${pipargs[@]}" -e ".[test]"
    touch .venv/.exelfs-installed
fi
# Debian's chromium, for the browser test of the GUI (tests/test_gui.py drives /usr/bin/chromium through
# Playwright; Playwright's own browser download is never used)
if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null && { [ -z "$sudo" ] || command -v sudo >/dev/null; } \
       && { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
          >/dev/null 2>&1; then
        echo "setup: installed chromium (for the GUI's browser test)"
    else
        echo "setup: could not install Debian's chromium with apt-get: the GUI's browser test skips outside CI"
    fi
fi
