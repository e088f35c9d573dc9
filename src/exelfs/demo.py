"""``exelfs demo``: the whole analysis on an example spectrum that exelfs generates itself.

The example is MgO measured at the Mg K edge (1305 eV) with the O K edge (532 eV) in the same window:
FEFF paths of rocksalt MgO, chi(k) with known shell parameters, and the EELS forward model (hydrogenic
edges, power-law background, plural scattering at t/lambda 0.3, resolution, Poisson noise, a calibration
offset). The demo then identifies the edges, proposes the structure, extracts chi(k), fits the shells
(with the low-loss spectrum for deconvolution), runs the neural network on the same chi(k), prints
both next to the known answer, and draws the partial RDF around Mg from the RDF network (rdf.png).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20261123
EDGE = "Mg_K"
STRUCTURE = "MgO"
ABSORBER = "Mg"
# true parameters of the example (first two shells: O at 2.106, Mg at 2.978 angstrom in MgO)
TRUE = {"s02": 0.9, "e0": 1.5, "deltar": [0.01, 0.0], "sigma2": [0.0055, 0.0080]}


def make_example():
    """The example: (core-loss Spectrum, low-loss Spectrum, truth dict). Deterministic (fixed seed)."""
    from .simulate import EELSConfig, eels_spectrum
    from .simulate.exafs import chi_from_paths, shell_to_path_params, standard_k
    from .theory import feff_paths, group_shells

    paths = feff_paths(STRUCTURE, ABSORBER, edge="K", rmax=4.0)
    shells = group_shells(paths)[:2]
    k = standard_k(16.0)
    params = shell_to_path_params(paths, {"s02": TRUE["s02"], "e0": TRUE["e0"],
                                          "deltar": np.array(TRUE["deltar"]),
                                          "sigma2": np.array(TRUE["sigma2"])}, shells=shells)
    chi = chi_from_paths(paths, k, params)
    config = EELSConfig(edge=EDGE, e_before=850.0, e_after=700.0, beam_energy_kev=200.0,
                        collection_mrad=20.0, channel_width=0.5, other_elements=("O",),
                        other_edge_weight=1.0, t_lambda=0.3, plasmon_energy=22.0, plasmon_width=6.0,
                        resolution_fwhm=1.0, counts=3e5, calibration_offset=1.0, background_r=3.0,
                        background_ratio=4.0, gain_steps=False)
    core, low = eels_spectrum(k, chi, config, seed=SEED, title="exelfs demo: MgO Mg K (synthetic)")
    truth = [{"scatterer": s["scatterer"], "r": round(s["reff"] + dr, 3), "n": int(round(s["n"])),
              "sigma2": s2} for s, dr, s2 in zip(shells, TRUE["deltar"], TRUE["sigma2"])]
    return core, low, truth


def run_demo(out_dir="exelfs-demo") -> dict:
    """Run identify, structure, extraction and shell fit on the example; write figures to out_dir."""
    from .pipeline import analyze, format_result, make_plan, run
    from .pipeline.rdf import peak_near
    from .edges import format_identification, identify
    from .structure import format_structure, render_cluster, structure_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    core, low, truth = make_example()
    core.to_hyperspy().save(out / "example_coreloss.hspy", overwrite=True)
    low.to_hyperspy().save(out / "example_lowloss.hspy", overwrite=True)
    print(f"example: {core.title}, {core.energy[0]:.0f}-{core.energy[-1]:.0f} eV, "
          f"{core.channel_width:g} eV/channel (saved in {out}/example_coreloss.hspy)\n")

    print("== 1. edges ==")
    ident = identify(core)
    print(format_identification(ident), "\n")

    print("== 2. structure ==")
    struct = structure_report(STRUCTURE, absorber=ABSORBER)
    print(format_structure(struct))
    images = [render_cluster(STRUCTURE, out / f"structure.{ext}", absorber=ABSORBER) for ext in ("png", "html")]
    print(f"3D views: {', '.join(str(i) for i in images)}\n")

    print("== 3. chi(k), Fourier transform and shell fit ==")
    result = analyze(core, edge=EDGE, structure=STRUCTURE, lowloss=low, method="fit",
                     report_dir=out / "report")
    print(format_result(result), "\n")

    print("== 4. the neural network on the same spectrum ==")
    network = run(make_plan(core, edge=EDGE, structure=STRUCTURE), core, lowloss=low, method="nn", rdf=True)
    print(format_result(network), "\n")

    print("== 5. against the known answer ==")
    print(f"{'shell':<8}{'method':<9}{'R true':>8}{'R':>16}{'N true':>8}{'N':>14}{'sigma2 true':>13}{'sigma2':>18}")
    for name, res in (("fit", result), ("network", network)):
        for t, s in zip(truth, res.shells):
            n = "" if s.get("n") is None else f"{s['n']:>8.1f} ± {s.get('n_err') or 0:<4.1f}"
            print(f"{t['scatterer']:<8}{name:<9}{t['r']:>8.3f}{s['r']:>9.3f} ± {s.get('r_err') or 0:<5.3f}"
                  f"{t['n']:>8d}{n:>14}{t['sigma2']:>13.4f}{s['sigma2']:>10.4f} ± {s.get('sigma2_err') or 0:.4f}")
        if not res.shells:
            print(f"{'-':<8}{name:<9}no answer: {res.undetermined_shells[0]['reason'] if res.undetermined_shells else ''}")
    print("\n== 6. partial RDF around Mg (network, ~95 % band) ==")
    print(f"{'shell':<8}{'R true':>8}{'peak r':>17}{'N true':>8}{'area':>14}")
    for t in truth:
        peak, answered = peak_near(network.rdf, t["scatterer"], t["r"])
        if not answered:
            print(f"{t['scatterer']:<8}{t['r']:>8.3f}  undetermined: {peak['reason']}")
            continue
        print(f"{t['scatterer']:<8}{t['r']:>8.3f}{peak['r']:>9.3f} ± {peak['r_err']:.3f}{t['n']:>8d}"
              f"{peak['n']:>8.1f} ± {peak['n_err']:.1f}")
    from .pipeline.rdf_figure import rdf_figure

    rdf_figure(network).savefig(out / "rdf.png", dpi=120)
    print(f"RDF panel: {out / 'rdf.png'}")
    print(f"\nreport: {out / 'report'}")
    return {"identification": ident, "structure": struct, "analysis": result, "network": network, "truth": truth}
