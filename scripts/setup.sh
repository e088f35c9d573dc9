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
