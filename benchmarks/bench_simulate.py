"""Throughput of exelfs.simulate against Larch's ff2chi, measured in the same run.

    .venv/bin/python benchmarks/bench_simulate.py [--n 100000] [--larch-n 200] [--eels-n 200] [--batch-n 20000]
        [--eels-only]

chi(k): Cu fcc, FEFF paths up to 5.2 A (14 paths, single + multiple scattering), Larch's k grid
0..16 1/A step 0.05 (321 points), random s02, e0, deltar and sigma2 per path for every spectrum.
Larch: ``feffpath`` groups made once, then ``ff2chi`` per parameter set (the loop a user would write).
EELS: the full forward model (Cu L2,3 with L1, background, plural scattering, resolution, binning,
calibration offset, Poisson noise) per spectrum, chi(k) included; then the batched model
(``eels_batch``: same physics on one 0.25 eV float32 grid, FFT convolution and noise for the whole batch)
with today's defaults and with ``training_config()`` (solid-state edges, near-edge nuisances), chi(k)
included (float32, k up to the window end: 0-14 1/A for 700 eV), in the same run. The last column of the
EELS rows is the speed-up over the per-spectrum loop; CPU us/sp is the process CPU time per spectrum (all
threads), the measure that holds on a shared machine: the rates are wall-clock rates, printed with the load
average and the cores this process may use. --eels-only skips Larch and the chi_from_paths batches.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="batch size for chi_from_paths")
    ap.add_argument("--larch-n", type=int, default=200, help="parameter sets for the Larch loop")
    ap.add_argument("--eels-n", type=int, default=200, help="full EELS spectra, per-spectrum loop")
    ap.add_argument("--batch-n", type=int, default=20_000, help="full EELS spectra, batched model")
    ap.add_argument("--eels-only", action="store_true", help="only the EELS table (no Larch, no chi batches)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from exelfs.simulate import EELSConfig, chi_from_paths, eels_batch, eels_spectrum, standard_k, training_config
    from exelfs.theory import feff_paths

    paths = feff_paths("Cu", "Cu", edge="K", rmax=5.2)
    npaths = len(paths)
    k = standard_k(16.0)
    rng = np.random.default_rng(0)
    n = args.n if not args.eels_only else max(args.eels_n, 10)
    params = dict(s02=rng.uniform(0.7, 1.0, n), e0=rng.uniform(-5, 5, n),
                  deltar=rng.uniform(-0.05, 0.05, (n, npaths)), sigma2=rng.uniform(0.002, 0.02, (n, npaths)))
    chi_from_paths(paths, k, {key: v[:10] for key, v in params.items()})  # tables + imports, not timed
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    if not args.eels_only:
        rows, larch_rate, worst = _larch_and_chi_rows(paths, k, params, args)
        print(f"Cu fcc, {npaths} FEFF paths, k grid {k.size} points (0-16 1/A), {cores} core(s) usable")
        print(f"agreement with Larch (first 20 sets): max|chi - chi_larch| / max|chi_larch| = {worst:.2e}")
        print()
        print(f"{'method':<50} {'n':>8} {'seconds':>9} {'spectra/s':>11} {'x Larch':>9}")
        print("-" * 91)
        for name, count, secs, rate in rows:
            print(f"{name:<50} {count:>8d} {secs:>9.2f} {rate:>11.1f} {rate / larch_rate:>9.1f}")
        print()

    cfg = EELSConfig(edge="Cu_L3", lowloss=False)
    kk = standard_k(20.0)
    ne = args.eels_n
    rows = []

    def timed(name, count, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append((name, count, dt, count / dt, cpu / count))

    def loop():
        for i in range(ne):
            eels_spectrum(kk, chi_from_paths(paths, kk, {key: v[i] for key, v in params.items()}), cfg, seed=i)

    def batched_chi_loop():
        cb = chi_from_paths(paths, kk, {key: v[:ne] for key, v in params.items()})
        for i in range(ne):
            eels_spectrum(kk, cb[i], cfg, seed=i)

    eels_spectrum(kk, chi_from_paths(paths, kk, {key: v[0] for key, v in params.items()}), cfg, seed=0)  # warm-up
    timed("full EELS spectrum (chi + forward model), loop", ne, loop)
    timed("full EELS spectra, batched chi + forward model", ne, batched_chi_loop)
    loop_rate = rows[-1][3]

    nb = args.batch_n
    kb = standard_k(float(np.ceil(np.sqrt(cfg.e_after / 3.81) + 0.5)))  # chi(k) as far as the window reaches
    pb = dict(s02=rng.uniform(0.7, 1.0, nb), e0=rng.uniform(-5, 5, nb),
              deltar=rng.uniform(-0.05, 0.05, (nb, npaths)), sigma2=rng.uniform(0.002, 0.02, (nb, npaths)))
    eels_batch(kb, chi_from_paths(paths, kb, {key: v[:300] for key, v in pb.items()}), cfg, seed=0)  # warm-up
    for label, bcfg in (("today's defaults", cfg), ("training_config()", training_config(edge="Cu_L3"))):
        timed(f"eels_batch, chi included, {label}", nb,
              lambda bcfg=bcfg: eels_batch(kb, chi_from_paths(paths, kb, pb, dtype=np.float32), bcfg, seed=1))

    print(f"full EELS spectra (Cu L2,3, 0.5 eV channels, 850 eV window); {cores} core(s) usable, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'method':<50} {'n':>8} {'seconds':>9} {'spectra/s':>11} {'x loop':>9} {'CPU us/sp':>10}")
    print("-" * 102)
    for name, count, secs, rate, cpu in rows:
        print(f"{name:<50} {count:>8d} {secs:>9.2f} {rate:>11.1f} {rate / loop_rate:>9.1f} {1e6 * cpu:>10.0f}")
    print(f"(x loop: against the batched-chi loop; CPU us/sp: process CPU time per spectrum, all threads; "
          f"{cores} idle core(s) give up to {cores}e6 / that spectra/s)")


def _larch_and_chi_rows(paths, k, params, args):
    """Larch's ff2chi loop and chi_from_paths batches (float32, float64): rows (name, n, seconds, rate),
    Larch's rate (spectra/s) and the worst relative difference from Larch over the first 20 sets."""
    from larch.xafs import feffpath, ff2chi

    from exelfs.simulate import chi_from_paths

    n = args.n
    rows = []
    groups = [feffpath(p.filename) for p in paths]
    nl = min(args.larch_n, n)
    t0 = time.perf_counter()
    worst = 0.0
    for i in range(nl):
        for j, g in enumerate(groups):
            g.s02, g.e0 = float(params["s02"][i]), float(params["e0"][i])
            g.deltar, g.sigma2 = float(params["deltar"][i, j]), float(params["sigma2"][i, j])
        chi_l = ff2chi(groups, k=k).chi
        if i < 20:
            ours = chi_from_paths(paths, k, {key: v[i] if v.ndim == 1 else v[i] for key, v in params.items()
                                             if key not in ("s02", "e0")} | {"s02": params["s02"][i],
                                                                               "e0": params["e0"][i]})
            worst = max(worst, float(np.abs(ours - chi_l).max() / np.abs(chi_l).max()))
    t_larch = (time.perf_counter() - t0) / nl
    larch_rate = 1.0 / t_larch
    rows.append(("Larch ff2chi loop (per spectrum)", nl, nl * t_larch, larch_rate))
    for dtype in (np.float32, np.float64):
        t0 = time.perf_counter()
        chi = chi_from_paths(paths, k, params, dtype=dtype)
        dt = time.perf_counter() - t0
        rows.append((f"chi_from_paths batch, {np.dtype(dtype).name}", n, dt, n / dt))
        del chi
    return rows, larch_rate, worst


if __name__ == "__main__":
    main()
