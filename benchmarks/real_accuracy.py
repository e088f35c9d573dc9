"""First-shell accuracy of ``analyze(method='fit')`` on the real spectra against the MANIFEST answers.

The cases are every (file, edge) with reference shells in MANIFEST.json, X-ray and EELS apart (the
background-subtracted 'eels-processed' file has no raw pre-edge and is left out). Automatic choices only:
the chain gets the file, the edge and the structure named in MANIFEST (and the low-loss MANIFEST pairs).

Usage: python benchmarks/real_accuracy.py   (needs ../shared/data/real)
Prints one row per case (R1, r_err, reference, |dR|, N1, sigma2_1, warnings) and the summary figures:
median |dR|, answered count, fraction with |dR| <= 2 r_err.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"

LOWLOSS = {"eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3": "eels_hBN_lowloss_LL_02_cal.msa"}


def run(cases, manifest):
    from exelfs.pipeline import analyze
    from exelfs.errors import InputError
    from exelfs.io import read_spectrum

    rows = []
    for name, edge in cases:
        entry = manifest[name]
        ref = entry["shells"][edge][0]
        spectrum = read_spectrum(REAL / name)
        lowloss = read_spectrum(REAL / LOWLOSS[name]) if name in LOWLOSS else None
        t0 = time.perf_counter()
        try:
            res = analyze(spectrum, edge=edge, structure=entry["structure"], lowloss=lowloss)
        except InputError as exc:
            rows.append(dict(file=name, edge=edge, ref=ref["r"], refused=str(exc), seconds=time.perf_counter() - t0))
            continue
        s = res["shells"][0] if res["shells"] else None
        rows.append(dict(file=name, edge=edge, ref=ref["r"], n_ref=ref["n"], shell=s, k_range=res["k_range"],
                         warnings=res["warnings"], seconds=time.perf_counter() - t0,
                         undetermined=(res.get("undetermined_shells") or [None])[0]))
    return rows


def summary(rows):
    answered = [r for r in rows if r.get("shell")]
    dev = [abs(r["shell"]["r"] - r["ref"]) for r in answered]
    honest = [abs(r["shell"]["r"] - r["ref"]) <= 2 * r["shell"]["r_err"] for r in answered]
    return {"answered": len(answered), "cases": len(rows),
            "median_dR": statistics.median(dev) if dev else None,
            "honest": sum(honest), "honest_frac": (sum(honest) / len(honest)) if honest else None}


def print_rows(title, rows):
    print(f"\n## {title}\n")
    print("| file | edge | k range | R1 (A) | r_err | ref | |dR| | N1 (ref) | sigma2_1 | s | warnings |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "refused" in r:
            print(f"| {r['file']} | {r['edge']} | - | refused | | {r['ref']:.3f} | | | | {r['seconds']:.0f} | {r['refused'][:90]} |")
            continue
        s = r["shell"]
        warn = "; ".join(w[:70] for w in r["warnings"][:4])
        if s is None:
            u = r["undetermined"]
            txt = f"undetermined ({u['r']:.3f} +- {u['r_err']:.3f})" if u else "no answer"
            print(f"| {r['file']} | {r['edge']} | {r['k_range']} | {txt} | | {r['ref']:.3f} | | | | {r['seconds']:.0f} | {warn} |")
            continue
        n_err = "fixed" if s["n_err"] is None else f"{s['n_err']:.1f}"
        print(f"| {r['file']} | {r['edge']} | {r['k_range'][0]:.1f}-{r['k_range'][1]:.1f} | {s['r']:.3f} | "
              f"{s['r_err']:.3f} | {r['ref']:.3f} | {abs(s['r'] - r['ref']):.3f} | {s['n']:.1f}+-{n_err} ({r['n_ref']}) | "
              f"{s['sigma2']:.4f}+-{s['sigma2_err']:.4f} | {r['seconds']:.0f} | {warn} |")
    print("\n", json.dumps(summary(rows)))


def main(argv=None):
    if not (REAL / "MANIFEST.json").is_file():
        print(f"real spectra not found at {REAL}", file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    entries = json.loads((REAL / "MANIFEST.json").read_text())["spectra"]
    manifest = {m["file"]: m for m in entries}
    cases = {"xray": [], "eels": []}
    for m in entries:
        family = "xray" if m["kind"].startswith(("xas", "chi")) else "eels" if m["kind"] != "eels-processed" else None
        if family and m.get("structure"):
            cases[family] += [(m["file"], edge) for edge in m["shells"]]
    which = set(argv if argv is not None else sys.argv[1:]) or {"xray", "eels"}
    if "xray" in which:
        print_rows("X-ray", run(cases["xray"], manifest))
    if "eels" in which:
        print_rows("EELS", run(cases["eels"], manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
