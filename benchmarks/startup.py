"""Wall time of the command line at start-up: ``exelfs --help`` and ``exelfs identify FILE --json`` with a
cold edge-table cache (built from exspy + xraydb and written) and a warm one (read from disk), and
``exelfs analyze`` over 20 files in one batch call against 20 single calls (--batch).

Each command runs in a fresh interpreter (subprocess), with EXELFS_CACHE pointing at a temporary folder, so
that the user's own cache is neither used nor touched. Prints one row per command: median and min wall time
over the repeats, in seconds. Targets: ``--help`` under 0.5 s, a warm ``identify`` under 2 s.

Usage: python benchmarks/startup.py [FILE] [--repeats 3] [--batch 20]   (FILE: default the first .msa in MANIFEST.json)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"


def default_file() -> Path:
    """The first EELS .msa listed in the shared MANIFEST.json."""
    entries = json.loads((REAL / "MANIFEST.json").read_text())["spectra"]
    return next(REAL / e["file"] for e in entries if e["file"].endswith(".msa") and e["kind"] == "eels")


def wall(args: list[str], env: dict) -> float:
    """Seconds one ``python -m exelfs ARGS`` takes, start to exit (it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "exelfs", *args], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", help="spectrum to identify (default: first .msa of the shared data)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=20, help="files in the batch comparison (0: skip it)")
    args = ap.parse_args(argv)
    path = str(args.file or default_file())
    cache = Path(tempfile.mkdtemp(prefix="exelfs-startup-"))
    env = {**os.environ, "EXELFS_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    rows = {"exelfs --help": [], "exelfs identify (cold cache)": [], "exelfs identify (warm cache)": []}
    try:
        for _ in range(args.repeats):
            rows["exelfs --help"].append(wall(["--help"], env))
            shutil.rmtree(cache / "edges", ignore_errors=True)
            rows["exelfs identify (cold cache)"].append(wall(["identify", path, "--json"], env))
            rows["exelfs identify (warm cache)"].append(wall(["identify", path, "--json"], env))
        if args.batch:
            xdi = str(REAL / "xas_Cu_K_foil_10K.xdi")
            cmd = ["analyze", "--edge", "Cu_K", "--structure", "Cu", "--json"]
            wall([*cmd, xdi], env)  # FEFF paths into the cache first: both sides then read them
            rows[f"analyze, {args.batch} files, one call"] = [wall([*cmd, *[xdi] * args.batch], env)]
            rows[f"analyze, {args.batch} files, {args.batch} calls"] = [sum(wall([*cmd, xdi], env)
                                                                          for _ in range(args.batch))]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"file: {path}  ({args.repeats} repeats)\n")
    print(f"{'command':<36} {'median s':>9} {'min s':>7}")
    for name, times in rows.items():
        print(f"{name:<36} {statistics.median(times):9.2f} {min(times):7.2f}")


if __name__ == "__main__":
    main()
