"""Known-answer accuracy of the classical chain, ``analyze(method='fit')``, on seeded synthetic spectra.

Every case draws true shell parameters (delta R, sigma2, delta E0; S0^2 = 0.9 as the fit assumes, so the
true N is the crystal's), builds chi(k) from the cached FEFF paths (exelfs.simulate.chi_from_paths) and a
recorded spectrum with the forward model (EELS: exelfs.simulate.eels_spectrum, power-law background,
other edges of the material, plural scattering, resolution, calibration offset, Poisson noise; X-ray:
exelfs.simulate.xas_spectrum), then runs ``analyze`` with automatic choices only and compares the first
shell with the truth.

Conditions: t/lambda 0, 0.5, 1.0 (with the low-loss given, and without), counts 1e4-1e6 per eV below
the edge, channel widths 0.25-2 eV. The "clean" class (t/lambda <= 0.5 with low-loss, >= 1e5 counts)
is the one the chain must get right; plural scattering without low-loss must give the known bias (R a few
hundredths short, amplitude cut), not garbage.

Usage: python benchmarks/synthetic_accuracy.py [--jobs N] [--quick] [--only SUBSTRING]
Prints one row per case and a summary per class: median |dR|, fraction |dR| <= 0.02 A, fraction
|dR| <= 2 r_err (honest errors), fraction of N and sigma2 within their stated errors.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SIM_RMAX = 5.0  # A: the simulated chi(k) holds every FEFF path (single and multiple scattering) up to here

# material/edge: structure, absorber, FEFF edge, other elements in the window, e_after (eV), kind
MATERIALS = {
    "MgO Mg_K": dict(structure="MgO", edge="Mg_K", others=("O",), e_after=700.0),
    "MgO O_K": dict(structure="MgO", edge="O_K", others=("Mg",), e_after=650.0),
    "NiO O_K": dict(structure="NiO", edge="O_K", others=("Ni",), e_after=600.0),
    "BN B_K": dict(structure="BN", edge="B_K", others=("N",), e_after=400.0),
    "Cu Cu_L3": dict(structure="Cu", edge="Cu_L3", others=(), e_after=700.0),
    "Cu Cu_K xas": dict(structure="Cu", edge="Cu_K", others=(), e_after=900.0, kind="xas"),
}

# (label, t/lambda, low-loss given, counts per eV, channel width eV)
CONDITIONS = [
    ("tl0 3e5 0.5eV", 0.0, True, 3e5, 0.5),
    ("tl0.5+LL 1e5 0.5eV", 0.5, True, 1e5, 0.5),
    ("tl0.5+LL 1e6 0.25eV", 0.5, True, 1e6, 0.25),
    ("tl0.3+LL 3e5 1eV", 0.3, True, 3e5, 1.0),
    ("tl0.5+LL 1e5 2eV", 0.5, True, 1e5, 2.0),
    ("tl0.5 noLL 3e5 0.5eV", 0.5, False, 3e5, 0.5),
    ("tl1.0+LL 3e5 0.5eV", 1.0, True, 3e5, 0.5),
    ("tl1.0 noLL 3e5 0.5eV", 1.0, False, 3e5, 0.5),
    ("tl0.3+LL 1e4 1eV", 0.3, True, 1e4, 1.0),
]
XAS_CONDITIONS = [("xas noise 1e-3", 1e-3), ("xas noise 3e-3", 3e-3), ("xas noise 3e-4", 3e-4)]


def case_class(cond) -> str:
    """'clean' (t/lambda <= 0.5 with low-loss or none needed, >= 1e5 counts), 'plural-noLL', 'thick', 'low'."""
    label, tl, ll, counts, _ = cond
    if counts < 1e5:
        return "low-counts"
    if tl > 0 and not ll:
        return "plural-noLL"
    if tl > 0.5:
        return "thick+LL"
    return "clean"


def simulate_case(material: str, cond, seed: int):
    """(spectrum, lowloss or None, truth dict) for one seeded case."""
    from exelfs.edges.tables import parse_edge
    from exelfs.simulate import EELSConfig, XASConfig, eels_spectrum, xas_spectrum
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params, standard_k
    from exelfs.theory import group_shells
    from exelfs.theory import feff_paths

    m = MATERIALS[material]
    element, shell = parse_edge(m["edge"])
    rng = np.random.default_rng(seed)
    paths = feff_paths(m["structure"], element, shell, rmax=SIM_RMAX)
    shells = group_shells(paths)
    ns = len(shells)
    dr1 = rng.uniform(-0.03, 0.03)
    s2_1 = rng.uniform(0.003, 0.008)
    deltar = np.array([dr1] + [dr1 * sh["reff"] / shells[0]["reff"] for sh in shells[1:]])
    sigma2 = np.array([s2_1] + [s2_1 * 1.4] * (ns - 1))
    e0 = rng.uniform(-2.0, 2.0)
    k = standard_k(20.0)
    params = shell_to_path_params(paths, {"s02": 0.9, "e0": e0, "deltar": deltar, "sigma2": sigma2},
                                  shells=shells)
    chi = chi_from_paths(paths, k, params)
    truth = {"scatterer": shells[0]["scatterer"], "r": shells[0]["reff"] + dr1, "n": shells[0]["n"],
             "sigma2": s2_1, "e0": e0, "chi_k": (k, chi)}
    if m.get("kind") == "xas":
        label, noise = cond
        cfg = XASConfig(edge=m["edge"], e_after=m["e_after"], noise=noise)
        return xas_spectrum(k, chi, cfg, seed=seed + 1), None, truth
    label, tl, ll, counts, width = cond
    cfg = EELSConfig(edge=m["edge"], e_before=200.0, e_after=m["e_after"], channel_width=width,
                     other_elements=m["others"], other_edge_weight=(0.5, 1.5), t_lambda=tl,
                     plural_scattering=tl > 0, plasmon_energy=(15.0, 25.0), plasmon_width=(4.0, 8.0),
                     resolution_fwhm=(0.5, 1.5), counts=counts, calibration_offset=(-2.0, 2.0),
                     background_r=(2.5, 4.0), background_ratio=(1.0, 4.0), gain_steps=False, lowloss=True)
    core, low = eels_spectrum(k, chi, cfg, seed=seed + 1, title=f"{material} {label}")
    truth["t_lambda"] = tl
    return core, (low if ll else None), truth


def run_case(args):
    material, cond, seed = args
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from exelfs.pipeline import analyze
    from exelfs.errors import InputError

    m = MATERIALS[material]
    spectrum, lowloss, truth = simulate_case(material, cond, seed)
    t0 = time.perf_counter()
    truth.pop("chi_k", None)
    row = {"material": material, "cond": cond[0], "seed": seed, "truth": truth,
           "cls": "xas" if m.get("kind") == "xas" else case_class(cond)}
    try:
        res = analyze(spectrum, edge=m["edge"], structure=m["structure"], lowloss=lowloss)
    except InputError as exc:
        row.update(refused=str(exc))
    except Exception as exc:  # noqa: BLE001 - a benchmark reports faults, it does not stop
        row.update(refused=f"FAULT {type(exc).__name__}: {exc}")
    else:
        row.update(shell=res["shells"][0] if res["shells"] else None,
                   undetermined=(res.get("undetermined_shells") or [None])[0],
                   k_range=res["k_range"], mode=res.get("fit_mode"), e0_shift=res.get("e0_shift"))
    row["seconds"] = time.perf_counter() - t0
    return row


def fmt_row(r) -> str:
    t = r["truth"]
    head = f"{r['material']:<12s} {r['cond']:<22s} {r['cls']:<12s}"
    if "refused" in r:
        return f"{head} refused: {r['refused'][:80]}"
    s = r["shell"]
    if s is None:
        u = r["undetermined"]
        return f"{head} undetermined R {u['r']:.3f}+-{u['r_err']:.3f} (true {t['r']:.3f})"
    dr = s["r"] - t["r"]
    n_err = "fixed" if s["n_err"] is None else f"{s['n_err']:4.1f}"
    ok_n = "" if s["n_err"] is None else ("ok" if abs(s["n"] - t["n"]) <= s["n_err"] else "X ")
    ok_s = "ok" if abs(s["sigma2"] - t["sigma2"]) <= s["sigma2_err"] else "X "
    ok_r = "ok" if abs(dr) <= 2 * s["r_err"] else "X "
    return (f"{head} k {r['k_range'][0]:4.1f}-{r['k_range'][1]:4.1f} {r['mode']:<7s} "
            f"R {s['r']:.3f}+-{s['r_err']:.3f} (true {t['r']:.3f}, dR {dr:+.3f} {ok_r}) "
            f"N {s['n']:5.1f}+-{n_err} ({t['n']:.0f} {ok_n}) "
            f"s2 {s['sigma2']:.4f}+-{s['sigma2_err']:.4f} ({t['sigma2']:.4f} {ok_s}) {r['seconds']:.0f}s")


def summarise(rows) -> list[str]:
    out = []
    for cls in ("clean", "thick+LL", "plural-noLL", "low-counts", "xas"):
        sel = [r for r in rows if r["cls"] == cls]
        if not sel:
            continue
        ans = [r for r in sel if r.get("shell")]
        if not ans:
            out.append(f"{cls:<12s} {len(sel):3d} cases, none answered")
            continue
        dr = [r["shell"]["r"] - r["truth"]["r"] for r in ans]
        honest = [abs(d) <= 2 * r["shell"]["r_err"] for d, r in zip(dr, ans)]
        within02 = [abs(d) <= 0.02 for d in dr]
        n_rows = [r for r in ans if r["shell"]["n_err"] is not None]
        n_ok = [abs(r["shell"]["n"] - r["truth"]["n"]) <= r["shell"]["n_err"] for r in n_rows]
        s_ok = [abs(r["shell"]["sigma2"] - r["truth"]["sigma2"]) <= r["shell"]["sigma2_err"] for r in ans]
        n_ratio = [r["shell"]["n"] / r["truth"]["n"] for r in n_rows]
        out.append(f"{cls:<12s} {len(sel):3d} cases, answered {len(ans):3d}; median dR {statistics.median(dr):+.3f}, "
                   f"median |dR| {statistics.median(np.abs(dr)):.3f} A; |dR|<=0.02: {np.mean(within02):.0%}; "
                   f"|dR|<=2 r_err: {np.mean(honest):.0%}; N within err: "
                   f"{(np.mean(n_ok) if n_ok else float('nan')):.0%} ({len(n_rows)} fitted, median N/N_true "
                   f"{(statistics.median(n_ratio) if n_ratio else float('nan')):.2f}); sigma2 within err: {np.mean(s_ok):.0%}; "
                   f"median r_err {statistics.median(r['shell']['r_err'] for r in ans):.3f}")
    return out


def cases(quick=False, only=None):
    out = []
    seed = 1000
    for material, m in MATERIALS.items():
        conds = XAS_CONDITIONS if m.get("kind") == "xas" else CONDITIONS
        if quick:
            conds = conds[:2] + conds[5:6]
        for cond in conds:
            seed += 17
            if only and only not in f"{material} {cond[0]}":
                continue
            out.append((material, cond, seed))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="3 conditions per material")
    ap.add_argument("--only", default=None, help="only cases whose 'material condition' contains this")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    todo = cases(args.quick, args.only)
    # warm the FEFF cache once in this process (the workers then read it from disk)
    from exelfs.pipeline.plan import FEFF_RMAX
    from exelfs.edges.tables import parse_edge
    from exelfs.theory import feff_paths

    for m in MATERIALS.values():
        el, sh = parse_edge(m["edge"])
        feff_paths(m["structure"], el, sh, rmax=FEFF_RMAX)
        feff_paths(m["structure"], el, sh, rmax=SIM_RMAX)
    t0 = time.perf_counter()
    rows = []
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            for row in pool.map(run_case, todo):
                print(fmt_row(row), flush=True)
                rows.append(row)
    else:
        for c in todo:
            row = run_case(c)
            print(fmt_row(row), flush=True)
            rows.append(row)
    print()
    for line in summarise(rows):
        print(line)
    print(f"\n{len(rows)} cases in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
