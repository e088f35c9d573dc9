"""Domain gap of the EELS forward model: is each real shared EELS spectrum inside the synthetic training
distribution, after the preprocessing a network sees?

    .venv/bin/python benchmarks/domain_gap.py FIGURE_DIR [--n 400] [--seed 0]

Cases: every (file, edge) of the shared EELS spectra with a structure and reference shells in MANIFEST.json
(as benchmarks/real_accuracy.py; the background-subtracted 'eels-processed' file is left out; a spectrum
image is summed). For each case N synthetic spectra are drawn from the training distribution of that
edge and structure: chi(k) from the structure's FEFF paths with the default Recipe ranges (deltar, sigma2,
N, S0^2, E0), recorded on the real spectrum's window and channel width, other elements of the structure
in the window, the real beam energy / collection angle where the file has them (200 kV / 20 mrad
otherwise), every other artefact drawn from its EELSConfig range. Two models:

- before: today's defaults (``EELSConfig()``: hydrogenic edges, full L1, no near-edge peaks), identical
  in distribution to the 772b3ed model (tests/test_simulate_batch.py);
- after:  ``training_config()`` (solid-state edges, white lines, small L1, near-edge nuisances).

Preprocessing, the same for real and synthetic spectra:

- direct: pre-edge power law fitted on [onset - 80, onset - 8] eV (less where the window starts later) and
  subtracted; the window onset - 10 .. onset + 250 eV (less where the data end) resampled at max(channel, 1)
  eV and divided by its mean.
- chi: the same background-subtracted signal J(E) on k = sqrt((E - e0)/KTOE), e0 the edge energy
  ``exelfs.extract.extract_chi`` finds on the real spectrum (the true onset plus calibration offset of a
  synthetic one), k from the k range extract_chi finds on the real spectrum (at least 2-8 1/A), minus a least-squares
  cubic B-spline in k with knots every pi/(2 rbkg), rbkg = 1 A (autobk's rule), divided by it, weighted
  by k^2 with 1 1/A Hann tapers. extract_chi itself takes ~10 s per spectrum, too slow for N synthetic ones:
  this cheap equivalent is applied to both, and the table gives its correlation with extract_chi's
  k^2 chi on the real spectrum (``corr``) as the check that it sees the same oscillation.

Distance: RMS difference of the preprocessed vectors. Ratio = (real's distance to its nearest synthetic
spectrum) / (95th percentile of the synthetic spectra's nearest-neighbour distances among themselves):
<= 1 means inside the training distribution. 'pct': the percentage of synthetic nearest-neighbour
distances below the real's (50: as typical as a synthetic spectrum). Figures: FIGURE_DIR/<file>_<edge>.png,
real against its three nearest synthetic spectra in both modes, before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from exelfs.units import KTOE  # eV A^2: E = KTOE k^2

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("EXELFS_SHARED", ROOT.parent / "shared")) / "data" / "real"
DIRECT_SPAN = 250.0  # eV past the onset in direct mode
RBKG = 1.0  # angstrom


def cases(entries):
    out = []
    for m in entries:
        if m["kind"] in ("eels", "eels-spectrum-image") and m.get("structure"):
            out += [(m, edge) for edge in m["shells"]]
    return out


def real_spectrum(path):
    """Energy (eV) and counts of a real spectrum (a spectrum image summed; leading empty channels cut)."""
    from exelfs.io import read_spectrum

    sp = read_spectrum(path).summed()
    e, y = np.asarray(sp.energy, float), np.asarray(sp.intensity, float)
    first = int(np.argmax(y > 0))
    return sp, e[first:], y[first:]


def power_law_subtracted(energy, counts, onset):
    """counts (n, nE) minus the pre-edge power law A E^-r fitted (log-log least squares) per row."""
    lo = max(onset - 80.0, energy[0] + 2.0)
    sel = (energy >= lo) & (energy <= onset - 8.0)
    if sel.sum() < 4:
        sel = np.arange(energy.size) < max(4, int(np.searchsorted(energy, onset)) - 2)
    x = np.log(energy[sel])
    y = np.log(np.maximum(counts[:, sel], 1.0))
    xm, ym = x.mean(), y.mean(axis=1, keepdims=True)
    slope = ((x - xm) * (y - ym)).sum(axis=1, keepdims=True) / ((x - xm) ** 2).sum()
    bkg = np.exp(ym + slope * (np.log(energy)[None, :] - xm))
    return counts - bkg


def interp_rows(x_new, x, rows):
    """Linear interpolation of every row of rows (n, len(x)) at x_new (x increasing)."""
    j = np.clip(np.searchsorted(x, x_new) - 1, 0, x.size - 2)
    f = np.clip((x_new - x[j]) / (x[j + 1] - x[j]), 0.0, 1.0)
    return rows[:, j] * (1 - f) + rows[:, j + 1] * f


def direct_grid(energy, onset, width):
    """Energies (eV) of the direct-mode window: onset - 10 .. onset + DIRECT_SPAN (or the data end)."""
    return np.arange(onset - 10.0, min(onset + DIRECT_SPAN, energy[-1] - 2.0), max(width, 1.0))


def direct_features(energy, counts, onset, grid):
    v = interp_rows(grid, energy, power_law_subtracted(energy, counts, onset))
    return v / np.abs(v).mean(axis=1, keepdims=True).clip(1e-30)


def chi_features(energy, counts, onset, k_range, e0):
    """k (1/A) and k^2 chi(k) (n, nk) of every row; e0 (n,) eV: the edge energy of each row."""
    from scipy.interpolate import BSpline

    j = power_law_subtracted(energy, counts, onset)
    k = np.arange(k_range[0], k_range[1] + 1e-9, 0.05)
    jk = np.stack([np.interp(e + KTOE * k**2, energy, row) for e, row in zip(e0, j)])
    step = np.pi / (2.0 * RBKG)
    inner = np.arange(k[0], k[-1], step)[1:]
    knots = np.concatenate([[k[0]] * 4, inner, [k[-1]] * 4])
    basis = BSpline.design_matrix(k, knots, 3).toarray()
    coef, *_ = np.linalg.lstsq(basis, jk.T, rcond=None)
    smooth = (basis @ coef).T
    chi = (jk - smooth) / np.where(np.abs(smooth) > 1e-30, smooth, 1e-30)
    win = np.ones_like(k)
    for edge_k, sign in ((k[0], 1), (k[-1], -1)):
        d = np.clip(sign * (k - edge_k), 0.0, 1.0)
        win *= np.sin(0.5 * np.pi * d) ** 2
    return k, chi * k**2 * win


def nn_ratio(real_vec, synth):
    """(real's distance to the nearest synthetic row, synthetic NN 95th percentile, index order by distance,
    fraction of synthetic NN distances below the real's)."""
    d_real = np.sqrt(((synth - real_vec[None, :]) ** 2).mean(axis=1))
    sq = (synth**2).sum(1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * synth @ synth.T, 0.0, None) / synth.shape[1]
    np.fill_diagonal(d2, np.inf)
    nn = np.sqrt(d2.min(axis=1))
    p95 = float(np.percentile(nn, 95))
    return float(d_real.min()), p95, np.argsort(d_real), float((nn <= d_real.min()).mean())


def synthetic(entry, edge, energy, width, sp, n, seed, model):
    from exelfs.edges.tables import edge_entry, parse_edge
    from exelfs.simulate import EELSConfig, eels_batch, training_config
    from exelfs.simulate.dataset import Recipe, draw_parameters
    from exelfs.simulate.exafs import chi_from_paths, shell_to_path_params, standard_k
    from exelfs.theory import feff_paths, group_shells

    element, shell = parse_edge(edge)
    onset = edge_entry(element, shell).energy
    feff_edge = "K" if shell == "K" else "L3"
    paths = feff_paths(entry["structure"], element, edge=feff_edge, rmax=5.0)
    shells = group_shells(paths)
    rng = np.random.default_rng(seed)
    pars = draw_parameters(Recipe(), shells, n, rng)
    k = standard_k(20.0)
    chi = chi_from_paths(paths, k, shell_to_path_params(paths, pars, shells), dtype=np.float32)
    others = tuple(sorted({el for el in re.findall(r"[A-Z][a-z]?", entry["structure"]) if el != element}))
    kw = dict(edge=f"{element}_{shell}", e_before=onset - energy[0] + width, e_after=energy[-1] - onset + width,
              channel_width=width, other_elements=others, lowloss=False,
              beam_energy_kev=sp.beam_energy_kev or 200.0, collection_mrad=sp.collection_mrad or 20.0)
    cfg = EELSConfig(**kw) if model == "before" else training_config(**kw)
    e_syn, counts, truth = eels_batch(k, chi, cfg, seed=seed + 1)
    return e_syn, counts.astype(float), truth["onset_ev"] + truth["calibration_offset"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figures", help="folder for the side-by-side figures (created)")
    ap.add_argument("--n", type=int, default=400, help="synthetic spectra per case and model")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (REAL / "MANIFEST.json").is_file():
        print(f"real spectra not found at {REAL}", file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exelfs.edges.tables import edge_entry, parse_edge
    from exelfs.errors import InputError
    from exelfs.extract import extract_chi

    figdir = Path(args.figures)
    figdir.mkdir(parents=True, exist_ok=True)
    entries = json.loads((REAL / "MANIFEST.json").read_text())["spectra"]
    rows = []
    t_start = time.perf_counter()
    for entry, edge in cases(entries):
        sp, energy, y = real_spectrum(REAL / entry["file"])
        element, shell = parse_edge(edge)
        onset = edge_entry(element, shell).energy
        width = float(np.median(np.diff(energy)))
        try:
            ex = extract_chi(sp, edge)
            k_range = (max(2.0, float(ex.k_range[0])), max(8.0, float(ex.k_range[1])))
            ref_k, ref_chi = np.asarray(ex.k), np.asarray(ex.chi) * np.asarray(ex.k) ** 2
            e0_real = float(ex.e0)
        except InputError as exc:
            k_range, ref_k, ref_chi, e0_real = (2.0, 8.0), None, None, onset
            print(f"{entry['file']} {edge}: extract_chi refused ({exc}); k range 2-8", file=sys.stderr)
        k_range = (k_range[0], min(k_range[1], np.sqrt(max(energy[-1] - 5.0 - onset, 1.0) / KTOE)))
        row = dict(file=entry["file"], edge=edge, k_range=k_range)
        kr, real_chi = chi_features(energy, y[None, :], onset, k_range, [e0_real])
        if ref_chi is not None:
            row["corr"] = float(np.corrcoef(real_chi[0], np.interp(kr, ref_k, ref_chi))[0, 1])
        grid = direct_grid(energy, onset, width)
        real_dir = direct_features(energy, y[None, :], onset, grid)
        fig, axes = plt.subplots(2, 2, figsize=(11, 7))
        for col, model in enumerate(("before", "after")):
            e_syn, counts, e0_syn = synthetic(entry, edge, energy, width, sp, args.n, args.seed, model)
            _, syn_chi = chi_features(e_syn, counts, onset, k_range, e0_syn)
            syn_dir = direct_features(e_syn, counts, onset, grid)
            for mode, real_v, syn_v, x, ax in (("chi", real_chi[0], syn_chi, kr, axes[0, col]),
                                               ("direct", real_dir[0], syn_dir, grid, axes[1, col])):
                d, p95, order, pct = nn_ratio(real_v, syn_v)
                row[f"{mode}_{model}"] = d / p95
                row[f"{mode}_{model}_pct"] = pct
                for i in order[:3]:
                    ax.plot(x, syn_v[i], lw=0.8, alpha=0.7)
                ax.plot(x, real_v, "k", lw=1.3, label="real")
                ax.set_title(f"{mode}, {model}: ratio {d / p95:.2f}", fontsize=9)
                ax.set_xlabel("k (1/A)" if mode == "chi" else "energy loss (eV)")
        axes[0, 0].legend(fontsize=8)
        fig.suptitle(f"{entry['file']} {edge}: real (black) and its 3 nearest synthetic spectra")
        fig.tight_layout()
        fig.savefig(figdir / f"{Path(entry['file']).stem}_{edge}.png", dpi=90)
        plt.close(fig)
        rows.append(row)
        print(f"  {entry['file']} {edge}: done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)

    print(f"\nDomain-gap ratio (real's nearest-synthetic distance / synthetic 95th-percentile NN distance; "
          f"<= 1 inside), N = {args.n} per case and model\n")
    print("| file | edge | k range | corr | chi before | chi after | direct before | direct after | "
          "chi pct after | direct pct after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        corr = f"{r['corr']:.2f}" if "corr" in r else "-"
        print(f"| {r['file']} | {r['edge']} | {r['k_range'][0]:.1f}-{r['k_range'][1]:.1f} | {corr} | "
              f"{r['chi_before']:.2f} | {r['chi_after']:.2f} | {r['direct_before']:.2f} | {r['direct_after']:.2f} | "
              f"{100 * r['chi_after_pct']:.0f} | {100 * r['direct_after_pct']:.0f} |")
    inside = sum(r["chi_after"] <= 1.0 for r in rows)
    print(f"\nchi mode after: {inside} of {len(rows)} inside the synthetic 95th percentile; direct mode after: "
          f"{sum(r['direct_after'] <= 1.0 for r in rows)} of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
