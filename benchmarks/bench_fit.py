"""Time of ``analyze(method='fit')`` against a plain Larch chain on the same spectra, in the same run.

Plain Larch chain: pre_edge -> autobk(rbkg=1, kweight=2) -> feffit of the first FEFF path (the same cached
paths analyze uses; amplitude, delta E0, sigma2, delta R free) over k 3-min(kmax-0.5, 14) 1/A, R window
R1-0.9 .. R1+0.25 A. FEFF runs are cached and warmed up first, so both columns time the analysis only.

Usage: python benchmarks/bench_fit.py [--repeat N]   (needs ../shared/data/real)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"

CASES = [("xas_Cu_K_foil_10K.xdi", "Cu_K"), ("xas_Cu_K_foil_rt_2016.xdi", "Cu_K"),
         ("xas_Fe_K_foil_rt_2016.xdi", "Fe_K"), ("xas_Ni_K_foil_rt.xdi", "Ni_K"),
         ("xas_Pt_L3_foil_rt.xdi", "Pt_L3"), ("xas_Zn_K_foil_rt.xdi", "Zn_K"),
         ("eels_MgO_MgK_OK_atlas.msa", "O_K"), ("eels_NiO_NiL_OK_atlas.msa", "Ni_L3"),
         ("eels_GaAs_GaL_AsL_atlas.msa", "As_L3")]


def plain_larch(spectrum, paths):
    """The plain Larch chain; returns first-shell R (A)."""
    from larch import Group
    from larch.fitting import guess, param_group
    from larch.xafs import autobk, feffit, feffit_dataset, feffit_transform, feffpath, pre_edge

    g = Group(energy=spectrum.energy, mu=np.asarray(spectrum.summed().intensity, float))
    pre_edge(g)
    autobk(g, rbkg=1.0, kweight=2)
    first = paths[0]
    pars = param_group(amp=guess(0.9), del_e0=guess(0.0), sig2=guess(0.005), del_r=guess(0.0))
    path = feffpath(first.filename, s02="amp", e0="del_e0", sigma2="sig2", deltar="del_r")
    tr = feffit_transform(kmin=3.0, kmax=min(float(g.k.max()) - 0.5, 14.0), kweight=2, dk=1, window="hanning",
                          rmin=max(0.9, first.reff - 0.9), rmax=first.reff + 0.25)
    out = feffit(pars, feffit_dataset(data=g, paths={"p1": path}, transform=tr))
    return first.reff + out.params["del_r"].value


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if not (REAL / "MANIFEST.json").is_file():
        print(f"real spectra not found at {REAL}", file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore")
    from exelfs.pipeline import analyze
    from exelfs.pipeline.plan import FEFF_RMAX
    from exelfs.edges.tables import parse_edge
    from exelfs.io import read_spectrum
    from exelfs.theory import feff_paths

    manifest = {m["file"]: m for m in json.loads((REAL / "MANIFEST.json").read_text())["spectra"]}
    print(f"{'file':38s} {'edge':6s} {'analyze s':>10s} {'larch s':>8s} {'ratio':>6s} "
          f"{'R1 ours':>8s} {'R1 larch':>8s} {'R1 ref':>7s}")
    ratios = []
    for name, edge in CASES:
        entry = manifest[name]
        spectrum = read_spectrum(REAL / name)
        element, shell = parse_edge(edge)
        paths = feff_paths(entry["structure"], element, shell, rmax=FEFF_RMAX)  # warm the FEFF cache
        t_ours, t_larch, r_ours, r_larch = [], [], None, None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            try:
                res = analyze(spectrum, edge=edge, structure=entry["structure"])
                r_ours = res["shells"][0]["r"] if res["shells"] else None
            except Exception as exc:  # noqa: BLE001 (a benchmark reports, it does not stop)
                r_ours = f"refused ({type(exc).__name__})"
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            try:
                r_larch = plain_larch(spectrum, paths)
            except Exception as exc:  # noqa: BLE001
                r_larch = f"failed ({type(exc).__name__})"
            t_larch.append(time.perf_counter() - t0)
        a, b = statistics.median(t_ours), statistics.median(t_larch)
        ratios.append(a / b)
        fmt = lambda v: f"{v:8.3f}" if isinstance(v, float) else f"{str(v)[:8]:>8s}"  # noqa: E731
        print(f"{name:38s} {edge:6s} {a:10.2f} {b:8.2f} {a / b:6.1f} {fmt(r_ours)} {fmt(r_larch)} "
              f"{entry['shells'][edge][0]['r']:7.3f}")
    print(f"median time ratio analyze/plain Larch: {statistics.median(ratios):.1f} "
          f"(median of {args.repeat} runs each; FEFF cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
