"""Accuracy of the partial-RDF network (exelfs.nn.rdf, the default on-demand recipe).

Synthetic: held-out ensembles (seed apart from training) of each family of exelfs.simulate.ensembles
(crystal, disordered, anharmonic, small_particle) and snapshot ensembles of disordered clusters
(simulate.disorder, a distance model the network was not trained on), for an EELS case (NiO O K) and an
X-ray case (Cu K), with the training artefacts. Per family: median integrated absolute error (atoms,
int |g_pred - g_true| dr over 1-6 A, summed over kinds, and relative to the atoms in 1-6 A), per shell of
the first kind median |peak position error| (A) and |area error| (relative), and the band's coverage
(within 1 sigma, and within the band lo-hi meant to hold 95.4 %) over bins with signal.
Real: every single spectrum of a known crystal in the shared data (REAL_CASES) through analyze(method='nn',
rdf=True): first peak position vs the MANIFEST r, area vs n, and the unseen-spectrum flag (its
statistics 'spread' and 'recon' against their thresholds). Mismatched: each real spectrum's chi(k) fed to
a network of another material (the flag should fire).

Usage: python benchmarks/rdf_accuracy.py [synthetic] [real]   (real needs ../shared/data/real)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"
SYNTH = [("NiO", "O", "K", "eels"), ("Cu", "Cu", "K", "xas")]
REAL_CASES = [("xas_Cu_K_foil_rt_2016.xdi", "Cu_K"), ("xas_Cu_K_foil_10K.xdi", "Cu_K"),
              ("xas_Cu_K_foil_10K_reference_chi.chi", "Cu_K"), ("xas_Ni_K_foil_rt.xdi", "Ni_K"),
              ("xas_Fe_K_foil_rt_2016.xdi", "Fe_K"), ("xas_Pt_L3_foil_rt.xdi", "Pt_L3"), ("xas_Zn_K_foil_rt.xdi", "Zn_K"),
              ("eels_MgO_MgK_OK_atlas.msa", "O_K"), ("eels_MgO_MgK_OK_atlas.msa", "Mg_K"),
              ("eels_NiO_NiL_OK_atlas.msa", "O_K"), ("eels_NiO_NiL_OK_atlas.msa", "Ni_L3"),
              ("eels_SrTiO3_TiL_OK_pyTEMlib.dm3", "O_K"), ("eels_SrTiO3_TiL_OK_pyTEMlib.dm3", "Ti_L3"),
              ("eels_GaAs_GaL_AsL_atlas.msa", "Ga_L3"), ("eels_GaAs_GaL_AsL_atlas.msa", "As_L3"),
              ("eels_hBN_BK_NK_eelsdb_Bertoni.msa", "B_K"), ("eels_hBN_BK_NK_eelsdb_Bertoni.msa", "N_K"),
              ("eels_hBN_BK_deconv.msa", "B_K")]  # every single spectrum of a known crystal in the shared data
MISMATCH = {("xas_Fe_K_foil_rt_2016.xdi", "Fe_K"): ("Cu", "Cu", "K", "xas"),
            ("xas_Cu_K_foil_rt_2016.xdi", "Cu_K"): ("Fe", "Fe", "K", "xas"),
            ("eels_NiO_NiL_OK_atlas.msa", "O_K"): ("Cu", "Cu", "K", "xas"),
            ("eels_MgO_MgK_OK_atlas.msa", "O_K"): ("NiO", "O", "K", "eels")}
N_HELD = 300
N_SNAP = 40
N_PEAK = 60
SHELLS_SHOWN = 3


def _snapshot_inputs(model, paths, atoms, absorber, rng):
    from exelfs.nn.data import K_FINE, add_artefacts, features
    from exelfs.nn.rdf import _nuisances
    from exelfs.simulate.ensembles import snapshot_set

    chi, g = snapshot_set(atoms, absorber, paths, K_FINE, model.r, N_SNAP, rng, broadening=model.cfg.broadening)
    p = _nuisances(model.cfg, N_SNAP, rng)
    chi = add_artefacts((chi * p["s02"][:, None]).astype(np.float32), p, rng)
    x, _ = features(chi, p["kmin"], p["kmax"], model.rwin, "windowed")
    return x, g


def synthetic(case):
    from exelfs.nn.rdf import FAMILIES, FEFF_RMAX, coverage_scores, default_rdf_config, get_rdf_model, make_rdf_set
    from exelfs.nn.rdf import peak_table, shell_windows
    from exelfs.structure import reference_atoms
    from exelfs.theory import feff_paths

    spec, el, edge, kind = case
    paths = feff_paths(spec, el, edge, rmax=FEFF_RMAX)
    cfg = default_rdf_config(spec, f"{el}_{edge}", kind)
    t0 = time.perf_counter()
    model, notes = get_rdf_model(paths, cfg)
    print(f"\n## {spec} {el}_{edge} ({kind}): RDF network, {cfg.samples} samples x {cfg.epochs} epochs "
          f"({time.perf_counter() - t0:.0f} s incl. training if needed); kinds {model.kinds}; "
          f"calibration scale {np.round(model.scale, 3).tolist()}, band +-{np.round(model.band, 2).tolist()} sigma\n")
    windows = shell_windows(paths, model.kinds[0])[:SHELLS_SHOWN]
    head = " | ".join(f"{model.kinds[0]}{i + 1} {w[1]:.2f} A: |dr| (A), |dA|/A" for i, w in enumerate(windows))
    print(f"| family | n | IAE (atoms) | IAE / atoms | {head} | cov 1s | cov band |")
    print("|---|---|---|---|" + "---|" * len(windows) + "---|---|")
    rng = np.random.default_rng(9001)
    atoms = reference_atoms(spec)
    for fam in list(FAMILIES) + ["snapshots"]:
        if fam == "snapshots":
            x, g = _snapshot_inputs(model, paths, atoms, el, rng)
        else:
            s = make_rdf_set(paths, cfg, N_HELD, rng, families=[fam])
            x, g = s["x"], s["g"]
        mean, sigma = model.moments(x)
        iae = (np.abs(mean - g).sum(axis=-1) * cfg.r_step).sum(axis=1)
        total = (g.sum(axis=-1) * cfg.r_step).sum(axis=1)
        cov = coverage_scores(g, mean, sigma, model.band)
        cells = []
        truth, pred = peak_table(model.r, g[:, 0], windows), peak_table(model.r, mean[:, 0], windows)
        for w in range(len(windows)):
            t, q = truth[:, w], pred[:, w]
            ok = t[:, 1] > 0.5
            cells.append(f"{np.nanmedian(np.abs(q[ok, 0] - t[ok, 0])):.3f}, "
                         f"{np.nanmedian(np.abs(q[ok, 1] / t[ok, 1] - 1)):.2f}")
        print(f"| {fam} | {len(g)} | {np.median(iae):.1f} | {np.median(iae / total):.2f} | {' | '.join(cells)} | "
              f"{cov['coverage_1sigma']:.3f} | {cov['coverage_band']:.3f} |")
    print(f"\nscores at training (held-out mix of all families): {json.dumps(model.meta.get('scores'))}")
    peak_error_calibration(model, paths, cfg, rng)


def peak_error_calibration(model, paths, cfg, rng):
    """Do the peaks' quoted errors (exelfs.nn.rdf peak_errors) hold? N_PEAK held-out spectra of all families,
    each through predict (its own k range and noise): per shell of the first kind, the median quoted error,
    the median |error| and the fractions within 1 and 2 quoted errors, for the position and for the area
    as reported (n, bias corrected) and as g's integral (n_g); and how many of them the unseen flag (with
    thresholds at each spectrum's own conditions) wrongly flags."""
    from exelfs.nn.data import K_FINE
    from exelfs.nn.rdf import make_rdf_set, peak_table, shell_windows

    s = make_rdf_set(paths, cfg, N_PEAK, rng)
    windows = shell_windows(paths, model.kinds[0])[:SHELLS_SHOWN]
    truth = peak_table(model.r, s["g"][:, 0], windows)
    got, flagged = [], 0
    t0 = time.perf_counter()
    for i in range(N_PEAK):
        out = model.predict(paths, K_FINE, s["chi"][i], (s["p"]["kmin"][i], s["p"]["kmax"][i]))
        flagged += out["unseen"]
        got.append([[np.nan if p.get(key) is None else p[key] for key in ("r", "r_err", "n", "n_err", "n_g")]
                    for p in out["shells"][0]["peaks"][:SHELLS_SHOWN]])
    got = np.array(got, float)
    print(f"\nquoted peak errors on {N_PEAK} held-out spectra ({(time.perf_counter() - t0) / N_PEAK:.1f} s each; "
          f"flagged unseen: {flagged}):\n")
    print("| shell | area | r: quoted | r: median abs err | r within 1 / 2 quoted | area: quoted | "
          "area: median abs err | area within 1 / 2 quoted |")
    print("|---|---|---|---|---|---|---|---|")
    for w, (lo, ref, hi, n) in enumerate(windows):
        ok = np.isfinite(truth[:, w]).all(axis=1) & np.isfinite(got[:, w]).all(axis=1) & (truth[:, w, 1] > 0.5)
        er, en = got[ok, w, 1], got[ok, w, 3]
        dr = np.abs(got[ok, w, 0] - truth[ok, w, 0])
        for label, col in (("n (reported)", 2), ("area of g", 4)):
            dn = np.abs(got[ok, w, col] - truth[ok, w, 1])
            print(f"| {model.kinds[0]} {ref:.2f} A | {label} | {np.median(er):.3f} | {np.median(dr):.3f} | "
                  f"{np.mean(dr <= er):.2f} / {np.mean(dr <= 2 * er):.2f} | {np.median(en):.2f} | {np.median(dn):.2f} | "
                  f"{np.mean(dn <= en):.2f} / {np.mean(dn <= 2 * en):.2f} |")


