"""Generality sweep of edge detection and identification on synthetic EELS spectra.

Builds (material, edges) cases across 100 eV - 3 keV with the project's own forward model
(:func:`exelfs.simulate.eels.eels_spectrum`: hydrogenic K/L edges, arctan M edges, white lines for 'Sharp
peak' edges, power-law background, plural scattering, resolution, Poisson noise, calibration offset),
each at channel widths 0.1, 0.5, 1 and 2 eV with seeded random counts (1e3-1e6 per eV below the onset),
background ratio, thickness, resolution and calibration offset (+-3 eV), runs :func:`exelfs.edges.identify`
and prints per family of edges and channel width:

* top-1: fraction of spectra where a detected edge has the absorber's element+edge as best candidate;
* 2nd: the same for the first major edge of the other elements of the material inside the window;
* |dE|: median absolute onset error of the absorber edge, eV (detected onset minus tabulated onset plus
  the calibration offset, i.e. where the edge starts on the recorded axis); also the 90th percentile;
* false: fraction of spectra with a confident (score >= 0.5) best candidate of an element not in the
  material; and on bare power laws with noise (no edge), the fraction with any confident edge.

Besides the forward model's own randomness, a quarter of the spectra get its serial-detector gain steps
(+-5 % at 3 segment boundaries) and half a point-spread of the counts over 0.7-1.5 channels.

Run:  .venv/bin/python benchmarks/identify_sweep.py [--quick] [--failures] [--jobs 2] [--seeds 2]
Runs in well under a minute (2 seeds, 2 cores); ``--quick`` only the 1 and 0.5 eV channels.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

WIDTHS = (0.1, 0.5, 1.0, 2.0)

# (family, absorber edge, other elements of the material)
CASES = [
    # light-element K edges
    ("K 100-700", "B_K", ("N",)), ("K 100-700", "C_K", ("Ti",)), ("K 100-700", "C_K", ("Si",)),
    ("K 100-700", "N_K", ("B",)), ("K 100-700", "N_K", ("Ti",)), ("K 100-700", "N_K", ("Ga",)),
    ("K 100-700", "O_K", ("Mg",)), ("K 100-700", "O_K", ("Ni",)), ("K 100-700", "O_K", ("Sr", "Ti")),
    ("K 100-700", "F_K", ("Ca",)), ("K 100-700", "F_K", ("Li",)),
    # K edges 1-2.5 keV
    ("K 1-2.5k", "Na_K", ("Cl",)), ("K 1-2.5k", "Mg_K", ("O",)), ("K 1-2.5k", "Al_K", ("O",)),
    ("K 1-2.5k", "Al_K", ()), ("K 1-2.5k", "Si_K", ("O",)), ("K 1-2.5k", "Si_K", ("N",)),
    ("K 1-2.5k", "P_K", ("Ga",)), ("K 1-2.5k", "S_K", ("Zn",)),
    # 3d transition metal L2,3 (white lines)
    ("L3 3d", "Ca_L3", ("O",)), ("L3 3d", "Sc_L3", ("O",)), ("L3 3d", "Ti_L3", ("O",)), ("L3 3d", "Ti_L3", ("N",)),
    ("L3 3d", "V_L3", ("O",)), ("L3 3d", "Cr_L3", ("O",)), ("L3 3d", "Mn_L3", ("O",)),
    ("L3 3d", "Fe_L3", ("O",)), ("L3 3d", "Fe_L3", ()), ("L3 3d", "Co_L3", ("O",)), ("L3 3d", "Ni_L3", ("O",)),
    ("L3 3d", "Cu_L3", ("O",)), ("L3 3d", "Cu_L3", ()), ("L3 3d", "Zn_L3", ("O",)),
    # 4p and 4d L3 (delayed)
    ("L3 4p", "Ga_L3", ("As",)), ("L3 4p", "Ga_L3", ("N",)), ("L3 4p", "Ge_L3", ("O",)), ("L3 4p", "As_L3", ("Ga",)),
    ("L3 4d", "Sr_L3", ("Ti", "O")), ("L3 4d", "Y_L3", ("O",)), ("L3 4d", "Zr_L3", ("O",)),
    ("L3 4d", "Mo_L3", ()),
    # M4,5 edges
    ("M5 4f", "La_M5", ("O",)), ("M5 4f", "Ce_M5", ("O",)), ("M5 4f", "Nd_M5", ("O",)), ("M5 4f", "Gd_M5", ("O",)),
    ("M5 4f", "Ba_M5", ("Ti", "O")),
    ("M5 4d/5p", "In_M5", ("O",)), ("M5 4d/5p", "Sn_M5", ("O",)), ("M5 4d/5p", "Sb_M5", ("O",)),
    ("M5 4d/5p", "Ag_M5", ()), ("M5 4d/5p", "Pd_M5", ()),
    # low energy L2,3
    ("L3 ~100", "Si_L3", ()), ("L3 ~100", "Si_L3", ("O",)), ("L3 ~100", "Al_L3", ("O",)),
    # less common elements whose edges coincide with those of common ones (table energies within ~15 eV:
    # Pr M5 / Cu L3, Sm M5 / Na K, Eu M5 / Ga L3, Tb M5 / Ge L3, Dy M5 / Mg K, W M5 / Si K), and the
    # common ones with white lines their table entry does not announce (CuO: Cu L3 white line)
    ("rare M5", "Pr_M5", ("O",)), ("rare M5", "Sm_M5", ("O",)), ("rare M5", "Eu_M5", ("O",)),
    ("rare M5", "Tb_M5", ("O",)), ("rare M5", "Dy_M5", ("O",)), ("rare M5", "Er_M5", ("O",)),
    ("rare M5", "Hf_M5", ("O",)), ("rare M5", "W_M5", ()),
    ("L3 3d", "Cu_L3", ("O",), {"white_lines": True}),
]


def toy_chi(seed: int):
    """A first-shell-like chi(k) (1/angstrom grid): a damped sine at R ~ 2 angstrom, amplitude ~0.1."""
    rng = np.random.default_rng(seed)
    k = np.linspace(0.0, 16.0, 641)
    r = rng.uniform(1.8, 2.6)
    chi = 0.8 * np.sin(2 * k * r + rng.uniform(0, 2 * np.pi)) * np.exp(-2 * 0.006 * k * k) / np.maximum(k, 1.0) / r
    return k, chi


def window(width: float) -> tuple[float, float]:
    """(e_before, e_after) eV: 2048 channels, at most 1500 eV; 30 % of it below the onset (>= 40 eV)."""
    span = min(2048 * width, 1500.0)
    before = max(40.0, 0.3 * span)
    return before, span - before


def detector(s, seed: int):
    """Detector realism the forward model leaves out: a point-spread of the counts over neighbouring
    channels (Gaussian, sigma 0, 0.7 or 1.5 channels, as CCD/CMOS cameras show) drawn per spectrum."""
    from scipy.ndimage import gaussian_filter1d
    rng = np.random.default_rng(seed + 7)
    psf = float(rng.choice([0.0, 0.0, 0.7, 1.5]))
    s.metadata.setdefault("true", {})["psf_channels"] = psf
    if psf > 0:
        return s.with_intensity(gaussian_filter1d(np.asarray(s.intensity, float), psf, mode="nearest"))
    return s


def simulate(edge: str, others: tuple, width: float, seed: int, extra: dict | None = None):
    """One synthetic spectrum of an edge (El_EDGE) with the major edges of the other elements in its window.

    The forward model cuts its single-scattering distribution off at a lowest energy f_lo (it diverges
    towards zero loss); plural scattering then copies that cut-off up by multiples of the plasmon energy
    as false steps, which matter in windows that start below ~300 eV. Those channels are cropped off;
    where that would leave too little pre-edge, the spectrum is simulated without plural scattering."""
    from exelfs.edges.detect import pre_window
    from exelfs.edges.tables import edge_entry, parse_edge
    from exelfs.simulate.eels import EELSConfig, eels_spectrum
    before, after = window(width)
    k, chi = toy_chi(seed)
    gain = bool(np.random.default_rng(seed + 3).random() < 0.25)
    cfg = EELSConfig(edge=edge, channel_width=width, e_before=before, e_after=after, other_elements=others,
                     lowloss=False, gain_steps=gain, **(extra or {}))
    s = eels_spectrum(k=k, chi=chi, config=cfg, seed=seed)
    true = s.metadata["true"]
    onset = edge_entry(*parse_edge(edge)).energy
    e_lo = max(onset - before, 0.3 * onset)
    ext_hi = 200.0 + 5 * true["resolution_fwhm"] + 5.0
    f_lo = max(e_lo - width - abs(true["calibration_offset"]) - ext_hi, 0.3 * e_lo, 1.0)
    t, ep, r = true["t_lambda"], true["plasmon_energy"], true["background_r"]
    safe = f_lo
    for n in range(1, 40):  # relative size of the false step of the n-th plasmon replica of the cut-off
        p_n = np.exp(-t) * t ** n / np.prod(np.arange(1, n + 1))
        if p_n * ((f_lo + n * ep) / f_lo) ** r > 0.002:
            safe = f_lo + n * ep + 5.0
    if safe <= float(s.energy[0]):
        return s
    if safe < onset - 0.6 * float(pre_window(onset)):
        return s.crop(safe, float(s.energy[-1]) + 1.0)
    cfg.plural_scattering = False
    return eels_spectrum(k=k, chi=chi, config=cfg, seed=seed)


def bare_background(width: float, seed: int):
    """A power law (exponent 2-5) with Poisson noise and plural-scattering-like smoothness, no edge."""
    from exelfs.spectrum import Spectrum
    rng = np.random.default_rng(seed)
    before, after = window(width)
    start = float(rng.uniform(100, 2500))
    e = start + width * np.arange(int((before + after) / width))
    r = rng.uniform(2.0, 5.0)
    counts = np.exp(rng.uniform(np.log(1e3), np.log(1e6))) * width
    lam = counts * (e / e[0]) ** -r
    return Spectrum(e, rng.poisson(lam).astype(float), kind="eels")


def _major_first_edge(element: str, emin: float, emax: float):
    """The first K/L3/M5 edge of an element (EdgeEntry) inside [emin, emax] eV, or None."""
    from exelfs.edges.tables import all_edges
    for ent in all_edges(emin, emax):
        if ent.element == element and ent.edge in ("K", "L3", "M5") and ent.relevance == "Major":
            return ent
    return None


def evaluate(job):
    """Identify one synthetic spectrum and score it against the truth."""
    family, edge, others, width, seed, extra = job
    from exelfs.edges import identify
    from exelfs.edges.detect import post_window, pre_window
    from exelfs.edges.tables import parse_edge, edge_entry
    s = detector(simulate(edge, others, width, seed, extra), seed)
    true = s.metadata["true"]
    offset = true["calibration_offset"]
    el, ed = parse_edge(edge)
    e_true = edge_entry(el, ed).energy + offset  # where the edge starts on the recorded axis
    t0 = time.time()
    try:
        res = identify(s)
    except Exception as exc:  # a crash is a result too: counted and listed
        res = {"edges": [], "error": f"{type(exc).__name__}: {exc}"}
    dt = time.time() - t0
    tops = [(e["onset_ev"], e["candidates"][0]["element"], e["candidates"][0]["edge"], e["candidates"][0]["score"])
            for e in res["edges"] if e["candidates"]]
    hits = [t for t in tops if t[1] == el and t[2] == ed]
    hit = min(hits, key=lambda t: abs(t[0] - e_true)) if hits else None
    sample = {el, *others}
    false = [t for t in tops if t[1] not in sample and t[3] >= 0.5]
    # other elements' first major edge, where the data could show it (pre- and post-edge room)
    emin, emax = float(s.energy[0]) + 10, float(s.energy[-1])
    second = []
    for o in others:
        ent = _major_first_edge(o, emin + 0.5 * float(pre_window(emin + 100)), emax)
        if ent is None or ent.energy - 0.6 * float(pre_window(ent.energy)) < emin or \
                ent.energy > emax - 2 * float(post_window(ent.energy)):
            continue
        second.append(any(t[1] == o and t[2] == ent.edge for t in tops))
    return {"family": family, "edge": edge, "others": others, "width": width, "seed": seed, "extra": extra,
            "ok": hit is not None, "onset_err": (hit[0] - e_true) if hit else None,
            "score": hit[3] if hit else None, "false": false, "second": second, "tops": tops,
            "e_true": e_true, "counts": true["counts_per_ev"], "time": dt, "error": res.get("error")}


def evaluate_null(job):
    width, seed = job
    from exelfs.edges import identify
    res = identify(detector(bare_background(width, seed), seed))
    conf = [(e["onset_ev"], e["candidates"][0]["element"], e["candidates"][0]["edge"], e["candidates"][0]["score"])
            for e in res["edges"] if e["candidates"] and e["candidates"][0]["score"] >= 0.5]
    return {"width": width, "seed": seed, "confident": conf, "n_edges": len(res["edges"])}


def jobs_for(widths, seeds: int = 1):
    """(family, edge, others, width, seed, extra config) for every case, width and repeat."""
    jobs = []
    for rep in range(seeds):
        for i, (family, edge, others, *extra) in enumerate(CASES):
            for j, w in enumerate(WIDTHS):
                if w in widths:
                    jobs.append((family, edge, others, w, 1000 * i + 17 * j + 1 + 100003 * rep,
                                 extra[0] if extra else None))
    return jobs


def summarise(rows, nulls, failures=False, out=sys.stdout):
    def line(label, sel):
        n = len(sel)
        if not n:
            return
        acc = np.mean([r["ok"] for r in sel])
        errs = np.array([abs(r["onset_err"]) for r in sel if r["onset_err"] is not None])
        signed = np.array([r["onset_err"] for r in sel if r["onset_err"] is not None])
        sec = [x for r in sel for x in r["second"]]
        fr = np.mean([bool(r["false"]) for r in sel])
        med = f"{np.median(errs):5.1f}" if errs.size else "    -"
        p90 = f"{np.percentile(errs, 90):5.1f}" if errs.size else "    -"
        bias = f"{np.median(signed):+5.1f}" if signed.size else "    -"
        sec_s = f"{np.mean(sec):5.2f} ({len(sec):3d})" if sec else "    -      "
        print(f"{label:<22} {n:4d}  {acc:5.2f}  {sec_s}  {med} {p90} {bias}  {fr:5.2f}", file=out)

    print(f"{'family / width':<22} {'n':>4}  {'top-1':>5}  {'2nd (n)':>11}  {'|dE|':>5} {'p90':>5} {'bias':>5}  "
          f"{'false':>5}", file=out)
    families = list(dict.fromkeys(r["family"] for r in rows))
    for fam in families:
        line(fam, [r for r in rows if r["family"] == fam])
    for w in WIDTHS:
        line(f"width {w:g} eV", [r for r in rows if r["width"] == w])
    line("ALL", rows)
    crashes = [r for r in rows if r.get("error")]
    if crashes:
        print(f"identify raised on {len(crashes)} spectra: " + "; ".join(
            f"{r['edge']} w={r['width']:g}: {r['error'][:80]}" for r in crashes[:5]), file=out)
    if nulls:
        fr = np.mean([bool(n["confident"]) for n in nulls])
        det = np.mean([n["n_edges"] > 0 for n in nulls])
        print(f"bare power law + noise: {len(nulls)} spectra, any edge detected {det:.2f}, "
              f"confident false edge {fr:.2f}", file=out)
    if failures:
        print("\nmisses / false detections:", file=out)
        for r in rows:
            if not r["ok"] or r["false"] or (r["onset_err"] is not None and abs(r["onset_err"]) > 8):
                found = ", ".join(f"{o:.0f}:{e}_{d}({s:.2f})" for o, e, d, s in r["tops"])
                err = f"{r['onset_err']:+.1f}" if r["onset_err"] is not None else "miss"
                wl = "*" if r.get("extra") else " "
                print(f" {wl}{r['edge']:<6} +{'+'.join(r['others']) or '-':<6} w={r['width']:<4g} "
                      f"counts={r['counts']:8.0f} true={r['e_true']:7.1f} dE={err:>6}  found: {found}", file=out)
        for n in nulls:
            if n["confident"]:
                print(f"  null w={n['width']} seed={n['seed']}: {n['confident']}", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only 0.5 and 1 eV channels")
    ap.add_argument("--failures", action="store_true", help="list every miss and false detection")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seeds", type=int, default=2, help="spectra (different seeds) per case and width")
    args = ap.parse_args(argv)
    widths = (0.5, 1.0) if args.quick else WIDTHS
    jobs = jobs_for(widths, args.seeds)
    null_jobs = [(w, 90000 + 7 * i) for i in range(6 * args.seeds) for w in widths]
    t0 = time.time()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(evaluate, jobs, chunksize=4))
            nulls = list(pool.map(evaluate_null, null_jobs, chunksize=4))
    else:
        rows = [evaluate(j) for j in jobs]
        nulls = [evaluate_null(j) for j in null_jobs]
    print(f"{len(CASES)} cases x {len(widths)} channel widths x {args.seeds} seeds = {len(rows)} spectra; "
          f"{time.time() - t0:.0f} s\n")
    summarise(rows, nulls, failures=args.failures)


if __name__ == "__main__":
    main()
