"""Temperature series read by the network: the characteristic temperature from synthetic Cu K series with a
known Einstein sigma2(T), combined three ways.

- independent: each spectrum's calibrated posterior (mean +- sd) taken as independent points (weighted fit);
- joint: generalised least squares with the network's joint error over the series (exelfs.nn.series);
- joint, bias-corrected: the same, minus the mean error the simulation finds.

Per way: median |theta - truth| (K), the median quoted error, and the fraction of series whose truth lies
within 1 and 2 quoted sigma. Truths: theta 180-420 K, static sigma2 0-0.001 A^2, N, S0^2, E0 and the lattice
from the training prior, one per series; noise of k^2 chi per point log-uniform 0.005-0.05.

Usage: python benchmarks/series_accuracy.py [N_SERIES] [T1,T2,...]   (defaults 100 and 10,50,150)
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
    print("| combination | fitted | median abs(dtheta) K | median theta_err K | within 1 sigma | within 2 sigma |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        d, e = np.array(r).T
        print(f"| {name} | {len(r)} | {np.median(np.abs(d)):.1f} | {np.median(e):.1f} | "
              f"{np.mean(np.abs(d) <= e):.2f} | {np.mean(np.abs(d) <= 2 * e):.2f} |")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    t = tuple(float(v) for v in sys.argv[2].split(",")) if len(sys.argv) > 2 else (10.0, 50.0, 150.0)
    main(n, t)