def real():
    from exelfs.errors import InputError
    from exelfs.io import read_spectrum
    from exelfs.pipeline import analyze
    from exelfs.pipeline.rdf import peak_near

    manifest = {m["file"]: m for m in json.loads((REAL / "MANIFEST.json").read_text())["spectra"]}
    chis = {}
    print("\n## Real spectra: first RDF peak of the first shell's kind vs MANIFEST\n")
    print("| file | edge | kind | k range | peak r (A) | ref r | dr | area (N) | ref n | dA/n | band at peak | unseen | "
          "spread / thr | recon / thr | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("(peak r and area with their quoted errors; '(prior)' where the area is no better known than the prior)")
    for name, edge in REAL_CASES:
        entry = manifest[name]
        ref = entry["shells"][edge][0]
        t0 = time.perf_counter()
        try:
            res = analyze(read_spectrum(REAL / name), edge=edge, structure=entry["structure"], method="nn", rdf=True)
        except InputError as exc:
            print(f"| {name} | {edge} | refused: {str(exc)[:80]} |")
            continue
        rdf = res.rdf
        pk, answered = peak_near(rdf, ref["scatterer"], ref["r"])
        if not answered:
            print(f"| {name} | {edge} | {ref['scatterer']} | undetermined: {pk['reason']} |")
            continue
        r = np.asarray(rdf["r"])
        i = int(np.argmin(np.abs(r - pk["r"])))
        band = f"{rdf['lo'][ref['scatterer']][i]:.0f}-{rdf['hi'][ref['scatterer']][i]:.0f}"
        print(f"| {name} | {edge} | {ref['scatterer']} | {rdf['k_range'][0]:.1f}-{rdf['k_range'][1]:.1f} | "
              f"{pk['r']:.3f} ± {pk['r_err']:.3f} | {ref['r']:.3f} | {pk['r'] - ref['r']:+.3f} | "
              f"{pk['n']:.1f} ± {pk['n_err']:.1f}{' (prior)' if pk['n_prior_echoed'] else ''} | {ref['n']} | "
              f"{pk['n'] / ref['n'] - 1:+.2f} | {band} | {_flag_cells(rdf)} | {time.perf_counter() - t0:.0f} |")
        chis[(name, edge)] = res
    return chis


def _flag_cells(rdf) -> str:
    c = rdf["checks"]
    return (f"{'yes' if rdf['unseen'] else 'no'} | {c['spread']['statistic']:.2f} / {c['spread']['threshold']:.2f} | "
            f"{c['recon']['statistic']:.1f} / {c['recon']['threshold']:.1f}")


def mismatched(results):
    """Each real spectrum's chi(k) read by the RDF network of another material (MISMATCH): the flag's verdict."""
    from exelfs.nn.rdf import FEFF_RMAX, default_rdf_config, get_rdf_model
    from exelfs.theory import feff_paths

    print("\n## Real chi(k) fed to the network of another material\n")
    print("| file | network | unseen | spread / thr | recon / thr |")
    print("|---|---|---|---|---|")
    for (name, own_edge), (spec, el, edge, kind) in MISMATCH.items():
        res = results.get((name, own_edge))
        if res is None:
            continue
        paths = feff_paths(spec, el, edge, rmax=FEFF_RMAX)
        model, _ = get_rdf_model(paths, default_rdf_config(spec, f"{el}_{edge}", kind))
        rdf = model.predict(paths, res.arrays["k"], res.arrays["chi"], res.rdf["k_range"])
        print(f"| {name} | {spec} {el}_{edge} ({kind}) | {_flag_cells(rdf)} |")


def main(argv=None):
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    which = set(argv if argv is not None else sys.argv[1:]) or {"synthetic", "real"}
    if "synthetic" in which:
        for case in SYNTH:
            synthetic(case)
    if "real" in which:
        if not (REAL / "MANIFEST.json").is_file():
            print(f"real spectra not found at {REAL}", file=sys.stderr)
            return 1
        mismatched(real())
    return 0


if __name__ == "__main__":
    sys.exit(main())
