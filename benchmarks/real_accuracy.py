"""First-shell accuracy of ``analyze(method='fit')`` on the real spectra against the MANIFEST answers.

The cases are those of tests/test_analyze.py (8 X-ray, 9 EELS). Automatic choices only: the chain gets the
file, the edge and the structure named in MANIFEST (and the low-loss where MANIFEST pairs one).

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

XRAY = [("xas_Cu_K_foil_10K.xdi", "Cu_K"), ("xas_Cu_K_foil_rt_2016.xdi", "Cu_K"),
        ("xas_Fe_K_foil_rt_2016.xdi", "Fe_K"), ("xas_Ni_K_foil_rt.xdi", "Ni_K"),
        ("xas_Pt_L3_foil_rt.xdi", "Pt_L3"), ("xas_Zn_K_foil_rt.xdi", "Zn_K"),
        ("xas_Cu_K_foil_10K_reference_chi.chi", "Cu_K"), ("xas_Cu_K_foil_10-50-150K_athena.prj", "Cu_K")]
EELS = [("eels_MgO_MgK_OK_atlas.msa", "O_K"), ("eels_MgO_MgK_OK_atlas.msa", "Mg_K"),
        ("eels_NiO_NiL_OK_atlas.msa", "O_K"), ("eels_NiO_NiL_OK_atlas.msa", "Ni_L3"),
        ("eels_SrTiO3_TiL_OK_pyTEMlib.dm3", "O_K"), ("eels_SrTiO3_TiL_OK_pyTEMlib.dm3", "Ti_L3"),
        ("eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3", "B_K"), ("eels_GaAs_GaL_AsL_atlas.msa", "Ga_L3"),
        ("eels_GaAs_GaL_AsL_atlas.msa", "As_L3")]
LOWLOSS = {"eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3": "eels_hBN_lowloss_LL_02_cal.msa"}


def run(cases, manifest):
    from exelfs.analysis import analyze
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
    manifest = {m["file"]: m for m in json.loads((REAL / "MANIFEST.json").read_text())["spectra"]}
    which = set(argv if argv is not None else sys.argv[1:]) or {"xray", "eels"}
    if "xray" in which:
        print_rows("X-ray", run(XRAY, manifest))
    if "eels" in which:
        print_rows("EELS", run(EELS, manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
