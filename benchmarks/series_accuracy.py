"""Temperature series: the characteristic temperature from synthetic Cu K series with a known Einstein
sigma2(T), read by the network (combined three ways) or by the fit (two ways).

- independent: each spectrum's calibrated posterior (mean +- sd) taken as independent points (weighted fit);
- joint: generalised least squares with the network's joint error over the series (exelfs.nn.series);
- joint, bias-corrected: the same, minus the mean error the simulation finds.

Per way: median |theta - truth| (K), the median quoted error, and the fraction of series whose truth lies
within 1 and 2 quoted sigma. Truths: theta 180-420 K, static sigma2 0-0.001 A^2, N, S0^2, E0 and the lattice
from the training prior, one per series; noise of k^2 chi per point log-uniform 0.005-0.05.

The fit (``fit`` as first argument; every path's sigma2 Einstein with its own mass, as Larch's sigma2_eins):
- two-step: each spectrum fitted alone (exelfs.fit.fit_shells), then sigma2(T) to their first-shell sigma2;
- joint: one Larch feffit of all spectra (exelfs.fit.series.fit_series_joint).

Usage: python benchmarks/series_accuracy.py [fit] [N_SERIES] [T1,T2,...]
       (defaults 100 series for the network, 20 for the fit; 10,50,150 K)
"""

from __future__ import annotations

import sys
import warnings

import numpy as np


def main(n_series: int = 100, temps=(10.0, 50.0, 150.0)):
    from ase.build import bulk

    from exelfs.errors import InputError
    from exelfs.fit.series import fit_sigma2_series
    from exelfs.nn import default_config, get_model
    from exelfs.nn.data import K_FINE, clean_chi, draw, features
    from exelfs.nn.series import series_error
    from exelfs.pipeline.plan import FEFF_RMAX
    from exelfs.theory import feff_paths, group_shells
    from exelfs.theory.thermal import sigma2_thermal

    warnings.filterwarnings("ignore")
    paths = feff_paths(bulk("Cu", "fcc", a=3.615), "Cu", "K", rmax=FEFF_RMAX)
    model, _ = get_model(paths, default_config("Cu", "Cu_K", "xas"), progress=False)
    shells_all = group_shells(paths)
    path1 = shells_all[0]["paths"][0]
    temps = np.asarray(temps, float)
    m, kmin, kmax = len(temps), 2.0, 14.0
    rng = np.random.default_rng(2026)
    rows = {"independent": [], "joint": [], "joint, bias-corrected": []}
    for _ in range(n_series):
        theta, static = rng.uniform(180, 420), rng.uniform(0, 0.001)
        p = draw(model.cfg, shells_all, len(model.shells), 1, rng)
        p = {k: np.repeat(v, m, axis=0) for k, v in p.items()}
        s2 = static + sigma2_thermal("einstein", temps, theta, path1)
        p["sigma2"][:, 0] = s2
        p["sigma2"][:, 1:] = p["sigma2"][:, 1:] * (s2 / s2[0])[:, None]
        chi = clean_chi(paths, shells_all, p)
        level = np.exp(rng.uniform(np.log(0.005), np.log(0.05)))
        chi = chi + (level * rng.standard_normal(chi.shape) / np.maximum(K_FINE, 0.5) ** 2).astype(np.float32)
        x, _ = features(chi, np.full(m, kmin), np.full(m, kmax), model.rwin, model.cfg.input_mode)
        mean, sigma, _ = model.moments(x)
        post = model.posterior(x, 1000, seed=1)
        col = model.names.index("sigma2_1")
        joint = series_error(model, paths, K_FINE, chi, (kmin, kmax), [post[:, j] for j in range(m)])
        ways = {"independent": (mean[:, col], None), "joint": (mean[:, col], joint["covariance"]),
                "joint, bias-corrected": (mean[:, col] - joint["bias"], joint["covariance"])}
        for name, (y, cov) in ways.items():
            try:
                out = fit_sigma2_series(temps, y, sigma[:, col], path1, covariance=cov)
            except InputError:
                continue
            rows[name].append((out["theta_k"] - theta, out["theta_err"]))
    print(f"\n{n_series} synthetic Cu K series at {', '.join(f'{t:g}' for t in temps)} K, k {kmin:g}-{kmax:g} 1/A\n")
    _table(rows)


def fit_main(n_series: int = 20, temps=(10.0, 50.0, 150.0)):
    from ase.build import bulk

    from exelfs.errors import InputError
    from exelfs.fit import fit_shells
    from exelfs.fit.series import fit_series_joint, fit_sigma2_series
    from exelfs.pipeline.plan import FEFF_RMAX
    from exelfs.simulate.exafs import chi_from_paths
    from exelfs.theory import feff_paths, group_shells
    from exelfs.theory.thermal import sigma2_thermal

    warnings.filterwarnings("ignore")
    paths = feff_paths(bulk("Cu", "fcc", a=3.615), "Cu", "K", rmax=FEFF_RMAX)
    path1 = group_shells(paths)[0]["paths"][0]
    k = np.arange(0, 16.01, 0.05)
    k_range = (3.0, 14.0)
    rng = np.random.default_rng(2026)
    rows = {"two-step": [], "joint": []}
    for _ in range(n_series):
        theta, static = rng.uniform(180, 420), rng.uniform(0, 0.001)
        s02, e0, alpha = rng.uniform(0.7, 1.0), rng.uniform(-5, 5), rng.uniform(-0.01, 0.01)
        level = np.exp(rng.uniform(np.log(0.005), np.log(0.05)))
        data = []
        for t in temps:
            s2 = np.array([static + float(sigma2_thermal("einstein", t, theta, p)) for p in paths])
            chi = chi_from_paths(paths, k, {"s02": s02, "e0": e0, "alpha": alpha, "sigma2": s2})
            data.append((k, chi + level * rng.standard_normal(k.size) / np.maximum(k, 0.5) ** 2))
        try:
            single = [fit_shells(kk, cc, paths, k_range, stability=False)["shells"][0] for kk, cc in data]
            two = fit_sigma2_series(temps, [s["sigma2"] for s in single], [s["sigma2_err"] for s in single], path1)
            rows["two-step"].append((two["theta_k"] - theta, two["theta_err"]))
        except InputError:
            pass
        joint = fit_series_joint(data, temps, paths, k_range)
        rows["joint"].append((joint["theta_k"] - theta, joint["theta_err"]))
    print(f"\n{n_series} synthetic Cu K series at {', '.join(f'{t:g}' for t in temps)} K, k {k_range[0]:g}-"
          f"{k_range[1]:g} 1/A, by the fit\n")
    _table(rows)


def _table(rows):
    print("| combination | fitted | median abs(dtheta) K | median theta_err K | within 1 sigma | within 2 sigma |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        d, e = np.array(r).T
        print(f"| {name} | {len(r)} | {np.median(np.abs(d)):.1f} | {np.median(e):.1f} | "
              f"{np.mean(np.abs(d) <= e):.2f} | {np.mean(np.abs(d) <= 2 * e):.2f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    by_fit = bool(args) and args[0] == "fit"
    args = args[1:] if by_fit else args
    n = int(args[0]) if args else (20 if by_fit else 100)
    t = tuple(float(v) for v in args[1].split(",")) if len(args) > 1 else (10.0, 50.0, 150.0)
    (fit_main if by_fit else main)(n, t)
