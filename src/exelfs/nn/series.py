"""The joint error of a network's answers over a series of spectra of one material (a temperature series).

Each spectrum's posterior is calibrated alone, over the whole training prior. Over a series most of that
width is shared: the spectra have the same N, S0^2, E0, k range and noise, so the network errs alike on
all of them, and treating the posteriors as independent overstates what the series says about the
differences between them. ``series_error`` measures the shared and the independent part by simulation:
synthetic series drawn around the network's answers (one draw per series from the first spectrum's
posterior, each spectrum's sigma2 moved by the difference of the answers), on the series' k range,
with each spectrum's own noise level, read by the same network. Units: sigma2 A^2, k 1/A.
"""

from __future__ import annotations

import numpy as np

from ..theory.shells import group_shells
from .data import K_FINE, clean_chi, features, noise_level, on_fine_grid

SERIES_DRAWS = 400   # synthetic series
SEED = 11


def _shared(name: str) -> bool:
    """Parameters that do not change with temperature within a series (all but the sigma2 of each shell)."""
    return not name.startswith("sigma2_")


def series_error(model, paths, k, chis, k_range, samples, output: str = "sigma2_1", n: int = SERIES_DRAWS,
                 seed: int = SEED) -> dict:
    """Joint error of the network's ``output`` over a series. k: (K,) 1/A; chis: one chi(k) per spectrum;
    samples: per spectrum its posterior samples (S, T) in ``model.names`` order; k_range: the series'
    common range (1/A). Returns {"bias": (M,) mean error, "covariance": (M, M) of the error about it,
    "correlation": (M, M), "n_series": n, "from": how it was built}."""
    rng = np.random.default_rng(seed)
    m = len(chis)
    col = model.names.index(output)
    kmin, kmax = model.k_range_used(k_range)
    fine = on_fine_grid(k, np.asarray(chis, float))
    noise = noise_level(fine, kmin, kmax)                      # rms of k^2 chi per point, per spectrum
    shared = np.array([_shared(nm) for nm in model.names])
    answers = np.array([np.mean(s, axis=0) for s in samples])           # (M, T)
    base = samples[0][rng.integers(0, len(samples[0]), n)]            # (n, T): one draw per series
    # what the series shares comes from the draw; each spectrum's sigma2 is the draw's, moved by the
    # difference between that spectrum's answer and the first one's (the series' shape as measured)
    truth = base[:, None, :] + np.where(shared, 0.0, answers - answers[0])[None, :, :]
    positive = np.array([nm.startswith("sigma2_") or (nm[0] == "n" and nm[1:].isdigit()) for nm in model.names])
    truth[..., positive] = np.maximum(truth[..., positive], 1e-4)   # a drawn truth must be physical
    flat = truth.reshape(n * m, -1)
    chi = clean_chi(paths, group_shells(paths), model._params(flat, paths), model.l2_shift_ev)
    kk = np.maximum(K_FINE, 0.5) ** 2
    level = np.tile(noise, n)[:, None]
    chi = chi + (level * rng.standard_normal(chi.shape) / kk).astype(np.float32)
    x, _ = features(chi, np.full(len(chi), kmin), np.full(len(chi), kmax), model.rwin, model.cfg.input_mode)
    mean, _, _ = model.moments(x)
    err = (mean[:, col] - flat[:, col]).reshape(n, m)
    cov = np.cov(err, rowvar=False).reshape(m, m)
    sd = np.sqrt(np.diag(cov))
    return {"bias": err.mean(axis=0), "covariance": cov, "correlation": cov / np.outer(sd, sd), "n_series": n,
            "from": (f"the network on {n} synthetic series drawn around its answers (one draw of the first "
                     "spectrum's posterior per series, sigma2 moved by the differences of the answers), on the series' k range "
                     "with each spectrum's noise level; chi-level spectra (for EELS the extraction's own "
                     "errors are not in it)")}
