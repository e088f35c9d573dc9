"""The networks against the classical fit: synthetic calibration, real spectra, speed, prior independence.

Prints one report of markdown tables:
1. architectures x input modes (raw / windowed) trained on the same synthetic data (NiO O K EELS and Cu K
   X-ray): MAE of R, N, sigma2 per shell and 1/2-sigma coverage on held-out synthetic spectra, then
   their first-shell answers on the real spectra of those two edges;
2. the default network (shipped or trained on demand) on every real shared spectrum (edge and structure
   from MANIFEST), next to the fit on the same extracted chi(k): |dR1|, r_err, answered, |dR1| <= 2 r_err,
   N1 and sigma2_1, the reconstruction R-factor and the unseen-spectrum flag;
3. per-spectrum time of the network and of the fit, and on-demand training time;
4. prior independence: the lattice of Cu, Ni, Fe and NiO scaled by -4 % and +4 % (networks trained on
   demand for each), how far R1 moves relative to the prior's shift.

Usage: nice python benchmarks/nn_accuracy.py [--quick] [1] [2] [4]   (needs ../shared/data/real; sections
1, 2 and 4 by default, --quick skips 4; NN_BENCH_EDGES=1 compares the designs on NiO O K only).
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"
LOWLOSS = {"eels_hBN_BK_NK_SI200_HLmulti_02_cal.dm3": "eels_hBN_lowloss_LL_02_cal.msa"}
DESIGNS = {  # the training budget each design gets in the comparison (the seed MLP is 4M parameters)
    "ensemble_mlp": {"samples": 20000, "epochs": 12},
    "seed_cnn": {"samples": 20000, "epochs": 12, "batch": 256},
    "seed_mlp": {"samples": 8000, "epochs": 3, "batch": 128},
}
COMPARE = [("NiO", "O_K", "eels"), ("Cu", "Cu_K", "xas")][: int(os.environ.get("NN_BENCH_EDGES", "2"))]
TIMED_FITS = 4  # the fit is timed on the first spectra only (it takes tens of seconds each)
PRIOR = [("Cu", "Cu_K", "xas_Cu_K_foil_rt_2016.xdi"), ("Ni", "Ni_K", "xas_Ni_K_foil_rt.xdi"),
         ("Fe", "Fe_K", "xas_Fe_K_foil_rt_2016.xdi"), ("NiO", "O_K", "eels_NiO_NiL_OK_atlas.msa")]


def cases():
    entries = json.loads((REAL / "MANIFEST.json").read_text())["spectra"]
    out = []
    for m in entries:
        if m["kind"] != "eels-processed" and m.get("structure"):
            out += [(m, edge) for edge in m["shells"]]
    return out


def load(m):
    from exelfs.io import read_spectrum

    data = read_spectrum(REAL / m["file"])
    low = read_spectrum(REAL / LOWLOSS[m["file"]]) if m["file"] in LOWLOSS else None
    return data, low


def first(res):
    return res.shells[0] if res.shells else None


def row_stats(rows):
    ans = [r for r in rows if r["s"]]
    dev = [abs(r["s"]["r"] - r["ref"]) for r in ans]
    ok = [abs(r["s"]["r"] - r["ref"]) <= 2 * r["s"]["r_err"] for r in ans]
    return {"median": statistics.median(dev) if dev else float("nan"), "answered": f"{len(ans)}/{len(rows)}",
            "honest": f"{sum(ok)}/{len(ok)}"}


def synthetic_and_designs():
    """Section 1: every design and input mode on the same synthetic data, then on the real spectra."""
    from exelfs.nn import default_config, train
    from exelfs.pipeline import make_plan, run
    from exelfs.theory import feff_paths

    print("\n## 1. Designs x input modes (held-out synthetic data, then the real spectra of the same edges)\n")
    print("| edge | design | input | train s | R1 MAE | N1 MAE | s2_1 MAE | R2 MAE | cov 1s (R1,N1,s2_1) | "
          "cov 2s (R1,N1,s2_1) | real: median dR1 | answered | dR1<=2err |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    all_cases = cases()
    for structure, edge, kind in COMPARE:
        element, shell = edge.split("_")
        paths = feff_paths(structure, element, shell, rmax=5.0)
        real = [(m, e) for m, e in all_cases if e == edge and m["structure"] == structure]
        for design, budget in DESIGNS.items():
            for mode in ("raw", "windowed"):
                cfg = default_config(structure, edge, kind, architecture=design, input_mode=mode, **budget)
                t0 = time.perf_counter()
                model = train(paths, cfg, l2_shift_ev=cfg.l2_shift_ev, progress=False)
                secs = time.perf_counter() - t0
                rows = []
                for m, e in real:
                    data, low = load(m)
                    plan = make_plan(data, edge=e, structure=structure)
                    plan.__dict__["_nn_model"] = model
                    res = run(plan, data, lowloss=low, method="nn")
                    rows.append({"s": first(res), "ref": m["shells"][e][0]["r"]})
                sc = model.meta["scores"]
                g = lambda n, k: sc[n][k] if n in sc else float("nan")  # noqa: E731
                st = row_stats(rows)
                print(f"| {edge} {structure} | {design} | {mode} | {secs:.0f} | {g('r1', 'mae'):.4f} | "
                      f"{g('n1', 'mae'):.2f} | {g('sigma2_1', 'mae'):.4f} | {g('r2', 'mae'):.4f} | "
                      f"{g('r1', 'coverage_1sigma'):.3f}, {g('n1', 'coverage_1sigma'):.3f}, "
                      f"{g('sigma2_1', 'coverage_1sigma'):.3f} | {g('r1', 'coverage_2sigma'):.3f}, "
                      f"{g('n1', 'coverage_2sigma'):.3f}, {g('sigma2_1', 'coverage_2sigma'):.3f} | "
                      f"{st['median']:.3f} | {st['answered']} | {st['honest']} |", flush=True)


def real_spectra():
    """Section 2 and 3: the default network and the fit on every real spectrum; times."""
    from exelfs.pipeline import make_plan, run
    from exelfs.pipeline.methods import get_method
    from exelfs.pipeline.run import _extract

    print("\n## 2. Default network (ensemble_mlp, windowed) next to the fit on the real spectra\n")
    print("| file | edge | ref R1 | nn R1 | nn r_err | nn |dR1| | fit R1 | fit r_err | fit |dR1| | nn N1 | fit N1 | "
          "nn s2_1 | fit s2_1 | recon R-factor | nn status | nn s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = {"xray": {"nn": [], "fit": []}, "eels": {"nn": [], "fit": []}}
    times, train_times = {"nn": [], "fit": []}, []
    for m, edge in cases():
        family = "xray" if m["kind"].startswith(("xas", "chi")) else "eels"
        data, low = load(m)
        ref = m["shells"][edge][0]["r"]
        try:
            plan = make_plan(data, edge=edge, structure=m["structure"])
            t0 = time.perf_counter()
            plan.paths
            from exelfs.pipeline.methods import _nn_model

            _nn_model(plan)
            notes = plan.__dict__.get("_nn_notes", [])
            if any("on demand" in n for n in notes):
                train_times.append(time.perf_counter() - t0)
            both = run(plan, data, lowloss=low, method="both")
        except Exception as exc:  # noqa: BLE001 - a refused spectrum is a row of the table
            print(f"| {m['file']} | {edge} | {ref:.3f} | refused: {str(exc)[:80]} |")
            for meth in ("nn", "fit"):
                rows[family][meth].append({"s": None, "ref": ref})
            continue
        nn, fit = both.parts["nn"], both.parts["fit"]
        chi_input, _ = _extract(plan, data.summed() if getattr(data, "nav_shape", None) else data, low,
                                plan.choices.copy(), [])
        for meth in ("nn", "fit") if len(times["fit"]) < TIMED_FITS else ("nn",):
            t0 = time.perf_counter()
            get_method(meth)(plan, chi_input)
            times[meth].append(time.perf_counter() - t0)
        a, b = first(nn), first(fit)
        rows[family]["nn"].append({"s": a, "ref": ref})
        rows[family]["fit"].append({"s": b, "ref": ref})
        f = lambda s, k, fmt: format(s[k], fmt) if s and s.get(k) is not None else "-"  # noqa: E731
        d = lambda s: f"{abs(s['r'] - ref):.3f}" if s else "-"  # noqa: E731
        status = "answered" if a else (nn.undetermined_shells[0]["reason"][:90] if nn.undetermined_shells else "none")
        rf = nn.stats.get("reconstruction_r_factor")
        print(f"| {m['file']} | {edge} | {ref:.3f} | {f(a, 'r', '.3f')} | {f(a, 'r_err', '.3f')} | {d(a)} | "
              f"{f(b, 'r', '.3f')} | {f(b, 'r_err', '.3f')} | {d(b)} | {f(a, 'n', '.1f')} | {f(b, 'n', '.1f')} | "
              f"{f(a, 'sigma2', '.4f')} | {f(b, 'sigma2', '.4f')} | {'-' if rf is None else format(rf, '.3f')} | "
              f"{status} | {times['nn'][-1]:.3f} |", flush=True)
    print("\n| data | method | median |dR1| | answered | |dR1| <= 2 r_err |")
    print("|---|---|---|---|---|")
    for family, per in rows.items():
        for meth, rr in per.items():
            st = row_stats(rr)
            print(f"| {family} | {meth} | {st['median']:.3f} | {st['answered']} | {st['honest']} |")
    print("\n## 3. Time\n")
    print(f"- per spectrum (chi(k) given): network {np.median(times['nn']) * 1e3:.0f} ms (median of "
          f"{len(times['nn'])}), fit {np.median(times['fit']):.1f} s (median of the first {len(times['fit'])})")
    if train_times:
        print(f"- on-demand training (default recipe, this machine): median {np.median(train_times):.0f} s, "
              f"max {np.max(train_times):.0f} s over {len(train_times)} models")
    return train_times


def prior_independence():
    """Section 4: structures with the lattice scaled by -4 % / +4 %, networks trained for each."""
    from exelfs.io import read_spectrum
    from exelfs.pipeline import make_plan, run
    from exelfs.structure import reference_atoms

    print("\n## 4. Prior independence (lattice scaled; networks trained on demand for each)\n")
    print("| spectrum | edge | ref R1 | R1 (x0.96) | R1 (x1.00) | R1 (x1.04) | prior shift (A) | answer moves (A) | "
          "moves / shift | max |dR1| |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    manifest = {m["file"]: m for m in json.loads((REAL / "MANIFEST.json").read_text())["spectra"]}
    for structure, edge, file in PRIOR:
        ref = manifest[file]["shells"][edge][0]["r"]
        data = read_spectrum(REAL / file)
        answers = []
        for f in (0.96, 1.0, 1.04):
            atoms = reference_atoms(structure)
            if f != 1.0:
                atoms.set_cell(atoms.cell * f, scale_atoms=True)
            res = run(make_plan(data, edge=edge, structure=atoms), data, method="nn")
            s = first(res) or (res.undetermined_shells[0] if res.undetermined_shells else None)
            answers.append(s["r"] if s else float("nan"))
        shift = 0.08 * ref
        move = answers[2] - answers[0]
        print(f"| {file} | {edge} | {ref:.3f} | {answers[0]:.3f} | {answers[1]:.3f} | {answers[2]:.3f} | "
              f"{shift:.3f} | {move:+.3f} | {move / shift:+.2f} | {max(abs(a - ref) for a in answers):.3f} |",
              flush=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not (REAL / "MANIFEST.json").is_file():
        print(f"real spectra not found at {REAL}", file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    sections = [a for a in argv if a.isdigit()] or ["1", "2", "4"]
    if "--quick" in argv:
        sections = [s for s in sections if s != "4"]
    if "2" in sections:
        real_spectra()
    if "1" in sections:
        synthetic_and_designs()
    if "4" in sections:
        prior_independence()
    return 0


if __name__ == "__main__":
    sys.exit(main())
